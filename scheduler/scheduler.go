// Package scheduler runs cxbot's periodic jobs on robfig/cron. Every replica
// runs the same cron table; a Redis lock per job and slot lets exactly one
// replica do each slot's work.
package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Locker takes a one-shot lock that expires by itself.
type Locker interface {
	TryLock(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// Job is one periodic task.
type Job struct {
	Name string                                          // stable: it is part of the lock key
	Spec string                                          // cron spec ("*/5 * * * *", "@every 30s", optionally "CRON_TZ=Asia/Shanghai ...")
	Run  func(ctx context.Context, slot time.Time) error // slot: the tick's time, the same on every replica
	// EveryReplica runs the job on each replica instead of one per slot
	// (for work about the replica itself, such as reloading waves).
	EveryReplica bool
}

// Scheduler owns the cron runner.
type Scheduler struct {
	cron    *cron.Cron
	locker  Locker
	log     *slog.Logger
	now     func() time.Time
	ctx     context.Context
	cancel  context.CancelFunc
	timeout time.Duration

	mu      sync.Mutex
	entries map[string]cron.EntryID // by job name
}

// New returns a scheduler; jobs run with a context that Stop cancels.
func New(locker Locker, logger *slog.Logger, now func() time.Time) *Scheduler {
	if logger == nil {
		logger = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	cronLog := cron.PrintfLogger(slog.NewLogLogger(logger.Handler(), slog.LevelError))
	ctx, cancel := context.WithCancel(context.Background())
	return &Scheduler{
		// Recover keeps one panicking job from killing the process;
		// SkipIfStillRunning keeps a slow run from piling up behind itself.
		cron:    cron.New(cron.WithChain(cron.Recover(cronLog), cron.SkipIfStillRunning(cronLog))),
		locker:  locker,
		log:     logger,
		now:     now,
		ctx:     ctx,
		cancel:  cancel,
		timeout: 10 * time.Minute,
		entries: map[string]cron.EntryID{},
	}
}

// Add registers a job, replacing any job of the same name (a wave whose
// schedule changed); a bad spec is an error that names the job.
func (s *Scheduler) Add(job Job) error {
	schedule, err := ParseCron(job.Spec)
	if err != nil {
		return fmt.Errorf("job %s: schedule %q: %w", job.Name, job.Spec, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.entries[job.Name]; ok {
		s.cron.Remove(id)
	}
	s.entries[job.Name] = s.cron.Schedule(schedule, cron.FuncJob(func() { s.runSlot(job, schedule) }))
	return nil
}

// Remove unschedules a job (a wave that was deleted).
func (s *Scheduler) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.entries[name]; ok {
		s.cron.Remove(id)
		delete(s.entries, name)
	}
}

// Start runs the cron table in the background.
func (s *Scheduler) Start() { s.cron.Start() }

// Stop stops scheduling, cancels running jobs and waits for them to return.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.cancel()
	select {
	case <-s.cron.Stop().Done():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("scheduler stop: %w", ctx.Err())
	}
}

func (s *Scheduler) runSlot(job Job, schedule cron.Schedule) {
	slot, ttl := Slot(schedule, s.now())
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	if job.EveryReplica {
		if err := job.Run(ctx, slot); err != nil {
			s.log.Error("cron job failed", "job", job.Name, "slot", slot, "err", err)
		}
		return
	}
	key := fmt.Sprintf("cron:%s:%d", job.Name, slot.Unix())
	won, err := s.locker.TryLock(ctx, key, ttl)
	if err != nil {
		s.log.Error("cron slot lock", "job", job.Name, "err", err)
		return
	}
	if !won {
		return // another replica has this slot
	}
	if err := job.Run(ctx, slot); err != nil {
		s.log.Error("cron job failed", "job", job.Name, "slot", slot, "err", err)
	}
}

// Slot names the schedule slot a run at now belongs to, identical on every
// replica, and how long its lock must live. For "@every d" it is now
// truncated to d; for calendar specs it is the scheduled time, found from a
// point before now so replicas whose clocks or timers differ by up to half a
// period (at most 30s) agree.
func Slot(schedule cron.Schedule, now time.Time) (slot time.Time, ttl time.Duration) {
	if every, ok := schedule.(cron.ConstantDelaySchedule); ok {
		return now.Truncate(every.Delay), max(2*every.Delay, time.Minute)
	}
	next := schedule.Next(now)
	period := schedule.Next(next).Sub(next)
	back := min(period/2, 30*time.Second)
	return schedule.Next(now.Add(-back)), min(max(2*period, time.Minute), 24*time.Hour)
}

// ParseCron reads a cron spec as the scheduler runs it (robfig/cron's
// standard parser, with "@every", descriptors and CRON_TZ=). The parser
// panics on some malformed specs (a bare "CRON_TZ=" with nothing after it,
// found by fuzzing); such a spec is an error here, never a crash.
func ParseCron(spec string) (schedule cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			schedule, err = nil, fmt.Errorf("malformed cron spec %q", spec)
		}
	}()
	return cron.ParseStandard(spec)
}
