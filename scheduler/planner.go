package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// PlanStore is what planning needs from SQL.
type PlanStore interface {
	DueEvents(ctx context.Context, q flows.EventQuery) ([]flows.Candidate, error)
	SegmentCandidates(ctx context.Context, q flows.SegmentQuery) ([]flows.Candidate, error)
	PlanInvitations(ctx context.Context, invs []flows.Invitation) (int, error)
}

// Planner turns a wave's due events (or its segment) into invitation rows.
// It only writes the outbox: dispatchers send. The unique key (wave,
// customer, event) makes planning safe to repeat and to run on several
// replicas at once.
type Planner struct {
	store   PlanStore
	surveys map[string]*flows.Survey
	log     *slog.Logger
	page    int
}

// NewPlanner returns a planner over the loaded surveys.
func NewPlanner(s PlanStore, surveys map[string]*flows.Survey, log *slog.Logger) *Planner {
	if log == nil {
		log = slog.Default()
	}
	return &Planner{store: s, surveys: surveys, log: log, page: 1000}
}

// PlanResult says what a planning run did (or, in a preview, would do).
type PlanResult struct {
	Considered int                // candidates that matched the wave's filter
	Planned    int                // would be sent
	Skipped    map[string]int     // decided against, by reason
	Created    int                // rows newly written (0 in a preview)
	Sample     []flows.Invitation // up to 10 planned invitations
}

// Skip reasons recorded on skipped invitations.
const (
	SkipSample      = "sample"
	SkipOptedOut    = flows.ReasonOptedOut
	SkipUnreachable = flows.ReasonUnreachable
	SkipNoChannel   = "no_channel"
	SkipFrequency   = "frequency_cap"
	SkipRetired     = flows.ReasonWaveRetired
	// In a preview only: dispatch would hold these back now.
	SkipQuietHours = "quiet_hours"
	SkipInProgress = "survey_in_progress"
)

// liveSkip is why dispatch would not send inv at now, in the order it
// checks: the frequency cap, quiet hours, then a survey in the chat.
func liveSkip(ctx context.Context, w *Wave, c flows.Customer, inv flows.Invitation, now time.Time, live LiveState) (string, error) {
	if fc := w.FrequencyCap; fc != nil {
		n, err := live.SentSince(ctx, c.ID, now.Add(-fc.Per))
		if err != nil {
			return "", err
		}
		if n >= fc.Count {
			return SkipFrequency, nil
		}
	}
	if !w.QuietUntil(now, customerLocation(c, w)).IsZero() {
		return SkipQuietHours, nil
	}
	if _, busy, err := live.LoadState(ctx, inv.Channel, inv.ExternalID); err != nil {
		return "", err
	} else if busy {
		return SkipInProgress, nil
	}
	return "", nil
}

// Plan runs the wave once for the slot (the cron tick time). With dryRun it
// writes nothing: that is the preview.
func (p *Planner) Plan(ctx context.Context, w *Wave, slot time.Time, dryRun bool) (PlanResult, error) {
	return p.plan(ctx, w, slot, dryRun, nil)
}

// preview is a dry run at now that also skips, as dispatch would now,
// customers at their frequency cap, inside quiet hours or with a survey in
// progress. Without live state it is a plain dry run.
func (p *Planner) preview(ctx context.Context, w *Wave, now time.Time, live LiveState) (PlanResult, error) {
	return p.plan(ctx, w, now, true, live)
}

