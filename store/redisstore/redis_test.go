package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxbot/cxbot/flows"
)

// eachRedis runs fn on the embedded server, on the real Redis named by
// CXBOT_TEST_REDIS_URL and on a local 3-master Redis Cluster (see
// sharedCluster), each with a prefix of its own whose keys are removed
// afterwards. Without that variable, or without redis-server and redis-cli
// for the cluster, those runs are skipped, except in CI, where a skipped
// backend would hide a failure.
func eachRedis(t *testing.T, fn func(t *testing.T, r *Store)) {
	t.Helper()
	t.Run("embedded", func(t *testing.T) {
		t.Parallel()
		fn(t, openTestRedis(t, ""))
	})
	t.Run("real", func(t *testing.T) {
		t.Parallel()
		fn(t, openTestRedis(t, realRedisURL(t)))
	})
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		fn(t, openTestRedis(t, sharedCluster(t).URL()))
	})
}

// realRedisURL returns CXBOT_TEST_REDIS_URL or skips (fails in CI).
func realRedisURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("CXBOT_TEST_REDIS_URL")
	if u == "" {
		if os.Getenv("CI") != "" {
			tb.Fatal("CXBOT_TEST_REDIS_URL is not set; CI must run the real-Store tests")
		}
		tb.Skip("CXBOT_TEST_REDIS_URL is not set")
	}
	return u
}

var nonKeyChars = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// openTestRedis opens url ("" for embedded) with a unique prefix and
// registers cleanup of that prefix's keys and of the connection.
func openTestRedis(tb testing.TB, url string) *Store {
	tb.Helper()
	ctx := context.Background()
	base, err := Open(ctx, url, nil)
	if err != nil {
		tb.Fatalf("OpenRedis: %v", err)
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	prefix := "cxtest:" + nonKeyChars.ReplaceAllString(tb.Name(), "_") + ":" + hex.EncodeToString(rnd[:]) + ":"
	tb.Cleanup(func() {
		defer base.Close()
		if err := deleteKeys(ctx, base, prefix); err != nil {
			tb.Errorf("cleanup of %s*: %v", prefix, err)
		}
	})
	return base.WithPrefix(prefix)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func fullState() flows.State {
	return flows.State{
		ResponseID:      42,
		InvitationID:    7,
		SurveyID:        "post-delivery",
		SurveyVersion:   3,
		Language:        "zh-hans",
		QuestionID:      "q2",
		PromptMessageID: 1234,
		Attempts:        2,
		PendingHandoff: &flows.PendingHandoff{
			QuestionID: "nps",
			Kind:       flows.KindNPS,
			Score:      3,
			Class:      flows.ClassDetractor,
			Comment:    "送货太慢 — late",
		},
		StartedAt: time.Date(2025, 3, 1, 9, 30, 0, 123456789, time.UTC),
		UpdatedAt: time.Date(2025, 3, 1, 9, 31, 5, 987654321, time.UTC),
	}
}

func TestRedisStateRoundTrip(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, r *Store) {
		ctx := testCtx(t)
		ch := flows.ChannelTelegram

		if _, ok, err := r.LoadState(ctx, ch, "100"); err != nil || ok {
			t.Fatalf("LoadState before save = ok %v, err %v; want absent", ok, err)
		}

		want := fullState()
		if err := saveState(ctx, r, ch, "100", want, time.Hour); err != nil {
			t.Fatalf("SaveState: %v", err)
		}
		got, ok, err := r.LoadState(ctx, ch, "100")
		if err != nil || !ok {
			t.Fatalf("LoadState = ok %v, err %v", ok, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip:\n got %+v (%+v)\nwant %+v (%+v)", got, got.PendingHandoff, want, want.PendingHandoff)
		}

		// The same chat id on another channel is another conversation.
		if _, ok, err := r.LoadState(ctx, flows.ChannelWeChat, "100"); err != nil || ok {
			t.Fatalf("LoadState other channel = ok %v, err %v; want absent", ok, err)
		}

		// Overwrite: the pending handoff is gone, not merged.
		next := want
		next.PendingHandoff = nil
		next.QuestionID = ""
		next.Attempts = 0
		if err := saveState(ctx, r, ch, "100", next, time.Hour); err != nil {
			t.Fatalf("SaveState again: %v", err)
		}
		got, ok, err = r.LoadState(ctx, ch, "100")
		if err != nil || !ok || !reflect.DeepEqual(got, next) {
			t.Fatalf("after overwrite = %+v, ok %v, err %v; want %+v", got, ok, err, next)
		}

		if err := deleteState(ctx, r, ch, "100"); err != nil {
			t.Fatalf("DeleteState: %v", err)
		}
		if _, ok, err := r.LoadState(ctx, ch, "100"); err != nil || ok {
			t.Fatalf("LoadState after delete = ok %v, err %v; want absent", ok, err)
		}
		if err := deleteState(ctx, r, ch, "100"); err != nil {
			t.Fatalf("DeleteState of absent state: %v", err)
		}
	})
}

func TestRedisStateTTLRefreshedOnSave(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, r *Store) {
		ctx := testCtx(t)
		ch := flows.ChannelWeChat
		key := r.chatKeys(ch, "oABC").state()
		if err := saveState(ctx, r, ch, "oABC", fullState(), time.Minute); err != nil {
			t.Fatal(err)
		}
		if ttl := r.Client().PTTL(ctx, key).Val(); ttl <= 0 || ttl > time.Minute {
			t.Fatalf("PTTL after first save = %v, want (0, 1m]", ttl)
		}
		if err := saveState(ctx, r, ch, "oABC", fullState(), time.Hour); err != nil {
			t.Fatal(err)
		}
		if ttl := r.Client().PTTL(ctx, key).Val(); ttl <= time.Minute {
			t.Fatalf("PTTL after second save = %v, want about 1h", ttl)
		}
	})
}

