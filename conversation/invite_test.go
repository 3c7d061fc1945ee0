package conversation_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/conversation"
	"github.com/cxbot/cxbot/flows"
)

func TestInviteValidation(t *testing.T) {
	for _, tc := range []struct {
		name    string
		req     conversation.InviteRequest
		is      error
		want    []string
		notWant string
	}{
		{"empty", conversation.InviteRequest{}, flows.ErrInvalid,
			[]string{"survey is required", "customer_ref is required", "a chat is required"}, ""},
		{"no chat", conversation.InviteRequest{SurveyID: "nps", CustomerRef: "C-1", Channel: tg}, flows.ErrInvalid,
			[]string{"a chat is required"}, "survey is required"},
		{"blank ref", conversation.InviteRequest{SurveyID: "nps", CustomerRef: "  ", Channel: tg, ChatID: "42"}, flows.ErrInvalid,
			[]string{"customer_ref is required"}, "chat"},
		{"unknown survey", conversation.InviteRequest{SurveyID: "gone", CustomerRef: "C-1", Channel: tg, ChatID: "42"}, flows.ErrNotFound,
			[]string{`"gone"`}, ""},
		{"channel not configured", conversation.InviteRequest{SurveyID: "nps", CustomerRef: "C-1", Channel: "line", ChatID: "42"}, flows.ErrUnavailable,
			[]string{"line"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			_, created, err := h.svc.Invite(h.ctx, tc.req)
			if !errors.Is(err, tc.is) || created {
				t.Fatalf("Invite = %v, created %v; want %v", err, created, tc.is)
			}
			mustContain(t, "error", err.Error(), tc.want...)
			if tc.notWant != "" && strings.Contains(err.Error(), tc.notWant) {
				t.Errorf("error %q names %q, which was given", err, tc.notWant)
			}
			if h.records.invitationCount() != 0 || h.tg.callCount() != 0 {
				t.Error("an invalid request was stored or sent")
			}
		})
	}
}

func TestInviteSendsTheFirstQuestion(t *testing.T) {
	h := newHarness(t)
	mark := h.log.len()
	inv, created, err := h.svc.Invite(h.ctx, conversation.InviteRequest{
		SurveyID: "nps", CustomerRef: "C-1", Channel: tg, ChatID: "42", Language: "en", Context: map[string]string{"order": "A-1"},
	})
	if err != nil || !created {
		t.Fatalf("Invite = %v, created %v", err, created)
	}
	if inv.WaveID != flows.WaveAPI || !strings.HasPrefix(inv.EventID, "api-") || inv.Status != flows.InvitationSent || inv.SentAt == nil {
		t.Errorf("invitation %+v, want an API invitation with a generated event id, sent", inv)
	}
	stored := h.records.invitation(inv.ID)
	if stored.Status != flows.InvitationSent || stored.SentAt == nil || !stored.SentAt.Equal(h.clock.Now()) || stored.Context["order"] != "A-1" {
		t.Errorf("stored invitation %+v", stored)
	}
	sent := h.tg.sent("42")
	if len(sent) != 1 {
		t.Fatalf("sent %+v, want the first question", sent)
	}
	m := sent[0].Message
	if m.Text != "Hi there!\n\nHow likely are you to recommend us?" || m.QuestionID != "nps" || !m.Broadcast || len(m.Keyboard) != 2 {
		t.Errorf("first message %+v, want intro + question, a broadcast, 0–10 on two rows", m)
	}
	resp := h.records.responseOf(inv.ID)
	st := h.mustState(tg, "42")
	if st.InvitationID != inv.ID || st.ResponseID != resp.ID || st.QuestionID != "nps" || st.PromptMessageID != sent[0].MessageID || st.Language != "en" {
		t.Errorf("state %+v, want invitation %d, response %d, prompt %d", st, inv.ID, resp.ID, sent[0].MessageID)
	}
	if ttl := h.states.stateTTL(tg, "42"); ttl != 72*time.Hour {
		t.Errorf("state TTL %s", ttl)
	}
	if resp.Status != flows.ResponseStarted || resp.Language != "en" {
		t.Errorf("response %+v", resp)
	}
	if id, ok := h.records.identity(tg, "42"); !ok || id.CustomerID != h.records.customer("C-1").ID {
		t.Errorf("chat 42 linked to %+v", id)
	}
	order(t, h.log.since(mark), "redis.Begin", "sql.CreateInvitation", "sql.StartResponse", "telegram.Send", "sql.SetInvitationStatus", "redis.End")
}

