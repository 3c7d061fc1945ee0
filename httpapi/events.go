package httpapi

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
	"time"
	_ "time/tzdata" // time zone names validate the same on hosts without a zoneinfo database
	"unicode"
	"unicode/utf8"

	"github.com/cxbot/cxbot/flows"
)

// Limits of POST /api/v1/events. A batch may be larger than the API's
// general 1 MiB body limit: 1,000 events with a few attributes each fit
// in 5 MiB with room to spare.
const (
	MaxEventBatch      = 1000
	maxEventsBodyBytes = 5 << 20

	maxEventIDLen        = 200
	maxCustomerRefLen    = 200
	maxTouchpointLen     = 100
	maxOpenIDLen         = 128
	maxLanguageLen       = 35
	maxEventAttributes   = 50
	maxAttributeKeyLen   = 100
	maxAttributeValueLen = 1000
	maxEventFuture       = 24 * time.Hour // clocks drift; a week ahead is a bug
)

// EventSaver stores touchpoint events (store.DB).
type EventSaver interface {
	SaveEvents(ctx context.Context, events []flows.Event) ([]flows.EventResult, error)
}

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
// flows.ErrInvalid. Its text starts with the field's name, e.g.
// `occurred_at "yesterday" is not RFC 3339`.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + " " + e.Reason }

func (e *FieldError) Unwrap() error { return flows.ErrInvalid }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// EventValidator validates events as ValidateEvent does and remembers the
// time zone names it has checked (loading a zone reads a file). One per
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
func ValidateEvent(in EventInput, now time.Time) (flows.Event, error) {
	var v EventValidator
	return v.Validate(in, now)
}

// Validate is ValidateEvent.
func (v *EventValidator) Validate(in EventInput, now time.Time) (flows.Event, error) {
	e := flows.Event{
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
			return flows.Event{}, err
		}
	}
	if strings.ContainsFunc(e.Touchpoint, unicode.IsSpace) {
		return flows.Event{}, fieldErr("touchpoint", "%q must not contain spaces", e.Touchpoint)
	}

	at := strings.TrimSpace(in.OccurredAt)
	if at == "" {
		return flows.Event{}, fieldErr("occurred_at", "is required")
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return flows.Event{}, fieldErr("occurred_at", "%q is not RFC 3339 (like 2026-11-20T09:30:00+08:00)", clip(at))
	}
	if t.After(now.Add(maxEventFuture)) {
		return flows.Event{}, fieldErr("occurred_at", "%q is more than a day in the future", at)
	}
	e.OccurredAt = t

	if e.TelegramChatID != "" {
		n, err := strconv.ParseInt(e.TelegramChatID, 10, 64)
		if err != nil || n == 0 {
			return flows.Event{}, fieldErr("telegram_chat_id", "%q is not a Telegram chat id (an integer)", clip(e.TelegramChatID))
		}
		e.TelegramChatID = strconv.FormatInt(n, 10)
	}
	if e.WeChatOpenID != "" {
		if err := checkText("wechat_openid", e.WeChatOpenID, maxOpenIDLen, false, false); err != nil {
			return flows.Event{}, err
		}
		if strings.ContainsFunc(e.WeChatOpenID, unicode.IsSpace) {
			return flows.Event{}, fieldErr("wechat_openid", "%q must not contain spaces", clip(e.WeChatOpenID))
		}
	}
	if e.Language != "" && !isLanguageTag(e.Language) {
		return flows.Event{}, fieldErr("language", "%q is not a language tag (like en or zh-CN)", clip(e.Language))
	}
	if e.TimeZone != "" && !v.knownZone(e.TimeZone) {
		return flows.Event{}, fieldErr("timezone", "%q is not an IANA time zone (like Asia/Shanghai)", clip(e.TimeZone))
	}

	if len(in.Attributes) > maxEventAttributes {
		return flows.Event{}, fieldErr("attributes", "has %d entries, at most %d are allowed", len(in.Attributes), maxEventAttributes)
	}
	if len(in.Attributes) > 0 {
		e.Attributes = make(map[string]string, len(in.Attributes))
		for k, v := range in.Attributes {
			key := strings.TrimSpace(k)
			if err := checkText("attributes", key, maxAttributeKeyLen, false, false); err != nil || key == "" {
				return flows.Event{}, fieldErr("attributes", "key %q must be 1 to %d characters of text", clip(k), maxAttributeKeyLen)
			}
			v = strings.TrimSpace(v)
			if err := checkText("attributes."+key, v, maxAttributeValueLen, false, true); err != nil {
				return flows.Event{}, err
			}
			e.Attributes[key] = v
		}
	}
	return e, nil
}

