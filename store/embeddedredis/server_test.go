package embeddedredis

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestGCRAStep(t *testing.T) {
	t.Parallel()
	// Microseconds; interval 100.
	for _, c := range []struct {
		name            string
		now, tat, burst int64
		ok              bool
		next, wait      int64
	}{
		{name: "new limiter", now: 1000, tat: 0, burst: 1, ok: true, next: 1100},
		{name: "burst 1 spent", now: 1000, tat: 1100, burst: 1, wait: 100},
		{name: "burst 1 partly waited", now: 1060, tat: 1100, burst: 1, wait: 40},
		{name: "burst 1 due", now: 1100, tat: 1100, burst: 1, ok: true, next: 1200},
		{name: "idle banks no more than the burst", now: 5000, tat: 1100, burst: 3, ok: true, next: 5100},
		{name: "burst 3, two taken", now: 1000, tat: 1200, burst: 3, ok: true, next: 1300},
		{name: "burst 3 spent", now: 1000, tat: 1300, burst: 3, wait: 100},
		{name: "burst 3, one back", now: 1100, tat: 1300, burst: 3, ok: true, next: 1400},
	} {
		ok, next, wait := GCRAStep(c.now, c.tat, 100, c.burst)
		if ok != c.ok || next != c.next || wait != c.wait {
			t.Errorf("%s: GCRAStep = %v, %d, %d; want %v, %d, %d", c.name, ok, next, wait, c.ok, c.next, c.wait)
		}
	}
}

// The server expires keys by wall-clock time and answers CommandGCRA over
// TCP like any command.
func TestServerExpiresKeysAndRunsGCRA(t *testing.T) {
	t.Parallel()
	srv, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Set(ctx, "k", "v", 300*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for c.Exists(ctx, "k").Val() == 1 {
		if time.Now().After(deadline) {
			t.Fatal("a key with a 300ms TTL still exists after 3s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// One per hour, burst 2: two admitted, the third told to wait.
	for i, want := range []int64{1, 1, 0} {
		res, err := c.Do(ctx, CommandGCRA, "rate", int64(time.Hour/time.Microsecond), 2, 1000).Int64Slice()
		if err != nil {
			t.Fatal(err)
		}
		if res[0] != want || (want == 0) != (res[1] > 0) {
			t.Fatalf("call %d: reply %v, want admitted=%d", i+1, res, want)
		}
	}
	if err := c.Do(ctx, CommandGCRA, "rate", "x", 1, 1).Err(); err == nil {
		t.Error("a non-numeric interval was accepted")
	}
	if err := c.Do(ctx, CommandGCRA, "rate").Err(); err == nil {
		t.Error("missing arguments were accepted")
	}
}

// A pass over many keys spaces the next one out, so the server is not held
// locked most of the time, within MaxTick (which limiter keys outlive).
func TestNextTickGrowsWithThePassButStaysBounded(t *testing.T) {
	for _, c := range []struct{ took, want time.Duration }{
		{0, Tick}, {time.Millisecond, Tick}, {10 * time.Millisecond, 200 * time.Millisecond}, {time.Second, MaxTick},
	} {
		if got := nextTick(c.took); got != c.want {
			t.Errorf("after a pass of %v: next in %v, want %v", c.took, got, c.want)
		}
	}
}