// TestRedisStateExpiresByWallClock proves the embedded server expires keys in
// real time like Redis does (stock miniredis would keep them forever).
func TestRedisStateExpiresByWallClock(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, r *Store) {
		ctx := testCtx(t)
		ch := flows.ChannelTelegram
		if err := saveState(ctx, r, ch, "200", fullState(), 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := markSeen(ctx, r, ch, "u200", 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := r.LoadState(ctx, ch, "200"); err != nil || !ok {
			t.Fatalf("LoadState right after save = ok %v, err %v", ok, err)
		}
		time.Sleep(time.Second)
		if _, ok, err := r.LoadState(ctx, ch, "200"); err != nil || ok {
			t.Fatalf("LoadState after TTL = ok %v, err %v; want expired", ok, err)
		}
		if seen, err := seen(ctx, r, ch, "u200"); err != nil || seen {
			t.Fatalf("Seen after TTL = %v, err %v; want expired", seen, err)
		}
		// Expired keys are really gone, not just hidden from GET.
		if n := r.Client().Exists(ctx, r.chatKeys(ch, "200").state()).Val(); n != 0 {
			t.Fatalf("EXISTS after TTL = %d", n)
		}
	})
}

func TestRedisUndecodableStateIsAbsent(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, r *Store) {
		ctx := testCtx(t)
		ch := flows.ChannelTelegram
		if err := r.Client().Set(ctx, r.chatKeys(ch, "300").state(), "{not json", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := r.LoadState(ctx, ch, "300"); err != nil || ok {
			t.Fatalf("LoadState of garbage = ok %v, err %v; want absent, no error", ok, err)
		}
	})
}

func TestRedisSeen(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, r *Store) {
		ctx := testCtx(t)
		tg, wc := flows.ChannelTelegram, flows.ChannelWeChat
		if seen, err := seen(ctx, r, tg, "1001"); err != nil || seen {
			t.Fatalf("Seen before mark = %v, %v", seen, err)
		}
		if err := markSeen(ctx, r, tg, "1001", time.Hour); err != nil {
			t.Fatalf("MarkSeen: %v", err)
		}
		if seen, err := seen(ctx, r, tg, "1001"); err != nil || !seen {
			t.Fatalf("Seen after mark = %v, %v", seen, err)
		}
		if seen, err := seen(ctx, r, wc, "1001"); err != nil || seen {
			t.Fatalf("Seen on other channel = %v, %v", seen, err)
		}
		if seen, err := seen(ctx, r, tg, "1002"); err != nil || seen {
			t.Fatalf("Seen other update = %v, %v", seen, err)
		}
		// Marking twice is harmless (a redelivery racing the first).
		if err := markSeen(ctx, r, tg, "1001", time.Hour); err != nil {
			t.Fatalf("MarkSeen again: %v", err)
		}
	})
}

