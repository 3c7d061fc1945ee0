package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/cxbot/cxbot/flows"
)

// cutProxy is a TCP proxy in front of Redis that the test can cut, to play
// "Redis is down" against a real server without stopping it for others.
type cutProxy struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	down     bool
	conns    []net.Conn
}

func newCutProxy(t *testing.T, upstream string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, upstream: upstream}
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	go p.serve()
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { io.Copy(up, c); up.Close() }()
		go func() { io.Copy(c, up); c.Close() }()
	}
}

// setDown cuts every open connection and refuses new ones, or lets them in.
func (p *cutProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// redisAddr is a Redis server this test may route through a proxy: the real
// one in CI, otherwise a miniredis of its own.
func redisAddr(t *testing.T) (addr, db string) {
	if url := os.Getenv("CXBOT_TEST_REDIS_URL"); url != "" {
		rest := strings.TrimPrefix(url, "redis://")
		host, dbPart, _ := strings.Cut(rest, "/")
		return host, dbPart
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI: CXBOT_TEST_REDIS_URL is required")
	}
	m := miniredis.RunT(t)
	return m.Addr(), ""
}

// With Redis down the webhook answers 5xx and changes nothing; Telegram's
// redelivery after Redis is back applies the update exactly once.
func TestRedisDownWebhookAnswers5xxThenRedeliveryApplies(t *testing.T) {
	addr, db := redisAddr(t)
	proxy := newCutProxy(t, addr)
	st := stacks(t)[0]
	st.redisURL = fmt.Sprintf("redis://%s/%s", proxy.ln.Addr(), db)
	h := start(t, st, options{webhook: true})
	const chat = 8001
	h.invite("post_purchase_nps", "C-8001", chat, "en")
	h.waitSent(chat, 1)
	tap, err := h.tg.TapButton(chat, "9")
	if err != nil {
		t.Fatal(err)
	}

	proxy.setDown(true)
	for range 2 {
		if code := h.deliver(tap); code < 500 {
			t.Fatalf("with Redis down the webhook answered %d, want 5xx", code)
		}
	}
	var health map[string]any
	if code := h.api("GET", "/healthz", nil, &health); code != http.StatusServiceUnavailable {
		t.Errorf("healthz with Redis down: %d %v", code, health)
	}
	if n := len(h.tg.Sent(chat)); n != 1 {
		t.Errorf("%d messages sent while Redis was down", n-1)
	}
	if answers := h.answersOf("C-8001"); len(answers) != 0 {
		t.Errorf("answer stored while Redis was down: %+v", answers)
	}

	proxy.setDown(false)
	if code := h.deliver(tap); code != http.StatusOK {
		t.Fatalf("redelivery after Redis came back: %d", code)
	}
	if code := h.deliver(tap); code != http.StatusOK {
		t.Fatalf("second redelivery: %d", code)
	}
	if answers := h.answersOf("C-8001"); len(answers) != 1 || *answers[0].Score != 9 {
		t.Errorf("answers after redelivery: %+v", answers)
	}
	if n := len(h.tg.Sent(chat)); n != 2 {
		t.Errorf("chat got %d messages, want question + thanks", n)
	}
}

// Different updates from one chat arriving at once are applied one at a
// time: of ten taps on the same question exactly one counts.
func TestOneChatsUpdatesAreAppliedInTurn(t *testing.T) {
	eachStack(t, func(t *testing.T, h *harness) {
		const chat = 8101
		h.invite("post_purchase_nps", "C-8101", chat, "en")
		h.waitSent(chat, 1)
		var wg sync.WaitGroup
		for score := range 10 {
			tap, err := h.tg.TapButton(chat, fmt.Sprint(score+1))
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if code := h.deliver(tap); code != http.StatusOK {
					t.Errorf("tap %d: %d", score+1, code)
				}
			}()
		}
		wg.Wait()
		if answers := h.answersOf("C-8101"); len(answers) != 1 {
			t.Errorf("%d answers stored, want 1", len(answers))
		}
		// One reply (thanks, or a follow-up question), never several.
		if n := len(h.tg.Sent(chat)); n != 2 {
			for _, m := range h.tg.Sent(chat) {
				t.Log(m.Text)
			}
			t.Errorf("chat got %d messages, want 2", n)
		}
	})
}