func TestInviteUsesTheCustomersKnownLanguage(t *testing.T) {
	h := newHarness(t)
	if _, err := h.records.UpsertCustomer(h.ctx, "C-1", "zh-CN"); err != nil {
		t.Fatal(err)
	}
	h.inviteTo(conversation.InviteRequest{SurveyID: "nps", CustomerRef: "C-1", Channel: tg, ChatID: "42"})
	if got := h.tg.lastSent(t, "42").Message.Text; got != "您好！\n\n您有多大可能推荐我们？" {
		t.Errorf("first message %q, want Chinese", got)
	}
}

func TestInviteRespectsConsent(t *testing.T) {
	for _, tc := range []struct {
		name string
		mark func(h *harness, c flows.Customer) error
		want string
	}{
		{"opted out", func(h *harness, c flows.Customer) error { return h.records.OptOut(h.ctx, c.ID, h.clock.Now()) }, "opted out"},
		{"blocked", func(h *harness, c flows.Customer) error { return h.records.MarkUnreachable(h.ctx, c.ID, h.clock.Now()) }, "blocked the bot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			c, _ := h.records.UpsertCustomer(h.ctx, "C-1", "")
			if err := tc.mark(h, c); err != nil {
				t.Fatal(err)
			}
			_, _, err := h.svc.Invite(h.ctx, conversation.InviteRequest{SurveyID: "nps", CustomerRef: "C-1", Channel: tg, ChatID: "42"})
			if !errors.Is(err, flows.ErrConflict) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Invite = %v, want ErrConflict %q", err, tc.want)
			}
			if h.records.invitationCount() != 0 || h.tg.callCount() != 0 {
				t.Error("a customer without consent was invited")
			}
		})
	}
}

func TestInviteIsIdempotentByEventID(t *testing.T) {
	h := newHarness(t)
	req := conversation.InviteRequest{SurveyID: "nps", CustomerRef: "C-1", Channel: tg, ChatID: "42", EventID: "order-7"}
	first := h.inviteTo(req)
	again, created, err := h.svc.Invite(h.ctx, req)
	if err != nil || created || again.ID != first.ID {
		t.Errorf("repeat = %+v, created %v, %v; want invitation %d, not created", again, created, err, first.ID)
	}
	if n := len(h.tg.sent("42")); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
	// Another event while the first survey runs: never interrupted.
	req.EventID = "order-8"
	if _, _, err := h.svc.Invite(h.ctx, req); !errors.Is(err, flows.ErrConflict) || !strings.Contains(err.Error(), "in progress") {
		t.Errorf("Invite during a survey = %v, want ErrConflict", err)
	}
	if h.records.invitationCount() != 1 {
		t.Errorf("%d invitations, want 1", h.records.invitationCount())
	}
}

func TestInviteRetriesAFailedInvitation(t *testing.T) {
	h := newHarness(t)
	req := conversation.InviteRequest{SurveyID: "nps", CustomerRef: "C-1", Channel: tg, ChatID: "42", EventID: "order-7"}
	h.tg.Fail = failSend(errTransient, 1)
	inv, _, err := h.svc.Invite(h.ctx, req)
	if !errors.Is(err, errTransient) || !strings.Contains(err.Error(), "send invitation") {
		t.Fatalf("Invite = %v, want the send error", err)
	}
	if got := h.records.invitation(inv.ID); got.Status != flows.InvitationFailed || !strings.Contains(got.Error, "connection reset") {
		t.Errorf("invitation %+v, want failed with the error", got)
	}
	h.noState(tg, "42")

	again, created, err := h.svc.Invite(h.ctx, req)
	if err != nil || !created || again.ID != inv.ID {
		t.Fatalf("retry = %+v, created %v, %v; want invitation %d sent again", again, created, err, inv.ID)
	}
	if got := h.records.invitation(inv.ID); got.Status != flows.InvitationSent || got.Error != "" {
		t.Errorf("invitation %+v after the retry, want sent", got)
	}
	if st := h.mustState(tg, "42"); st.InvitationID != inv.ID {
		t.Errorf("state %+v", st)
	}
}

