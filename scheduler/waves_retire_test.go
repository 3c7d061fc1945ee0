package scheduler_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/scheduler"
)

func writeWave(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func storedWaves(t *testing.T, f *fixture) map[string]flows.WaveRecord {
	t.Helper()
	recs, err := f.db.Waves(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]flows.WaveRecord{}
	for _, r := range recs {
		out[r.ID] = r
	}
	return out
}

const fileWave = "id: %s\nsurvey: post_purchase_nps\ntrigger: {touchpoint: purchase}\nschedule: \"@every 1m\"\n"

func waveFile(id string) string { return strings.ReplaceAll(fileWave, "%s", id) }

// Loading a folder is all or nothing; two files with one id are refused; a
// wave whose file is gone is retired, and comes back with its file.
func TestLoadDirAllOrNothingAndRetiresMissingFiles(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	dir := t.TempDir()
	writeWave(t, dir, "a.yaml", waveFile("a"))
	writeWave(t, dir, "b.yaml", waveFile("b"))
	writeWave(t, dir, "c.yaml", waveFile("c")+"trigger_typo: 1\n")
	err := f.manager.LoadDir(ctx, dir)
	if err == nil || !errors.Is(err, flows.ErrInvalid) || !strings.Contains(err.Error(), "c.yaml:5: trigger_typo: unknown field") {
		t.Fatalf("LoadDir with a bad file = %v", err)
	}
	if got := storedWaves(t, f); len(got) != 0 {
		t.Fatalf("a bad file must leave nothing written, got %v", got)
	}

	writeWave(t, dir, "c.yaml", waveFile("a"))
	err = f.manager.LoadDir(ctx, dir)
	if err == nil || !strings.Contains(err.Error(), `c.yaml: id: wave "a" is already defined in `+filepath.Join(dir, "a.yaml")) {
		t.Fatalf("LoadDir with a duplicate id = %v", err)
	}
	if got := storedWaves(t, f); len(got) != 0 {
		t.Fatalf("a duplicate must leave nothing written, got %v", got)
	}

	os.Remove(filepath.Join(dir, "c.yaml"))
	if err := f.manager.LoadDir(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if err := f.manager.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	f.event(1, f.clock.Now().Add(-time.Hour), "", nil)
	f.run("b")
	if c := f.counts("b"); c.Sent != 1 {
		t.Fatalf("b before its file is removed: %+v", c)
	}

	os.Remove(filepath.Join(dir, "b.yaml"))
	if err := f.manager.LoadDir(ctx, dir); err != nil {
		t.Fatal(err)
	}
	got := storedWaves(t, f)
	if got["a"].RetiredAt != nil || got["b"].RetiredAt == nil {
		t.Fatalf("after removing b.yaml: a retired %v, b retired %v", got["a"].RetiredAt, got["b"].RetiredAt)
	}
	if err := f.manager.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := f.manager.Get(ctx, "b")
	if err != nil || !st.Retired || st.Counts.Sent != 1 {
		t.Fatalf("retired b = %+v, %v; want retired with its history", st, err)
	}
	f.event(2, f.clock.Now().Add(-time.Hour), "", nil)
	f.run("b")
	if c := f.counts("b"); c.Planned != 0 || c.Sent != 1 || len(f.sent(2)) != 0 {
		t.Fatalf("a retired wave invited again: %+v", c)
	}

	writeWave(t, dir, "b.yaml", waveFile("b"))
	if err := f.manager.LoadDir(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if got := storedWaves(t, f); got["b"].RetiredAt != nil {
		t.Fatal("b's file is back but the wave stays retired")
	}
}

// DELETE retires an API wave: its planned invitations are not sent, new
// events are not planned, its history stays; PUT replaces or creates.
func TestPutAndRetireAPIWave(t *testing.T) {
	ctx := context.Background()
	noon := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	f := newFixture(t, noon)
	st, created, err := f.manager.Put(ctx, "w", []byte(baseWave))
	if err != nil || !created || st.Definition.Trigger.Delay != "2h" {
		t.Fatalf("Put(new) = %+v, %t, %v", st, created, err)
	}
	st, created, err = f.manager.Put(ctx, "w", []byte(strings.Replace(baseWave, "delay: 2h", "delay: 3h", 1)))
	if err != nil || created || st.Definition.Trigger.Delay != "3h" {
		t.Fatalf("Put(replace) = %+v, %t, %v", st, created, err)
	}
	if _, _, err := f.manager.Put(ctx, "other", []byte(baseWave)); !errors.Is(err, flows.ErrInvalid) {
		t.Fatalf("Put with a different id in the body = %v", err)
	}
	if _, _, err := f.manager.Put(ctx, "w", []byte(strings.Replace(baseWave, "delay:", "delai:", 1))); !errors.Is(err, flows.ErrInvalid) {
		t.Fatalf("Put with a typo = %v", err)
	}

	f.event(1, noon.Add(-4*time.Hour), "", nil)
	f.run("w")
	// Planned, not yet due (quiet hours would do the same): put one in the outbox.
	f.event(2, noon.Add(-4*time.Hour), "", nil)
	if _, _, err := f.manager.Put(ctx, "w", []byte(baseWave+"quiet_hours: \"00:00-23:59\"\n")); err != nil {
		t.Fatal(err)
	}
	f.run("w")
	if c := f.counts("w"); c.Sent != 1 || c.Planned != 1 {
		t.Fatalf("before retiring: %+v", c)
	}

	st, err = f.manager.Retire(ctx, "w")
	if err != nil || !st.Retired || st.Counts.Sent != 1 || st.Counts.Planned != 0 || st.Counts.Skipped != 1 {
		t.Fatalf("Retire = %+v, %v", st, err)
	}
	if _, err := f.manager.Retire(ctx, "w"); err != nil {
		t.Fatalf("retiring twice = %v", err)
	}
	f.event(3, noon.Add(-4*time.Hour), "", nil)
	f.clock.Set(noon.Add(24 * time.Hour))
	f.run("w")
	if len(f.sent(2)) != 0 || len(f.sent(3)) != 0 {
		t.Fatal("a retired wave sent")
	}
	if _, err := f.manager.Retire(ctx, "nope"); !errors.Is(err, flows.ErrNotFound) {
		t.Fatalf("Retire(unknown) = %v", err)
	}
	if _, err := f.manager.Create(ctx, []byte(baseWave), false); !errors.Is(err, flows.ErrConflict) {
		t.Fatalf("POST over a retired wave = %v", err)
	}

	// File waves are changed through their files only.
	dir := t.TempDir()
	writeWave(t, dir, "f.yaml", waveFile("f"))
	if err := f.manager.LoadDir(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := f.manager.Retire(ctx, "f"); !errors.Is(err, flows.ErrConflict) || !strings.Contains(err.Error(), "remove the file") {
		t.Fatalf("Retire(file wave) = %v", err)
	}
	if _, _, err := f.manager.Put(ctx, "f", []byte(waveFile("f"))); !errors.Is(err, flows.ErrConflict) {
		t.Fatalf("Put(file wave) = %v", err)
	}
	// A file may not take an API wave's id.
	writeWave(t, dir, "w.yaml", waveFile("w"))
	if err := f.manager.LoadDir(ctx, dir); !errors.Is(err, flows.ErrConflict) {
		t.Fatalf("file with an API wave's id = %v", err)
	}

	// A replica without the surveys: the active wave f cannot run and is
	// reported; the retired wave w needs no survey any more.
	bare := scheduler.NewManager(scheduler.ManagerConfig{Store: f.db, Surveys: map[string]*flows.Survey{}})
	err = bare.Sync(ctx)
	if err == nil || !strings.Contains(err.Error(), "wave f:") || strings.Contains(err.Error(), "wave w:") {
		t.Fatalf("Sync without surveys = %v", err)
	}
	if st, err := bare.Get(ctx, "w"); err != nil || !st.Retired || st.Counts.Sent != 1 {
		t.Fatalf("retired wave without its survey = %+v, %v", st, err)
	}
}
