package conversation_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/conversation"
	"github.com/cxbot/cxbot/flows"
)

// detractor invites a customer and gives a bad score: the handoff waits
// for the comment.
func (h *harness) detractor(chatID, ref string) flows.Handoff {
	h.t.Helper()
	inv := h.invite(chatID, ref)
	h.mustSay(chatID, "3")
	ho, ok := h.records.handoff(h.records.responseOf(inv.ID).ID)
	if !ok {
		h.t.Fatal("a detractor score opened no handoff")
	}
	return ho
}

func (h *harness) handoffText(chatID string) int {
	n := 0
	for _, text := range h.tg.texts(chatID) {
		if text == "Sorry! A person will contact you." {
			n++
		}
	}
	return n
}

func TestDetractorHandoffWaitsForTheComment(t *testing.T) {
	h := newHarness(t)
	ho := h.detractor("42", "C-1")
	if ho.Status != flows.HandoffAwaitingComment || ho.Score != 3 || ho.Class != flows.ClassDetractor ||
		ho.QuestionID != "nps" || ho.Kind != flows.KindNPS || ho.CustomerRef != "C-1" || ho.Channel != tg || ho.ExternalID != "42" {
		t.Errorf("handoff %+v, want an NPS 3 detractor of C-1 in chat 42 awaiting the comment", ho)
	}
	if n := len(h.agents.got()); n != 0 {
		t.Errorf("agents were told %d times before the comment", n)
	}
	st := h.mustState(tg, "42")
	if st.QuestionID != "what_went_wrong" || st.PendingHandoff == nil || st.PendingHandoff.Score != 3 {
		t.Errorf("state %+v, want the comment question with the pending handoff", st)
	}
	if got := h.tg.lastSent(t, "42").Message.Text; got != "What went wrong?" {
		t.Errorf("asked %q", got)
	}

	mark := h.log.len()
	h.mustSay("42", "The parcel came <b>late</b>")
	ho, _ = h.records.handoff(ho.ResponseID)
	if ho.Status != flows.HandoffOpen || ho.Comment != "The parcel came <b>late</b>" || ho.NotifiedAt == nil {
		t.Errorf("handoff %+v, want open with the comment, agents notified", ho)
	}
	notices := h.agents.got()
	if len(notices) != 1 {
		t.Fatalf("agents got %q, want one notice", notices)
	}
	mustContain(t, "notice", notices[0], fmt.Sprintf("Handoff #%d", ho.ID), "C-1", "NPS 3/10", "late")
	if got := h.tg.lastSent(t, "42").Message.Text; got != "Sorry! A person will contact you." {
		t.Errorf("the customer got %q, want the survey's handoff text", got)
	}
	h.noState(tg, "42")
	// The notice and the customer's message go out side by side, both before the turn ends.
	order(t, h.log.since(mark), "sql.ApplyStep", "telegram.Send", "redis.End")
	order(t, h.log.since(mark), "sql.ApplyStep", "agents.NotifyAgents", "sql.MarkHandoffNotified", "redis.End")
}

// A one-question survey: the bad score is the last answer, so the handoff
// opens ready and the agents hear of it at once.
func TestHandoffReadyAtOnce(t *testing.T) {
	h := newHarness(t)
	inv := h.inviteTo(conversation.InviteRequest{SurveyID: "quick", CustomerRef: "C-1", Channel: tg, ChatID: "42", Language: "en"})
	h.mustSay("42", "1")
	ho, ok := h.records.handoff(h.records.responseOf(inv.ID).ID)
	if !ok || ho.Status != flows.HandoffOpen || ho.NotifiedAt == nil || ho.Class != flows.ClassDissatisfied {
		t.Errorf("handoff %+v, want open, dissatisfied and notified", ho)
	}
	if n := len(h.agents.got()); n != 1 {
		t.Errorf("agents told %d times", n)
	}
	if got := h.tg.lastSent(t, "42").Message.Text; got != flows.SystemText("handoff", "en") {
		t.Errorf("the customer got %q, want the built-in handoff text", got)
	}
}

