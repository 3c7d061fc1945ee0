package telegram

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cxbot/cxbot/flows"
)

// handlerFunc is a Handler from a function.
type handlerFunc func(context.Context, flows.Update) error

func (f handlerFunc) HandleUpdate(ctx context.Context, u flows.Update) error { return f(ctx, u) }

// FuzzWebhookUpdate: any body with the right secret gets 200 (handled or
// ignored) or 400 (malformed), never a panic or a 5xx; every update that
// reaches the handler names a private chat and passes the domain's rule.
func FuzzWebhookUpdate(f *testing.F) {
	f.Add(`{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":42,"type":"private"},"from":{"id":42,"language_code":"en"},"text":"/start abc"}}`)
	f.Add(`{"update_id":2,"callback_query":{"id":"q","from":{"id":42},"data":"a:1:nps:7","message":{"message_id":5,"date":1,"chat":{"id":42,"type":"private"}}}}`)
	f.Add(`{"update_id":3,"my_chat_member":{"chat":{"id":42,"type":"private"},"from":{"id":42},"date":1,"old_chat_member":{"status":"member","user":{"id":1}},"new_chat_member":{"status":"kicked","user":{"id":1}}}}`)
	f.Add(`{"update_id":4,"message":{"message_id":1,"date":1,"chat":{"id":-5,"type":"group"},"text":"9"}}`)
	f.Add(`{"update_id":5,"message":{"message_id":1,"date":1,"chat":{"id":42,"type":"private"},"text":"\u0000"}}`)
	f.Add(`{"update_id":"x"}`)
	f.Add(`[]`)
	a, err := New(Config{Token: token, APIURL: "http://127.0.0.1:1", WebhookSecret: "hook-secret_1", DecodeTap: testDecodeTap}, nil)
	if err != nil {
		f.Fatal(err)
	}
	handler := a.WebhookHandler(handlerFunc(func(_ context.Context, u flows.Update) error {
		if _, err := flows.CleanUpdate(u); err != nil {
			return err // acknowledged as poison, as the conversation layer would
		}
		if strings.HasPrefix(u.ChatID, "-") || u.ChatID == "" {
			panic("an update from a group or without a chat reached the handler: " + u.ChatID)
		}
		return nil
	}))
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, WebhookPath, strings.NewReader(body))
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", "hook-secret_1")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest && rec.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("body %q: status %d %s", body, rec.Code, rec.Body)
		}
	})
}
