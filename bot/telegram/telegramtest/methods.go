package telegramtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

func (s *Server) getMe(_ *http.Request, _ params) (any, *apiError) {
	return s.botUser(), nil
}

func (s *Server) botUser() User {
	id, err := strconv.ParseInt(strings.SplitN(s.token, ":", 2)[0], 10, 64)
	if err != nil {
		id = 1
	}
	return User{ID: id, IsBot: true, FirstName: "cxbot test", Username: "cxbot_test_bot"}
}

// getUpdates confirms every update below offset, then answers the queued
// updates from offset on, waiting up to timeout seconds (capped by
// WithMaxPollWait) when there are none. Only one call may be in flight.
func (s *Server) getUpdates(r *http.Request, p params) (any, *apiError) {
	offset, _ := p.int64("offset")
	limit := p.int("limit", 100)
	if limit < 1 || limit > 100 {
		limit = 100
	}
	wait := min(time.Duration(p.int("timeout", 0))*time.Second, s.maxWait)

	s.mu.Lock()
	switch {
	case s.webhookURL != "":
		s.mu.Unlock()
		return nil, &apiError{http.StatusConflict, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first", 0}
	case s.polling:
		s.mu.Unlock()
		return nil, &apiError{http.StatusConflict, describe(http.StatusConflict, 0), 0}
	}
	s.polling = true
	s.confirmLocked(offset)
	s.notifyLocked()
	s.mu.Unlock()

	defer func() {
		s.mu.Lock()
		s.polling = false
		s.notifyLocked()
		s.mu.Unlock()
	}()

	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		updates := make([]Update, 0, limit)
		for _, u := range s.queue {
			if len(updates) == limit {
				break
			}
			if u.UpdateID >= offset {
				updates = append(updates, u)
			}
		}
		changed := s.changed.C() // taken under s.mu: a notify after the check still wakes us
		s.mu.Unlock()
		if len(updates) > 0 {
			return updates, nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return updates, nil
		case <-r.Context().Done():
			return updates, nil
		}
	}
}

// confirmLocked drops the updates an offset confirms: those below a positive
// offset, or all but the last -offset ones for a negative offset.
func (s *Server) confirmLocked(offset int64) {
	switch {
	case offset > 0:
		i := 0
		for i < len(s.queue) && s.queue[i].UpdateID < offset {
			i++
		}
		s.queue = s.queue[i:]
		s.offset = max(s.offset, offset)
	case offset < 0:
		if keep := int(-offset); keep < len(s.queue) {
			s.queue = s.queue[len(s.queue)-keep:]
		}
		if len(s.queue) > 0 {
			s.offset = max(s.offset, s.queue[0].UpdateID)
		}
	}
}

