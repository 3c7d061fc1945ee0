package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxbot/cxbot/flows"
)

// A chat's keys share one hash tag, {<channel>:<chat id>}, so that the
// transactions of a turn, which touch several of them, work on a Redis
// Cluster too (every key of a MULTI must hash to one slot). The prefix
// therefore must not contain "{" or "}" (CXBOT_REDIS_PREFIX refuses them):
// a "{}" in it would make Redis hash each whole key, one "{…}" would put
// every chat in one slot. cluster_test.go runs every operation on a
// 3-master cluster.
type chatKeys struct{ base string }

func (r *Store) chatKeys(ch flows.Channel, chatID string) chatKeys {
	return chatKeys{base: r.prefix + "{" + string(ch) + ":" + chatID + "}:"}
}

func (k chatKeys) state() string               { return k.base + "state" }
func (k chatKeys) lock() string                { return k.base + "lock" }
func (k chatKeys) window() string              { return k.base + "window" }
func (k chatKeys) seen(updateID string) string { return k.base + "seen:" + updateID }
func (k chatKeys) inbound() string             { return k.base + "inbound" }

// Begin starts a turn at the chat's conversation: it waits until it holds
// the chat's lease (so two updates of one chat never run at once, on any
// replica), and reads, in the same round trip, whether updateID was already
// applied and the chat's state. A turn whose update was seen is over at
// once (Turn.Seen; the lease is given back). Otherwise the caller must end
// the turn with End or Release; leaseTTL frees the chat if the caller
// crashes, so it must exceed the time one step takes.
//
// When ctx ends first, the error wraps flows.ErrUnavailable and ctx.Err():
// a chat busy for that long should be retried by the platform. A stored
// state that no longer decodes is logged and reported as absent: an error
// would fail the webhook and make the platform redeliver the same update
// forever.
func (r *Store) Begin(ctx context.Context, ch flows.Channel, chatID, updateID string, leaseTTL time.Duration) (flows.Turn, error) {
	return r.begin(ctx, ch, chatID, updateID, leaseTTL, flows.Limit{})
}

// BeginAdmitted is Begin for a customer's update under the chat's inbound
// limit (flows.Limit, shared by every replica): the limiter runs in the
// same round trip as the rest, so admitting an update costs no round trip
// of its own. An update over the limit ends the turn at once with
// Turn.OverLimit, holding nothing. A zero limit admits everything.
func (r *Store) BeginAdmitted(ctx context.Context, ch flows.Channel, chatID, updateID string, leaseTTL time.Duration, inbound flows.Limit) (flows.Turn, error) {
	if inbound.Count > 0 {
		if err := checkLimit("begin turn "+string(ch)+":"+chatID, inbound); err != nil {
			return flows.Turn{}, err
		}
	}
	return r.begin(ctx, ch, chatID, updateID, leaseTTL, inbound)
}

func (r *Store) begin(ctx context.Context, ch flows.Channel, chatID, updateID string, leaseTTL time.Duration, inbound flows.Limit) (flows.Turn, error) {
	op := "begin turn " + string(ch) + ":" + chatID
	if err := checkIDs(op, ch, chatID); err != nil {
		return flows.Turn{}, err
	}
	if err := checkTTL(op, leaseTTL); err != nil {
		return flows.Turn{}, err
	}
	keys := r.chatKeys(ch, chatID)
	turn := flows.Turn{Channel: ch, ChatID: chatID, UpdateID: updateID, Lease: rand.Text()}
	admit := inbound.Count > 0
	if admit && r.mini != nil {
		// The embedded server's limiter is a native command outside MULTI:
		// one round trip more, on a profile where round trips are cheap.
		ok, _, err := r.Allow(ctx, "inbound:"+string(ch)+":"+chatID, inbound)
		if err != nil {
			return flows.Turn{}, err
		}
		if !ok {
			turn.OverLimit = true
			return turn, nil
		}
		admit = false
	}
	wait := lockWaitMin
	var timer *time.Timer
	for {
		var (
			admitted *redis.Cmd
			seen     *redis.IntCmd
			taken    *redis.BoolCmd
			state    *redis.StringCmd
		)
		_, err := r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if admit {
				// EVAL, not EVALSHA: its NOSCRIPT fallback cannot run inside MULTI.
				admitted = p.Eval(ctx, gcraSrc, []string{keys.inbound()}, limitInterval(inbound), limitBurst(inbound), keyGrace.Milliseconds())
			}
			if updateID != "" {
				seen = p.Exists(ctx, keys.seen(updateID))
			}
			taken = p.SetNX(ctx, keys.lock(), turn.Lease, leaseTTL)
			state = p.Get(ctx, keys.state())
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return flows.Turn{}, redisErr(op, err)
		}
		if admitted != nil {
			res, err := admitted.Int64Slice()
			if err != nil || len(res) != 2 {
				return flows.Turn{}, fmt.Errorf("redis: %s: inbound limit: unexpected reply %v (%v)", op, res, err)
			}
			if res[0] != 1 {
				turn.OverLimit = true
				if taken.Val() {
					if err := r.Release(ctx, turn); err != nil {
						return flows.Turn{}, err
					}
				}
				return turn, nil
			}
			admit = false // admitted once: waiting for the lock does not spend more
		}
		if seen != nil && seen.Val() > 0 {
			turn.Seen = true
			if taken.Val() {
				// A redelivery: give the chat back at once.
				if err := r.Release(ctx, turn); err != nil {
					return flows.Turn{}, err
				}
			}
			return turn, nil
		}
		if taken.Val() {
			turn.State, turn.HasState = r.decodeState(ctx, ch, chatID, state)
			return turn, nil
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			return flows.Turn{}, fmt.Errorf("%w: redis: %s: still held by another update: %w", flows.ErrUnavailable, op, ctx.Err())
		case <-timer.C:
		}
		wait = min(wait*2, lockWaitMax)
	}
}

