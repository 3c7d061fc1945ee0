package redisstore

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// One update is two round trips: Begin reads the seen mark and the state
// under the new lease, End writes the state, the seen mark and the window
// and releases. A redelivery finds the mark and the chat free at once.
func TestTurnBeginSeesWhatEndWrote(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, r *Store) {
		ctx := testCtx(t)
		ch := flows.ChannelWeChat
		first, err := r.Begin(ctx, ch, "oA", "msg-1", time.Minute)
		if err != nil || first.Seen || first.HasState {
			t.Fatalf("first Begin = %+v, %v; want a fresh turn", first, err)
		}
		want := fullState()
		if err := r.End(ctx, first, flows.TurnEnd{Change: flows.SaveState, State: want, StateTTL: time.Hour,
			SeenTTL: time.Hour, WindowTTL: 48 * time.Hour}); err != nil {
			t.Fatalf("End: %v", err)
		}

		again, err := r.Begin(within(t, ctx, 2*time.Second), ch, "oA", "msg-1", time.Minute)
		if err != nil || !again.Seen {
			t.Fatalf("Begin of the same update = %+v, %v; want Seen", again, err)
		}
		next, err := r.Begin(within(t, ctx, 2*time.Second), ch, "oA", "msg-2", time.Minute)
		if err != nil {
			t.Fatalf("Begin after a seen turn: %v (the seen turn kept the chat)", err)
		}
		if next.Seen || !next.HasState || !reflect.DeepEqual(next.State, want) {
			t.Fatalf("next turn = %+v; want the saved state", next)
		}
		if open, err := r.WindowOpen(ctx, ch, "oA"); err != nil || !open {
			t.Fatalf("WindowOpen after End with WindowTTL = %v, %v", open, err)
		}
		if ttl := r.Client().PTTL(ctx, r.chatKeys(ch, "oA").window()).Val(); ttl <= 47*time.Hour {
			t.Fatalf("window PTTL = %v, want about 48h", ttl)
		}

		// Keep leaves the state; Delete removes it.
		if err := r.End(ctx, next, flows.TurnEnd{SeenTTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
		if st, ok, err := r.LoadState(ctx, ch, "oA"); err != nil || !ok || !reflect.DeepEqual(st, want) {
			t.Fatalf("after Keep: %+v, %v, %v", st, ok, err)
		}
		if err := deleteState(ctx, r, ch, "oA"); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := r.LoadState(ctx, ch, "oA"); err != nil || ok {
			t.Fatalf("after Delete: ok %v, err %v", ok, err)
		}
	})
}

// Every key of one chat carries the same hash tag, so a turn's MULTI works
// on a Redis Cluster (all its keys in one slot).
func TestTurnKeysShareTheChatsHashTag(t *testing.T) {
	t.Parallel()
	r := &Store{prefix: "cx:"}
	k := r.chatKeys(flows.ChannelTelegram, "42")
	for _, key := range []string{k.state(), k.lock(), k.window(), k.seen("1001")} {
		if from, to := strings.Index(key, "{"), strings.Index(key, "}"); from < 0 || key[from:to+1] != "{telegram:42}" {
			t.Errorf("key %q does not carry the hash tag {telegram:42}", key)
		}
	}
}

// A step that outlived its lease still writes what it did (the answer is in
// SQL already), but must not release the lease of the turn that took over.
func TestTurnEndAfterTheLeaseRanOut(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, r *Store) {
		ctx := testCtx(t)
		tg := flows.ChannelTelegram
		slow, err := r.Begin(ctx, tg, "900", "u1", 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		fresh, err := r.Begin(within(t, ctx, 2*time.Second), tg, "900", "u2", 30*time.Second)
		if err != nil {
			t.Fatalf("Begin after the first lease ran out: %v", err)
		}
		err = r.End(ctx, slow, flows.TurnEnd{Change: flows.SaveState, State: fullState(), StateTTL: time.Hour, SeenTTL: time.Hour})
		if !errors.Is(err, flows.ErrConflict) {
			t.Fatalf("End after the lease ran out: err = %v, want ErrConflict", err)
		}
		if seen, err := r.Begin(within(t, ctx, time.Second), tg, "900", "u1", time.Minute); err != nil || !seen.Seen {
			t.Fatalf("the late End's seen mark: %+v, %v", seen, err)
		}
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if _, err := r.Begin(short, tg, "900", "u3", time.Minute); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Begin while the fresh turn holds the chat: err = %v; the late End released it", err)
		}
		if err := r.Release(ctx, fresh); err != nil {
			t.Fatalf("Release of the fresh turn: %v", err)
		}
	})
}

