// Package embeddedredis is the in-process Redis-compatible server of the
// zero-config profile (miniredis). It listens on a loopback TCP port, so
// cxbot talks to it with the same go-redis client, and so the same code
// paths, as to a real Redis. It adds what miniredis lacks: keys expire by
// wall-clock time, and the rate limiter runs as a native command.
package embeddedredis

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/alicebob/miniredis/v2/server"
)

// Tick is how often the server's TTLs are advanced, and so how late at most
// a key expires compared with Redis. Each tick costs a sort of all keys
// under the server's lock (about 3ms per 10,000 keys), which is why it is a
// ticker and not miniredis's ClockTTL: ClockTTL pays that cost on every
// command, which capped the server at a few hundred commands per second once
// a few thousand dedupe keys had piled up. A key may expire up to one tick
// early (a tick subtracts its whole interval, also from keys set during it)
// or late; every TTL cxbot sets is seconds or more, and the rate limiter
// adds its own margin.
const Tick = 100 * time.Millisecond

// MaxTick bounds the wait between two passes when the server holds many
// keys: a pass waits 20 times as long as the previous one took, so that it
// holds the server's lock at most a twentieth of the time (with 100,000 open
// conversations, some 300,000 keys, a pass takes about 100ms, and ticking
// every 100ms would leave the server locked most of the time). A key thus
// expires at most MaxTick early or late; limiter keys outlive their TAT by
// more than that (redisstore's keyGrace).
const MaxTick = 900 * time.Millisecond

// nextTick is the wait after a pass that took took.
func nextTick(took time.Duration) time.Duration {
	return min(max(Tick, 20*took), MaxTick)
}

// CommandGCRA runs the generic cell rate algorithm natively, with the
// arguments KEY INTERVAL_US BURST GRACE_MS and the reply {1, 0} (admitted) or
// {0, microseconds to wait}: the same as the Lua script a real Redis runs
// (see redisstore). miniredis builds a new Lua VM for every script call
// (about 200 KB and 850 allocations), which made a limiter call ten times
// slower than on Redis and stalled every other command meanwhile, since
// miniredis runs scripts under its global lock.
const CommandGCRA = "CXBOT.GCRA"

// Server is a running embedded server.
//
// miniredis expires keys only when FastForward is called; left alone it
// would keep conversation states, dedupe marks and locks forever. A
// goroutine therefore calls FastForward with the real time elapsed since its
// previous call, every Tick (longer with many keys, see MaxTick), until Close.
type Server struct {
	srv       *miniredis.Miniredis
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	gcraMu    sync.Mutex // serialises CommandGCRA, the only writer of limiter keys
}

// Start starts a server on a free loopback port.
func Start() (*Server, error) {
	srv := miniredis.NewMiniRedis()
	if err := srv.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("start embedded redis: %w", err)
	}
	s := &Server{srv: srv, stop: make(chan struct{}), done: make(chan struct{})}
	if err := srv.Server().Register(CommandGCRA, s.gcra); err != nil {
		srv.Close()
		return nil, fmt.Errorf("start embedded redis: register %s: %w", CommandGCRA, err)
	}
	go s.expire()
	return s, nil
}

// expire advances TTLs by wall-clock time. Passing the measured elapsed time
// (not the nominal tick) keeps expiry from drifting when ticks are late.
func (s *Server) expire() {
	defer close(s.done)
	t := time.NewTimer(Tick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.srv.FastForward(now.Sub(last))
			last = now
			t.Reset(nextTick(time.Since(now)))
		}
	}
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.srv.Addr() }

// Close stops the expiry goroutine and the server; its data is lost (the
// embedded server is memory only). Safe to call twice.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		s.srv.Close()
	})
}

// GCRAStep is one GCRA decision at now for a limiter whose stored TAT is tat
// (0 if none), all in microseconds: whether the event is admitted, the TAT
// to store if so, and otherwise how long until it would be.
func GCRAStep(now, tat, interval, burst int64) (ok bool, next, wait int64) {
	tat = max(tat, now)
	next = tat + interval
	if allowAt := next - burst*interval; now < allowAt {
		return false, 0, allowAt - now
	}
	return true, next, 0
}

// gcra is CommandGCRA, with the process clock as TIME (the server is in this
// process). Calls are serialised by a mutex of their own, which is enough
// because nothing else writes limiter keys; miniredis's direct API then
// reads and writes database 0, the only one the embedded client uses.
func (s *Server) gcra(c *server.Peer, cmd string, args []string) {
	if len(args) != 4 {
		c.WriteError("ERR wrong number of arguments for '" + cmd + "' command")
		return
	}
	var n [3]int64
	for i, a := range args[1:] {
		v, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			c.WriteError("ERR value is not an integer or out of range")
			return
		}
		n[i] = v
	}
	key, interval, burst, grace := args[0], n[0], n[1], n[2]

	s.gcraMu.Lock()
	defer s.gcraMu.Unlock()
	var tat int64
	switch stored, err := s.srv.Get(key); {
	case errors.Is(err, miniredis.ErrKeyNotFound):
	case err != nil:
		c.WriteError(err.Error()) // WRONGTYPE, as from Redis
		return
	default:
		if tat, err = strconv.ParseInt(stored, 10, 64); err != nil {
			c.WriteError("ERR limiter value is not a time")
			return
		}
	}
	now := time.Now().UnixMicro()
	ok, next, wait := GCRAStep(now, tat, interval, burst)
	if ok {
		if err := s.srv.Set(key, strconv.FormatInt(next, 10)); err != nil {
			c.WriteError(err.Error())
			return
		}
		ttlMs := (next-now+999)/1000 + grace
		s.srv.SetTTL(key, time.Duration(ttlMs)*time.Millisecond)
	}
	c.WriteLen(2)
	if ok {
		c.WriteInt(1)
	} else {
		c.WriteInt(0)
	}
	c.WriteInt(int(wait))
}
