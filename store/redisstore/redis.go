package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	client    redis.UniversalClient
	cluster   *redis.ClusterClient  // the same client, nil unless a cluster
	mini      *embeddedredis.Server // nil unless embedded
	logger    *slog.Logger
	closeOnce sync.Once
	closeErr  error
}

// Open connects to the Redis at rawURL: one server (redis://, rediss://) or
// a Redis Cluster (redis+cluster://host1:port1,host2:port2, see parseURL).
// When rawURL is "", it starts an embedded Redis-compatible server in this
// process and connects to it over loopback TCP (the zero-config profile).
// It pings (every master of a cluster) before returning, so a wrong URL
// fails at start-up rather than on the first customer message.
func Open(ctx context.Context, rawURL string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	conn := &redisConn{logger: logger}
	var name string
	switch {
	case rawURL == "":
		m, err := embeddedredis.Start()
		if err != nil {
			return nil, fmt.Errorf("%w: redis: %w", flows.ErrUnavailable, err)
		}
		conn.mini = m
		name = "embedded redis at " + m.Addr()
		conn.client = redis.NewClient(&redis.Options{Addr: m.Addr()})
	default:
		t, err := parseURL(rawURL)
		if err != nil {
			return nil, err
		}
		name = t.name
		if t.cluster != nil {
			conn.cluster = redis.NewClusterClient(t.cluster)
			conn.client = conn.cluster
		} else {
			conn.client = redis.NewClient(t.single)
		}
	}

	r := &Store{redisConn: conn, prefix: DefaultRedisPrefix, owner: true}
	if err := r.ping(ctx); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("%w: redis: ping %s: %w", flows.ErrUnavailable, name, err)
	}
	if conn.cluster == nil && conn.mini == nil && clusterNode(ctx, conn.client) {
		_ = r.Close()
		return nil, fmt.Errorf("%w: redis: %s is a Redis Cluster node: name the cluster as %s://host1:port1,host2:port2",
			flows.ErrInvalid, name, clusterScheme)
	}
	logger.Info("redis connected", "redis", name, "embedded", conn.mini != nil, "cluster", conn.cluster != nil)
	return r, nil
}

// clusterNode reports whether the server says it runs in cluster mode,
// where a single-server client would meet MOVED for most chats. A server
// that does not answer INFO (some proxies) is taken as not a cluster.
func clusterNode(ctx context.Context, c redis.UniversalClient) bool {
	info, err := c.Info(ctx, "cluster").Result()
	return err == nil && strings.Contains(info, "cluster_enabled:1")
}

// Client returns the underlying client, for the few users (tests, an
// operator's tooling) that need commands this type does not wrap: a
// *redis.Client, or a *redis.ClusterClient on a cluster. On a cluster,
// commands that take several keys must keep them in one hash slot.
func (r *Store) Client() redis.UniversalClient { return r.client }

// Cluster reports whether the store runs on a Redis Cluster.
func (r *Store) Cluster() bool { return r.cluster != nil }

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

// Ping checks that Redis answers, for the readiness probe: on a cluster,
// every master (each owns a share of the chats), so ready means that every
// chat can be served.
func (r *Store) Ping(ctx context.Context) error {
	if err := r.ping(ctx); err != nil {
		return redisErr("ping", err)
	}
	return nil
}

func (r *Store) ping(ctx context.Context) error {
	if r.cluster == nil {
		return r.client.Ping(ctx).Err()
	}
	return r.cluster.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		if err := m.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("master %s: %w", m.Options().Addr, err)
		}
		return nil
	})
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
