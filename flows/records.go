package flows

import (
	"fmt"
	"math"
	"time"
)

// The records the use cases hand to storage and get back from it. They are
// domain types: the packages above storage (conversation, scheduler, the HTTP
// API, the CSV import) name only these, never a storage type.

// StepWrite is everything one conversation step changes in SQL. The store
// writes it in one transaction, so an answer and the handoff it triggers, or
// the last answer and the response's completion, are never half-stored.
type StepWrite struct {
	ResponseID int64
	// Answer is inserted unless the response already has an answer to that
	// question (a redelivered update): the first answer stands.
	Answer *Answer
	// OpenHandoff is inserted unless the response already has a handoff.
	// Zero fields are filled from the response, its customer and its
	// invitation; Status defaults to open, CreatedAt to At.
	OpenHandoff *Handoff
	// HandoffComment sets the comment of the response's handoff.
	HandoffComment *string
	// HandoffStatus, if set, becomes the status of the response's handoff
	// where HandoffStatus.CanMoveTo allows it.
	HandoffStatus HandoffStatus
	// Finish is "", ResponseCompleted or ResponseExpired: a started response
	// gets that status and completed_at, and its invitation the matching
	// status (FinishedInvitation) if the invitation is running. A response
	// already finished is left as it is.
	Finish ResponseStatus
	// At is when the step happened (default now).
	At time.Time
	// State is the conversation after the step, kept with the response so
	// that whatever Redis forgets can be rebuilt (nil leaves it as it is).
	State *State
	// UpdateID is the platform update the step applies, kept with the
	// response. When the response's last update is already UpdateID the
	// step was applied before: nothing is written and the error is
	// ErrApplied. When it is neither UpdateID nor ExpectUpdateID (the update
	// that made the caller's state), the caller's state is stale: nothing is
	// written and the error is ErrConflict. "" skips both checks.
	UpdateID, ExpectUpdateID string
}

// Validate rejects a step the store must not write.
func (w StepWrite) Validate() error {
	switch {
	case w.Finish != "" && !w.Finish.Final():
		return fmt.Errorf("%w: unknown finish status %q", ErrInvalid, w.Finish)
	case w.HandoffStatus != "" && !w.HandoffStatus.Valid():
		return fmt.Errorf("%w: unknown handoff status %q", ErrInvalid, w.HandoffStatus)
	case w.OpenHandoff != nil && w.OpenHandoff.Status != "" && !w.OpenHandoff.Status.Valid():
		return fmt.Errorf("%w: unknown handoff status %q", ErrInvalid, w.OpenHandoff.Status)
	case w.Answer != nil && w.Answer.QuestionID == "":
		return fmt.Errorf("%w: answer without question id", ErrInvalid)
	}
	return nil
}

// Conversation is what SQL knows of a chat's latest response: enough to
// rebuild the conversation when Redis has forgotten it.
type Conversation struct {
	Response   Response
	Invitation InvitationStatus // of the response's invitation
	// State is the conversation as of the response's last step; HasState is
	// false before the first step (the first question is open).
	State        State
	HasState     bool
	LastUpdateID string // the platform update of the last step
}

// AttemptOutcome is a dispatcher's word for one try at delivering an
// invitation: sent, failed, retry, rate_limited, deferred, skipped …
type AttemptOutcome string

// Attempt outcomes recorded in the delivery log.
const (
	AttemptSent        AttemptOutcome = "sent"
	AttemptDeferred    AttemptOutcome = "deferred" // quiet hours, paused channel, busy chat: recorded, not counted
	AttemptRateLimited AttemptOutcome = "rate_limited"
	AttemptRetry       AttemptOutcome = "retry"
	AttemptFailed      AttemptOutcome = "failed"
	AttemptBlocked     AttemptOutcome = "blocked"
	AttemptSkipped     AttemptOutcome = "skipped"
	AttemptExpired     AttemptOutcome = "expired"
	AttemptUnknown     AttemptOutcome = "unknown" // a replica stopped while sending: not sent again
)

// Counts reports whether the attempt counts against the invitation's tries.
func (o AttemptOutcome) Counts() bool { return o != AttemptDeferred }

// Attempt is one try at delivering an invitation.
type Attempt struct {
	InvitationID int64
	At           time.Time
	Outcome      AttemptOutcome
	Error        string
	RetryAfter   time.Duration
}

