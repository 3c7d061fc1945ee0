package store

import (
	"fmt"

	"github.com/alicebob/miniredis/v2"
)

// startEmbeddedRedis starts the in-process Redis-compatible server used by the
// zero-config profile. It listens on a loopback TCP port so cxbot talks to it
// with the same go-redis client, and so the same code paths, as production.
//
// Stock miniredis only expires keys when FastForward is called, which would
// let conversation states, dedupe marks and lock TTLs live forever. ClockTTL
// (miniredis ≥ v2.40) makes every command first advance all TTLs by the wall
// clock time elapsed since the previous command, so a key is gone from the
// first command after its deadline, exactly as in Redis. That is more precise
// than a ticker calling FastForward (no up-to-one-tick late expiry, which
// would stretch lock TTLs) and needs no goroutine to stop.
func startEmbeddedRedis() (*miniredis.Miniredis, error) {
	m := miniredis.NewMiniRedis()
	m.ClockTTL(true)
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("start embedded redis: %w", err)
	}
	return m, nil
}