func TestInviteThrottle(t *testing.T) {
	errPaused := errors.New("channel paused")
	var asked []flows.Channel
	throttle := func(ctx context.Context, ch flows.Channel) error {
		asked = append(asked, ch)
		if ch == wx {
			return errPaused
		}
		return nil
	}
	h := newHarness(t, func(c *conversation.Config) { c.Throttle = throttle })
	h.invite("42", "C-1")
	_, _, err := h.svc.Invite(h.ctx, conversation.InviteRequest{SurveyID: "nps", CustomerRef: "C-2", Channel: wx, ChatID: "o-1"})
	if !errors.Is(err, errPaused) {
		t.Errorf("Invite on a paused channel = %v", err)
	}
	if len(asked) != 2 || asked[0] != tg || asked[1] != wx {
		t.Errorf("throttle asked for %v", asked)
	}
	if h.records.invitationCount() != 1 || h.wx.callCount() != 0 {
		t.Error("a refused invitation was stored or sent")
	}
}

func TestInviteBlockedSend(t *testing.T) {
	h := newHarness(t)
	h.tg.Fail = failSend(bot.ErrBlocked, -1)
	inv, _, err := h.svc.Invite(h.ctx, conversation.InviteRequest{SurveyID: "nps", CustomerRef: "C-1", Channel: tg, ChatID: "42"})
	if !errors.Is(err, flows.ErrConflict) || !strings.Contains(err.Error(), "blocked") {
		t.Errorf("Invite = %v, want ErrConflict blocked", err)
	}
	if h.records.customer("C-1").UnreachableAt == nil {
		t.Error("the customer is not marked unreachable")
	}
	if got := h.records.invitation(inv.ID).Status; got != flows.InvitationFailed {
		t.Errorf("invitation %s, want failed", got)
	}
	h.noState(tg, "42")
}

func TestInviteRecordingErrors(t *testing.T) {
	t.Run("the failure cannot be recorded", func(t *testing.T) {
		h := newHarness(t)
		h.tg.Fail = failSend(errTransient, 1)
		h.records.Fail = failOn("SetInvitationStatus", errors.New("sql down"), -1)
		_, _, err := h.svc.Invite(h.ctx, conversation.InviteRequest{SurveyID: "nps", CustomerRef: "C-1", Channel: tg, ChatID: "42"})
		if !errors.Is(err, errTransient) || !strings.Contains(err.Error(), "sql down") {
			t.Errorf("Invite = %v, want both errors", err)
		}
	})
	t.Run("the send cannot be recorded", func(t *testing.T) {
		h := newHarness(t)
		h.records.Fail = failOn("SetInvitationStatus", errTransient, -1)
		_, _, err := h.svc.Invite(h.ctx, conversation.InviteRequest{SurveyID: "nps", CustomerRef: "C-1", Channel: tg, ChatID: "42"})
		if !errors.Is(err, errTransient) {
			t.Errorf("Invite = %v, want the SQL error", err)
		}
		// It went out: the conversation is saved all the same.
		if st := h.mustState(tg, "42"); st.QuestionID != "nps" {
			t.Errorf("state %+v", st)
		}
	})
	t.Run("the state cannot be saved", func(t *testing.T) {
		h := newHarness(t)
		h.expectHeld = []string{"42"}
		h.states.Fail = failOn("End", errTransient, 1)
		inv, created, err := h.svc.Invite(h.ctx, conversation.InviteRequest{SurveyID: "nps", CustomerRef: "C-1", Channel: tg, ChatID: "42"})
		if err != nil || !created {
			t.Errorf("Invite = %v, created %v: it went out and is recorded as sent, so it must not be reported failed", err, created)
		}
		if got := h.records.invitation(inv.ID).Status; got != flows.InvitationSent {
			t.Errorf("invitation %s", got)
		}
		h.logged("invitation sent but its conversation state was not saved")
	})
	for _, method := range []string{"UpsertCustomer", "LinkIdentity", "InvitationByKey", "CreateInvitation", "StartResponse"} {
		t.Run(method, func(t *testing.T) {
			h := newHarness(t)
			h.records.Fail = failOn(method, errTransient, -1)
			if _, _, err := h.svc.Invite(h.ctx, conversation.InviteRequest{SurveyID: "nps", CustomerRef: "C-1", Channel: tg, ChatID: "42"}); !errors.Is(err, errTransient) {
				t.Errorf("Invite = %v", err)
			}
			if len(h.tg.sent("42")) != 0 {
				t.Error("sent although SQL failed")
			}
		})
	}
}