// A conversation idle past CXBOT_CONVERSATION_TTL ends politely when the
// customer writes later (the embedded Redis expires keys by wall clock).
func TestExpiredConversationEndsPolitely(t *testing.T) {
	h := start(t, stacks(t)[0], options{webhook: true, env: map[string]string{"CXBOT_CONVERSATION_TTL": "1s"}})
	const chat = 8201
	h.invite("post_purchase_nps", "C-8201", chat, "en")
	h.waitSent(chat, 1)
	time.Sleep(2 * time.Second)
	h.say(chat, "9", "en")
	if msg := h.waitSent(chat, 2)[1].Text; !strings.Contains(msg, "expired") {
		t.Errorf("reply after expiry: %q", msg)
	}
	customer, _ := h.app.db.CustomerByRef(context.Background(), "C-8201")
	responses, _ := h.app.db.CustomerResponses(context.Background(), customer.ID, 1)
	if len(responses) != 1 || responses[0].Status != flows.ResponseExpired {
		t.Errorf("response after expiry: %+v", responses)
	}
	h.say(chat, "hello?", "en") // no survey now: a friendly answer, not silence
	if msg := h.waitSent(chat, 3)[2].Text; !strings.Contains(msg, "no open survey") {
		t.Errorf("reply with no survey: %q", msg)
	}
}

// A detractor who never writes the follow-up comment is still handed off
// (customer message + agent notice) once the wait runs out.
func TestHandoffGoesOutWithoutComment(t *testing.T) {
	h := start(t, stacks(t)[0], options{webhook: true, env: map[string]string{
		"CXBOT_HANDOFF_COMMENT_WAIT": "1s", "CXBOT_HANDOFF_SWEEP": "@every 1s",
	}})
	const chat = 8301
	h.invite("post_purchase_nps", "C-8301", chat, "en")
	h.waitSent(chat, 1)
	h.tap(chat, "1")
	h.waitSent(chat, 2) // "what went wrong?"
	notice := h.waitSent(agentChat, 1)[0].PlainText()
	if !strings.Contains(notice, "C-8301") || !strings.Contains(notice, "NPS 1/10") || !strings.Contains(notice, "(no comment)") {
		t.Errorf("notice: %s", notice)
	}
	if msg := h.waitSent(chat, 3)[2].Text; !strings.Contains(msg, "contact you") {
		t.Errorf("customer's handoff message: %q", msg)
	}
	// A late comment reaches the agents as an addition, not a second handoff.
	h.say(chat, "Never mind, it arrived.", "en")
	added := h.waitSent(agentChat, 2)[1].PlainText()
	if !strings.Contains(added, "added a comment") || !strings.Contains(added, "Never mind") {
		t.Errorf("late comment notice: %s", added)
	}
}

