package conversation_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// Hand-written fakes of what conversation declares (Records, States) and
// uses (bot.Channel, bot.TemplateSender, bot.AgentNotifier), in the style
// of wtf's mock package but in memory: they keep the same rules the SQL and
// Redis stores apply, so a test drives the Service through whole
// conversations and an ordering mistake shows up as a wrong row or a held
// chat, not only as a wrong call.
//
// Every method first calls enter(name), which logs the call and asks the
// fake's Fail function (nil: never fail) whether to fail it. A method the
// interfaces gain later is one line until a test needs its behaviour:
//
//	func (r *memRecords) NewMethod(ctx context.Context, id int64) (flows.X, error) { return flows.X{}, r.unimplemented("NewMethod") }

// errTransient is a failure worth a retry (a reset connection, a 5xx).
var errTransient = errors.New("connection reset by peer")

// journal is one ordered log of the calls every fake got, so a test can
// check the order across them: the answer in SQL before any message, the
// message before the turn ends.
type journal struct {
	mu      sync.Mutex
	entries []string
}

func (j *journal) add(entry string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = append(j.entries, entry)
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.entries)
}

// since returns the entries after the first n (a test's mark).
func (j *journal) since(n int) []string { return j.list()[n:] }

func (j *journal) len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.entries)
}

// fakeClock is the Service's Now; tests move it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type chatKey struct {
	ch flows.Channel
	id string
}

// ---------------------------------------------------------------------------
// Records: the SQL side.

// memRecords keeps customers, chats, invitations, responses, answers and
// handoffs with the rules of store/sqlstore: one invitation per wave ×
// customer × event, one response per invitation, one answer per response ×
// question, one handoff per response, consent marks kept on the customer
// and on each of its chats (and staying with a chat that is relinked),
// statuses moved only where flows allows it. Reads return copies.
type memRecords struct {
	t   *testing.T
	now func() time.Time
	log *journal
	// Fail, when set, is asked before each method runs, with the method's
	// name; an error it returns is returned instead and nothing changes.
	Fail func(method string) error

	mu          sync.Mutex
	calls       []string
	lastID      int64
	customers   map[int64]flows.Customer
	byRef       map[string]int64
	identities  map[chatKey]flows.Identity
	invitations map[int64]flows.Invitation
	responses   map[int64]flows.Response
	answers     map[int64][]flows.Answer // by response id, in order
	handoffs    map[int64]memHandoff     // by response id
	progress    map[int64]memProgress    // by response id: what each step keeps for a recall
	steps       []flows.StepWrite        // every ApplyStep that was written
}

// memProgress is what the responses row keeps of the conversation: the
// state after the last step (JSON) and the update that made it.
type memProgress struct {
	state        []byte
	lastUpdateID string
}

type memHandoff struct {
	flows.Handoff
	updatedAt time.Time
}

func newRecords(t *testing.T, now func() time.Time, log *journal) *memRecords {
	return &memRecords{
		t: t, now: now, log: log,
		customers:   map[int64]flows.Customer{},
		byRef:       map[string]int64{},
		identities:  map[chatKey]flows.Identity{},
		invitations: map[int64]flows.Invitation{},
		responses:   map[int64]flows.Response{},
		answers:     map[int64][]flows.Answer{},
		handoffs:    map[int64]memHandoff{},
		progress:    map[int64]memProgress{},
	}
}

func (r *memRecords) enter(method string) error {
	r.mu.Lock()
	r.calls = append(r.calls, method)
	fail := r.Fail
	r.mu.Unlock()
	r.log.add("sql." + method)
	if fail != nil {
		if err := fail(method); err != nil {
			return fmt.Errorf("fake sql: %s: %w", method, err)
		}
	}
	return nil
}

// unimplemented is the body of a method no test has needed yet.
//
//lint:ignore U1000 the body of the next method Records gains
func (r *memRecords) unimplemented(method string) error {
	r.t.Errorf("memRecords.%s is not faked yet: give it the SQL store's behaviour", method)
	return fmt.Errorf("%w: fake sql: %s not implemented", flows.ErrUnavailable, method)
}

func (r *memRecords) id() int64 {
	r.lastID++
	return r.lastID
}

func (r *memRecords) at(t time.Time) time.Time {
	if t.IsZero() {
		return r.now()
	}
	return t
}

func notFound(format string, args ...any) error {
	return fmt.Errorf("fake sql: %s: %w", fmt.Sprintf(format, args...), flows.ErrNotFound)
}

func timePtr(t time.Time) *time.Time { return &t }