func (s *Server) sendMessage(_ *http.Request, p params) (any, *apiError) {
	chatID, e := chatParam(p)
	if e != nil {
		return nil, e
	}
	o, e := outgoingParams(p)
	if e != nil {
		return nil, e
	}
	o.text = p["text"]
	visible, e := visibleText(o.text, o.mode)
	if e != nil {
		return nil, e
	}
	switch n := utf16Len(visible); {
	case strings.TrimSpace(visible) == "":
		return nil, badRequest("message text is empty")
	case n > 4096:
		return nil, badRequest("message is too long")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	m, e := s.sendLocked(chatID, o)
	if e != nil {
		return nil, e
	}
	return s.wireMessage(m), nil
}

// outgoing is a message the bot asks to send, its parameters checked.
type outgoing struct {
	text, mode, photoID string
	keyboard            [][]Button
	thread              int
	replyTo             int  // 0 = no reply
	allowMissingReply   bool // allow_sending_without_reply
}

// outgoingParams reads what sendMessage and sendPhoto share: parse_mode,
// reply_markup, message_thread_id, reply_parameters (JSON) or the legacy
// reply_to_message_id and allow_sending_without_reply.
func outgoingParams(p params) (outgoing, *apiError) {
	var o outgoing
	var e *apiError
	if o.mode, e = parseMode(p["parse_mode"]); e != nil {
		return o, e
	}
	if o.keyboard, e = parseKeyboard(p["reply_markup"]); e != nil {
		return o, e
	}
	o.thread = p.int("message_thread_id", 0)
	o.replyTo, o.allowMissingReply = p.int("reply_to_message_id", 0), p.bool("allow_sending_without_reply")
	if raw := p["reply_parameters"]; raw != "" && raw != "null" {
		var rp struct {
			MessageID int             `json:"message_id"`
			ChatID    json.RawMessage `json:"chat_id"`
			Allow     bool            `json:"allow_sending_without_reply"`
		}
		if json.Unmarshal([]byte(raw), &rp) != nil {
			return o, badRequest("can't parse reply parameters JSON object")
		}
		if len(rp.ChatID) > 0 {
			return o, badRequest("replies to another chat are not supported by the fake")
		}
		o.replyTo, o.allowMissingReply = rp.MessageID, rp.Allow
	}
	return o, nil
}

// sendLocked places o in chatID as Telegram does: 403 in a blocked chat;
// an unknown forum topic is refused; a reply to a missing message too,
// unless allowed (it then goes as no reply); a reply in a forum without a
// thread goes to the topic of the message it replies to.
func (s *Server) sendLocked(chatID int64, o outgoing) (*SentMessage, *apiError) {
	if s.blocked[chatID] {
		return nil, forbidden(chatID)
	}
	if o.thread != 0 && !s.hasTopicLocked(chatID, o.thread) {
		return nil, badRequest("message thread not found")
	}
	replyTo := 0
	if o.replyTo != 0 {
		switch {
		case o.replyTo > 0 && o.replyTo <= s.lastMessageID[chatID]:
			replyTo = o.replyTo
			if o.thread == 0 && s.forums[chatID] {
				o.thread = s.threadOf[msgKey{chatID, replyTo}]
			}
		case !o.allowMissingReply:
			return nil, badRequest("message to be replied not found")
		}
	}
	s.lastMessageID[chatID]++
	m := &SentMessage{
		MessageID: s.lastMessageID[chatID],
		ChatID:    chatID,
		Text:      o.text,
		ParseMode: o.mode,
		PhotoID:   o.photoID,
		ThreadID:  o.thread,
		ReplyTo:   replyTo,
		Keyboard:  o.keyboard,
		Date:      s.now().Truncate(time.Second),
		At:        s.now(),
	}
	if o.thread > 0 {
		s.threadOf[msgKey{chatID, m.MessageID}] = o.thread
	}
	s.sent = append(s.sent, m)
	s.byChat[m.ChatID] = append(s.byChat[m.ChatID], m)
	s.notifyLocked()
	return m, nil
}

// forbidden is Telegram's 403 for a chat the bot may no longer write to.
func forbidden(chatID int64) *apiError {
	desc := describe(http.StatusForbidden, 0)
	switch chatFor(chatID).Type {
	case "group":
		desc = "Forbidden: bot was kicked from the group chat"
	case "supergroup":
		desc = "Forbidden: bot was kicked from the supergroup chat"
	}
	return &apiError{http.StatusForbidden, desc, 0}
}

func (s *Server) answerCallbackQuery(_ *http.Request, p params) (any, *apiError) {
	id := p["callback_query_id"]
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.callbackIDs[id] {
		return nil, badRequest("query is too old and response timeout expired or query ID is invalid")
	}
	s.answers = append(s.answers, CallbackAnswer{CallbackQueryID: id, Text: p["text"], ShowAlert: p.bool("show_alert")})
	s.notifyLocked()
	return true, nil
}

// editMessageText replaces a message's text; without reply_markup it also
// removes the inline keyboard, as Telegram does.
func (s *Server) editMessageText(_ *http.Request, p params) (any, *apiError) {
	text := p["text"]
	mode, e := parseMode(p["parse_mode"])
	if e != nil {
		return nil, e
	}
	visible, e := visibleText(text, mode)
	if e != nil {
		return nil, e
	}
	switch {
	case strings.TrimSpace(visible) == "":
		return nil, badRequest("message text is empty")
	case utf16Len(visible) > 4096:
		return nil, badRequest("MESSAGE_TOO_LONG")
	}
	return s.edit("editMessageText", p, &text, mode)
}

func (s *Server) editMessageReplyMarkup(_ *http.Request, p params) (any, *apiError) {
	return s.edit("editMessageReplyMarkup", p, nil, "")
}

func (s *Server) edit(method string, p params, text *string, mode string) (any, *apiError) {
	if p["inline_message_id"] != "" {
		return nil, badRequest("inline messages are not supported by the fake")
	}
	chatID, e := chatParam(p)
	if e != nil {
		return nil, e
	}
	messageID, ok := p.int64("message_id")
	if !ok {
		return nil, badRequest("message identifier is not specified")
	}
	keyboard, e := parseKeyboard(p["reply_markup"])
	if e != nil {
		return nil, e
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blocked[chatID] {
		return nil, forbidden(chatID)
	}
	m := s.findLocked(chatID, int(messageID))
	if m == nil {
		return nil, badRequest("message to edit not found")
	}
	if text != nil && m.PhotoID != "" {
		return nil, badRequest("there is no text in the message to edit")
	}
	newText, newMode := m.currentText(), m.currentParseMode()
	if text != nil {
		newText, newMode = *text, mode
	}
	if newText == m.currentText() && newMode == m.currentParseMode() && sameKeyboard(keyboard, m.Keyboard) {
		return nil, badRequest("message is not modified: specified new message content and reply markup are exactly the same as a content and reply markup of the current message")
	}
	if text != nil {
		m.Edited, m.EditedText, m.EditedParseMode = true, *text, mode
	}
	m.KeyboardRemoved = len(keyboard) == 0 && (len(m.Keyboard) > 0 || m.KeyboardRemoved)
	m.Keyboard = keyboard
	s.edits = append(s.edits, Edit{
		Method: method, ChatID: chatID, MessageID: m.MessageID,
		Text: newText, ParseMode: newMode, Keyboard: copyKeyboard(keyboard), KeyboardRemoved: m.KeyboardRemoved,
	})
	s.notifyLocked()
	out := s.wireMessage(m)
	out.EditDate = s.now().Unix()
	return out, nil
}

var secretTokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// setWebhook records url and secret_token. Unlike Telegram it accepts plain
// http URLs on any port, so tests can point it at an httptest server.
func (s *Server) setWebhook(_ *http.Request, p params) (any, *apiError) {
	raw := p["url"]
	if raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, badRequest("bad webhook: invalid URL")
		}
	}
	secret := p["secret_token"]
	if secret != "" && !secretTokenRE.MatchString(secret) {
		return nil, badRequest("secret token contains unallowed characters")
	}
	var allowed []string
	if a := p["allowed_updates"]; a != "" {
		if err := json.Unmarshal([]byte(a), &allowed); err != nil {
			return nil, badRequest("can't parse allowed updates")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhookURL, s.webhookSecret, s.allowedUpdates = raw, secret, allowed
	if p.bool("drop_pending_updates") {
		s.queue = nil
	}
	s.notifyLocked()
	return true, nil
}

func (s *Server) deleteWebhook(_ *http.Request, p params) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhookURL, s.webhookSecret = "", ""
	if p.bool("drop_pending_updates") {
		s.queue = nil
	}
	s.notifyLocked()
	return true, nil
}

func (s *Server) getWebhookInfo(_ *http.Request, _ params) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return map[string]any{
		"url":                    s.webhookURL,
		"has_custom_certificate": false,
		"pending_update_count":   len(s.queue),
		"allowed_updates":        s.allowedUpdates,
	}, nil
}