func TestTurnEndRefusesBadInput(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, r *Store) {
		ctx := testCtx(t)
		turn, err := r.Begin(ctx, flows.ChannelTelegram, "901", "u", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for name, e := range map[string]flows.TurnEnd{
			"save without ttl": {Change: flows.SaveState, State: fullState()},
			"negative seen":    {SeenTTL: -time.Second},
			"negative window":  {WindowTTL: -time.Second},
		} {
			if err := r.End(ctx, turn, e); !errors.Is(err, flows.ErrInvalid) {
				t.Errorf("%s: err = %v, want ErrInvalid", name, err)
			}
		}
		if err := r.Release(ctx, turn); err != nil {
			t.Fatalf("Release after refused Ends: %v (a refused End must not release)", err)
		}
	})
}

// A lease renewed while the step runs outlives its first TTL; once it ran
// out (or Redis forgot it), renewing fails so the step can stop.
func TestTurnExtend(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, r *Store) {
		ctx := testCtx(t)
		tg := flows.ChannelTelegram
		// A lease of 2s renewed every 0.5s for 2.5s: it outlives its first
		// TTL only by being renewed, with room for a loaded machine's delays.
		turn, err := r.Begin(ctx, tg, "902", "u", 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			time.Sleep(500 * time.Millisecond)
			if err := r.Extend(ctx, turn, 2*time.Second); err != nil {
				t.Fatalf("Extend while held: %v", err)
			}
		}
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if _, err := r.Begin(short, tg, "902", "v", time.Minute); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Begin while an extended lease holds the chat: %v", err)
		}
		if err := r.Client().Del(ctx, r.chatKeys(tg, "902").lock()).Err(); err != nil { // Redis forgets
			t.Fatal(err)
		}
		if err := r.Extend(ctx, turn, time.Second); !errors.Is(err, flows.ErrConflict) {
			t.Fatalf("Extend of a lost lease: err = %v, want ErrConflict", err)
		}
	})
}

// BeginAdmitted spends the chat's inbound budget in Begin's round trip: an
// update over it ends the turn at once, holding nothing, while updates of
// another chat and turns begun without a limit are not charged.
func TestTurnBeginAdmittedChecksTheInboundLimit(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, r *Store) {
		ctx := testCtx(t)
		tg := flows.ChannelTelegram
		limit := flows.Limit{Count: 2, Per: time.Hour, Burst: 2}
		for i, u := range []string{"a1", "a2"} {
			turn, err := r.BeginAdmitted(ctx, tg, "950", u, time.Minute, limit)
			if err != nil || turn.OverLimit || turn.Seen {
				t.Fatalf("update %d: BeginAdmitted = %+v, %v; want admitted", i, turn, err)
			}
			if err := r.End(ctx, turn, flows.TurnEnd{SeenTTL: time.Hour}); err != nil {
				t.Fatal(err)
			}
		}
		over, err := r.BeginAdmitted(within(t, ctx, 2*time.Second), tg, "950", "a3", time.Minute, limit)
		if err != nil || !over.OverLimit {
			t.Fatalf("third update within the limit's window: %+v, %v; want OverLimit", over, err)
		}
		// The refused update holds nothing: a turn without a limit gets the chat at once.
		free, err := r.Begin(within(t, ctx, 2*time.Second), tg, "950", "a4", time.Minute)
		if err != nil || free.OverLimit {
			t.Fatalf("Begin after a refused update = %+v, %v (the refusal kept the chat?)", free, err)
		}
		if err := r.Release(ctx, free); err != nil {
			t.Fatal(err)
		}
		other, err := r.BeginAdmitted(ctx, tg, "951", "b1", time.Minute, limit)
		if err != nil || other.OverLimit {
			t.Fatalf("another chat: %+v, %v; want admitted", other, err)
		}
		if err := r.Release(ctx, other); err != nil {
			t.Fatal(err)
		}
		// A zero limit admits everything.
		zero, err := r.BeginAdmitted(ctx, tg, "950", "a5", time.Minute, flows.Limit{})
		if err != nil || zero.OverLimit {
			t.Fatalf("zero limit: %+v, %v; want admitted", zero, err)
		}
		if err := r.Release(ctx, zero); err != nil {
			t.Fatal(err)
		}
		if _, err := r.BeginAdmitted(ctx, tg, "950", "a6", time.Minute, flows.Limit{Count: 1}); !errors.Is(err, flows.ErrInvalid) {
			t.Fatalf("a limit with no period: %v, want ErrInvalid", err)
		}
	})
}
