package redisstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/internal/rediscluster"
)

// The package's tests share one local 3-master Redis Cluster, started by
// the first test that asks for it (a few seconds) and stopped by TestMain.
var shared struct {
	once    sync.Once
	dir     string
	cluster *rediscluster.Cluster
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.cluster != nil {
		if err := shared.cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop the test cluster:", err)
		}
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// sharedCluster returns the package's cluster, starting it on first use;
// skipped without redis-server and redis-cli (failed in CI).
func sharedCluster(tb testing.TB) *rediscluster.Cluster {
	tb.Helper()
	rediscluster.SkipUnlessAvailable(tb)
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "cxbot-redis-cluster-"); shared.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		shared.cluster, shared.err = rediscluster.New(ctx, shared.dir, 3)
	})
	if shared.err != nil {
		tb.Fatalf("start the test cluster: %v", shared.err)
	}
	return shared.cluster
}

// deleteKeys removes every key under prefix: on a cluster, master by master,
// one key per DEL (a DEL of several keys must keep them in one slot).
func deleteKeys(ctx context.Context, s *Store, prefix string) error {
	del := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			return fmt.Errorf("scan: %w", err)
		}
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.Del(ctx, k)
			}
			return nil
		})
		return err
	}
	if s.cluster == nil {
		return del(ctx, s.client)
	}
	return s.cluster.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return del(ctx, m) })
}

