package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

func webhookServer(t *testing.T, a *Adapter, h Handler) string {
	t.Helper()
	srv := httptest.NewServer(a.WebhookHandler(h))
	t.Cleanup(srv.Close)
	return srv.URL + WebhookPath
}

// post sends a raw body the way Telegram would, returning status and body.
func post(t *testing.T, url, secret, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestWebhookRejectsForgedAndMalformed(t *testing.T) {
	a, fake := setup(t, nil)
	ctx := testCtx(t)
	rec := newRecorder()
	url := webhookServer(t, a, rec)
	update := fake.TextUpdate(42, "hello", "en")

	for _, secret := range []string{"", "wrong", "hook-secret_", "hook-secret_12"} {
		status, err := fake.Deliver(ctx, url, secret, update)
		if err != nil || status != http.StatusUnauthorized {
			t.Errorf("secret %q: status %d %v, want 401", secret, status, err)
		}
	}
	if status, body := post(t, url, "bad", "{}"); !strings.Contains(body, `"ok":false`) || status != 401 {
		t.Errorf("401 body %q", body)
	}

	cases := []struct {
		name, body string
		status     int
		says       string
	}{
		{"not JSON", `{"update_id":`, 400, "malformed"},
		{"wrong type", `{"update_id":"12"}`, 400, "malformed"},
		{"no update_id", `{"message":{"message_id":1,"chat":{"id":1,"type":"private"},"text":"hi"}}`, 400, "update_id"},
		{"too large", `{"update_id":1,"pad":"` + strings.Repeat("x", 1<<20) + `"}`, 413, "1 MiB"},
	}
	for _, c := range cases {
		status, body := post(t, url, "hook-secret_1", c.body)
		if status != c.status || !strings.Contains(body, c.says) {
			t.Errorf("%s: %d %q, want %d mentioning %q", c.name, status, body, c.status, c.says)
		}
	}

	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("X-Telegram-Bot-Api-Secret-Token", "hook-secret_1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %d", resp.StatusCode)
	}

	if calls, _ := rec.snapshot(); len(calls) != 0 {
		t.Fatalf("handler called for rejected requests: %v", ids(calls))
	}
}

func TestWebhookWithoutSecretRefusesEverything(t *testing.T) {
	a, fake := setup(t, func(c *Config) { c.WebhookSecret = "" })
	rec := newRecorder()
	url := webhookServer(t, a, rec)
	if status, _ := fake.Deliver(testCtx(t), url, "", fake.TextUpdate(1, "hi", "")); status != http.StatusUnauthorized {
		t.Fatalf("status %d", status)
	}
}

func TestWebhookStatusFollowsHandler(t *testing.T) {
	a, fake := setup(t, nil)
	ctx := testCtx(t)
	cases := []struct {
		err    error
		status int
	}{
		{nil, 200},
		{fmt.Errorf("redis down: %w", flows.ErrUnavailable), 503},
		{fmt.Errorf("survey gone: %w", flows.ErrInvalid), 200},
		{errors.New("boom"), 500},
		{fmt.Errorf("chat busy: %w", flows.ErrConflict), 500},
	}
	for _, c := range cases {
		rec := newRecorder()
		rec.fail = func(flows.Update, int) error { return c.err }
		url := webhookServer(t, a, rec)
		status, err := fake.Deliver(ctx, url, "hook-secret_1", fake.TextUpdate(42, "hi", ""))
		if err != nil || status != c.status {
			t.Errorf("handler error %v: status %d (%v), want %d", c.err, status, err, c.status)
		}
		if calls, _ := rec.snapshot(); len(calls) != 1 {
			t.Errorf("handler error %v: %d calls", c.err, len(calls))
		}
	}
}

// blockingHandler holds every update until released.
type blockingHandler struct {
	started chan flows.Update
	release chan struct{}
}

func (h blockingHandler) HandleUpdate(_ context.Context, u flows.Update) error {
	h.started <- u
	<-h.release
	return nil
}