func TestRedisInvalidArguments(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, r *Store) {
		ctx := testCtx(t)
		tg := flows.ChannelTelegram
		checks := map[string]error{
			"load empty chat":  func() error { _, _, err := r.LoadState(ctx, tg, ""); return err }(),
			"save empty chan":  saveState(ctx, r, "", "1", flows.State{}, time.Minute),
			"save zero ttl":    saveState(ctx, r, tg, "1", flows.State{}, 0),
			"delete empty":     deleteState(ctx, r, tg, ""),
			"seen empty":       func() error { _, err := seen(ctx, r, tg, ""); return err }(),
			"begin empty chat": func() error { _, err := r.Begin(ctx, tg, "", "u", time.Second); return err }(),
			"end empty chat":   r.End(ctx, flows.Turn{Channel: tg, Lease: "x"}, flows.Keep()),
			"mark seen no ttl": markSeen(ctx, r, tg, "1", -time.Second),
			"lock empty":       func() error { _, err := lockChat(ctx, r, tg, "", time.Second); return err }(),
			"lock tiny ttl":    func() error { _, err := lockChat(ctx, r, tg, "1", time.Microsecond); return err }(),
			"trylock empty":    func() error { _, err := r.TryLock(ctx, "", time.Second); return err }(),
		}
		for name, err := range checks {
			if !errors.Is(err, flows.ErrInvalid) {
				t.Errorf("%s: err = %v, want ErrInvalid", name, err)
			}
		}
		if n := r.Client().DBSize(ctx).Val(); r.Embedded() && n != 0 {
			t.Errorf("invalid calls wrote %d keys", n)
		}
	})
}

func TestRedisLockChatMutualExclusion(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, r *Store) {
		ctx := testCtx(t)
		const workers = 20
		var (
			counter    int // deliberately not atomic: the lock must protect it
			holders    atomic.Int32
			maxHolders atomic.Int32
			wg         sync.WaitGroup
			errs       = make(chan error, workers)
		)
		for range workers {
			wg.Go(func() {
				unlock, err := lockChat(ctx, r, flows.ChannelTelegram, "500", 10*time.Second)
				if err != nil {
					errs <- err
					return
				}
				n := holders.Add(1)
				for {
					m := maxHolders.Load()
					if n <= m || maxHolders.CompareAndSwap(m, n) {
						break
					}
				}
				v := counter
				time.Sleep(time.Millisecond)
				counter = v + 1
				holders.Add(-1)
				if err := unlock(ctx); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if counter != workers {
			t.Errorf("counter = %d, want %d (lost updates)", counter, workers)
		}
		if m := maxHolders.Load(); m != 1 {
			t.Errorf("max concurrent holders = %d, want 1", m)
		}
	})
}

func TestRedisLockChatOtherChatsDoNotBlock(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, r *Store) {
		ctx := testCtx(t)
		unlock, err := lockChat(ctx, r, flows.ChannelTelegram, "600", 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer unlock(ctx)

		short, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		for _, c := range []struct {
			ch   flows.Channel
			chat string
		}{{flows.ChannelTelegram, "601"}, {flows.ChannelWeChat, "600"}} {
			u, err := lockChat(short, r, c.ch, c.chat, 30*time.Second)
			if err != nil {
				t.Fatalf("LockChat %s:%s while %s:600 is held: %v", c.ch, c.chat, flows.ChannelTelegram, err)
			}
			if err := u(ctx); err != nil {
				t.Fatalf("unlock %s:%s: %v", c.ch, c.chat, err)
			}
		}
	})
}

