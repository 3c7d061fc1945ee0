package flows

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The handoff desk: people (agents) who take over from the survey when a
// customer is unhappy, work the case in their own chat, and close the loop.

// AgentRole is what an agent may do: every agent claims, relays and
// resolves; supervisors also get escalations.
type AgentRole string

const (
	RoleAgent      AgentRole = "agent"
	RoleSupervisor AgentRole = "supervisor"
)

// Valid reports whether r is a known role.
func (r AgentRole) Valid() bool { return r == RoleAgent || r == RoleSupervisor }

// Agent is a person registered to work handoffs, known by their Telegram user.
type Agent struct {
	ID             int64
	TelegramUserID int64
	Name           string
	Role           AgentRole
	CreatedAt      time.Time
}

// Validate checks an agent before it is stored.
func (a Agent) Validate() error {
	switch {
	case a.TelegramUserID <= 0:
		return fmt.Errorf("%w: telegram user id must be a positive number", ErrInvalid)
	case strings.TrimSpace(a.Name) == "":
		return fmt.Errorf("%w: agent name is required", ErrInvalid)
	case len([]rune(a.Name)) > 64:
		return fmt.Errorf("%w: agent name is longer than 64 characters", ErrInvalid)
	case !a.Role.Valid():
		return fmt.Errorf("%w: role must be agent or supervisor, got %q", ErrInvalid, a.Role)
	}
	return nil
}

// CaseOutcome is how an agent (or the customer) closed a case.
type CaseOutcome string

const (
	OutcomeResolved      CaseOutcome = "resolved"
	OutcomeNoAnswer      CaseOutcome = "no_answer"
	OutcomeNotActionable CaseOutcome = "not_actionable"
)

// CaseOutcomes lists every outcome, in the order agents are offered them.
func CaseOutcomes() []CaseOutcome {
	return []CaseOutcome{OutcomeResolved, OutcomeNoAnswer, OutcomeNotActionable}
}

// Valid reports whether o is a known outcome.
func (o CaseOutcome) Valid() bool { return slices.Contains(CaseOutcomes(), o) }

// FollowsUp reports whether a case closed so gets the "did we fix it?"
// question: only one the business believes it fixed.
func (o CaseOutcome) FollowsUp() bool { return o == OutcomeResolved }

// Case is a handoff as the desk works it: who owns it, where it lives in the
// agents' chat, how it ended and whether the customer was won back.
type Case struct {
	AgentChatID     string      // the agents' chat the notice went to ("" = not posted)
	NoticeMessageID int         // the notice in that chat
	TopicID         int         // its forum topic, 0 = threaded by replies to the notice
	ClaimedBy       int64       // agent id, 0 = nobody
	ClaimedByName   string      // kept when the agent is removed
	ClaimedAt       *time.Time  //
	ResolvedAt      *time.Time  //
	Outcome         CaseOutcome // "" until resolved
	Note            string      // the resolver's note
	ResolvedBy      string      // agent name, "customer" or "api"
	RemindedAt      *time.Time  // SLA: announced again
	EscalatedAt     *time.Time  // SLA: sent to the supervisors
	FollowUpSentAt  *time.Time  // "did we fix it?" went out
	RecoveryScore   *int        // its answer
	Recovered       *bool       // the customer says it was fixed (CSAT 4–5)
	Reopened        int         // times the customer reopened it by writing again
}

// Live reports whether agents are working the case: the customer's words go
// to it instead of the survey engine.
func (h Handoff) Live() bool { return slices.Contains(LiveHandoffStatuses(), h.Status) }

// Reopenable reports whether a customer writing at now reopens the resolved
// case (within window of its resolution).
func (h Handoff) Reopenable(now time.Time, window time.Duration) bool {
	return h.Status == HandoffResolved && h.ResolvedAt != nil && window > 0 && now.Sub(*h.ResolvedAt) <= window
}

// ResolvedByCustomer marks a case the customer closed themselves: nobody
// asks them afterwards whether it was fixed.
const ResolvedByCustomer = "customer"

// ResolvedByAPI marks a case resolved through the HTTP API, by a token
// rather than an agent in the chat.
const ResolvedByAPI = "api"

