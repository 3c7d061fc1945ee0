package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/flows"
)

// FollowUpStore finds invitations due a reminder or expiry.
type FollowUpStore interface {
	DueReminders(ctx context.Context, waveID string, sentBefore time.Time, limit int) ([]flows.Invitation, error)
	MarkReminded(ctx context.Context, id int64, at time.Time) error
	DueExpiries(ctx context.Context, waveID string, before time.Time, limit int) ([]flows.Invitation, error)
	Customer(ctx context.Context, id int64) (flows.Customer, error)
}

// Conversations reminds and closes conversations (the conversation layer).
type Conversations interface {
	// Remind re-asks the open question of an unanswered invitation; false
	// when there is nothing to remind (the conversation already ended).
	Remind(ctx context.Context, inv flows.Invitation) (bool, error)
	// CloseInvitation ends an unanswered invitation's conversation and marks it expired.
	CloseInvitation(ctx context.Context, inv flows.Invitation, at time.Time) error
}

// followUp sends each wave's one reminder and closes expired invitations.
// Reminders are messages the customer did not ask for, so they wait for the
// channel's global limit like invitations do.
func followUp(ctx context.Context, w *Wave, now time.Time, s FollowUpStore, conv Conversations, lim Limiter, limits map[flows.Channel]ChannelLimits) error {
	var errs []error
	expiring, err := s.DueExpiries(ctx, w.ID, now.Add(-w.ExpiresAfter), 1000)
	if err != nil {
		return err
	}
	for _, inv := range expiring {
		if err := conv.CloseInvitation(ctx, inv, now); err != nil {
			errs = append(errs, fmt.Errorf("expire invitation %d: %w", inv.ID, err))
		}
	}
	if w.ReminderAfter <= 0 {
		return errors.Join(errs...)
	}
	due, err := s.DueReminders(ctx, w.ID, now.Add(-w.ReminderAfter), 1000)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, inv := range due {
		customer, err := s.Customer(ctx, inv.CustomerID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if customer.OptedOutAt != nil || customer.UnreachableAt != nil {
			continue // their conversation ends at expiry; nothing more is sent
		}
		if !w.QuietUntil(now, customerLocation(customer, w)).IsZero() {
			continue // a later run reminds them once quiet hours are over
		}
		if pause, err := lim.ChannelPause(ctx, inv.Channel); err != nil || pause > 0 {
			return errors.Join(append(errs, err)...) // paused after a 429: the next run goes on
		}
		if err := waitBroadcast(ctx, lim, limits, inv.Channel); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if _, err := conv.Remind(ctx, inv); err != nil {
			var limited *bot.RateLimitedError
			if errors.As(err, &limited) {
				perr := lim.PauseChannel(ctx, inv.Channel, limited.RetryAfter)
				return errors.Join(append(errs, err, perr)...)
			}
			errs = append(errs, fmt.Errorf("remind invitation %d: %w", inv.ID, err))
			continue
		}
		// Marked even when there was nothing left to remind: one reminder at most.
		if err := s.MarkReminded(ctx, inv.ID, now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
