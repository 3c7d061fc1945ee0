package wechattest

import (
	"net/url"
	"testing"
	"time"
)

func TestUnverifiedAccountRefusesMenus(t *testing.T) {
	s := New(appID, appSecret, WithUnverifiedAccount())
	t.Cleanup(s.Close)
	tok, _ := stableToken(t, s, false)
	menu := map[string]any{"touser": "o-1", "msgtype": "msgmenu", "msgmenu": map[string]any{
		"head_content": "?", "list": []map[string]string{{"id": "a", "content": "A"}}}}
	if got := errcode(call(t, s, PathCustomSend, url.Values{"access_token": {tok}}, menu)); got != CodeMenuUnauthorized {
		t.Fatalf("msgmenu from an unverified account: errcode %d, want 40200", got)
	}
	q, body := text(tok, "o-1", "hi")
	if got := errcode(call(t, s, PathCustomSend, q, body)); got != 0 {
		t.Fatalf("text from an unverified account: errcode %d", got)
	}
	if n := len(s.Sent("o-1")); n != 1 {
		t.Fatalf("%d messages recorded, want the text only", n)
	}
}

// Grants count separately, the one expiring first is used first, and each
// runs out on its own.
func TestCustomerQuotaCountsAsWeChat(t *testing.T) {
	clk := &testClock{t: time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)}
	s := New(appID, appSecret, WithCustomerQuota(), WithClock(clk.now), WithTokenTTL(100*time.Hour))
	t.Cleanup(s.Close)
	tok, _ := stableToken(t, s, false)
	q, body := text(tok, "o-1", "hi")
	send := func() int { return errcode(call(t, s, PathCustomSend, q, body)) }
	if got := send(); got != CodeCustomerQuota {
		t.Fatalf("send before the user wrote: errcode %d, want 45047", got)
	}
	s.UserWrote("o-1")
	s.UserFollowed("o-1")
	if got := s.Quota("o-1"); got != MessageGrant+FollowGrant {
		t.Fatalf("quota = %d, want %d", got, MessageGrant+FollowGrant)
	}
	if got := send(); got != 0 {
		t.Fatalf("send: errcode %d", got)
	}
	if got := s.Quota("o-1"); got != MessageGrant+FollowGrant-1 {
		t.Fatalf("quota after one send = %d", got)
	}
	clk.advance(2 * time.Minute) // the follow's grant (2 left) is gone, the message's is whole
	if got := s.Quota("o-1"); got != MessageGrant {
		t.Fatalf("quota after the follow's minute = %d, want %d (the follow's grant used first)", got, MessageGrant)
	}
	for range MessageGrant {
		if got := send(); got != 0 {
			t.Fatalf("send: errcode %d", got)
		}
	}
	if got := send(); got != CodeCustomerQuota {
		t.Fatalf("send beyond the quota: errcode %d, want 45047", got)
	}
	// Templates are not counted.
	tmpl := map[string]any{"touser": "o-1", "template_id": "T", "data": map[string]any{}}
	if got := errcode(call(t, s, PathTemplateSend, url.Values{"access_token": {tok}}, tmpl)); got != 0 {
		t.Fatalf("template with the quota spent: errcode %d", got)
	}
	s.UserWrote("o-1")
	clk.advance(MessageGrantTTL)
	if got := send(); got != CodeCustomerQuota {
		t.Fatalf("send 48h after the message: errcode %d, want 45047", got)
	}
}
