package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
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
	casDel    *redis.Script // unlockSrc, for servers without DELEX
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
		casDel: redis.NewScript(unlockSrc),
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

func (r *Store) stateKey(ch flows.Channel, chatID string) string {
	return r.prefix + "state:" + string(ch) + ":" + chatID
}

func (r *Store) seenKey(ch flows.Channel, updateID string) string {
	return r.prefix + "seen:" + string(ch) + ":" + updateID
}

func (r *Store) chatLockKey(ch flows.Channel, chatID string) string {
	return r.prefix + "chatlock:" + string(ch) + ":" + chatID
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
	b, err := r.client.Get(ctx, r.stateKey(ch, chatID)).Bytes()
	if errors.Is(err, redis.Nil) {
		return flows.State{}, false, nil
	}
	if err != nil {
		return flows.State{}, false, redisErr("load state", err)
	}
	var st flows.State
	if err := json.Unmarshal(b, &st); err != nil {
		r.logger.WarnContext(ctx, "redis: undecodable conversation state ignored",
			"channel", string(ch), "chat_id", chatID, "error", err)
		return flows.State{}, false, nil
	}
	return st, true, nil
}

// SaveState stores the conversation of a chat and restarts its TTL, so a
// conversation expires ttl after its last update, not after its first.
func (r *Store) SaveState(ctx context.Context, ch flows.Channel, chatID string, st flows.State, ttl time.Duration) error {
	if err := checkIDs("save state", ch, chatID); err != nil {
		return err
	}
	if err := checkTTL("save state", ttl); err != nil {
		return err
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("redis: save state: encode: %w", err)
	}
	if err := r.client.Set(ctx, r.stateKey(ch, chatID), b, ttl).Err(); err != nil {
		return redisErr("save state", err)
	}
	return nil
}

// DeleteState ends the conversation of a chat; deleting none is not an error.
func (r *Store) DeleteState(ctx context.Context, ch flows.Channel, chatID string) error {
	if err := checkIDs("delete state", ch, chatID); err != nil {
		return err
	}
	if err := r.client.Del(ctx, r.stateKey(ch, chatID)).Err(); err != nil {
		return redisErr("delete state", err)
	}
	return nil
}

// Seen reports whether an update was already applied. Callers check it under
// the chat lock, and call MarkSeen only after the update's effect is durable,
// so a crash in between leads to a redelivery being applied, not dropped.
func (r *Store) Seen(ctx context.Context, ch flows.Channel, updateID string) (bool, error) {
	if err := checkIDs("seen", ch, updateID); err != nil {
		return false, err
	}
	n, err := r.client.Exists(ctx, r.seenKey(ch, updateID)).Result()
	if err != nil {
		return false, redisErr("seen", err)
	}
	return n > 0, nil
}

// MarkSeen records an applied update for ttl, which must outlast the
// platform's redelivery window.
func (r *Store) MarkSeen(ctx context.Context, ch flows.Channel, updateID string, ttl time.Duration) error {
	if err := checkIDs("mark seen", ch, updateID); err != nil {
		return err
	}
	if err := checkTTL("mark seen", ttl); err != nil {
		return err
	}
	if err := r.client.Set(ctx, r.seenKey(ch, updateID), "1", ttl).Err(); err != nil {
		return redisErr("mark seen", err)
	}
	return nil
}

// LockChat waits until it holds the chat's lock, so two updates of one chat
// are never applied concurrently, on any replica. The ttl frees the lock if
// the holder crashes; it must exceed the time one update takes.
//
// It returns an error wrapping flows.ErrUnavailable and ctx.Err() when ctx
// ends first: a chat busy for that long should be retried by the platform.
//
// unlock releases the lock only if this caller still holds it. If the ttl
// ran out first (and maybe another caller took the lock), unlock leaves the
// lock alone and returns an error wrapping flows.ErrConflict, a sign the ttl
// is too short. unlock is idempotent; give it a context that is not already
// cancelled (context.WithoutCancel), or the lock stays until its ttl.
func (r *Store) LockChat(ctx context.Context, ch flows.Channel, chatID string, ttl time.Duration) (func(context.Context) error, error) {
	if err := checkIDs("lock chat", ch, chatID); err != nil {
		return nil, err
	}
	if err := checkTTL("lock chat", ttl); err != nil {
		return nil, err
	}
	key := r.chatLockKey(ch, chatID)
	token := rand.Text() // names this holder, so only it can release the lock
	wait := lockWaitMin
	var timer *time.Timer
	for {
		ok, err := r.client.SetNX(ctx, key, token, ttl).Result()
		if err != nil {
			return nil, redisErr("lock chat "+string(ch)+":"+chatID, err)
		}
		if ok {
			break
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("%w: redis: lock chat %s:%s: still held by another update: %w",
				flows.ErrUnavailable, ch, chatID, ctx.Err())
		case <-timer.C:
		}
		wait = min(wait*2, lockWaitMax)
	}

	var released atomic.Bool
	unlock := func(ctx context.Context) error {
		if released.Load() {
			return nil
		}
		deleted, err := r.compareAndDelete(ctx, key, token)
		if err != nil {
			return redisErr("unlock chat "+string(ch)+":"+chatID, err)
		}
		released.Store(true)
		if !deleted {
			return fmt.Errorf("%w: redis: unlock chat %s:%s: lock expired before unlock (ttl %s too short?)",
				flows.ErrConflict, ch, chatID, ttl)
		}
		return nil
	}
	return unlock, nil
}

// compareAndDelete deletes key if it holds token. The embedded server uses
// DELEX IFEQ because miniredis builds a fresh Lua VM (about 190 KB) for every
// script call, which dominated its cost per update; Redis before 8.4 has no
// DELEX, so a real server runs the equivalent script.
func (r *Store) compareAndDelete(ctx context.Context, key, token string) (bool, error) {
	var cmd *redis.Cmd
	if r.mini != nil {
		cmd = r.client.Do(ctx, "DELEX", key, "IFEQ", token)
	} else {
		cmd = r.casDel.Run(ctx, r.client, []string{key}, token)
	}
	n, err := cmd.Int()
	return n > 0, err
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