func (r *memRecords) UpsertCustomer(ctx context.Context, ref, language string) (flows.Customer, error) {
	if err := r.enter("UpsertCustomer"); err != nil {
		return flows.Customer{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if ref == "" {
		return flows.Customer{}, fmt.Errorf("upsert customer: %w: ref is required", flows.ErrInvalid)
	}
	if id, ok := r.byRef[ref]; ok {
		c := r.customers[id]
		if c.Language == "" && language != "" {
			c.Language = language
			r.customers[id] = c
		}
		return c, nil
	}
	c := flows.Customer{ID: r.id(), Ref: ref, Language: language, CreatedAt: r.now()}
	r.customers[c.ID], r.byRef[ref] = c, c.ID
	return c, nil
}

func (r *memRecords) CustomerByRef(ctx context.Context, ref string) (flows.Customer, error) {
	if err := r.enter("CustomerByRef"); err != nil {
		return flows.Customer{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.byRef[ref]
	if !ok {
		return flows.Customer{}, notFound("customer %s", ref)
	}
	return r.customers[id], nil
}

// LinkIdentity gives the chat to the customer; the chat keeps its own
// consent marks, username and language unless new ones are given, and its
// LinkedAt unless the owner changes.
func (r *memRecords) LinkIdentity(ctx context.Context, id flows.Identity) (flows.Identity, error) {
	if err := r.enter("LinkIdentity"); err != nil {
		return flows.Identity{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if id.CustomerID <= 0 || id.Channel == "" || id.ExternalID == "" {
		return flows.Identity{}, fmt.Errorf("link identity: %w: customer, channel and external id are required", flows.ErrInvalid)
	}
	if _, ok := r.customers[id.CustomerID]; !ok {
		return flows.Identity{}, notFound("customer %d", id.CustomerID)
	}
	k := chatKey{id.Channel, id.ExternalID}
	cur, ok := r.identities[k]
	if !ok {
		cur = flows.Identity{ID: r.id(), CustomerID: id.CustomerID, Channel: id.Channel, ExternalID: id.ExternalID, LinkedAt: r.at(id.LinkedAt)}
	} else if cur.CustomerID != id.CustomerID {
		cur.CustomerID, cur.LinkedAt = id.CustomerID, r.at(id.LinkedAt)
	}
	if id.Username != "" {
		cur.Username = id.Username
	}
	if id.Language != "" {
		cur.Language = id.Language
	}
	r.identities[k] = cur
	return cur, nil
}

func (r *memRecords) IdentityByExternal(ctx context.Context, ch flows.Channel, externalID string) (flows.Identity, flows.Customer, error) {
	if err := r.enter("IdentityByExternal"); err != nil {
		return flows.Identity{}, flows.Customer{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ident, ok := r.identities[chatKey{ch, externalID}]
	if !ok {
		return flows.Identity{}, flows.Customer{}, notFound("%s chat %s", ch, externalID)
	}
	return ident, r.customers[ident.CustomerID], nil
}

// consent sets (keeping the first time) or clears (at nil) one consent
// mark on the customer and on every chat linked to it.
func (r *memRecords) consent(method string, customerID int64, at *time.Time, customerMark func(*flows.Customer) **time.Time, chatMark func(*flows.Identity) **time.Time) error {
	if err := r.enter(method); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.customers[customerID]
	if !ok {
		return notFound("%s customer %d", method, customerID)
	}
	set := func(p **time.Time) {
		if at == nil || *p == nil {
			*p = at
		}
	}
	set(customerMark(&c))
	r.customers[customerID] = c
	for k, ident := range r.identities {
		if ident.CustomerID == customerID {
			set(chatMark(&ident))
			r.identities[k] = ident
		}
	}
	return nil
}

func optedOut(c *flows.Customer) **time.Time        { return &c.OptedOutAt }
func unreachable(c *flows.Customer) **time.Time     { return &c.UnreachableAt }
func chatOptedOut(i *flows.Identity) **time.Time    { return &i.OptedOutAt }
func chatUnreachable(i *flows.Identity) **time.Time { return &i.UnreachableAt }

func (r *memRecords) OptOut(ctx context.Context, customerID int64, at time.Time) error {
	return r.consent("OptOut", customerID, timePtr(r.at(at)), optedOut, chatOptedOut)
}

func (r *memRecords) OptIn(ctx context.Context, customerID int64) error {
	return r.consent("OptIn", customerID, nil, optedOut, chatOptedOut)
}

func (r *memRecords) MarkUnreachable(ctx context.Context, customerID int64, at time.Time) error {
	return r.consent("MarkUnreachable", customerID, timePtr(r.at(at)), unreachable, chatUnreachable)
}

func (r *memRecords) ClearUnreachable(ctx context.Context, customerID int64) error {
	return r.consent("ClearUnreachable", customerID, nil, unreachable, chatUnreachable)
}

// withRef completes an invitation as the SQL store reads it (joined with
// its customer's ref); the caller holds r.mu.
func (r *memRecords) withRef(inv flows.Invitation) flows.Invitation {
	inv.CustomerRef = r.customers[inv.CustomerID].Ref
	inv.Context = maps.Clone(inv.Context)
	return inv
}

func (r *memRecords) invitationByKey(waveID string, customerID int64, eventID string) (flows.Invitation, bool) {
	for _, id := range slices.Sorted(maps.Keys(r.invitations)) {
		inv := r.invitations[id]
		if inv.WaveID == waveID && inv.CustomerID == customerID && inv.EventID == eventID {
			return r.withRef(inv), true
		}
	}
	return flows.Invitation{}, false
}

func (r *memRecords) InvitationByKey(ctx context.Context, waveID string, customerID int64, eventID string) (flows.Invitation, error) {
	if err := r.enter("InvitationByKey"); err != nil {
		return flows.Invitation{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	inv, ok := r.invitationByKey(waveID, customerID, eventID)
	if !ok {
		return flows.Invitation{}, notFound("invitation (wave %s, customer %d, event %s)", waveID, customerID, eventID)
	}
	return inv, nil
}

func (r *memRecords) Invitation(ctx context.Context, id int64) (flows.Invitation, error) {
	if err := r.enter("Invitation"); err != nil {
		return flows.Invitation{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	inv, ok := r.invitations[id]
	if !ok {
		return flows.Invitation{}, notFound("invitation %d", id)
	}
	return r.withRef(inv), nil
}

func (r *memRecords) CreateInvitation(ctx context.Context, inv flows.Invitation) (flows.Invitation, bool, error) {
	if err := r.enter("CreateInvitation"); err != nil {
		return flows.Invitation{}, false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if inv.WaveID == "" || inv.CustomerID <= 0 || inv.SurveyID == "" {
		return flows.Invitation{}, false, fmt.Errorf("create invitation: %w: wave, customer and survey are required", flows.ErrInvalid)
	}
	if inv.Status == "" {
		inv.Status = flows.InvitationPlanned
	}
	if !inv.Status.Valid() {
		return flows.Invitation{}, false, fmt.Errorf("create invitation: %w: unknown status %q", flows.ErrInvalid, inv.Status)
	}
	if _, ok := r.customers[inv.CustomerID]; !ok {
		return flows.Invitation{}, false, notFound("customer %d", inv.CustomerID)
	}
	if existing, ok := r.invitationByKey(inv.WaveID, inv.CustomerID, inv.EventID); ok {
		return existing, false, nil
	}
	inv.ID = r.id()
	inv.CreatedAt = r.at(inv.CreatedAt)
	if inv.NotBefore.IsZero() {
		inv.NotBefore = inv.CreatedAt
	}
	inv.CustomerRef = ""
	inv.Context = maps.Clone(inv.Context)
	r.invitations[inv.ID] = inv
	return r.withRef(inv), true, nil
}

// SetInvitationStatus records a delivery outcome; one never overwrites a
// status the customer moved on (started, completed, expired).
func (r *memRecords) SetInvitationStatus(ctx context.Context, id int64, status flows.InvitationStatus, errText string, at time.Time) error {
	if err := r.enter("SetInvitationStatus"); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !status.Valid() {
		return fmt.Errorf("set invitation %d: %w: unknown status %q", id, flows.ErrInvalid, status)
	}
	inv, ok := r.invitations[id]
	if !ok {
		return notFound("set invitation %d %s", id, status)
	}
	if !status.DeliveryOutcome() || !inv.Status.CustomerOwned() {
		inv.Status = status
	}
	inv.Error = errText
	if status == flows.InvitationSent {
		inv.SentAt = timePtr(r.at(at))
	}
	r.invitations[id] = inv
	return nil
}

func (r *memRecords) StartResponse(ctx context.Context, resp flows.Response) (flows.Response, error) {
	if err := r.enter("StartResponse"); err != nil {
		return flows.Response{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if resp.InvitationID <= 0 {
		return flows.Response{}, fmt.Errorf("start response: %w: invitation is required", flows.ErrInvalid)
	}
	inv, ok := r.invitations[resp.InvitationID]
	if !ok {
		return flows.Response{}, notFound("invitation %d", resp.InvitationID)
	}
	if existing, ok := r.responseForInvitation(resp.InvitationID); ok {
		return existing, nil
	}
	resp.ID = r.id()
	resp.CustomerID = cmp(resp.CustomerID, inv.CustomerID)
	resp.SurveyID = cmp(resp.SurveyID, inv.SurveyID)
	resp.SurveyVersion = cmp(resp.SurveyVersion, inv.SurveyVersion)
	resp.Channel = cmp(resp.Channel, inv.Channel)
	resp.ExternalID = cmp(resp.ExternalID, inv.ExternalID)
	resp.Language = cmp(resp.Language, inv.Language)
	resp.Status = cmp(resp.Status, flows.ResponseStarted)
	resp.StartedAt = r.at(resp.StartedAt)
	r.responses[resp.ID] = resp
	return resp, nil
}

// cmp is SQL's COALESCE for "not given": v, or def when v is zero.
func cmp[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (r *memRecords) responseForInvitation(invitationID int64) (flows.Response, bool) {
	for _, resp := range r.responses {
		if resp.InvitationID == invitationID {
			return resp, true
		}
	}
	return flows.Response{}, false
}

func (r *memRecords) Response(ctx context.Context, id int64) (flows.Response, error) {
	if err := r.enter("Response"); err != nil {
		return flows.Response{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	resp, ok := r.responses[id]
	if !ok {
		return flows.Response{}, notFound("response %d", id)
	}
	return resp, nil
}

func (r *memRecords) ResponseForInvitation(ctx context.Context, invitationID int64) (flows.Response, error) {
	if err := r.enter("ResponseForInvitation"); err != nil {
		return flows.Response{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	resp, ok := r.responseForInvitation(invitationID)
	if !ok {
		return flows.Response{}, notFound("response to invitation %d", invitationID)
	}
	return resp, nil
}

// OpenResponseForChat returns the chat's latest started response.
func (r *memRecords) OpenResponseForChat(ctx context.Context, ch flows.Channel, externalID string) (flows.Response, error) {
	if err := r.enter("OpenResponseForChat"); err != nil {
		return flows.Response{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var best flows.Response
	for _, resp := range r.responses {
		if resp.Channel != ch || resp.ExternalID != externalID || resp.Status != flows.ResponseStarted {
			continue
		}
		if best.ID == 0 || resp.StartedAt.After(best.StartedAt) || (resp.StartedAt.Equal(best.StartedAt) && resp.ID > best.ID) {
			best = resp
		}
	}
	if best.ID == 0 {
		return flows.Response{}, notFound("open response for %s chat %s", ch, externalID)
	}
	return best, nil
}

// ApplyStep writes a step all or nothing, like the SQL transaction.
func (r *memRecords) ApplyStep(ctx context.Context, w flows.StepWrite) (bool, error) {
	if err := r.enter("ApplyStep"); err != nil {
		return false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := w.Validate(); err != nil {
		return false, fmt.Errorf("apply step: %w", err)
	}
	at := r.at(w.At)
	resp, ok := r.responses[w.ResponseID]
	if !ok {
		return false, notFound("response %d", w.ResponseID)
	}
	prog := r.progress[resp.ID]
	if w.UpdateID != "" {
		switch prog.lastUpdateID {
		case w.UpdateID:
			return false, fmt.Errorf("fake sql: apply step to response %d: %w", resp.ID, flows.ErrApplied)
		case w.ExpectUpdateID:
		default:
			return false, fmt.Errorf("fake sql: apply step to response %d: %w: the response moved on to update %q, the caller's state is from %q",
				resp.ID, flows.ErrConflict, prog.lastUpdateID, w.ExpectUpdateID)
		}
	}
	h, hasHandoff := r.handoffs[resp.ID]
	if (w.HandoffComment != nil || w.HandoffStatus != "") && !hasHandoff && w.OpenHandoff == nil {
		return false, notFound("update handoff of response %d", resp.ID)
	}
	if o := w.OpenHandoff; o != nil && !hasHandoff && o.Status != "" && !o.Status.Valid() {
		return false, fmt.Errorf("open handoff: %w: unknown status %q", flows.ErrInvalid, o.Status)
	}
	// Nothing below fails: the step is written whole.
	r.steps = append(r.steps, w)
	inserted := false
	if a := w.Answer; a != nil && !slices.ContainsFunc(r.answers[resp.ID], func(x flows.Answer) bool { return x.QuestionID == a.QuestionID }) {
		ans := *a
		if ans.Score != nil {
			s := *ans.Score
			ans.Score = &s
		}
		ans.AnsweredAt = r.at(ans.AnsweredAt)
		r.answers[resp.ID] = append(r.answers[resp.ID], ans)
		inserted = true
		if inv := r.invitations[resp.InvitationID]; slices.Contains(flows.InvitationsAnswerStarts(), inv.Status) {
			inv.Status = flows.InvitationStarted
			r.invitations[inv.ID] = inv
		}
	}
	if o := w.OpenHandoff; o != nil && !hasHandoff {
		h = memHandoff{Handoff: *o, updatedAt: at}
		h.ID = r.id()
		h.ResponseID = resp.ID
		h.CustomerID = cmp(h.CustomerID, resp.CustomerID)
		h.SurveyID = cmp(h.SurveyID, resp.SurveyID)
		h.Channel = cmp(h.Channel, resp.Channel)
		h.ExternalID = cmp(h.ExternalID, resp.ExternalID)
		h.Status = cmp(h.Status, flows.HandoffOpen)
		h.CreatedAt = r.at(h.CreatedAt)
		if h.CustomerRef == "" {
			h.CustomerRef = r.customers[h.CustomerID].Ref
		}
		if h.Context == nil {
			h.Context = maps.Clone(r.invitations[resp.InvitationID].Context)
		}
		hasHandoff = true
	}
	if w.HandoffComment != nil || w.HandoffStatus != "" {
		if w.HandoffComment != nil {
			h.Comment = *w.HandoffComment
		}
		if w.HandoffStatus != "" && h.Status.CanMoveTo(w.HandoffStatus) {
			h.Status = w.HandoffStatus
		}
		h.updatedAt = at
	}
	if hasHandoff {
		r.handoffs[resp.ID] = h
	}
	if w.State != nil {
		b, err := json.Marshal(w.State)
		if err != nil {
			r.t.Fatal(err)
		}
		prog.state = b
	}
	if w.UpdateID != "" {
		prog.lastUpdateID = w.UpdateID
	}
	r.progress[resp.ID] = prog
	if w.Finish != "" && resp.Status.Finish(w.Finish) {
		resp.Status, resp.CompletedAt = w.Finish, timePtr(at)
		r.responses[resp.ID] = resp
		if inv := r.invitations[resp.InvitationID]; inv.Status.Running() {
			inv.Status = flows.FinishedInvitation(w.Finish)
			r.invitations[inv.ID] = inv
		}
	}
	return inserted, nil
}

// ChatConversation returns the chat's latest response (any status) with
// its invitation's status and what its last step kept.
func (r *memRecords) ChatConversation(ctx context.Context, ch flows.Channel, externalID string) (flows.Conversation, error) {
	if err := r.enter("ChatConversation"); err != nil {
		return flows.Conversation{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var best flows.Response
	for _, resp := range r.responses {
		if resp.Channel != ch || resp.ExternalID != externalID {
			continue
		}
		if best.ID == 0 || resp.StartedAt.After(best.StartedAt) || (resp.StartedAt.Equal(best.StartedAt) && resp.ID > best.ID) {
			best = resp
		}
	}
	if best.ID == 0 {
		return flows.Conversation{}, notFound("conversation of %s chat %s", ch, externalID)
	}
	prog := r.progress[best.ID]
	c := flows.Conversation{Response: best, Invitation: r.invitations[best.InvitationID].Status, LastUpdateID: prog.lastUpdateID}
	if prog.state != nil {
		if err := json.Unmarshal(prog.state, &c.State); err != nil {
			r.t.Fatal(err)
		}
		c.HasState = true
	}
	return c, nil
}

func (r *memRecords) HandoffForResponse(ctx context.Context, responseID int64) (flows.Handoff, error) {
	if err := r.enter("HandoffForResponse"); err != nil {
		return flows.Handoff{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.handoffs[responseID]
	if !ok {
		return flows.Handoff{}, notFound("handoff of response %d", responseID)
	}
	return copyHandoff(h.Handoff), nil
}

func copyHandoff(h flows.Handoff) flows.Handoff {
	h.Context = maps.Clone(h.Context)
	return h
}

// MarkHandoffNotified: agents were told; a handoff awaiting its comment
// becomes open, a claimed or resolved one keeps its status.
func (r *memRecords) MarkHandoffNotified(ctx context.Context, id int64, at time.Time) error {
	if err := r.enter("MarkHandoffNotified"); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for rid, h := range r.handoffs {
		if h.ID != id {
			continue
		}
		if h.Status == flows.HandoffAwaitingComment {
			h.Status = flows.HandoffOpen
		}
		h.NotifiedAt, h.updatedAt = timePtr(r.at(at)), r.at(at)
		r.handoffs[rid] = h
		return nil
	}
	return notFound("mark handoff %d notified", id)
}

// HandoffsToNotify: awaiting a comment since before awaitingBefore, or open,
// never notified and unchanged since before openBefore; oldest first.
func (r *memRecords) HandoffsToNotify(ctx context.Context, awaitingBefore, openBefore time.Time, limit int) ([]flows.Handoff, error) {
	if err := r.enter("HandoffsToNotify"); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []flows.Handoff
	for _, h := range r.handoffs {
		if (h.Status == flows.HandoffAwaitingComment && h.CreatedAt.Before(awaitingBefore)) ||
			(h.Status == flows.HandoffOpen && h.NotifiedAt == nil && h.updatedAt.Before(openBefore)) {
			out = append(out, copyHandoff(h.Handoff))
		}
	}
	slices.SortFunc(out, func(a, b flows.Handoff) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	if limit <= 0 {
		limit = 100
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// ExpireInvitation: an invitation nobody finished expires, with its
// started response.
func (r *memRecords) ExpireInvitation(ctx context.Context, id int64, at time.Time) error {
	if err := r.enter("ExpireInvitation"); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	inv, ok := r.invitations[id]
	if !ok {
		return notFound("expire invitation %d", id)
	}
	if !inv.Status.Expirable() {
		return nil
	}
	inv.Status = flows.InvitationExpired
	r.invitations[id] = inv
	for rid, resp := range r.responses {
		if resp.InvitationID == id && resp.Status == flows.ResponseStarted {
			resp.Status, resp.CompletedAt = flows.ResponseExpired, timePtr(r.at(at))
			r.responses[rid] = resp
		}
	}
	return nil
}

// Answers is the SQL store's read of a response's answers (not part of
// Records yet).
func (r *memRecords) Answers(ctx context.Context, responseID int64) ([]flows.Answer, error) {
	if err := r.enter("Answers"); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.answers[responseID]), nil
}

// What tests read and seed, without the call log or Fail.

func (r *memRecords) customer(ref string) flows.Customer {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.byRef[ref]
	if !ok {
		r.t.Fatalf("no customer %q", ref)
	}
	return r.customers[id]
}

func (r *memRecords) hasCustomer(ref string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.byRef[ref]
	return ok
}

func (r *memRecords) identity(ch flows.Channel, chatID string) (flows.Identity, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.identities[chatKey{ch, chatID}]
	return id, ok
}

func (r *memRecords) invitation(id int64) flows.Invitation {
	r.mu.Lock()
	defer r.mu.Unlock()
	inv, ok := r.invitations[id]
	if !ok {
		r.t.Fatalf("no invitation %d", id)
	}
	return r.withRef(inv)
}

func (r *memRecords) invitationCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.invitations)
}

func (r *memRecords) response(id int64) flows.Response {
	r.mu.Lock()
	defer r.mu.Unlock()
	resp, ok := r.responses[id]
	if !ok {
		r.t.Fatalf("no response %d", id)
	}
	return resp
}

func (r *memRecords) responseOf(invitationID int64) flows.Response {
	r.mu.Lock()
	defer r.mu.Unlock()
	resp, ok := r.responseForInvitation(invitationID)
	if !ok {
		r.t.Fatalf("invitation %d has no response", invitationID)
	}
	return resp
}

func (r *memRecords) answersOf(responseID int64) []flows.Answer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.answers[responseID])
}

func (r *memRecords) handoff(responseID int64) (flows.Handoff, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.handoffs[responseID]
	return copyHandoff(h.Handoff), ok
}

func (r *memRecords) markNotified(responseID int64, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.handoffs[responseID]
	h.NotifiedAt, h.Status = timePtr(at), flows.HandoffOpen
	r.handoffs[responseID] = h
}

func (r *memRecords) count(method string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		if c == method {
			n++
		}
	}
	return n
}

// ---------------------------------------------------------------------------
// States: the Redis side.

// memStates keeps each chat's state, seen marks, service window and lease
// with the rules of store/redisstore: one turn holds a chat at a time (Begin
// waits for the holder), a seen update's turn is over at once, End writes
// the state change, the seen mark and the window and gives the lease back,
// a lease that ran out (by the fake clock) makes End write all the same
// and report ErrConflict. States are stored as JSON, like in Redis, so a
// step never shares memory with the state it read. Misuse (ending a turn
// twice, ending a seen turn, saving without a TTL, a chat left held at
// the end of a test) is recorded and fails the test.
type memStates struct {
	t   *testing.T
	now func() time.Time
	log *journal
	// Fail, when set, is asked before each method runs, with its name; an
	// error it returns is returned instead and nothing changes.
	Fail func(method string) error
	// BeginWait is how long (real time) Begin waits for a chat another turn
	// holds before it gives up with ErrUnavailable.
	BeginWait time.Duration

	mu         sync.Mutex
	calls      []string
	chats      map[chatKey]*memChat
	ends       []endCall
	leases     int
	violations []string
}

type memChat struct {
	lease      string
	leaseUntil time.Time
	free       chan struct{} // closed when the lease is given back
	state      []byte        // JSON; nil: no conversation
	stateUntil time.Time
	stateTTL   time.Duration
	seen       map[string]time.Time // update id → remembered until
	window     time.Time            // the service window is open until then
}

type endCall struct {
	Turn flows.Turn
	End  flows.TurnEnd
}

func newStates(t *testing.T, now func() time.Time, log *journal) *memStates {
	return &memStates{t: t, now: now, log: log, BeginWait: 2 * time.Second, chats: map[chatKey]*memChat{}}
}

func (s *memStates) enter(method string) error {
	s.mu.Lock()
	s.calls = append(s.calls, method)
	fail := s.Fail
	s.mu.Unlock()
	s.log.add("redis." + method)
	if fail != nil {
		if err := fail(method); err != nil {
			return fmt.Errorf("fake redis: %s: %w", method, err)
		}
	}
	return nil
}

// unimplemented is the body of a method no test has needed yet.
//
//lint:ignore U1000 the body of the next method States gains
func (s *memStates) unimplemented(method string) error {
	s.t.Errorf("memStates.%s is not faked yet: give it the Redis store's behaviour", method)
	return fmt.Errorf("%w: fake redis: %s not implemented", flows.ErrUnavailable, method)
}

func (s *memStates) violate(format string, args ...any) {
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
}

func (s *memStates) chat(ch flows.Channel, chatID string) *memChat {
	k := chatKey{ch, chatID}
	c, ok := s.chats[k]
	if !ok {
		c = &memChat{seen: map[string]time.Time{}}
		s.chats[k] = c
	}
	return c
}

func (c *memChat) held(now time.Time) bool { return c.lease != "" && now.Before(c.leaseUntil) }

func (c *memChat) release() {
	c.lease = ""
	if c.free != nil {
		close(c.free)
		c.free = nil
	}
}

func (c *memChat) current(now time.Time) (flows.State, bool) {
	if c.state == nil || !now.Before(c.stateUntil) {
		return flows.State{}, false
	}
	var st flows.State
	if err := json.Unmarshal(c.state, &st); err != nil {
		panic(err)
	}
	return st, true
}

func (s *memStates) Begin(ctx context.Context, ch flows.Channel, chatID, updateID string, leaseTTL time.Duration) (flows.Turn, error) {
	if err := s.enter("Begin"); err != nil {
		return flows.Turn{}, err
	}
	if ch == "" || chatID == "" || leaseTTL <= 0 {
		return flows.Turn{}, fmt.Errorf("%w: fake redis: begin turn %s:%s: channel, chat and a lease TTL are required", flows.ErrInvalid, ch, chatID)
	}
	giveUp := time.NewTimer(s.BeginWait)
	defer giveUp.Stop()
	for {
		s.mu.Lock()
		c, now := s.chat(ch, chatID), s.now()
		turn := flows.Turn{Channel: ch, ChatID: chatID, UpdateID: updateID}
		if until, ok := c.seen[updateID]; updateID != "" && ok && now.Before(until) {
			s.mu.Unlock()
			turn.Seen = true
			return turn, nil
		}
		if !c.held(now) {
			c.release() // a holder whose lease ran out
			s.leases++
			c.lease, c.leaseUntil, c.free = fmt.Sprintf("lease-%d", s.leases), now.Add(leaseTTL), make(chan struct{})
			turn.Lease = c.lease
			turn.State, turn.HasState = c.current(now)
			s.mu.Unlock()
			return turn, nil
		}
		free := c.free
		s.mu.Unlock()
		select {
		case <-free:
		case <-ctx.Done():
			return flows.Turn{}, fmt.Errorf("%w: fake redis: chat %s still held: %w", flows.ErrUnavailable, chatID, ctx.Err())
		case <-giveUp.C:
			return flows.Turn{}, fmt.Errorf("%w: fake redis: chat %s still held after %s", flows.ErrUnavailable, chatID, s.BeginWait)
		}
	}
}

func (s *memStates) End(ctx context.Context, t flows.Turn, e flows.TurnEnd) error {
	if err := s.enter("End"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.Lease == "" {
		s.violate("End of a turn that holds nothing (seen %v) at chat %s", t.Seen, t.ChatID)
	}
	if e.Change == flows.SaveState && e.StateTTL <= 0 {
		s.violate("state of chat %s saved without a TTL", t.ChatID)
		return fmt.Errorf("%w: fake redis: end turn: state TTL %s", flows.ErrInvalid, e.StateTTL)
	}
	if e.SeenTTL < 0 || e.WindowTTL < 0 {
		return fmt.Errorf("%w: fake redis: end turn: negative ttl", flows.ErrInvalid)
	}
	c, now := s.chat(t.Channel, t.ChatID), s.now()
	switch e.Change {
	case flows.SaveState:
		b, err := json.Marshal(e.State)
		if err != nil {
			return err
		}
		c.state, c.stateUntil, c.stateTTL = b, now.Add(e.StateTTL), e.StateTTL
	case flows.DeleteState:
		c.state = nil
	}
	if t.UpdateID != "" && e.SeenTTL >= time.Millisecond {
		c.seen[t.UpdateID] = now.Add(e.SeenTTL)
	}
	if e.WindowTTL >= time.Millisecond {
		c.window = now.Add(e.WindowTTL)
	}
	s.ends = append(s.ends, endCall{Turn: t, End: e})
	if c.lease != t.Lease || !c.held(now) {
		if c.lease == t.Lease {
			c.release() // it ran out
		}
		return fmt.Errorf("%w: fake redis: end turn %s: the lease expired before the turn ended", flows.ErrConflict, t.ChatID)
	}
	c.release()
	return nil
}

func (s *memStates) Release(ctx context.Context, t flows.Turn) error {
	if err := s.enter("Release"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.Lease == "" {
		s.violate("Release of a turn that holds nothing (seen %v) at chat %s", t.Seen, t.ChatID)
	}
	c := s.chat(t.Channel, t.ChatID)
	if c.lease != t.Lease || !c.held(s.now()) {
		return fmt.Errorf("%w: fake redis: release turn %s: the lease expired", flows.ErrConflict, t.ChatID)
	}
	c.release()
	return nil
}

// Extend renews a held lease; one that ran out or was taken over is
// ErrConflict, like the store's compare-and-expire.
func (s *memStates) Extend(ctx context.Context, t flows.Turn, leaseTTL time.Duration) error {
	if err := s.enter("Extend"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if leaseTTL <= 0 {
		return fmt.Errorf("%w: fake redis: extend turn %s: lease TTL %s", flows.ErrInvalid, t.ChatID, leaseTTL)
	}
	c, now := s.chat(t.Channel, t.ChatID), s.now()
	if c.lease != t.Lease || !c.held(now) {
		return fmt.Errorf("%w: fake redis: extend turn %s: the lease expired", flows.ErrConflict, t.ChatID)
	}
	c.leaseUntil = now.Add(leaseTTL)
	return nil
}

func (s *memStates) LoadState(ctx context.Context, ch flows.Channel, chatID string) (flows.State, bool, error) {
	if err := s.enter("LoadState"); err != nil {
		return flows.State{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.chat(ch, chatID).current(s.now())
	return st, ok, nil
}

func (s *memStates) WindowOpen(ctx context.Context, ch flows.Channel, chatID string) (bool, error) {
	if err := s.enter("WindowOpen"); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now().Before(s.chat(ch, chatID).window), nil
}

// What tests read and seed.

func (s *memStates) state(ch flows.Channel, chatID string) (flows.State, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.chat(ch, chatID).current(s.now())
}

// stateTTL is the TTL the chat's state was last saved with.
func (s *memStates) stateTTL(ch flows.Channel, chatID string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.chat(ch, chatID).stateTTL
}

func (s *memStates) put(ch flows.Channel, chatID string, st flows.State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := json.Marshal(st)
	if err != nil {
		s.t.Fatal(err)
	}
	c := s.chat(ch, chatID)
	c.state, c.stateUntil, c.stateTTL = b, s.now().Add(72*time.Hour), 72*time.Hour
}

func (s *memStates) seen(ch flows.Channel, chatID, updateID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	until, ok := s.chat(ch, chatID).seen[updateID]
	return ok && s.now().Before(until)
}

func (s *memStates) markSeen(ch flows.Channel, chatID, updateID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chat(ch, chatID).seen[updateID] = s.now().Add(time.Hour)
}

// flush forgets every state, seen mark and window, as a Redis restarted
// empty would (leases too: nobody holds a chat across the restart).
func (s *memStates) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.chats {
		c.release()
	}
	s.chats = map[chatKey]*memChat{}
}

// forget loses a seen mark, as an evicted or flushed key would.
func (s *memStates) forget(ch flows.Channel, chatID, updateID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.chat(ch, chatID).seen, updateID)
}

// windowUntil is when the chat's service window closes (zero: never opened).
func (s *memStates) windowUntil(ch flows.Channel, chatID string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.chat(ch, chatID).window
}

func (s *memStates) openWindow(ch flows.Channel, chatID string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chat(ch, chatID).window = s.now().Add(d)
}

func (s *memStates) held(ch flows.Channel, chatID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.chat(ch, chatID).held(s.now())
}

func (s *memStates) endCalls() []endCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ends)
}

func (s *memStates) lastEnd() endCall {
	ends := s.endCalls()
	if len(ends) == 0 {
		s.t.Fatal("no turn was ended")
	}
	return ends[len(ends)-1]
}

func (s *memStates) count(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c == method {
			n++
		}
	}
	return n
}

// check fails the test for misuse recorded, and for chats still held
// (except those the test expects held: a turn whose End failed keeps its
// lease until the lease runs out, as in Redis).
func (s *memStates) check(t *testing.T, expectHeld ...string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.violations {
		t.Errorf("states misused: %s", v)
	}
	for k, c := range s.chats {
		if c.held(s.now()) && !slices.Contains(expectHeld, k.id) {
			t.Errorf("chat %s:%s is still held: a turn was neither ended nor released", k.ch, k.id)
		}
	}
}

// ---------------------------------------------------------------------------
// Channels and agents.

// chCall is one call a fake channel got.
type chCall struct {
	Op        string // Send, CloseQuestion, AnswerTap, SendTemplate
	ChatID    string
	Message   flows.Message // Send
	MessageID int           // Send: the id given; CloseQuestion: the prompt edited
	TapID     string        // AnswerTap
	Text      string        // CloseQuestion: the new text; AnswerTap: the notice
	Template  string        // SendTemplate
	URL       string
	Data      map[string]string
	Err       error           // what the call returned
	Ctx       context.Context // the call's context, for a Fail that waits on it
}

// fakeChannel is a chat platform that records every call. Fail (nil: never)
// decides a call's error before it takes effect: return bot.ErrBlocked,
// bot.ErrOutsideWindow or errTransient to play the platform refusing.
type fakeChannel struct {
	name flows.Channel
	log  *journal
	Fail func(c chCall) error

	mu     sync.Mutex
	lastID int
	calls  []chCall
}

func newChannel(name flows.Channel, log *journal) *fakeChannel {
	return &fakeChannel{name: name, log: log, lastID: 100}
}

func (f *fakeChannel) Name() flows.Channel { return f.name }

func (f *fakeChannel) do(c chCall) (chCall, error) {
	f.log.add(string(f.name) + "." + c.Op)
	f.mu.Lock()
	fail := f.Fail
	f.mu.Unlock()
	if fail != nil {
		c.Err = fail(c)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.Err == nil && c.Op == "Send" {
		f.lastID++
		c.MessageID = f.lastID
	}
	f.calls = append(f.calls, c)
	return c, c.Err
}

func (f *fakeChannel) Send(ctx context.Context, chatID string, m flows.Message) (int, error) {
	c, err := f.do(chCall{Op: "Send", ChatID: chatID, Message: m, Ctx: ctx})
	return c.MessageID, err
}

func (f *fakeChannel) CloseQuestion(ctx context.Context, chatID string, messageID int, text string) error {
	_, err := f.do(chCall{Op: "CloseQuestion", ChatID: chatID, MessageID: messageID, Text: text, Ctx: ctx})
	return err
}

func (f *fakeChannel) AnswerTap(ctx context.Context, tapID, notice string) error {
	_, err := f.do(chCall{Op: "AnswerTap", TapID: tapID, Text: notice, Ctx: ctx})
	return err
}

// succeeded returns the calls of one kind that took effect.
func (f *fakeChannel) succeeded(op string) []chCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []chCall
	for _, c := range f.calls {
		if c.Op == op && c.Err == nil {
			out = append(out, c)
		}
	}
	return out
}

// sent returns the messages that reached a chat.
func (f *fakeChannel) sent(chatID string) []chCall {
	var out []chCall
	for _, c := range f.succeeded("Send") {
		if c.ChatID == chatID {
			out = append(out, c)
		}
	}
	return out
}

// texts returns the texts that reached a chat.
func (f *fakeChannel) texts(chatID string) []string {
	var out []string
	for _, c := range f.sent(chatID) {
		out = append(out, c.Message.Text)
	}
	return out
}

func (f *fakeChannel) lastSent(t *testing.T, chatID string) chCall {
	t.Helper()
	sent := f.sent(chatID)
	if len(sent) == 0 {
		t.Fatalf("nothing was sent to chat %s", chatID)
	}
	return sent[len(sent)-1]
}

func (f *fakeChannel) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// fakeWeChat is a channel with a customer-service window: it also sends
// template messages (bot.TemplateSender).
type fakeWeChat struct{ *fakeChannel }

func (f *fakeWeChat) SendTemplate(ctx context.Context, chatID, templateID, url string, data map[string]string) error {
	_, err := f.do(chCall{Op: "SendTemplate", ChatID: chatID, Template: templateID, URL: url, Data: maps.Clone(data), Ctx: ctx})
	return err
}

// fakeAgents is the agents' chat; Fail (nil: never) refuses a notice.
type fakeAgents struct {
	log  *journal
	Fail func(text string) error

	mu      sync.Mutex
	notices []string
}

func (a *fakeAgents) NotifyAgents(ctx context.Context, text string) error {
	a.log.add("agents.NotifyAgents")
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.Fail != nil {
		if err := a.Fail(text); err != nil {
			return err
		}
	}
	a.notices = append(a.notices, text)
	return nil
}

func (a *fakeAgents) got() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.notices)
}

// syncBuffer collects the Service's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
