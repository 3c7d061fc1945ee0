package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/flows"
)

// DispatchStore is the invitation outbox in SQL.
type DispatchStore interface {
	ClaimInvitations(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]flows.Invitation, error)
	FinishAttempt(ctx context.Context, owner string, a flows.Attempt, status flows.InvitationStatus, retryAt *time.Time) error
	SentSince(ctx context.Context, customerID int64, since time.Time) (int, error)
	IdentityByExternal(ctx context.Context, ch flows.Channel, externalID string) (flows.Identity, flows.Customer, error)
}

// Limiter holds the limits all replicas share, in Redis.
type Limiter interface {
	Wait(ctx context.Context, key string, l flows.Limit) error
	Allow(ctx context.Context, key string, l flows.Limit) (bool, time.Duration, error)
	PauseChannel(ctx context.Context, ch flows.Channel, d time.Duration) error
	ChannelPause(ctx context.Context, ch flows.Channel) (time.Duration, error)
	GetString(ctx context.Context, key string) (string, bool, error)
	SetString(ctx context.Context, key, value string, ttl time.Duration) error
	Delete(ctx context.Context, key string) error
}

// InvitationSender starts the survey in the customer's chat (the
// conversation layer): it returns nil once the first question was accepted
// by the platform and the conversation state is saved.
type InvitationSender interface {
	SendInvitation(ctx context.Context, inv flows.Invitation) error
	// Delivered tells whether an earlier attempt got the invitation out.
	Delivered(ctx context.Context, inv flows.Invitation) (bool, error)
}

// ChannelLimits are one platform's limits. Global holds for messages the
// customer did not ask for (invitations, reminders), summed over replicas;
// PerChat keeps any one chat from getting messages faster than allowed.
type ChannelLimits struct {
	Global  flows.Limit
	PerChat flows.Limit
}

// BroadcastLimit is a platform's global rate as the dispatcher applies it:
// a burst of two lets a sender that woke a little late catch up, so the
// achieved rate reaches the limit, while no one-second window holds more
// than the rate plus two (GCRA: at most burst + window/interval).
func BroadcastLimit(l flows.Limit) flows.Limit {
	l.Burst = 2
	return l
}

// NewChannelLimits makes a platform's limits from its configured rates, the
// global one as BroadcastLimit applies it.
func NewChannelLimits(broadcast, perChat flows.Limit) ChannelLimits {
	return ChannelLimits{Global: BroadcastLimit(broadcast), PerChat: perChat}
}

// broadcastKey names a channel's global limiter: dispatchers, reminders and
// API invitations on every replica draw from this one budget.
func broadcastKey(ch flows.Channel) string { return "rate:global:" + string(ch) }

// chatKey names the limiter of one chat on a channel.
func chatKey(ch flows.Channel, externalID string) string {
	return "rate:chat:" + string(ch) + ":" + externalID
}

// waitBroadcast waits for a turn under the channel's global limit; a
// channel without one goes at once.
func waitBroadcast(ctx context.Context, lim Limiter, limits map[flows.Channel]ChannelLimits, ch flows.Channel) error {
	l := limits[ch].Global
	if l.Count <= 0 {
		return nil
	}
	return lim.Wait(ctx, broadcastKey(ch), l)
}

// APIThrottle is the policy for invitations the API sends at once, outside
// the outbox. They are messages the customer did not ask for, so they wait
// for the same global budget as the dispatchers, and are refused with a
// *bot.RateLimitedError while the platform's 429 pause lasts. The
// conversation layer calls it before it sends.
func APIThrottle(lim Limiter, limits map[flows.Channel]ChannelLimits) func(ctx context.Context, ch flows.Channel) error {
	return func(ctx context.Context, ch flows.Channel) error {
		pause, err := lim.ChannelPause(ctx, ch)
		if err != nil {
			return err
		}
		if pause > 0 {
			return &bot.RateLimitedError{RetryAfter: pause}
		}
		return waitBroadcast(ctx, lim, limits, ch)
	}
}

