package main

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/cxbot/cxbot/bot/wechat/wechattest"
	"github.com/cxbot/cxbot/flows"
)

// TestWeChatReplayedAndStalePushesChangeNothing is the attack from the
// hardening issue, end to end on each stack and mode: a forged unsubscribe
// signed for 1970, or reusing the timestamp and nonce of a push cxbot took,
// is refused with 403 and the customer stays subscribed and reachable.
func TestWeChatReplayedAndStalePushesChangeNothing(t *testing.T) {
	for _, st := range stacks(t) {
		for _, mode := range []wechattest.Mode{wechattest.Plaintext, wechattest.Compatible, wechattest.Safe} {
			t.Run(st.name+"/"+mode.String(), func(t *testing.T) {
				h := startWeChat(t, st, mode)
				const customer = "o-victim"
				if code := h.inviteWX("post_purchase_nps", "WX-V", customer); code != http.StatusCreated {
					t.Fatalf("invite: %d", code)
				}
				h.wxSent(customer, 1)
				answer := h.in.Text(customer, "9")
				h.push(answer)
				h.wxSent(customer, 2)

				now := time.Now().Unix()
				forged := map[string]wechattest.Request{
					"signed for 1970":   h.in.Restamp(h.in.Unsubscribe(customer), "1", "1111111111"),
					"10 minutes old":    h.in.Restamp(h.in.Unsubscribe(customer), strconv.FormatInt(now-600, 10), "1111111112"),
					"replayed nonce":    h.in.Restamp(h.in.Unsubscribe(customer), answer.Query.Get("timestamp"), answer.Query.Get("nonce")),
					"replayed, 2 votes": h.in.Restamp(h.in.Text(customer, "0"), answer.Query.Get("timestamp"), answer.Query.Get("nonce")),
				}
				for name, req := range forged {
					if code, body := h.deliverWX(req); code != http.StatusForbidden {
						t.Errorf("%s: %d %q, want 403", name, code, body)
					}
				}
				h.push(answer) // WeChat's retry of the genuine push: accepted, applied once
				c, err := h.app.db.CustomerByRef(context.Background(), "WX-V")
				if err != nil || c.OptedOutAt != nil || c.UnreachableAt != nil {
					t.Fatalf("customer after forged pushes: %+v %v; want subscribed and reachable", c, err)
				}
				if n := len(h.wx.Sent(customer)); n != 2 {
					t.Errorf("customer got %d messages, want 2 (question, follow-up)", n)
				}
				if _, _, err := h.app.db.IdentityByExternal(context.Background(), flows.ChannelWeChat, customer); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}
