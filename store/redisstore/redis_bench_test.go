package redisstore

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// BenchmarkRedisStateRoundTrip measures the Redis work of applying one
// update: a turn (lock the chat, check the update, load the state) and its
// end (save it, mark the update seen, unlock), two round trips. "serial" is one update at a time on one chat; "parallel" spreads
// updates over many chats from GOMAXPROCS goroutines.
func BenchmarkRedisStateRoundTrip(b *testing.B) {
	for _, backend := range []string{"embedded", "real", "cluster"} {
		b.Run(backend, func(b *testing.B) {
			url := benchURL(b, backend)
			b.Run("serial", func(b *testing.B) {
				r := openTestRedis(b, url)
				ctx := context.Background()
				seq := 0
				b.ReportAllocs()
				for b.Loop() {
					seq++
					if err := roundTrip(ctx, r, "1", strconv.Itoa(seq)); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(seq)/b.Elapsed().Seconds(), "ops/s")
			})
			b.Run("parallel", func(b *testing.B) {
				r := openTestRedis(b, url)
				ctx := context.Background()
				var chats, seq atomic.Int64
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					chat := strconv.FormatInt(chats.Add(1), 10)
					for pb.Next() {
						if err := roundTrip(ctx, r, chat, strconv.FormatInt(seq.Add(1), 10)); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
			})
		})
	}
}

func roundTrip(ctx context.Context, r *Store, chatID, updateID string) error {
	t, err := r.Begin(ctx, flows.ChannelTelegram, chatID, updateID, 5*time.Second)
	if err != nil {
		return err
	}
	st := t.State
	if !t.HasState {
		st = fullState()
	}
	st.Attempts++
	return r.End(ctx, t, flows.TurnEnd{Change: flows.SaveState, State: st, StateTTL: time.Hour, SeenTTL: time.Minute})
}

// benchURL is the Redis URL of a benchmark's backend: "" for the embedded
// server, CXBOT_TEST_REDIS_URL for "real", the shared test cluster for
// "cluster" (each skipped when missing, as in eachRedis).
func benchURL(b *testing.B, backend string) string {
	b.Helper()
	switch backend {
	case "real":
		return realRedisURL(b)
	case "cluster":
		return sharedCluster(b).URL()
	}
	return ""
}
