package flows

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The rules below bound every string cxbot takes from outside (the API, the
// CSV import, the chat platforms) the same way, so a value that one door
// refuses is not let in through another, nothing unbounded reaches SQL (a
// 9,000-character key overflows a PostgreSQL index row) or a log line, and
// no NUL reaches PostgreSQL (which refuses it, SQLSTATE 22021).

// MaxCustomerRefLen is the longest customer reference, in characters.
const MaxCustomerRefLen = maxCustomerRefLen

// ValidateCustomerRef checks a business's customer reference: required, at
// most 200 characters of UTF-8 text without control characters.
func ValidateCustomerRef(ref string) error {
	return checkText("customer_ref", ref, maxCustomerRefLen, true, false)
}

// ValidateEventID checks an event id (optional: "" passes).
func ValidateEventID(id string) error {
	return checkText("event_id", id, maxEventIDLen, false, false)
}

// ValidateSurveyID checks a survey id as a client names it.
func ValidateSurveyID(id string) error {
	return checkText("survey", id, maxTouchpointLen, true, false)
}

// ValidateLanguage checks an optional language tag (en, zh-CN, pt_BR).
func ValidateLanguage(lang string) error {
	if lang != "" && !isEventLanguage(lang) {
		return NewFieldError("language", "%q is not a language tag (like en or zh-CN)", clip(lang, maxQuotedValue))
	}
	return nil
}

// ValidateTelegramChat checks a Telegram chat id a customer is reached on.
// Only a private chat (a positive id) can take a survey: the bot ignores
// taps in groups and channels (negative ids), so a survey sent there could
// never be answered.
func ValidateTelegramChat(field, id string) error {
	n, err := strconv.ParseInt(id, 10, 64)
	switch {
	case err != nil || n == 0:
		return NewFieldError(field, "%q is not a Telegram chat id (an integer)", clip(id, maxQuotedValue))
	case n < 0:
		return NewFieldError(field, "%d is a group or channel; surveys go to a customer's private chat with the bot (a positive id)", n)
	}
	return nil
}

// ValidateWeChatOpenID checks a WeChat openid: at most 128 characters,
// no spaces or control characters.
func ValidateWeChatOpenID(field, openID string) error {
	if err := checkText(field, openID, maxOpenIDLen, true, false); err != nil {
		return err
	}
	if strings.ContainsFunc(openID, unicode.IsSpace) {
		return NewFieldError(field, "%q must not contain spaces", clip(openID, maxQuotedValue))
	}
	return nil
}

// ValidateAttributes checks the key/value pairs that travel with an event
// or an invitation (shown to agents on handoff): at most 50, keys of 1 to
// 100 characters, values up to 1,000 (line breaks allowed), no control
// characters. Keys and values are returned trimmed.
func ValidateAttributes(field string, in map[string]string) (map[string]string, error) {
	if len(in) > maxEventAttributes {
		return nil, NewFieldError(field, "has %d entries, at most %d are allowed", len(in), maxEventAttributes)
	}
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(in))
	for k, val := range in {
		key := strings.TrimSpace(k)
		if err := checkText(field, key, maxAttributeKeyLen, false, false); err != nil || key == "" {
			return nil, NewFieldError(field, "key %q must be 1 to %d characters of text", clip(k, maxQuotedValue), maxAttributeKeyLen)
		}
		val = strings.TrimSpace(val)
		if err := checkText(field+"."+key, val, maxAttributeValueLen, false, true); err != nil {
			return nil, err
		}
		out[key] = val
	}
	return out, nil
}

// CleanText makes what a customer wrote storable without refusing it: NUL
// bytes are dropped and invalid UTF-8 replaced by U+FFFD. Customer text is
// cleaned, never refused: refusing it would make the platform redeliver
// the update for ever.
func CleanText(text string) string {
	if strings.IndexByte(text, 0) >= 0 {
		text = strings.ReplaceAll(text, "\x00", "")
	}
	return strings.ToValidUTF8(text, "\uFFFD")
}

// maxLogValue bounds a value from outside quoted in a log line.
const maxLogValue = 200

// LogValue bounds a value from outside for a log line: at most 200 bytes
// of valid UTF-8, with "…(N bytes)" telling how long it was.
func LogValue(v string) string {
	if len(v) <= maxLogValue && utf8.ValidString(v) {
		return v
	}
	cut := min(len(v), maxLogValue)
	for cut > 0 && cut < len(v) && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return strings.ToValidUTF8(v[:cut], "\uFFFD") + "…(" + strconv.Itoa(len(v)) + " bytes)"
}

// Bounds of what a chat platform sends about its user.
const (
	maxCustomerText = 4096 // runes: Telegram's own limit for a message
	maxUsernameLen  = 64
	maxUpdateIDLen  = 256
)

// ValidateChat checks the chat an update or an invitation names, by channel.
// Ids of channels other than Telegram and WeChat are checked as bounded text.
func ValidateChat(ch Channel, chatID string) error {
	switch ch {
	case ChannelTelegram:
		return ValidateTelegramChat("chat_id", chatID)
	case ChannelWeChat:
		return ValidateWeChatOpenID("chat_id", chatID)
	}
	// Another channel's ids: bounded text (whether the channel is
	// configured is the caller's question).
	return ValidateWeChatOpenID("chat_id", chatID)
}

// CleanUpdate is the one rule for what a chat platform sends: the chat id
// must be one cxbot can answer (ErrInvalid otherwise: the adapter
// acknowledges and drops the update, a redelivery would fail the same
// way), and the update id is bounded; the rest is cleaned, never refused:
// text loses NUL bytes and invalid UTF-8 and is cut at 4,096 characters,
// a username is bounded, a language code that is not a language tag is
// forgotten.
func CleanUpdate(u Update) (Update, error) {
	if u.ChatID == "" {
		return u, NewFieldError("chat_id", "is missing (update %s)", LogValue(u.UpdateID))
	}
	if err := ValidateChat(u.Channel, u.ChatID); err != nil {
		return u, err
	}
	if len(u.UpdateID) > maxUpdateIDLen || !utf8.ValidString(u.UpdateID) {
		return u, NewFieldError("update_id", "is not a platform update id (%d bytes)", len(u.UpdateID))
	}
	u.Text = clipRunes(CleanText(u.Text), maxCustomerText)
	u.Username = clipRunes(CleanText(u.Username), maxUsernameLen)
	u.UserID = clipRunes(CleanText(u.UserID), maxOpenIDLen)
	if ValidateLanguage(u.Language) != nil {
		u.Language = ""
	}
	return u, nil
}

// clipRunes cuts s to at most n runes.
func clipRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}
