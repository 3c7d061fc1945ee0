package telegram

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/flows"
)

const maxWebhookBody = 1 << 20

// WebhookHandler receives Telegram's webhook posts. It answers 2xx only once
// h has handled the update (or cxbot has nothing to do with it), so Telegram
// redelivers anything that did not become durable:
//
//   - not POST → 405; wrong or missing X-Telegram-Bot-Api-Secret-Token → 401,
//     h not called; body over 1 MiB → 413; malformed JSON or no update_id → 400
//   - h returns nil → 200; an error wrapping flows.ErrUnavailable or a
//     *bot.RateLimitedError (a reply the platform throttled) → 503;
//     flows.ErrInvalid → 200 and a log line; any other error → 500
//   - updates cxbot does not handle (edited messages, service messages,
//     group updates when h is no DeskHandler…) → 200
//
// Group updates go to h's HandleDeskUpdate (h a DeskHandler), mapped the same way.
func (a *Adapter) WebhookHandler(h Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeStatus(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		// Without a configured secret nothing can be authenticated: refuse all.
		got := r.Header.Get("X-Telegram-Bot-Api-Secret-Token")
		if a.cfg.WebhookSecret == "" || subtle.ConstantTimeCompare([]byte(got), []byte(a.cfg.WebhookSecret)) != 1 {
			a.log.Warn("telegram webhook: wrong or missing secret token", "remote_addr", r.RemoteAddr)
			writeStatus(w, http.StatusUnauthorized, "wrong or missing secret token")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeStatus(w, http.StatusRequestEntityTooLarge, "body larger than 1 MiB")
				return
			}
			writeStatus(w, http.StatusBadRequest, "cannot read body")
			return
		}
		var wu wireUpdate
		if err := json.Unmarshal(body, &wu); err != nil {
			writeStatus(w, http.StatusBadRequest, "malformed update JSON: "+err.Error())
			return
		}
		if wu.UpdateID == nil {
			writeStatus(w, http.StatusBadRequest, "update without update_id")
			return
		}

		// The answer to a tapped button rides on the webhook's own reply
		// (one Bot API method may), saving a call on the customer's path.
		reply := &webhookReply{}
		updateID := strconv.FormatInt(*wu.UpdateID, 10)
		chatID, handled, ignored, err := a.dispatch(withWebhookReply(r.Context(), reply), h, wu)
		if !handled {
			a.log.Debug("telegram update ignored", "update_id", updateID, "reason", ignored)
			writeStatus(w, http.StatusOK, "")
			return
		}
		var limited *bot.RateLimitedError
		if errors.As(err, &limited) {
			// Telegram ignores the header, but a proxy or a person reading
			// the logs learns how long the platform asked us to wait.
			w.Header().Set("Retry-After", strconv.Itoa(int(max(limited.RetryAfter.Round(time.Second), time.Second)/time.Second)))
		}
		switch {
		case err == nil && reply.method != nil:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_ = json.NewEncoder(w).Encode(reply.method)
		case err == nil:
			writeStatus(w, http.StatusOK, "")
		case errors.Is(err, flows.ErrUnavailable), limited != nil:
			a.log.Warn("telegram update not handled, Telegram will redeliver", "update_id", updateID, "chat_id", chatID, "err", err)
			writeStatus(w, http.StatusServiceUnavailable, "temporarily unavailable")
		case errors.Is(err, flows.ErrInvalid):
			// A poison update: handling it again would fail again, and Telegram
			// redelivers every non-2xx answer for hours, holding back the
			// chat's later updates. Acknowledge it and leave the trace here.
			a.log.Error("telegram update rejected and dropped", "update_id", updateID, "chat_id", chatID, "err", err)
			writeStatus(w, http.StatusOK, "")
		default:
			a.log.Error("telegram update failed, Telegram will redeliver", "update_id", updateID, "chat_id", chatID, "err", err)
			writeStatus(w, http.StatusInternalServerError, "internal error")
		}
	})
}

// writeStatus answers {"ok":true} for 2xx and {"ok":false,"error":…} otherwise.
func writeStatus(w http.ResponseWriter, status int, problem string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if status < 300 {
		_, _ = io.WriteString(w, `{"ok":true}`+"\n")
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": problem})
}

// webhookReply holds the one Bot API method a webhook answer may carry.
type webhookReply struct {
	mu     sync.Mutex
	method any // nil: none yet
}

// take claims the reply for method; false when it carries one already.
func (r *webhookReply) take(method any) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.method != nil {
		return false
	}
	r.method = method
	return true
}

type webhookReplyKey struct{}

func withWebhookReply(ctx context.Context, r *webhookReply) context.Context {
	return context.WithValue(ctx, webhookReplyKey{}, r)
}

func webhookReplyFrom(ctx context.Context) *webhookReply {
	r, _ := ctx.Value(webhookReplyKey{}).(*webhookReply)
	return r
}

// answerCallbackMethod is answerCallbackQuery as a webhook answer.
type answerCallbackMethod struct {
	Method          string `json:"method"`
	CallbackQueryID string `json:"callback_query_id"`
	Text            string `json:"text,omitempty"`
}
