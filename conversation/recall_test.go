package conversation_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/conversation"
	"github.com/cxbot/cxbot/flows"
)

// Redis is fast, SQL is the truth: a Redis that restarts empty loses no
// answer and no customer's place in the survey (DESIGN, invariant 8).

func TestRedisRestartedEmptyMidSurvey(t *testing.T) {
	h := newHarness(t)
	inv := h.invite("42", "C-1")
	h.mustSay("42", "7")
	h.states.flush()

	h.mustSay("42", "Faster delivery")
	resp := h.records.responseOf(inv.ID)
	answers := h.records.answersOf(resp.ID)
	if len(answers) != 2 || answers[1].QuestionID != "make_it_10" || answers[1].Text != "Faster delivery" {
		t.Fatalf("answers %+v, want the comment on make_it_10", answers)
	}
	if got := h.tg.lastSent(t, "42").Message.Text; got != "Thanks a lot!" {
		t.Errorf("last message %q", got)
	}
	if got := h.records.response(resp.ID).Status; got != flows.ResponseCompleted {
		t.Errorf("response %s", got)
	}
	h.logged("conversation recalled from SQL", "chat_id=42")
}

func TestRedisRestartedEmptyBeforeTheFirstAnswer(t *testing.T) {
	h := newHarness(t)
	inv := h.invite("42", "C-1")
	u := h.tap("42", "10") // the keyboard of the invitation
	h.states.flush()
	if err := h.svc.HandleUpdate(h.ctx, u); err != nil {
		t.Fatal(err)
	}
	answers := h.records.answersOf(h.records.responseOf(inv.ID).ID)
	if len(answers) != 1 || *answers[0].Score != 10 {
		t.Fatalf("answers %+v, want the tapped 10", answers)
	}
	if taps := h.tg.succeeded("AnswerTap"); len(taps) != 1 || taps[0].Text != "✓ 10" {
		t.Errorf("tap answered %+v", taps)
	}
}

// The update was applied, then Redis lost both the state and the seen
// mark: the redelivery stores nothing new; the open question is asked
// again, since its message may never have gone out.
func TestRedeliveryAfterRedisRestartReasksOnce(t *testing.T) {
	h := newHarness(t)
	inv := h.invite("42", "C-1")
	u := flows.Update{Channel: tg, UpdateID: "u-1", ChatID: "42", Text: "7", Language: "en"}
	if err := h.svc.HandleUpdate(h.ctx, u); err != nil {
		t.Fatal(err)
	}
	h.states.flush()
	steps := h.records.count("ApplyStep")
	if err := h.svc.HandleUpdate(h.ctx, u); err != nil {
		t.Fatal(err)
	}
	if h.records.count("ApplyStep") != steps {
		t.Error("the redelivery wrote a step")
	}
	if answers := h.records.answersOf(h.records.responseOf(inv.ID).ID); len(answers) != 1 {
		t.Errorf("answers %+v", answers)
	}
	m := h.tg.lastSent(t, "42")
	mustContain(t, "re-asked", m.Message.Text, "What would make it a 10?")
	st := h.mustState(tg, "42")
	if st.QuestionID != "make_it_10" || st.PromptMessageID != m.MessageID {
		t.Errorf("state %+v, want make_it_10 prompted by %d", st, m.MessageID)
	}
	// A third delivery: the state is cached again, nothing is repeated.
	h.states.forget(tg, "42", "u-1")
	sends := len(h.tg.sent("42"))
	if err := h.svc.HandleUpdate(h.ctx, u); err != nil {
		t.Fatal(err)
	}
	if len(h.tg.sent("42")) != sends {
		t.Error("asked a third time")
	}
}

// The last answer was applied and the response completed; Redis forgot it
// all. The redelivery is recognised from SQL: no "no open survey" reply.
func TestRedeliveryOfTheLastAnswerAfterRedisRestart(t *testing.T) {
	h := newHarness(t)
	h.invite("42", "C-1")
	u := flows.Update{Channel: tg, UpdateID: "u-1", ChatID: "42", Text: "10", Language: "en"}
	if err := h.svc.HandleUpdate(h.ctx, u); err != nil {
		t.Fatal(err)
	}
	h.states.flush()
	sends := len(h.tg.sent("42"))
	if err := h.svc.HandleUpdate(h.ctx, u); err != nil {
		t.Fatal(err)
	}
	if got := h.tg.texts("42"); len(got) != sends {
		t.Errorf("the redelivery was answered: %q", got[sends:])
	}
	if !h.states.seen(tg, "42", "u-1") {
		t.Error("the update is not remembered again")
	}
}