func TestAPIErrorsNameTheProblem(t *testing.T) {
	h := start(t, stacks(t)[0], options{webhook: true})
	for _, tc := range []struct {
		name, token, method, path string
		body                      any
		code                      int
		want                      string
	}{
		{"no token", "", "GET", "/api/v1/surveys", nil, 401, "bearer token"},
		{"wrong token", "nope", "GET", "/api/v1/surveys", nil, 401, "bearer token"},
		{"malformed JSON", testAPIToken, "POST", "/api/v1/invitations", `{"survey":`, 400, "JSON"},
		{"unknown field", testAPIToken, "POST", "/api/v1/invitations", `{"survey":"post_purchase_nps","customer":"C-1","telegram_chat_id":1}`, 400, "customer"},
		{"chat id type", testAPIToken, "POST", "/api/v1/invitations", `{"survey":"post_purchase_nps","customer_ref":"C-1","telegram_chat_id":"abc"}`, 400, "chat id"},
		{"missing chat", testAPIToken, "POST", "/api/v1/invitations", `{"survey":"post_purchase_nps","customer_ref":"C-1"}`, 400, "telegram_chat_id"},
		{"missing ref", testAPIToken, "POST", "/api/v1/invitations", `{"survey":"post_purchase_nps","telegram_chat_id":1}`, 400, "customer_ref"},
		{"unknown survey", testAPIToken, "POST", "/api/v1/invitations", `{"survey":"nope","customer_ref":"C-1","telegram_chat_id":1}`, 404, "nope"},
		{"report over a backwards period", testAPIToken, "GET", "/api/v1/reports/nps?from=2026-02-01&to=2026-01-01", nil, 400, "before"},
		{"report unknown survey", testAPIToken, "GET", "/api/v1/reports/nps?survey=nope", nil, 404, "nope"},
		{"report bad date", testAPIToken, "GET", "/api/v1/reports/nps?survey=post_purchase_nps&from=yesterday", nil, 400, "from"},
		{"bad handoff status", testAPIToken, "GET", "/api/v1/handoffs?status=lost", nil, 400, "status"},
		{"unknown route", testAPIToken, "GET", "/api/v1/nothing", nil, 404, "/api/v1/nothing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body map[string]string
			code := h.apiWithToken(tc.token, tc.method, tc.path, tc.body, &body)
			if code != tc.code || !strings.Contains(body["error"], tc.want) {
				t.Errorf("got %d %q, want %d naming %q", code, body["error"], tc.code, tc.want)
			}
		})
	}
	var health map[string]any
	if code := h.api("GET", "/healthz", nil, &health); code != http.StatusOK {
		t.Errorf("healthz: %d %v", code, health)
	}
	// The same event twice is one invitation and one message.
	req := map[string]any{"survey": "post_service_csat", "customer_ref": "C-9", "telegram_chat_id": 9, "event_id": "ticket-77-closed"}
	var first, again invitationResult
	if code := h.api("POST", "/api/v1/invitations", req, &first); code != http.StatusCreated {
		t.Fatalf("first: %d", code)
	}
	if code := h.api("POST", "/api/v1/invitations", req, &again); code != http.StatusOK || again.ID != first.ID {
		t.Errorf("repeat: %d %+v, want 200 and invitation %d", code, again, first.ID)
	}
	if n := len(h.tg.Sent(9)); n != 1 {
		t.Errorf("repeat invitation sent %d messages", n)
	}
}

