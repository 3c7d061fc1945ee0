package redisstore

import (
	"errors"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

func TestRedisQuotaGrantTakeDrop(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, r *Store) {
		ctx := testCtx(t)
		take := func(key string) bool {
			t.Helper()
			ok, err := r.TakeQuota(ctx, key)
			if err != nil {
				t.Fatalf("TakeQuota(%q): %v", key, err)
			}
			return ok
		}
		const u = "wechat:quota:wx1:o-user"
		if take(u) {
			t.Fatal("TakeQuota before any grant = true")
		}
		if err := r.GrantQuota(ctx, u, 5, 48*time.Hour); err != nil {
			t.Fatal(err)
		}
		// A scan's short grant does not cut the message's long one.
		if err := r.GrantQuota(ctx, u, 3, time.Minute); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if !take(u) {
				t.Fatalf("take %d of 5 refused", i+1)
			}
		}
		if take(u) {
			t.Fatal("sixth take allowed")
		}
		if ttl := r.Client().PTTL(ctx, r.quotaKey(u)).Val(); ttl < 47*time.Hour {
			t.Fatalf("PTTL after takes = %v, want the 48h grant's", ttl)
		}
		// A new message grants 5 again; a drop empties it.
		if err := r.GrantQuota(ctx, u, 5, 48*time.Hour); err != nil {
			t.Fatal(err)
		}
		if !take(u) {
			t.Fatal("take after a new grant refused")
		}
		if err := r.DropQuota(ctx, u); err != nil {
			t.Fatal(err)
		}
		if take(u) {
			t.Fatal("take after drop allowed")
		}
		// A follow's grant runs out.
		if err := r.GrantQuota(ctx, "wechat:quota:wx1:o-short", 3, 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // the embedded server expires keys every 100ms
		if take("wechat:quota:wx1:o-short") {
			t.Fatal("take after the grant expired allowed")
		}
		for _, err := range []error{
			r.GrantQuota(ctx, "", 5, time.Hour),
			r.GrantQuota(ctx, u, 0, time.Hour),
			r.GrantQuota(ctx, u, 5, 0),
			r.DropQuota(ctx, ""),
		} {
			if !errors.Is(err, flows.ErrInvalid) {
				t.Errorf("bad input: err = %v, want ErrInvalid", err)
			}
		}
		if _, err := r.TakeQuota(ctx, ""); !errors.Is(err, flows.ErrInvalid) {
			t.Errorf("TakeQuota(\"\") err = %v, want ErrInvalid", err)
		}
	})
}
