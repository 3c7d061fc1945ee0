package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/store/sqlstore"
)

const testToken = "s3cret"

// newEventsAPI serves the API over a fresh, migrated SQLite store.
func newEventsAPI(t *testing.T) (*httptest.Server, *sqlstore.DB) {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "cxbot.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(Config{Token: testToken, Events: db, Logger: log}))
	t.Cleanup(srv.Close)
	return srv, db
}

// postEvents posts body (a string, or a value to encode) and decodes the answer.
func postEventsTo(t *testing.T, srv *httptest.Server, body any) (int, eventsResponse, string) {
	t.Helper()
	var raw string
	switch b := body.(type) {
	case string:
		raw = b
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		raw = string(enc)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/events", strings.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	var out eventsResponse
	_ = json.Unmarshal(text, &out)
	return resp.StatusCode, out, string(text)
}

type ev map[string]any

func batch(events ...ev) map[string]any { return map[string]any{"events": events} }

func goodEvent(id string) ev {
	return ev{"id": id, "customer_ref": "C-1", "touchpoint": "purchase", "occurred_at": "2026-01-20T09:30:00+08:00"}
}

func with(e ev, kv ...any) ev {
	out := ev{}
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func TestPostEvents(t *testing.T) {
	srv, db := newEventsAPI(t)
	ctx := context.Background()
	first := with(goodEvent("ord-1001-delivered"),
		"telegram_chat_id", 42, "wechat_openid", "oAbC-123", "language", "zh-CN", "timezone", "Asia/Shanghai",
		"attributes", map[string]any{"order_id": "1001", "store": "SH-01", "sku": "A7"})
	body := batch(
		first,
		with(goodEvent("ord-1002-delivered"), "customer_ref", "C-2", "telegram_chat_id", "43"),
		with(goodEvent("bad-time"), "occurred_at", "yesterday"),
		first, // repeated in the batch
	)
	code, resp, text := postEventsTo(t, srv, body)
	if code != http.StatusOK || resp.Accepted != 2 || resp.Duplicates != 1 || resp.Rejected != 1 || len(resp.Results) != 4 {
		t.Fatalf("POST = %d %s", code, text)
	}
	want := []eventResultJSON{
		{0, "ord-1001-delivered", "created", ""},
		{1, "ord-1002-delivered", "created", ""},
		{2, "bad-time", "rejected", `occurred_at "yesterday" is not RFC 3339 (like 2026-11-20T09:30:00+08:00)`},
		{3, "ord-1001-delivered", "duplicate", ""},
	}
	for i, w := range want {
		if resp.Results[i] != w {
			t.Errorf("result %d = %+v, want %+v", i, resp.Results[i], w)
		}
	}

	got, err := db.Event(ctx, "ord-1001-delivered")
	if err != nil {
		t.Fatal(err)
	}
	if got.CustomerRef != "C-1" || got.TelegramChatID != "42" || got.WeChatOpenID != "oAbC-123" || got.TimeZone != "Asia/Shanghai" ||
		got.Attributes["store"] != "SH-01" || !got.OccurredAt.Equal(time.Date(2026, 1, 20, 1, 30, 0, 0, time.UTC)) {
		t.Fatalf("stored event = %+v", got)
	}
	c, err := db.CustomerByRef(ctx, "C-1")
	if err != nil || c.Language != "zh-CN" || c.TimeZone != "Asia/Shanghai" {
		t.Fatalf("customer C-1 = %+v, %v", c, err)
	}
	if _, c2, err := db.IdentityByExternal(ctx, flows.ChannelTelegram, "43"); err != nil || c2.Ref != "C-2" {
		t.Fatalf("chat 43 = %+v, %v", c2, err)
	}

	// The same batch again adds nothing.
	code, resp, text = postEventsTo(t, srv, body)
	if code != http.StatusOK || resp.Accepted != 0 || resp.Duplicates != 3 || resp.Rejected != 1 {
		t.Fatalf("repeated POST = %d %s", code, text)
	}
}

func TestPostEventsRejections(t *testing.T) {
	srv, _ := newEventsAPI(t)
	future := time.Now().Add(25 * time.Hour).Format(time.RFC3339)
	soon := time.Now().Add(23 * time.Hour).Format(time.RFC3339)
	long := strings.Repeat("x", 201)
	for _, tc := range []struct {
		name  string
		event any
		want  string // in the error; "" = accepted
	}{
		{"no id", with(goodEvent(""), "id", nil), "id is required"},
		{"long id", goodEvent(long), "id is longer than 200 characters"},
		{"no customer", with(goodEvent("e"), "customer_ref", ""), "customer_ref is required"},
		{"no touchpoint", with(goodEvent("e"), "touchpoint", nil), "touchpoint is required"},
		{"spaced touchpoint", with(goodEvent("e"), "touchpoint", "a purchase"), "touchpoint \"a purchase\" must not contain spaces"},
		{"no time", with(goodEvent("e"), "occurred_at", nil), "occurred_at is required"},
		{"bad time", with(goodEvent("e"), "occurred_at", "2026-01-20 09:30"), `occurred_at "2026-01-20 09:30" is not RFC 3339`},
		{"future", with(goodEvent("e"), "occurred_at", future), "is more than a day in the future"},
		{"soon", with(goodEvent("e-soon"), "occurred_at", soon), ""},
		{"chat id string", with(goodEvent("e-chat-str"), "telegram_chat_id", "100123"), ""},
		{"group chat id", with(goodEvent("e"), "telegram_chat_id", -5), "telegram_chat_id -5 is a group or channel"},
		{"chat id text", with(goodEvent("e"), "telegram_chat_id", "abc"), `telegram_chat_id "abc" is not a Telegram chat id`},
		{"chat id float", with(goodEvent("e"), "telegram_chat_id", 4.5), `telegram_chat_id "4.5" is not a Telegram chat id`},
		{"chat id bool", with(goodEvent("e"), "telegram_chat_id", true), "telegram_chat_id must be an integer"},
		{"time zone", with(goodEvent("e"), "timezone", "Mars/Olympus"), `timezone "Mars/Olympus" is not an IANA time zone`},
		{"local zone", with(goodEvent("e"), "timezone", "Local"), `timezone "Local" is not an IANA time zone`},
		{"language", with(goodEvent("e"), "language", "Chinese please"), `language "Chinese please" is not a language tag`},
		{"language tag", with(goodEvent("e-lang"), "language", "zh-Hant-TW"), ""},
		{"attribute number", with(goodEvent("e"), "attributes", map[string]any{"n": 5}), "attributes.n must be a string"},
		{"attribute object", with(goodEvent("e"), "attributes", map[string]any{"n": map[string]any{}}), "attributes.n must be a string"},
		{"attributes array", with(goodEvent("e"), "attributes", []string{"a"}), "attributes must be an object"},
		{"long attribute", with(goodEvent("e"), "attributes", map[string]any{"n": strings.Repeat("y", 1001)}), "attributes.n is longer than 1000 characters"},
		{"id number", with(goodEvent("e"), "id", 7), "id must be a string"},
		{"unknown field", with(goodEvent("e"), "customer", "C-1"), `customer is not an event field`},
		{"not an object", "just text", "event must be a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Each bad event travels with a good one: the good one is stored anyway.
			companion := goodEvent(fmt.Sprint("companion-", tc.name))
			code, resp, text := postEventsTo(t, srv, map[string]any{"events": []any{companion, tc.event}})
			if code != http.StatusOK || resp.Results[0].Status != "created" {
				t.Fatalf("POST = %d %s; the good event must be stored", code, text)
			}
			r := resp.Results[1]
			if tc.want == "" {
				if r.Status != "created" {
					t.Fatalf("result = %+v, want created", r)
				}
				return
			}
			if r.Status != "rejected" || !strings.Contains(r.Error, tc.want) || resp.Rejected != 1 || resp.Accepted != 1 {
				t.Fatalf("result = %+v (%s), want rejected with %q", r, text, tc.want)
			}
		})
	}
}

func TestPostEventsAllRejected(t *testing.T) {
	srv, _ := newEventsAPI(t)
	code, resp, text := postEventsTo(t, srv, batch(with(goodEvent("a"), "customer_ref", nil), with(goodEvent("b"), "occurred_at", "soon")))
	if code != http.StatusBadRequest || resp.Rejected != 2 || resp.Accepted != 0 || len(resp.Results) != 2 ||
		!strings.Contains(resp.Results[0].Error, "customer_ref is required") || resp.Results[1].ID != "b" {
		t.Fatalf("POST = %d %s; want 400 with the per-event results", code, text)
	}
}

func TestPostEventsBounds(t *testing.T) {
	t.Parallel() // store-backed (and a browser): the slow ones overlap
	srv, db := newEventsAPI(t)
	tooMany := make([]ev, flows.MaxEventBatch+1)
	for i := range tooMany {
		tooMany[i] = goodEvent(fmt.Sprint("e-", i))
	}
	code, _, text := postEventsTo(t, srv, batch(tooMany...))
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(text, "limit of 1000") {
		t.Fatalf("1,001 events = %d %s; want 413 naming the limit", code, text)
	}
	if _, err := db.Event(context.Background(), "e-0"); !errors.Is(err, flows.ErrNotFound) {
		t.Fatalf("a refused batch stored events: %v", err)
	}

	// A full batch with generous attributes is accepted (bigger than 1 MiB).
	full := make([]ev, flows.MaxEventBatch)
	attrs := map[string]any{}
	for i := range 10 {
		attrs[fmt.Sprint("attr_", i)] = strings.Repeat("v", 100)
	}
	for i := range full {
		full[i] = with(goodEvent(fmt.Sprint("full-", i)), "attributes", attrs)
	}
	code, resp, text := postEventsTo(t, srv, batch(full...))
	if code != http.StatusOK || resp.Accepted != flows.MaxEventBatch {
		t.Fatalf("full batch = %d %.300s", code, text)
	}

	huge := `{"events":[{"id":"x","customer_ref":"C","touchpoint":"t","occurred_at":"2026-01-01T00:00:00Z","attributes":{"a":"` +
		strings.Repeat("z", maxEventsBodyBytes) + `"}}]}`
	if code, _, text := postEventsTo(t, srv, huge); code != http.StatusRequestEntityTooLarge || !strings.Contains(text, "5 MiB") {
		t.Fatalf("6 MiB body = %d %s; want 413", code, text)
	}

	for _, tc := range []struct{ body, want string }{
		{``, "empty body"},
		{`{"events":[`, "malformed JSON"},
		{`{"events":[]}`, "events is required"},
		{`{}`, "events is required"},
		{`{"evnts":[]}`, `unknown field \"evnts\"`},
		{`{"events":{}}`, `field \"events\" must be an array, not an object`},
		{`{"events":[]} {}`, "data after the JSON object"},
	} {
		code, _, text := postEventsTo(t, srv, tc.body)
		if code != http.StatusBadRequest || !strings.Contains(text, tc.want) {
			t.Errorf("body %q = %d %s; want 400 with %q", tc.body, code, text, tc.want)
		}
	}
}

func TestPostEventsAuthAndStore(t *testing.T) {
	srv, db := newEventsAPI(t)
	resp, err := http.Post(srv.URL+"/api/v1/events", "application/json", strings.NewReader(`{"events":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token = %d, want 401", resp.StatusCode)
	}

	db.Close() // the database goes away: 503, so the sender retries
	code, _, text := postEventsTo(t, srv, batch(goodEvent("e-1")))
	if code != http.StatusServiceUnavailable {
		t.Fatalf("POST with the database down = %d %s; want 503", code, text)
	}

	off := httptest.NewServer(New(Config{Token: testToken}))
	defer off.Close()
	if code, _, text := postEventsTo(t, off, batch(goodEvent("e-1"))); code != http.StatusServiceUnavailable {
		t.Fatalf("POST without an event store = %d %s; want 503", code, text)
	}
}