// serve refuses an outdated schema unless told to migrate; migrate and
// --help and version work as documented.
func TestCommands(t *testing.T) {
	dir := t.TempDir()
	env := envOf(map[string]string{
		"CXBOT_DATABASE_URL": dir + "/cx.db", "CXBOT_CONFIG_DIR": "../../configs", "CXBOT_HTTP_ADDR": "127.0.0.1:0",
	})
	var out, errOut strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if code := run(ctx, []string{"serve"}, env, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "cxbot migrate") {
		t.Fatalf("serve on a fresh database: exit %d, %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run(ctx, []string{"migrate"}, env, &out, &errOut); code != 0 || !strings.Contains(out.String(), "database schema at version") {
		t.Fatalf("migrate: exit %d, out %q err %q", code, out.String(), errOut.String())
	}
	errOut.Reset()
	if code := run(ctx, []string{"serve", "--help"}, env, &out, &errOut); code != 0 || !strings.Contains(errOut.String(), "CXBOT_TELEGRAM_WEBHOOK_SECRET") {
		t.Errorf("serve --help: exit %d, %q", code, errOut.String())
	}
	errOut.Reset()
	bad := envOf(map[string]string{"CXBOT_HTTP_ADDR": "nope", "CXBOT_CONVERSATION_TTL": "soon"})
	if code := run(ctx, []string{"serve"}, bad, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "CXBOT_HTTP_ADDR") || !strings.Contains(errOut.String(), "CXBOT_CONVERSATION_TTL") {
		t.Errorf("bad config: exit %d, %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run(ctx, []string{"frobnicate"}, env, &out, &errOut); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
	out.Reset()
	if code := run(ctx, []string{"version"}, env, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "cxbot ") {
		t.Errorf("version: %d %q", code, out.String())
	}

	// A broken survey file stops start-up naming the file.
	surveys := t.TempDir()
	os.MkdirAll(surveys+"/surveys", 0o755)
	os.WriteFile(surveys+"/surveys/broken.yaml", []byte("id: broken\ndefault_language: en\nquestions:\n  - id: q1\n    kind: stars\n"), 0o644)
	errOut.Reset()
	env = envOf(map[string]string{"CXBOT_DATABASE_URL": dir + "/cx.db", "CXBOT_CONFIG_DIR": surveys, "CXBOT_HTTP_ADDR": "127.0.0.1:0"})
	if code := run(ctx, []string{"serve"}, env, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "broken.yaml:5") {
		t.Errorf("broken survey: exit %d, %q", code, errOut.String())
	}
}

// The demo, README's first command, runs and checks its own report.
func TestDemo(t *testing.T) {
	t.Parallel() // slow and self-contained (own database, Redis prefix, fakes, ports): runs beside the other slow ones
	var out, errOut strings.Builder
	// Generous: under -race it runs beside the other slow tests.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	code := run(ctx, []string{"demo", "--customers", "6", "--config-dir", "../../configs", "--db", filepath.Join(t.TempDir(), "demo.db")}, envOf(nil), &out, &errOut)
	if code != 0 {
		t.Fatalf("demo exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"Case #", "Li Wei resolves the case", "NPS report", "matches what the customers answered", "409"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}

var _ = errors.New

// When the agents' chat refuses notices, the customer is told once, not at
// every sweep, and the agents get the notice once the chat works again.
func TestHandoffMessageIsNotRepeatedWhenAgentsChatFails(t *testing.T) {
	h := start(t, stacks(t)[0], options{webhook: true, env: map[string]string{
		"CXBOT_HANDOFF_COMMENT_WAIT": "1s", "CXBOT_HANDOFF_SWEEP": "@every 1s",
	}})
	const chat = 8401
	h.tg.Block(agentChat)
	h.invite("post_purchase_nps", "C-8401", chat, "en")
	h.waitSent(chat, 1)
	h.tap(chat, "0")
	h.waitSent(chat, 3) // follow-up, then the handoff message after the wait
	time.Sleep(3 * time.Second)
	if n := len(h.tg.Sent(chat)); n != 3 {
		t.Fatalf("customer got %d messages, want 3 (question, follow-up, one handoff message)", n)
	}
	h.tg.Unblock(agentChat)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // open handoffs are retried after the comment wait (1s here)
	defer cancel()
	if _, err := h.tg.WaitSent(ctx, agentChat, 1); err != nil {
		t.Fatalf("agents never got the notice: %v", err)
	}
	if n := len(h.tg.Sent(chat)); n != 3 {
		t.Errorf("customer got %d messages after the notice, want 3", n)
	}
}

// A 429 on an API invitation answers 429 with Retry-After, and the same
// event_id may be sent again (review finding).
func TestAPIInvitationRateLimited(t *testing.T) {
	h := start(t, stacks(t)[0], options{webhook: true})
	h.tg.FailNext("sendMessage", 8501, 429, 3)
	req := map[string]any{"survey": "post_purchase_nps", "customer_ref": "C-8501", "telegram_chat_id": 8501, "event_id": "ev-1"}
	resp, err := http.Post(h.base+"/api/v1/invitations", "application/json", strings.NewReader(`{"survey":"post_purchase_nps","customer_ref":"C-8501","telegram_chat_id":8501,"event_id":"ev-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized { // no token: refused before anything
		t.Fatalf("without a token: %d", resp.StatusCode)
	}
	var body map[string]any
	if code := h.api("POST", "/api/v1/invitations", req, &body); code != http.StatusTooManyRequests {
		t.Fatalf("invitation hitting a 429: %d %v", code, body)
	}
	var inv invitationResult
	if code := h.api("POST", "/api/v1/invitations", req, &inv); code != http.StatusCreated || inv.Status != "sent" {
		t.Fatalf("retry of the same event: %d %+v", code, inv)
	}
	if n := len(h.tg.Sent(8501)); n != 1 {
		t.Errorf("chat got %d messages", n)
	}
}
