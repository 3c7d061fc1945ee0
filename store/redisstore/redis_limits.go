package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/store/embeddedredis"
)

// interval is the emission interval Per/Count in whole microseconds, the
// unit of the limiter script, rounded up so rounding can only make the limit
// stricter (rates above 1,000,000/s become 1,000,000/s).
func limitInterval(l flows.Limit) int64 {
	ns := (int64(l.Per) + int64(l.Count) - 1) / int64(l.Count)
	return (ns + int64(time.Microsecond) - 1) / int64(time.Microsecond)
}

func limitBurst(l flows.Limit) int {
	return max(l.Burst, 1)
}

func checkLimit(op string, l flows.Limit) error {
	if err := l.Validate(); err != nil {
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	// flows bounds burst × interval at ten years; checked again here in the
	// script's own unit (whole microseconds, rounded up), because the bound
	// keeps every number the script computes (a timestamp plus that span)
	// an integer that a Lua double holds exactly.
	if limitInterval(l) > maxLimitSpan/int64(limitBurst(l)) {
		return fmt.Errorf("%w: redis: %s: limit %d per %s burst %d spans more than ten years",
			flows.ErrInvalid, op, l.Count, l.Per, l.Burst)
	}
	return nil
}

// maxLimitSpan bounds burst × interval, in microseconds (ten years).
const maxLimitSpan = int64(10 * 365 * 24 * time.Hour / time.Microsecond)

// gcraSrc is GCRA, the generic cell rate algorithm (a leaky bucket that
// stores one number per limiter): the key holds the theoretical arrival time
// (TAT) of the next event in microseconds of the server's clock. An event at
// now is admitted when max(TAT, now) + interval - burst×interval <= now, and
// then TAT moves on by one interval. Otherwise nothing is written and the
// reply says how long until it would be admitted.
//
// The server's TIME is the only clock, so replicas' clocks need not agree.
// redis.replicate_commands lets a script write after TIME on Redis before 5
// (later servers replicate effects anyway; miniredis accepts it). TAT is
// written with %.0f because Lua's default number format keeps 14 digits and
// a timestamp in microseconds has 16.
//
// The key outlives TAT by keyGrace and then expires, so idle limiters cost
// nothing. Once TAT has passed the key no longer changes any answer, so the
// grace costs only memory; it is there because the embedded server's expiry
// ticker can expire a key up to one tick early, and a TAT lost early would
// admit an event too soon.
//
// Reply: {1, 0} admitted, or {0, microseconds to wait}. gcraStep is the
// same computation in Go, for the embedded server.
const gcraSrc = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local stored = redis.call("GET", KEYS[1])
local tat = 0
if stored then
	tat = tonumber(stored)
	if not tat then return redis.error_reply("ERR limiter value is not a time") end
end
if tat < now then tat = now end
local nexttat = tat + interval
local allowat = nexttat - burst * interval
if now < allowat then
	return {0, allowat - now}
end
local ttl = math.ceil((nexttat - now) / 1000) + tonumber(ARGV[3])
redis.call("SET", KEYS[1], string.format("%.0f", nexttat), "PX", string.format("%.0f", ttl))
return {1, 0}
`

// pauseSrc pauses until ARGV[1] microseconds from now on the server's clock
// unless a pause that ends later is already stored, and replies with the
// end of the pause in force. The key holds that end, not just a TTL, so
// ChannelPause can count down exactly on the embedded server too (its TTLs
// move in ticks); the TTL, with keyGrace, only cleans up.
const pauseSrc = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local untilt = now + tonumber(ARGV[1])
local cur = tonumber(redis.call("GET", KEYS[1]) or 0) or 0
if cur >= untilt then return string.format("%.0f", cur) end
local ttl = math.ceil((untilt - now) / 1000) + tonumber(ARGV[2])
redis.call("SET", KEYS[1], string.format("%.0f", untilt), "PX", string.format("%.0f", ttl))
return string.format("%.0f", untilt)
`

// keyGrace is how long limiter and pause keys outlive the time they record;
// it must exceed embeddedredis.MaxTick.
const keyGrace = time.Second

// The scripts are immutable values (their SHA-1 is computed once), shared by
// every connection; EVALSHA falls back to EVAL on a server that has not seen
// them yet (a restart, another database, the embedded server).
var (
	gcraScript  = redis.NewScript(gcraSrc)
	pauseScript = redis.NewScript(pauseSrc)
)

func (r *Store) rateKey(key string) string {
	return r.prefix + "rate:" + key
}

func (r *Store) pauseKey(ch flows.Channel) string {
	return r.prefix + "pause:" + string(ch)
}

// Allow takes one event from the limiter named key, shared by every replica
// through Redis, and reports whether the caller may go ahead now. If not,
// nothing is taken, and retryAfter (always positive then) is how long until
// one event would be admitted; callers that retry then may still lose to
// another caller and get a new retryAfter.
//
// The limiter state is the key itself, so two callers that pass different
// limits for the same key share one budget under whichever limit each call
// names (do not do that). Limits can change between calls (a configuration
// reload) without a reset. The embedded server runs the same algorithm as a
// native command instead of the script (see gcraCommand).
func (r *Store) Allow(ctx context.Context, key string, l flows.Limit) (allowed bool, retryAfter time.Duration, err error) {
	if key == "" {
		return false, 0, fmt.Errorf("%w: redis: allow: empty key", flows.ErrInvalid)
	}
	if err := checkLimit("allow "+key, l); err != nil {
		return false, 0, err
	}
	args := []any{limitInterval(l), limitBurst(l), keyGrace.Milliseconds()}
	var res []int64
	if r.mini != nil {
		res, err = r.client.Do(ctx, append([]any{embeddedredis.CommandGCRA, r.rateKey(key)}, args...)...).Int64Slice()
	} else {
		res, err = gcraScript.Run(ctx, r.client, []string{r.rateKey(key)}, args...).Int64Slice()
	}
	if err != nil {
		return false, 0, redisErr("allow "+key, err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("redis: allow %s: unexpected reply %v", key, res)
	}
	if res[0] == 1 {
		return true, 0, nil
	}
	return false, max(time.Duration(res[1])*time.Microsecond, time.Microsecond), nil
}

// Wait blocks until Allow admits the caller, sleeping retryAfter between
// tries. When ctx ends first it returns an error wrapping
// flows.ErrUnavailable and ctx.Err(); it gives up at once, without sleeping,
// when ctx's deadline comes before the next chance. Waiters are not queued:
// when several wait on one key, whichever asks first after a slot opens gets
// it, and each loser costs one more round trip per slot.
func (r *Store) Wait(ctx context.Context, key string, l flows.Limit) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		ok, retry, err := r.Allow(ctx, key, l)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if dl, has := ctx.Deadline(); has && time.Until(dl) < retry {
			return fmt.Errorf("%w: redis: wait %s: next chance in %s, after the deadline: %w",
				flows.ErrUnavailable, key, retry, context.DeadlineExceeded)
		}
		if timer == nil {
			timer = time.NewTimer(retry)
		} else {
			timer.Reset(retry)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: redis: wait %s: %w", flows.ErrUnavailable, key, ctx.Err())
		case <-timer.C:
		}
	}
}

