package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/bot/wechat/wechattest"
	"github.com/cxbot/cxbot/flows"
)

const (
	wxAppID  = "wx5823bf96d3bd56c7"
	wxSecret = "wx-test-secret"
	wxToken  = "QDG6eK"
	wxAESKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
)

// wxHarness is cxbot with both channels: customers on a fake WeChat API,
// agents' notices in the fake Telegram's agent chat.
type wxHarness struct {
	*harness
	wx *wechattest.Server
	in *wechattest.Inbound
}

func startWeChat(t *testing.T, st stack, mode wechattest.Mode, extra ...map[string]string) *wxHarness {
	t.Helper()
	return startWeChatAccount(t, st, mode, nil, extra...)
}

// startWeChatAccount is startWeChat on a fake made with opts (an unverified
// account, WeChat's message quota…).
func startWeChatAccount(t *testing.T, st stack, mode wechattest.Mode, opts []wechattest.Option, extra ...map[string]string) *wxHarness {
	t.Helper()
	wx := wechattest.New(wxAppID, wxSecret, opts...)
	t.Cleanup(wx.Close)
	env := map[string]string{
		"CXBOT_WECHAT_APP_ID": wxAppID, "CXBOT_WECHAT_APP_SECRET": wxSecret, "CXBOT_WECHAT_TOKEN": wxToken,
		"CXBOT_WECHAT_API_URL": wx.URL(),
	}
	if mode != wechattest.Plaintext {
		env["CXBOT_WECHAT_AES_KEY"] = wxAESKey
	}
	for _, e := range extra {
		env = merged(env, e)
	}
	h := start(t, st, options{webhook: true, env: env})
	return &wxHarness{harness: h, wx: wx, in: wechattest.NewInbound(wxToken, wxAppID, wxAESKey, mode)}
}

// push delivers a callback as WeChat would and expects "success".
func (h *wxHarness) push(req wechattest.Request) {
	h.t.Helper()
	if code, body := h.deliverWX(req); code != http.StatusOK || body != "success" {
		h.t.Fatalf("callback answered %d %q", code, body)
	}
}

func (h *wxHarness) deliverWX(req wechattest.Request) (int, string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, body, err := h.in.Deliver(ctx, h.base+"/wechat", req)
	if err != nil {
		h.t.Fatal(err)
	}
	return code, body
}

func (h *wxHarness) wxSent(openID string, n int) []wechattest.SentMessage {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sent, err := h.wx.WaitSent(ctx, openID, n)
	if err != nil {
		h.t.Fatalf("%s: waiting for %d messages, have %d: %v", openID, n, len(h.wx.Sent(openID)), err)
	}
	return sent
}

func (h *wxHarness) inviteWX(survey, ref, openID string) int {
	h.t.Helper()
	var body map[string]any
	return h.api("POST", "/api/v1/invitations", map[string]any{
		"survey": survey, "customer_ref": ref, "wechat_openid": openID, "language": "zh-CN",
		"context": map[string]string{"order_id": "wx-" + ref},
	}, &body)
}