func chatParam(p params) (int64, *apiError) {
	if p["chat_id"] == "" {
		return 0, badRequest("chat_id is empty")
	}
	id, ok := p.int64("chat_id")
	if !ok {
		return 0, badRequest("chat not found")
	}
	return id, nil
}

// parseKeyboard reads an inline keyboard from reply_markup; "" means none.
func parseKeyboard(raw string) ([][]Button, *apiError) {
	if raw == "" || raw == "null" {
		return nil, nil
	}
	var markup struct {
		InlineKeyboard [][]map[string]json.RawMessage `json:"inline_keyboard"`
	}
	if err := json.Unmarshal([]byte(raw), &markup); err != nil {
		return nil, badRequest("can't parse reply keyboard markup JSON object")
	}
	var rows [][]Button
	for _, row := range markup.InlineKeyboard {
		var out []Button
		for _, fields := range row {
			var b InlineKeyboardButton
			_ = json.Unmarshal(fields["text"], &b.Text)
			_ = json.Unmarshal(fields["callback_data"], &b.CallbackData)
			_ = json.Unmarshal(fields["url"], &b.URL)
			switch actions := buttonActions(fields); {
			case b.Text == "":
				return nil, badRequest("BUTTON_TEXT_EMPTY")
			case len(actions) == 0:
				return nil, badRequest("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
			case len(actions) > 1:
				// The Bot API: "You must use exactly one of the optional fields."
				return nil, badRequest("can't parse inline keyboard button: exactly one of the optional fields must be used, got " + strings.Join(actions, ", "))
			case len(b.CallbackData) > 64:
				return nil, badRequest("BUTTON_DATA_INVALID")
			}
			out = append(out, Button{Text: b.Text, CallbackData: b.CallbackData})
		}
		if len(out) > 0 {
			rows = append(rows, out)
		}
	}
	return rows, nil
}

// buttonActions lists the optional fields of an inline keyboard button that
// are present, as Telegram sees them: one that is there at all counts, even
// empty ("copy_text":{"text":""} is a copy_text button).
func buttonActions(fields map[string]json.RawMessage) []string {
	var present []string
	for _, name := range []string{
		"url", "callback_data", "web_app", "login_url", "switch_inline_query",
		"switch_inline_query_current_chat", "switch_inline_query_chosen_chat",
		"copy_text", "callback_game", "pay",
	} {
		if _, ok := fields[name]; ok {
			present = append(present, name)
		}
	}
	return present
}

func sameKeyboard(a, b [][]Button) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				return false
			}
		}
	}
	return true
}

