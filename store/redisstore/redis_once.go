package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxbot/cxbot/flows"
)

func (r *Store) onceKey(key string) string {
	return r.prefix + "once:" + key
}

// FirstUse stores value under key for ttl unless key already holds a value,
// in one SET NX shared by every replica: the first caller wins. It returns
// the value key holds (this call's when first is true) so a caller can tell
// a second use of the same thing (a WeChat retry: same nonce, same body)
// from a replay (same nonce, another body). A key that expires between
// the SET and the GET reads as "" (a use that is not first).
func (r *Store) FirstUse(ctx context.Context, key, value string, ttl time.Duration) (stored string, first bool, err error) {
	if key == "" {
		return "", false, fmt.Errorf("%w: redis: first use: empty key", flows.ErrInvalid)
	}
	if err := checkTTL("first use "+key, ttl); err != nil {
		return "", false, err
	}
	ok, err := r.client.SetNX(ctx, r.onceKey(key), value, ttl).Result()
	if err != nil {
		return "", false, redisErr("first use "+key, err)
	}
	if ok {
		return value, true, nil
	}
	stored, err = r.client.Get(ctx, r.onceKey(key)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, redisErr("first use "+key, err)
	}
	return stored, false, nil
}