func TestAgentsChatFailingIsLoggedAndSweptLater(t *testing.T) {
	h := newHarness(t)
	ho := h.detractor("42", "C-1")
	h.agents.Fail = func(string) error { return errTransient }
	if err := h.say("42", "Rude staff"); err != nil {
		t.Fatalf("HandleUpdate = %v: the customer's update is applied, the agents' chat is not its problem", err)
	}
	h.logged("notify agents", "connection reset")
	ho, _ = h.records.handoff(ho.ResponseID)
	if ho.Status != flows.HandoffOpen || ho.NotifiedAt != nil {
		t.Fatalf("handoff %+v, want open and not notified", ho)
	}
	texts := h.handoffText("42")

	// Within the minute's grace the sweep leaves it to the request.
	h.agents.Fail = nil
	h.clock.Advance(30 * time.Second)
	if n, err := h.svc.NotifyPendingHandoffs(h.ctx); err != nil || n != 0 {
		t.Errorf("sweep in the grace minute = %d, %v", n, err)
	}
	h.clock.Advance(time.Minute)
	if n, err := h.svc.NotifyPendingHandoffs(h.ctx); err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v; want 1", n, err)
	}
	if notices := h.agents.got(); len(notices) != 1 || !strings.Contains(notices[0], "Rude staff") {
		t.Errorf("agents got %q", notices)
	}
	if h.handoffText("42") != texts {
		t.Error("the sweep messaged the customer again for an open handoff")
	}
	if ho, _ = h.records.handoff(ho.ResponseID); ho.NotifiedAt == nil {
		t.Error("the handoff is not marked notified")
	}
}

func TestNoAgentsChatConfigured(t *testing.T) {
	h := newHarness(t, func(c *conversation.Config) { c.Agents = nil })
	ho := h.detractor("42", "C-1")
	h.mustSay("42", "Too slow")
	h.logged("handoff with no agents' chat configured", fmt.Sprintf("handoff_id=%d", ho.ID))
	if ho, _ = h.records.handoff(ho.ResponseID); ho.NotifiedAt == nil {
		t.Error("the handoff is left for the sweep for ever")
	}
}

func TestSweepAfterCommentWait(t *testing.T) {
	h := newHarness(t)
	ho := h.detractor("42", "C-1")
	sends := len(h.tg.sent("42"))

	h.clock.Advance(9 * time.Minute)
	if n, err := h.svc.NotifyPendingHandoffs(h.ctx); err != nil || n != 0 {
		t.Fatalf("sweep before CommentWait = %d, %v", n, err)
	}
	if len(h.tg.sent("42")) != sends {
		t.Fatal("the sweep did not wait for the comment")
	}

	h.clock.Advance(2 * time.Minute)
	mark := h.log.len()
	if n, err := h.svc.NotifyPendingHandoffs(h.ctx); err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v; want 1", n, err)
	}
	if h.handoffText("42") != 1 {
		t.Errorf("the customer got %q, want the handoff text once", h.tg.texts("42"))
	}
	got, _ := h.records.handoff(ho.ResponseID)
	if got.Status != flows.HandoffOpen || got.NotifiedAt == nil {
		t.Errorf("handoff %+v, want open and notified", got)
	}
	if notices := h.agents.got(); len(notices) != 1 || !strings.Contains(notices[0], "Comment: (none)") {
		t.Errorf("agents got %q, want one notice without comment", notices)
	}
	// The customer's message is recorded before the agents are told, so a
	// failing agents' chat never makes the sweep message the customer twice.
	order(t, h.log.since(mark), "redis.Begin", "telegram.Send", "sql.ApplyStep", "agents.NotifyAgents", "sql.MarkHandoffNotified", "redis.End")

	if n, err := h.svc.NotifyPendingHandoffs(h.ctx); err != nil || n != 0 {
		t.Errorf("second sweep = %d, %v", n, err)
	}
	if h.handoffText("42") != 1 || len(h.agents.got()) != 1 {
		t.Error("the second sweep repeated the handoff")
	}

	// The comment comes late: agents get it as an addition.
	h.mustSay("42", "Broken on arrival")
	notices := h.agents.got()
	if len(notices) != 2 || !strings.HasPrefix(notices[1], fmt.Sprintf("💬 Handoff #%d (C-1)", ho.ID)) || !strings.Contains(notices[1], "Broken on arrival") {
		t.Errorf("agents got %q, want the late comment", notices)
	}
	if n := h.records.count("MarkHandoffNotified"); n != 1 {
		t.Errorf("MarkHandoffNotified called %d times, want once", n)
	}
}