func (s *Server) findLocked(chatID int64, messageID int) *SentMessage {
	for _, m := range s.byChat[chatID] {
		if m.MessageID == messageID {
			return m
		}
	}
	return nil
}

// wireMessage is the Bot API Message for a message the bot sent: its text
// as people see it (tags stripped), photo, topic and the message it replies to.
func (s *Server) wireMessage(m *SentMessage) *Message {
	out := s.wireMessageOnly(m)
	switch {
	case m.ReplyTo > 0:
		out.ReplyToMessage = s.messageStubLocked(m.ChatID, m.ReplyTo)
	case m.ThreadID > 0 && s.forums[m.ChatID]:
		out.ReplyToMessage = s.topicCreatedLocked(m.ChatID, m.ThreadID)
	}
	return out
}

// wireMessageOnly is wireMessage without reply_to_message (Telegram does
// not nest them).
func (s *Server) wireMessageOnly(m *SentMessage) *Message {
	bot := s.botUser()
	out := &Message{
		MessageID: m.MessageID,
		From:      &bot,
		Chat:      s.chatLocked(m.ChatID),
		Date:      m.Date.Unix(),
	}
	if m.PhotoID != "" {
		out.Photo = photoSizes(m.PhotoID)
		out.Caption = m.PlainText()
	} else {
		out.Text = m.PlainText()
	}
	if m.ThreadID > 0 {
		out.MessageThreadID = m.ThreadID
		out.IsTopicMessage = s.forums[m.ChatID]
	}
	if len(m.Keyboard) > 0 {
		out.ReplyMarkup = &InlineKeyboardMarkup{InlineKeyboard: [][]InlineKeyboardButton{}}
		for _, row := range m.Keyboard {
			var r []InlineKeyboardButton
			for _, b := range row {
				r = append(r, InlineKeyboardButton{Text: b.Text, CallbackData: b.CallbackData})
			}
			out.ReplyMarkup.InlineKeyboard = append(out.ReplyMarkup.InlineKeyboard, r)
		}
	}
	return out
}

// chatFor guesses a chat's type from its id as Telegram numbers them: users
// are positive, groups negative, supergroups and channels -100….
func chatFor(id int64) Chat {
	switch {
	case id > 0:
		return Chat{ID: id, Type: "private", FirstName: "Customer", Username: "user" + strconv.FormatInt(id, 10)}
	case id < -1_000_000_000_000:
		return Chat{ID: id, Type: "supergroup", Title: "Group " + strconv.FormatInt(id, 10)}
	default:
		return Chat{ID: id, Type: "group", Title: "Group " + strconv.FormatInt(id, 10)}
	}
}
