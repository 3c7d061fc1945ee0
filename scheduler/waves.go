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

	"gopkg.in/yaml.v3"

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
	SyncFileWaves(ctx context.Context, recs []flows.WaveRecord) (retired []string, err error)
	PutWave(ctx context.Context, w flows.WaveRecord) (flows.WaveRecord, bool, error)
	RetireWave(ctx context.Context, id string) (flows.WaveRecord, error)
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
	// Defaults are the frequency cap and quiet hours of waves naming none.
	Defaults WaveDefaults
	// Live, if set, lets a preview skip whom dispatch would skip now:
	// customers at their frequency cap or with a survey in progress.
	Live   LiveState
	Now    func() time.Time
	Logger *slog.Logger
}

// LiveState is what a preview reads besides the plan.
type LiveState interface {
	SentSince(ctx context.Context, customerID int64, since time.Time) (int, error)
	LoadState(ctx context.Context, ch flows.Channel, chatID string) (flows.State, bool, error)
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

// parse reads a definition (source "" for an API body: its messages carry
// no file name or line) and fills in the defaults. A segment wave with no
// cap at all is refused: it would ask everyone again at every run.
func (m *Manager) parse(source string, definition []byte) (*Wave, error) {
	w, err := ParseWave(source, definition, m.surveyExists)
	if err != nil {
		return nil, err
	}
	w.applyDefaults(m.cfg.Defaults)
	if w.Segment != nil && w.FrequencyCap == nil {
		p := waveProblems{source: source}
		p.add("frequency_cap", `is required for a segment wave (CXBOT_DEFAULT_FREQUENCY_CAP is off): it asks every matching customer again at each run; give one such as "1 per 30d"`)
		return nil, p.err()
	}
	return w, nil
}

// LoadDir makes the stored file waves exactly the files in dir/*.yaml and
// *.yml, all or nothing: every file is parsed first, and one invalid file,
// or two files with one id, stops start-up with nothing written. A wave
// whose file is gone is retired (history kept). A missing folder means no
// file waves.
func (m *Manager) LoadDir(ctx context.Context, dir string) error {
	recs, err := ReadWaveDir(dir, m.surveyExists)
	if err != nil {
		return err
	}
	retired, err := m.cfg.Store.SyncFileWaves(ctx, recs)
	if err != nil {
		return err
	}
	for _, id := range retired {
		m.cfg.Logger.Warn("wave retired: its file is gone", "wave", id, "dir", dir)
	}
	return nil
}

// ReadWaveDir parses every wave file in dir and checks that no two share
// an id; it writes nothing. Every problem is reported, not just the first.
func ReadWaveDir(dir string, surveyExists func(string) bool) ([]flows.WaveRecord, error) {
	var files []string
	for _, pattern := range []string{"*.yaml", "*.yml"} {
		f, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return nil, err
		}
		files = append(files, f...)
	}
	sort.Strings(files)
	var errs []error
	var recs []flows.WaveRecord
	fileOf := map[string]string{}
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), ".") {
			continue // editor backups and lock files
		}
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		w, err := ParseWave(f, data, surveyExists)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if other, dup := fileOf[w.ID]; dup {
			errs = append(errs, fmt.Errorf("%w: %s: id: wave %q is already defined in %s", flows.ErrInvalid, f, w.ID, other))
			continue
		}
		fileOf[w.ID] = f
		recs = append(recs, flows.WaveRecord{ID: w.ID, Definition: string(data), Source: flows.WaveSourceFile})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return recs, nil
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
		retired := r.RetiredAt != nil
		if ok && cur.definition == r.Definition && cur.wave.Retired == retired {
			m.mu.Lock()
			cur.wave.Paused = r.Paused
			m.mu.Unlock()
			continue
		}
		w, err := m.parse(string(r.Source)+" wave "+r.ID, []byte(r.Definition))
		switch {
		case err != nil && retired:
			// A retired wave never runs again: its survey may be long gone.
			w = &Wave{ID: r.ID, Sample: 1, Trigger: &Trigger{}}
		case err != nil:
			errs = append(errs, fmt.Errorf("wave %s: %w", r.ID, err))
			continue
		}
		w.Paused, w.Source, w.Retired = r.Paused, string(r.Source), retired
		if retired {
			m.unschedule(w.ID)
		} else if err := m.schedule(w); err != nil {
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
			m.unschedule(id)
		}
	}
	m.mu.Unlock()
	return errors.Join(errs...)
}