func TestSweepSpeaksTheCustomersLanguage(t *testing.T) {
	h := newHarness(t)
	h.inviteTo(conversation.InviteRequest{SurveyID: "nps", CustomerRef: "C-1", Channel: tg, ChatID: "42", Language: "zh-CN"})
	h.mustSay("42", "2")
	h.clock.Advance(11 * time.Minute)
	if _, err := h.svc.NotifyPendingHandoffs(h.ctx); err != nil {
		t.Fatal(err)
	}
	if got := h.tg.lastSent(t, "42").Message.Text; got != "抱歉！我们会联系您。" {
		t.Errorf("sweep sent %q, want the Chinese handoff text", got)
	}
}

// The customer's own update completed the handoff between the sweep's
// query and its turn: the sweep does nothing more.
func TestSweepSkipsHandoffsNotifiedMeanwhile(t *testing.T) {
	h := newHarness(t)
	ho := h.detractor("42", "C-1")
	h.clock.Advance(11 * time.Minute)
	h.states.Fail = func(method string) error {
		if method == "Begin" {
			h.records.markNotified(ho.ResponseID, h.clock.Now())
		}
		return nil
	}
	sends := len(h.tg.sent("42"))
	if _, err := h.svc.NotifyPendingHandoffs(h.ctx); err != nil {
		t.Fatal(err)
	}
	if len(h.tg.sent("42")) != sends || len(h.agents.got()) != 0 {
		t.Error("the sweep repeated a handoff completed meanwhile")
	}
}

func TestSweepKeepsGoingAndJoinsErrors(t *testing.T) {
	h := newHarness(t)
	first := h.detractor("42", "C-1")
	h.clock.Advance(time.Second)
	h.detractor("43", "C-2")
	h.clock.Advance(11 * time.Minute)
	h.tg.Fail = func(c chCall) error {
		if c.Op == "Send" && c.ChatID == "42" {
			return errTransient
		}
		return nil
	}
	n, err := h.svc.NotifyPendingHandoffs(h.ctx)
	if n != 1 || !errors.Is(err, errTransient) || !strings.Contains(err.Error(), fmt.Sprintf("handoff %d", first.ID)) {
		t.Fatalf("sweep = %d, %v; want 1 done and handoff %d's error", n, err, first.ID)
	}
	if h.handoffText("43") != 1 || h.handoffText("42") != 0 {
		t.Error("the sweep did not go on past the failing chat")
	}
	if ho, _ := h.records.handoff(first.ResponseID); ho.Status != flows.HandoffAwaitingComment {
		t.Errorf("a handoff whose customer message failed is %s, want still awaiting (retried)", ho.Status)
	}
	h.tg.Fail = nil
	if n, err := h.svc.NotifyPendingHandoffs(h.ctx); err != nil || n != 1 || h.handoffText("42") != 1 {
		t.Errorf("next sweep = %d, %v; customer 42 got the handoff text %d times", n, err, h.handoffText("42"))
	}
}

func TestSweepWhenTheCustomerCannotBeTold(t *testing.T) {
	for _, fail := range []error{bot.ErrBlocked, flows.ErrInvalid} {
		t.Run(fail.Error(), func(t *testing.T) {
			h := newHarness(t)
			ho := h.detractor("42", "C-1")
			h.clock.Advance(11 * time.Minute)
			h.tg.Fail = failSend(fail, -1)
			if n, err := h.svc.NotifyPendingHandoffs(h.ctx); err != nil || n != 1 {
				t.Fatalf("sweep = %d, %v", n, err)
			}
			h.logged("handoff: customer unreachable")
			if got, _ := h.records.handoff(ho.ResponseID); got.Status != flows.HandoffOpen || got.NotifiedAt == nil {
				t.Errorf("handoff %+v, want open and notified: the agents must still hear of it", got)
			}
			if len(h.agents.got()) != 1 {
				t.Error("agents not told")
			}
		})
	}
	t.Run("channel not configured", func(t *testing.T) {
		h := newHarness(t)
		ho := h.detractor("42", "C-1")
		h.clock.Advance(11 * time.Minute)
		cfg := h.cfg
		cfg.Channels = nil
		other, err := conversation.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := other.NotifyPendingHandoffs(h.ctx); err != nil || n != 1 {
			t.Fatalf("sweep = %d, %v", n, err)
		}
		h.logged("handoff: cannot tell the customer", "channel telegram is not configured")
		if got, _ := h.records.handoff(ho.ResponseID); got.NotifiedAt == nil {
			t.Error("agents not told")
		}
	})
}

