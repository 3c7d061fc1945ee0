package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cxbot/cxbot/bot/telegram/telegramtest"
	"github.com/cxbot/cxbot/bot/wechat/wechattest"
	"github.com/cxbot/cxbot/webhooks"
)

// The handoff desk end to end, over real HTTP between cxbot and the fake
// Bot API: a detractor's case is claimed in the agents' group (a forum, so
// it gets a topic; or a plain group, threaded by replies), worked both ways
// with a photo, resolved, followed up, and counted as recovered.

const forumChat = -1001234567890123

type caseJSON struct {
	ID            int64  `json:"id"`
	Status        string `json:"status"`
	ClaimedByName string `json:"claimed_by_name"`
	Outcome       string `json:"outcome"`
	Recovered     *bool  `json:"recovered"`
	RecoveryScore *int   `json:"recovery_score"`
	Messages      []struct {
		Author    string `json:"author"`
		Text      string `json:"text"`
		PhotoID   string `json:"photo_id"`
		Delivered bool   `json:"delivered"`
	} `json:"messages"`
}

func TestDeskEndToEnd(t *testing.T) {
	t.Parallel() // slow and self-contained (own database, Redis prefix, fakes, ports): runs beside the other slow ones
	for _, forum := range []bool{true, false} {
		name := map[bool]string{true: "forum topic", false: "reply threading"}[forum]
		t.Run(name, func(t *testing.T) {
			st := stacks(t)[len(stacks(t))-1]
			chat := int64(agentChat)
			tg := telegramtest.New(testBotToken)
			t.Cleanup(tg.Close)
			if forum {
				chat = forumChat
				tg.MakeForum(chat)
			}
			crm := newHookReceiver(t)
			h := start(t, st, options{webhook: true, tg: tg, env: map[string]string{
				"CXBOT_WEBHOOK_URL":            crm.srv.URL,
				"CXBOT_WEBHOOK_SECRET":         testWebhookSecret,
				"CXBOT_TELEGRAM_AGENT_CHAT":    fmt.Sprint(chat),
				"CXBOT_AGENT_LANGUAGE":         "en",
				"CXBOT_HANDOFF_FOLLOWUP_DELAY": "1s",
				"CXBOT_DESK_SWEEP":             "@every 1s",
			}})
			var agent struct {
				ID int64 `json:"id"`
			}
			if code := h.api("POST", "/api/v1/agents", map[string]any{"telegram_user_id": 501, "name": "Anna"}, &agent); code != http.StatusCreated {
				t.Fatalf("add agent: %d", code)
			}
			anna, stranger := telegramtest.NewUser(501, "Anna"), telegramtest.NewUser(777, "Mallory")

			const customer = 4242
			h.invite("post_purchase_nps", "VIP-1", customer, "en")
			h.waitSent(customer, 1)
			h.tap(customer, "2")
			h.waitSent(customer, 2)
			h.say(customer, "Late again\nContext: refund_approved=yes", "en")
			if last := h.waitSent(customer, 3)[2].Text; !strings.Contains(last, "contact you") {
				t.Fatalf("handoff message %q", last)
			}
			notice := h.waitSent(chat, 1)[0]
			plain := notice.PlainText()
			if !strings.Contains(plain, "VIP-1") || !strings.Contains(plain, "NPS 2/10") || !strings.Contains(notice.Text, "<blockquote>Late again\nContext: refund_approved=yes</blockquote>") {
				t.Fatalf("notice %q", notice.Text)
			}
			claim := notice.Keyboard[0][0]
			if claim.Text != "Claim" {
				t.Fatalf("notice buttons %+v", notice.Keyboard)
			}

			// A member who is not an agent is refused; nothing changes.
			h.send(tg.GroupTapUpdate(chat, stranger, notice.MessageID, claim.CallbackData))
			answers := tg.CallbackAnswers()
			if len(answers) == 0 || !strings.Contains(answers[len(answers)-1].Text, "only registered agents") {
				t.Fatalf("stranger's tap answered %+v", answers)
			}
			var c caseJSON
			h.api("GET", "/api/v1/handoffs?status=open", nil, &struct{}{})

			// Anna claims.
			h.send(tg.GroupTapUpdate(chat, anna, notice.MessageID, claim.CallbackData))
			h.waitFor("the notice shows the owner", func() bool {
				for _, m := range tg.Sent(chat) {
					if m.MessageID == notice.MessageID {
						return strings.Contains(m.PlainText(), "Claimed by Anna") && len(m.Keyboard) == 1 && m.Keyboard[0][0].Text == "Resolve"
					}
				}
				return false
			})
			thread, replyTo := 0, notice.MessageID
			if forum {
				topics := tg.Topics(chat)
				if len(topics) != 1 || !strings.Contains(topics[0].Name, "VIP-1") {
					t.Fatalf("topics %+v", topics)
				}
				thread, replyTo = topics[0].ThreadID, 0
			}

			// Anna writes and sends a photo; the customer gets both.
			h.send(tg.GroupTextUpdate(chat, anna, "We are sending a new one today.", thread, replyTo))
			h.send(tg.GroupPhotoUpdate(chat, anna, "label-photo", "the label", thread, replyTo))
			got := h.waitSent(customer, 5)
			if got[3].Text != "Anna: We are sending a new one today." || got[4].PhotoID != "label-photo" {
				t.Fatalf("customer got %+v", got[3:])
			}
			// The customer answers, in words and a photo; both reach the thread.
			before := len(tg.Sent(chat))
			h.say(customer, "Thank you!", "en")
			h.send(tg.PhotoUpdate(customer, "broken-box", "the box"))
			inThread := h.waitSent(chat, before+2)[before:]
			for _, m := range inThread {
				if forum && m.ThreadID != thread || !forum && m.ReplyTo != notice.MessageID {
					t.Fatalf("customer's words outside the case's thread: %+v", m)
				}
			}
			if !strings.Contains(inThread[0].PlainText(), "Thank you!") || inThread[1].PhotoID != "broken-box" {
				t.Fatalf("thread got %+v", inThread)
			}

			// Resolve: outcomes, then the closing message.
			resolve := tg.Sent(chat)[0].Keyboard[0][0]
			h.send(tg.GroupTapUpdate(chat, anna, notice.MessageID, resolve.CallbackData))
			var resolved telegramtest.Button
			h.waitFor("outcome buttons", func() bool {
				kb := tg.Sent(chat)[0].Keyboard
				if len(kb) == 4 {
					resolved = kb[0][0]
				}
				return len(kb) == 4
			})
			h.send(tg.GroupTapUpdate(chat, anna, notice.MessageID, resolved.CallbackData))
			closing := h.waitSent(customer, 6)[5]
			if !strings.Contains(closing.Text, "resolved") {
				t.Fatalf("closing message %q", closing.Text)
			}
			// The follow-up comes after the delay; the customer taps 5.
			followUp := h.waitSent(customer, 7)[6]
			if !strings.Contains(followUp.Text, "Did we fix it?") || len(followUp.Keyboard) == 0 {
				t.Fatalf("follow-up %+v", followUp)
			}
			h.tap(customer, "5")
			h.waitFor("recovered", func() bool {
				h.api("GET", fmt.Sprintf("/api/v1/handoffs/%d", caseID(t, h)), nil, &c)
				return c.Recovered != nil
			})
			if !*c.Recovered || *c.RecoveryScore != 5 || c.Status != "resolved" || c.Outcome != "resolved" || c.ClaimedByName != "Anna" {
				t.Fatalf("case %+v", c)
			}
			authors := map[string]int{}
			for _, m := range c.Messages {
				authors[m.Author]++
			}
			if authors["agent"] != 2 || authors["customer"] != 2 || authors["system"] < 2 {
				t.Fatalf("thread %+v", c.Messages)
			}

			// The business's CRM heard of each step, signed.
			want := []string{"response.completed", "handoff.opened", "handoff.claimed", "handoff.resolved", "handoff.recovered"}
			seen := map[string]int{}
			poll(t, "every webhook", func() bool {
				clear(seen)
				for _, r := range crm.requests() {
					if err := webhooks.Verify(testWebhookSecret, r.header.Get("X-Cxbot-Timestamp"), r.body, r.header.Get("X-Cxbot-Signature")); err != nil {
						t.Fatalf("%s webhook with a bad signature: %v", r.header.Get("X-Cxbot-Event"), err)
					}
					seen[r.header.Get("X-Cxbot-Event")]++
				}
				return len(seen) == len(want)
			})
			for _, e := range want {
				if seen[e] != 1 {
					t.Errorf("the CRM got %d %s webhooks, want 1 (all: %v)", seen[e], e, seen)
				}
			}
		})
	}
}

