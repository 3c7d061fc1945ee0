// Package conversation applies what customers do in a chat to their survey
// conversations: it deduplicates and orders updates, runs the flows state
// machine, makes every answer durable before anything is sent, and hands
// detractors to a person. It is the one place where flows, the stores and the
// chat channels meet.
package conversation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/flows"
)

// Records is the SQL side the conversation layer needs.
type Records interface {
	UpsertCustomer(ctx context.Context, ref, language string) (flows.Customer, error)
	CustomerByRef(ctx context.Context, ref string) (flows.Customer, error)
	LinkIdentity(ctx context.Context, id flows.Identity) (flows.Identity, error)
	IdentityByExternal(ctx context.Context, ch flows.Channel, externalID string) (flows.Identity, flows.Customer, error)
	OptOut(ctx context.Context, customerID int64, at time.Time) error
	OptIn(ctx context.Context, customerID int64) error
	MarkUnreachable(ctx context.Context, customerID int64, at time.Time) error
	ClearUnreachable(ctx context.Context, customerID int64) error
	InvitationByKey(ctx context.Context, waveID string, customerID int64, eventID string) (flows.Invitation, error)
	Invitation(ctx context.Context, id int64) (flows.Invitation, error)
	CreateInvitation(ctx context.Context, inv flows.Invitation) (flows.Invitation, bool, error)
	SetInvitationStatus(ctx context.Context, id int64, status flows.InvitationStatus, errText string, at time.Time) error
	StartResponse(ctx context.Context, r flows.Response) (flows.Response, error)
	Response(ctx context.Context, id int64) (flows.Response, error)
	OpenResponseForChat(ctx context.Context, ch flows.Channel, externalID string) (flows.Response, error)
	ApplyStep(ctx context.Context, w flows.StepWrite) (bool, error)
	HandoffForResponse(ctx context.Context, responseID int64) (flows.Handoff, error)
	MarkHandoffNotified(ctx context.Context, id int64, at time.Time) error
	HandoffsToNotify(ctx context.Context, awaitingBefore, openBefore time.Time, limit int) ([]flows.Handoff, error)
	ExpireInvitation(ctx context.Context, id int64, at time.Time) error
	ResponseForInvitation(ctx context.Context, invitationID int64) (flows.Response, error)
	ChatConversation(ctx context.Context, ch flows.Channel, externalID string) (flows.Conversation, error)
}

// States is the Redis side: each chat's conversation state, kept between
// updates, and the turns that give one step at a time exclusive hold of it.
// A step is two round trips: Begin (the chat's lease, whether the update
// was applied, the state) and End (the new state, the seen mark, the
// service window, the release), or Release when the step failed.
type States interface {
	Begin(ctx context.Context, ch flows.Channel, chatID, updateID string, leaseTTL time.Duration) (flows.Turn, error)
	End(ctx context.Context, t flows.Turn, e flows.TurnEnd) error
	Release(ctx context.Context, t flows.Turn) error
	// Extend renews the turn's lease while its step runs.
	Extend(ctx context.Context, t flows.Turn, leaseTTL time.Duration) error
	// LoadState reads a chat's state outside any turn (a read-only check).
	LoadState(ctx context.Context, ch flows.Channel, chatID string) (flows.State, bool, error)
	WindowOpen(ctx context.Context, ch flows.Channel, chatID string) (bool, error)
}

// Desk is the handoff desk the conversation hands detractors to.
type Desk interface {
	// Announce tells the agents about a handoff (or a late comment of one
	// they know of) and records that they were told.
	Announce(ctx context.Context, h flows.Handoff) error
	// CustomerWrote takes what a customer wrote outside a survey when one
	// of their cases wants it; handled is false otherwise.
	CustomerWrote(ctx context.Context, u flows.Update) (handled bool, err error)
	// FollowUpAnswered records a tap on a case's follow-up question.
	FollowUpAnswered(ctx context.Context, u flows.Update) error
	// CustomerOptedOut tells the agents of the chat's live case.
	CustomerOptedOut(ctx context.Context, ch flows.Channel, chatID string)
	// CustomerBlocked tells the agents of the chat's live case that the
	// customer blocked the bot or unfollowed.
	CustomerBlocked(ctx context.Context, ch flows.Channel, chatID string)
	// LiveCase reports whether agents are working a case of the chat: no
	// survey starts there until it is closed.
	LiveCase(ctx context.Context, ch flows.Channel, chatID string) (bool, error)
}

