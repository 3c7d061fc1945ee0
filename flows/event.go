package flows

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zone names validate the same on hosts without a zoneinfo database
	"unicode"
	"unicode/utf8"
)

// MaxEventBatch is the most events one save takes: a POST /api/v1/events
// request, or one transaction of a CSV import.
const MaxEventBatch = 1000

// Bounds of an event's fields. Every value comes from outside cxbot (a
// business system, a spreadsheet), so each is bounded here, once, for the
// API and the CSV import alike.
const (
	maxEventIDLen        = 200
	maxCustomerRefLen    = 200
	maxTouchpointLen     = 100
	maxOpenIDLen         = 128
	maxLanguageLen       = 35
	maxEventAttributes   = 50
	maxAttributeKeyLen   = 100
	maxAttributeValueLen = 1000
	maxEventFuture       = 24 * time.Hour // clocks drift; a week ahead is a bug
	maxQuotedValue       = 60             // runes of a rejected value quoted back in an error
	maxKnownZones        = 1000           // zone names remembered by one EventValidator
)

// EventInput is one touchpoint event as a business system sends it, before
// validation: an element of the API's "events" array, or a row of the CSV
// that `cxbot events import` reads. Every field is text as received.
type EventInput struct {
	ID             string
	CustomerRef    string
	Touchpoint     string
	OccurredAt     string // RFC 3339
	TelegramChatID string // an integer
	WeChatOpenID   string
	Language       string // a language tag, e.g. zh-CN
	TimeZone       string // an IANA name, e.g. Asia/Shanghai
	Attributes     map[string]string
}

// FieldError says which field of an event is wrong and why; it wraps
// ErrInvalid. Its text starts with the field's name as clients spell it,
// e.g. `occurred_at "yesterday" is not RFC 3339`.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + " " + e.Reason }

func (e *FieldError) Unwrap() error { return ErrInvalid }

