package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/cxbot/cxbot/eventcsv"
	"github.com/cxbot/cxbot/flows"
)

const eventsUsage = `Usage: cxbot events import [flags] FILE.csv

Loads touchpoint events from a CSV file, as POST /api/v1/events does.

The first row names the columns: id, customer_ref, touchpoint and
occurred_at (RFC 3339) are required; telegram_chat_id, wechat_openid,
language and timezone are optional; every other column is an attribute of
the event (an "attr." prefix is dropped), e.g. order_id, store, sku.
Events are idempotent by id: importing a file again adds nothing.
Bad rows are reported by line number and the others are stored; the exit
code is 1 if any row was bad. "-" reads the CSV from standard input.

Run "cxbot events import --help" for the flags and settings.
`

// progressEvery is how often (in rows) a line reports progress when
// stderr is not a terminal.
const progressEvery = 10_000

// cmdEvents runs "cxbot events SUBCOMMAND".
func cmdEvents(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, eventsUsage)
		return errors.New("events: missing subcommand (import)")
	}
	switch args[0] {
	case "import":
		return cmdEventsImport(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, eventsUsage)
		return flag.ErrHelp
	default:
		fmt.Fprint(stderr, eventsUsage)
		return fmt.Errorf("events: unknown subcommand %q (import)", args[0])
	}
}

func cmdEventsImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("events import FILE.csv",
		"Loads touchpoint events from a CSV file (header: id, customer_ref, touchpoint, occurred_at,\n"+
			"telegram_chat_id, wechat_openid, language, timezone; other columns are attributes).", stderr)
	batch := fs.Int("batch", flows.MaxEventBatch, "events stored per transaction (1 to 1000)")
	migrate := fs.Bool("migrate", false, "apply pending database migrations first (same as CXBOT_AUTO_MIGRATE=true)")
	// Flags may come before or after the file name.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		files, args = append(files, fs.Arg(0)), fs.Args()[1:]
	}
	switch {
	case len(files) != 1:
		fs.Usage()
		return fmt.Errorf("events import: give exactly one CSV file (got %d)", len(files))
	case *batch < 1 || *batch > flows.MaxEventBatch:
		return fmt.Errorf("events import: --batch %d is out of range (1 to %d)", *batch, flows.MaxEventBatch)
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}

	name := files[0]
	var (
		in   io.Reader = os.Stdin
		size int64     = -1
	)
	if name == "-" {
		name = "standard input"
	} else {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("events import: %w", err)
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
		in = f
	}

	db, err := openDatabase(ctx, cfg, newLogger(stderr, cfg.LogLevel, cfg.LogFormat), *migrate || cfg.AutoMigrate)
	if err != nil {
		return err
	}
	defer db.Close()

	progress := newImportProgress(stderr, size)
	imp := eventcsv.Importer{Events: db, Batch: *batch, Now: time.Now, Progress: progress.update}
	sum, err := imp.Import(ctx, in)
	progress.finish()
	sum.WriteReport(stdout, name)
	if err != nil {
		return fmt.Errorf("events import %s: %w", name, err)
	}
	if sum.Rejected > 0 {
		return fmt.Errorf("events import %s: %d of %d rows were rejected (listed above); the other rows were stored",
			name, sum.Rejected, sum.Rows)
	}
	return nil
}

// importProgress shows a progress bar on a terminal, or a line every
// progressEvery rows otherwise (a log file, CI).
type importProgress struct {
	w        io.Writer
	bar      *progressbar.ProgressBar
	nextLine int
}

func newImportProgress(stderr io.Writer, size int64) *importProgress {
	p := &importProgress{w: stderr, nextLine: progressEvery}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions64(size,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("importing events"),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

func (p *importProgress) update(at eventcsv.Progress) {
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("importing events: %d rows", at.Rows))
		_ = p.bar.Set64(at.BytesRead)
		return
	}
	if at.Rows >= p.nextLine {
		fmt.Fprintf(p.w, "events import: %d rows read (%d created, %d duplicates, %d rejected)\n",
			at.Rows, at.Created, at.Duplicates, at.Rejected)
		for p.nextLine <= at.Rows {
			p.nextLine += progressEvery
		}
	}
}

func (p *importProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