// RecoveredBy tells whether a follow-up score means the customer was won
// back: a CSAT of 4 or 5 ("satisfied" or better).
func RecoveredBy(score int) bool { return score >= 4 }

// RecoveryQuestionID marks the taps of the "did we fix it?" follow-up (a
// question id surveys must not use); the
// tap's response id is the handoff's response.
const RecoveryQuestionID = "cxbot-recovery"

// MessageAuthor is who wrote a message of a case's thread.
type MessageAuthor string

const (
	AuthorCustomer MessageAuthor = "customer"
	AuthorAgent    MessageAuthor = "agent"
	AuthorSystem   MessageAuthor = "system" // the desk's words to the customer: closing message, follow-up
	AuthorDesk     MessageAuthor = "desk"   // a line of cxbot's own in the agents' chat (kept so replies to it thread)
	AuthorNote     MessageAuthor = "note"   // an agent's internal note: never sent to the customer
)

// CaseMessage is one message of a case's thread, as relayed.
type CaseMessage struct {
	ID                 int64
	HandoffID          int64
	Author             MessageAuthor
	AgentID            int64  // the agent who wrote it, 0 = none
	AgentName          string //
	Text               string
	PhotoID            string // Telegram file_id, "" = none
	AgentChatMessageID int    // the message in the agents' chat (the relayed copy, or the agent's own)
	CustomerMessageID  int    // the message in the customer's chat
	Delivered          bool   // it reached the other side
	Error              string // why it did not
	CreatedAt          time.Time
}

// HandoffQuery filters the desk's list of cases.
type HandoffQuery struct {
	Status     HandoffStatus // "" = all
	AgentID    int64         // 0 = any owner
	ResponseID int64         // 0 = any
	From, To   time.Time     // created in [From, To); zero = unbounded
	Limit      int
	BeforeID   int64 // cursor: cases with a smaller id (newest first)
}

// DeskUpdate is something a person did in an agents' chat: wrote (text or
// a photo, perhaps in a forum topic or as a reply), or tapped a button.
type DeskUpdate struct {
	Channel          Channel
	UpdateID         string
	ChatID           string // the agents' chat
	ThreadID         int    // forum topic (message_thread_id), 0 = none
	UserID           string // the person's platform user id
	UserName         string // how the platform shows them
	MessageID        int    // the message written, or the one carrying the tapped button
	ReplyToMessageID int    // the message replied to, 0 = none
	Text             string // text or a photo's caption
	PhotoID          string // the photo's file id (largest size), "" = none
	TapData          string // a tapped button's raw data
	TapID            string // to answer the tap
	ReceivedAt       time.Time
}

// Post is a message to an agents' chat: HTML (Telegram's subset), in a
// forum topic or as a reply, optionally a photo (HTML is then its caption)
// and buttons.
type Post struct {
	HTML     string
	PhotoID  string
	ThreadID int
	ReplyTo  int
	Buttons  [][]Button
}

// DeskAction is what a desk button asks for.
type DeskAction string

const (
	ActClaim   DeskAction = "claim"   // take the case
	ActResolve DeskAction = "resolve" // offer the outcomes
	ActOutcome DeskAction = "outcome" // close with CaseOutcome
	ActBack    DeskAction = "back"    // outcomes not wanted after all
)

// DeskTap is a decoded desk button.
type DeskTap struct {
	Action    DeskAction
	HandoffID int64
	Outcome   CaseOutcome // for ActOutcome
}

// deskTapPrefix keeps desk buttons apart from survey taps ("a:").
const deskTapPrefix = "d"

// EncodeDeskTap packs a desk button into callback data: d:<action>:<id>[:<outcome>].
func EncodeDeskTap(t DeskTap) string {
	s := deskTapPrefix + ":" + string(t.Action) + ":" + strconv.FormatInt(t.HandoffID, 10)
	if t.Action == ActOutcome {
		s += ":" + string(t.Outcome)
	}
	return s
}

