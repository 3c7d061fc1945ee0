package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// WaveStore keeps wave definitions, pause flags and counts in SQL, so
// every replica runs the same waves.
type WaveStore interface {
	SaveWave(ctx context.Context, w flows.WaveRecord) (flows.WaveRecord, error)
	CreateWave(ctx context.Context, w flows.WaveRecord) (flows.WaveRecord, error)
	Waves(ctx context.Context) ([]flows.WaveRecord, error)
	Wave(ctx context.Context, id string) (flows.WaveRecord, error)
	SetWavePaused(ctx context.Context, id string, paused bool) error
	WaveCounts(ctx context.Context, waveID string) (flows.WaveCounts, error)
}

// ManagerConfig wires a Manager.
type ManagerConfig struct {
	Store     WaveStore
	FollowUps FollowUpStore
	Planner   *Planner
	Scheduler *Scheduler
	Convs     Conversations
	Limiter   Limiter
	Limits    map[flows.Channel]ChannelLimits
	Surveys   map[string]*flows.Survey
	Now       func() time.Time
	Logger    *slog.Logger
}

// Manager owns the running waves: it loads them (YAML files and the API),
// schedules one cron job per wave, and answers the API.
type Manager struct {
	cfg   ManagerConfig
	mu    sync.RWMutex
	waves map[string]*managedWave
}

type managedWave struct {
	wave       *Wave
	definition string
}

// NewManager returns a manager with no waves yet.
func NewManager(cfg ManagerConfig) *Manager {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Manager{cfg: cfg, waves: map[string]*managedWave{}}
}

func (m *Manager) surveyExists(id string) bool {
	_, ok := m.cfg.Surveys[id]
	return ok
}

// LoadDir reads dir/*.yaml into SQL. An invalid file stops start-up with
// the file, line and field; a missing folder means no file waves.
func (m *Manager) LoadDir(ctx context.Context, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.y*ml"))
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		w, err := ParseWave(f, data, m.surveyExists)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := m.cfg.Store.SaveWave(ctx, flows.WaveRecord{ID: w.ID, Definition: string(data), Source: flows.WaveSourceFile}); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
		}
	}
	return errors.Join(errs...)
}

// Sync makes the cron table match SQL: new or changed waves are scheduled,
// deleted ones removed, pause flags picked up. Every replica runs it
// periodically, so a wave created through any replica's API runs everywhere.
func (m *Manager) Sync(ctx context.Context) error {
	records, err := m.cfg.Store.Waves(ctx)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	var errs []error
	for _, r := range records {
		seen[r.ID] = true
		m.mu.RLock()
		cur, ok := m.waves[r.ID]
		m.mu.RUnlock()
		if ok && cur.definition == r.Definition {
			m.mu.Lock()
			cur.wave.Paused = r.Paused
			m.mu.Unlock()
			continue
		}
		w, err := ParseWave(string(r.Source)+" wave "+r.ID, []byte(r.Definition), m.surveyExists)
		if err != nil {
			errs = append(errs, fmt.Errorf("wave %s: %w", r.ID, err))
			continue
		}
		w.Paused, w.Source = r.Paused, string(r.Source)
		if err := m.schedule(w); err != nil {
			errs = append(errs, err)
			continue
		}
		m.mu.Lock()
		m.waves[r.ID] = &managedWave{wave: w, definition: r.Definition}
		m.mu.Unlock()
	}
	m.mu.Lock()
	for id := range m.waves {
		if !seen[id] {
			delete(m.waves, id)
			m.cfg.Scheduler.Remove("wave:" + id)
		}
	}
	m.mu.Unlock()
	return errors.Join(errs...)
}

func (m *Manager) schedule(w *Wave) error {
	if m.cfg.Scheduler == nil {
		return nil
	}
	id := w.ID
	return m.cfg.Scheduler.Add(Job{Name: "wave:" + id, Spec: w.Schedule, Run: func(ctx context.Context, slot time.Time) error {
		return m.RunWave(ctx, id, slot)
	}})
}

// RunWave plans the wave for one slot and handles its reminders and
// expiries. A paused wave plans and reminds nothing.
func (m *Manager) RunWave(ctx context.Context, id string, slot time.Time) error {
	w, ok := m.Lookup(id)
	if !ok {
		return fmt.Errorf("%w: wave %s", flows.ErrNotFound, id)
	}
	if w.Paused {
		return nil
	}
	_, planErr := m.cfg.Planner.Plan(ctx, w, slot, false)
	followErr := followUp(ctx, w, m.cfg.Now(), m.cfg.FollowUps, m.cfg.Convs, m.cfg.Limiter, m.cfg.Limits)
	return errors.Join(planErr, followErr)
}

