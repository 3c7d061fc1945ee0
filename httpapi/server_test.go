package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/scheduler"
)

// requestFor turns a route pattern into a request line that reaches it:
// "POST /api/v1/waves/{id}/pause" → POST /api/v1/waves/w-1/pause.
func requestFor(pattern string) (method, path string) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = http.MethodGet, pattern+"no-such-route"
	}
	if strings.Contains(path, "/webhooks/") { // deliveries have numeric ids
		path = strings.ReplaceAll(path, "{id}", "1")
	}
	if strings.HasPrefix(path, "/api/v1/handoffs/") || strings.HasPrefix(path, "/api/v1/tokens/") {
		path = strings.ReplaceAll(path, "{id}", "1")
	}
	if strings.HasPrefix(path, "/api/v1/surveys/") {
		path = strings.ReplaceAll(path, "{id}", "post_purchase_nps")
	}
	path = strings.ReplaceAll(path, "{telegram_user_id}", "77")
	return method, strings.NewReplacer("{id}", "w-1", "{report}", "nps", "{$}", "").Replace(path)
}

func TestEveryAPIRouteNeedsTheToken(t *testing.T) {
	a := newFakeAPI(t) // no fake function is set: a handler that runs fails the test
	for _, rt := range (&Server{}).routes() {
		method, path := requestFor(rt.pattern)
		if !strings.HasPrefix(path, "/api/") || rt.pattern == "GET /api/v1/openapi.json" { // the document holds no data
			continue
		}
		for _, auth := range []string{"", "Bearer wrong", "Basic " + testToken, "Bearer", testToken, "Bearer " + testToken + "x"} {
			r := a.doWith(method, path, `{}`, auth)
			if r.code != http.StatusUnauthorized || r.errorText(t) != "missing or wrong bearer token" ||
				r.header.Get("WWW-Authenticate") != `Bearer realm="cxbot"` {
				t.Errorf("%s %s with Authorization %q = %d %s; want 401 asking for a bearer token", method, path, auth, r.code, r.body)
			}
		}
	}

	// Without a configured token the API refuses everything, even an empty token.
	off := newFakeAPI(t, func(c *Config) { c.Token = "" })
	for _, auth := range []string{"", "Bearer "} {
		r := off.doWith(http.MethodGet, "/api/v1/surveys", "", auth)
		if r.code != http.StatusUnauthorized || !strings.Contains(r.errorText(t), "the API is disabled: set CXBOT_API_TOKEN") {
			t.Errorf("API without a token, Authorization %q = %d %s", auth, r.code, r.body)
		}
	}
}

func TestUnknownRoutes(t *testing.T) {
	a := newFakeAPI(t)
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/api/v2/surveys"},
		{http.MethodGet, "/api/"},
		{http.MethodDelete, "/api/v1/waves/w-1/x"},
	} {
		r := a.do(tc.method, tc.path, "")
		if want := fmt.Sprintf("no API route %s %s", tc.method, tc.path); r.code != http.StatusNotFound || r.errorText(t) != want {
			t.Errorf("%s %s = %d %s; want 404 %q", tc.method, tc.path, r.code, r.body, want)
		}
	}
}

func TestHealth(t *testing.T) {
	a := newFakeAPI(t)
	r := a.doWith(http.MethodGet, "/healthz", "", "")
	if r.code != http.StatusOK || r.body != `{"checks":{},"status":"ok"}`+"\n" {
		t.Fatalf("healthz without checks = %d %s", r.code, r.body)
	}

	var deadline time.Duration
	a = newFakeAPI(t, func(c *Config) {
		c.Checks = []Check{
			{Name: "database", Probe: func(ctx context.Context) error {
				d, ok := ctx.Deadline()
				if !ok {
					return errors.New("no deadline")
				}
				deadline = time.Until(d)
				return nil
			}},
			{Name: "redis", Probe: func(context.Context) error { return errors.New("dial tcp 127.0.0.1:6379: connection refused") }},
		}
	})
	// Anonymous: which check fails, never why (no host, port or user).
	for _, auth := range []string{"", "Bearer wrong"} {
		r = a.doWith(http.MethodGet, "/healthz", "", auth)
		if r.code != http.StatusServiceUnavailable || r.body != `{"checks":{"database":"ok","redis":"failing"},"status":"degraded"}`+"\n" ||
			strings.Contains(r.body, "127.0.0.1") || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("anonymous healthz (Authorization %q) with redis down = %d %s", auth, r.code, r.body)
		}
	}
	// With the API token: the error itself.
	r = a.do(http.MethodGet, "/healthz", "")
	var got healthJSON
	r.json(t, &got)
	if r.code != http.StatusServiceUnavailable || got.Status != "degraded" || got.Checks["database"] != "ok" ||
		got.Checks["redis"] != "dial tcp 127.0.0.1:6379: connection refused" {
		t.Fatalf("healthz with the token, redis down = %d %s", r.code, r.body)
	}
	// Liveness ignores the dependencies.
	r = a.doWith(http.MethodGet, "/livez", "", "")
	if r.code != http.StatusOK || r.body != `{"status":"ok"}`+"\n" {
		t.Fatalf("livez with redis down = %d %s", r.code, r.body)
	}
	// A server without an API token never shows details, even to "Bearer ".
	off := newFakeAPI(t, func(c *Config) {
		c.Token = ""
		c.Checks = []Check{{Name: "redis", Probe: func(context.Context) error { return errors.New("dial tcp 10.0.0.1:6379") }}}
	})
	if r = off.doWith(http.MethodGet, "/healthz", "", "Bearer "); r.code != http.StatusServiceUnavailable || strings.Contains(r.body, "10.0.0.1") {
		t.Fatalf("healthz without a configured token = %d %s", r.code, r.body)
	}
	if deadline <= 0 || deadline > 2*time.Second {
		t.Fatalf("probe deadline in %v; want the 2 s bound", deadline)
	}
}