// DecodeDeskTap parses EncodeDeskTap's output; anything else is ErrInvalid.
func DecodeDeskTap(data string) (DeskTap, error) {
	parts := strings.Split(data, ":")
	if len(data) > MaxTapData || len(parts) < 3 || parts[0] != deskTapPrefix {
		return DeskTap{}, fmt.Errorf("%w: not a desk button: %q", ErrInvalid, clip(data, 80))
	}
	id, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || id <= 0 {
		return DeskTap{}, fmt.Errorf("%w: desk button %q: bad case id", ErrInvalid, clip(data, 80))
	}
	t := DeskTap{Action: DeskAction(parts[1]), HandoffID: id}
	switch t.Action {
	case ActClaim, ActResolve, ActBack:
		if len(parts) == 3 {
			return t, nil
		}
	case ActOutcome:
		if len(parts) == 4 && CaseOutcome(parts[3]).Valid() {
			t.Outcome = CaseOutcome(parts[3])
			return t, nil
		}
	}
	return DeskTap{}, fmt.Errorf("%w: desk button %q: unknown action", ErrInvalid, clip(data, 80))
}

// IsCustomerDone tells the whole-message words a customer closes their own
// case with.
func IsCustomerDone(text string) bool {
	switch strings.ToLower(strings.TrimSpace(text)) {
	case "/done", "已解决":
		return true
	}
	return false
}

// Route sends the cases whose event attribute matches a pattern to another
// agents' chat ("store=SH-*" → the Shanghai team).
type Route struct {
	Attribute string
	Pattern   string // path.Match glob
	ChatID    string
}

// ParseRoutes reads "attr=glob:chat,attr=glob:chat". The first match wins.
func ParseRoutes(s string) ([]Route, error) {
	var out []Route
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		rule, chat, ok := strings.Cut(part, ":")
		attr, pattern, ok2 := strings.Cut(rule, "=")
		attr, pattern, chat = strings.TrimSpace(attr), strings.TrimSpace(pattern), strings.TrimSpace(chat)
		if !ok || !ok2 || attr == "" || pattern == "" || chat == "" {
			return nil, fmt.Errorf("%w: route %q: want attribute=pattern:chat_id", ErrInvalid, part)
		}
		if _, err := path.Match(pattern, ""); err != nil {
			return nil, fmt.Errorf("%w: route %q: bad pattern: %v", ErrInvalid, part, err)
		}
		if _, err := strconv.ParseInt(chat, 10, 64); err != nil {
			return nil, fmt.Errorf("%w: route %q: chat id %q is not a number", ErrInvalid, part, chat)
		}
		out = append(out, Route{Attribute: attr, Pattern: pattern, ChatID: chat})
	}
	return out, nil
}

// RouteFor picks the agents' chat of a case from its event context; def
// when no route matches.
func RouteFor(routes []Route, context map[string]string, def string) string {
	for _, r := range routes {
		if v, ok := context[r.Attribute]; ok {
			if m, _ := path.Match(r.Pattern, v); m {
				return r.ChatID
			}
		}
	}
	return def
}

// WorkingHours are when the desk is staffed; SLA clocks run only then.
// The zero value means always.
type WorkingHours struct {
	Days       [7]bool // by time.Weekday
	Start, End time.Duration
	Location   *time.Location
	always     bool
}

// AlwaysOpen is a desk staffed around the clock.
func AlwaysOpen() WorkingHours { return WorkingHours{always: true} }