func (p *Planner) plan(ctx context.Context, w *Wave, slot time.Time, dryRun bool, live LiveState) (PlanResult, error) {
	survey, ok := p.surveys[w.Survey]
	if !ok {
		return PlanResult{}, fmt.Errorf("%w: wave %s: survey %q is not loaded", flows.ErrNotFound, w.ID, w.Survey)
	}
	res := PlanResult{Skipped: map[string]int{}}
	var batch []flows.Invitation
	flush := func() error {
		if dryRun || len(batch) == 0 {
			batch = batch[:0]
			return nil
		}
		n, err := p.store.PlanInvitations(ctx, batch)
		res.Created += n
		batch = batch[:0]
		return err
	}
	consider := func(c flows.Candidate, eventID string, notBefore time.Time) error {
		// Planned now: expires_after counts from here, so an older event
		// inside max_age still gets its full answering time.
		inv := p.decide(w, survey, c, eventID, notBefore, slot)
		if live != nil && inv.Status != flows.InvitationSkipped {
			why, err := liveSkip(ctx, w, c.Customer, inv, slot, live)
			if err != nil {
				return err
			}
			if why != "" {
				inv.Status, inv.Error = flows.InvitationSkipped, why
			}
		}
		res.Considered++
		if inv.Status == flows.InvitationSkipped {
			res.Skipped[inv.Error]++
		} else {
			res.Planned++
			if len(res.Sample) < 10 {
				res.Sample = append(res.Sample, inv)
			}
		}
		batch = append(batch, inv)
		if len(batch) >= p.page {
			return flush()
		}
		return nil
	}

	switch {
	case w.Trigger != nil:
		q := flows.EventQuery{
			WaveID: w.ID, Touchpoint: w.Trigger.Touchpoint,
			OccurredFrom: slot.Add(-w.Trigger.Delay - w.Trigger.MaxAge), OccurredTo: slot.Add(-w.Trigger.Delay),
			Limit: p.page,
		}
		for {
			page, err := p.store.DueEvents(ctx, q)
			if err != nil {
				return res, err
			}
			for _, c := range page {
				q.AfterSeq = c.Seq
				if !w.Trigger.Where.Match(c.Event.Attributes) {
					continue
				}
				if err := consider(c, c.Event.ID, c.Event.OccurredAt.Add(w.Trigger.Delay)); err != nil {
					return res, err
				}
			}
			if len(page) < q.Limit {
				break
			}
		}
	case w.Segment != nil:
		// One invitation per customer per run: the run's slot is the event.
		runID := "segment:" + slot.UTC().Format(time.RFC3339)
		q := flows.SegmentQuery{Limit: p.page}
		for {
			page, err := p.store.SegmentCandidates(ctx, q)
			if err != nil {
				return res, err
			}
			for _, c := range page {
				q.AfterCustomerID = c.Customer.ID
				if w.Segment.Touchpoint != "" && c.Event.Touchpoint != w.Segment.Touchpoint {
					continue
				}
				if !w.Segment.Where.Match(c.Event.Attributes) {
					continue
				}
				if err := consider(c, runID, slot); err != nil {
					return res, err
				}
			}
			if len(page) < q.Limit {
				break
			}
		}
	}
	if err := flush(); err != nil {
		return res, err
	}
	if !dryRun && res.Created > 0 {
		p.log.Info("wave planned", "wave_id", w.ID, "created", res.Created, "planned", res.Planned, "skipped", res.Skipped)
	}
	return res, nil
}

// decide builds the invitation row for one candidate, planned or skipped
// with its reason. Consent is checked again when sending.
func (p *Planner) decide(w *Wave, survey *flows.Survey, c flows.Candidate, eventID string, notBefore, now time.Time) flows.Invitation {
	inv := flows.Invitation{
		WaveID: w.ID, CustomerID: c.Customer.ID, CustomerRef: c.Customer.Ref, EventID: eventID,
		SurveyID: survey.ID, SurveyVersion: survey.Version, Status: flows.InvitationPlanned,
		Context: eventContext(c.Event), NotBefore: notBefore, CreatedAt: now,
	}
	lang := c.Event.Language
	if lang == "" {
		lang = c.Customer.Language
	}
	inv.Language = flows.ResolveLanguage(survey.Languages(), lang, survey.DefaultLanguage)
	var chat flows.Identity
	for _, ch := range w.Channels {
		for _, id := range c.Identities {
			if id.Channel == ch && inv.ExternalID == "" {
				inv.Channel, inv.ExternalID, chat = ch, id.ExternalID, id
			}
		}
	}
	reachable, why := flows.Reachable(c.Customer, chat)
	switch {
	case !reachable:
		inv.Status, inv.Error = flows.InvitationSkipped, why
	case inv.ExternalID == "":
		inv.Status, inv.Error = flows.InvitationSkipped, SkipNoChannel
	case !w.Sampled(c.Customer.ID, eventID):
		inv.Status, inv.Error = flows.InvitationSkipped, SkipSample
	}
	return inv
}

// eventContext is what agents see about the event if the customer is
// handed off: its attributes, plus which event it was.
func eventContext(e flows.Event) map[string]string {
	ctx := make(map[string]string, len(e.Attributes)+2)
	for k, v := range e.Attributes {
		ctx[k] = v
	}
	if e.ID != "" {
		ctx["event"] = e.ID
	}
	if e.Touchpoint != "" {
		ctx["touchpoint"] = e.Touchpoint
	}
	return ctx
}