// NewFieldError returns a *FieldError, for adapters that find a field
// malformed before it reaches ValidateEvent (a JSON number where text was
// expected, say), so their errors read like the validator's.
func NewFieldError(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// EventValidator validates events as ValidateEvent does and remembers the
// time zone names it has checked (loading a zone reads a file). Use one per
// request or import; it is not safe for concurrent use.
type EventValidator struct {
	zones map[string]bool
}

// ValidateEvent checks an event and returns it as the store takes it:
// id, customer_ref and touchpoint are required (id at most 200
// characters); occurred_at is RFC 3339 and not more than a day after now;
// telegram_chat_id is an integer; timezone is an IANA time zone; language
// is a short language tag; attribute keys and values are bounded. Spaces
// around values are dropped. The error is a *FieldError naming the first
// bad field.
func ValidateEvent(in EventInput, now time.Time) (Event, error) {
	var v EventValidator
	return v.Validate(in, now)
}

// Validate is ValidateEvent.
func (v *EventValidator) Validate(in EventInput, now time.Time) (Event, error) {
	e := Event{
		ID:             strings.TrimSpace(in.ID),
		CustomerRef:    strings.TrimSpace(in.CustomerRef),
		Touchpoint:     strings.TrimSpace(in.Touchpoint),
		TelegramChatID: strings.TrimSpace(in.TelegramChatID),
		WeChatOpenID:   strings.TrimSpace(in.WeChatOpenID),
		Language:       strings.TrimSpace(in.Language),
		TimeZone:       strings.TrimSpace(in.TimeZone),
	}
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"id", e.ID, maxEventIDLen},
		{"customer_ref", e.CustomerRef, maxCustomerRefLen},
		{"touchpoint", e.Touchpoint, maxTouchpointLen},
	} {
		if err := checkText(f.name, f.value, f.max, true, false); err != nil {
			return Event{}, err
		}
	}
	if strings.ContainsFunc(e.Touchpoint, unicode.IsSpace) {
		return Event{}, NewFieldError("touchpoint", "%q must not contain spaces", e.Touchpoint)
	}

	at := strings.TrimSpace(in.OccurredAt)
	if at == "" {
		return Event{}, NewFieldError("occurred_at", "is required")
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return Event{}, NewFieldError("occurred_at", "%q is not RFC 3339 (like 2026-11-20T09:30:00+08:00)", clip(at, maxQuotedValue))
	}
	if t.After(now.Add(maxEventFuture)) {
		return Event{}, NewFieldError("occurred_at", "%q is more than a day in the future", at)
	}
	if t.Year() < 2000 {
		// 0001-01-01 is a zero time sent by mistake, not a date of purchase.
		return Event{}, NewFieldError("occurred_at", "%q is before 2000-01-01: send when the event happened", clip(at, maxQuotedValue))
	}
	e.OccurredAt = t

	if e.TelegramChatID != "" {
		n, err := strconv.ParseInt(e.TelegramChatID, 10, 64)
		if err != nil || n == 0 {
			return Event{}, NewFieldError("telegram_chat_id", "%q is not a Telegram chat id (an integer)", clip(e.TelegramChatID, maxQuotedValue))
		}
		e.TelegramChatID = strconv.FormatInt(n, 10)
	}
	if e.WeChatOpenID != "" {
		if err := checkText("wechat_openid", e.WeChatOpenID, maxOpenIDLen, false, false); err != nil {
			return Event{}, err
		}
		if strings.ContainsFunc(e.WeChatOpenID, unicode.IsSpace) {
			return Event{}, NewFieldError("wechat_openid", "%q must not contain spaces", clip(e.WeChatOpenID, maxQuotedValue))
		}
	}
	if e.Language != "" && !isEventLanguage(e.Language) {
		return Event{}, NewFieldError("language", "%q is not a language tag (like en or zh-CN)", clip(e.Language, maxQuotedValue))
	}
	if e.TimeZone != "" && !v.knownZone(e.TimeZone) {
		return Event{}, NewFieldError("timezone", "%q is not an IANA time zone (like Asia/Shanghai)", clip(e.TimeZone, maxQuotedValue))
	}

	if len(in.Attributes) > maxEventAttributes {
		return Event{}, NewFieldError("attributes", "has %d entries, at most %d are allowed", len(in.Attributes), maxEventAttributes)
	}
	if len(in.Attributes) > 0 {
		e.Attributes = make(map[string]string, len(in.Attributes))
		for k, val := range in.Attributes {
			key := strings.TrimSpace(k)
			if err := checkText("attributes", key, maxAttributeKeyLen, false, false); err != nil || key == "" {
				return Event{}, NewFieldError("attributes", "key %q must be 1 to %d characters of text", clip(k, maxQuotedValue), maxAttributeKeyLen)
			}
			val = strings.TrimSpace(val)
			if err := checkText("attributes."+key, val, maxAttributeValueLen, false, true); err != nil {
				return Event{}, err
			}
			e.Attributes[key] = val
		}
	}
	return e, nil
}

// knownZone reports whether name is an IANA zone. "Local" is refused: it
// means the server's zone, not the customer's.
func (v *EventValidator) knownZone(name string) bool {
	if ok, seen := v.zones[name]; seen {
		return ok
	}
	_, err := time.LoadLocation(name)
	ok := err == nil && name != "Local"
	if v.zones == nil {
		v.zones = make(map[string]bool)
	}
	if len(v.zones) < maxKnownZones { // bounded: names come from clients
		v.zones[name] = ok
	}
	return ok
}

// checkText rejects a value that is missing (when required), too long, not
// UTF-8 or carrying control characters (multiline allows line breaks and tabs).
func checkText(field, v string, max int, required, multiline bool) error {
	control := func(r rune) bool {
		return unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t'))
	}
	switch {
	case v == "" && required:
		return NewFieldError(field, "is required")
	case !utf8.ValidString(v):
		return NewFieldError(field, "is not valid UTF-8")
	case utf8.RuneCountInString(v) > max:
		return NewFieldError(field, "is longer than %d characters", max)
	case strings.ContainsFunc(v, control):
		return NewFieldError(field, "%q contains control characters", clip(v, maxQuotedValue))
	}
	return nil
}

// isEventLanguage accepts the language tags surveys use (en, zh-CN,
// zh-Hant-TW), also spelt with _ as some systems do (pt_BR), up to 35
// characters.
func isEventLanguage(s string) bool {
	return len(s) <= maxLanguageLen && validLanguage(strings.ReplaceAll(s, "_", "-"))
}
