package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/scheduler"
)

// cmdWaves lists the waves in the database with their counts; it reads
// SQL directly, so it works whether or not a server is running, and writes
// nothing.
func cmdWaves(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("waves", "Lists survey waves (files under CXBOT_CONFIG_DIR/waves and those created through the API) with their counts.", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	surveys, err := flows.LoadSurveys(filepath.Join(cfg.ConfigDir, "surveys"))
	if err != nil {
		return fmt.Errorf("surveys: %w", err)
	}
	db, err := openDatabase(ctx, cfg, newLogger(stderr, cfg.LogLevel, cfg.LogFormat), false)
	if err != nil {
		return err
	}
	defer db.Close()
	// A listing never writes: the files are only checked here, and loaded
	// by cxbot serve.
	if _, err := scheduler.ReadWaveDir(filepath.Join(cfg.ConfigDir, "waves"), func(id string) bool { return surveys[id] != nil }); err != nil {
		fmt.Fprintf(stderr, "warning: the wave files would not load (cxbot serve would refuse to start):\n%v\n", err)
	}
	manager := scheduler.NewManager(scheduler.ManagerConfig{Store: db, Surveys: surveys, Defaults: cfg.WaveDefaults, Logger: newLogger(stderr, "error", cfg.LogFormat)})
	waves, err := manager.List(ctx)
	if err != nil {
		return err
	}
	if len(waves) == 0 {
		fmt.Fprintln(stdout, "no waves yet: add configs/waves/*.yaml and start cxbot serve, or POST /api/v1/waves")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WAVE\tSURVEY\tKIND\tSCHEDULE\tSTATE\tPLANNED\tSENT\tDELIVERED\tSTARTED\tCOMPLETED\tEXPIRED\tFAILED\tSKIPPED")
	for _, w := range waves {
		state := "active"
		switch {
		case w.Retired:
			state = "retired"
		case w.Paused:
			state = "paused"
		}
		c := w.Counts
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", w.ID, w.Survey, w.Kind, w.Schedule, state,
			c.Planned, c.Sent, c.Delivered, c.Started, c.Completed, c.Expired, c.Failed, c.Skipped)
	}
	return tw.Flush()
}
