package scheduler

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

// memLocker is a one-process stand-in for the Redis lock; the Redis lock
// itself is tested against real Redis in package store.
type memLocker struct {
	mu   sync.Mutex
	held map[string]bool
}

func (l *memLocker) TryLock(_ context.Context, key string, _ time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[key] {
		return false, nil
	}
	l.held[key] = true
	return true, nil
}

func TestSlotIsTheSameAcrossSkewedReplicas(t *testing.T) {
	monthly, err := cron.ParseStandard("CRON_TZ=Asia/Shanghai 0 10 1 * *")
	if err != nil {
		t.Fatal(err)
	}
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	due := time.Date(2026, 12, 1, 10, 0, 0, 0, shanghai)
	early, _ := Slot(monthly, due.Add(-200*time.Millisecond)) // a replica whose clock runs behind
	late, ttl := Slot(monthly, due.Add(5*time.Second))
	if !early.Equal(due) || !late.Equal(due) {
		t.Fatalf("slots differ: early %v late %v, want %v", early, late, due)
	}
	if ttl < time.Minute || ttl > 24*time.Hour {
		t.Fatalf("ttl %v out of bounds", ttl)
	}

	every, _ := cron.ParseStandard("@every 30s")
	a, _ := Slot(every, time.Date(2026, 1, 1, 0, 0, 31, 0, time.UTC))
	b, _ := Slot(every, time.Date(2026, 1, 1, 0, 0, 59, 0, time.UTC))
	c, _ := Slot(every, time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC))
	if !a.Equal(b) || a.Equal(c) {
		t.Fatalf("@every slots: %v %v %v", a, b, c)
	}
}

func TestAddRejectsBadSpecNamingTheJob(t *testing.T) {
	s := New(&memLocker{held: map[string]bool{}}, nil, nil)
	err := s.Add(Job{Name: "handoff-sweep", Spec: "every minute", Run: func(context.Context, time.Time) error { return nil }})
	if err == nil || !strings.Contains(err.Error(), "handoff-sweep") || !strings.Contains(err.Error(), "every minute") {
		t.Fatalf("want an error naming job and spec, got %v", err)
	}
}

// Three replicas share one lock: each slot's work runs once, a panicking job
// does not stop the scheduler, and Stop waits for running jobs.
func TestReplicasRunEachSlotOnce(t *testing.T) {
	locker := &memLocker{held: map[string]bool{}}
	var runs, panics atomic.Int32
	var replicas []*Scheduler
	for range 3 {
		s := New(locker, nil, nil)
		if err := s.Add(Job{Name: "count", Spec: "@every 1s", Run: func(context.Context, time.Time) error {
			runs.Add(1)
			return errors.New("logged, not fatal")
		}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Add(Job{Name: "boom", Spec: "@every 1s", Run: func(context.Context, time.Time) error {
			panics.Add(1)
			panic("job bug")
		}}); err != nil {
			t.Fatal(err)
		}
		s.Start()
		replicas = append(replicas, s)
	}
	time.Sleep(3500 * time.Millisecond)
	for _, s := range replicas {
		if err := s.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// 3 replicas × ~3 ticks each, but only one run per 1-second slot.
	if n := runs.Load(); n < 2 || n > 4 {
		t.Fatalf("count job ran %d times in ~3.5 slots across 3 replicas, want 2–4", n)
	}
	if panics.Load() < 2 {
		t.Fatalf("panicking job stopped being scheduled after %d runs", panics.Load())
	}
}

// robfig/cron panics on some malformed specs; ParseCron answers an error.
func TestParseCronNeverPanics(t *testing.T) {
	for _, spec := range []string{"CRON_TZ=", "TZ=", "CRON_TZ=Asia/Shanghai", ""} {
		if _, err := ParseCron(spec); err == nil {
			t.Errorf("ParseCron(%q) = nil error", spec)
		}
	}
	if _, err := ParseCron("CRON_TZ=Asia/Shanghai 0 10 1 * *"); err != nil {
		t.Errorf("a good spec: %v", err)
	}
}