// DispatcherConfig wires a Dispatcher.
type DispatcherConfig struct {
	Store       DispatchStore
	Limiter     Limiter
	Sender      InvitationSender
	Waves       func(id string) (*Wave, bool)
	Owner       string // this replica's name, for claims
	Limits      map[flows.Channel]ChannelLimits
	Batch       int           // invitations claimed at once (default 20)
	Lease       time.Duration // claim lease (default 2m): a dead replica's claims return after it
	Idle        time.Duration // pause when the outbox is empty (default 1s)
	MaxAttempts int           // transient failures before giving up (default 5)
	Now         func() time.Time
	Logger      *slog.Logger
	// Observe, if set, hears every attempt's outcome with the dispatch lag:
	// how long after the invitation was due (not_before) the attempt ended.
	Observe func(inv flows.Invitation, outcome flows.AttemptOutcome, lag time.Duration)
}

// Dispatcher sends planned invitations from the outbox at the platforms'
// pace. Run one or more per replica; claims keep them from colliding.
type Dispatcher struct {
	cfg DispatcherConfig
}

// NewDispatcher fills defaults.
func NewDispatcher(cfg DispatcherConfig) *Dispatcher {
	if cfg.Batch <= 0 {
		cfg.Batch = 20
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.Idle <= 0 {
		cfg.Idle = time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Dispatcher{cfg: cfg}
}

// Run dispatches until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	for {
		n, err := d.DispatchOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			d.cfg.Logger.Error("dispatch", "owner", d.cfg.Owner, "err", err)
		}
		if n == 0 || err != nil {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(d.cfg.Idle):
			}
		}
	}
}

