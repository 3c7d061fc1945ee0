package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/cxbot/cxbot/bot/telegram/telegramtest"
)

const (
	testBotToken = "123456:TEST-token"
	testAPIToken = "test-api-token"
	testSecret   = "test-webhook-secret"
	agentChat    = -1001
)

// stack is where cxbot keeps its data in a test: the embedded defaults, or
// the real PostgreSQL and Redis of the machine.
type stack struct {
	name        string
	databaseURL func(t testing.TB) string
	redisURL    string
}

// stacks lists the stacks a test runs on. The real services come from
// CXBOT_TEST_POSTGRES_URL and CXBOT_TEST_REDIS_URL; in CI they must be set.
func stacks(t testing.TB) []stack {
	out := []stack{{name: "embedded", databaseURL: func(t testing.TB) string { return filepath.Join(t.TempDir(), "cxbot.db") }}}
	pg, rd := os.Getenv("CXBOT_TEST_POSTGRES_URL"), os.Getenv("CXBOT_TEST_REDIS_URL")
	switch {
	case pg != "" && rd != "":
		out = append(out, stack{name: "postgres+redis", databaseURL: func(t testing.TB) string { return freshSchema(t, pg) }, redisURL: rd})
	case os.Getenv("CI") != "":
		t.Fatal("CI: set CXBOT_TEST_POSTGRES_URL and CXBOT_TEST_REDIS_URL; end-to-end tests must run on real PostgreSQL and Redis")
	}
	return out
}

