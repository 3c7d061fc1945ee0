package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cxbot/cxbot/flows"
)

// The tests of POST /api/v1/events over a fake store; events_test.go runs
// the same route over a real SQLite store.

// recordingEvents answers SaveEvents as a store would: created for an id it
// has not seen, duplicate otherwise, and refused for the ids in reject.
func recordingEvents(reject map[string]error) (save func(context.Context, []flows.Event) ([]flows.EventResult, error), batches *[][]flows.Event) {
	seen := map[string]bool{}
	batches = &[][]flows.Event{}
	save = func(_ context.Context, events []flows.Event) ([]flows.EventResult, error) {
		*batches = append(*batches, events)
		out := make([]flows.EventResult, len(events))
		for i, e := range events {
			out[i] = flows.EventResult{ID: e.ID, Err: reject[e.ID], Created: reject[e.ID] == nil && !seen[e.ID]}
			seen[e.ID] = true
		}
		return out, nil
	}
	return save, batches
}

func eventsBody(t *testing.T, events ...any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"events": events})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPostEventsResults(t *testing.T) {
	a := newFakeAPI(t)
	refused := fmt.Errorf("%w: customer C-9 is linked to chat 7", flows.ErrInvalid)
	save, batches := recordingEvents(map[string]error{"e-refused": refused})
	a.events.SaveEventsFn = save

	body := eventsBody(t,
		with(goodEvent("e-1"), "telegram_chat_id", 42, "attributes", map[string]any{"store": " SH-01 "}),
		with(goodEvent("e-bad"), "occurred_at", "yesterday"),
		with(goodEvent("e-refused"), "customer_ref", "C-9"),
		goodEvent("e-1"),
		with(goodEvent(" e-spaced "), "touchpoint", "a purchase"),
	)
	r := a.do(http.MethodPost, "/api/v1/events", body)
	want := `{"accepted":1,"duplicates":1,"rejected":3,"results":[` +
		`{"index":0,"id":"e-1","status":"created"},` +
		`{"index":1,"id":"e-bad","status":"rejected","error":"occurred_at \"yesterday\" is not RFC 3339 (like 2026-11-20T09:30:00+08:00)"},` +
		`{"index":2,"id":"e-refused","status":"rejected","error":"customer C-9 is linked to chat 7"},` +
		`{"index":3,"id":"e-1","status":"duplicate"},` +
		`{"index":4,"id":"e-spaced","status":"rejected","error":"touchpoint \"a purchase\" must not contain spaces"}]}` + "\n"
	if r.code != http.StatusOK || r.body != want {
		t.Fatalf("POST = %d %s\nwant %s", r.code, r.body, want)
	}
	// Only valid events reach the store, in one batch, in order, as validated.
	if len(*batches) != 1 || len((*batches)[0]) != 3 {
		t.Fatalf("store got %d batches: %+v", len(*batches), *batches)
	}
	if e := (*batches)[0][0]; e.ID != "e-1" || e.TelegramChatID != "42" || e.Attributes["store"] != "SH-01" || e.OccurredAt.IsZero() {
		t.Fatalf("stored event = %+v", e)
	}
	// The log counts; it does not quote customer data.
	logs := a.logs.String()
	if !strings.Contains(logs, "events rejected") || !strings.Contains(logs, "rejected=3") || strings.Contains(logs, "yesterday") {
		t.Fatalf("log:\n%s", logs)
	}
}

func TestPostEventsAllRejectedWithoutStore(t *testing.T) {
	a := newFakeAPI(t) // SaveEventsFn unset: the store must not be called
	r := a.do(http.MethodPost, "/api/v1/events", eventsBody(t, with(goodEvent("a"), "customer_ref", nil), "not an event"))
	var resp eventsResponse
	r.json(t, &resp)
	if r.code != http.StatusBadRequest || resp.Rejected != 2 || resp.Results[0].Error != "customer_ref is required" ||
		resp.Results[1].Error != "event must be a JSON object" {
		t.Fatalf("POST = %d %s; want 400 with a result per event", r.code, r.body)
	}
}

func TestPostEventsStoreFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code int
		msg  string
	}{
		{"unavailable", fmt.Errorf("save events: %w: database is down", flows.ErrUnavailable), http.StatusServiceUnavailable, "save events: database is down"},
		{"conflict", fmt.Errorf("%w: serialization failure", flows.ErrConflict), http.StatusConflict, "serialization failure"},
		{"broken", errors.New("disk I/O error"), http.StatusInternalServerError, "internal error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newFakeAPI(t)
			a.events.SaveEventsFn = func(context.Context, []flows.Event) ([]flows.EventResult, error) { return nil, tc.err }
			r := a.do(http.MethodPost, "/api/v1/events", eventsBody(t, goodEvent("e-1")))
			if r.code != tc.code || r.errorText(t) != tc.msg {
				t.Fatalf("= %d %s; want %d %q", r.code, r.body, tc.code, tc.msg)
			}
		})
	}

	off := newFakeAPI(t, func(c *Config) { c.Events = nil })
	if r := off.do(http.MethodPost, "/api/v1/events", eventsBody(t, goodEvent("e-1"))); r.code != http.StatusServiceUnavailable ||
		r.errorText(t) != "events are not enabled on this server" {
		t.Fatalf("POST without an event store = %d %s", r.code, r.body)
	}
}

