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

// ErrOutsideWindow means the platform only accepts a template message now
// (WeChat: more than 48 hours since the customer last wrote).
var ErrOutsideWindow = errors.New("outside the 48-hour customer-service window")

// ErrQuotaSpent means the platform allows no more messages to this customer
// until they write again (WeChat: 5 customer-service messages per customer
// message, 3 after a follow or scan; errcode 45047). Adapters return it
// wrapped together with ErrOutsideWindow, so whoever handles the window
// (a template invitation, a skipped reminder) handles a spent quota too;
// check ErrQuotaSpent first to tell the two apart.
var ErrQuotaSpent = errors.New("customer-service message quota spent: the customer must write again")

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
}

// AgentNotifier tells the service agents about handoffs, whatever channel
// the customer is on (WeChat has no agents' chat; Telegram's is used).
type AgentNotifier interface {
	NotifyAgents(ctx context.Context, text string) error
}

// TemplateSender sends a platform template message, the only way to reach a
// WeChat customer outside the 48-hour customer-service window.
type TemplateSender interface {
	SendTemplate(ctx context.Context, chatID, templateID, url string, data map[string]string) error
}