// caseID is the id of the only case.
func caseID(t *testing.T, h *harness) int64 {
	t.Helper()
	var list struct {
		Handoffs []struct {
			ID int64 `json:"id"`
		} `json:"handoffs"`
	}
	if code := h.api("GET", "/api/v1/handoffs", nil, &list); code != http.StatusOK || len(list.Handoffs) != 1 {
		t.Fatalf("handoffs: %d %+v", code, list)
	}
	return list.Handoffs[0].ID
}

// A WeChat customer's case worked from the Telegram agents' group.
func TestDeskWeChatCaseFromTelegram(t *testing.T) {
	st := stacks(t)[len(stacks(t))-1]
	h := startWeChat(t, st, wechattest.Safe, map[string]string{"CXBOT_AGENT_LANGUAGE": "zh-CN"})
	if code := h.api("POST", "/api/v1/agents", map[string]any{"telegram_user_id": 501, "name": "小王"}, nil); code != http.StatusCreated {
		t.Fatalf("add agent: %d", code)
	}
	anna := telegramtest.NewUser(501, "小王")
	const openID = "o-desk-1"
	h.push(h.in.Subscribe(openID, ""))
	h.wxSent(openID, 1)
	h.inviteWX("post_purchase_nps", "WX-9", openID)
	h.wxSent(openID, 2)
	h.push(h.in.Text(openID, "2"))
	h.wxSent(openID, 3)
	h.push(h.in.Text(openID, "物流太慢了"))
	h.wxSent(openID, 4)
	notice := h.waitSent(agentChat, 1)[0]
	if !strings.Contains(notice.PlainText(), "WX-9") || notice.Keyboard[0][0].Text != "认领" {
		t.Fatalf("notice %q %+v", notice.Text, notice.Keyboard)
	}
	h.send(h.tg.GroupTapUpdate(agentChat, anna, notice.MessageID, notice.Keyboard[0][0].CallbackData))
	h.send(h.tg.GroupTextUpdate(agentChat, anna, "您好，我们马上为您处理", 0, notice.MessageID))
	if got := h.wxSent(openID, 5)[4]; got.Kind != "text" || got.Text != "小王: 您好，我们马上为您处理" {
		t.Fatalf("WeChat customer got %+v", got)
	}
	before := len(h.tg.Sent(agentChat))
	h.push(h.in.Text(openID, "你好，有人吗？我还在等回复"))
	h.push(h.in.Image(openID, "media-7"))
	inThread := h.waitSent(agentChat, before+2)[before:]
	if !strings.Contains(inThread[0].PlainText(), "我还在等回复") || inThread[0].ReplyTo != notice.MessageID || inThread[1].PhotoID == "" {
		t.Fatalf("thread got %+v", inThread)
	}
	if n := len(h.wx.Sent(openID)); n != 5 {
		t.Fatalf("the survey engine answered the customer's words: %d messages", n)
	}
}
