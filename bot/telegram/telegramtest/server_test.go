package telegramtest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

const token = "123456:TEST-token"

func newClient(t *testing.T, s *Server) *tgbot.Bot {
	t.Helper()
	b, err := tgbot.New(token, tgbot.WithServerURL(s.URL()), tgbot.WithSkipGetMe())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type envelope struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

// call posts a JSON body to a method, as cxbot's own poller does.
func call(t *testing.T, ctx context.Context, base, tok, method, body string) (int, envelope) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/bot"+tok+"/"+method, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("%s: decode response: %v", method, err)
	}
	if env.OK != (resp.StatusCode == http.StatusOK) || (!env.OK && env.ErrorCode != resp.StatusCode) {
		t.Fatalf("%s: status %d does not match envelope %+v", method, resp.StatusCode, env)
	}
	return resp.StatusCode, env
}

func updateIDs(t *testing.T, env envelope) []int64 {
	t.Helper()
	var ups []Update
	if err := json.Unmarshal(env.Result, &ups); err != nil {
		t.Fatalf("decode updates %s: %v", env.Result, err)
	}
	ids := []int64{}
	for _, u := range ups {
		ids = append(ids, u.UpdateID)
	}
	return ids
}

func TestSendMessageWithKeyboardIsRecorded(t *testing.T) {
	s := New(token)
	defer s.Close()
	ctx := testCtx(t)
	b := newClient(t, s)

	for i := 1; i <= 2; i++ {
		msg, err := b.SendMessage(ctx, &tgbot.SendMessageParams{
			ChatID: int64(42),
			Text:   "How likely are you to recommend us?",
			ReplyMarkup: callbackKeyboard{InlineKeyboard: [][]callbackButton{
				{{Text: "0", CallbackData: "t:1:q1:0"}, {Text: "10", CallbackData: "t:1:q1:10"}},
				{{Text: "skip", CallbackData: "t:1:q1:-"}},
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if msg.ID != i || msg.Chat.ID != 42 || msg.Chat.Type != models.ChatTypePrivate || msg.Date == 0 {
			t.Fatalf("message %d: got %+v", i, msg)
		}
		if msg.ReplyMarkup == nil || msg.ReplyMarkup.InlineKeyboard[1][0].CallbackData != "t:1:q1:-" {
			t.Fatalf("reply markup not echoed: %+v", msg.ReplyMarkup)
		}
	}
	sent := s.Sent(42)
	if len(sent) != 2 {
		t.Fatalf("sent %d messages, want 2", len(sent))
	}
	want := [][]Button{{{"0", "t:1:q1:0"}, {"10", "t:1:q1:10"}}, {{"skip", "t:1:q1:-"}}}
	if !sameKeyboard(sent[0].Keyboard, want) || sent[0].Text != "How likely are you to recommend us?" {
		t.Fatalf("recorded %+v, want keyboard %v", sent[0], want)
	}
	if len(s.AllSent()) != 2 || len(s.Sent(7)) != 0 || s.Calls("sendMessage") != 2 {
		t.Fatal("inspection disagrees with what was sent")
	}
}

// callbackKeyboard is an inline keyboard of callback buttons that marshals
// only what it sets, as cxbot's adapter sends it (the SDK's own button type
// always adds "copy_text").
type callbackKeyboard struct {
	InlineKeyboard [][]callbackButton `json:"inline_keyboard"`
}

type callbackButton struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data"`
}

// Telegram wants exactly one optional field per button; the SDK's button
// type sends callback_data and an empty copy_text, which the fake refuses.
func TestButtonsNeedExactlyOneAction(t *testing.T) {
	s := New(token)
	defer s.Close()
	ctx := testCtx(t)
	b := newClient(t, s)
	_, err := b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: 1, Text: "x",
		ReplyMarkup: models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{{{Text: "5", CallbackData: "d5"}}}}})
	if !errors.Is(err, tgbot.ErrorBadRequest) || !strings.Contains(err.Error(), "exactly one of the optional fields") {
		t.Fatalf("SDK button with callback_data and copy_text: got %v", err)
	}
	for name, markup := range map[string]string{
		"no action":   `{"inline_keyboard":[[{"text":"5"}]]}`,
		"two actions": `{"inline_keyboard":[[{"text":"5","callback_data":"d","url":"https://example.com"}]]}`,
	} {
		if _, err := b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: 1, Text: "x", ReplyMarkup: json.RawMessage(markup)}); !errors.Is(err, tgbot.ErrorBadRequest) {
			t.Errorf("%s: got %v, want a bad request", name, err)
		}
	}
	if _, err := b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: 1, Text: "x",
		ReplyMarkup: callbackKeyboard{InlineKeyboard: [][]callbackButton{{{Text: "5", CallbackData: "d5"}}}}}); err != nil {
		t.Fatalf("a callback button alone: %v", err)
	}
}

