package telegram

import (
	"strconv"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// Incoming updates are decoded into these few Bot API fields rather than the
// SDK's models.Update: the SDK's decoder fails the whole update on a chat
// member status it does not know, and a webhook must not refuse an update
// over a field cxbot never reads.
type (
	wireUpdate struct {
		UpdateID      *int64             `json:"update_id"`
		Message       *wireMessage       `json:"message"`
		CallbackQuery *wireCallbackQuery `json:"callback_query"`
		MyChatMember  *wireMemberUpdate  `json:"my_chat_member"`
	}
	wireUser struct {
		ID           int64  `json:"id"`
		Username     string `json:"username"`
		LanguageCode string `json:"language_code"`
	}
	wireChat struct {
		ID   int64  `json:"id"`
		Type string `json:"type"`
	}
	wireMessage struct {
		MessageID int       `json:"message_id"`
		From      *wireUser `json:"from"`
		Chat      wireChat  `json:"chat"`
		Date      int64     `json:"date"`
		Text      string    `json:"text"`
	}
	wireCallbackQuery struct {
		ID      string       `json:"id"`
		From    wireUser     `json:"from"`
		Message *wireMessage `json:"message"` // absent for inline-mode messages
		Data    string       `json:"data"`
	}
	wireMemberUpdate struct {
		Chat          wireChat `json:"chat"`
		From          wireUser `json:"from"`
		Date          int64    `json:"date"`
		NewChatMember struct {
			Status string `json:"status"`
		} `json:"new_chat_member"`
	}
)

// convert turns a Telegram update into a flows.Update. When cxbot has nothing
// to do with the update, ok is false and ignored says why (for the log).
//
// Only private chats are surveyed: updates from groups and channels are ignored.
// A tap whose callback data DecodeTap rejects carries a zero Tap (not nil),
// so the conversation layer sees a tap it must treat as stale and answer.
func (a *Adapter) convert(w wireUpdate) (u flows.Update, ok bool, ignored string) {
	u = flows.Update{Channel: flows.ChannelTelegram}
	if w.UpdateID != nil {
		u.UpdateID = strconv.FormatInt(*w.UpdateID, 10)
	}
	switch {
	case w.Message != nil:
		m := w.Message
		if m.Chat.Type != "private" {
			return u, false, "message from a " + m.Chat.Type + " chat"
		}
		if m.Text == "" {
			return u, false, "message without text"
		}
		u.ChatID = strconv.FormatInt(m.Chat.ID, 10)
		if m.From != nil {
			u.UserID = strconv.FormatInt(m.From.ID, 10)
			u.Username = m.From.Username
			u.Language = m.From.LanguageCode
		}
		u.Text = m.Text
		u.ReceivedAt = time.Unix(m.Date, 0).UTC()
		return u, true, ""

	case w.CallbackQuery != nil:
		q := w.CallbackQuery
		if q.Message == nil {
			return u, false, "tap on an inline-mode message"
		}
		if q.Message.Chat.Type != "private" {
			return u, false, "tap in a " + q.Message.Chat.Type + " chat"
		}
		if q.Data == "" {
			return u, false, "tap without callback data"
		}
		tap, err := a.cfg.DecodeTap(q.Data)
		if err != nil {
			a.log.Debug("undecodable callback data, passed on as a stale tap", "update_id", u.UpdateID, "err", err)
			tap = flows.Tap{}
		}
		u.ChatID = strconv.FormatInt(q.Message.Chat.ID, 10)
		u.UserID = strconv.FormatInt(q.From.ID, 10)
		u.Username = q.From.Username
		u.Language = q.From.LanguageCode
		u.Tap = &tap
		u.TapID = q.ID
		u.MessageID = q.Message.MessageID
		u.ReceivedAt = a.now().UTC() // callback queries carry no date
		return u, true, ""

	case w.MyChatMember != nil:
		c := w.MyChatMember
		if c.Chat.Type != "private" {
			return u, false, "membership change in a " + c.Chat.Type + " chat"
		}
		// In a private chat Telegram reports a block as "kicked"; "left" is
		// treated the same, being just as final for cxbot.
		if s := c.NewChatMember.Status; s != "kicked" && s != "left" {
			return u, false, "bot status in a private chat is now " + s
		}
		u.ChatID = strconv.FormatInt(c.Chat.ID, 10)
		u.UserID = strconv.FormatInt(c.From.ID, 10)
		u.Username = c.From.Username
		u.Language = c.From.LanguageCode
		u.Blocked = true
		u.ReceivedAt = time.Unix(c.Date, 0).UTC()
		return u, true, ""
	}
	return u, false, "update kind not handled"
}
