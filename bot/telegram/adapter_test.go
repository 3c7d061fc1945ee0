package telegram

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/bot/telegram/telegramtest"
	"github.com/cxbot/cxbot/flows"
)

const token = "123456:TEST-token"

var clock = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// testDecodeTap reads "responseID|questionID|value", a stand-in for flows.DecodeTap.
func testDecodeTap(data string) (flows.Tap, error) {
	parts := strings.Split(data, "|")
	if len(parts) != 3 {
		return flows.Tap{}, fmt.Errorf("tap %q: %w", data, flows.ErrInvalid)
	}
	id, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return flows.Tap{}, fmt.Errorf("tap %q: %w", data, flows.ErrInvalid)
	}
	return flows.Tap{ResponseID: id, QuestionID: parts[1], Value: parts[2]}, nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// setup starts a fake Bot API and an adapter talking to it.
func setup(t *testing.T, edit func(*Config)) (*Adapter, *telegramtest.Server) {
	t.Helper()
	fake := telegramtest.New(token, telegramtest.WithMaxPollWait(200*time.Millisecond), telegramtest.WithClock(func() time.Time { return clock }))
	t.Cleanup(fake.Close)
	cfg := Config{
		Token:         token,
		APIURL:        fake.URL(),
		WebhookSecret: "hook-secret_1",
		PollTimeout:   time.Second,
		DecodeTap:     testDecodeTap,
		Now:           func() time.Time { return clock },
	}
	if edit != nil {
		edit(&cfg)
	}
	a, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return a, fake
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var npsKeyboard = [][]flows.Button{
	{{Label: "0", Data: "7|q1|0"}, {Label: "5", Data: "7|q1|5"}, {Label: "10", Data: "7|q1|10"}},
	{{Label: "Skip", Data: "7|q1|skip"}},
}

func TestNewValidatesConfig(t *testing.T) {
	base := Config{Token: token, DecodeTap: testDecodeTap}
	cases := map[string]func(*Config){
		"Token":         func(c *Config) { c.Token = " " },
		"DecodeTap":     func(c *Config) { c.DecodeTap = nil },
		"WebhookSecret": func(c *Config) { c.PublicURL = "https://cx.example.com" },
		"characters":    func(c *Config) { c.WebhookSecret = "has spaces" },
		"PollTimeout":   func(c *Config) { c.PollTimeout = -time.Second },
	}
	for want, edit := range cases {
		cfg := base
		edit(&cfg)
		_, err := New(cfg, nil)
		if !errors.Is(err, flows.ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
	if a, err := New(base, nil); err != nil || a.Name() != flows.ChannelTelegram {
		t.Fatalf("valid config: %v", err)
	}
}

func TestSendWithKeyboard(t *testing.T) {
	a, fake := setup(t, nil)
	ctx := testCtx(t)

	id, err := a.Send(ctx, "42", flows.Message{Text: "How likely are you to recommend us?", Keyboard: npsKeyboard, QuestionID: "q1"})
	if err != nil {
		t.Fatal(err)
	}
	sent := fake.Sent(42)
	if len(sent) != 1 || sent[0].MessageID != id || sent[0].Text != "How likely are you to recommend us?" {
		t.Fatalf("id %d, sent %+v", id, sent)
	}
	kb := sent[0].Keyboard
	if len(kb) != 2 || len(kb[0]) != 3 || len(kb[1]) != 1 {
		t.Fatalf("keyboard shape %v", kb)
	}
	for i, row := range npsKeyboard {
		for j, b := range row {
			if kb[i][j].Text != b.Label || kb[i][j].CallbackData != b.Data {
				t.Fatalf("button %d,%d: got %+v, want %+v", i, j, kb[i][j], b)
			}
		}
	}

	if _, err := a.Send(ctx, "42", flows.Message{Text: "Thanks!"}); err != nil {
		t.Fatal(err)
	}
	if sent := fake.Sent(42); len(sent) != 2 || sent[1].Keyboard != nil || sent[1].MessageID != id+1 {
		t.Fatalf("plain message: %+v", sent)
	}
}

func TestSendErrors(t *testing.T) {
	a, fake := setup(t, nil)
	ctx := testCtx(t)
	msg := flows.Message{Text: "hi"}

	fake.FailNext("sendMessage", 42, http.StatusForbidden, 0)
	if _, err := a.Send(ctx, "42", msg); !errors.Is(err, bot.ErrBlocked) {
		t.Errorf("403: got %v", err)
	}

	fake.Block(43)
	if _, err := a.Send(ctx, "43", msg); !errors.Is(err, bot.ErrBlocked) {
		t.Errorf("blocked chat: got %v", err)
	}

	fake.FailNext("sendMessage", 0, http.StatusTooManyRequests, 3)
	var rl *bot.RateLimitedError
	if _, err := a.Send(ctx, "42", msg); !errors.As(err, &rl) || rl.RetryAfter != 3*time.Second {
		t.Errorf("429: got %v", err)
	}

	fake.FailNext("sendMessage", 0, http.StatusInternalServerError, 0)
	if _, err := a.Send(ctx, "42", msg); !errors.Is(err, flows.ErrUnavailable) {
		t.Errorf("500: got %v", err)
	}

	calls := fake.Calls("sendMessage")
	for _, bad := range []struct {
		chat string
		msg  flows.Message
	}{
		{"abc", msg},
		{"", msg},
		{"42", flows.Message{Text: "  "}},
		{"42", flows.Message{Text: "q", Keyboard: [][]flows.Button{{{Label: "x", Data: strings.Repeat("d", 65)}}}}},
		{"42", flows.Message{Text: "q", Keyboard: [][]flows.Button{{{Label: "", Data: "d"}}}}},
	} {
		if _, err := a.Send(ctx, bad.chat, bad.msg); !errors.Is(err, flows.ErrInvalid) {
			t.Errorf("Send(%q, %+v): got %v, want ErrInvalid", bad.chat, bad.msg, err)
		}
	}
	if fake.Calls("sendMessage") != calls {
		t.Error("invalid input reached Telegram")
	}

	fake.Close()
	if _, err := a.Send(ctx, "42", msg); !errors.Is(err, flows.ErrUnavailable) {
		t.Errorf("server down: got %v", err)
	}
}

func TestCloseQuestion(t *testing.T) {
	a, fake := setup(t, nil)
	ctx := testCtx(t)
	id, err := a.Send(ctx, "42", flows.Message{Text: "Score?", Keyboard: npsKeyboard})
	if err != nil {
		t.Fatal(err)
	}

	if err := a.CloseQuestion(ctx, "42", id, "Score? 9"); err != nil {
		t.Fatal(err)
	}
	m := fake.Sent(42)[0]
	if !m.KeyboardRemoved || m.Keyboard != nil || m.EditedText != "Score? 9" {
		t.Fatalf("after CloseQuestion: %+v", m)
	}
	// A redelivered update closes the same question again: "not modified" is fine.
	if err := a.CloseQuestion(ctx, "42", id, "Score? 9"); err != nil {
		t.Fatalf("closing twice: %v", err)
	}
	if fake.Calls("editMessageText") != 2 {
		t.Fatalf("editMessageText calls %d", fake.Calls("editMessageText"))
	}

	// Without text only the keyboard goes.
	id2, _ := a.Send(ctx, "42", flows.Message{Text: "Why?", Keyboard: npsKeyboard})
	if err := a.CloseQuestion(ctx, "42", id2, ""); err != nil {
		t.Fatal(err)
	}
	if m := fake.Sent(42)[1]; !m.KeyboardRemoved || m.Edited || m.Text != "Why?" {
		t.Fatalf("keyboard-only close: %+v", m)
	}

	if err := a.CloseQuestion(ctx, "42", 999, "x"); !errors.Is(err, flows.ErrInvalid) {
		t.Errorf("unknown message: got %v", err)
	}
	fake.Block(42)
	if err := a.CloseQuestion(ctx, "42", id2, "x"); !errors.Is(err, bot.ErrBlocked) {
		t.Errorf("blocked: got %v", err)
	}
	if err := a.CloseQuestion(ctx, "x", id2, "x"); !errors.Is(err, flows.ErrInvalid) {
		t.Errorf("bad chat id: got %v", err)
	}
}

func TestAnswerTap(t *testing.T) {
	a, fake := setup(t, nil)
	ctx := testCtx(t)
	id, _ := a.Send(ctx, "42", flows.Message{Text: "Score?", Keyboard: npsKeyboard})
	tap := fake.TapUpdate(42, id, "7|q1|5")

	if err := a.AnswerTap(ctx, tap.CallbackQuery.ID, "Thanks"); err != nil {
		t.Fatal(err)
	}
	if got := fake.CallbackAnswers(); len(got) != 1 || got[0].CallbackQueryID != tap.CallbackQuery.ID || got[0].Text != "Thanks" {
		t.Fatalf("answers %+v", got)
	}
	if err := a.AnswerTap(ctx, "expired-query", ""); err != nil {
		t.Errorf("a query too old to answer is not an error: %v", err)
	}
	if err := a.AnswerTap(ctx, "", ""); !errors.Is(err, flows.ErrInvalid) {
		t.Errorf("empty id: got %v", err)
	}
	fake.FailNext("answerCallbackQuery", 0, http.StatusBadGateway, 0)
	if err := a.AnswerTap(ctx, tap.CallbackQuery.ID, ""); !errors.Is(err, flows.ErrUnavailable) {
		t.Errorf("502: got %v", err)
	}
}

func TestNotifyAgents(t *testing.T) {
	ctx := testCtx(t)
	a, fake := setup(t, func(c *Config) { c.AgentChatID = -1001234567890 })
	if err := a.NotifyAgents(ctx, "Detractor: customer c-1 scored 2"); err != nil {
		t.Fatal(err)
	}
	if sent := fake.Sent(-1001234567890); len(sent) != 1 || sent[0].Text != "Detractor: customer c-1 scored 2" {
		t.Fatalf("agent chat got %+v", sent)
	}
	long := strings.Repeat("ж", 5000)
	if err := a.NotifyAgents(ctx, long); err != nil {
		t.Fatalf("long notice: %v", err)
	}
	if sent := fake.Sent(-1001234567890); len(utf16.Encode([]rune(sent[1].Text))) > 4096 {
		t.Fatal("long notice not shortened")
	}

	a, fake = setup(t, nil)
	if err := a.NotifyAgents(ctx, "nobody listens"); err != nil {
		t.Fatal(err)
	}
	if fake.Calls("sendMessage") != 0 {
		t.Fatal("sent a notice without an agent chat")
	}
}

func TestRegisterAndDeleteWebhook(t *testing.T) {
	ctx := testCtx(t)
	a, fake := setup(t, func(c *Config) { c.PublicURL = "https://cx.example.com/" })
	if err := a.RegisterWebhook(ctx); err != nil {
		t.Fatal(err)
	}
	url, secret := fake.Webhook()
	if url != "https://cx.example.com/telegram/webhook" || secret != "hook-secret_1" {
		t.Fatalf("webhook %q %q", url, secret)
	}
	if got := strings.Join(fake.AllowedUpdates(), ","); got != "message,callback_query,my_chat_member" {
		t.Fatalf("allowed updates %s", got)
	}
	if err := a.DeleteWebhook(ctx); err != nil {
		t.Fatal(err)
	}
	if url, _ := fake.Webhook(); url != "" {
		t.Fatalf("webhook still %q", url)
	}

	a, _ = setup(t, nil)
	if err := a.RegisterWebhook(ctx); !errors.Is(err, flows.ErrInvalid) {
		t.Fatalf("without PublicURL: %v", err)
	}
}

// recorder is a Handler that records what it handles; fail decides the error
// for each call (nil = success).
type recorder struct {
	mu      sync.Mutex
	calls   []flows.Update
	handled []flows.Update
	fail    func(u flows.Update, attempt int) error
	notify  chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 100)} }

func (r *recorder) HandleUpdate(_ context.Context, u flows.Update) error {
	r.mu.Lock()
	defer func() {
		r.mu.Unlock()
		r.notify <- struct{}{}
	}()
	attempt := 0
	for _, c := range r.calls {
		if c.UpdateID == u.UpdateID {
			attempt++
		}
	}
	r.calls = append(r.calls, u)
	if r.fail != nil {
		if err := r.fail(u, attempt); err != nil {
			return err
		}
	}
	r.handled = append(r.handled, u)
	return nil
}

func (r *recorder) snapshot() (calls, handled []flows.Update) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]flows.Update(nil), r.calls...), append([]flows.Update(nil), r.handled...)
}

// waitHandled waits until n updates were handled successfully.
func (r *recorder) waitHandled(t *testing.T, ctx context.Context, n int) []flows.Update {
	t.Helper()
	for {
		if _, handled := r.snapshot(); len(handled) >= n {
			return handled
		}
		select {
		case <-r.notify:
		case <-ctx.Done():
			calls, handled := r.snapshot()
			t.Fatalf("handled %d of %d updates (%d calls)", len(handled), n, len(calls))
		}
	}
}

func ids(us []flows.Update) string {
	var out []string
	for _, u := range us {
		out = append(out, u.UpdateID)
	}
	return strings.Join(out, ",")
}

func id(u telegramtest.Update) string { return strconv.FormatInt(u.UpdateID, 10) }
