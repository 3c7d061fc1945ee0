package conversation_test

import (
	"context"
	"sync"
	"testing"

	"github.com/cxbot/cxbot/conversation"
	"github.com/cxbot/cxbot/flows"
)

// fakeDesk records what the conversation hands the desk; handles says
// whether CustomerWrote takes the customer's words.
type fakeDesk struct {
	mu        sync.Mutex
	handles   bool
	announced []flows.Handoff
	wrote     []flows.Update
	followUps []flows.Update
	optedOut  []string
}

func (d *fakeDesk) Announce(_ context.Context, h flows.Handoff) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.announced = append(d.announced, h)
	return nil
}

func (d *fakeDesk) CustomerWrote(_ context.Context, u flows.Update) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.wrote = append(d.wrote, u)
	return d.handles, nil
}

func (d *fakeDesk) FollowUpAnswered(_ context.Context, u flows.Update) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.followUps = append(d.followUps, u)
	return nil
}

func (d *fakeDesk) CustomerOptedOut(_ context.Context, _ flows.Channel, chatID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.optedOut = append(d.optedOut, chatID)
}

func TestDeskTakesTheHandoffAndTheCustomersWords(t *testing.T) {
	d := &fakeDesk{handles: true}
	h := newHarness(t, func(c *conversation.Config) { c.Desk = d })
	ho := h.detractor("42", "C-1")
	h.mustSay("42", "Broken on arrival")
	if len(d.announced) != 1 || d.announced[0].ID != ho.ID || d.announced[0].Comment != "Broken on arrival" {
		t.Fatalf("desk announced %+v", d.announced)
	}
	if n := len(h.agents.got()); n != 0 {
		t.Fatalf("the old agents' notifier was used %d times beside the desk", n)
	}
	if len(d.wrote) != 0 {
		t.Fatalf("the comment went to the desk, not the survey: %+v", d.wrote)
	}
	// No survey running: the customer's words (and photos) go to their case.
	sent := len(h.tg.texts("42"))
	h.mustSay("42", "Hello? Anyone?")
	h.updates++
	if err := h.svc.HandleUpdate(h.ctx, flows.Update{Channel: tg, UpdateID: "photo-1", ChatID: "42", PhotoID: "ph"}); err != nil {
		t.Fatal(err)
	}
	if len(d.wrote) != 2 || d.wrote[0].Text != "Hello? Anyone?" || d.wrote[1].PhotoID != "ph" {
		t.Fatalf("desk got %+v", d.wrote)
	}
	if got := h.tg.texts("42"); len(got) != sent {
		t.Fatalf("the survey engine answered the case's words: %q", got[sent:])
	}
	// A redelivered update reaches the desk once.
	if err := h.svc.HandleUpdate(h.ctx, flows.Update{Channel: tg, UpdateID: "photo-1", ChatID: "42", PhotoID: "ph"}); err != nil || len(d.wrote) != 2 {
		t.Fatalf("redelivery reached the desk again: %v, %d", err, len(d.wrote))
	}
	// A follow-up tap goes to the desk, whatever the chat's state.
	h.updates++
	tap := flows.Tap{ResponseID: ho.ResponseID, QuestionID: flows.RecoveryQuestionID, Value: "5"}
	if err := h.svc.HandleUpdate(h.ctx, flows.Update{Channel: tg, UpdateID: "tap-9", ChatID: "42", Tap: &tap, TapID: "cb"}); err != nil {
		t.Fatal(err)
	}
	if len(d.followUps) != 1 || d.followUps[0].Tap.Value != "5" {
		t.Fatalf("follow-up taps %+v", d.followUps)
	}
	h.mustSay("42", "stop")
	if len(d.optedOut) != 1 || d.optedOut[0] != "42" {
		t.Fatalf("opt-out not told to the desk: %v", d.optedOut)
	}
}

func TestWordsNoCaseWantsGetTheUsualAnswer(t *testing.T) {
	d := &fakeDesk{handles: false}
	h := newHarness(t, func(c *conversation.Config) { c.Desk = d })
	h.mustSay("42", "hi")
	if got := h.tg.texts("42"); len(d.wrote) != 1 || len(got) != 1 || got[0] != flows.SystemText("no_survey", "en") {
		t.Fatalf("desk %d, chat %q; want the desk asked, then no_survey", len(d.wrote), got)
	}
	// A captioned photo during a survey is not an answer.
	h.invite("43", "C-43")
	if err := h.svc.HandleUpdate(h.ctx, flows.Update{Channel: tg, UpdateID: "p43", ChatID: "43", PhotoID: "ph", Text: "3"}); err != nil {
		t.Fatal(err)
	}
	if st := h.mustState(tg, "43"); st.QuestionID != "nps" {
		t.Fatalf("a photo caption answered the survey: %+v", st)
	}
	// A photo nobody wants is left alone, as before.
	if err := h.svc.HandleUpdate(h.ctx, flows.Update{Channel: tg, UpdateID: "p", ChatID: "42", PhotoID: "ph"}); err != nil || len(h.tg.texts("42")) != 1 {
		t.Fatalf("unwanted photo: %v %q", err, h.tg.texts("42"))
	}
}