// WaveCounts counts a wave's invitations by status. Delivered counts the
// ones the platform accepted (sent_at set), whatever happened next.
type WaveCounts struct {
	Planned   int `json:"planned"`
	Skipped   int `json:"skipped"`
	Sent      int `json:"sent"`
	Failed    int `json:"failed"`
	Delivered int `json:"delivered"`
	Started   int `json:"started"`
	Completed int `json:"completed"`
	Expired   int `json:"expired"`
}

// Add counts n invitations in status s.
func (c *WaveCounts) Add(s InvitationStatus, n int) {
	switch s {
	case InvitationPlanned:
		c.Planned += n
	case InvitationSkipped:
		c.Skipped += n
	case InvitationSent:
		c.Sent += n
	case InvitationFailed:
		c.Failed += n
	case InvitationStarted:
		c.Started += n
	case InvitationCompleted:
		c.Completed += n
	case InvitationExpired:
		c.Expired += n
	}
}

// WaveSource says where a wave was defined.
type WaveSource string

// Wave sources: a YAML file under configs/waves, or the HTTP API.
const (
	WaveSourceFile WaveSource = "file"
	WaveSourceAPI  WaveSource = "api"
)

// Valid reports whether s is a known source.
func (s WaveSource) Valid() bool { return s == WaveSourceFile || s == WaveSourceAPI }

// WaveRecord is a stored wave definition. Definition is the wave as its
// owner wrote it (the scheduler parses it); the store only keeps it and the
// paused flag, which survives restarts and file reloads.
type WaveRecord struct {
	ID, Definition       string
	Source               WaveSource
	Paused               bool
	CreatedAt, UpdatedAt time.Time
	RetiredAt            *time.Time // set: plans, reminds and sends nothing more; history kept
}

// Candidate is an event a wave may turn into an invitation, with what the
// planner needs to decide: the customer (consent, language, time zone) and
// the customer's chats, most recently linked first.
type Candidate struct {
	Seq        int64 // the paging cursor: the event's seq (due events) or the customer's id (segments)
	Event      Event
	Customer   Customer
	Identities []Identity
}

// EventQuery selects a wave's due events: the touchpoint's events in the
// window that the wave has not invited yet.
type EventQuery struct {
	WaveID, Touchpoint       string
	OccurredFrom, OccurredTo time.Time // inclusive; zero = unbounded
	AfterSeq                 int64     // the Seq of the last candidate of the previous page
	Limit                    int       // page size (default 100)
}

// SegmentQuery pages a segment's customers.
type SegmentQuery struct {
	AfterCustomerID int64 // the Seq (= customer id) of the last candidate of the previous page
	Limit           int   // page size (default 100)
}

// EventResult says what saving a batch of events did with one event, in the
// batch's order.
type EventResult struct {
	ID      string
	Created bool  // false: an event with this id was stored before (or earlier in the batch)
	Err     error // the event was rejected (wraps ErrInvalid); nothing of it was stored
}

// Limit is a rate: Count events per Per, with Burst allowed at once (Burst 0
// = 1). Over any window of length w at most Burst + w/(Per/Count) events are
// admitted, so Limit{Count: 30, Per: time.Second} is "one every 33.3ms".
type Limit struct {
	Count int
	Per   time.Duration
	Burst int
}

// maxLimitSpan bounds burst × interval (ten years): beyond it a limit is
// surely a configuration mistake.
const maxLimitSpan = 10 * 365 * 24 * time.Hour

// Validate rejects a limit no limiter can enforce.
func (l Limit) Validate() error {
	if l.Count < 1 || l.Per <= 0 || l.Burst < 0 {
		return fmt.Errorf("%w: limit %d per %s burst %d: count must be at least 1, per positive, burst not negative",
			ErrInvalid, l.Count, l.Per, l.Burst)
	}
	if l.Per/time.Duration(l.Count) > maxLimitSpan/time.Duration(max(l.Burst, 1)) {
		return fmt.Errorf("%w: limit %d per %s burst %d spans more than ten years", ErrInvalid, l.Count, l.Per, l.Burst)
	}
	return nil
}

// NewNPSReport computes the score from the counts of a survey's classes:
// (promoters − detractors) / responses × 100, rounded to one decimal, 0 with
// no responses.
func NewNPSReport(survey string, promoters, passives, detractors int) NPSReport {
	rep := NPSReport{Survey: survey, Promoters: promoters, Passives: passives, Detractors: detractors}
	rep.Responses = promoters + passives + detractors
	if rep.Responses > 0 {
		rep.NPS = math.Round(float64(promoters-detractors)/float64(rep.Responses)*1000) / 10
	}
	return rep
}