func TestInviteOnWeChat(t *testing.T) {
	wechat := conversation.InviteRequest{SurveyID: "nps", CustomerRef: "C-1", Channel: wx, ChatID: "o-1", Language: "en"}
	t.Run("outside the window: template", func(t *testing.T) {
		h := newHarness(t)
		inv := h.inviteTo(wechat)
		templates := h.wx.succeeded("SendTemplate")
		if len(templates) != 1 {
			t.Fatalf("templates %+v, want one", templates)
		}
		tpl := templates[0]
		if tpl.ChatID != "o-1" || tpl.Template != "TEMPLATE-1" || tpl.URL != "https://example.com/s" || tpl.Data["keyword1"] != "After your purchase" {
			t.Errorf("template %+v", tpl)
		}
		mustContain(t, "remark", tpl.Data["remark"], "How likely are you to recommend us?", "0–10")
		if n := len(h.wx.sent("o-1")); n != 0 {
			t.Errorf("%d customer-service messages outside the window", n)
		}
		if st := h.mustState(wx, "o-1"); st.QuestionID != "nps" || st.PromptMessageID != 0 {
			t.Errorf("state %+v, want nps with no prompt message", st)
		}
		if got := h.records.invitation(inv.ID).Status; got != flows.InvitationSent {
			t.Errorf("invitation %s", got)
		}
		// The customer answers by replying in the chat.
		if err := h.svc.HandleUpdate(h.ctx, flows.Update{Channel: wx, UpdateID: "m-1", ChatID: "o-1", Text: "10"}); err != nil {
			t.Fatal(err)
		}
		if answers := h.records.answersOf(h.records.responseOf(inv.ID).ID); len(answers) != 1 || *answers[0].Score != 10 {
			t.Errorf("answers %+v", answers)
		}
	})
	t.Run("inside the window: a message", func(t *testing.T) {
		h := newHarness(t)
		h.states.openWindow(wx, "o-1", time.Hour)
		h.inviteTo(wechat)
		if len(h.wx.sent("o-1")) != 1 || len(h.wx.succeeded("SendTemplate")) != 0 {
			t.Errorf("calls %+v, want one message", h.wx.calls)
		}
		if st := h.mustState(wx, "o-1"); st.PromptMessageID == 0 {
			t.Error("the prompt's message id is not kept")
		}
	})
	t.Run("platform says outside the window", func(t *testing.T) {
		h := newHarness(t)
		h.states.openWindow(wx, "o-1", time.Hour)
		h.wx.Fail = failSend(bot.ErrOutsideWindow, -1)
		h.inviteTo(wechat)
		if len(h.wx.succeeded("SendTemplate")) != 1 {
			t.Error("no template after ErrOutsideWindow")
		}
	})
	t.Run("platform says the message quota is spent", func(t *testing.T) {
		h := newHarness(t)
		h.states.openWindow(wx, "o-1", time.Hour)
		h.wx.Fail = failSend(errQuotaSpent, -1)
		h.inviteTo(wechat)
		if len(h.wx.succeeded("SendTemplate")) != 1 {
			t.Error("no template after ErrQuotaSpent")
		}
	})
	t.Run("no template configured", func(t *testing.T) {
		h := newHarness(t)
		req := wechat
		req.SurveyID = "quick"
		inv, _, err := h.svc.Invite(h.ctx, req)
		if !errors.Is(err, flows.ErrInvalid) || !strings.Contains(err.Error(), "wechat_template") {
			t.Errorf("Invite = %v, want ErrInvalid naming wechat_template", err)
		}
		if got := h.records.invitation(inv.ID).Status; got != flows.InvitationFailed {
			t.Errorf("invitation %s, want failed", got)
		}
		h.noState(wx, "o-1")
	})
	t.Run("template refused", func(t *testing.T) {
		h := newHarness(t)
		h.wx.Fail = func(c chCall) error {
			if c.Op == "SendTemplate" {
				return errTransient
			}
			return nil
		}
		if _, _, err := h.svc.Invite(h.ctx, wechat); !errors.Is(err, errTransient) || !strings.Contains(err.Error(), "template invitation") {
			t.Errorf("Invite = %v", err)
		}
		h.noState(wx, "o-1")
	})
	t.Run("window unknown", func(t *testing.T) {
		h := newHarness(t)
		h.states.Fail = failOn("WindowOpen", errTransient, -1)
		if _, _, err := h.svc.Invite(h.ctx, wechat); !errors.Is(err, errTransient) {
			t.Errorf("Invite = %v", err)
		}
		if h.wx.callCount() != 0 {
			t.Error("sent without knowing the window")
		}
	})
}

