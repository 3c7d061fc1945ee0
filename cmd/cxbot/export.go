package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/httpapi"
)

// attrFlags collects repeated --attr name=value filters.
type attrFlags map[string]string

func (a attrFlags) String() string { return fmt.Sprint(map[string]string(a)) }

func (a attrFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok || !flows.ValidAttributeName(name) {
		return fmt.Errorf("want name=value with a name of letters, digits, _ . - (got %q)", v)
	}
	a[name] = value
	return nil
}

// cmdExport runs "cxbot export": the same file as GET
// /api/v1/exports/responses.{csv,xlsx}, read straight from the database.
func cmdExport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("export --survey ID --out FILE",
		"Writes one survey's responses to a CSV or XLSX file (by the name's extension, or --format):\n"+
			"one row per response, one column per question, event attributes as attr.<name> columns.", stderr)
	survey := fs.String("survey", "", "survey id (required)")
	out := fs.String("out", "", "file to write, .csv or .xlsx; - for standard output (CSV unless --format xlsx)")
	format := fs.String("format", "", "csv or xlsx (default: the --out extension)")
	wave := fs.String("wave", "", "only this wave")
	from := fs.String("from", "", "responses started at or after (YYYY-MM-DD in --tz, or RFC 3339; default 30 days before --to)")
	to := fs.String("to", "", "responses started before (default now)")
	tz := fs.String("tz", "UTC", "time zone of plain dates")
	class := fs.String("class", "", "only responses with an answer of this class (promoter, detractor, …)")
	attrs := attrFlags{}
	fs.Var(attrs, "attr", "only responses whose event has this attribute, name=value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *survey == "" || *out == "" {
		fs.Usage()
		return fmt.Errorf("export: --survey and --out are required")
	}
	if *format == "" {
		*format = strings.TrimPrefix(strings.ToLower(filepath.Ext(*out)), ".")
		if *out == "-" {
			*format = "csv"
		}
	}
	if *format != "csv" && *format != "xlsx" {
		return fmt.Errorf("export: format %q: use csv or xlsx (--format, or an --out name ending in .csv or .xlsx)", *format)
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil || *tz == "Local" {
		return fmt.Errorf("export: --tz %q is not an IANA time zone such as Asia/Shanghai", *tz)
	}
	q := flows.ReportQuery{Survey: *survey, Wave: *wave, TZ: loc, Attributes: attrs}
	for _, p := range []struct {
		name, v string
		dst     *time.Time
	}{{"from", *from, &q.From}, {"to", *to, &q.To}} {
		if p.v == "" {
			continue
		}
		t, err := time.ParseInLocation(time.DateOnly, p.v, loc)
		if err != nil {
			if t, err = time.Parse(time.RFC3339, p.v); err != nil {
				return fmt.Errorf("export: --%s %q is not a YYYY-MM-DD date or an RFC 3339 time", p.name, p.v)
			}
		}
		*p.dst = t
	}
	if q, err = q.Normalize(time.Now()); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	filter := flows.ResponseFilter{ReportQuery: q, Class: flows.Class(*class)}
	if err := filter.Validate(); err != nil {
		return fmt.Errorf("export: %w", err)
	}

	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	surveys, err := flows.LoadSurveys(filepath.Join(cfg.ConfigDir, "surveys"))
	if err != nil {
		return err
	}
	sv, ok := surveys[*survey]
	if !ok {
		return fmt.Errorf("export: no survey %q in %s", *survey, filepath.Join(cfg.ConfigDir, "surveys"))
	}
	db, err := openDatabase(ctx, cfg, newLogger(stderr, cfg.LogLevel, cfg.LogFormat), cfg.AutoMigrate)
	if err != nil {
		return err
	}
	defer db.Close()
	exp, err := httpapi.NewExport(ctx, db, sv, filter)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}

	var w io.Writer = stdout
	var file *os.File
	if *out != "-" {
		if file, err = os.Create(*out); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		defer file.Close()
		w = file
	}
	progress := newExportProgress(stderr)
	write := exp.WriteCSV
	if *format == "xlsx" {
		write = exp.WriteXLSX
	}
	err = write(ctx, w, progress.update)
	progress.finish()
	if err == nil && file != nil {
		err = file.Close()
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	fmt.Fprintf(stderr, "export: %d responses written to %s\n", progress.rows, *out)
	return nil
}

// exportProgress shows a progress bar (rows so far) on a terminal, and
// nothing but the final count elsewhere.
type exportProgress struct {
	bar  *progressbar.ProgressBar
	rows int
}

func newExportProgress(stderr io.Writer) *exportProgress {
	p := &exportProgress{}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions(-1, progressbar.OptionSetWriter(stderr), progressbar.OptionSetDescription("exporting responses"),
			progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	}
	return p
}

func (p *exportProgress) update(rows int) {
	p.rows = rows
	if p.bar != nil {
		_ = p.bar.Set(rows)
	}
}

func (p *exportProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