func TestHandleMountsBesideTheAPI(t *testing.T) {
	s := New(Config{Token: testToken})
	s.Handle("POST /webhooks/telegram", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusAccepted, map[string]bool{"ok": true})
	}))
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhooks/telegram", strings.NewReader("{}")))
	if rec.Code != http.StatusAccepted || rec.Body.String() != `{"ok":true}`+"\n" {
		t.Fatalf("mounted webhook = %d %s", rec.Code, rec.Body)
	}
}

// TestErrorVocabulary maps each kind of error a dependency returns to its
// status code. Messages of 4xx answers reach the client; 5xx ones are
// logged and hidden.
func TestErrorVocabulary(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		code       int
		msg        string
		retryAfter string
	}{
		{"invalid", fmt.Errorf("%w: wave id %q has spaces", flows.ErrInvalid, "a b"), http.StatusBadRequest, `wave id "a b" has spaces`, ""},
		{"not found", fmt.Errorf("%w: wave %q", flows.ErrNotFound, "w-1"), http.StatusNotFound, `wave "w-1" not found`, ""},
		{"conflict", fmt.Errorf("%w: wave w-1 exists", flows.ErrConflict), http.StatusConflict, "wave w-1 exists", ""},
		{"unavailable", fmt.Errorf("load wave: %w: database is down", flows.ErrUnavailable), http.StatusServiceUnavailable, "load wave: database is down", ""},
		{"rate limited", fmt.Errorf("send: %w", &bot.RateLimitedError{RetryAfter: 1200 * time.Millisecond}), http.StatusTooManyRequests,
			"send: rate limited by the platform: retry after 1.2s", "2"},
		{"rate limited now", &bot.RateLimitedError{}, http.StatusTooManyRequests, "rate limited by the platform: retry after 0s", "1"},
		{"anything else", errors.New("pq: password authentication failed for user cxbot"), http.StatusInternalServerError, "internal error", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newFakeAPI(t)
			a.waves.GetFn = func(context.Context, string) (scheduler.WaveStatus, error) { return scheduler.WaveStatus{}, tc.err }
			r := a.do(http.MethodGet, "/api/v1/waves/w-1", "")
			if r.code != tc.code || r.errorText(t) != tc.msg || r.header.Get("Retry-After") != tc.retryAfter {
				t.Fatalf("= %d %s (Retry-After %q); want %d %q (Retry-After %q)",
					r.code, r.body, r.header.Get("Retry-After"), tc.code, tc.msg, tc.retryAfter)
			}
			logged := strings.Contains(a.logs.String(), "api request failed")
			if logged != (tc.code == http.StatusInternalServerError) {
				t.Fatalf("logged = %v for %d:\n%s", logged, tc.code, a.logs.String())
			}
			if logged && (!strings.Contains(a.logs.String(), "path=/api/v1/waves/w-1") || !strings.Contains(a.logs.String(), "password authentication failed")) {
				t.Fatalf("the log does not say what failed:\n%s", a.logs.String())
			}
		})
	}
}

// TestDecodeBody drives the bounded, strict JSON reading every JSON
// request goes through, here with POST /api/v1/links.
func TestDecodeBody(t *testing.T) {
	t.Parallel() // an oversized body costs net/http's 500 ms close delay: overlap it
	a := newFakeAPI(t)
	for _, tc := range []struct{ name, body, want string }{
		{"empty", "", "empty body, expected a JSON object"},
		{"syntax", `{"customer_ref" "C-1"}`, "malformed JSON at byte 17"},
		{"cut short", `{"customer_ref":`, "malformed JSON: the body ends too early"},
		{"wrong type", `{"customer_ref":7}`, `field "customer_ref" must be a string, not a number`},
		{"unknown field", `{"customer":"C-1"}`, `unknown field "customer"`},
		{"trailing data", `{"customer_ref":"C-1"} {}`, "body has data after the JSON object"},
		{"too big", `{"customer_ref":"` + strings.Repeat("x", maxBodyBytes) + `"}`, "body larger than 1 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.do(http.MethodPost, "/api/v1/links", tc.body)
			want := http.StatusBadRequest
			if tc.name == "too big" {
				want = http.StatusRequestEntityTooLarge
			}
			if r.code != want || r.errorText(t) != tc.want {
				t.Fatalf("= %d %s; want %d %q", r.code, r.body, want, tc.want)
			}
		})
	}
}
