package redisstore

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// The helpers below drive single operations (save a state, mark an update
// seen, hold a chat) through the turn API, the only way the store offers:
// each is one Begin and one End or Release.

// seenChat is the chat the seen helpers use: a seen mark belongs to a chat.
const seenChat = "seen-chat"

func endTurn(ctx context.Context, r *Store, ch flows.Channel, chatID, updateID string, e flows.TurnEnd) error {
	t, err := r.Begin(ctx, ch, chatID, updateID, time.Minute)
	if err != nil || t.Seen { // a seen turn is over already
		return err
	}
	if err := r.End(ctx, t, e); err != nil {
		_ = r.Release(context.WithoutCancel(ctx), t)
		return err
	}
	return nil
}

func saveState(ctx context.Context, r *Store, ch flows.Channel, chatID string, st flows.State, ttl time.Duration) error {
	return endTurn(ctx, r, ch, chatID, "", flows.TurnEnd{Change: flows.SaveState, State: st, StateTTL: ttl})
}

func deleteState(ctx context.Context, r *Store, ch flows.Channel, chatID string) error {
	return endTurn(ctx, r, ch, chatID, "", flows.Delete())
}

func markSeen(ctx context.Context, r *Store, ch flows.Channel, updateID string, ttl time.Duration) error {
	if updateID == "" {
		return flows.ErrInvalid
	}
	return endTurn(ctx, r, ch, seenChat, updateID, flows.TurnEnd{SeenTTL: ttl})
}

func seen(ctx context.Context, r *Store, ch flows.Channel, updateID string) (bool, error) {
	if updateID == "" {
		return false, flows.ErrInvalid
	}
	t, err := r.Begin(ctx, ch, seenChat, updateID, time.Minute)
	if err != nil || t.Seen {
		return t.Seen, err
	}
	return false, r.Release(ctx, t)
}

func touchWindow(ctx context.Context, r *Store, ch flows.Channel, chatID string, ttl time.Duration) error {
	if ttl <= 0 {
		return errors.Join(flows.ErrInvalid, errors.New("window ttl must be positive"))
	}
	return endTurn(ctx, r, ch, chatID, "", flows.TurnEnd{WindowTTL: ttl})
}

// lockChat holds the chat for a turn that ends with the returned unlock
// (idempotent, like a lock's release).
func lockChat(ctx context.Context, r *Store, ch flows.Channel, chatID string, ttl time.Duration) (func(context.Context) error, error) {
	t, err := r.Begin(ctx, ch, chatID, "", ttl)
	if err != nil {
		return nil, err
	}
	var done atomic.Bool
	return func(ctx context.Context) error {
		if done.Load() {
			return nil
		}
		err := r.Release(ctx, t)
		if err == nil || errors.Is(err, flows.ErrConflict) {
			done.Store(true)
		}
		return err
	}, nil
}
