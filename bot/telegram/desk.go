package telegram

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf16"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/flows"
)

// The agents' desk: HTML posts to a group, forum topics, photos relayed by
// file_id.

// Telegram's limits, in UTF-16 units of the text people see (tags stripped,
// entities decoded).
const (
	maxTextUnits    = 4096
	maxCaptionUnits = 1024
	maxTopicName    = 128
)

// PostHTML posts p to the agents' chat chatID: a message in parse mode HTML
// (Telegram's subset; the caller escapes customer text), or, with p.PhotoID,
// that photo with the HTML as its caption. It goes to the forum topic
// p.ThreadID and replies to p.ReplyTo when set (sent anyway if that message
// is gone). Too long a text (4096 UTF-16 units once tags are stripped, 1024
// for a caption) is flows.ErrInvalid: the adapter does not cut HTML, the
// caller shortens what it quotes and posts again.
func (a *Adapter) PostHTML(ctx context.Context, chatID string, p flows.Post) (int, error) {
	id, err := parseChatID(chatID)
	if err != nil {
		return 0, err
	}
	method, limit := "sendMessage", maxTextUnits
	if p.PhotoID != "" {
		method, limit = "sendPhoto", maxCaptionUnits
	}
	switch n := visibleUnits(p.HTML); {
	case p.PhotoID == "" && strings.TrimSpace(p.HTML) == "":
		return 0, fmt.Errorf("telegram %s to %s: empty text: %w", method, chatID, flows.ErrInvalid)
	case n > limit:
		return 0, fmt.Errorf("telegram %s to %s: text is %d UTF-16 units once tags are stripped, Telegram takes %d; shorten it: %w", method, chatID, n, limit, flows.ErrInvalid)
	case p.ThreadID < 0 || p.ReplyTo < 0:
		return 0, fmt.Errorf("telegram %s to %s: negative thread or reply id: %w", method, chatID, flows.ErrInvalid)
	}
	keyboard, err := inlineKeyboard(p.Buttons)
	if err != nil {
		return 0, fmt.Errorf("telegram %s to %s: %w", method, chatID, err)
	}
	var reply *models.ReplyParameters
	if p.ReplyTo > 0 {
		reply = &models.ReplyParameters{MessageID: p.ReplyTo, AllowSendingWithoutReply: true}
	}
	var msg *models.Message
	if p.PhotoID != "" {
		params := &tgbot.SendPhotoParams{
			ChatID: id, Photo: &models.InputFileString{Data: p.PhotoID}, Caption: p.HTML,
			MessageThreadID: p.ThreadID, ReplyParameters: reply,
		}
		if p.HTML != "" {
			params.ParseMode = models.ParseModeHTML
		}
		if keyboard != nil { // a nil *inlineMarkup would still be sent, as "null"
			params.ReplyMarkup = keyboard
		}
		msg, err = a.api.SendPhoto(ctx, params)
	} else {
		params := &tgbot.SendMessageParams{
			ChatID: id, Text: p.HTML, ParseMode: models.ParseModeHTML,
			MessageThreadID: p.ThreadID, ReplyParameters: reply,
		}
		if keyboard != nil {
			params.ReplyMarkup = keyboard
		}
		msg, err = a.sendMessage(ctx, params)
	}
	if err != nil {
		return 0, apiError(method, chatID, err)
	}
	return msg.ID, nil
}

// EditHTML replaces the text of the bot's message messageID in chatID
// (parse mode HTML) and its buttons; nil or empty buttons remove them. An
// edit that changes nothing ("message is not modified") is success, so a
// redelivered update can make it again.
func (a *Adapter) EditHTML(ctx context.Context, chatID string, messageID int, htmlText string, buttons [][]flows.Button) error {
	id, err := parseChatID(chatID)
	if err != nil {
		return err
	}
	switch n := visibleUnits(htmlText); {
	case messageID <= 0:
		return fmt.Errorf("telegram editMessageText: message id %d: %w", messageID, flows.ErrInvalid)
	case strings.TrimSpace(htmlText) == "":
		return fmt.Errorf("telegram editMessageText in %s: empty text: %w", chatID, flows.ErrInvalid)
	case n > maxTextUnits:
		return fmt.Errorf("telegram editMessageText in %s: text is %d UTF-16 units once tags are stripped, Telegram takes %d; shorten it: %w", chatID, n, maxTextUnits, flows.ErrInvalid)
	}
	keyboard, err := inlineKeyboard(buttons)
	if err != nil {
		return fmt.Errorf("telegram editMessageText in %s: %w", chatID, err)
	}
	params := &tgbot.EditMessageTextParams{ChatID: id, MessageID: messageID, Text: htmlText, ParseMode: models.ParseModeHTML}
	if keyboard != nil { // without reply_markup Telegram removes the keyboard
		params.ReplyMarkup = keyboard
	}
	if err := a.editMessageText(ctx, params); err != nil && !isBadRequest(err, "message is not modified") {
		return apiError("editMessageText", chatID, err)
	}
	return nil
}

