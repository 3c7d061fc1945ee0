package telegramtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf16"
)

// The Bot API objects the fake sends and receives, with Telegram's JSON names.
// Only the fields cxbot reads are here; change a builder's result before
// enqueueing it to test other shapes (a group chat, a missing field…).
type (
	Update struct {
		UpdateID      int64              `json:"update_id"`
		Message       *Message           `json:"message,omitempty"`
		EditedMessage *Message           `json:"edited_message,omitempty"`
		CallbackQuery *CallbackQuery     `json:"callback_query,omitempty"`
		MyChatMember  *ChatMemberUpdated `json:"my_chat_member,omitempty"`
	}
	User struct {
		ID           int64  `json:"id"`
		IsBot        bool   `json:"is_bot"`
		FirstName    string `json:"first_name"`
		LastName     string `json:"last_name,omitempty"`
		Username     string `json:"username,omitempty"`
		LanguageCode string `json:"language_code,omitempty"`
	}
	Chat struct {
		ID        int64  `json:"id"`
		Type      string `json:"type"` // private, group, supergroup, channel
		Title     string `json:"title,omitempty"`
		Username  string `json:"username,omitempty"`
		FirstName string `json:"first_name,omitempty"`
		IsForum   bool   `json:"is_forum,omitempty"`
	}
	Message struct {
		MessageID   int                   `json:"message_id"`
		From        *User                 `json:"from,omitempty"`
		Chat        Chat                  `json:"chat"`
		Date        int64                 `json:"date"`
		EditDate    int64                 `json:"edit_date,omitempty"`
		Text        string                `json:"text,omitempty"`
		Entities    []MessageEntity       `json:"entities,omitempty"`
		ReplyMarkup *InlineKeyboardMarkup `json:"reply_markup,omitempty"`
		// Groups and forums.
		MessageThreadID   int                `json:"message_thread_id,omitempty"`
		IsTopicMessage    bool               `json:"is_topic_message,omitempty"`
		ReplyToMessage    *Message           `json:"reply_to_message,omitempty"`
		ForumTopicCreated *ForumTopicCreated `json:"forum_topic_created,omitempty"`
		// Photos: several sizes, the largest last.
		Photo   []PhotoSize `json:"photo,omitempty"`
		Caption string      `json:"caption,omitempty"`
	}
	PhotoSize struct {
		FileID       string `json:"file_id"`
		FileUniqueID string `json:"file_unique_id"`
		Width        int    `json:"width"`
		Height       int    `json:"height"`
		FileSize     int    `json:"file_size,omitempty"`
	}
	ForumTopicCreated struct {
		Name      string `json:"name"`
		IconColor int    `json:"icon_color"`
	}
	// ForumTopic is createForumTopic's result.
	ForumTopic struct {
		MessageThreadID int    `json:"message_thread_id"`
		Name            string `json:"name"`
		IconColor       int    `json:"icon_color"`
	}
	MessageEntity struct {
		Type   string `json:"type"`
		Offset int    `json:"offset"` // in UTF-16 code units
		Length int    `json:"length"`
	}
	InlineKeyboardMarkup struct {
		InlineKeyboard [][]InlineKeyboardButton `json:"inline_keyboard"`
	}
	InlineKeyboardButton struct {
		Text         string `json:"text"`
		CallbackData string `json:"callback_data,omitempty"`
		URL          string `json:"url,omitempty"`
	}
	CallbackQuery struct {
		ID           string   `json:"id"`
		From         User     `json:"from"`
		Message      *Message `json:"message,omitempty"`
		ChatInstance string   `json:"chat_instance"`
		Data         string   `json:"data,omitempty"`
	}
	ChatMemberUpdated struct {
		Chat          Chat       `json:"chat"`
		From          User       `json:"from"`
		Date          int64      `json:"date"`
		OldChatMember ChatMember `json:"old_chat_member"`
		NewChatMember ChatMember `json:"new_chat_member"`
	}
	ChatMember struct {
		Status    string `json:"status"` // member, left, kicked…
		User      User   `json:"user"`
		UntilDate *int64 `json:"until_date,omitempty"` // kicked only; 0 = forever
	}
)

// customer is the Telegram user behind a private chat.
func customer(chatID int64, languageCode string) User {
	return User{ID: chatID, FirstName: "Customer", Username: "user" + strconv.FormatInt(chatID, 10), LanguageCode: languageCode}
}

// TextUpdate is a customer typing text in their private chat. A command
// ("/start tok") carries a bot_command entity, as Telegram sends it.
func (s *Server) TextUpdate(chatID int64, text, languageCode string) Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastMessageID[chatID]++
	from := customer(chatID, languageCode)
	m := &Message{
		MessageID: s.lastMessageID[chatID],
		From:      &from,
		Chat:      chatFor(chatID),
		Date:      s.now().Unix(),
		Text:      text,
	}
	if strings.HasPrefix(text, "/") {
		command := strings.Fields(text)[0]
		m.Entities = []MessageEntity{{Type: "bot_command", Offset: 0, Length: len(utf16.Encode([]rune(command)))}}
	}
	return Update{UpdateID: s.newUpdateIDLocked(), Message: m}
}

