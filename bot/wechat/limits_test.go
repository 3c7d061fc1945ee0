package wechat

import (
	"errors"
	"testing"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/bot/wechat/wechattest"
	"github.com/cxbot/cxbot/flows"
)

// An unverified account answers 40200 to a msgmenu: the first keyboard is
// re-sent as a typed prompt, and later ones (on this replica and another
// sharing the cache) go as text at once, until the refusal's day is over.
func TestUnverifiedAccountGetsTypedPrompts(t *testing.T) {
	e := setup(t, nil, wechattest.WithUnverifiedAccount())
	ctx := testCtx(t)
	choice := flows.Message{Text: "What went wrong?", Keyboard: [][]flows.Button{buttons("Delivery", "Price")}}
	wantText := "What went wrong?\n\n1. Delivery\n2. Price\n（请回复选项前的数字）"

	if _, err := e.a.Send(ctx, openID, choice); err != nil {
		t.Fatal(err)
	}
	if got := e.fake.Calls(wechattest.PathCustomSend); got != 2 {
		t.Fatalf("%d custom sends, want 2 (the refused menu, then the text)", got)
	}
	sent := e.fake.Sent(openID)
	if len(sent) != 1 || sent[0].Kind != "text" || sent[0].Text != wantText {
		t.Fatalf("sent %+v, want one text %q", sent, wantText)
	}

	// Remembered: no menu is tried again, here or by another replica.
	csat := flows.Message{Text: "How satisfied are you?", Keyboard: [][]flows.Button{buttons("1", "2", "3", "4", "5")}}
	if _, err := e.a.Send(ctx, openID, csat); err != nil {
		t.Fatal(err)
	}
	if _, err := e.another(t).Send(ctx, openID, choice); err != nil {
		t.Fatal(err)
	}
	if got := e.fake.Calls(wechattest.PathCustomSend); got != 4 {
		t.Fatalf("%d custom sends, want 4 (no second menu attempt)", got)
	}
	sent = e.fake.Sent(openID)
	if m := sent[1]; m.Kind != "text" || m.Text != "How satisfied are you?\n\n1  2  3  4  5\n（请回复数字）" {
		t.Fatalf("CSAT sent as %s %q", m.Kind, m.Text)
	}
	if m := sent[2]; m.Kind != "text" || m.Text != wantText {
		t.Fatalf("the other replica sent %s %q", m.Kind, m.Text)
	}

	// A day later one menu is tried again (the account may be verified now).
	e.clock.Advance(menuRefusalTTL + time.Second)
	if _, err := e.another(t).Send(ctx, openID, choice); err != nil {
		t.Fatal(err)
	}
	if got := e.fake.Calls(wechattest.PathCustomSend); got != 6 {
		t.Fatalf("%d custom sends, want 6 (a new menu attempt, then text)", got)
	}
}

// A verified account keeps its menus: a refusal of another kind is not
// remembered.
func TestOtherMenuRefusalNotRemembered(t *testing.T) {
	e := setup(t, nil)
	ctx := testCtx(t)
	choice := flows.Message{Text: "What went wrong?", Keyboard: [][]flows.Button{buttons("Delivery", "Price")}}
	e.fake.FailNext(wechattest.PathCustomSend, openID, wechattest.CodeDataFormat, "")
	for range 2 {
		if _, err := e.a.Send(ctx, openID, choice); err != nil {
			t.Fatal(err)
		}
	}
	sent := e.fake.Sent(openID)
	if len(sent) != 2 || sent[0].Kind != "text" || sent[1].Kind != "msgmenu" {
		t.Fatalf("sent %+v, want text (fallback) then msgmenu", sent)
	}
}