// keysPerMaster counts, on each master, the keys under prefix.
func keysPerMaster(t *testing.T, s *Store, prefix string) map[string]int {
	t.Helper()
	var mu sync.Mutex
	counts := map[string]int{}
	err := s.cluster.ForEachMaster(testCtx(t), func(ctx context.Context, m *redis.Client) error {
		n := 0
		iter := m.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			n++
		}
		mu.Lock()
		counts[m.Options().Addr] = n
		mu.Unlock()
		return iter.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return counts
}

// Every operation of the store on a 3-master cluster, for chats, limiter
// keys, channels, values and locks spread over every master. The multi-key
// ones (Begin, End, ChannelPause) would fail with CROSSSLOT if their keys
// did not share a slot; TestClusterRefusesCrossSlot shows that they would.
func TestClusterEveryOperation(t *testing.T) {
	t.Parallel()
	r := openTestRedis(t, sharedCluster(t).URL())
	if !r.Cluster() || r.Embedded() {
		t.Fatalf("Cluster() = %v, Embedded() = %v on a cluster URL", r.Cluster(), r.Embedded())
	}
	ctx := testCtx(t)
	if err := r.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	const chats = 90
	tg := flows.ChannelTelegram
	limit := flows.Limit{Count: 1, Per: time.Hour}

	var wg sync.WaitGroup
	for i := range chats {
		wg.Go(func() {
			if err := everyOperation(ctx, r, tg, strconv.Itoa(1000+i), limit); err != nil {
				t.Errorf("chat %d: %v", 1000+i, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// The chats, limiters, values and locks landed on all three masters.
	for addr, n := range keysPerMaster(t, r, r.Prefix()) {
		if n == 0 {
			t.Errorf("master %s holds none of the test's keys", addr)
		}
	}
	for addr, n := range keysPerMaster(t, r, r.Prefix()+"{") {
		if n == 0 {
			t.Errorf("master %s holds no chat", addr)
		}
	}

	// Wait on a limiter that admits one event each 50ms.
	fast := flows.Limit{Count: 20, Per: time.Second}
	start := time.Now()
	for range 3 {
		if err := r.Wait(ctx, "wait:global", fast); err != nil {
			t.Fatalf("Wait: %v", err)
		}
	}
	if took := time.Since(start); took < 90*time.Millisecond {
		t.Fatalf("three Waits on 20/s took %v, want about 100ms", took)
	}

	// Pauses on many channels, so their keys land on every master too;
	// ChannelPause reads each one with its own server's TIME.
	for i := range 12 {
		ch := flows.Channel("chan" + strconv.Itoa(i))
		if err := r.PauseChannel(ctx, ch, time.Minute); err != nil {
			t.Fatalf("PauseChannel(%s): %v", ch, err)
		}
		if d, err := r.ChannelPause(ctx, ch); err != nil || d <= 50*time.Second || d > time.Minute {
			t.Fatalf("ChannelPause(%s) = %v, %v; want about a minute", ch, d, err)
		}
		if d, err := r.ChannelPause(ctx, flows.Channel("idle"+strconv.Itoa(i))); err != nil || d != 0 {
			t.Fatalf("ChannelPause of a channel never paused = %v, %v", d, err)
		}
	}
}

// everyOperation runs, for one chat, a turn of every kind and the
// single-key operations keyed by it.
func everyOperation(ctx context.Context, r *Store, ch flows.Channel, chat string, limit flows.Limit) error {
	st := fullState()
	st.ResponseID = 1
	// A first turn saves the state, marks its update seen and opens the window.
	t, err := r.Begin(ctx, ch, chat, "u1", time.Minute)
	if err != nil || t.Seen || t.HasState {
		return fmt.Errorf("first Begin = %+v, %v", t, err)
	}
	if err := r.Extend(ctx, t, time.Minute); err != nil {
		return fmt.Errorf("Extend: %w", err)
	}
	if err := r.End(ctx, t, flows.TurnEnd{Change: flows.SaveState, State: st, StateTTL: time.Hour, SeenTTL: time.Hour, WindowTTL: time.Hour}); err != nil {
		return fmt.Errorf("End: %w", err)
	}
	// Its redelivery is seen; a new update sees the state.
	if t, err := r.Begin(ctx, ch, chat, "u1", time.Minute); err != nil || !t.Seen {
		return fmt.Errorf("Begin of a redelivery = %+v, %v; want seen", t, err)
	}
	t, err = r.Begin(ctx, ch, chat, "u2", time.Minute)
	if err != nil || t.Seen || !t.HasState || t.State.ResponseID != 1 {
		return fmt.Errorf("second Begin = %+v, %v; want the saved state", t, err)
	}
	if err := r.Release(ctx, t); err != nil {
		return fmt.Errorf("Release: %w", err)
	}
	// A released turn left nothing applied: u2 is not seen.
	t, err = r.Begin(ctx, ch, chat, "u2", time.Minute)
	if err != nil || t.Seen {
		return fmt.Errorf("Begin after Release = %+v, %v; want not seen", t, err)
	}
	if err := r.End(ctx, t, flows.TurnEnd{Change: flows.DeleteState, SeenTTL: time.Hour}); err != nil {
		return fmt.Errorf("End with delete: %w", err)
	}
	if _, ok, err := r.LoadState(ctx, ch, chat); err != nil || ok {
		return fmt.Errorf("LoadState after delete = %v, %v", ok, err)
	}
	if open, err := r.WindowOpen(ctx, ch, chat); err != nil || !open {
		return fmt.Errorf("WindowOpen = %v, %v; want open", open, err)
	}

	// A turn under the inbound limit: its limiter runs in Begin's MULTI.
	if t, err := r.BeginAdmitted(ctx, ch, chat, "u3", time.Minute, limit); err != nil || t.OverLimit {
		return fmt.Errorf("BeginAdmitted = %+v, %v", t, err)
	} else if err := r.Release(ctx, t); err != nil {
		return fmt.Errorf("Release after BeginAdmitted: %w", err)
	}
	if t, err := r.BeginAdmitted(ctx, ch, chat, "u4", time.Minute, limit); err != nil || !t.OverLimit {
		return fmt.Errorf("BeginAdmitted over the limit = %+v, %v; want OverLimit", t, err)
	}

	// Per-chat limiter, values and locks named after the chat.
	if ok, _, err := r.Allow(ctx, "chat:"+chat, limit); err != nil || !ok {
		return fmt.Errorf("first Allow = %v, %v", ok, err)
	}
	if ok, retry, err := r.Allow(ctx, "chat:"+chat, limit); err != nil || ok || retry <= 0 {
		return fmt.Errorf("second Allow = %v, %v, %v; want refused", ok, retry, err)
	}
	if err := r.SetString(ctx, "token:"+chat, "v"+chat, time.Hour); err != nil {
		return fmt.Errorf("SetString: %w", err)
	}
	if v, ok, err := r.GetString(ctx, "token:"+chat); err != nil || !ok || v != "v"+chat {
		return fmt.Errorf("GetString = %q, %v, %v", v, ok, err)
	}
	if err := r.Delete(ctx, "token:"+chat); err != nil {
		return fmt.Errorf("Delete: %w", err)
	}
	if _, ok, err := r.GetString(ctx, "token:"+chat); err != nil || ok {
		return fmt.Errorf("GetString after Delete = %v, %v", ok, err)
	}
	if err := r.SetString(ctx, "kept:"+chat, "v", time.Hour); err != nil { // left for the count per master
		return fmt.Errorf("SetString: %w", err)
	}
	if ok, err := r.TryLock(ctx, "slot:"+chat, time.Hour); err != nil || !ok {
		return fmt.Errorf("first TryLock = %v, %v", ok, err)
	}
	if ok, err := r.TryLock(ctx, "slot:"+chat, time.Hour); err != nil || ok {
		return fmt.Errorf("second TryLock = %v, %v; want taken", ok, err)
	}
	return nil
}

// The cluster does refuse what the store must never do: a transaction or a
// script over keys in different slots. So TestClusterEveryOperation would
// catch keys that lost their shared hash tag.
func TestClusterRefusesCrossSlot(t *testing.T) {
	t.Parallel()
	r := openTestRedis(t, sharedCluster(t).URL())
	ctx := testCtx(t)
	a, b := r.chatKeys(flows.ChannelTelegram, "1"), r.chatKeys(flows.ChannelTelegram, "2")
	if ka, kb := r.Client().ClusterKeySlot(ctx, a.state()).Val(), r.Client().ClusterKeySlot(ctx, b.state()).Val(); ka == kb {
		t.Fatalf("chats 1 and 2 share slot %d; pick two chats in different slots", ka)
	}
	_, err := r.Client().TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, a.state(), "x", time.Minute)
		p.Set(ctx, b.state(), "x", time.Minute)
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("MULTI over two chats: err = %v, want CROSSSLOT", err)
	}
	err = r.Client().Eval(ctx, `return redis.call("GET", KEYS[2])`, []string{a.lock(), b.lock()}).Err()
	if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("EVAL over two chats: err = %v, want CROSSSLOT", err)
	}
	// Both are bugs, not outages: the webhook must not retry them for ever.
	if e := redisErr("x", err); errors.Is(e, flows.ErrUnavailable) {
		t.Fatalf("a CROSSSLOT reply counts as unavailable: %v", e)
	}
	// The keys of one chat share a slot.
	slot := r.Client().ClusterKeySlot(ctx, a.state()).Val()
	for _, k := range []string{a.lock(), a.window(), a.seen("u1"), a.seen("9999999")} {
		if s := r.Client().ClusterKeySlot(ctx, k).Val(); s != slot {
			t.Errorf("key %q in slot %d, the chat's state in %d", k, s, slot)
		}
	}
}

// A single-server URL that names a cluster node is refused at start-up:
// most chats would meet MOVED.
func TestClusterNodeNeedsTheClusterURL(t *testing.T) {
	t.Parallel()
	c := sharedCluster(t)
	r, err := Open(testCtx(t), "redis://"+c.Addrs[0]+"/0", nil)
	if err == nil {
		r.Close()
		t.Fatal("Open(redis://<cluster node>) succeeded")
	}
	if !errors.Is(err, flows.ErrInvalid) || !strings.Contains(err.Error(), "redis+cluster://") {
		t.Fatalf("err = %v, want ErrInvalid naming redis+cluster://", err)
	}
	// And a cluster URL on a standalone server fails too.
	if u := os.Getenv("CXBOT_TEST_REDIS_URL"); u != "" {
		host := strings.TrimPrefix(safeRedisURL(u), "redis://")
		host, _, _ = strings.Cut(host, "/")
		if r, err := Open(testCtx(t), "redis+cluster://"+host, nil); err == nil {
			r.Close()
			t.Fatalf("Open(redis+cluster://%s), a standalone server, succeeded", host)
		}
	}
}

// Ping asks every master: the readiness probe fails while any of them is
// down, since its share of the chats cannot be served.
func TestClusterPingAsksEveryMaster(t *testing.T) {
	t.Parallel()
	c := rediscluster.Start(t, 3) // its own: this test stops a node
	r, err := Open(testCtx(t), c.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Ping(testCtx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := c.StopNode(2); err != nil {
		t.Fatal(err)
	}
	err = r.Ping(testCtx(t))
	if !errors.Is(err, flows.ErrUnavailable) || !strings.Contains(err.Error(), c.Addrs[2]) {
		t.Fatalf("Ping with master %s down: err = %v, want ErrUnavailable naming it", c.Addrs[2], err)
	}
}