func TestRedisLockChatWaitRespectsContext(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, r *Store) {
		ctx := testCtx(t)
		tg := flows.ChannelTelegram
		unlock, err := lockChat(ctx, r, tg, "700", 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}

		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		_, err = lockChat(cctx, r, tg, "700", 30*time.Second)
		if !errors.Is(err, context.Canceled) || !errors.Is(err, flows.ErrUnavailable) {
			t.Fatalf("LockChat on cancelled ctx: err = %v, want context.Canceled and ErrUnavailable", err)
		}
		// Loose bound: it must give up on cancel, not wait for the 30s TTL.
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("LockChat returned %v after cancel", d)
		}

		dctx, dcancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer dcancel()
		if _, err := lockChat(dctx, r, tg, "700", 30*time.Second); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("LockChat past deadline: err = %v, want context.DeadlineExceeded", err)
		}

		// Released: the next caller gets it at once.
		if err := unlock(ctx); err != nil {
			t.Fatal(err)
		}
		if err := unlock(ctx); err != nil {
			t.Fatalf("second unlock: %v, want nil (idempotent)", err)
		}
		u, err := lockChat(within(t, ctx, 2*time.Second), r, tg, "700", 30*time.Second)
		if err != nil {
			t.Fatalf("LockChat after unlock: %v", err)
		}
		_ = u(ctx)
	})
}

func within(t *testing.T, parent context.Context, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(parent, d)
	t.Cleanup(cancel)
	return ctx
}

// TestRedisLockChatStaleUnlock: a holder whose lock expired and was taken by
// another must not release the new holder's lock.
func TestRedisLockChatStaleUnlock(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, r *Store) {
		ctx := testCtx(t)
		tg := flows.ChannelTelegram
		staleUnlock, err := lockChat(ctx, r, tg, "800", 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)

		wait, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		freshUnlock, err := lockChat(wait, r, tg, "800", 30*time.Second)
		if err != nil {
			t.Fatalf("LockChat after the first holder's TTL: %v", err)
		}

		if err := staleUnlock(ctx); !errors.Is(err, flows.ErrConflict) {
			t.Fatalf("stale unlock: err = %v, want ErrConflict", err)
		}
		short, cancel2 := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel2()
		if _, err := lockChat(short, r, tg, "800", 30*time.Second); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("LockChat after stale unlock: err = %v; the fresh holder's lock was released", err)
		}

		if err := freshUnlock(ctx); err != nil {
			t.Fatalf("fresh unlock: %v", err)
		}
		if n := r.Client().Exists(ctx, r.chatKeys(tg, "800").lock()).Val(); n != 0 {
			t.Fatalf("lock key still exists after unlock")
		}
	})
}

func TestRedisTryLockOneWinner(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, r *Store) {
		ctx := testCtx(t)
		const contenders = 10
		var (
			wins atomic.Int32
			wg   sync.WaitGroup
		)
		for range contenders {
			wg.Go(func() {
				ok, err := r.TryLock(ctx, "cron:wave-1:2025-03-01T09:00", 400*time.Millisecond)
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if w := wins.Load(); w != 1 {
			t.Fatalf("winners = %d, want 1", w)
		}
		// Another slot is another lock.
		if ok, err := r.TryLock(ctx, "cron:wave-1:2025-03-01T10:00", time.Minute); err != nil || !ok {
			t.Fatalf("TryLock other slot = %v, %v", ok, err)
		}
		// Not released: it only expires.
		time.Sleep(time.Second)
		if ok, err := r.TryLock(ctx, "cron:wave-1:2025-03-01T09:00", time.Minute); err != nil || !ok {
			t.Fatalf("TryLock after expiry = %v, %v; want taken again", ok, err)
		}
	})
}

func TestRedisOpenFailure(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	r, err := Open(ctx, "redis://cxuser:s3cretpw@127.0.0.1:1/0", nil)
	if err == nil {
		r.Close()
		t.Fatal("OpenRedis on a closed port succeeded")
	}
	if !errors.Is(err, flows.ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "s3cretpw") {
		t.Errorf("err leaks the password: %v", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("err does not name the server: %v", err)
	}

	for _, bad := range []string{"http://x:s3cretpw@host/", "redis://x:s3cretpw@host:port/", "redis://x:s3cretpw@host/notadb"} {
		_, err := Open(ctx, bad, nil)
		if !errors.Is(err, flows.ErrInvalid) {
			t.Errorf("Open(%q): err = %v, want ErrInvalid", bad, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cretpw") {
			t.Errorf("Open(%q): err leaks the password: %v", bad, err)
		}
	}
}

// unavailableOps names one call of every operation.
func unavailableOps(r *Store) map[string]func(context.Context) error {
	tg := flows.ChannelTelegram
	return map[string]func(context.Context) error{
		"Ping":      r.Ping,
		"LoadState": func(ctx context.Context) error { _, _, err := r.LoadState(ctx, tg, "1"); return err },
		"Begin":     func(ctx context.Context) error { _, err := r.Begin(ctx, tg, "1", "u1", time.Minute); return err },
		"End": func(ctx context.Context) error {
			return r.End(ctx, flows.Turn{Channel: tg, ChatID: "1", UpdateID: "u1", Lease: "x"}, flows.TurnEnd{SeenTTL: time.Minute})
		},
		"Release": func(ctx context.Context) error {
			return r.Release(ctx, flows.Turn{Channel: tg, ChatID: "1", Lease: "x"})
		},
		"TryLock": func(ctx context.Context) error { _, err := r.TryLock(ctx, "k", time.Minute); return err },
	}
}

// wantUnavailable runs every operation in parallel (a refused dial is
// retried with backoff for about a second) and expects ErrUnavailable.
func wantUnavailable(t *testing.T, r *Store) {
	t.Helper()
	for name, op := range unavailableOps(r) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := op(context.Background()); !errors.Is(err, flows.ErrUnavailable) {
				t.Errorf("err = %v, want ErrUnavailable", err)
			}
		})
	}
}

func TestRedisClosedIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	r, err := Open(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Embedded() {
		t.Fatal("Open(\"\") is not embedded")
	}
	unlock, err := lockChat(ctx, r, flows.ChannelTelegram, "9", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	cp := r.WithPrefix("other:")
	if err := cp.Close(); err != nil {
		t.Fatalf("Close on a WithPrefix copy: %v", err)
	}
	if err := r.Ping(ctx); err != nil {
		t.Fatalf("Close on a copy closed the shared client: %v", err)
	}

	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_ = r.Close() // idempotent, must not panic

	if err := unlock(ctx); !errors.Is(err, flows.ErrUnavailable) {
		t.Errorf("unlock after Close: err = %v, want ErrUnavailable", err)
	}
	t.Run("original", func(t *testing.T) { wantUnavailable(t, r) })
	t.Run("copy", func(t *testing.T) { wantUnavailable(t, cp) })
}

// TestRedisServerGoneIsUnavailable stops the embedded server under an open
// client, as a crashed Redis would: the client's errors are network errors.
func TestRedisServerGoneIsUnavailable(t *testing.T) {
	t.Parallel()
	r, err := Open(testCtx(t), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	// Dial once, no retries: the default backoff makes each call take about
	// 1.5s against a dead server, which proves nothing more.
	addr := r.mini.Addr()
	r.client.Close()
	r.client = redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1})
	r.mini.Close()
	wantUnavailable(t, r)
}

func TestRedisServerReplyErrorIsNotUnavailable(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, r *Store) {
		ctx := testCtx(t)
		tg := flows.ChannelTelegram
		// A hash where a string belongs: WRONGTYPE is a bug, not an outage.
		if err := r.Client().HSet(ctx, r.chatKeys(tg, "1").state(), "f", "v").Err(); err != nil {
			t.Fatal(err)
		}
		_, _, err := r.LoadState(ctx, tg, "1")
		if err == nil || errors.Is(err, flows.ErrUnavailable) {
			t.Fatalf("LoadState on a hash: err = %v, want a non-unavailable error", err)
		}
	})
}

func TestRedisSafeURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"redis://u:pw@h:6379/2":            "redis://h:6379/2",
		"rediss://:pw@h/0?password=pw&x=1": "rediss://h/0",
		"redis://h":                        "redis://h",
	} {
		if got := safeRedisURL(in); got != want {
			t.Errorf("safeRedisURL(%q) = %q, want %q", in, got, want)
		}
	}
	if got := safeRedisURL("redis://u:pw@h:6379/%zz"); strings.Contains(got, "pw") {
		t.Errorf("unparsable URL leaks: %q", got)
	}
}