func TestKeyboardValidation(t *testing.T) {
	s := New(token)
	defer s.Close()
	ctx := testCtx(t)
	b := newClient(t, s)
	_, err := b.SendMessage(ctx, &tgbot.SendMessageParams{
		ChatID: 1, Text: "x",
		ReplyMarkup: callbackKeyboard{InlineKeyboard: [][]callbackButton{
			{{Text: "long", CallbackData: strings.Repeat("x", 65)}},
		}},
	})
	if !errors.Is(err, tgbot.ErrorBadRequest) || !strings.Contains(err.Error(), "BUTTON_DATA_INVALID") {
		t.Fatalf("65-byte callback data: got %v", err)
	}
	if _, err := b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: 1, Text: " "}); !errors.Is(err, tgbot.ErrorBadRequest) {
		t.Fatalf("empty text: got %v", err)
	}
}

func TestFaults(t *testing.T) {
	s := New(token)
	defer s.Close()
	ctx := testCtx(t)
	b := newClient(t, s)
	send := func(chat int64) error {
		_, err := b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: chat, Text: "hi"})
		return err
	}

	s.FailNext("sendMessage", 0, http.StatusTooManyRequests, 7)
	var tooMany *tgbot.TooManyRequestsError
	if err := send(1); !errors.As(err, &tooMany) || tooMany.RetryAfter != 7 {
		t.Fatalf("429: got %v", err)
	}
	if err := send(1); err != nil {
		t.Fatalf("a fault is used once: %v", err)
	}

	s.FailNext("SENDMESSAGE", 2, http.StatusForbidden, 0)
	if err := send(1); err != nil {
		t.Fatalf("fault for chat 2 hit chat 1: %v", err)
	}
	if err := send(2); !errors.Is(err, tgbot.ErrorForbidden) {
		t.Fatalf("403: got %v", err)
	}

	s.FailNext("sendMessage", 0, http.StatusInternalServerError, 0)
	if err := send(1); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("500: got %v", err)
	}

	s.Block(3)
	for range 2 {
		if err := send(3); !errors.Is(err, tgbot.ErrorForbidden) || !strings.Contains(err.Error(), "blocked by the user") {
			t.Fatalf("blocked chat: got %v", err)
		}
	}
	s.Unblock(3)
	if err := send(3); err != nil {
		t.Fatalf("unblocked: %v", err)
	}
	if got := len(s.Sent(1)); got != 2 {
		t.Fatalf("chat 1 has %d messages, want 2 (failed calls record nothing)", got)
	}
}