// TapUpdate is a customer tapping the button carrying data under the bot's
// message messageID. The callback query id it makes is one answerCallbackQuery
// accepts.
func (s *Server) TapUpdate(chatID int64, messageID int, data string) Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextCallbackID++
	id := strconv.FormatInt(4_000_000_000_000_000_000+s.nextCallbackID, 10)
	s.callbackIDs[id] = true
	msg := &Message{MessageID: messageID, Chat: chatFor(chatID), Date: s.now().Unix()}
	if m := s.findLocked(chatID, messageID); m != nil {
		msg = s.wireMessage(m)
	}
	return Update{UpdateID: s.newUpdateIDLocked(), CallbackQuery: &CallbackQuery{
		ID:           id,
		From:         customer(chatID, ""),
		Message:      msg,
		ChatInstance: strconv.FormatInt(chatID*31+7, 10),
		Data:         data,
	}}
}

// BlockedUpdate is the my_chat_member update Telegram sends when the customer
// blocks the bot (new status "kicked"). Call Block as well to make later
// sends fail with 403.
func (s *Server) BlockedUpdate(chatID int64) Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	bot := s.botUser()
	forever := int64(0)
	return Update{UpdateID: s.newUpdateIDLocked(), MyChatMember: &ChatMemberUpdated{
		Chat:          chatFor(chatID),
		From:          customer(chatID, ""),
		Date:          s.now().Unix(),
		OldChatMember: ChatMember{Status: "member", User: bot},
		NewChatMember: ChatMember{Status: "kicked", User: bot, UntilDate: &forever},
	}}
}

func (s *Server) newUpdateIDLocked() int64 {
	s.nextUpdateID++
	return s.nextUpdateID
}

// Enqueue queues updates for getUpdates.
func (s *Server) Enqueue(updates ...Update) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, updates...)
	s.notifyLocked()
}

// Offset is the highest offset a getUpdates call has confirmed: every update
// with a lower update_id is acknowledged and gone from the queue.
func (s *Server) Offset() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.offset
}

// Pending is how many queued updates are not confirmed yet.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// Deliver posts update to a webhook as Telegram does (JSON body, secret in the
// X-Telegram-Bot-Api-Secret-Token header when not empty) and returns the
// HTTP status. Telegram redelivers on any non-2xx status; the test decides
// whether to.
func (s *Server) Deliver(ctx context.Context, webhookURL, secret string, update Update) (int, error) {
	status, _, err := s.deliver(ctx, webhookURL, secret, update)
	return status, err
}

func (s *Server) deliver(ctx context.Context, webhookURL, secret string, update Update) (int, http.Header, error) {
	body, err := json.Marshal(update)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhookURL, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 == 2 {
		s.runWebhookAnswer(answer)
	}
	return resp.StatusCode, resp.Header, nil
}

// runWebhookAnswer carries out the Bot API method a webhook may answer
// with, as Telegram does ({"method":"answerCallbackQuery",…}). Like
// Telegram, it reports nothing back: a failing method is only counted.
func (s *Server) runWebhookAnswer(body []byte) {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return
	}
	var method string
	if json.Unmarshal(m["method"], &method) != nil || method == "" {
		return
	}
	p := params{}
	for k, raw := range m {
		var str string
		if json.Unmarshal(raw, &str) == nil {
			p[k] = str
		} else {
			p[k] = string(raw)
		}
	}
	name := strings.ToLower(method)
	s.mu.Lock()
	s.calls[name]++
	s.webhookAnswers++
	s.notifyLocked()
	s.mu.Unlock()
	if handle, ok := methods[name]; ok {
		_, _ = handle(s, nil, p)
	}
}

// DeliverWebhook delivers update to the webhook the bot registered with
// setWebhook, with its secret.
func (s *Server) DeliverWebhook(ctx context.Context, update Update) (int, error) {
	status, _, err := s.DeliverWebhookHeader(ctx, update)
	return status, err
}

// DeliverWebhookHeader is DeliverWebhook, also returning the answer's headers.
func (s *Server) DeliverWebhookHeader(ctx context.Context, update Update) (int, http.Header, error) {
	url, secret := s.Webhook()
	if url == "" {
		return 0, nil, errors.New("telegramtest: no webhook set")
	}
	status, header, err := s.deliver(ctx, url, secret, update)
	if err != nil {
		return 0, nil, fmt.Errorf("telegramtest: deliver update %d: %w", update.UpdateID, err)
	}
	return status, header, nil
}