// wave makes a planned wave invitation for a customer's Telegram chat.
func (h *harness) wave(chatID, ref, surveyID string) flows.Invitation {
	h.t.Helper()
	c, err := h.records.UpsertCustomer(h.ctx, ref, "en")
	if err != nil {
		h.t.Fatal(err)
	}
	inv, _, err := h.records.CreateInvitation(h.ctx, flows.Invitation{
		WaveID: "w1", CustomerID: c.ID, EventID: "e-" + chatID, SurveyID: surveyID, SurveyVersion: 1,
		Channel: tg, ExternalID: chatID, Language: "en",
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return inv
}

func TestSendInvitation(t *testing.T) {
	t.Run("delivers", func(t *testing.T) {
		h := newHarness(t)
		inv := h.wave("42", "C-1", "nps")
		if err := h.svc.SendInvitation(h.ctx, inv); err != nil {
			t.Fatal(err)
		}
		sent := h.tg.sent("42")
		if len(sent) != 1 || !sent[0].Message.Broadcast || sent[0].Message.QuestionID != "nps" {
			t.Fatalf("sent %+v", sent)
		}
		st := h.mustState(tg, "42")
		if st.InvitationID != inv.ID || st.PromptMessageID != sent[0].MessageID {
			t.Errorf("state %+v", st)
		}
		if got := h.records.responseOf(inv.ID).Status; got != flows.ResponseStarted {
			t.Errorf("response %s", got)
		}
		if got := h.records.invitation(inv.ID).Status; got != flows.InvitationPlanned {
			t.Errorf("invitation %s: the dispatcher records the outcome, not SendInvitation", got)
		}
		// Sent before, the outcome was lost: not sent again.
		if err := h.svc.SendInvitation(h.ctx, inv); err != nil {
			t.Errorf("second SendInvitation = %v", err)
		}
		if n := len(h.tg.sent("42")); n != 1 {
			t.Errorf("%d messages, want 1", n)
		}
	})
	t.Run("chat busy with another survey", func(t *testing.T) {
		h := newHarness(t)
		h.invite("42", "C-1")
		inv := h.wave("42", "C-1", "quick")
		if err := h.svc.SendInvitation(h.ctx, inv); !errors.Is(err, flows.ErrConflict) {
			t.Errorf("SendInvitation = %v, want ErrConflict", err)
		}
		if n := len(h.tg.sent("42")); n != 1 {
			t.Errorf("%d messages, want only the first survey's", n)
		}
	})
	t.Run("unknown survey", func(t *testing.T) {
		h := newHarness(t)
		inv := h.wave("42", "C-1", "retired")
		if err := h.svc.SendInvitation(h.ctx, inv); !errors.Is(err, flows.ErrNotFound) {
			t.Errorf("SendInvitation = %v, want ErrNotFound", err)
		}
	})
	t.Run("channel not configured", func(t *testing.T) {
		h := newHarness(t)
		inv := h.wave("42", "C-1", "nps")
		inv.Channel = "line"
		if err := h.svc.SendInvitation(h.ctx, inv); !errors.Is(err, flows.ErrUnavailable) {
			t.Errorf("SendInvitation = %v, want ErrUnavailable", err)
		}
	})
	t.Run("blocked", func(t *testing.T) {
		h := newHarness(t)
		inv := h.wave("42", "C-1", "nps")
		h.tg.Fail = failSend(bot.ErrBlocked, -1)
		if err := h.svc.SendInvitation(h.ctx, inv); !errors.Is(err, bot.ErrBlocked) {
			t.Errorf("SendInvitation = %v, want ErrBlocked for the dispatcher", err)
		}
		if h.records.customer("C-1").UnreachableAt == nil {
			t.Error("not marked unreachable")
		}
		h.noState(tg, "42")
	})
	t.Run("blocked, and SQL down", func(t *testing.T) {
		h := newHarness(t)
		inv := h.wave("42", "C-1", "nps")
		h.tg.Fail = failSend(bot.ErrBlocked, -1)
		h.records.Fail = failOn("MarkUnreachable", errTransient, -1)
		if err := h.svc.SendInvitation(h.ctx, inv); !errors.Is(err, bot.ErrBlocked) || !errors.Is(err, errTransient) {
			t.Errorf("SendInvitation = %v, want both errors", err)
		}
	})
	t.Run("delivered, state not saved", func(t *testing.T) {
		h := newHarness(t)
		h.expectHeld = []string{"42"}
		inv := h.wave("42", "C-1", "nps")
		h.states.Fail = failOn("End", errTransient, 1)
		if err := h.svc.SendInvitation(h.ctx, inv); !errors.Is(err, flows.ErrDeliveredUnrecorded) {
			t.Errorf("SendInvitation = %v, want ErrDeliveredUnrecorded", err)
		}
	})
}

func TestDelivered(t *testing.T) {
	h := newHarness(t)
	running := h.invite("42", "C-1")
	if ok, err := h.svc.Delivered(h.ctx, running); err != nil || !ok {
		t.Errorf("Delivered(running) = %v, %v", ok, err)
	}

	planned := h.wave("43", "C-2", "nps")
	if ok, err := h.svc.Delivered(h.ctx, planned); err != nil || ok {
		t.Errorf("Delivered(never sent) = %v, %v", ok, err)
	}

	// The send failed after the response was started.
	h.tg.Fail = failSend(errTransient, 1)
	if err := h.svc.SendInvitation(h.ctx, planned); err == nil {
		t.Fatal("SendInvitation succeeded")
	}
	if ok, err := h.svc.Delivered(h.ctx, planned); err != nil || ok {
		t.Errorf("Delivered(failed send) = %v, %v", ok, err)
	}

	// Answered to the end: the state is gone, the response completed.
	h.mustSay("42", "10")
	if ok, err := h.svc.Delivered(h.ctx, running); err != nil || !ok {
		t.Errorf("Delivered(completed) = %v, %v", ok, err)
	}

	h.states.Fail = failOn("LoadState", errTransient, 1)
	if _, err := h.svc.Delivered(h.ctx, running); !errors.Is(err, errTransient) {
		t.Errorf("Delivered with Redis down = %v", err)
	}
	h.records.Fail = failOn("ResponseForInvitation", errTransient, 1)
	if _, err := h.svc.Delivered(h.ctx, running); !errors.Is(err, errTransient) {
		t.Errorf("Delivered with SQL down = %v", err)
	}
}

func TestRemind(t *testing.T) {
	t.Run("re-asks the open question", func(t *testing.T) {
		h := newHarness(t)
		inv := h.invite("42", "C-1")
		before := h.mustState(tg, "42")
		ok, err := h.svc.Remind(h.ctx, inv)
		if err != nil || !ok {
			t.Fatalf("Remind = %v, %v", ok, err)
		}
		m := h.tg.lastSent(t, "42")
		mustContain(t, "reminder", m.Message.Text, flows.SystemText("reminder", "en"), "How likely are you to recommend us?")
		if !m.Message.Broadcast || len(m.Message.Keyboard) == 0 {
			t.Errorf("reminder %+v, want a broadcast with the keyboard", m.Message)
		}
		st := h.mustState(tg, "42")
		if st.PromptMessageID != m.MessageID || st.PromptMessageID == before.PromptMessageID || st.QuestionID != "nps" {
			t.Errorf("state %+v, want the reminder as the prompt", st)
		}
	})
	t.Run("another invitation's conversation", func(t *testing.T) {
		h := newHarness(t)
		h.invite("42", "C-1")
		other := h.wave("42", "C-1", "quick")
		if ok, err := h.svc.Remind(h.ctx, other); err != nil || ok {
			t.Errorf("Remind = %v, %v; want false", ok, err)
		}
		if n := len(h.tg.sent("42")); n != 1 {
			t.Errorf("%d messages", n)
		}
	})
	t.Run("no conversation", func(t *testing.T) {
		h := newHarness(t)
		if ok, err := h.svc.Remind(h.ctx, h.wave("42", "C-1", "nps")); err != nil || ok {
			t.Errorf("Remind = %v, %v; want false", ok, err)
		}
	})
	t.Run("survey gone", func(t *testing.T) {
		h := newHarness(t)
		inv := h.invite("42", "C-1")
		delete(h.cfg.Surveys, "nps")
		if ok, err := h.svc.Remind(h.ctx, inv); err != nil || ok {
			t.Errorf("Remind = %v, %v; want false", ok, err)
		}
	})
	t.Run("no open question", func(t *testing.T) {
		h := newHarness(t)
		inv := h.invite("42", "C-1")
		st := h.mustState(tg, "42")
		st.QuestionID = ""
		h.states.put(tg, "42", st)
		if ok, err := h.svc.Remind(h.ctx, inv); err != nil || ok {
			t.Errorf("Remind = %v, %v; want false", ok, err)
		}
	})
	for _, tc := range []struct {
		name string
		fail error
		err  error
	}{
		{"blocked", bot.ErrBlocked, nil},
		{"outside the window", bot.ErrOutsideWindow, nil},
		{"quota spent", errQuotaSpent, nil}, // waits for the customer to write again
		{"transient", errTransient, errTransient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			inv := h.invite("42", "C-1")
			before := h.mustState(tg, "42")
			h.tg.Fail = failSend(tc.fail, -1)
			ok, err := h.svc.Remind(h.ctx, inv)
			if ok || !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Errorf("Remind = %v, %v; want false, %v", ok, err, tc.err)
			}
			if st := h.mustState(tg, "42"); st.PromptMessageID != before.PromptMessageID {
				t.Error("the prompt changed although no reminder went out")
			}
			if blocked := h.records.customer("C-1").UnreachableAt != nil; blocked != (tc.fail == bot.ErrBlocked) {
				t.Errorf("unreachable %v", blocked)
			}
		})
	}
	t.Run("channel not configured", func(t *testing.T) {
		h := newHarness(t)
		inv := h.invite("42", "C-1")
		inv.Channel = "line"
		if _, err := h.svc.Remind(h.ctx, inv); !errors.Is(err, flows.ErrUnavailable) {
			t.Errorf("Remind = %v", err)
		}
	})
}