func (v *EventValidator) knownZone(name string) bool {
	if ok, seen := v.zones[name]; seen {
		return ok
	}
	_, err := time.LoadLocation(name)
	ok := err == nil && name != "Local"
	if v.zones == nil {
		v.zones = make(map[string]bool)
	}
	if len(v.zones) < 1000 { // bounded: names come from clients
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
		return fieldErr(field, "is required")
	case !utf8.ValidString(v):
		return fieldErr(field, "is not valid UTF-8")
	case utf8.RuneCountInString(v) > max:
		return fieldErr(field, "is longer than %d characters", max)
	case strings.ContainsFunc(v, control):
		return fieldErr(field, "%q contains control characters", clip(v))
	}
	return nil
}

// isLanguageTag accepts BCP 47-like tags: 2-3 letters, then subtags of 1-8
// letters or digits separated by - (or _): en, zh-CN, zh-Hant-TW, pt_BR.
func isLanguageTag(s string) bool {
	if len(s) > maxLanguageLen {
		return false
	}
	for i, sub := range strings.Split(strings.ReplaceAll(s, "_", "-"), "-") {
		if len(sub) < 1 || len(sub) > 8 || (i == 0 && (len(sub) < 2 || len(sub) > 3)) {
			return false
		}
		for _, r := range sub {
			letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
			digit := r >= '0' && r <= '9'
			if !letter && !(digit && i > 0) {
				return false
			}
		}
	}
	return true
}

// clip shortens a rejected value quoted back in an error.
func clip(s string) string {
	const max = 60
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max]) + "…"
}

// eventJSON is one element of the request's "events" array. Fields whose
// JSON type varies are decoded by hand, so each event gets its own error.
type eventJSON struct {
	ID             string                     `json:"id"`
	CustomerRef    string                     `json:"customer_ref"`
	Touchpoint     string                     `json:"touchpoint"`
	OccurredAt     string                     `json:"occurred_at"`
	TelegramChatID json.RawMessage            `json:"telegram_chat_id"`
	WeChatOpenID   string                     `json:"wechat_openid"`
	Language       string                     `json:"language"`
	TimeZone       string                     `json:"timezone"`
	Attributes     map[string]json.RawMessage `json:"attributes"`
}

// decodeEvent reads one event of the batch into an EventInput. The id is
// returned even when the rest is malformed, for the event's result.
func decodeEvent(raw json.RawMessage) (EventInput, error) {
	var ev eventJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(&ev)
	in := EventInput{
		ID: ev.ID, CustomerRef: ev.CustomerRef, Touchpoint: ev.Touchpoint, OccurredAt: ev.OccurredAt,
		WeChatOpenID: ev.WeChatOpenID, Language: ev.Language, TimeZone: ev.TimeZone,
	}
	if err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field == "":
			return in, fieldErr("event", "must be a JSON object")
		case errors.As(err, &typeErr):
			return in, fieldErr(typeErr.Field, "must be %s", jsonKind(typeErr.Type.Kind().String()))
		default:
			msg := strings.TrimPrefix(err.Error(), "json: ")
			if name, ok := strings.CutPrefix(msg, "unknown field "); ok {
				if n, err := strconv.Unquote(name); err == nil {
					name = n
				}
				return in, fieldErr(name, "is not an event field (id, customer_ref, touchpoint, occurred_at, "+
					"telegram_chat_id, wechat_openid, language, timezone, attributes)")
			}
			return in, fieldErr("event", "is malformed: %s", msg)
		}
	}
	if len(ev.TelegramChatID) > 0 && string(ev.TelegramChatID) != "null" {
		var s string
		if err := json.Unmarshal(ev.TelegramChatID, &s); err != nil {
			var n json.Number
			if err := json.Unmarshal(ev.TelegramChatID, &n); err != nil {
				return in, fieldErr("telegram_chat_id", "must be an integer")
			}
			s = n.String()
		}
		in.TelegramChatID = s
		if strings.TrimSpace(s) == "" {
			return in, fieldErr("telegram_chat_id", "must be an integer")
		}
	}
	if len(ev.Attributes) > 0 {
		in.Attributes = make(map[string]string, len(ev.Attributes))
		for k, v := range ev.Attributes {
			var s string
			if err := json.Unmarshal(v, &s); err != nil || string(v) == "null" {
				return in, fieldErr("attributes."+k, "must be a string (send numbers as \"42\")")
			}
			in.Attributes[k] = s
		}
	}
	return in, nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "map", "struct":
		return "an object"
	case "slice":
		return "an array"
	default:
		return "a " + goKind
	}
}