// freshSchema creates a PostgreSQL schema for one test and returns a URL
// whose search_path points at it.
func freshSchema(t testing.TB, base string) string {
	t.Helper()
	schema := "cx_e2e_" + strings.ToLower(rand.Text()[:12])
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema on %s: %v", base, err)
	}
	t.Cleanup(func() {
		db.Exec("DROP SCHEMA " + schema + " CASCADE")
		db.Close()
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// harness is one running cxbot wired to a fake Telegram Bot API over HTTP.
type harness struct {
	t       testing.TB
	tg      *telegramtest.Server
	app     *app
	base    string
	webhook bool
	logs    *syncBuffer
	stop    func() // stops this cxbot (a replica going away); safe to call twice
}

type options struct {
	webhook bool
	env     map[string]string
	tg      *telegramtest.Server // a fake shared by replicas; nil = a new one
	dbURL   string               // a database shared by replicas; "" = a new one
}

func start(t testing.TB, st stack, opt options) *harness {
	t.Helper()
	tg := opt.tg
	if tg == nil {
		tg = telegramtest.New(testBotToken, telegramtest.WithMaxPollWait(200*time.Millisecond))
		t.Cleanup(tg.Close)
	}
	dbURL := opt.dbURL
	if dbURL == "" {
		dbURL = st.databaseURL(t)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	env := map[string]string{
		"CXBOT_DATABASE_URL":          dbURL,
		"CXBOT_REDIS_URL":             st.redisURL,
		"CXBOT_REDIS_PREFIX":          "cx-e2e-" + rand.Text()[:10] + ":",
		"CXBOT_CONFIG_DIR":            "../../configs",
		"CXBOT_API_TOKEN":             testAPIToken,
		"CXBOT_TELEGRAM_TOKEN":        testBotToken,
		"CXBOT_TELEGRAM_API_URL":      tg.URL(),
		"CXBOT_TELEGRAM_AGENT_CHAT":   fmt.Sprint(agentChat),
		"CXBOT_AGENT_LANGUAGE":        "en",
		"CXBOT_TELEGRAM_POLL_TIMEOUT": "1s",
		"CXBOT_LOG_LEVEL":             "debug",
		"CXBOT_API_QUIET_HOURS":       "off", // tests run at any hour; TestDirectInvitationQuietHours sets it
		"CXBOT_DEFAULT_QUIET_HOURS":   "off", // the same for waves naming none
	}
	if opt.webhook {
		env["CXBOT_PUBLIC_URL"] = base
		env["CXBOT_TELEGRAM_WEBHOOK_SECRET"] = testSecret
	}
	for k, v := range opt.env {
		env[k] = v
	}
	cfg, err := loadConfig(envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfg, log, true)
	if err != nil {
		cancel()
		t.Fatalf("newApp: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.run(ctx, ln) }()
	h := &harness{t: t, tg: tg, app: a, base: base, webhook: opt.webhook, logs: logs}
	h.stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("app.run: %v", err)
		}
		a.close()
	})
	t.Cleanup(func() {
		h.stop()
		if t.Failed() {
			t.Logf("cxbot log:\n%s", logs.String())
		}
	})
	if opt.webhook {
		h.waitFor("webhook registration", func() bool { url, _ := tg.Webhook(); return url != "" })
	}
	return h
}

// send delivers an update the way Telegram would in the harness's mode and
// returns once cxbot has acknowledged it: a 2xx webhook answer, or the
// poller's offset moving past it.
func (h *harness) send(u telegramtest.Update) {
	h.t.Helper()
	if h.webhook {
		if code := h.deliver(u); code != http.StatusOK {
			h.t.Fatalf("webhook answered %d for update %d", code, u.UpdateID)
		}
		return
	}
	h.tg.Enqueue(u)
	h.waitFor(fmt.Sprintf("update %d confirmed", u.UpdateID), func() bool { return h.tg.Offset() > u.UpdateID })
}

func (h *harness) deliver(u telegramtest.Update) int {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, err := h.tg.DeliverWebhook(ctx, u)
	if err != nil {
		h.t.Fatalf("deliver update %d: %v", u.UpdateID, err)
	}
	return code
}

func (h *harness) tap(chat int64, label string) telegramtest.Update {
	h.t.Helper()
	u, err := h.tg.TapButton(chat, label)
	if err != nil {
		h.t.Fatal(err)
	}
	h.send(u)
	return u
}

func (h *harness) say(chat int64, text, lang string) telegramtest.Update {
	h.t.Helper()
	u := h.tg.TextUpdate(chat, text, lang)
	h.send(u)
	return u
}

// waitSent waits until the chat has received n messages.
func (h *harness) waitSent(chat int64, n int) []telegramtest.SentMessage {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sent, err := h.tg.WaitSent(ctx, chat, n)
	if err != nil {
		h.t.Fatalf("chat %d: waiting for %d messages, have %d: %v", chat, n, len(h.tg.Sent(chat)), err)
	}
	return sent
}

func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.tg.WaitFor(ctx, cond); err != nil {
		h.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// api calls cxbot's HTTP API with the test token and decodes the JSON answer.
func (h *harness) api(method, path string, body any, out any) int {
	h.t.Helper()
	return h.apiWithToken(testAPIToken, method, path, body, out)
}

func (h *harness) apiWithToken(token, method, path string, body any, out any) int {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, h.base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			h.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

type invitationResult struct {
	ID     int64  `json:"id"`
	Status string `json:"status"`
	Error  string `json:"error"`
}

func (h *harness) invite(survey, ref string, chat int64, lang string) invitationResult {
	h.t.Helper()
	var inv invitationResult
	code := h.api("POST", "/api/v1/invitations", map[string]any{
		"survey": survey, "customer_ref": ref, "telegram_chat_id": chat, "language": lang,
		"context": map[string]string{"order_id": "ord-" + ref, "store": "SH-01"},
	}, &inv)
	if code != http.StatusCreated {
		h.t.Fatalf("invite %s: status %d %+v", ref, code, inv)
	}
	return inv
}

type npsReport struct {
	Responses, Promoters, Passives, Detractors int
	NPS                                        float64
}

func (h *harness) nps(survey string) npsReport {
	h.t.Helper()
	var r npsReport
	if code := h.api("GET", "/api/v1/reports/nps?survey="+survey, nil, &r); code != http.StatusOK {
		h.t.Fatalf("report: %d", code)
	}
	return r
}

// syncBuffer collects logs written from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