// DispatchOnce claims one batch and handles it; it returns how many
// invitations it claimed.
func (d *Dispatcher) DispatchOnce(ctx context.Context) (int, error) {
	claimed, err := d.cfg.Store.ClaimInvitations(ctx, d.cfg.Owner, d.cfg.Now(), d.cfg.Lease, d.cfg.Batch)
	if err != nil {
		return 0, fmt.Errorf("claim invitations: %w", err)
	}
	var errs []error
	for _, inv := range claimed {
		if ctx.Err() != nil {
			// Stopping: hand the rest back now instead of when the lease ends.
			if err := d.finish(ctx, inv, d.later(flows.AttemptDeferred, d.cfg.Now(), "replica stopping")); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err := d.handle(ctx, inv); err != nil {
			errs = append(errs, fmt.Errorf("invitation %d: %w", inv.ID, err))
		}
	}
	return len(claimed), errors.Join(errs...)
}

// decision is what becomes of one claimed invitation.
type decision struct {
	outcome flows.AttemptOutcome
	status  flows.InvitationStatus // "" keeps it planned
	retryAt *time.Time             // with status "": when to try again
	errText string
	retry   time.Duration
}

func (d *Dispatcher) handle(ctx context.Context, inv flows.Invitation) error {
	dec, err := d.decide(ctx, inv)
	if err != nil && ctx.Err() != nil {
		// Stopping before the send began: hand it back at once rather than
		// when the lease runs out.
		dec, err = d.later(flows.AttemptDeferred, d.cfg.Now(), "replica stopping"), nil
	}
	if err != nil {
		return err
	}
	if dec.outcome == "" {
		return nil // interrupted while sending: the claim lapses
	}
	return d.finish(ctx, inv, dec)
}

// finish records the attempt and releases the claim, even while stopping:
// what was sent must not be sent again.
func (d *Dispatcher) finish(ctx context.Context, inv flows.Invitation, dec decision) error {
	a := flows.Attempt{InvitationID: inv.ID, At: d.cfg.Now(), Outcome: dec.outcome, Error: dec.errText, RetryAfter: dec.retry}
	if d.cfg.Observe != nil {
		d.cfg.Observe(inv, dec.outcome, a.At.Sub(inv.NotBefore))
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return d.cfg.Store.FinishAttempt(ctx, d.cfg.Owner, a, dec.status, dec.retryAt)
}

func (d *Dispatcher) later(outcome flows.AttemptOutcome, at time.Time, why string) decision {
	return decision{outcome: outcome, retryAt: &at, errText: why}
}

// decide checks consent, caps, quiet hours and limits at send time (they
// may have changed since planning) and then sends.
func (d *Dispatcher) decide(ctx context.Context, inv flows.Invitation) (decision, error) {
	now := d.cfg.Now()
	w, ok := d.cfg.Waves(inv.WaveID)
	if !ok {
		return decision{outcome: flows.AttemptSkipped, status: flows.InvitationSkipped, errText: "wave no longer exists"}, nil
	}
	if w.Retired {
		return decision{outcome: flows.AttemptSkipped, status: flows.InvitationSkipped, errText: SkipRetired}, nil
	}
	if now.After(inv.CreatedAt.Add(w.ExpiresAfter)) {
		return decision{outcome: flows.AttemptExpired, status: flows.InvitationExpired, errText: "expired before it could be sent"}, nil
	}
	chat, customer, err := d.cfg.Store.IdentityByExternal(ctx, inv.Channel, inv.ExternalID)
	switch {
	case errors.Is(err, flows.ErrNotFound):
		return decision{outcome: flows.AttemptSkipped, status: flows.InvitationSkipped, errText: SkipNoChannel}, nil
	case err != nil:
		return decision{}, err
	case customer.ID != inv.CustomerID:
		return decision{outcome: flows.AttemptSkipped, status: flows.InvitationSkipped, errText: "chat now linked to another customer"}, nil
	}
	if ok, why := flows.Reachable(customer, chat); !ok {
		return decision{outcome: flows.AttemptSkipped, status: flows.InvitationSkipped, errText: why}, nil
	}
	if c := w.FrequencyCap; c != nil {
		n, err := d.cfg.Store.SentSince(ctx, customer.ID, now.Add(-c.Per))
		if err != nil {
			return decision{}, err
		}
		if n >= c.Count {
			return decision{outcome: flows.AttemptSkipped, status: flows.InvitationSkipped, errText: SkipFrequency}, nil
		}
	}
	if until := w.QuietUntil(now, customerLocation(customer, w)); !until.IsZero() {
		return d.later(flows.AttemptDeferred, until, "quiet hours"), nil
	}
	limits := d.cfg.Limits[inv.Channel]
	if limits.PerChat.Count > 0 {
		ok, wait, err := d.cfg.Limiter.Allow(ctx, chatKey(inv.Channel, inv.ExternalID), limits.PerChat)
		if err != nil {
			return decision{}, err
		}
		if !ok {
			return d.later(flows.AttemptDeferred, now.Add(wait), "per-chat limit"), nil
		}
	}
	if err := waitBroadcast(ctx, d.cfg.Limiter, d.cfg.Limits, inv.Channel); err != nil {
		return decision{}, err
	}
	// Checked last, right before sending: another worker's 429 may have
	// paused the channel while this one waited for its turn.
	if pause, err := d.cfg.Limiter.ChannelPause(ctx, inv.Channel); err != nil {
		return decision{}, err
	} else if pause > 0 {
		return d.later(flows.AttemptDeferred, d.cfg.Now().Add(pause), "channel paused by the platform"), nil
	}
	return d.send(ctx, inv)
}

// send delivers at most once. A marker in Redis is set before the send; a
// replica that finds it (left by one that stopped mid-send) does not send
// again, because a customer asked twice is worse than one not asked.
func (d *Dispatcher) send(ctx context.Context, inv flows.Invitation) (decision, error) {
	marker := fmt.Sprintf("sending:invitation:%d", inv.ID)
	if owner, found, err := d.cfg.Limiter.GetString(ctx, marker); err != nil {
		return decision{}, err
	} else if found {
		delivered, err := d.cfg.Sender.Delivered(ctx, inv)
		if err != nil {
			return decision{}, err
		}
		if delivered {
			return decision{outcome: flows.AttemptSent, status: flows.InvitationSent, errText: "sent by replica " + owner + ", which stopped before recording it"}, nil
		}
		return decision{outcome: flows.AttemptUnknown, status: flows.InvitationFailed, errText: "delivery unknown: replica " + owner + " stopped while sending; not sent again"}, nil
	}
	if err := d.cfg.Limiter.SetString(ctx, marker, d.cfg.Owner, 30*24*time.Hour); err != nil {
		return decision{}, err
	}
	err := d.cfg.Sender.SendInvitation(ctx, inv)
	if err != nil && ctx.Err() != nil {
		return d.stopped(ctx, inv, marker)
	}
	if err == nil {
		return decision{outcome: flows.AttemptSent, status: flows.InvitationSent}, nil
	}
	if errors.Is(err, flows.ErrDeliveredUnrecorded) {
		// It went out; the marker stays so that nobody sends it again.
		return decision{outcome: flows.AttemptSent, status: flows.InvitationSent, errText: err.Error()}, nil
	}
	// The send definitely did not happen: a later attempt may try again.
	if derr := d.cfg.Limiter.Delete(context.WithoutCancel(ctx), marker); derr != nil {
		return decision{}, errors.Join(err, derr)
	}
	now := d.cfg.Now()
	var limited *bot.RateLimitedError
	switch {
	case errors.As(err, &limited):
		if perr := d.cfg.Limiter.PauseChannel(ctx, inv.Channel, limited.RetryAfter); perr != nil {
			return decision{}, perr
		}
		at := now.Add(limited.RetryAfter)
		return decision{outcome: flows.AttemptRateLimited, retryAt: &at, errText: err.Error(), retry: limited.RetryAfter}, nil
	case errors.Is(err, bot.ErrBlocked):
		return decision{outcome: flows.AttemptBlocked, status: flows.InvitationFailed, errText: err.Error()}, nil
	case errors.Is(err, flows.ErrConflict):
		// A survey is in progress in that chat: never interrupt it.
		return d.later(flows.AttemptDeferred, now.Add(10*time.Minute), err.Error()), nil
	case errors.Is(err, flows.ErrInvalid) || errors.Is(err, flows.ErrNotFound) || inv.Attempts+1 >= d.cfg.MaxAttempts:
		return decision{outcome: flows.AttemptFailed, status: flows.InvitationFailed, errText: err.Error()}, nil
	default:
		backoff := min(5*time.Second<<inv.Attempts, 10*time.Minute)
		at := now.Add(backoff)
		return decision{outcome: flows.AttemptRetry, retryAt: &at, errText: err.Error(), retry: backoff}, nil
	}
}

// stopped settles an invitation whose send was interrupted because this
// replica is stopping. Once begun, a send and the saving of its state are
// not cancelled, so the conversation state tells whether it went out: if it
// did, it is recorded as sent; if not, the marker goes and the invitation
// returns to the outbox for another replica.
func (d *Dispatcher) stopped(ctx context.Context, inv flows.Invitation, marker string) (decision, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	delivered, err := d.cfg.Sender.Delivered(ctx, inv)
	if err != nil {
		return decision{}, nil // unknown: the marker stays, so it is never sent twice
	}
	if delivered {
		return decision{outcome: flows.AttemptSent, status: flows.InvitationSent}, nil
	}
	if err := d.cfg.Limiter.Delete(ctx, marker); err != nil {
		return decision{}, nil
	}
	return d.later(flows.AttemptDeferred, d.cfg.Now(), "replica stopping"), nil
}

// customerLocation is the customer's time zone, else the wave's, else UTC.
func customerLocation(c flows.Customer, w *Wave) *time.Location {
	for _, name := range []string{c.TimeZone, w.TimeZone} {
		if name == "" {
			continue
		}
		if loc, err := time.LoadLocation(name); err == nil {
			return loc
		}
	}
	return time.UTC
}