// ParseWorkingHours reads "Mon-Fri 09:00-18:00" (days: Mon..Sun, ranges or
// comma lists) in the time zone tz; "" or "always" is around the clock.
func ParseWorkingHours(spec, tz string) (WorkingHours, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" || strings.EqualFold(spec, "always") {
		return AlwaysOpen(), nil
	}
	loc := time.UTC
	if tz != "" {
		var err error
		if loc, err = time.LoadLocation(tz); err != nil {
			return WorkingHours{}, fmt.Errorf("%w: time zone %q: %v", ErrInvalid, tz, err)
		}
	}
	days, hours, ok := strings.Cut(spec, " ")
	bad := func(why string) (WorkingHours, error) {
		return WorkingHours{}, fmt.Errorf("%w: working hours %q: %s (want e.g. Mon-Fri 09:00-18:00)", ErrInvalid, spec, why)
	}
	if !ok {
		return bad("days and hours are separated by a space")
	}
	w := WorkingHours{Location: loc}
	names := []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
	day := func(s string) (int, bool) {
		i := slices.Index(names, strings.ToLower(strings.TrimSpace(s)))
		return i, i >= 0
	}
	for _, item := range strings.Split(days, ",") {
		from, to, isRange := strings.Cut(item, "-")
		a, ok := day(from)
		if !ok {
			return bad("unknown day " + strconv.Quote(from))
		}
		b := a
		if isRange {
			if b, ok = day(to); !ok {
				return bad("unknown day " + strconv.Quote(to))
			}
		}
		for d := a; ; d = (d + 1) % 7 {
			w.Days[d] = true
			if d == b {
				break
			}
		}
	}
	clock := func(s string) (time.Duration, bool) {
		t, err := time.Parse("15:04", strings.TrimSpace(s))
		if err != nil {
			return 0, false
		}
		return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, true
	}
	from, to, ok := strings.Cut(hours, "-")
	var ok1, ok2 bool
	w.Start, ok1 = clock(from)
	w.End, ok2 = clock(to)
	if !ok || !ok1 || !ok2 || w.End <= w.Start {
		return bad("hours must be HH:MM-HH:MM, start before end")
	}
	return w, nil
}

// Elapsed is the staffed time between from and to: what an SLA counts.
func (w WorkingHours) Elapsed(from, to time.Time) time.Duration {
	if w.always || w.Location == nil {
		return max(0, to.Sub(from))
	}
	if !to.After(from) {
		return 0
	}
	var total time.Duration
	from, to = from.In(w.Location), to.In(w.Location)
	for day := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, w.Location); day.Before(to); day = day.AddDate(0, 0, 1) {
		if !w.Days[day.Weekday()] {
			continue
		}
		open, closed := day.Add(w.Start), day.Add(w.End)
		start, end := maxTime(open, from), minTime(closed, to)
		if end.After(start) {
			total += end.Sub(start)
		}
	}
	return total
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// WebhookEvent names what an outbound webhook tells the business's systems.
type WebhookEvent string

const (
	EventResponseCompleted WebhookEvent = "response.completed"
	EventHandoffOpened     WebhookEvent = "handoff.opened"
	EventHandoffClaimed    WebhookEvent = "handoff.claimed"
	EventHandoffResolved   WebhookEvent = "handoff.resolved"
	EventHandoffRecovered  WebhookEvent = "handoff.recovered"
)

// OutboxEvent is one webhook waiting in the durable outbox. Payload is the
// JSON body; empty means it is built from SubjectID when first sent
// (response.completed, enqueued inside the answer's own statement).
type OutboxEvent struct {
	ID        int64
	Event     WebhookEvent
	SubjectID int64 // the response or handoff it is about
	Payload   []byte
	CreatedAt time.Time
}

// PastScore is one score a customer gave before, for the agents' notice.
type PastScore struct {
	SurveyID   string
	Kind       Kind
	Score      int
	Class      Class
	AnsweredAt time.Time
}

// NoticeFacts is what an agents' notice shows besides its handoff: the
// response's answers, the customer's latest scores in other responses
// (newest first) and their other live cases (newest first).
type NoticeFacts struct {
	Answers      []Answer
	History      []PastScore
	OtherCaseIDs []int64
}

// Resolution is how a case is closed.
type Resolution struct {
	Outcome CaseOutcome
	Note    string
	By      string // agent name, "customer" or "api"
	At      time.Time
}

// Validate checks a resolution before it is stored.
func (r Resolution) Validate() error {
	switch {
	case !r.Outcome.Valid():
		return fmt.Errorf("%w: outcome must be one of resolved, no_answer, not_actionable, got %q", ErrInvalid, r.Outcome)
	case len([]rune(r.Note)) > 2000:
		return fmt.Errorf("%w: note is longer than 2000 characters", ErrInvalid)
	}
	return nil
}
