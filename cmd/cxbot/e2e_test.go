package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/cxbot/cxbot/bot/telegram/telegramtest"
	"github.com/cxbot/cxbot/flows"
)

func eachStackAndMode(t *testing.T, fn func(t *testing.T, h *harness)) {
	for _, st := range stacks(t) {
		for _, webhook := range []bool{true, false} {
			mode := map[bool]string{true: "webhook", false: "polling"}[webhook]
			t.Run(st.name+"/"+mode, func(t *testing.T) {
				fn(t, start(t, st, options{webhook: webhook}))
			})
		}
	}
}

// eachStack runs fn on every stack, cxbot in webhook mode.
func eachStack(t *testing.T, fn func(t *testing.T, h *harness)) {
	for _, st := range stacks(t) {
		t.Run(st.name, func(t *testing.T) { fn(t, start(t, st, options{webhook: true})) })
	}
}

func buttonLabels(kb [][]telegramtest.Button) [][]string {
	var out [][]string
	for _, row := range kb {
		var r []string
		for _, b := range row {
			r = append(r, b.Text)
		}
		out = append(out, r)
	}
	return out
}

// A detractor and a promoter take post_purchase_nps over real HTTP: each
// gets the right messages, answers are stored, the detractor is handed off
// with a notice to the agents' chat, and the report counts both.
func TestDetractorAndPromoterThroughNPS(t *testing.T) {
	eachStackAndMode(t, func(t *testing.T, h *harness) {
		const promoter, detractor = 1001, 1002
		h.invite("post_purchase_nps", "C-promoter", promoter, "en")
		h.invite("post_purchase_nps", "C-detractor", detractor, "zh-CN")

		first := h.waitSent(promoter, 1)[0]
		if !strings.Contains(first.Text, "Thanks for your recent purchase") || !strings.Contains(first.Text, "How likely") {
			t.Errorf("promoter's first message: %q", first.Text)
		}
		if got := fmt.Sprint(buttonLabels(first.Keyboard)); got != "[[0 1 2 3 4 5] [6 7 8 9 10]]" {
			t.Errorf("NPS keyboard = %s, want 0–10 on two rows", got)
		}
		if zh := h.waitSent(detractor, 1)[0].Text; !strings.Contains(zh, "推荐") {
			t.Errorf("detractor asked in zh-CN? %q", zh)
		}

		// Promoter taps 9: thanked, keyboard closed, tap acknowledged.
		h.tap(promoter, "9")
		sent := h.waitSent(promoter, 2)
		if !strings.Contains(sent[1].Text, "Thank you") {
			t.Errorf("promoter's last message: %q", sent[1].Text)
		}
		if len(h.tg.Sent(promoter)[0].Keyboard) != 0 {
			t.Error("the answered NPS keyboard is still tappable")
		}
		if len(h.tg.CallbackAnswers()) == 0 {
			t.Error("the tap was not answered (answerCallbackQuery)")
		}

		// Detractor taps 3, is asked what went wrong, writes, is handed off.
		h.tap(detractor, "3")
		if q := h.waitSent(detractor, 2)[1].Text; !strings.Contains(q, "哪里让您失望") {
			t.Errorf("detractor's follow-up: %q", q)
		}
		if n := len(h.tg.Sent(agentChat)); n != 0 {
			t.Errorf("agents notified before the comment: %d notices", n)
		}
		h.say(detractor, "快递太慢了，包装也破了", "zh-CN")
		if last := h.waitSent(detractor, 3)[2].Text; !strings.Contains(last, "工作人员会尽快") {
			t.Errorf("detractor's handoff message: %q", last)
		}
		notice := h.waitSent(agentChat, 1)[0].PlainText()
		for _, want := range []string{"C-detractor", "· telegram", "post_purchase_nps", "NPS 3/10", "快递太慢了", "order_id=ord-C-detractor"} {
			if !strings.Contains(notice, want) {
				t.Errorf("agent notice lacks %q:\n%s", want, notice)
			}
		}

		// Stored answers, handoff row and report.
		var handoffs struct {
			Handoffs []struct {
				CustomerRef     string `json:"customer_ref"`
				Comment, Status string
				Score           int
			}
		}
		if code := h.api("GET", "/api/v1/handoffs", nil, &handoffs); code != http.StatusOK || len(handoffs.Handoffs) != 1 {
			t.Fatalf("handoffs: %d %+v", code, handoffs)
		}
		if hf := handoffs.Handoffs[0]; hf.CustomerRef != "C-detractor" || hf.Score != 3 || hf.Comment != "快递太慢了，包装也破了" || hf.Status != string(flows.HandoffOpen) {
			t.Errorf("handoff row: %+v", hf)
		}
		answers := h.answersOf("C-detractor")
		if len(answers) != 2 || *answers[0].Score != 3 || answers[0].Class != flows.ClassDetractor || answers[1].Text != "快递太慢了，包装也破了" {
			t.Errorf("detractor's stored answers: %+v", answers)
		}
		if r := h.nps("post_purchase_nps"); r != (npsReport{Responses: 2, Promoters: 1, Detractors: 1, NPS: 0}) {
			t.Errorf("report = %+v", r)
		}
	})
}