func TestCloseInvitation(t *testing.T) {
	t.Run("its own conversation", func(t *testing.T) {
		h := newHarness(t)
		inv := h.invite("42", "C-1")
		sends := h.tg.callCount()
		if err := h.svc.CloseInvitation(h.ctx, inv, h.clock.Now()); err != nil {
			t.Fatal(err)
		}
		h.noState(tg, "42")
		if got := h.records.invitation(inv.ID).Status; got != flows.InvitationExpired {
			t.Errorf("invitation %s", got)
		}
		if got := h.records.responseOf(inv.ID).Status; got != flows.ResponseExpired {
			t.Errorf("response %s", got)
		}
		if h.tg.callCount() != sends {
			t.Error("the customer was messaged: silence is kinder")
		}
	})
	t.Run("another invitation's conversation", func(t *testing.T) {
		h := newHarness(t)
		running := h.invite("42", "C-1")
		old := h.wave("42", "C-1", "quick")
		if err := h.svc.CloseInvitation(h.ctx, old, h.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if st := h.mustState(tg, "42"); st.InvitationID != running.ID {
			t.Errorf("state %+v, want the running survey's", st)
		}
		if got := h.records.invitation(old.ID).Status; got != flows.InvitationExpired {
			t.Errorf("invitation %s", got)
		}
	})
	t.Run("SQL down", func(t *testing.T) {
		h := newHarness(t)
		inv := h.invite("42", "C-1")
		h.records.Fail = failOn("ExpireInvitation", errTransient, -1)
		if err := h.svc.CloseInvitation(h.ctx, inv, h.clock.Now()); !errors.Is(err, errTransient) {
			t.Errorf("CloseInvitation = %v", err)
		}
		if _, ok := h.states.state(tg, "42"); !ok {
			t.Error("the state went although the invitation was not expired")
		}
	})
}

// errQuotaSpent is what the WeChat adapter returns when the customer's
// message quota is spent: ErrQuotaSpent wrapped with ErrOutsideWindow.
var errQuotaSpent = fmt.Errorf("wechat custom send to o-1: %w: %w", bot.ErrQuotaSpent, bot.ErrOutsideWindow)
