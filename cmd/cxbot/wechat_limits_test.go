package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cxbot/cxbot/bot/wechat/wechattest"
)

// A test or unverified account (msgmenu answers 40200) runs its surveys as
// typed prompts: the refusal is learned once, and the answers typed as
// digits are stored as taps would be.
func TestWeChatUnverifiedAccountTypedPrompts(t *testing.T) {
	st := stacks(t)[len(stacks(t))-1]
	h := startWeChatAccount(t, st, wechattest.Plaintext, []wechattest.Option{wechattest.WithUnverifiedAccount(), wechattest.WithCustomerQuota()})
	h.in = wechattest.NewInbound(wxToken, wxAppID, wxAESKey, wechattest.Plaintext, wechattest.WithPlatform(h.wx))
	const openID = "o-unverified"
	h.push(h.in.Subscribe(openID, ""))
	h.wxSent(openID, 1)
	h.inviteWX("post_service_csat", "WX-U1", openID)
	csat := h.wxSent(openID, 2)[1]
	if csat.Kind != "text" || !strings.Contains(csat.Text, "1  2  3  4  5\n（请回复数字）") {
		t.Fatalf("CSAT on an unverified account: %s %q, want a typed prompt", csat.Kind, csat.Text)
	}
	h.push(h.in.Text(openID, "5"))
	ces := h.wxSent(openID, 3)[2]
	if ces.Kind != "text" || !strings.Contains(ces.Text, "（请回复") {
		t.Fatalf("CES on an unverified account: %s %q, want a typed prompt", ces.Kind, ces.Text)
	}
	h.push(h.in.Text(openID, "1"))
	h.wxSent(openID, 4)
	h.push(h.in.Text(openID, "跳过"))
	h.wxSent(openID, 5)
	answers := h.answersOf("WX-U1")
	if len(answers) != 3 || *answers[0].Score != 5 || *answers[1].Score != 1 || !answers[2].Skipped {
		t.Fatalf("answers typed on an unverified account: %+v", answers)
	}
	// One refused menu, then every keyboard as text: 5 messages, 6 calls.
	if got := h.wx.Calls(wechattest.PathCustomSend); got != 6 {
		t.Errorf("%d custom sends for 5 messages, want 6 (the 40200 is learned once)", got)
	}
}

// WeChat's quota (5 messages per customer message) holds for an agent's
// relays: beyond it the agent hears why, the metric counts it, and the
// customer's next message opens it again. An invitation meanwhile goes as
// a template message.
func TestWeChatQuotaSpentRelaysAndInvitations(t *testing.T) {
	st := stacks(t)[len(stacks(t))-1]
	h := startWeChatAccount(t, st, wechattest.Plaintext, []wechattest.Option{wechattest.WithCustomerQuota()})
	h.in = wechattest.NewInbound(wxToken, wxAppID, wxAESKey, wechattest.Plaintext, wechattest.WithPlatform(h.wx))
	var agent struct {
		ID int64 `json:"id"`
	}
	if code := h.api("POST", "/api/v1/agents", map[string]any{"telegram_user_id": 601, "name": "Li"}, &agent); code != http.StatusCreated {
		t.Fatalf("add agent: %d", code)
	}
	const openID = "o-quota"
	h.push(h.in.Subscribe(openID, ""))
	h.wxSent(openID, 1)
	h.inviteWX("post_purchase_nps", "WX-Q1", openID)
	h.wxSent(openID, 2)
	h.push(h.in.Text(openID, "2"))
	h.wxSent(openID, 3)
	h.push(h.in.Text(openID, "物流太慢了")) // grants 5; the handoff message uses one
	h.wxSent(openID, 4)
	id := caseID(t, h.harness)
	if code := h.api("POST", fmt.Sprintf("/api/v1/handoffs/%d/claim", id), map[string]any{"agent_id": agent.ID}, nil); code != http.StatusOK {
		t.Fatalf("claim: %d", code)
	}
	reply := func(text string) (int, string) {
		var out struct {
			Error string `json:"error"`
		}
		code := h.api("POST", fmt.Sprintf("/api/v1/handoffs/%d/reply", id), map[string]any{"agent_id": agent.ID, "text": text}, &out)
		return code, out.Error
	}
	for i := range 4 {
		if code, msg := reply(fmt.Sprintf("reply %d", i+1)); code != http.StatusCreated {
			t.Fatalf("relay %d: %d %s", i+1, code, msg)
		}
	}
	code, msg := reply("one too many")
	if code != http.StatusConflict || !strings.Contains(msg, "quota") || !strings.Contains(msg, "customer writes") {
		t.Fatalf("relay beyond the quota: %d %q, want 409 naming the quota", code, msg)
	}
	if n := len(h.wx.Sent(openID)); n != 8 {
		t.Fatalf("WeChat accepted %d messages, want 8", n)
	}
	if got := h.wx.Calls(wechattest.PathCustomSend); got != 8 {
		t.Errorf("%d custom sends, want 8: the spent quota is known before calling WeChat", got)
	}
	series, _ := scrape(t, h.harness)
	if v := series[`cxbot_sends_total{channel="wechat",outcome="quota_spent"}`]; v != 1 {
		t.Errorf(`cxbot_sends_total{channel="wechat",outcome="quota_spent"} = %v, want 1`, v)
	}

	// Within the 48-hour window but without quota, an invitation is a
	// template. (While an agent works the case no survey starts: close it
	// first; its closing message cannot go either.)
	if code := h.api("POST", fmt.Sprintf("/api/v1/handoffs/%d/resolve", id), map[string]any{"outcome": "resolved"}, nil); code != http.StatusOK {
		t.Fatalf("resolve: %d", code)
	}
	if code := h.inviteWX("post_service_csat", "WX-Q1", openID); code != http.StatusCreated {
		t.Fatalf("invitation after the case: %d", code)
	}
	if tmpl := h.wxSent(openID, 9)[8]; tmpl.Kind != "template" {
		t.Fatalf("invitation with the quota spent: %+v, want a template message", tmpl)
	}

	// The customer writes again: that grants quota, and the survey answers.
	before := len(h.wx.Sent(openID))
	h.push(h.in.Text(openID, "5"))
	if got := h.wxSent(openID, before+1)[before]; got.Kind == "template" {
		t.Fatalf("after the customer wrote: %+v, want a customer-service message", got)
	}
}
