package flows

import "slices"

// The lifecycles of invitations, responses and handoffs. Each status is a
// type of its own and its allowed moves are functions here, so the rules are
// read (and changed) in one place; the stores apply them (for example in a
// WHERE clause built from these lists) but never define them.

// InvitationStatus is where an invitation is in its life:
//
//	planned ─▶ sent ─▶ started ─▶ completed
//	   │         │        └──────▶ expired
//	   │         └───────────────▶ expired
//	   ├──▶ started, completed (the first answer landed before the send was recorded)
//	   ├──▶ failed ──▶ planned (an API retry)
//	   ├──▶ skipped
//	   └──▶ expired
type InvitationStatus string

const (
	InvitationPlanned   InvitationStatus = "planned"
	InvitationSent      InvitationStatus = "sent"
	InvitationFailed    InvitationStatus = "failed"
	InvitationSkipped   InvitationStatus = "skipped" // Error says why: sample, opted_out, unreachable, frequency_cap, no_channel
	InvitationStarted   InvitationStatus = "started"
	InvitationCompleted InvitationStatus = "completed"
	InvitationExpired   InvitationStatus = "expired"
)

// ReasonWaveRetired is the Error of a planned invitation skipped because its
// wave was retired before it was sent.
const ReasonWaveRetired = "wave_retired"

// InvitationStatuses lists every invitation status.
func InvitationStatuses() []InvitationStatus {
	return []InvitationStatus{
		InvitationPlanned, InvitationSent, InvitationFailed, InvitationSkipped,
		InvitationStarted, InvitationCompleted, InvitationExpired,
	}
}

// Valid reports whether s is a known status.
func (s InvitationStatus) Valid() bool { return slices.Contains(InvitationStatuses(), s) }

// CustomerOwned reports whether the customer has moved the invitation on
// (answered or let it expire): no dispatcher outcome may overwrite it.
func (s InvitationStatus) CustomerOwned() bool {
	return slices.Contains(CustomerOwnedInvitationStatuses(), s)
}

// CustomerOwnedInvitationStatuses are the statuses a dispatcher's outcome
// keeps (see InvitationStatus.CustomerOwned).
func CustomerOwnedInvitationStatuses() []InvitationStatus {
	return []InvitationStatus{InvitationStarted, InvitationCompleted, InvitationExpired}
}

// DispatcherMaySet reports whether a wave dispatcher may record s as the
// outcome of a delivery attempt; started and completed belong to the customer.
func DispatcherMaySet(s InvitationStatus) bool {
	return slices.Contains([]InvitationStatus{
		InvitationPlanned, InvitationSent, InvitationFailed, InvitationSkipped, InvitationExpired,
	}, s)
}

// Expirable reports whether an invitation in status s may still expire:
// nobody finished it and it was not decided against.
func (s InvitationStatus) Expirable() bool {
	return slices.Contains(ExpirableInvitationStatuses(), s)
}

// ExpirableInvitationStatuses are the statuses InvitationStatus.Expirable accepts.
func ExpirableInvitationStatuses() []InvitationStatus {
	return []InvitationStatus{InvitationPlanned, InvitationSent, InvitationStarted}
}

// Reusable reports whether a repeated request for the same wave, customer
// and event may try the invitation again instead of returning it: only a
// failed send is tried again.
func (s InvitationStatus) Reusable() bool { return s == InvitationFailed }

// Running reports whether an invitation in status s has a conversation the
// customer knows of (its first message went out and nobody finished it).
func (s InvitationStatus) Running() bool { return slices.Contains(RunningInvitationStatuses(), s) }

// RunningInvitationStatuses are the statuses InvitationStatus.Running accepts:
// a finished response moves only such an invitation on.
func RunningInvitationStatuses() []InvitationStatus {
	return []InvitationStatus{InvitationSent, InvitationStarted}
}

// InvitationsAnswerStarts are the statuses the customer's first answer moves
// to started (planned too: the answer may land before the send is recorded).
func InvitationsAnswerStarts() []InvitationStatus {
	return []InvitationStatus{InvitationPlanned, InvitationSent}
}

// FinishedInvitation is the invitation status that matches a finished
// response: completed for completed, expired for expired.
func FinishedInvitation(r ResponseStatus) InvitationStatus {
	if r == ResponseCompleted {
		return InvitationCompleted
	}
	return InvitationExpired
}

// WaveAPI is the wave id of invitations made through the HTTP API; such
// invitations are sent by the request that made them, never by a
// dispatcher, and no wave may take the id.
const WaveAPI = "api"

// ResponseStatus is where a customer's pass through a survey is:
// started ─▶ completed, or started ─▶ expired.
type ResponseStatus string

