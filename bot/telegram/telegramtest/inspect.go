package telegramtest

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Button is one inline keyboard button as the bot sent it.
type Button struct {
	Text         string
	CallbackData string
}

// SentMessage is a message the bot sent, in its current state.
type SentMessage struct {
	MessageID       int
	ChatID          int64
	Text            string     // as sent, raw (HTML included); a photo's caption
	ParseMode       string     // "" or "HTML"
	PhotoID         string     // sendPhoto: the file_id sent (or made for an upload)
	ThreadID        int        // forum topic (message_thread_id), 0 = none
	ReplyTo         int        // the message it replies to, 0 = none (also when a missing one was allowed)
	Keyboard        [][]Button // as the customer sees it now (nil once removed)
	Date            time.Time  // whole seconds, like Telegram's date
	At              time.Time  // when the fake accepted it, for measuring send rates
	Edited          bool       // editMessageText changed the text
	EditedText      string     // the text after the last editMessageText, raw
	EditedParseMode string     // that edit's parse mode
	KeyboardRemoved bool       // an edit removed the keyboard
}

func (m *SentMessage) currentText() string {
	if m.Edited {
		return m.EditedText
	}
	return m.Text
}

func (m *SentMessage) currentParseMode() string {
	if m.Edited {
		return m.EditedParseMode
	}
	return m.ParseMode
}

// PlainText is what people see of the message now: with parse mode HTML,
// its tags stripped and entities decoded.
func (m SentMessage) PlainText() string {
	plain, e := visibleText(m.currentText(), m.currentParseMode())
	if e != nil { // cannot happen: the fake refused such text when sent
		return m.currentText()
	}
	return plain
}

// CallbackAnswer is one answerCallbackQuery call.
type CallbackAnswer struct {
	CallbackQueryID string
	Text            string
	ShowAlert       bool
}

// Edit is one successful editMessageText or editMessageReplyMarkup call.
type Edit struct {
	Method          string
	ChatID          int64
	MessageID       int
	Text            string // the message text after the edit, raw
	ParseMode       string // the edit's parse mode
	Keyboard        [][]Button
	KeyboardRemoved bool
}

// Sent returns the messages sent to chatID, oldest first.
func (s *Server) Sent(chatID int64) []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SentMessage
	for _, m := range s.byChat[chatID] {
		out = append(out, m.copy())
	}
	return out
}

// AllSent returns every message sent, oldest first.
func (s *Server) AllSent() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SentMessage, 0, len(s.sent))
	for _, m := range s.sent {
		out = append(out, m.copy())
	}
	return out
}

// CallbackAnswers returns the answerCallbackQuery calls that succeeded.
func (s *Server) CallbackAnswers() []CallbackAnswer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]CallbackAnswer(nil), s.answers...)
}

// Edits returns the successful message edits, oldest first.
func (s *Server) Edits() []Edit {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Edit, len(s.edits))
	for i, e := range s.edits {
		e.Keyboard = copyKeyboard(e.Keyboard)
		out[i] = e
	}
	return out
}

// Topics returns the forum topics created in chatID, oldest first.
func (s *Server) Topics(chatID int64) []Topic {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Topic(nil), s.topics[chatID]...)
}

// Webhook returns the URL and secret token set by setWebhook ("" when none).
func (s *Server) Webhook() (url, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.webhookURL, s.webhookSecret
}

// AllowedUpdates returns the allowed_updates of the last setWebhook.
func (s *Server) AllowedUpdates() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.allowedUpdates...)
}

// Calls counts the requests made for method (any case), failed ones included.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[strings.ToLower(method)]
}

// WaitFor waits until cond returns true. cond is checked at once and again
// after every change to the server (a request, an Enqueue…); it may call the
// Server's methods.
func (s *Server) WaitFor(ctx context.Context, cond func() bool) error {
	return s.changed.WaitFor(ctx, cond)
}

// WaitSent waits until chatID has at least n messages and returns them all.
func (s *Server) WaitSent(ctx context.Context, chatID int64, n int) ([]SentMessage, error) {
	var sent []SentMessage
	err := s.WaitFor(ctx, func() bool {
		sent = s.Sent(chatID)
		return len(sent) >= n
	})
	if err != nil {
		return sent, fmt.Errorf("telegramtest: chat %d got %d of %d messages: %w", chatID, len(sent), n, err)
	}
	return sent, nil
}

func (m *SentMessage) copy() SentMessage {
	c := *m
	c.Keyboard = copyKeyboard(m.Keyboard)
	return c
}

func copyKeyboard(k [][]Button) [][]Button {
	if k == nil {
		return nil
	}
	out := make([][]Button, len(k))
	for i, row := range k {
		out[i] = append([]Button(nil), row...)
	}
	return out
}

// Faulted returns when each fault set with FailNext was served, in order.
func (s *Server) Faulted() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.faulted...)
}

// WebhookAnswers counts the Bot API methods the bot sent back in webhook
// answers (also counted in Calls under their own names).
func (s *Server) WebhookAnswers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.webhookAnswers
}
