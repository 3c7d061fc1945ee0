package main

import (
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/httpapi"
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
	batch := fs.Int("batch", httpapi.MaxEventBatch, "events stored per transaction (1 to 1000)")
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
	case *batch < 1 || *batch > httpapi.MaxEventBatch:
		return fmt.Errorf("events import: --batch %d is out of range (1 to %d)", *batch, httpapi.MaxEventBatch)
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

	db, err := openDatabase(ctx, cfg, newLogger(stderr, cfg.LogLevel), *migrate || cfg.AutoMigrate)
	if err != nil {
		return err
	}
	defer db.Close()

	imp := &eventImport{
		name: name, save: db.SaveEvents, batch: *batch, now: time.Now,
		progress: newImportProgress(stderr, size),
	}
	err = imp.run(ctx, in)
	imp.progress.finish()
	imp.report(stdout)
	if err != nil {
		return fmt.Errorf("events import %s: %w", name, err)
	}
	if imp.rejected > 0 {
		return fmt.Errorf("events import %s: %d of %d rows were rejected (listed above); the other rows were stored",
			name, imp.rejected, imp.rows)
	}
	return nil
}

// badRow is a rejected CSV row.
type badRow struct {
	line   int
	reason string
}

// eventImport reads a CSV of events and stores it in batches.
type eventImport struct {
	name     string
	save     func(ctx context.Context, events []flows.Event) ([]flows.EventResult, error)
	batch    int
	now      func() time.Time
	progress *importProgress

	rows, created, duplicates, rejected int
	bad                                 []badRow
}

// csvColumns are the columns with a meaning; any other is an attribute.
func csvColumns() []string {
	return []string{"id", "customer_ref", "touchpoint", "occurred_at", "telegram_chat_id", "wechat_openid", "language", "timezone"}
}

func (imp *eventImport) reject(line int, format string, args ...any) {
	imp.rejected++
	imp.bad = append(imp.bad, badRow{line: line, reason: fmt.Sprintf(format, args...)})
}

func (imp *eventImport) run(ctx context.Context, in io.Reader) error {
	counted := &countingReader{r: in}
	cr := csv.NewReader(counted)
	cr.ReuseRecord = true
	header, err := cr.Read()
	switch {
	case errors.Is(err, io.EOF):
		return errors.New("the file is empty: the first row must name the columns")
	case err != nil:
		return fmt.Errorf("reading the header: %w", err)
	}
	header = slices.Clone(header)
	cr.FieldsPerRecord = len(header)

	known := make(map[string]int) // column name → index
	attrs := make(map[int]string) // index → attribute key
	for i, h := range header {
		h = strings.TrimSpace(h)
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff") // a byte order mark, as spreadsheets write
		}
		lower := strings.ToLower(h)
		switch {
		case h == "":
			return fmt.Errorf("header column %d has no name", i+1)
		case slices.Contains(csvColumns(), lower):
			if _, dup := known[lower]; dup {
				return fmt.Errorf("header names column %q twice", lower)
			}
			known[lower] = i
		default:
			key := h
			if len(key) > len("attr.") && strings.EqualFold(key[:len("attr.")], "attr.") {
				key = key[len("attr."):]
			}
			for _, k := range attrs {
				if k == key {
					return fmt.Errorf("header names attribute %q twice", key)
				}
			}
			attrs[i] = key
		}
	}
	var missing []string
	for _, c := range csvColumns()[:4] {
		if _, ok := known[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the header has no column %s (the first row must name the columns; id, customer_ref, touchpoint and occurred_at are required)",
			strings.Join(missing, ", "))
	}
	field := func(rec []string, name string) string {
		if i, ok := known[name]; ok {
			return rec[i]
		}
		return ""
	}

	var (
		events []flows.Event
		lines  []int
	)
	flush := func() error {
		if len(events) == 0 {
			return nil
		}
		results, err := imp.save(ctx, events)
		if err != nil {
			return fmt.Errorf("storing the rows of lines %d to %d: %w (rows before them are stored; importing again is safe)",
				lines[0], lines[len(lines)-1], err)
		}
		for k, r := range results {
			switch {
			case r.Err != nil:
				imp.reject(lines[k], "%v", r.Err)
			case r.Created:
				imp.created++
			default:
				imp.duplicates++
			}
		}
		events, lines = events[:0], lines[:0]
		imp.progress.update(imp, counted.n.Load())
		return nil
	}

	now := imp.now()
	var validator httpapi.EventValidator
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var perr *csv.ParseError
		switch {
		case errors.As(err, &perr) && errors.Is(perr.Err, csv.ErrFieldCount):
			imp.rows++
			imp.reject(perr.StartLine, "has %d fields, the header has %d", len(rec), len(header))
			continue
		case errors.As(err, &perr):
			imp.rows++
			imp.reject(perr.StartLine, "is not valid CSV: %v", perr.Err)
			continue
		case err != nil:
			return fmt.Errorf("reading the file after %d rows: %w", imp.rows, err)
		}
		line, _ := cr.FieldPos(0)
		imp.rows++
		input := httpapi.EventInput{
			ID:             field(rec, "id"),
			CustomerRef:    field(rec, "customer_ref"),
			Touchpoint:     field(rec, "touchpoint"),
			OccurredAt:     field(rec, "occurred_at"),
			TelegramChatID: field(rec, "telegram_chat_id"),
			WeChatOpenID:   field(rec, "wechat_openid"),
			Language:       field(rec, "language"),
			TimeZone:       field(rec, "timezone"),
		}
		for i, key := range attrs {
			if v := strings.TrimSpace(rec[i]); v != "" { // an empty cell is no attribute
				if input.Attributes == nil {
					input.Attributes = make(map[string]string, len(attrs))
				}
				input.Attributes[key] = v
			}
		}
		e, err := validator.Validate(input, now)
		if err != nil {
			imp.reject(line, "%v", err)
			continue
		}
		events, lines = append(events, e), append(lines, line)
		if len(events) >= imp.batch {
			if err := flush(); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("stopped after line %d: %w", line, err)
			}
		}
	}
	return flush()
}

// report prints the counts and the rejected rows in line order.
func (imp *eventImport) report(w io.Writer) {
	fmt.Fprintf(w, "%s: %d rows: %d created, %d duplicates (stored before), %d rejected\n",
		imp.name, imp.rows, imp.created, imp.duplicates, imp.rejected)
	slices.SortStableFunc(imp.bad, func(a, b badRow) int { return cmp.Compare(a.line, b.line) })
	for _, b := range imp.bad {
		fmt.Fprintf(w, "line %d: %s\n", b.line, b.reason)
	}
}

// countingReader counts the bytes read, for the progress bar.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
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

func (p *importProgress) update(imp *eventImport, bytesRead int64) {
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("importing events: %d rows", imp.rows))
		_ = p.bar.Set64(bytesRead)
		return
	}
	if imp.rows >= p.nextLine {
		fmt.Fprintf(p.w, "events import: %d rows read (%d created, %d duplicates, %d rejected)\n",
			imp.rows, imp.created, imp.duplicates, imp.rejected)
		for p.nextLine <= imp.rows {
			p.nextLine += progressEvery
		}
	}
}

func (p *importProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
