package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/store/embeddedredis"
)

// DefaultRedisPrefix namespaces every key cxbot writes, so it can share a
// Redis database with other applications.
const DefaultRedisPrefix = "cx:"

// Lock wait backoff: short at first because a per-chat lock is held for one
// update (milliseconds), capped so a long wait does not hammer Redis.
const (
	lockWaitMin = 5 * time.Millisecond
	lockWaitMax = 50 * time.Millisecond
)

// unlockSrc deletes the lock only if it still holds our token, so a holder
// whose lock expired cannot release the lock a later holder has taken.
const unlockSrc = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`

// Redis keeps what must be shared by all replicas but need not outlive a
// conversation: conversation state, update dedupe marks and locks.
type Store struct {
	*redisConn
	prefix string
	owner  bool // only the value OpenRedis returned closes the connection
}

// redisConn is what copies made by WithPrefix share.
type redisConn struct {
	client    *redis.Client
	mini      *embeddedredis.Server // nil unless embedded
	logger    *slog.Logger
	closeOnce sync.Once
	closeErr  error
}

// OpenRedis connects to the Redis at rawURL, or, when rawURL is "", starts an
// embedded Redis-compatible server in this process and connects to it over
// loopback TCP (the zero-config profile). It pings before returning so a
// wrong URL fails at start-up rather than on the first customer message.
func Open(ctx context.Context, rawURL string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var (
		opts *redis.Options
		mini *embeddedredis.Server
		name string
	)
	if rawURL == "" {
		m, err := embeddedredis.Start()
		if err != nil {
			return nil, fmt.Errorf("%w: redis: %w", flows.ErrUnavailable, err)
		}
		mini = m
		name = "embedded redis at " + m.Addr()
		opts = &redis.Options{Addr: m.Addr()}
	} else {
		name = safeRedisURL(rawURL)
		o, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("%w: redis: url %s: %s", flows.ErrInvalid, name, safeParseError(err))
		}
		opts = o
	}

	conn := &redisConn{
		client: redis.NewClient(opts),
		mini:   mini,
		logger: logger,
	}
	r := &Store{redisConn: conn, prefix: DefaultRedisPrefix, owner: true}
	if err := conn.client.Ping(ctx).Err(); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("%w: redis: ping %s: %w", flows.ErrUnavailable, name, err)
	}
	logger.Info("redis connected", "redis", name, "embedded", mini != nil)
	return r, nil
}

// safeRedisURL names a Redis URL in errors and logs without its password
// (userinfo and query are dropped; the query may carry credentials too).
func safeRedisURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL, not shown)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// safeParseError drops the URL that *url.Error quotes, which would include
// the password.
func safeParseError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// Client returns the underlying client, for the few users (rate limits, the
// WeChat token cache) that need commands this type does not wrap.
func (r *Store) Client() *redis.Client { return r.client }

// Embedded reports whether this is the in-process server.
func (r *Store) Embedded() bool { return r.mini != nil }

// WithPrefix returns a copy whose keys start with prefix instead of "cx:",
// sharing the connection. The copy does not own the connection: its Close is
// a no-op, and it stops working once the original is closed.
func (r *Store) WithPrefix(prefix string) *Store {
	return &Store{redisConn: r.redisConn, prefix: prefix, owner: false}
}

// Prefix is the start of every key this value writes, for callers that
// build their own keys on Client() (rate limits) and should share the namespace.
func (r *Store) Prefix() string { return r.prefix }

// Close closes the client and, in embedded mode, stops the server (its data
// is lost: embedded Redis is memory only). Safe to call more than once.
func (r *Store) Close() error {
	if !r.owner {
		return nil
	}
	r.closeOnce.Do(func() {
		r.closeErr = r.client.Close()
		if r.mini != nil {
			r.mini.Close()
		}
	})
	return r.closeErr
}

// Ping checks that Redis answers, for the readiness probe.
func (r *Store) Ping(ctx context.Context) error {
	if err := r.client.Ping(ctx).Err(); err != nil {
		return redisErr("ping", err)
	}
	return nil
}

// redisErr wraps err with op. Everything except a reply from the server
// (a bug such as WRONGTYPE) is reported as flows.ErrUnavailable, so the
// webhook answers 5xx and the platform redelivers later. Server replies that
// mean "not now" count as unavailable too.
func redisErr(op string, err error) error {
	var rerr redis.Error
	if errors.As(err, &rerr) && !transientReply(rerr.Error()) {
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	return fmt.Errorf("%w: redis: %s: %w", flows.ErrUnavailable, op, err)
}

func transientReply(msg string) bool {
	for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY", "NOAUTH", "OOM"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func (r *Store) lockKey(key string) string {
	return r.prefix + "lock:" + key
}

// checkIDs rejects empty names, which would make distinct chats share a key.
func checkIDs(op string, ch flows.Channel, id string) error {
	if ch == "" || id == "" {
		return fmt.Errorf("%w: redis: %s: empty channel or id", flows.ErrInvalid, op)
	}
	return nil
}

// checkTTL rejects TTLs Redis cannot store: zero would mean "forever" to
// go-redis, and PX has millisecond resolution.
func checkTTL(op string, ttl time.Duration) error {
	if ttl < time.Millisecond {
		return fmt.Errorf("%w: redis: %s: ttl %s must be at least 1ms", flows.ErrInvalid, op, ttl)
	}
	return nil
}

// LoadState returns the conversation of a chat; false when there is none (it
// finished or its TTL ran out). A stored state that no longer decodes is
// logged and reported as absent: returning an error would fail the webhook
// and make the platform redeliver the same update forever.
func (r *Store) LoadState(ctx context.Context, ch flows.Channel, chatID string) (flows.State, bool, error) {
	if err := checkIDs("load state", ch, chatID); err != nil {
		return flows.State{}, false, err
	}
	get := r.client.Get(ctx, r.chatKeys(ch, chatID).state())
	if err := get.Err(); err != nil && !errors.Is(err, redis.Nil) {
		return flows.State{}, false, redisErr("load state", err)
	}
	st, ok := r.decodeState(ctx, ch, chatID, get)
	return st, ok, nil
}

// TryLock takes a one-shot lock, true when this caller got it: one replica
// runs a cron slot or singleton job. It is never released, only expires, so
// a slot that finishes early still cannot be run again by a late replica.
func (r *Store) TryLock(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if key == "" {
		return false, fmt.Errorf("%w: redis: try lock: empty key", flows.ErrInvalid)
	}
	if err := checkTTL("try lock", ttl); err != nil {
		return false, err
	}
	ok, err := r.client.SetNX(ctx, r.lockKey(key), "1", ttl).Result()
	if err != nil {
		return false, redisErr("try lock "+key, err)
	}
	return ok, nil
}
