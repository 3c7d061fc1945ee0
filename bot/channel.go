// Package bot holds what every chat channel adapter shares: the Channel
// contract the conversation layer relies on, the errors adapters translate
// platform failures into, and the agent-side handoff notice.
package bot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// ErrBlocked means the platform refused delivery for good: the user blocked
// the bot, left, or unsubscribed. The customer is marked unreachable.
var ErrBlocked = errors.New("recipient blocked the bot")

// RateLimitedError means the platform asked cxbot to wait (Telegram 429).
type RateLimitedError struct {
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("rate limited by the platform: retry after %s", e.RetryAfter)
}

// Channel is what the conversation layer needs from a chat platform adapter.
// Adapters convert flows types to SDK types and back; no SDK type leaves them.
type Channel interface {
	// Name is the channel this adapter serves.
	Name() flows.Channel
	// Send delivers a message and returns the platform id of the sent message.
	Send(ctx context.Context, chatID string, m flows.Message) (messageID int, err error)
	// CloseQuestion replaces an answered prompt's keyboard by the given text,
	// so the same question cannot be answered twice.
	CloseQuestion(ctx context.Context, chatID string, messageID int, text string) error
	// AnswerTap acknowledges a tapped button (Telegram answerCallbackQuery).
	AnswerTap(ctx context.Context, tapID, notice string) error
	// NotifyAgents tells the service agents about a handoff.
	NotifyAgents(ctx context.Context, text string) error
}