func TestSweepErrors(t *testing.T) {
	for _, method := range []string{"HandoffForResponse", "ApplyStep", "MarkHandoffNotified"} {
		t.Run(method, func(t *testing.T) {
			h := newHarness(t)
			h.detractor("42", "C-1")
			h.clock.Advance(11 * time.Minute)
			h.records.Fail = failOn(method, errTransient, -1)
			if n, err := h.svc.NotifyPendingHandoffs(h.ctx); n != 0 || !errors.Is(err, errTransient) {
				t.Errorf("sweep = %d, %v; want the %s error", n, err, method)
			}
		})
	}
	t.Run("HandoffsToNotify", func(t *testing.T) {
		h := newHarness(t)
		h.records.Fail = failOn("HandoffsToNotify", errTransient, -1)
		if _, err := h.svc.NotifyPendingHandoffs(h.ctx); !errors.Is(err, errTransient) {
			t.Errorf("sweep = %v", err)
		}
	})
	t.Run("agents", func(t *testing.T) {
		h := newHarness(t)
		h.detractor("42", "C-1")
		h.clock.Advance(11 * time.Minute)
		h.agents.Fail = func(string) error { return errTransient }
		if _, err := h.svc.NotifyPendingHandoffs(h.ctx); !errors.Is(err, errTransient) {
			t.Errorf("sweep = %v, want the agents' error", err)
		}
		// The customer was told and that is recorded: the next sweep
		// only retries the notice.
		h.agents.Fail = nil
		h.clock.Advance(2 * time.Minute)
		if n, err := h.svc.NotifyPendingHandoffs(h.ctx); err != nil || n != 1 {
			t.Errorf("next sweep = %d, %v", n, err)
		}
		if h.handoffText("42") != 1 {
			t.Errorf("the customer got the handoff text %d times, want once", h.handoffText("42"))
		}
	})
	t.Run("handoff lookup after the answer", func(t *testing.T) {
		h := newHarness(t)
		h.detractor("42", "C-1")
		h.records.Fail = failOn("HandoffForResponse", errTransient, -1)
		if err := h.say("42", "Bad"); err != nil {
			t.Fatalf("HandleUpdate = %v: the answer is stored, the notice is the sweep's", err)
		}
		h.logged("load handoff", "connection reset")
	})
}

// bot.ErrBlocked means "the customer is marked unreachable" (bot/channel.go),
// on the sweep's path too, or waves keep planning invitations to a chat
// that blocked the bot.
func TestSweepMarksABlockedCustomerUnreachable(t *testing.T) {
	h := newHarness(t)
	h.detractor("42", "C-1")
	h.clock.Advance(11 * time.Minute)
	h.tg.Fail = failSend(bot.ErrBlocked, -1)
	if _, err := h.svc.NotifyPendingHandoffs(h.ctx); err != nil {
		t.Fatal(err)
	}
	if h.records.customer("C-1").UnreachableAt == nil {
		t.Error("the sweep met bot.ErrBlocked and did not mark the customer unreachable")
	}
	h.tg.Fail = nil
	h.detractor("43", "C-2")
	h.clock.Advance(11 * time.Minute)
	h.tg.Fail = failSend(bot.ErrBlocked, -1)
	h.records.Fail = failOn("MarkUnreachable", errTransient, -1)
	if _, err := h.svc.NotifyPendingHandoffs(h.ctx); !errors.Is(err, errTransient) {
		t.Errorf("sweep with the mark failing = %v, want the SQL error (retried)", err)
	}
}

// The detractor's comment step reached SQL and told the agents, but its
// turn did not end (Redis failed): the redelivery sends the customer's
// messages again (at most one repeat) but does not tell the agents twice.
func TestRedeliveredCommentDoesNotNotifyAgentsTwice(t *testing.T) {
	h := newHarness(t)
	h.detractor("42", "C-1")
	h.states.Fail = failOn("End", errTransient, 1)
	comment := flows.Update{Channel: tg, UpdateID: "u-comment", ChatID: "42", Text: "the box was crushed", Language: "en"}
	if err := h.svc.HandleUpdate(h.ctx, comment); !errors.Is(err, errTransient) {
		t.Fatalf("HandleUpdate = %v, want the End error", err)
	}
	h.clock.Advance(time.Minute)
	if err := h.svc.HandleUpdate(h.ctx, comment); err != nil {
		t.Fatal(err)
	}
	if notices := h.agents.got(); len(notices) != 1 {
		t.Errorf("agents got %q, want one notice", notices)
	}
	if n := h.handoffText("42"); n < 1 || n > 2 {
		t.Errorf("customer got the handoff message %d times, want 1 (2 at most: one repeat)", n)
	}
}