// The quota, counted as WeChat does: 5 sends per message for 48 hours, 3
// per follow for a minute. Beyond it Send fails with bot.ErrQuotaSpent
// (and ErrOutsideWindow) without calling WeChat; a new message opens it again.
func TestQuotaCountedPerCustomerMessage(t *testing.T) {
	q := newMemQuota(nil)
	e := setup(t, func(c *Config) { q.now = c.Now; c.Quota = q }, wechattest.WithCustomerQuota())
	ctx := testCtx(t)
	in := wechattest.NewInbound(token, appID, aesKey, wechattest.Plaintext,
		wechattest.WithInboundClock(e.clock.Now), wechattest.WithPlatform(e.fake))
	url := webhookServer(t, e.a, &recorder{})
	deliver := func(req wechattest.Request) {
		t.Helper()
		if status, body, err := in.Deliver(ctx, url, req); err != nil || status != 200 {
			t.Fatalf("deliver: %d %q %v", status, body, err)
		}
	}
	send := func(text string) error {
		_, err := e.a.Send(ctx, openID, flows.Message{Text: text})
		return err
	}

	if err := send("before any message"); !errors.Is(err, bot.ErrQuotaSpent) || !errors.Is(err, ErrOutsideWindow) {
		t.Fatalf("send before the customer wrote: %v, want ErrQuotaSpent and ErrOutsideWindow", err)
	}
	if got := e.fake.Calls(wechattest.PathCustomSend); got != 0 {
		t.Fatalf("%d custom sends, want none: the spent quota is known", got)
	}

	deliver(in.Subscribe(openID, ""))
	for i := range wechattest.FollowGrant {
		if err := send("welcome"); err != nil {
			t.Fatalf("send %d after a follow: %v", i+1, err)
		}
	}
	if err := send("fourth"); !errors.Is(err, bot.ErrQuotaSpent) {
		t.Fatalf("fourth send after a follow: %v, want ErrQuotaSpent", err)
	}

	deliver(in.Text(openID, "hello"))
	e.clock.Advance(47 * time.Hour)
	for i := range wechattest.MessageGrant {
		if err := send("reply"); err != nil {
			t.Fatalf("send %d after a message: %v", i+1, err)
		}
	}
	if err := send("sixth"); !errors.Is(err, bot.ErrQuotaSpent) {
		t.Fatalf("sixth send after a message: %v, want ErrQuotaSpent", err)
	}
	if got, want := len(e.fake.Sent(openID)), wechattest.FollowGrant+wechattest.MessageGrant; got != want {
		t.Fatalf("WeChat accepted %d messages, want %d", got, want)
	}
	if got := e.fake.Quota(openID); got != 0 {
		t.Fatalf("fake's quota left = %d, want 0 (cxbot counted the same)", got)
	}

	// After 48 hours a message's grant is gone.
	deliver(in.Text(openID, "again"))
	e.clock.Advance(48*time.Hour + time.Second)
	if err := send("late"); !errors.Is(err, bot.ErrQuotaSpent) {
		t.Fatalf("send 48h after the message: %v, want ErrQuotaSpent", err)
	}
}

// WeChat's own 45047 (its count and cxbot's disagree) is ErrQuotaSpent too,
// and empties cxbot's counter so the next send does not call WeChat.
func TestQuota45047EmptiesCounter(t *testing.T) {
	q := newMemQuota(nil)
	e := setup(t, func(c *Config) { q.now = c.Now; c.Quota = q })
	ctx := testCtx(t)
	if err := q.GrantQuota(ctx, e.a.quotaKey(openID), 5, time.Hour); err != nil {
		t.Fatal(err)
	}
	e.fake.FailNext(wechattest.PathCustomSend, openID, wechattest.CodeCustomerQuota, "")
	if _, err := e.a.Send(ctx, openID, flows.Message{Text: "one"}); !errors.Is(err, bot.ErrQuotaSpent) || !errors.Is(err, ErrOutsideWindow) {
		t.Fatalf("45047: %v, want ErrQuotaSpent and ErrOutsideWindow", err)
	}
	if _, err := e.a.Send(ctx, openID, flows.Message{Text: "two"}); !errors.Is(err, bot.ErrQuotaSpent) {
		t.Fatalf("after 45047: %v, want ErrQuotaSpent", err)
	}
	if got := e.fake.Calls(wechattest.PathCustomSend); got != 1 {
		t.Fatalf("%d custom sends, want 1", got)
	}
	// Template messages are not customer-service messages: no quota.
	if err := e.a.SendTemplate(ctx, openID, "TPL", "", map[string]string{"first": "hi"}); err != nil {
		t.Fatalf("template with the quota spent: %v", err)
	}
}