// serviceWindow is how long after a customer's last message WeChat accepts
// customer-service messages; later, only a template message reaches them.
// A little is taken off so a send never races the window's end.
const serviceWindow = 48*time.Hour - 5*time.Minute

// Config wires a Service. Zero durations take the defaults noted.
type Config struct {
	Records  Records
	States   States
	Channels []bot.Channel
	Agents   bot.AgentNotifier // where handoff notices go when there is no Desk; nil logs them only
	// Desk, when set, takes handoffs over: it tells the agents, and gets
	// what a customer with a case writes outside a survey.
	Desk    Desk
	Surveys map[string]*flows.Survey // by survey id, versions already assigned
	Links   *Links                   // deep-link tokens; nil refuses every /start <token>
	// Throttle waits for the channel's broadcast limit (shared by replicas)
	// before an API invitation is sent; an error (a paused channel) refuses it.
	Throttle func(ctx context.Context, ch flows.Channel) error
	Logger   *slog.Logger
	Now      func() time.Time

	ConversationTTL time.Duration // default 72h: idle conversations expire
	DedupeTTL       time.Duration // default 7 days: how long update ids are remembered
	// LeaseTTL (default 10s) is how long a chat stays locked after its
	// holder crashed; a running step renews its lease every third of it.
	LeaseTTL time.Duration
	// SendTimeout (default 10s, at most half the lease) bounds each call to
	// the platform.
	SendTimeout time.Duration
	// ReplyWait (default 2s) is the longest a reply waits when the platform
	// answers 429 with retry_after; a longer wait gives the update back (503)
	// for the platform to redeliver later.
	ReplyWait   time.Duration
	CommentWait time.Duration // default 10m: a handoff waiting for a comment goes out without it
	// Webhooks queues a response.completed webhook with each completing
	// step (flows.StepWrite.CompletedWebhook); off when no receiver is set.
	Webhooks bool
	Inbound  InboundLimit // per-chat limit on updates; zero: none
}

// Service is the conversation use case.
type Service struct {
	records  Records
	states   States
	channels map[flows.Channel]bot.Channel
	agents   bot.AgentNotifier
	desk     Desk
	surveys  map[string]*flows.Survey
	links    *Links
	throttle func(ctx context.Context, ch flows.Channel) error
	inbound  InboundLimit
	log      *slog.Logger
	now      func() time.Time
	webhooks bool

	conversationTTL time.Duration
	dedupeTTL       time.Duration
	leaseTTL        time.Duration
	sendTimeout     time.Duration
	replyWait       time.Duration
	commentWait     time.Duration
}

