package scheduler_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/scheduler"
)

// seed reports n purchases at once, customer i in chat 5000+i.
func (f *fixture) seed(n int, occurred time.Time) {
	f.t.Helper()
	for from := 0; from < n; from += 1000 {
		var batch []flows.Event
		for i := from; i < min(from+1000, n); i++ {
			batch = append(batch, flows.Event{ID: fmt.Sprintf("e-%d", i), CustomerRef: fmt.Sprintf("C-%d", i), Touchpoint: "purchase",
				OccurredAt: occurred, TelegramChatID: strconv.Itoa(5000 + i), Language: "en"})
		}
		if _, err := f.db.SaveEvents(context.Background(), batch); err != nil {
			f.t.Fatal(err)
		}
	}
}

// BenchmarkPlan100k plans a trigger wave over 100,000 due events (SQLite).
func BenchmarkPlan100k(b *testing.B) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	f := newFixture(b, now)
	f.seed(100_000, now.Add(-3*time.Hour))
	planner := scheduler.NewPlanner(f.db, f.surveys, nil)
	b.ResetTimer()
	for i := range b.N {
		w := &scheduler.Wave{ID: fmt.Sprintf("w%d", i), Survey: "post_purchase_nps", Sample: 1, ExpiresAfter: 72 * time.Hour,
			Trigger: &scheduler.Trigger{Touchpoint: "purchase", Delay: time.Hour, MaxAge: 24 * time.Hour}, Channels: []flows.Channel{flows.ChannelTelegram}}
		res, err := planner.Plan(context.Background(), w, now, false)
		if err != nil || res.Created != 100_000 {
			b.Fatalf("planned %d: %v", res.Created, err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/100k")
}

// dispatchAll runs workers until n messages reached the fake server and
// returns when each was received.
func (f *fixture) dispatchAll(b *testing.B, n, workers int, limits map[flows.Channel]scheduler.ChannelLimits) []time.Time {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for w := range workers {
		d := scheduler.NewDispatcher(scheduler.DispatcherConfig{
			Store: f.db, Limiter: f.redis, Sender: f.conv, Waves: f.manager.Lookup, Owner: fmt.Sprint("w", w),
			Limits: limits, Now: f.clock.Now, Idle: 10 * time.Millisecond,
		})
		wg.Go(func() { d.Run(ctx) })
	}
	if err := f.tg.WaitFor(ctx, func() bool { return f.tg.Calls("sendMessage") >= n }); err != nil {
		b.Fatal(err)
	}
	cancel()
	wg.Wait()
	var at []time.Time
	for _, m := range f.tg.AllSent() {
		at = append(at, m.At)
	}
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	return at
}

func planWave(b *testing.B, f *fixture, n int) {
	now := f.clock.Now()
	f.seed(n, now.Add(-3*time.Hour))
	f.wave(baseWave)
	if err := f.manager.RunWave(context.Background(), "w", now); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDispatchUnthrottled: messages per second from the outbox to a
// fake Telegram that never throttles (SQLite, embedded Redis, 4 workers).
func BenchmarkDispatchUnthrottled(b *testing.B) {
	const n = 2000
	for range b.N {
		b.StopTimer()
		f := newFixture(b, time.Now())
		planWave(b, f, n)
		b.StartTimer()
		start := time.Now()
		f.dispatchAll(b, n, 4, map[flows.Channel]scheduler.ChannelLimits{})
		b.ReportMetric(n/time.Since(start).Seconds(), "msgs/s")
	}
}

// BenchmarkDispatchAtLimit: the achieved send rate as a fraction of a
// configured global limit (target ≥ 0.95), and the busiest second.
func BenchmarkDispatchAtLimit(b *testing.B) {
	const n, rate = 600, 100
	limits := map[flows.Channel]scheduler.ChannelLimits{flows.ChannelTelegram: {Global: scheduler.BroadcastLimit(flows.Limit{Count: rate, Per: time.Second})}}
	for range b.N {
		b.StopTimer()
		f := newFixture(b, time.Now())
		planWave(b, f, n)
		b.StartTimer()
		at := f.dispatchAll(b, n, 4, limits)
		achieved := float64(n-1) / at[n-1].Sub(at[0]).Seconds()
		peak, lo := 0, 0
		for hi := range at {
			for at[hi].Sub(at[lo]) >= time.Second {
				lo++
			}
			peak = max(peak, hi-lo+1)
		}
		b.ReportMetric(achieved/rate, "of-limit")
		b.ReportMetric(float64(peak), "peak/s")
		b.ReportMetric(float64(f.tg.Calls("sendMessage")-n), "429s")
	}
}