// PauseChannel pauses sending on a whole channel for d, for every replica:
// what a platform's 429 with retry_after asks for. It extends a running
// pause that ends sooner and never shortens one that ends later.
func (r *Store) PauseChannel(ctx context.Context, ch flows.Channel, d time.Duration) error {
	if ch == "" {
		return fmt.Errorf("%w: redis: pause channel: empty channel", flows.ErrInvalid)
	}
	if err := checkTTL("pause channel "+string(ch), d); err != nil {
		return err
	}
	us := (d + time.Microsecond - 1) / time.Microsecond // round up: never resume early
	err := pauseScript.Run(ctx, r.client, []string{r.pauseKey(ch)}, int64(us), keyGrace.Milliseconds()).Err()
	if err != nil {
		return redisErr("pause channel "+string(ch), err)
	}
	return nil
}

// ChannelPause returns how long sending on ch stays paused, 0 if it is not.
// It is one round trip (GET and TIME in one MULTI), cheap enough to ask
// before every send. The transaction keeps TIME on the server that holds
// the key, whose clock PauseChannel used: on a cluster, a plain pipeline
// would send the keyless TIME to any master.
func (r *Store) ChannelPause(ctx context.Context, ch flows.Channel) (time.Duration, error) {
	if ch == "" {
		return 0, fmt.Errorf("%w: redis: channel pause: empty channel", flows.ErrInvalid)
	}
	var (
		get *redis.StringCmd
		now *redis.TimeCmd
	)
	_, err := r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, r.pauseKey(ch))
		now = p.Time(ctx)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, redisErr("channel pause "+string(ch), err)
	}
	if errors.Is(get.Err(), redis.Nil) {
		return 0, nil
	}
	if err := now.Err(); err != nil {
		return 0, redisErr("channel pause "+string(ch), err)
	}
	end, perr := strconv.ParseInt(get.Val(), 10, 64)
	if perr != nil {
		return 0, fmt.Errorf("redis: channel pause %s: stored pause %q is not a time: %w", ch, get.Val(), perr)
	}
	left := time.Duration(end-now.Val().UnixMicro()) * time.Microsecond
	return max(left, 0), nil
}
