package redisstore

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

func TestRedisFirstUse(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, r *Store) {
		ctx := testCtx(t)
		stored, first, err := r.FirstUse(ctx, "wechat:nonce:1", "body-a", time.Minute)
		if err != nil || !first || stored != "body-a" {
			t.Fatalf("first use = %q, %v, %v", stored, first, err)
		}
		// Another replica, another value: not first, and it sees the first value.
		stored, first, err = replica(t, r).FirstUse(ctx, "wechat:nonce:1", "body-b", time.Minute)
		if err != nil || first || stored != "body-a" {
			t.Fatalf("second use on a replica = %q, %v, %v; want body-a, false", stored, first, err)
		}
		if ttl := r.Client().PTTL(ctx, r.onceKey("wechat:nonce:1")).Val(); ttl <= 0 || ttl > time.Minute {
			t.Fatalf("PTTL = %v, want (0, 1m]", ttl)
		}
		// Another prefix is another namespace.
		if _, first, err := r.WithPrefix(r.Prefix()+"x:").FirstUse(ctx, "wechat:nonce:1", "v", time.Minute); err != nil || !first {
			t.Fatalf("other prefix: first %v, err %v", first, err)
		}
		// Expired: first again.
		if _, first, err := r.FirstUse(ctx, "short", "v", 300*time.Millisecond); err != nil || !first {
			t.Fatalf("short: %v %v", first, err)
		}
		time.Sleep(time.Second)
		if _, first, err := r.FirstUse(ctx, "short", "w", time.Minute); err != nil || !first {
			t.Fatalf("after expiry: first %v, err %v; want first", first, err)
		}
		// Many racing callers: exactly one first.
		var wg sync.WaitGroup
		var mu sync.Mutex
		firsts := 0
		for range 20 {
			wg.Go(func() {
				_, first, err := r.FirstUse(ctx, "race", "v", time.Minute)
				if err != nil {
					t.Error(err)
				}
				if first {
					mu.Lock()
					firsts++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if firsts != 1 {
			t.Fatalf("%d racing callers were first, want 1", firsts)
		}
		for _, bad := range []struct {
			key string
			ttl time.Duration
		}{{"", time.Minute}, {"k", 0}} {
			if _, _, err := r.FirstUse(ctx, bad.key, "v", bad.ttl); !errors.Is(err, flows.ErrInvalid) {
				t.Errorf("FirstUse(%q, ttl %v) = %v, want ErrInvalid", bad.key, bad.ttl, err)
			}
		}
	})
}