func TestPostEventsLimits(t *testing.T) {
	// An oversized body costs net/http's 500 ms close delay: overlap it.
	t.Parallel()
	a := newFakeAPI(t) // the store must not be called for any of these
	tooMany := make([]any, flows.MaxEventBatch+1)
	for i := range tooMany {
		tooMany[i] = json.RawMessage(`{}`)
	}
	r := a.do(http.MethodPost, "/api/v1/events", eventsBody(t, tooMany...))
	if r.code != http.StatusRequestEntityTooLarge || r.errorText(t) != "batch of 1001 events is over the limit of 1000 per request: split it" {
		t.Fatalf("1,001 events = %d %s", r.code, r.body)
	}
	huge := `{"events":[{"id":"x","attributes":{"a":"` + strings.Repeat("z", maxEventsBodyBytes) + `"}}]}`
	r = a.do(http.MethodPost, "/api/v1/events", huge)
	if r.code != http.StatusRequestEntityTooLarge || r.errorText(t) != "body larger than 5 MiB: send at most 1000 events per request" {
		t.Fatalf("6 MiB body = %d %s", r.code, r.body)
	}
	for _, tc := range []struct{ body, want string }{
		{``, `empty body, expected {"events":[…]}`},
		{`{"events":[`, "malformed JSON: the body ends too early"},
		{`{"events":"all"}`, `field "events" must be an array, not a string`},
		{`{"evnts":[]}`, `unknown field "evnts"`},
		{`[]`, "the body must be a JSON object, not an array"},
		{`{"events":[]} []`, "body has data after the JSON object"},
		{`{"events":null}`, "events is required"},
	} {
		r := a.do(http.MethodPost, "/api/v1/events", tc.body)
		if r.code != http.StatusBadRequest || !strings.HasPrefix(r.errorText(t), tc.want) {
			t.Errorf("body %q = %d %s; want 400 %q", tc.body, r.code, r.body, tc.want)
		}
	}
}

// TestDecodeEvent reads the JSON forms of one event that the validator in
// flows never sees: types, unknown fields, a chat id as number or text.
func TestDecodeEvent(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		chatID    string // TelegramChatID of the input when accepted
		want      string // the error; "" = accepted
	}{
		{"chat id number", `{"id":"e","telegram_chat_id":-100123}`, "-100123", ""},
		{"chat id text", `{"id":"e","telegram_chat_id":" 42 "}`, " 42 ", ""},
		{"chat id null", `{"id":"e","telegram_chat_id":null}`, "", ""},
		{"chat id empty", `{"id":"e","telegram_chat_id":"  "}`, "", "telegram_chat_id must be an integer"},
		{"chat id object", `{"id":"e","telegram_chat_id":{}}`, "", "telegram_chat_id must be an integer"},
		{"attribute null", `{"id":"e","attributes":{"n":null}}`, "", `attributes.n must be a string (send numbers as "42")`},
		{"attributes array", `{"id":"e","attributes":["a"]}`, "", "attributes must be an object"},
		{"id number", `{"id":7}`, "", "id must be a string"},
		{"not an object", `[1]`, "", "event must be a JSON object"},
		{"unknown field", `{"id":"e","sku":"A7"}`, "", "sku is not an event field (id, customer_ref, touchpoint, occurred_at, " +
			"telegram_chat_id, wechat_openid, language, timezone, attributes)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := decodeEvent(json.RawMessage(tc.raw))
			if tc.want == "" {
				if err != nil || in.TelegramChatID != tc.chatID || in.ID != "e" {
					t.Fatalf("decodeEvent = %+v, %v", in, err)
				}
				return
			}
			var fe *flows.FieldError
			if !errors.As(err, &fe) || err.Error() != tc.want {
				t.Fatalf("err = %v, want the field error %q", err, tc.want)
			}
		})
	}
}

func TestJSONKind(t *testing.T) {
	for kind, want := range map[string]string{"string": "a string", "map": "an object", "struct": "an object", "slice": "an array", "bool": "a bool"} {
		if got := jsonKind(kind); got != want {
			t.Errorf("jsonKind(%q) = %q, want %q", kind, got, want)
		}
	}
}