// A cached state SQL has moved past (a step whose turn could not end, then
// another update): the step is refused, the cache dropped, and the
// redelivery continues from SQL's state.
func TestStaleCachedStateIsDroppedAndRebuilt(t *testing.T) {
	h := newHarness(t)
	inv := h.invite("42", "C-1")
	h.states.Fail = failOn("End", errTransient, 1)
	if err := h.svc.HandleUpdate(h.ctx, flows.Update{Channel: tg, UpdateID: "u-1", ChatID: "42", Text: "7", Language: "en"}); err == nil {
		t.Fatal("HandleUpdate succeeded although End failed")
	}
	h.clock.Advance(time.Minute) // the lease runs out; Redis still has the invitation's state
	if st := h.mustState(tg, "42"); st.QuestionID != "nps" {
		t.Fatalf("cached state at %q", st.QuestionID)
	}

	u := flows.Update{Channel: tg, UpdateID: "u-2", ChatID: "42", Text: "Free shipping", Language: "en"}
	if err := h.svc.HandleUpdate(h.ctx, u); !errors.Is(err, flows.ErrUnavailable) {
		t.Fatalf("HandleUpdate on a stale state = %v, want ErrUnavailable (redelivered)", err)
	}
	h.noState(tg, "42")
	resp := h.records.responseOf(inv.ID)
	if answers := h.records.answersOf(resp.ID); len(answers) != 1 {
		t.Fatalf("a stale step stored %+v", answers)
	}

	if err := h.svc.HandleUpdate(h.ctx, u); err != nil {
		t.Fatal(err)
	}
	answers := h.records.answersOf(resp.ID)
	if len(answers) != 2 || *answers[0].Score != 7 || answers[1].Text != "Free shipping" {
		t.Errorf("answers %+v, want 7 then the comment", answers)
	}
}

func TestRecallRefusals(t *testing.T) {
	t.Run("survey gone", func(t *testing.T) {
		h := newHarness(t)
		inv := h.invite("42", "C-1")
		h.states.flush()
		delete(h.cfg.Surveys, "nps")
		h.mustSay("42", "9")
		if got := h.tg.lastSent(t, "42").Message.Text; got != flows.SystemText("expired", "en") {
			t.Errorf("answered %q, want expired", got)
		}
		if got := h.records.responseOf(inv.ID).Status; got != flows.ResponseExpired {
			t.Errorf("response %s", got)
		}
	})
	t.Run("idle past the conversation TTL", func(t *testing.T) {
		h := newHarness(t)
		inv := h.invite("42", "C-1")
		h.mustSay("42", "7")
		h.states.flush()
		h.clock.Advance(73 * time.Hour)
		h.mustSay("42", "late")
		if got := h.tg.lastSent(t, "42").Message.Text; got != "This survey is over, thanks anyway." {
			t.Errorf("answered %q, want the survey's expired text", got)
		}
		if answers := h.records.answersOf(h.records.responseOf(inv.ID).ID); len(answers) != 1 {
			t.Errorf("answers %+v, want only the score", answers)
		}
	})
	t.Run("SQL down", func(t *testing.T) {
		h := newHarness(t)
		h.invite("42", "C-1")
		h.states.flush()
		h.records.Fail = failOn("ChatConversation", errTransient, -1)
		err := h.say("42", "9")
		if !errors.Is(err, errTransient) || !strings.Contains(err.Error(), "recall conversation") {
			t.Errorf("HandleUpdate = %v, want the recall's error", err)
		}
		if h.states.held(tg, "42") {
			t.Error("the chat was not released")
		}
	})
	t.Run("a survey in progress blocks an invitation", func(t *testing.T) {
		h := newHarness(t)
		h.invite("42", "C-1")
		h.states.flush()
		_, _, err := h.svc.Invite(h.ctx, conversation.InviteRequest{SurveyID: "quick", CustomerRef: "C-1", Channel: tg, ChatID: "42"})
		if !errors.Is(err, flows.ErrConflict) {
			t.Errorf("Invite while SQL has a running survey = %v, want ErrConflict", err)
		}
	})
}
