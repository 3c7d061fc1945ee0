package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/flows"
)

// The reply path's calls go out as one JSON body of known length (not the
// SDK's chunked multipart stream), and Telegram's answers still mean what
// they meant: a 429's retry_after, a 403, a migrated group, a bad token
// kept out of the error.
func TestReplyPathCallsAreOneJSONBody(t *testing.T) {
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p map[string]any
		switch {
		case r.Header.Get("Content-Type") != "application/json" || r.ContentLength != int64(len(body)) || len(r.TransferEncoding) > 0:
			t.Errorf("%s: Content-Type %q, length %d for %d bytes, transfer encoding %v", r.URL.Path, r.Header.Get("Content-Type"), r.ContentLength, len(body), r.TransferEncoding)
		case json.Unmarshal(body, &p) != nil:
			t.Errorf("%s: not JSON: %s", r.URL.Path, body)
		}
		calls = append(calls, r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:])
		switch p["chat_id"] {
		case float64(429):
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}`)
		case float64(403):
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}`)
		case float64(400):
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1001}}`)
		default:
			io.WriteString(w, `{"ok":true,"result":{"message_id":77,"date":1,"chat":{"id":42,"type":"private"},"text":"hi"}}`)
		}
	}))
	defer srv.Close()
	a, _ := setup(t, func(c *Config) { c.APIURL = srv.URL })
	ctx := context.Background()
	msg := flows.Message{Text: "hi", Keyboard: [][]flows.Button{{{Label: "1", Data: "1|q|1"}}}}

	if id, err := a.Send(ctx, "42", msg); err != nil || id != 77 {
		t.Fatalf("Send = %d, %v; want message 77", id, err)
	}
	var limited *bot.RateLimitedError
	if _, err := a.Send(ctx, "429", msg); !errors.As(err, &limited) || limited.RetryAfter.Seconds() != 7 {
		t.Errorf("a 429: %v, want RateLimitedError of 7s", err)
	}
	if _, err := a.Send(ctx, "403", msg); !errors.Is(err, bot.ErrBlocked) {
		t.Errorf("a 403: %v, want ErrBlocked", err)
	}
	if _, err := a.Send(ctx, "400", msg); !errors.Is(err, flows.ErrInvalid) {
		t.Errorf("a migrated group: %v, want ErrInvalid", err)
	}
	if err := a.CloseQuestion(ctx, "42", 77, ""); err != nil {
		t.Errorf("CloseQuestion: %v", err)
	}
	if err := a.CloseQuestion(ctx, "42", 77, "1"); err != nil {
		t.Errorf("CloseQuestion with text: %v", err)
	}
	if err := a.AnswerTap(ctx, "tap-1", ""); err != nil {
		t.Errorf("AnswerTap: %v", err)
	}
	want := "sendMessage sendMessage sendMessage sendMessage editMessageReplyMarkup editMessageText answerCallbackQuery"
	if got := strings.Join(calls, " "); got != want {
		t.Errorf("calls %s\nwant  %s", got, want)
	}

	srv.Close() // unreachable now: the error says so without the token
	if _, err := a.Send(ctx, "42", msg); !errors.Is(err, flows.ErrUnavailable) || strings.Contains(err.Error(), token) {
		t.Errorf("an unreachable API: %v, want ErrUnavailable without the token", err)
	}
}