// IsForum reports whether chatID is a forum supergroup (getChat's
// is_forum), where each case can have its own topic. The answer is kept
// per chat: a group seldom changes, and it is asked for every case.
func (a *Adapter) IsForum(ctx context.Context, chatID string) (bool, error) {
	id, err := parseChatID(chatID)
	if err != nil {
		return false, err
	}
	a.forumMu.Lock()
	known, ok := a.forums[id]
	a.forumMu.Unlock()
	if ok {
		return known, nil
	}
	chat, err := a.api.GetChat(ctx, &tgbot.GetChatParams{ChatID: id})
	if err != nil {
		return false, apiError("getChat", chatID, err)
	}
	a.forumMu.Lock()
	a.forums[id] = chat.IsForum
	a.forumMu.Unlock()
	return chat.IsForum, nil
}

// CreateTopic opens a forum topic named name (cut to Telegram's 128) in
// chatID and returns its message_thread_id. A chat that is no forum, or
// where the bot may not manage topics, is flows.ErrInvalid (a 400).
func (a *Adapter) CreateTopic(ctx context.Context, chatID, name string) (int, error) {
	id, err := parseChatID(chatID)
	if err != nil {
		return 0, err
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return 0, fmt.Errorf("telegram createForumTopic in %s: empty name: %w", chatID, flows.ErrInvalid)
	}
	if u := utf16.Encode([]rune(name)); len(u) > maxTopicName {
		name = cutUTF16(u, maxTopicName-1) + "…"
	}
	topic, err := a.api.CreateForumTopic(ctx, &tgbot.CreateForumTopicParams{ChatID: id, Name: name})
	if err != nil {
		return 0, apiError("createForumTopic", chatID, err)
	}
	return topic.MessageThreadID, nil
}

// SendPhoto sends the photo photoID (a Telegram file_id) to a customer's
// chat with a plain caption (no parse mode: an agent's words go as typed).
func (a *Adapter) SendPhoto(ctx context.Context, chatID, photoID, caption string) (int, error) {
	id, err := parseChatID(chatID)
	if err != nil {
		return 0, err
	}
	switch n := len(utf16.Encode([]rune(caption))); {
	case strings.TrimSpace(photoID) == "":
		return 0, fmt.Errorf("telegram sendPhoto to %s: no photo: %w", chatID, flows.ErrInvalid)
	case n > maxCaptionUnits:
		return 0, fmt.Errorf("telegram sendPhoto to %s: caption is %d UTF-16 units, Telegram takes %d: %w", chatID, n, maxCaptionUnits, flows.ErrInvalid)
	}
	msg, err := a.api.SendPhoto(ctx, &tgbot.SendPhotoParams{ChatID: id, Photo: &models.InputFileString{Data: photoID}, Caption: caption})
	if err != nil {
		return 0, apiError("sendPhoto", chatID, err)
	}
	return msg.ID, nil
}

// visibleUnits is the UTF-16 length of HTML as Telegram shows it, the
// unit of its limits.
func visibleUnits(s string) int { return len(utf16.Encode([]rune(bot.VisibleHTML(s)))) }

// cutUTF16 is the first n units of u, never half a surrogate pair.
func cutUTF16(u []uint16, n int) string {
	if n < len(u) && utf16.IsSurrogate(rune(u[n])) && u[n] >= 0xdc00 {
		n-- // u[n] is a low surrogate: its high half goes too
	}
	return string(utf16.Decode(u[:n]))
}