func TestWebhookAnswersOnlyAfterTheHandlerReturned(t *testing.T) {
	a, fake := setup(t, nil)
	ctx := testCtx(t)
	h := blockingHandler{started: make(chan flows.Update, 1), release: make(chan struct{})}
	url := webhookServer(t, a, h)

	update := fake.TextUpdate(42, "/start tok", "de")
	result := make(chan int, 1)
	go func() {
		status, err := fake.Deliver(ctx, url, "hook-secret_1", update)
		if err != nil {
			t.Error(err)
		}
		result <- status
	}()
	got := <-h.started
	select {
	case status := <-result:
		t.Fatalf("webhook answered %d before the handler returned", status)
	case <-time.After(50 * time.Millisecond):
	}
	close(h.release)
	if status := <-result; status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	want := flows.Update{
		Channel: flows.ChannelTelegram, UpdateID: id(update), ChatID: "42", UserID: "42",
		Username: "user42", Language: "de", Text: "/start tok", ReceivedAt: clock,
	}
	if got != want {
		t.Fatalf("handler got %+v\nwant %+v", got, want)
	}
}

func TestWebhookIgnoresUnhandledUpdates(t *testing.T) {
	a, fake := setup(t, nil)
	rec := newRecorder()
	url := webhookServer(t, a, rec)

	edited := fake.TextUpdate(42, "typo fixed", "")
	edited.EditedMessage, edited.Message = edited.Message, nil
	group := fake.TextUpdate(-4242, "hi all", "")
	photo := fake.TextUpdate(42, "", "")
	for _, u := range []any{edited, group, photo} {
		body, _ := json.Marshal(u)
		if status, resp := post(t, url, "hook-secret_1", string(body)); status != 200 || !strings.Contains(resp, `"ok":true`) {
			t.Errorf("%s: %d %s", body, status, resp)
		}
	}
	if calls, _ := rec.snapshot(); len(calls) != 0 {
		t.Fatalf("handler called for ignored updates: %v", ids(calls))
	}
}

// tapAnswerer answers every tap twice, as a step might: the first answer
// rides on the webhook's reply, the second is a call of its own.
type tapAnswerer struct{ a *Adapter }

func (h tapAnswerer) HandleUpdate(ctx context.Context, u flows.Update) error {
	if err := h.a.AnswerTap(ctx, u.TapID, "✓ 7"); err != nil {
		return err
	}
	return h.a.AnswerTap(ctx, u.TapID, "again")
}

// A tap answered inside a webhook call goes back in the webhook's answer
// ({"method":"answerCallbackQuery",…}); Telegram (the fake too) carries it
// out when the webhook returns. Only one method fits, so a second answer is
// a call of its own, made at once.
func TestWebhookAnswerCarriesTheTapAnswer(t *testing.T) {
	a, fake := setup(t, nil)
	ctx := testCtx(t)
	if _, err := a.Send(ctx, "42", flows.Message{Text: "Score?", Keyboard: [][]flows.Button{{{Label: "7", Data: "d7"}}}}); err != nil {
		t.Fatal(err)
	}
	url := webhookServer(t, a, tapAnswerer{a})
	tap, err := fake.TapButton(42, "7")
	if err != nil {
		t.Fatal(err)
	}
	status, err := fake.Deliver(ctx, url, "hook-secret_1", tap)
	if err != nil || status != http.StatusOK {
		t.Fatalf("webhook: %d %v", status, err)
	}
	if n := fake.WebhookAnswers(); n != 1 {
		t.Errorf("methods in webhook answers: %d, want 1", n)
	}
	answers := fake.CallbackAnswers()
	if len(answers) != 2 || answers[1].Text != "✓ 7" || answers[0].Text != "again" {
		t.Errorf("callback answers: %+v, want the direct call first, then the webhook's", answers)
	}
	if n := fake.Calls("answerCallbackQuery"); n != 2 {
		t.Errorf("answerCallbackQuery calls: %d, want 2 (one in the webhook answer, one direct)", n)
	}
}