// eventResultJSON is what happened to one event of the batch, in order.
type eventResultJSON struct {
	Index  int    `json:"index"`
	ID     string `json:"id"`
	Status string `json:"status"` // created, duplicate or rejected
	Error  string `json:"error,omitempty"`
}

type eventsResponse struct {
	Accepted   int               `json:"accepted"`
	Duplicates int               `json:"duplicates"`
	Rejected   int               `json:"rejected"`
	Results    []eventResultJSON `json:"results"`
}

// postEvents stores a batch of touchpoint events. Events are idempotent by
// id: a repeated event is reported as a duplicate and changes nothing. A bad
// event is rejected with its reason without rejecting the others: the
// answer is 200 with a result per event, or 400 (same body) when every
// event was rejected. A body over 5 MiB or over 1,000 events is 413.
func (s *Server) postEvents(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Events == nil {
		s.fail(w, r, fmt.Errorf("%w: events are not enabled on this server", flows.ErrUnavailable))
		return
	}
	var body struct {
		Events []json.RawMessage `json:"events"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxEventsBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(&body)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf(
			"body larger than %d bytes (5 MiB): send at most %d events per request", maxEventsBodyBytes, MaxEventBatch))
		return
	case errors.Is(err, io.EOF):
		s.fail(w, r, fmt.Errorf(`%w: empty body, expected {"events":[…]}`, flows.ErrInvalid))
		return
	case err != nil:
		s.fail(w, r, fmt.Errorf("%w: malformed body: %s", flows.ErrInvalid, strings.TrimPrefix(err.Error(), "json: ")))
		return
	case dec.More():
		s.fail(w, r, fmt.Errorf("%w: body has data after the JSON object", flows.ErrInvalid))
		return
	case len(body.Events) == 0:
		s.fail(w, r, fmt.Errorf(`%w: events is required: {"events":[{"id":…,"customer_ref":…,"touchpoint":…,"occurred_at":…}]}`, flows.ErrInvalid))
		return
	case len(body.Events) > MaxEventBatch:
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf(
			"batch of %d events is over the limit of %d per request: split it", len(body.Events), MaxEventBatch))
		return
	}

	now := time.Now()
	var validator EventValidator
	resp := eventsResponse{Results: make([]eventResultJSON, len(body.Events))}
	var (
		valid []flows.Event
		index []int // valid[k] is body.Events[index[k]]
	)
	for i, raw := range body.Events {
		in, err := decodeEvent(raw)
		res := &resp.Results[i]
		res.Index, res.ID = i, strings.TrimSpace(in.ID)
		if err == nil {
			var e flows.Event
			if e, err = validator.Validate(in, now); err == nil {
				valid = append(valid, e)
				index = append(index, i)
				continue
			}
		}
		res.Status, res.Error = "rejected", err.Error()
	}
	if len(valid) > 0 {
		saved, err := s.cfg.Events.SaveEvents(r.Context(), valid)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for k, sr := range saved {
			res := &resp.Results[index[k]]
			switch {
			case sr.Err != nil:
				res.Status, res.Error = "rejected", sr.Err.Error()
			case sr.Created:
				res.Status = "created"
			default:
				res.Status = "duplicate"
			}
		}
	}
	for _, res := range resp.Results {
		switch res.Status {
		case "created":
			resp.Accepted++
		case "duplicate":
			resp.Duplicates++
		default:
			resp.Rejected++
		}
	}
	if resp.Rejected > 0 {
		// Counts only: the reasons quote customer data, and the caller has them.
		s.cfg.Logger.Info("events rejected", "rejected", resp.Rejected, "accepted", resp.Accepted,
			"duplicates", resp.Duplicates)
	}
	code := http.StatusOK
	if resp.Rejected == len(resp.Results) {
		code = http.StatusBadRequest
	}
	writeJSON(w, code, resp)
}
