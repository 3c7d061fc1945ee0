package store

import (
	"fmt"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// embeddedTick is how often the embedded server's TTLs are advanced, and so
// how late at most a key expires compared with Redis. Each tick costs a sort
// of all keys under the server's lock (about 3ms per 10,000 keys), which is
// why it is a ticker and not miniredis's ClockTTL: ClockTTL pays that cost
// on every command, which capped the embedded server at a few hundred
// commands per second once a few thousand dedupe keys had piled up. A key
// may expire up to one tick early (a tick subtracts its whole interval, also
// from keys set during it) or late; every TTL cxbot sets is seconds or more,
// and the rate limiter adds its own margin.
const embeddedTick = 100 * time.Millisecond

// embeddedRedis is the in-process Redis-compatible server of the zero-config
// profile. It listens on a loopback TCP port so cxbot talks to it with the
// same go-redis client, and so the same code paths, as in production.
//
// miniredis expires keys only when FastForward is called; left alone it
// would keep conversation states, dedupe marks and locks forever. A
// goroutine therefore calls FastForward with the real time elapsed since its
// previous call, every embeddedTick, until Close.
type embeddedRedis struct {
	srv       *miniredis.Miniredis
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func startEmbeddedRedis() (*embeddedRedis, error) {
	srv := miniredis.NewMiniRedis()
	if err := srv.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("start embedded redis: %w", err)
	}
	e := &embeddedRedis{srv: srv, stop: make(chan struct{}), done: make(chan struct{})}
	go e.expire()
	return e, nil
}

// expire advances TTLs by wall-clock time. Passing the measured elapsed time
// (not the nominal tick) keeps expiry from drifting when ticks are late.
func (e *embeddedRedis) expire() {
	defer close(e.done)
	t := time.NewTicker(embeddedTick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-e.stop:
			return
		case now := <-t.C:
			e.srv.FastForward(now.Sub(last))
			last = now
		}
	}
}

func (e *embeddedRedis) Addr() string { return e.srv.Addr() }

// Close stops the expiry goroutine and the server. Safe to call twice.
func (e *embeddedRedis) Close() {
	e.closeOnce.Do(func() {
		close(e.stop)
		<-e.done
		e.srv.Close()
	})
}
