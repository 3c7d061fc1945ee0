package flows

import (
	"slices"
	"testing"
)

func TestInvitationAfterStep(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answered bool
		finish   ResponseStatus
		from     []InvitationStatus
		to       InvitationStatus
		ok       bool
	}{
		{"an answer starts it", true, "", []InvitationStatus{InvitationPlanned, InvitationSent}, InvitationStarted, true},
		{"the last answer completes it", true, ResponseCompleted, []InvitationStatus{InvitationPlanned, InvitationSent, InvitationStarted}, InvitationCompleted, true},
		{"expiry moves only a running one", false, ResponseExpired, []InvitationStatus{InvitationSent, InvitationStarted}, InvitationExpired, true},
		{"a re-prompt moves nothing", false, "", nil, "", false},
	} {
		from, to, ok := InvitationAfterStep(tc.answered, tc.finish)
		if !slices.Equal(from, tc.from) || to != tc.to || ok != tc.ok {
			t.Errorf("%s: %v → %q (%v), want %v → %q (%v)", tc.name, from, to, ok, tc.from, tc.to, tc.ok)
		}
		for _, s := range from {
			if s.CustomerOwned() && s != InvitationStarted {
				t.Errorf("%s: moves %q, which the customer already finished", tc.name, s)
			}
		}
	}
}

func TestHandoffMoves(t *testing.T) {
	if from, to := HandoffNoticed(); !slices.Equal(from, []HandoffStatus{HandoffAwaitingComment}) || to != HandoffOpen {
		t.Errorf("HandoffNoticed = %v → %q", from, to)
	}
	for _, c := range []struct {
		from, to HandoffStatus
		ok       bool
	}{
		{HandoffAwaitingComment, HandoffOpen, true},
		{HandoffOpen, HandoffOpen, true},
		{HandoffClaimed, HandoffOpen, false}, // a late comment never reopens a claimed case
		{HandoffResolved, HandoffClaimed, false},
		{"bogus", HandoffOpen, false},
	} {
		if got := c.from.CanMoveTo(c.to); got != c.ok {
			t.Errorf("%q → %q = %v, want %v", c.from, c.to, got, c.ok)
		}
	}
	if got := HandoffStatusesMovableTo(HandoffClaimed); !slices.Equal(got, []HandoffStatus{HandoffAwaitingComment, HandoffOpen, HandoffClaimed}) {
		t.Errorf("movable to claimed: %v", got)
	}
	if from, owned, unowned := HandoffReopened(); from != HandoffResolved || owned != HandoffClaimed || unowned != HandoffOpen {
		t.Errorf("HandoffReopened = %q → %q (owned) / %q", from, owned, unowned)
	}
	for _, s := range HandoffStatuses() {
		live := Handoff{Status: s}.Live()
		if live != slices.Contains(LiveHandoffStatuses(), s) {
			t.Errorf("%q: Live() = %v disagrees with LiveHandoffStatuses", s, live)
		}
		if live == (s == HandoffAwaitingComment || s == HandoffResolved) {
			t.Errorf("%q: Live() = %v", s, live)
		}
		if waiting := slices.Contains(WaitingHandoffStatuses(), s); waiting != (s == HandoffAwaitingComment || s == HandoffOpen) {
			t.Errorf("%q: waiting = %v", s, waiting)
		}
	}
}

func TestInvitationStatusRules(t *testing.T) {
	for _, s := range InvitationStatuses() {
		if !s.Valid() {
			t.Errorf("%q not valid", s)
		}
		if s.CustomerOwned() && DispatcherMaySet(s) && s != InvitationExpired {
			t.Errorf("%q is both the customer's and a dispatcher's", s)
		}
	}
	if InvitationStatus("bogus").Valid() || !InvitationFailed.Reusable() || InvitationSent.Reusable() {
		t.Error("Valid/Reusable disagree with the lifecycle")
	}
	if !InvitationStarted.Running() || InvitationCompleted.Expirable() {
		t.Error("Running/Expirable disagree with the lifecycle")
	}
	if !ResponseStarted.Finish(ResponseCompleted) || ResponseCompleted.Finish(ResponseExpired) || ResponseStarted.Finish(ResponseStarted) {
		t.Error("ResponseStatus.Finish disagrees with the lifecycle")
	}
}