// New checks the configuration and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Records == nil || cfg.States == nil {
		return nil, errors.New("conversation: Records and States are required")
	}
	s := &Service{
		records:         cfg.Records,
		states:          cfg.States,
		channels:        map[flows.Channel]bot.Channel{},
		agents:          cfg.Agents,
		desk:            cfg.Desk,
		surveys:         cfg.Surveys,
		links:           cfg.Links,
		throttle:        cfg.Throttle,
		inbound:         cfg.Inbound,
		log:             cfg.Logger,
		webhooks:        cfg.Webhooks,
		now:             cfg.Now,
		conversationTTL: orDefault(cfg.ConversationTTL, 72*time.Hour),
		dedupeTTL:       orDefault(cfg.DedupeTTL, 7*24*time.Hour),
		leaseTTL:        orDefault(cfg.LeaseTTL, 10*time.Second),
		sendTimeout:     orDefault(cfg.SendTimeout, 10*time.Second),
		replyWait:       orDefault(cfg.ReplyWait, 2*time.Second),
		commentWait:     orDefault(cfg.CommentWait, 10*time.Minute),
	}
	// Every platform call stays well under the lease, so a step whose
	// renewal fails is never stuck in a call past its exclusion.
	s.sendTimeout = min(s.sendTimeout, s.leaseTTL/2)
	for _, ch := range cfg.Channels {
		s.channels[ch.Name()] = ch
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Survey returns a loaded survey by id.
func (s *Service) Survey(id string) (*flows.Survey, bool) {
	sv, ok := s.surveys[id]
	return sv, ok
}

// Surveys returns the loaded surveys.
func (s *Service) Surveys() map[string]*flows.Survey { return s.surveys }

func (s *Service) channel(name flows.Channel) (bot.Channel, error) {
	ch, ok := s.channels[name]
	if !ok {
		return nil, fmt.Errorf("%w: channel %s is not configured", flows.ErrUnavailable, name)
	}
	return ch, nil
}

// errTurnNotEnded marks a step whose effects happened (messages went out)
// but whose turn could not be ended (its state was not saved).
var errTurnNotEnded = errors.New("the step ran but its conversation state was not saved")

// inTurn runs step as one turn of the chat's conversation, so two steps of
// one chat never run at once, whichever replica runs them. updateID is the
// platform update the step applies ("" for a step cxbot starts); a seen
// update is skipped. step returns how the turn ends; the store writes that
// with the update's seen mark in one round trip. A failed step releases the
// chat unchanged, so the platform's redelivery starts afresh.
//
// The turn's lease is renewed while step runs; if it cannot be (Redis lost
// it, or it ran out), step's context is cancelled, so no platform call of
// the step outlives its exclusion.
func (s *Service) inTurn(ctx context.Context, ch flows.Channel, chatID, updateID string, step func(context.Context, flows.Turn) (flows.TurnEnd, error)) error {
	turn, err := s.states.Begin(ctx, ch, chatID, updateID, s.leaseTTL)
	if err != nil {
		return fmt.Errorf("begin turn at chat %s: %w", chatID, err)
	}
	return s.runTurn(ctx, turn, step)
}

// admittedTurn is inTurn for a customer's update under the chat's inbound
// limit, checked in the same round trip as the turn's beginning. An update
// over the limit is acknowledged and dropped (see InboundLimit). A limiter
// that fails fails the turn: it is the same Redis round trip.
func (s *Service) admittedTurn(ctx context.Context, u flows.Update, limit flows.Limit, step func(context.Context, flows.Turn) (flows.TurnEnd, error)) error {
	turn, err := s.states.(admitter).BeginAdmitted(ctx, u.Channel, u.ChatID, u.UpdateID, s.leaseTTL, limit)
	if err != nil {
		return fmt.Errorf("begin turn at chat %s: %w", u.ChatID, err)
	}
	if turn.OverLimit {
		s.droppedInbound(ctx, u)
		return nil
	}
	return s.runTurn(ctx, turn, step)
}

// runTurn runs step in a turn Begin started (see inTurn).
func (s *Service) runTurn(ctx context.Context, turn flows.Turn, step func(context.Context, flows.Turn) (flows.TurnEnd, error)) error {
	chatID := turn.ChatID
	if !turn.HasState && !turn.Seen {
		if err := s.recall(ctx, &turn); err != nil {
			s.release(ctx, turn)
			return err
		}
	}
	if turn.Seen {
		if turn.Recalled { // SQL knew the update: remember it again
			endCtx, cancel := afterStep(ctx)
			defer cancel()
			if err := s.states.End(endCtx, turn, flows.TurnEnd{SeenTTL: s.dedupeTTL}); err != nil {
				s.log.Warn("mark recalled update seen", "chat_id", chatID, "err", err)
			}
		}
		return nil
	}
	stepCtx, cancel := context.WithCancelCause(ctx)
	renewed := s.renewLease(stepCtx, turn, cancel)
	end, err := step(stepCtx, turn)
	cancel(nil)
	<-renewed
	if cause := context.Cause(stepCtx); err != nil && errors.Is(cause, errLeaseLost) {
		err = fmt.Errorf("%w: %w", flows.ErrUnavailable, cause)
	}
	endCtx, endCancel := afterStep(ctx)
	defer endCancel()
	if errors.Is(err, errStaleState) {
		// Another step moved the conversation on in SQL: forget the cached
		// state, so the redelivery rebuilds it from SQL.
		if derr := s.states.End(endCtx, turn, flows.Delete()); derr != nil {
			s.log.Warn("drop stale conversation state", "chat_id", chatID, "err", derr)
		}
		return fmt.Errorf("%w: %w", flows.ErrUnavailable, err)
	}
	if err != nil {
		s.release(endCtx, turn)
		return err
	}
	if turn.Recalled && end.Change == flows.KeepState {
		end = flows.Save(turn.State) // warm the cache again
	}
	if end.Change == flows.SaveState {
		end.StateTTL = s.conversationTTL
	}
	if turn.UpdateID != "" {
		end.SeenTTL = s.dedupeTTL
	}
	if err := s.states.End(endCtx, turn, end); err != nil {
		if !errors.Is(err, flows.ErrConflict) {
			s.release(endCtx, turn) // if Redis is back already, the redelivery need not wait for the lease
			return fmt.Errorf("%w: %w", errTurnNotEnded, err)
		}
		// The step outlived its lease; what it did is written all the same.
		s.log.Warn("chat lease ran out before the step ended", "chat_id", chatID, "err", err)
	}
	return nil
}

// afterStep is the context a turn ends in: fresh, because the turn must
// end even when the step's context did (or the chat stays locked until its
// lease runs out), and short, because it is one Redis round trip.
func afterStep(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
}

// call is the context of one platform call within a step: bounded by
// SendTimeout, well under the lease.
func (s *Service) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.sendTimeout)
}