// Lookup returns a copy of a running wave.
func (m *Manager) Lookup(id string) (*Wave, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	mw, ok := m.waves[id]
	if !ok {
		return nil, false
	}
	w := *mw.wave
	return &w, true
}

// WaveStatus is a wave as the API and CLI show it.
type WaveStatus struct {
	ID         string           `json:"id"`
	Survey     string           `json:"survey"`
	Kind       string           `json:"kind"` // trigger or segment
	Touchpoint string           `json:"touchpoint,omitempty"`
	Schedule   string           `json:"schedule"`
	Source     string           `json:"source"`
	Paused     bool             `json:"paused"`
	Counts     flows.WaveCounts `json:"counts"`
}

func (m *Manager) status(ctx context.Context, w *Wave) (WaveStatus, error) {
	counts, err := m.cfg.Store.WaveCounts(ctx, w.ID)
	if err != nil {
		return WaveStatus{}, err
	}
	st := WaveStatus{ID: w.ID, Survey: w.Survey, Schedule: w.Schedule, Source: w.Source, Paused: w.Paused, Counts: counts, Kind: "segment"}
	if w.Trigger != nil {
		st.Kind, st.Touchpoint = "trigger", w.Trigger.Touchpoint
	}
	return st, nil
}

// List returns every wave with its counts, by id.
func (m *Manager) List(ctx context.Context) ([]WaveStatus, error) {
	if err := m.Sync(ctx); err != nil {
		m.cfg.Logger.Warn("wave sync", "err", err)
	}
	m.mu.RLock()
	ids := make([]string, 0, len(m.waves))
	for id := range m.waves {
		ids = append(ids, id)
	}
	m.mu.RUnlock()
	sort.Strings(ids)
	out := make([]WaveStatus, 0, len(ids))
	for _, id := range ids {
		w, ok := m.Lookup(id)
		if !ok {
			continue
		}
		st, err := m.status(ctx, w)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// Get returns one wave with its counts.
func (m *Manager) Get(ctx context.Context, id string) (WaveStatus, error) {
	w, err := m.lookupSynced(ctx, id)
	if err != nil {
		return WaveStatus{}, err
	}
	return m.status(ctx, w)
}

// lookupSynced finds a wave, syncing from SQL first if it is unknown here
// (made through another replica since the last sync).
func (m *Manager) lookupSynced(ctx context.Context, id string) (*Wave, error) {
	if w, ok := m.Lookup(id); ok {
		return w, nil
	}
	if err := m.Sync(ctx); err != nil {
		return nil, err
	}
	if w, ok := m.Lookup(id); ok {
		return w, nil
	}
	return nil, fmt.Errorf("%w: wave %q", flows.ErrNotFound, id)
}

// Create stores and schedules a wave sent through the API (YAML or JSON).
// Nothing is stored when the definition is invalid; a wave whose id exists
// is a conflict, so an API call cannot silently replace a file's wave.
func (m *Manager) Create(ctx context.Context, definition []byte) (WaveStatus, error) {
	w, err := ParseWave(string(flows.WaveSourceAPI), definition, m.surveyExists)
	if err != nil {
		return WaveStatus{}, err
	}
	if _, err := m.cfg.Store.CreateWave(ctx, flows.WaveRecord{ID: w.ID, Definition: strings.TrimSpace(string(definition)), Source: flows.WaveSourceAPI}); err != nil {
		return WaveStatus{}, err
	}
	if err := m.Sync(ctx); err != nil {
		return WaveStatus{}, err
	}
	return m.Get(ctx, w.ID)
}

// SetPaused pauses or resumes a wave on every replica: planning, reminders
// and dispatch of its planned invitations stop until it is resumed.
func (m *Manager) SetPaused(ctx context.Context, id string, paused bool) (WaveStatus, error) {
	if err := m.cfg.Store.SetWavePaused(ctx, id, paused); err != nil {
		return WaveStatus{}, err
	}
	if err := m.Sync(ctx); err != nil {
		return WaveStatus{}, err
	}
	return m.Get(ctx, id)
}

// Preview tells how many customers the wave would invite if it ran now,
// with a sample of them; it writes nothing.
func (m *Manager) Preview(ctx context.Context, id string) (PlanResult, error) {
	w, err := m.lookupSynced(ctx, id)
	if err != nil {
		return PlanResult{}, err
	}
	return m.cfg.Planner.Plan(ctx, w, m.cfg.Now(), true)
}
