package wechat

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/cxbot/cxbot/bot/wechat/wechattest"
	"github.com/cxbot/cxbot/flows"
)

// TestWebhookRefusesStaleAndReplayedPushes: in every mode a push stamped
// more than 5 minutes from now, or reusing a nonce another push carried,
// gets 403 and reaches no handler, whichever replica it is sent to; the
// same push again (WeChat's retry) still goes through.
func TestWebhookRefusesStaleAndReplayedPushes(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := setup(t, func(c *Config) { c.AESKey = m.aesKey })
			ctx := testCtx(t)
			rec := &recorder{}
			url := webhookServer(t, e.a, rec)
			other := webhookServer(t, e.another(t), rec) // another replica, same nonce store
			in := inbound(e, m.mode)
			now := e.clock.Now().Unix()
			stamp := func(d time.Duration) string { return strconv.FormatInt(now+int64(d/time.Second), 10) }

			refused := map[string]wechattest.Request{
				"1970":                 in.Restamp(in.Unsubscribe(openID), "1", "1234567890"),
				"6 minutes ago":        in.Restamp(in.Unsubscribe(openID), stamp(-6*time.Minute), "1234567891"),
				"6 minutes ahead":      in.Restamp(in.Unsubscribe(openID), stamp(6*time.Minute), "1234567892"),
				"not a number":         in.Restamp(in.Unsubscribe(openID), "soon", "1234567893"),
				"a huge number":        in.Restamp(in.Unsubscribe(openID), "99999999999999999999", "1234567894"),
				"negative":             in.Restamp(in.Unsubscribe(openID), "-"+stamp(0), "1234567895"),
				"an overlong nonce":    in.Restamp(in.Unsubscribe(openID), stamp(0), string(make([]byte, 65))),
				"5 minutes and 1s ago": in.Restamp(in.Unsubscribe(openID), stamp(-5*time.Minute-time.Second), "1234567896"),
			}
			for name, req := range refused {
				if status, body, err := in.Deliver(ctx, url, req); err != nil || status != http.StatusForbidden {
					t.Errorf("%s: %d %q %v, want 403", name, status, body, err)
				}
			}

			// A push at the edge of the window is taken; the same push again
			// is WeChat retrying it, and goes through to the update's dedupe.
			genuine := in.Restamp(in.Text(openID, "9"), stamp(-4*time.Minute), "2222222222")
			for i := range 2 {
				if status, body, err := in.Deliver(ctx, url, genuine); err != nil || status != http.StatusOK || body != "success" {
					t.Fatalf("genuine push, delivery %d: %d %q %v", i+1, status, body, err)
				}
			}
			// Its timestamp and nonce with another body: a replay, on either replica.
			for name, target := range map[string]string{"same replica": url, "other replica": other} {
				forged := in.Restamp(in.Unsubscribe(openID), genuine.Query.Get("timestamp"), genuine.Query.Get("nonce"))
				if status, body, err := in.Deliver(ctx, target, forged); err != nil || status != http.StatusForbidden || body != "replayed nonce" {
					t.Errorf("replayed nonce with a forged body (%s): %d %q %v, want 403", name, status, body, err)
				}
			}
			calls := rec.snapshot()
			if len(calls) != 2 || calls[0].Text != "9" || calls[1].UpdateID != calls[0].UpdateID {
				t.Fatalf("handler calls %+v; want the genuine push twice and nothing else", calls)
			}
			for _, u := range calls {
				if u.Blocked {
					t.Fatalf("a refused unsubscribe reached the handler: %+v", u)
				}
			}
		})
	}
}

// TestWebhookNonceStoreDown: without the shared nonce store a push cannot be
// checked, so it is refused with 500 and WeChat retries it later.
func TestWebhookNonceStoreDown(t *testing.T) {
	e := setup(t, nil)
	rec := &recorder{}
	url := webhookServer(t, e.a, rec)
	in := inbound(e, wechattest.Plaintext)
	push := in.Text(openID, "9")
	e.kv.setFail(errors.Join(flows.ErrUnavailable, errors.New("redis down")))
	if status, body, err := in.Deliver(testCtx(t), url, push); err != nil || status != http.StatusInternalServerError {
		t.Fatalf("nonce store down: %d %q %v, want 500", status, body, err)
	}
	if calls := rec.snapshot(); len(calls) != 0 {
		t.Fatalf("handler called: %+v", calls)
	}
	e.kv.setFail(nil)
	if status, body, err := in.Deliver(testCtx(t), url, push); err != nil || status != http.StatusOK {
		t.Fatalf("the retry once the store is back: %d %q %v", status, body, err)
	}
}
