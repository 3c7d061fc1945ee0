package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxbot/cxbot/flows"
)

func (r *Store) kvKey(key string) string {
	return r.prefix + "kv:" + key
}

// GetString returns the value stored under key by SetString; false when
// there is none (never set, deleted or expired).
func (r *Store) GetString(ctx context.Context, key string) (string, bool, error) {
	if key == "" {
		return "", false, fmt.Errorf("%w: redis: get: empty key", flows.ErrInvalid)
	}
	v, err := r.client.Get(ctx, r.kvKey(key)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, redisErr("get "+key, err)
	}
	return v, true, nil
}

// SetString stores value under key for ttl (at least 1ms: values shared by
// replicas, such as an access token, always go stale), replacing any value
// and TTL before. The empty string is a value like any other.
func (r *Store) SetString(ctx context.Context, key, value string, ttl time.Duration) error {
	if key == "" {
		return fmt.Errorf("%w: redis: set: empty key", flows.ErrInvalid)
	}
	if err := checkTTL("set "+key, ttl); err != nil {
		return err
	}
	if err := r.client.Set(ctx, r.kvKey(key), value, ttl).Err(); err != nil {
		return redisErr("set "+key, err)
	}
	return nil
}

// Delete removes the value under key; deleting none is not an error.
func (r *Store) Delete(ctx context.Context, key string) error {
	if key == "" {
		return fmt.Errorf("%w: redis: delete: empty key", flows.ErrInvalid)
	}
	if err := r.client.Del(ctx, r.kvKey(key)).Err(); err != nil {
		return redisErr("delete "+key, err)
	}
	return nil
}

// WindowOpen reports whether the chat's customer-service window is open, so
// a free-form message may be sent (otherwise WeChat needs a template
// message). A window is closed until a turn ends with TurnEnd.WindowTTL set. The platform has
// the last word: a send can still be refused (WeChat errcode 45015) when its
// clock and ours disagree at the edge of the window, and on the embedded
// server a window may close or stay open up to one expiry tick (100ms) off.
func (r *Store) WindowOpen(ctx context.Context, ch flows.Channel, chatID string) (bool, error) {
	if err := checkIDs("window open", ch, chatID); err != nil {
		return false, err
	}
	n, err := r.client.Exists(ctx, r.chatKeys(ch, chatID).window()).Result()
	if err != nil {
		return false, redisErr("window open "+string(ch)+":"+chatID, err)
	}
	return n > 0, nil
}