func TestRouting(t *testing.T) {
	s := New(token)
	defer s.Close()
	ctx := testCtx(t)

	if code, env := call(t, ctx, s.URL(), "999:other", "getMe", `{}`); code != 401 || env.Description != "Unauthorized" {
		t.Fatalf("wrong token: %d %+v", code, env)
	}
	if code, env := call(t, ctx, s.URL(), token, "sendVoice", `{}`); code != 404 || env.Description != "Not Found: method not found" {
		t.Fatalf("unknown method: %d %+v", code, env)
	}
	code, env := call(t, ctx, s.URL(), token, "getme", `{}`)
	var me models.User
	if code != 200 || json.Unmarshal(env.Result, &me) != nil || me.ID != 123456 || !me.IsBot {
		t.Fatalf("getMe: %d %s", code, env.Result)
	}

	// Form-encoded bodies work too.
	resp, err := http.PostForm(s.URL()+"/bot"+token+"/sendMessage", url.Values{"chat_id": {"5"}, "text": {"form"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(s.Sent(5)) != 1 {
		t.Fatalf("form body: status %d, sent %v", resp.StatusCode, s.Sent(5))
	}
}

func TestGetUpdatesOffset(t *testing.T) {
	s := New(token, WithMaxPollWait(50*time.Millisecond))
	defer s.Close()
	ctx := testCtx(t)
	u1, u2, u3 := s.TextUpdate(1, "a", "en"), s.TextUpdate(1, "b", "en"), s.TextUpdate(2, "c", "en")
	s.Enqueue(u1, u2, u3)

	_, env := call(t, ctx, s.URL(), token, "getUpdates", `{}`)
	if ids := updateIDs(t, env); len(ids) != 3 || ids[0] != u1.UpdateID || ids[2] != u3.UpdateID {
		t.Fatalf("no offset: got %v", ids)
	}
	_, env = call(t, ctx, s.URL(), token, "getUpdates", `{"limit":1}`)
	if ids := updateIDs(t, env); len(ids) != 1 || ids[0] != u1.UpdateID {
		t.Fatalf("limit 1: got %v", ids)
	}
	if s.Pending() != 3 || s.Offset() != 0 {
		t.Fatal("reading without an offset must not confirm anything")
	}

	_, env = call(t, ctx, s.URL(), token, "getUpdates", `{"offset":`+itoa(u2.UpdateID)+`}`)
	if ids := updateIDs(t, env); len(ids) != 2 || ids[0] != u2.UpdateID {
		t.Fatalf("offset u2: got %v", ids)
	}
	if s.Pending() != 2 || s.Offset() != u2.UpdateID {
		t.Fatalf("offset u2 confirms u1 only: pending %d, offset %d", s.Pending(), s.Offset())
	}

	_, env = call(t, ctx, s.URL(), token, "getUpdates", `{"offset":`+itoa(u3.UpdateID+1)+`,"timeout":1}`)
	if ids := updateIDs(t, env); len(ids) != 0 || string(env.Result) != "[]" {
		t.Fatalf("everything confirmed: got %s", env.Result)
	}
	if s.Pending() != 0 {
		t.Fatalf("pending %d after confirming all", s.Pending())
	}
}

func TestGetUpdatesLongPollWakesUp(t *testing.T) {
	s := New(token, WithMaxPollWait(5*time.Second))
	defer s.Close()
	ctx := testCtx(t)
	u := s.TextUpdate(1, "late", "")
	go func() {
		_ = s.WaitFor(ctx, func() bool { return s.isPolling() })
		s.Enqueue(u)
	}()
	start := time.Now()
	_, env := call(t, ctx, s.URL(), token, "getUpdates", `{"timeout":30}`)
	if ids := updateIDs(t, env); len(ids) != 1 || ids[0] != u.UpdateID {
		t.Fatalf("got %v", ids)
	}
	if time.Since(start) > 4*time.Second {
		t.Fatal("long poll did not wake up on Enqueue")
	}
}

func TestConcurrentGetUpdatesConflict(t *testing.T) {
	s := New(token, WithMaxPollWait(5*time.Second))
	defer s.Close()
	ctx := testCtx(t)
	first := make(chan int)
	go func() {
		code, _ := call(t, ctx, s.URL(), token, "getUpdates", `{"timeout":2}`)
		first <- code
	}()
	if err := s.WaitFor(ctx, s.isPolling); err != nil {
		t.Fatal(err)
	}
	code, env := call(t, ctx, s.URL(), token, "getUpdates", `{"timeout":0}`)
	if code != http.StatusConflict || !strings.HasPrefix(env.Description, "Conflict: terminated by other getUpdates request") {
		t.Fatalf("second poller: %d %+v", code, env)
	}
	s.Enqueue(s.TextUpdate(1, "x", ""))
	if code := <-first; code != 200 {
		t.Fatalf("first poller: %d", code)
	}
	if code, _ := call(t, ctx, s.URL(), token, "getUpdates", `{}`); code != 200 {
		t.Fatalf("poll after the first one ended: %d", code)
	}
}

func TestWebhookMethods(t *testing.T) {
	s := New(token)
	defer s.Close()
	ctx := testCtx(t)
	b := newClient(t, s)

	ok, err := b.SetWebhook(ctx, &tgbot.SetWebhookParams{
		URL: "https://cx.example.com/telegram/webhook", SecretToken: "s3cret_-X",
		AllowedUpdates: []string{"message", "callback_query"},
	})
	if err != nil || !ok {
		t.Fatalf("setWebhook: %v %v", ok, err)
	}
	if u, sec := s.Webhook(); u != "https://cx.example.com/telegram/webhook" || sec != "s3cret_-X" {
		t.Fatalf("recorded %q %q", u, sec)
	}
	if got := s.AllowedUpdates(); len(got) != 2 || got[1] != "callback_query" {
		t.Fatalf("allowed updates %v", got)
	}
	info, err := b.GetWebhookInfo(ctx)
	if err != nil || info.URL != "https://cx.example.com/telegram/webhook" {
		t.Fatalf("getWebhookInfo: %+v %v", info, err)
	}
	if code, env := call(t, ctx, s.URL(), token, "getUpdates", `{}`); code != 409 || !strings.Contains(env.Description, "webhook is active") {
		t.Fatalf("getUpdates with a webhook: %d %+v", code, env)
	}
	if _, err := b.SetWebhook(ctx, &tgbot.SetWebhookParams{URL: "https://x.example", SecretToken: "bad secret!"}); !errors.Is(err, tgbot.ErrorBadRequest) {
		t.Fatalf("bad secret token: %v", err)
	}
	if ok, err := b.DeleteWebhook(ctx, &tgbot.DeleteWebhookParams{}); err != nil || !ok {
		t.Fatalf("deleteWebhook: %v %v", ok, err)
	}
	if u, _ := s.Webhook(); u != "" {
		t.Fatalf("webhook still %q", u)
	}
	if code, _ := call(t, ctx, s.URL(), token, "getUpdates", `{}`); code != 200 {
		t.Fatalf("getUpdates after deleteWebhook: %d", code)
	}
}

func TestEditsAndCallbackAnswers(t *testing.T) {
	s := New(token)
	defer s.Close()
	ctx := testCtx(t)
	b := newClient(t, s)
	msg, err := b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: 9, Text: "Score?", ReplyMarkup: callbackKeyboard{
		InlineKeyboard: [][]callbackButton{{{Text: "5", CallbackData: "d5"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}

	tap := s.TapUpdate(9, msg.ID, "d5")
	if ok, err := b.AnswerCallbackQuery(ctx, &tgbot.AnswerCallbackQueryParams{CallbackQueryID: tap.CallbackQuery.ID, Text: "Thanks"}); err != nil || !ok {
		t.Fatalf("answerCallbackQuery: %v", err)
	}
	if _, err := b.AnswerCallbackQuery(ctx, &tgbot.AnswerCallbackQueryParams{CallbackQueryID: "nope"}); !errors.Is(err, tgbot.ErrorBadRequest) {
		t.Fatalf("unknown query id: %v", err)
	}
	if a := s.CallbackAnswers(); len(a) != 1 || a[0].Text != "Thanks" || a[0].CallbackQueryID != tap.CallbackQuery.ID {
		t.Fatalf("answers %+v", a)
	}

	edit := &tgbot.EditMessageTextParams{ChatID: 9, MessageID: msg.ID, Text: "Score? — 5"}
	if _, err := b.EditMessageText(ctx, edit); err != nil {
		t.Fatal(err)
	}
	got := s.Sent(9)[0]
	if !got.Edited || got.EditedText != "Score? — 5" || got.Keyboard != nil || !got.KeyboardRemoved || got.Text != "Score?" {
		t.Fatalf("after edit: %+v", got)
	}
	if _, err := b.EditMessageText(ctx, edit); !errors.Is(err, tgbot.ErrorBadRequest) || !strings.Contains(err.Error(), "message is not modified") {
		t.Fatalf("same edit again: %v", err)
	}
	if _, err := b.EditMessageReplyMarkup(ctx, &tgbot.EditMessageReplyMarkupParams{ChatID: 9, MessageID: msg.ID}); !strings.Contains(err.Error(), "not modified") {
		t.Fatalf("removing a removed keyboard: %v", err)
	}
	if _, err := b.EditMessageText(ctx, &tgbot.EditMessageTextParams{ChatID: 9, MessageID: 77, Text: "x"}); !strings.Contains(err.Error(), "message to edit not found") {
		t.Fatalf("unknown message: %v", err)
	}
	if e := s.Edits(); len(e) != 1 || e[0].Method != "editMessageText" || e[0].MessageID != msg.ID {
		t.Fatalf("edits %+v", e)
	}
}

// The updates the fake builds decode with the SDK's own types, as Telegram's do.
func TestUpdatesDecodeAsTelegramUpdates(t *testing.T) {
	s := New(token)
	defer s.Close()
	ctx := testCtx(t)
	b := newClient(t, s)
	msg, err := b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: 5, Text: "Q", ReplyMarkup: callbackKeyboard{
		InlineKeyboard: [][]callbackButton{{{Text: "ok", CallbackData: "d"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	decode := func(u Update) models.Update {
		raw, err := json.Marshal(u)
		if err != nil {
			t.Fatal(err)
		}
		var out models.Update
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("SDK cannot decode %s: %v", raw, err)
		}
		return out
	}

	text := s.TextUpdate(5, "/start tok123", "zh-hans")
	m := decode(text).Message
	if m.Text != "/start tok123" || m.From.LanguageCode != "zh-hans" || m.Chat.Type != models.ChatTypePrivate || m.ID != msg.ID+1 {
		t.Fatalf("text update: %+v", m)
	}
	if len(m.Entities) != 1 || m.Entities[0].Type != models.MessageEntityTypeBotCommand || m.Entities[0].Length != len("/start") {
		t.Fatalf("command entity: %+v", m.Entities)
	}
	if e := decode(s.TextUpdate(5, "hello", "")).Message.Entities; e != nil {
		t.Fatalf("plain text has entities %+v", e)
	}

	tap := decode(s.TapUpdate(5, msg.ID, "d")).CallbackQuery
	if tap.Data != "d" || tap.Message.Message == nil || tap.Message.Message.ID != msg.ID || tap.Message.Message.Chat.ID != 5 {
		t.Fatalf("tap update: %+v", tap)
	}

	blocked := decode(s.BlockedUpdate(5))
	if blocked.MyChatMember.NewChatMember.Type != models.ChatMemberTypeBanned || blocked.MyChatMember.Chat.ID != 5 {
		t.Fatalf("blocked update: %+v", blocked.MyChatMember)
	}
	if !(text.UpdateID < blocked.ID) {
		t.Fatal("update ids must increase")
	}
}

func TestDeliver(t *testing.T) {
	s := New(token)
	defer s.Close()
	ctx := testCtx(t)
	var gotSecret string
	var got Update
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotSecret = r.Header.Get("X-Telegram-Bot-Api-Secret-Token")
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &got)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer hook.Close()

	u := s.TextUpdate(1, "hi", "en")
	if _, err := s.DeliverWebhook(ctx, u); err == nil {
		t.Fatal("DeliverWebhook without a webhook must fail")
	}
	status, err := s.Deliver(ctx, hook.URL, "sec", u)
	if err != nil || status != http.StatusServiceUnavailable {
		t.Fatalf("deliver: %d %v", status, err)
	}
	if gotSecret != "sec" || got.UpdateID != u.UpdateID || got.Message.Text != "hi" {
		t.Fatalf("webhook got %q %+v", gotSecret, got)
	}
}

func TestWaitSent(t *testing.T) {
	s := New(token)
	defer s.Close()
	ctx := testCtx(t)
	b := newClient(t, s)
	go func() {
		for range 3 {
			_, _ = b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: 8, Text: "m"})
		}
	}()
	sent, err := s.WaitSent(ctx, 8, 3)
	if err != nil || len(sent) != 3 {
		t.Fatalf("WaitSent: %d %v", len(sent), err)
	}

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := s.WaitSent(short, 8, 4); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitSent past the deadline: %v", err)
	}
}

func (s *Server) isPolling() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.polling
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