func TestWeChatLoop(t *testing.T) {
	for _, st := range stacks(t) {
		for _, mode := range []wechattest.Mode{wechattest.Plaintext, wechattest.Compatible, wechattest.Safe} {
			t.Run(st.name+"/"+mode.String(), func(t *testing.T) {
				h := startWeChat(t, st, mode)
				const detractor, tapper, stranger = "o-detractor", "o-tapper", "o-stranger"

				// Following the account greets and opens the 48-hour window.
				h.push(h.in.Subscribe(detractor, ""))
				if got := h.wxSent(detractor, 1)[0]; got.Kind != "text" || !strings.Contains(got.Text, "您好") {
					t.Errorf("greeting: %+v", got)
				}

				// NPS (11 options, more than a WeChat menu holds) is answered by typing, full-width digits too.
				if code := h.inviteWX("post_purchase_nps", "WX-1", detractor); code != http.StatusCreated {
					t.Fatalf("invite: %d", code)
				}
				if q := h.wxSent(detractor, 2)[1]; !strings.Contains(q.Text+q.HeadContent, "推荐") {
					t.Errorf("first question: %+v", q)
				}
				score := h.in.Text(detractor, "３")
				h.push(score)
				h.push(score) // WeChat retries a slow callback: nothing happens twice
				if q := h.wxSent(detractor, 3)[2]; !strings.Contains(q.Text, "哪里让您失望") {
					t.Errorf("follow-up: %+v", q)
				}
				h.push(h.in.Text(detractor, "快递太慢了 😡"))
				if last := h.wxSent(detractor, 4)[3]; !strings.Contains(last.Text, "工作人员") {
					t.Errorf("handoff message: %+v", last)
				}
				if n := len(h.wx.Sent(detractor)); n != 4 {
					t.Errorf("detractor got %d messages, want 4", n)
				}
				notice := h.waitSent(agentChat, 1)[0].PlainText()
				for _, want := range []string{"WX-1", "· wechat", "NPS 3/10", "快递太慢了 😡", "order_id=wx-WX-1"} {
					if !strings.Contains(notice, want) {
						t.Errorf("agent notice lacks %q:\n%s", want, notice)
					}
				}

				// CSAT and CES come as tappable menus.
				h.push(h.in.Subscribe(tapper, ""))
				h.wxSent(tapper, 1)
				h.inviteWX("post_service_csat", "WX-2", tapper)
				menu := h.wxSent(tapper, 2)[1]
				if menu.Kind != "msgmenu" || len(menu.Menu) != 5 {
					t.Fatalf("CSAT should be a 5-item menu: %+v", menu)
				}
				h.push(h.in.MenuTap(tapper, menu.Menu[4].ID, menu.Menu[4].Content))
				ces := h.wxSent(tapper, 3)[2]
				if ces.Kind != "msgmenu" || len(ces.Menu) != 7 {
					t.Fatalf("CES should be a 7-item menu: %+v", ces)
				}
				h.push(h.in.MenuTap(tapper, ces.Menu[0].ID, ces.Menu[0].Content))
				h.wxSent(tapper, 4)
				h.push(h.in.Text(tapper, "跳过"))
				if last := h.wxSent(tapper, 5)[4]; last.Kind != "text" {
					t.Errorf("thanks: %+v", last)
				}
				answers := h.answersOf("WX-2")
				if len(answers) != 3 || *answers[0].Score != 5 || *answers[1].Score != 1 || !answers[2].Skipped {
					t.Errorf("tapper's answers: %+v", answers)
				}

				// Outside the window the invitation goes as a template message; a reply answers it.
				h.inviteWX("post_purchase_nps", "WX-3", stranger)
				tmpl := h.wxSent(stranger, 1)[0]
				if tmpl.Kind != "template" || tmpl.TemplateID != "REPLACE_WITH_TEMPLATE_ID" || !strings.Contains(tmpl.TemplateData["remark"], "0–10") {
					t.Fatalf("template invitation: %+v", tmpl)
				}
				h.push(h.in.Text(stranger, "10"))
				if thanks := h.wxSent(stranger, 2)[1]; !strings.Contains(thanks.Text, "感谢") {
					t.Errorf("thanks after the template: %+v", thanks)
				}

				if r := h.nps("post_purchase_nps"); r != (npsReport{Responses: 2, Promoters: 1, Detractors: 1, NPS: 0}) {
					t.Errorf("report: %+v", r)
				}

				// A forged callback is refused and changes nothing.
				forged := h.in.Text(detractor, "10").With("signature", strings.Repeat("0", 40))
				if mode != wechattest.Plaintext {
					forged = forged.With("msg_signature", strings.Repeat("0", 40))
				}
				if code, _ := h.deliverWX(forged); code != http.StatusForbidden {
					t.Errorf("forged callback: %d, want 403", code)
				}
				if n := len(h.wx.Sent(detractor)); n != 4 {
					t.Errorf("forged callback caused messages: %d", n)
				}

				// Unfollowing opts out: no more invitations.
				h.push(h.in.Unsubscribe(tapper))
				if code := h.inviteWX("post_purchase_nps", "WX-2", tapper); code != http.StatusConflict {
					t.Errorf("invitation after unsubscribe: %d, want 409", code)
				}
				c, _ := h.app.db.CustomerByRef(context.Background(), "WX-2")
				if c.OptedOutAt == nil {
					t.Error("unsubscribe did not opt out")
				}
			})
		}
	}
}

// A parametric QR code's scene links the follower to the business's customer.
func TestWeChatQRSceneLinksCustomer(t *testing.T) {
	h := startWeChat(t, stacks(t)[0], wechattest.Safe)
	var link struct{ Token string }
	if code := h.api("POST", "/api/v1/links", map[string]string{"customer_ref": "VIP-WX"}, &link); code != http.StatusCreated {
		t.Fatalf("links: %d", code)
	}
	h.push(h.in.Subscribe("o-vip", link.Token))
	h.wxSent("o-vip", 1)
	_, customer, err := h.app.db.IdentityByExternal(context.Background(), flows.ChannelWeChat, "o-vip")
	if err != nil || customer.Ref != "VIP-WX" {
		t.Fatalf("follower linked to %+v, %v", customer, err)
	}
	h.push(h.in.Text("o-vip", "退订"))
	c, _ := h.app.db.CustomerByRef(context.Background(), "VIP-WX")
	if c.OptedOutAt == nil {
		t.Error("退订 did not opt out")
	}
}

// A wave reaches WeChat customers too: a follower inside the 48-hour window
// gets the question as a customer-service message, one outside it a template.
func TestWaveOnWeChat(t *testing.T) {
	wave := `
id: wx_wave
survey: post_service_csat
trigger: {touchpoint: ticket_closed, delay: 1m}
schedule: "@every 1s"
channels: [wechat, telegram]
`
	h := startWeChat(t, stacks(t)[0], wechattest.Safe, map[string]string{
		"CXBOT_CONFIG_DIR": configWithWaves(t, map[string]string{"wx.yaml": wave}), "CXBOT_WECHAT_RATE": "5/s",
	})
	h.push(h.in.Subscribe("o-inside", "")) // writes first: window open
	h.wxSent("o-inside", 1)
	_, err := h.app.db.SaveEvents(context.Background(), []flows.Event{
		{ID: "t-1", CustomerRef: "T-1", Touchpoint: "ticket_closed", OccurredAt: time.Now().Add(-time.Hour), WeChatOpenID: "o-inside", TelegramChatID: "9901"},
		{ID: "t-2", CustomerRef: "T-2", Touchpoint: "ticket_closed", OccurredAt: time.Now().Add(-time.Hour), WeChatOpenID: "o-outside"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if q := h.wxSent("o-inside", 2)[1]; q.Kind != "msgmenu" || len(q.Menu) != 5 {
		t.Errorf("inside the window: %+v", q)
	}
	if m := h.wxSent("o-outside", 1)[0]; m.Kind != "template" {
		t.Errorf("outside the window: %+v", m)
	}
	if n := len(h.tg.Sent(9901)); n != 0 {
		t.Errorf("the wave preferred WeChat but sent %d Telegram messages", n)
	}
}