func (m *Manager) unschedule(id string) {
	if m.cfg.Scheduler != nil {
		m.cfg.Scheduler.Remove("wave:" + id)
	}
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
	if w.Paused || w.Retired {
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
	Retired    bool             `json:"retired"`
	Definition WaveDefinition   `json:"definition"`
	Counts     flows.WaveCounts `json:"counts"`
	// When is the schedule in words and its next runs (none once retired).
	When *ScheduleInfo `json:"when,omitempty"`
}

func (m *Manager) status(ctx context.Context, w *Wave) (WaveStatus, error) {
	counts, err := m.cfg.Store.WaveCounts(ctx, w.ID)
	if err != nil {
		return WaveStatus{}, err
	}
	st := WaveStatus{ID: w.ID, Survey: w.Survey, Schedule: w.Schedule, Source: w.Source, Paused: w.Paused, Retired: w.Retired,
		Definition: w.Definition(), Counts: counts, Kind: "segment"}
	if w.Trigger != nil {
		st.Kind, st.Touchpoint = "trigger", w.Trigger.Touchpoint
	}
	runs := 5
	if w.Retired {
		runs = 0 // in words still, but it runs no more
	}
	if info, err := DescribeSchedule(w.Schedule, w.TimeZone, m.cfg.Now(), runs); err == nil {
		st.When = &info
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
// A wave created paused is a draft: it can be previewed, and invites no one
// until it is resumed.
func (m *Manager) Create(ctx context.Context, definition []byte, paused bool) (WaveStatus, error) {
	w, err := m.parse("", definition)
	if err != nil {
		return WaveStatus{}, err
	}
	if _, err := m.cfg.Store.CreateWave(ctx, flows.WaveRecord{ID: w.ID, Definition: strings.TrimSpace(string(definition)), Source: flows.WaveSourceAPI, Paused: paused}); err != nil {
		return WaveStatus{}, err
	}
	if err := m.Sync(ctx); err != nil {
		return WaveStatus{}, err
	}
	return m.Get(ctx, w.ID)
}

// WaveCheck is an unsaved definition that is valid: what it would run and
// when.
type WaveCheck struct {
	ID         string         `json:"id"`
	Survey     string         `json:"survey"`
	Kind       string         `json:"kind"`
	Definition WaveDefinition `json:"definition"`
	Schedule   ScheduleInfo   `json:"schedule"`
}

// Check validates a definition without storing it (an *InvalidWaveError
// names each bad field) and describes its schedule with the next five runs.
func (m *Manager) Check(_ context.Context, definition []byte) (WaveCheck, error) {
	w, err := m.parse("", definition)
	if err != nil {
		return WaveCheck{}, err
	}
	info, err := DescribeSchedule(w.Schedule, w.TimeZone, m.cfg.Now(), 5)
	if err != nil { // ParseWave has parsed it already
		return WaveCheck{}, fmt.Errorf("%w: schedule: %v", flows.ErrInvalid, err)
	}
	c := WaveCheck{ID: w.ID, Survey: w.Survey, Kind: "segment", Definition: w.Definition(), Schedule: info}
	if w.Trigger != nil {
		c.Kind = "trigger"
	}
	return c, nil
}

// Put creates or replaces an API wave under id: a definition without an id
// takes the path's, one with another id is refused. Nothing is stored when
// the definition is invalid. A retired wave stays retired (a conflict):
// retiring is for good. It reports whether the wave is new.
func (m *Manager) Put(ctx context.Context, id string, definition []byte) (WaveStatus, bool, error) {
	definition, err := withID(definition, id)
	if err != nil {
		return WaveStatus{}, false, err
	}
	w, err := m.parse("", definition)
	if err != nil {
		return WaveStatus{}, false, err
	}
	if w.ID != id {
		return WaveStatus{}, false, fmt.Errorf("%w: id %q in the body differs from %q in the path", flows.ErrInvalid, w.ID, id)
	}
	if err := m.refuseRetired(ctx, id, "replaced"); err != nil {
		return WaveStatus{}, false, err
	}
	_, created, err := m.cfg.Store.PutWave(ctx, flows.WaveRecord{ID: w.ID, Definition: strings.TrimSpace(string(definition)), Source: flows.WaveSourceAPI})
	if err != nil {
		return WaveStatus{}, false, err
	}
	if err := m.Sync(ctx); err != nil {
		return WaveStatus{}, false, err
	}
	st, err := m.Get(ctx, id)
	return st, created, err
}

// Retire stops an API wave on every replica for good: no planning, no
// reminders, and its planned invitations are not sent. Its invitations,
// answers and counts stay. A file wave is retired by removing its file.
func (m *Manager) Retire(ctx context.Context, id string) (WaveStatus, error) {
	if _, err := m.cfg.Store.RetireWave(ctx, id); err != nil {
		return WaveStatus{}, err
	}
	if err := m.Sync(ctx); err != nil {
		return WaveStatus{}, err
	}
	return m.Get(ctx, id)
}

// SetPaused pauses or resumes a wave on every replica: planning, reminders
// and dispatch of its planned invitations stop until it is resumed.
func (m *Manager) SetPaused(ctx context.Context, id string, paused bool) (WaveStatus, error) {
	verb := "resumed"
	if paused {
		verb = "paused"
	}
	if err := m.refuseRetired(ctx, id, verb); err != nil {
		return WaveStatus{}, err
	}
	if err := m.cfg.Store.SetWavePaused(ctx, id, paused); err != nil {
		return WaveStatus{}, err
	}
	if err := m.Sync(ctx); err != nil {
		return WaveStatus{}, err
	}
	return m.Get(ctx, id)
}

// Preview tells how many customers the wave would invite if it ran now,
// with a sample of them; it writes nothing. It skips whom dispatch would
// skip or hold back now (frequency cap, quiet hours, a survey in progress),
// by reason.
func (m *Manager) Preview(ctx context.Context, id string) (PlanResult, error) {
	w, err := m.lookupSynced(ctx, id)
	if err != nil {
		return PlanResult{}, err
	}
	return m.cfg.Planner.preview(ctx, w, m.cfg.Now(), m.cfg.Live)
}

// refuseRetired is a conflict for a retired wave: retiring is for good.
func (m *Manager) refuseRetired(ctx context.Context, id, verb string) error {
	rec, err := m.cfg.Store.Wave(ctx, id)
	if errors.Is(err, flows.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if rec.RetiredAt != nil {
		return fmt.Errorf("%w: wave %q is retired and cannot be %s; create a wave with a new id", flows.ErrConflict, id, verb)
	}
	return nil
}

// withID gives a definition without an id the path's id: "id: x" before a
// YAML body, "id":"x" first in a JSON object.
func withID(definition []byte, id string) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(definition, &root); err != nil || len(root.Content) == 0 {
		return definition, nil // ParseWave says what is wrong
	}
	n := resolveAlias(root.Content[0])
	if n.Kind != yaml.MappingNode {
		return definition, nil
	}
	for i := 0; i < len(n.Content); i += 2 {
		if n.Content[i].Value == "id" {
			return definition, nil
		}
	}
	if !waveIDPattern.MatchString(id) {
		return nil, fmt.Errorf("%w: id: %q must be lowercase letters, digits, _ or - (at most 64)", flows.ErrInvalid, id)
	}
	body := strings.TrimSpace(string(definition))
	if n.Style&yaml.FlowStyle != 0 && strings.HasPrefix(body, "{") {
		rest := strings.TrimSpace(body[1:])
		sep := ","
		if strings.HasPrefix(rest, "}") {
			sep = ""
		}
		return []byte(`{"id":"` + id + `"` + sep + rest), nil
	}
	return []byte("id: " + id + "\n" + body), nil
}