func (r *Store) decodeState(ctx context.Context, ch flows.Channel, chatID string, get *redis.StringCmd) (flows.State, bool) {
	b, err := get.Bytes()
	if err != nil { // redis.Nil: no conversation
		return flows.State{}, false
	}
	var st flows.State
	if err := json.Unmarshal(b, &st); err != nil {
		r.logger.WarnContext(ctx, "redis: undecodable conversation state ignored",
			"channel", string(ch), "chat_id", chatID, "error", err)
		return flows.State{}, false
	}
	return st, true
}

// End ends a turn in one round trip (a MULTI transaction): the state change,
// the update's seen mark, the customer-service window, and the release of
// the lease. If the lease ran out before End (and maybe another turn has
// begun), the writes are made all the same, the other holder's lease is left
// alone, and the error wraps flows.ErrConflict: a sign the lease TTL is too
// short for the step.
func (r *Store) End(ctx context.Context, t flows.Turn, e flows.TurnEnd) error {
	op := "end turn " + string(t.Channel) + ":" + t.ChatID
	if err := checkIDs(op, t.Channel, t.ChatID); err != nil {
		return err
	}
	var state []byte
	if e.Change == flows.SaveState {
		if err := checkTTL(op, e.StateTTL); err != nil {
			return err
		}
		b, err := json.Marshal(e.State)
		if err != nil {
			return fmt.Errorf("redis: %s: encode state: %w", op, err)
		}
		state = b
	}
	if e.SeenTTL < 0 || e.WindowTTL < 0 {
		return fmt.Errorf("%w: redis: %s: negative ttl", flows.ErrInvalid, op)
	}
	keys := r.chatKeys(t.Channel, t.ChatID)
	var released *redis.Cmd
	_, err := r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		switch e.Change {
		case flows.SaveState:
			p.Set(ctx, keys.state(), state, e.StateTTL)
		case flows.DeleteState:
			p.Del(ctx, keys.state())
		}
		if t.UpdateID != "" && e.SeenTTL >= time.Millisecond {
			p.Set(ctx, keys.seen(t.UpdateID), "1", e.SeenTTL)
		}
		if e.WindowTTL >= time.Millisecond {
			p.Set(ctx, keys.window(), "1", e.WindowTTL)
		}
		released = r.compareAndDelete(ctx, p, keys.lock(), t.Lease)
		return nil
	})
	if err != nil {
		return redisErr(op, err)
	}
	return leaseResult(op, released)
}

// Release ends a turn without changing anything (the step failed and the
// platform will redeliver). Give it a context that is not cancelled
// (context.WithoutCancel), or the chat stays locked until the lease TTL.
func (r *Store) Release(ctx context.Context, t flows.Turn) error {
	op := "release turn " + string(t.Channel) + ":" + t.ChatID
	if err := checkIDs(op, t.Channel, t.ChatID); err != nil {
		return err
	}
	released := r.compareAndDelete(ctx, r.client, r.chatKeys(t.Channel, t.ChatID).lock(), t.Lease)
	if err := released.Err(); err != nil {
		return redisErr(op, err)
	}
	return leaseResult(op, released)
}

func leaseResult(op string, released *redis.Cmd) error {
	n, err := released.Int()
	if err != nil {
		return fmt.Errorf("redis: %s: release lease: %w", op, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: redis: %s: the lease expired before the turn ended (lease TTL too short?)", flows.ErrConflict, op)
	}
	return nil
}

// compareAndDelete queues, on c, the deletion of key if it holds token,
// replying 1 when deleted. The embedded server uses DELEX IFEQ because
// miniredis builds a fresh Lua VM (about 190 KB) for every script call,
// which dominated its cost per update; Redis before 8.4 has no DELEX, so a
// real server runs the equivalent script (EVAL, which may stand inside a
// MULTI, where EVALSHA's fallback could not).
func (r *Store) compareAndDelete(ctx context.Context, c scripter, key, token string) *redis.Cmd {
	if r.mini != nil {
		return c.Do(ctx, "DELEX", key, "IFEQ", token)
	}
	return c.Eval(ctx, unlockSrc, []string{key}, token)
}

// scripter is what both a client and a pipeline offer to queue a command.
type scripter interface {
	Do(ctx context.Context, args ...any) *redis.Cmd
	Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd
}

// extendSrc renews a lease that still holds the caller's token.
const extendSrc = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`

// Extend renews the turn's lease for leaseTTL from now, so a step that takes
// longer than expected (a slow platform) keeps the chat, while a crashed
// replica's lease still runs out within one leaseTTL. A lease that is gone
// (it ran out, or Redis lost it) is ErrConflict: the step must stop, as
// another turn may have begun.
func (r *Store) Extend(ctx context.Context, t flows.Turn, leaseTTL time.Duration) error {
	op := "extend turn " + string(t.Channel) + ":" + t.ChatID
	if err := checkIDs(op, t.Channel, t.ChatID); err != nil {
		return err
	}
	if err := checkTTL(op, leaseTTL); err != nil {
		return err
	}
	n, err := r.client.Eval(ctx, extendSrc, []string{r.chatKeys(t.Channel, t.ChatID).lock()}, t.Lease, leaseTTL.Milliseconds()).Int()
	if err != nil {
		return redisErr(op, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: redis: %s: the lease is gone", flows.ErrConflict, op)
	}
	return nil
}