// answersOf reads a customer's stored answers straight from SQL.
func (h *harness) answersOf(ref string) []flows.Answer {
	h.t.Helper()
	ctx := context.Background()
	customer, err := h.app.db.CustomerByRef(ctx, ref)
	if err != nil {
		h.t.Fatal(err)
	}
	responses, err := h.app.db.CustomerResponses(ctx, customer.ID, 1)
	if err != nil || len(responses) == 0 {
		h.t.Fatalf("responses of %s: %v %v", ref, responses, err)
	}
	resp := responses[0]
	answers, err := h.app.db.Answers(ctx, resp.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return answers
}

// A redelivered update, even several at once, is applied exactly once.
func TestRedeliveredUpdateChangesNothing(t *testing.T) {
	eachStack(t, func(t *testing.T, h *harness) {
		const chat = 2001
		h.invite("post_purchase_nps", "C-2001", chat, "en")
		h.waitSent(chat, 1)
		tap, err := h.tg.TapButton(chat, "10")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		codes := make([]int, 5)
		for i := range codes {
			wg.Add(1)
			go func() { defer wg.Done(); codes[i] = h.deliver(tap) }()
		}
		wg.Wait()
		if code := h.deliver(tap); code != http.StatusOK {
			t.Fatalf("late redelivery answered %d", code)
		}
		for i, c := range codes {
			if c != http.StatusOK {
				t.Errorf("concurrent delivery %d answered %d", i, c)
			}
		}
		if n := len(h.tg.Sent(chat)); n != 2 {
			t.Errorf("chat got %d messages, want 2 (question, thanks)", n)
		}
		if answers := h.answersOf("C-2001"); len(answers) != 1 {
			t.Errorf("stored %d answers, want 1", len(answers))
		}
		if r := h.nps("post_purchase_nps"); r.Responses != 1 || r.Promoters != 1 {
			t.Errorf("report = %+v", r)
		}
	})
}

// A webhook call without the right secret gets 401 and changes nothing.
func TestForgedWebhookIsRefused(t *testing.T) {
	eachStack(t, func(t *testing.T, h *harness) {
		const chat = 3001
		h.invite("post_purchase_nps", "C-3001", chat, "en")
		h.waitSent(chat, 1)
		forged, _ := h.tg.TapButton(chat, "0")
		ctx := context.Background()
		for _, secret := range []string{"", "wrong-secret", testSecret + "x"} {
			code, err := h.tg.Deliver(ctx, h.base+"/telegram/webhook", secret, forged)
			if err != nil || code != http.StatusUnauthorized {
				t.Errorf("secret %q: got %d %v, want 401", secret, code, err)
			}
		}
		if n := len(h.tg.Sent(chat)); n != 1 {
			t.Errorf("forged tap caused %d messages", n-1)
		}
		if answers := h.answersOf("C-3001"); len(answers) != 0 {
			t.Errorf("forged tap stored %d answers", len(answers))
		}
		// The real customer can still answer the same question.
		h.tap(chat, "8")
		if answers := h.answersOf("C-3001"); len(answers) != 1 || *answers[0].Score != 8 {
			t.Errorf("answers after the real tap: %+v", answers)
		}
	})
}

// Out-of-range and unreadable answers get a re-prompt with the valid range;
// typed numbers in other forms work.
func TestWrongAnswerGetsReprompt(t *testing.T) {
	eachStackAndMode(t, func(t *testing.T, h *harness) {
		const chat = 4001
		h.invite("post_purchase_nps", "C-4001", chat, "en")
		h.waitSent(chat, 1)
		h.say(chat, "11", "en")
		reprompt := h.waitSent(chat, 2)[1]
		if !strings.Contains(reprompt.Text, "0") || !strings.Contains(reprompt.Text, "10") || len(reprompt.Keyboard) != 2 {
			t.Errorf("re-prompt should show 0–10 and the keyboard again: %q %v", reprompt.Text, buttonLabels(reprompt.Keyboard))
		}
		if answers := h.answersOf("C-4001"); len(answers) != 0 {
			t.Errorf("an invalid answer was stored: %+v", answers)
		}
		h.say(chat, "seven", "en") // a passive: asked what would make it a 10
		if q := h.waitSent(chat, 3)[2].Text; !strings.Contains(q, "make it a 10") {
			t.Errorf("after 'seven': %q", q)
		}
		h.say(chat, "skip", "en")
		h.waitSent(chat, 4)
		answers := h.answersOf("C-4001")
		if len(answers) != 2 || *answers[0].Score != 7 || answers[0].Class != flows.ClassPassive || !answers[1].Skipped {
			t.Errorf("answers: %+v", answers)
		}
	})
}

// /stop opts out for good: invitations are refused and nothing is sent,
// until the customer writes /start again.
func TestStopStopsInvitations(t *testing.T) {
	eachStack(t, func(t *testing.T, h *harness) {
		const chat = 5001
		h.invite("post_purchase_nps", "C-5001", chat, "en")
		h.waitSent(chat, 1)
		h.say(chat, "/stop", "en")
		if msg := h.waitSent(chat, 2)[1].Text; !strings.Contains(msg, "won't receive any more surveys") {
			t.Errorf("stop reply: %q", msg)
		}
		// The open conversation ended: a tap on its keyboard changes nothing.
		h.tap(chat, "2")
		if answers := h.answersOf("C-5001"); len(answers) != 0 {
			t.Errorf("answer stored after /stop: %+v", answers)
		}
		var body map[string]string
		code := h.api("POST", "/api/v1/invitations", map[string]any{"survey": "post_service_csat", "customer_ref": "C-5001", "telegram_chat_id": chat}, &body)
		if code != http.StatusConflict || !strings.Contains(body["error"], "opted out") {
			t.Errorf("invitation after /stop: %d %v", code, body)
		}
		before := len(h.tg.Sent(chat))
		h.say(chat, "退订", "zh-CN") // saying it again is harmless
		h.waitSent(chat, before+1)
		h.say(chat, "/start", "en")
		if msg := h.waitSent(chat, before+2)[before+1].Text; !strings.Contains(msg, "Welcome back") {
			t.Errorf("resume reply: %q", msg)
		}
		h.invite("post_service_csat", "C-5001", chat, "en")
	})
}

// TestDeepLinkLinksChatToCustomer: /start <token> links the chat to the
// business's reference; a forged token is refused politely.
func TestDeepLinkLinksChatToCustomer(t *testing.T) {
	h := start(t, stacks(t)[0], options{webhook: true})
	var link struct{ Token string }
	if code := h.api("POST", "/api/v1/links", map[string]string{"customer_ref": "VIP-7"}, &link); code != http.StatusCreated || link.Token == "" {
		t.Fatalf("links: %d %+v", code, link)
	}
	const chat = 6001
	h.say(chat, "/start "+link.Token, "en")
	h.waitSent(chat, 1)
	_, customer, err := h.app.db.IdentityByExternal(context.Background(), flows.ChannelTelegram, "6001")
	if err != nil || customer.Ref != "VIP-7" {
		t.Fatalf("chat linked to %+v, %v; want VIP-7", customer, err)
	}
	forged := link.Token[:len(link.Token)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(link.Token, "A")]
	h.say(6002, "/start "+forged, "en")
	if msg := h.waitSent(6002, 1)[0].Text; msg == h.tg.Sent(chat)[0].Text {
		t.Errorf("forged token got the linked greeting: %q", msg)
	}
	if _, c, err := h.app.db.IdentityByExternal(context.Background(), flows.ChannelTelegram, "6002"); err == nil && c.Ref == "VIP-7" {
		t.Error("forged token linked the chat")
	}
}

// 403 from Telegram marks the customer unreachable; a my_chat_member
// "kicked" update does too.
func TestBlockedBotMarksCustomerUnreachable(t *testing.T) {
	h := start(t, stacks(t)[0], options{webhook: true})
	h.tg.Block(7001)
	var body map[string]string
	code := h.api("POST", "/api/v1/invitations", map[string]any{"survey": "post_purchase_nps", "customer_ref": "C-7001", "telegram_chat_id": 7001}, &body)
	if code != http.StatusConflict || !strings.Contains(body["error"], "blocked") {
		t.Fatalf("invite to a blocked chat: %d %v", code, body)
	}
	c, _ := h.app.db.CustomerByRef(context.Background(), "C-7001")
	if c.UnreachableAt == nil {
		t.Error("customer not marked unreachable after 403")
	}

	h.invite("post_purchase_nps", "C-7002", 7002, "en")
	h.send(h.tg.BlockedUpdate(7002))
	c, _ = h.app.db.CustomerByRef(context.Background(), "C-7002")
	if c.UnreachableAt == nil {
		t.Error("customer not marked unreachable after my_chat_member kicked")
	}
}
