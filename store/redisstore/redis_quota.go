package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// Quota counters count, per key (a WeChat user), the messages a platform
// still allows: a counter with a TTL, shared by all replicas, granted when
// the user writes and taken from on each send.

func (r *Store) quotaKey(key string) string {
	return r.prefix + "quota:" + key
}

// grantQuotaSrc sets the counter to ARGV[1] for ARGV[2] ms, unless it holds
// at least as many for at least as long (a scan's short grant must not cut
// a message's long one).
const grantQuotaSrc = `local left = tonumber(redis.call("GET", KEYS[1]) or "0")
if left >= tonumber(ARGV[1]) and redis.call("PTTL", KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
return 1`

// takeQuotaSrc uses one unit of the counter (DECR keeps its TTL); 0 when
// none is left.
const takeQuotaSrc = `local left = tonumber(redis.call("GET", KEYS[1]) or "0")
if left <= 0 then return 0 end
redis.call("DECR", KEYS[1])
return 1`

// GrantQuota lets key send n messages for ttl, unless it already may send
// at least n for at least as long.
func (r *Store) GrantQuota(ctx context.Context, key string, n int, ttl time.Duration) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: redis: grant quota: empty key", flows.ErrInvalid)
	case n <= 0:
		return fmt.Errorf("%w: redis: grant quota %s: %d messages, want at least 1", flows.ErrInvalid, key, n)
	}
	if err := checkTTL("grant quota "+key, ttl); err != nil {
		return err
	}
	if err := r.client.Eval(ctx, grantQuotaSrc, []string{r.quotaKey(key)}, n, ttl.Milliseconds()).Err(); err != nil {
		return redisErr("grant quota "+key, err)
	}
	return nil
}

// TakeQuota uses one message of key's quota; false when none is left (never
// granted, used up or expired).
func (r *Store) TakeQuota(ctx context.Context, key string) (bool, error) {
	if key == "" {
		return false, fmt.Errorf("%w: redis: take quota: empty key", flows.ErrInvalid)
	}
	took, err := r.client.Eval(ctx, takeQuotaSrc, []string{r.quotaKey(key)}).Int()
	if err != nil {
		return false, redisErr("take quota "+key, err)
	}
	return took == 1, nil
}

// DropQuota empties key's quota, when the platform says it is spent.
func (r *Store) DropQuota(ctx context.Context, key string) error {
	if key == "" {
		return fmt.Errorf("%w: redis: drop quota: empty key", flows.ErrInvalid)
	}
	if err := r.client.Del(ctx, r.quotaKey(key)).Err(); err != nil {
		return redisErr("drop quota "+key, err)
	}
	return nil
}