// release gives the chat back unchanged; a failure only delays the next
// step until the lease runs out.
func (s *Service) release(ctx context.Context, turn flows.Turn) {
	ctx, cancel := afterStep(ctx)
	defer cancel()
	if err := s.states.Release(ctx, turn); err != nil {
		s.log.Warn("release chat", "chat_id", turn.ChatID, "err", err)
	}
}

// errStaleState: the step was made from a state SQL has moved past.
var errStaleState = errors.New("the cached conversation state is stale")

// recall rebuilds a conversation the state store forgot (a Redis restarted
// empty, flushed, or an evicted key) from SQL, where every step keeps it:
// the chat's latest response, if it is running, was delivered and has not
// been idle past the conversation TTL. A response whose last step applied
// this very update and finished it makes the turn Seen: the update is done.
func (s *Service) recall(ctx context.Context, turn *flows.Turn) error {
	c, err := s.records.ChatConversation(ctx, turn.Channel, turn.ChatID)
	if errors.Is(err, flows.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("recall conversation of chat %s: %w", turn.ChatID, err)
	}
	applied := turn.UpdateID != "" && c.LastUpdateID == turn.UpdateID
	if c.Response.Status != flows.ResponseStarted {
		turn.Seen = applied
		turn.Recalled = applied
		return nil
	}
	if !c.Invitation.Running() {
		return nil // its first message never went out
	}
	survey, ok := s.surveys[c.Response.SurveyID]
	if !ok {
		return nil
	}
	st := c.State
	if !c.HasState { // no step yet: the first question is open
		st, _ = flows.Start(survey, c.Response.Language, c.Response.InvitationID, c.Response.ID, c.Response.StartedAt)
	}
	last := st.UpdatedAt
	if last.IsZero() {
		last = c.Response.StartedAt
	}
	if s.now().Sub(last) > s.conversationTTL {
		return nil // idle too long: it expired, as the cached state would have
	}
	turn.State, turn.HasState, turn.Recalled = st, true, true
	s.log.Info("conversation recalled from SQL", "channel", turn.Channel, "chat_id", turn.ChatID, "response_id", c.Response.ID)
	return nil
}

// errLeaseLost is the cause of a step's cancellation when its lease could
// not be renewed.
var errLeaseLost = errors.New("the chat's lease was lost during the step")

// renewLease renews the turn's lease every third of its TTL until ctx ends,
// and cancels ctx with errLeaseLost when a renewal fails. The returned
// channel closes when it has stopped.
func (s *Service) renewLease(ctx context.Context, turn flows.Turn, cancel context.CancelCauseFunc) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(s.leaseTTL / 3)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := s.states.Extend(ctx, turn, s.leaseTTL); err != nil {
					if ctx.Err() != nil {
						return // the step ended meanwhile
					}
					s.log.Warn("chat lease not renewed: stopping the step", "chat_id", turn.ChatID, "err", err)
					cancel(fmt.Errorf("%w: %w", errLeaseLost, err))
					return
				}
			}
		}
	}()
	return done
}

// send delivers a reply within the step. Each call is bounded by
// SendTimeout, well under the lease. A 429 with a short retry_after is
// waited out once; a longer one gives the update back as unavailable, so
// the webhook answers 503 and the platform redelivers later.
func (s *Service) send(ctx context.Context, ch bot.Channel, chatID string, m flows.Message) (int, error) {
	for try := 0; ; try++ {
		callCtx, cancel := s.call(ctx)
		id, err := ch.Send(callCtx, chatID, m)
		cancel()
		var limited *bot.RateLimitedError
		if !errors.As(err, &limited) {
			return id, err
		}
		if try > 0 || limited.RetryAfter > s.replyWait {
			return 0, fmt.Errorf("%w: %w", flows.ErrUnavailable, err)
		}
		wait := time.NewTimer(limited.RetryAfter)
		select {
		case <-ctx.Done():
			wait.Stop()
			return 0, fmt.Errorf("%w: %w", flows.ErrUnavailable, context.Cause(ctx))
		case <-wait.C:
		}
	}
}
