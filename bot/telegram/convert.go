package telegram

import (
	"context"
	"strconv"
	"strings"
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
		IsBot        bool   `json:"is_bot"`
		FirstName    string `json:"first_name"`
		LastName     string `json:"last_name"`
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
		Caption   string    `json:"caption"`
		Photo     []struct {
			FileID string `json:"file_id"`
		} `json:"photo"` // sizes, the largest last
		MessageThreadID   int          `json:"message_thread_id"`
		IsTopicMessage    bool         `json:"is_topic_message"`
		ReplyToMessage    *wireMessage `json:"reply_to_message"`
		ForumTopicCreated *struct{}    `json:"forum_topic_created"`
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
// Only private chats are surveyed: updates from groups (the agents' desk,
// see convertDesk) and channels are not for it. A photo's caption is its
// Text.
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
		photo := m.photoID()
		if m.Text == "" && photo == "" {
			return u, false, "message without text or photo"
		}
		u.ChatID = strconv.FormatInt(m.Chat.ID, 10)
		if m.From != nil {
			u.UserID = strconv.FormatInt(m.From.ID, 10)
			u.Username = m.From.Username
			u.Language = m.From.LanguageCode
		}
		u.Text, u.PhotoID = m.Text, photo
		if photo != "" {
			u.Text = m.Caption
		}
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

// photoID is the file_id of the message's largest photo size, "" for none.
func (m *wireMessage) photoID() string {
	if len(m.Photo) == 0 {
		return ""
	}
	return m.Photo[len(m.Photo)-1].FileID
}

// threadID is the message's forum topic. Outside forums Telegram also sets
// message_thread_id (on replies in a supergroup), without is_topic_message.
func (m *wireMessage) threadID() int {
	if m.IsTopicMessage {
		return m.MessageThreadID
	}
	return 0
}

// replyTo is the message m really replies to. In a forum topic Telegram
// gives every message that replies to nothing the topic's creation service
// message as reply_to_message; that is no reply.
func (m *wireMessage) replyTo() int {
	r := m.ReplyToMessage
	if r == nil || r.ForumTopicCreated != nil || (m.IsTopicMessage && r.MessageID == m.MessageThreadID) {
		return 0
	}
	return r.MessageID
}

// displayName is how Telegram shows a user: first and last name, else the username.
func (u wireUser) displayName() string {
	if name := strings.TrimSpace(u.FirstName + " " + u.LastName); name != "" {
		return name
	}
	return u.Username
}

func isGroup(chatType string) bool { return chatType == "group" || chatType == "supergroup" }

// isDesk reports whether w happened in a group: the agents' desk.
func (w wireUpdate) isDesk() bool {
	switch {
	case w.Message != nil:
		return isGroup(w.Message.Chat.Type)
	case w.CallbackQuery != nil:
		return w.CallbackQuery.Message != nil && isGroup(w.CallbackQuery.Message.Chat.Type)
	}
	return false
}

// convertDesk turns a message or tap in a group into a flows.DeskUpdate.
// Bots' messages (other bots, anonymous admins) and service messages (a
// member joined, a topic was made: no text, no photo) are ignored.
func (a *Adapter) convertDesk(w wireUpdate) (u flows.DeskUpdate, ok bool, ignored string) {
	u = flows.DeskUpdate{Channel: flows.ChannelTelegram}
	if w.UpdateID != nil {
		u.UpdateID = strconv.FormatInt(*w.UpdateID, 10)
	}
	switch {
	case w.Message != nil:
		m := w.Message
		switch {
		case !isGroup(m.Chat.Type):
			return u, false, "message from a " + m.Chat.Type + " chat"
		case m.From == nil:
			return u, false, "group message without a sender"
		case m.From.IsBot:
			return u, false, "group message from a bot"
		}
		photo := m.photoID()
		if m.Text == "" && photo == "" {
			return u, false, "group service message"
		}
		u.ChatID = strconv.FormatInt(m.Chat.ID, 10)
		u.ThreadID = m.threadID()
		u.UserID = strconv.FormatInt(m.From.ID, 10)
		u.UserName = m.From.displayName()
		u.MessageID = m.MessageID
		u.ReplyToMessageID = m.replyTo()
		u.Text, u.PhotoID = m.Text, photo
		if photo != "" {
			u.Text = m.Caption
		}
		u.ReceivedAt = time.Unix(m.Date, 0).UTC()
		return u, true, ""

	case w.CallbackQuery != nil:
		q := w.CallbackQuery
		switch {
		case q.Message == nil:
			return u, false, "tap on an inline-mode message"
		case !isGroup(q.Message.Chat.Type):
			return u, false, "tap in a " + q.Message.Chat.Type + " chat"
		case q.Data == "":
			return u, false, "tap without callback data"
		}
		u.ChatID = strconv.FormatInt(q.Message.Chat.ID, 10)
		u.ThreadID = q.Message.threadID()
		u.UserID = strconv.FormatInt(q.From.ID, 10)
		u.UserName = q.From.displayName()
		u.MessageID = q.Message.MessageID
		u.TapData, u.TapID = q.Data, q.ID
		u.ReceivedAt = a.now().UTC() // callback queries carry no date
		return u, true, ""
	}
	return u, false, "update kind not handled in a group"
}

// dispatch converts w and hands it to h: a customer's update to
// HandleUpdate, a desk update to HandleDeskUpdate when h is a DeskHandler.
// handled is false when cxbot has nothing to do with w (ignored says why);
// err is h's, for the caller to acknowledge or not.
func (a *Adapter) dispatch(ctx context.Context, h Handler, w wireUpdate) (chatID string, handled bool, ignored string, err error) {
	if w.isDesk() {
		desk, isDesk := h.(DeskHandler)
		if !isDesk {
			return "", false, "group update and no desk to hand it to", nil
		}
		u, ok, why := a.convertDesk(w)
		if !ok {
			return u.ChatID, false, why, nil
		}
		return u.ChatID, true, "", desk.HandleDeskUpdate(ctx, u)
	}
	u, ok, why := a.convert(w)
	if !ok {
		return u.ChatID, false, why, nil
	}
	return u.ChatID, true, "", h.HandleUpdate(ctx, u)
}