const (
	ResponseStarted   ResponseStatus = "started"
	ResponseCompleted ResponseStatus = "completed"
	ResponseExpired   ResponseStatus = "expired"
)

// Finish reports whether a response in status s may finish as next: only a
// started response finishes, as completed or expired.
func (s ResponseStatus) Finish(next ResponseStatus) bool {
	return s == ResponseStarted && next.Final()
}

// Final reports whether s ends a response.
func (s ResponseStatus) Final() bool { return s == ResponseCompleted || s == ResponseExpired }

// HandoffStatus is where a detractor's handoff is:
//
//	awaiting_comment ─▶ open ─▶ claimed ─▶ resolved
//	                      └──────────────▶ resolved
//
// The one move back is HandoffReopened: the customer writes again soon
// after the resolution (Handoff.Reopenable).
type HandoffStatus string

const (
	HandoffAwaitingComment HandoffStatus = "awaiting_comment" // waits for the detractor's follow-up comment
	HandoffOpen            HandoffStatus = "open"             // ready for an agent
	HandoffClaimed         HandoffStatus = "claimed"
	HandoffResolved        HandoffStatus = "resolved"
)

// HandoffStatuses lists every handoff status, in lifecycle order.
func HandoffStatuses() []HandoffStatus {
	return []HandoffStatus{HandoffAwaitingComment, HandoffOpen, HandoffClaimed, HandoffResolved}
}

// Valid reports whether s is a known status.
func (s HandoffStatus) Valid() bool { return slices.Contains(HandoffStatuses(), s) }

// CanMoveTo reports whether a handoff in status s may move to next. A
// handoff never goes back (a claimed one is not reopened by a late comment)
// and a status may be set again (a redelivered update). Reopening a
// resolved case is the exception, and is HandoffReopened's.
func (s HandoffStatus) CanMoveTo(next HandoffStatus) bool {
	from, to := slices.Index(HandoffStatuses(), s), slices.Index(HandoffStatuses(), next)
	return from >= 0 && to >= from
}

// DeliveryOutcome reports whether s records how a send went (planned again,
// sent, failed): such a status never overwrites one the customer moved on
// (a late delivery report after the first answer).
func (s InvitationStatus) DeliveryOutcome() bool {
	return s == InvitationPlanned || s == InvitationSent || s == InvitationFailed
}

// HandoffStatusesMovableTo lists the statuses from which a handoff may move
// to next (see HandoffStatus.CanMoveTo).
func HandoffStatusesMovableTo(next HandoffStatus) []HandoffStatus {
	var out []HandoffStatus
	for _, s := range HandoffStatuses() {
		if s.CanMoveTo(next) {
			out = append(out, s)
		}
	}
	return out
}

// InvitationAfterStep says how a conversation step moves its invitation:
// the first answer starts it (planned too: the answer may land before the
// send is recorded); finishing completes or expires one that reached the
// customer, or, with the step's answer, one the answer just started. A
// planned (a send to retry) or failed invitation that was not answered
// keeps its status. ok is false when the step does not move it.
func InvitationAfterStep(answered bool, finish ResponseStatus) (from []InvitationStatus, to InvitationStatus, ok bool) {
	switch {
	case finish.Final() && answered:
		return append(InvitationsAnswerStarts(), InvitationStarted), FinishedInvitation(finish), true
	case finish.Final():
		return RunningInvitationStatuses(), FinishedInvitation(finish), true
	case answered:
		return InvitationsAnswerStarts(), InvitationStarted, true
	}
	return nil, "", false
}

// HandoffNoticed says how telling the agents moves a handoff: one still
// awaiting the customer's comment becomes open (it went out without the
// comment); one already open, claimed or resolved keeps its status.
func HandoffNoticed() (from []HandoffStatus, to HandoffStatus) {
	return []HandoffStatus{HandoffAwaitingComment}, HandoffOpen
}

// LiveHandoffStatuses are the statuses of a case agents are working (see
// Handoff.Live): the customer's words go to it, and an agent may resolve it.
func LiveHandoffStatuses() []HandoffStatus { return []HandoffStatus{HandoffOpen, HandoffClaimed} }

// WaitingHandoffStatuses are the statuses of a handoff no agent has taken
// yet: what an on-call person watches.
func WaitingHandoffStatuses() []HandoffStatus {
	return []HandoffStatus{HandoffAwaitingComment, HandoffOpen}
}

// HandoffReopened says how a customer writing again moves a resolved case:
// back to its owner (claimed) when an agent had it, else open.
func HandoffReopened() (from HandoffStatus, toOwned, toUnowned HandoffStatus) {
	return HandoffResolved, HandoffClaimed, HandoffOpen
}
