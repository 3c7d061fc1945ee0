// Package eventcsv loads touchpoint events from CSV files, the spreadsheet
// counterpart of POST /api/v1/events: it maps columns to flows.EventInput,
// validates each row with the same rules as the API (flows.EventValidator),
// stores valid rows in batches and reports bad ones by line number.
package eventcsv

import (
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// EventSaver stores a batch of validated events (sqlstore.DB does). The
// results are in the batch's order.
type EventSaver interface {
	SaveEvents(ctx context.Context, events []flows.Event) ([]flows.EventResult, error)
}

// Columns are the columns with a meaning, the first four required; any
// other column is an attribute of the event.
func Columns() []string {
	return []string{"id", "customer_ref", "touchpoint", "occurred_at", "telegram_chat_id", "wechat_openid", "language", "timezone"}
}

// requiredColumns is how many of Columns a header must name.
const requiredColumns = 4

// attributePrefix may start an attribute column's name ("attr.store"), so
// an attribute can be named like a column; it is dropped from the key.
const attributePrefix = "attr."

// Importer reads a CSV of events and stores it in batches. Rows are
// validated one by one: a bad row is reported and the others are stored.
type Importer struct {
	Events EventSaver
	// Batch is how many events are stored per call to Events (one
	// transaction): 1 to flows.MaxEventBatch, 0 meaning the maximum.
	Batch int
	// Now is the clock that bounds occurred_at (default time.Now).
	Now func() time.Time
	// Progress, if set, is called after each stored batch.
	Progress func(Progress)
}

// Progress is how far an import has got.
type Progress struct {
	Rows, Created, Duplicates, Rejected int
	BytesRead                           int64
}

// RowError is a rejected row: its line in the file (the first line of a
// quoted field spanning several) and why.
type RowError struct {
	Line   int
	Reason string
}

func (e RowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// Summary is what an import did. Rejected counts the rows in Bad.
type Summary struct {
	Rows, Created, Duplicates, Rejected int
	Bad                                 []RowError // in line order
}

// WriteReport prints the counts and the rejected rows, one per line, as
// `cxbot events import` shows them; name is the file's.
func (s Summary) WriteReport(w io.Writer, name string) {
	fmt.Fprintf(w, "%s: %d rows: %d created, %d duplicates (stored before), %d rejected\n",
		name, s.Rows, s.Created, s.Duplicates, s.Rejected)
	for _, b := range s.Bad {
		fmt.Fprintln(w, b.Error())
	}
}

// Import reads the CSV from r. The first row names the columns. The
// summary counts what was done even when the import stops early with an
// error (an unreadable file, a store that fails): the rows before are
// stored, and importing again is safe because events are idempotent by id.
func (imp Importer) Import(ctx context.Context, r io.Reader) (Summary, error) {
	switch {
	case imp.Batch == 0:
		imp.Batch = flows.MaxEventBatch
	case imp.Batch < 0 || imp.Batch > flows.MaxEventBatch:
		return Summary{}, fmt.Errorf("%w: batch of %d events is out of range (1 to %d)", flows.ErrInvalid, imp.Batch, flows.MaxEventBatch)
	}
	if imp.Now == nil {
		imp.Now = time.Now
	}
	run := &importRun{Importer: imp, in: &countingReader{r: r}}
	err := run.read(ctx)
	slices.SortStableFunc(run.sum.Bad, func(a, b RowError) int { return cmp.Compare(a.Line, b.Line) })
	return run.sum, err
}

// importRun is the state of one Import.
type importRun struct {
	Importer
	in  *countingReader
	sum Summary

	events []flows.Event // validated, not stored yet
	lines  []int         // lines[k] is the line of events[k]
}

func (run *importRun) reject(line int, format string, args ...any) {
	run.sum.Rejected++
	run.sum.Bad = append(run.sum.Bad, RowError{Line: line, Reason: fmt.Sprintf(format, args...)})
}

func (run *importRun) read(ctx context.Context) error {
	cr := csv.NewReader(run.in)
	cr.ReuseRecord = true
	header, err := cr.Read()
	switch {
	case errors.Is(err, io.EOF):
		return errors.New("the file is empty: the first row must name the columns")
	case err != nil:
		return fmt.Errorf("reading the header: %w", err)
	}
	cols, err := parseHeader(header)
	if err != nil {
		return err
	}
	cr.FieldsPerRecord = len(header)

	now := run.Now()
	var validator flows.EventValidator
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var perr *csv.ParseError
		switch {
		case errors.As(err, &perr) && errors.Is(perr.Err, csv.ErrFieldCount):
			run.sum.Rows++
			run.reject(perr.StartLine, "has %d fields, the header has %d", len(rec), len(header))
			continue
		case errors.As(err, &perr):
			run.sum.Rows++
			run.reject(perr.StartLine, "is not valid CSV: %v", perr.Err)
			continue
		case err != nil:
			return fmt.Errorf("reading the file after %d rows: %w", run.sum.Rows, err)
		}
		line, _ := cr.FieldPos(0)
		run.sum.Rows++
		e, err := validator.Validate(cols.event(rec), now)
		if err != nil {
			run.reject(line, "%v", err)
			continue
		}
		run.events, run.lines = append(run.events, e), append(run.lines, line)
		if len(run.events) >= run.Batch {
			if err := run.flush(ctx); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("stopped after line %d: %w", line, err)
			}
		}
	}
	return run.flush(ctx)
}

// flush stores the pending events and counts what the store did with each.
func (run *importRun) flush(ctx context.Context) error {
	if len(run.events) == 0 {
		return nil
	}
	results, err := run.Events.SaveEvents(ctx, run.events)
	if err != nil {
		return fmt.Errorf("storing the rows of lines %d to %d: %w (rows before them are stored; importing again is safe)",
			run.lines[0], run.lines[len(run.lines)-1], err)
	}
	for k, r := range results {
		switch {
		case r.Err != nil:
			run.reject(run.lines[k], "%v", r.Err)
		case r.Created:
			run.sum.Created++
		default:
			run.sum.Duplicates++
		}
	}
	run.events, run.lines = run.events[:0], run.lines[:0]
	if run.Progress != nil {
		run.Progress(Progress{
			Rows: run.sum.Rows, Created: run.sum.Created, Duplicates: run.sum.Duplicates, Rejected: run.sum.Rejected,
			BytesRead: run.in.n,
		})
	}
	return nil
}

// columns maps a header to event fields.
type columns struct {
	known map[string]int // column name → index
	attrs map[int]string // index → attribute key
}

// parseHeader reads the first row: names are case-insensitive for the known
// columns, and a byte order mark (as spreadsheets write) is dropped.
func parseHeader(header []string) (columns, error) {
	cols := columns{known: make(map[string]int), attrs: make(map[int]string)}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		lower := strings.ToLower(h)
		switch {
		case h == "":
			return columns{}, fmt.Errorf("header column %d has no name", i+1)
		case slices.Contains(Columns(), lower):
			if _, dup := cols.known[lower]; dup {
				return columns{}, fmt.Errorf("header names column %q twice", lower)
			}
			cols.known[lower] = i
		default:
			key := h
			if len(key) > len(attributePrefix) && strings.EqualFold(key[:len(attributePrefix)], attributePrefix) {
				key = key[len(attributePrefix):]
			}
			for _, k := range cols.attrs {
				if k == key {
					return columns{}, fmt.Errorf("header names attribute %q twice", key)
				}
			}
			cols.attrs[i] = key
		}
	}
	var missing []string
	for _, c := range Columns()[:requiredColumns] {
		if _, ok := cols.known[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return columns{}, fmt.Errorf("the header has no column %s (the first row must name the columns; id, customer_ref, touchpoint and occurred_at are required)",
			strings.Join(missing, ", "))
	}
	return cols, nil
}

// event maps one record; an empty cell is no attribute.
func (c columns) event(rec []string) flows.EventInput {
	field := func(name string) string {
		if i, ok := c.known[name]; ok {
			return rec[i]
		}
		return ""
	}
	in := flows.EventInput{
		ID:             field("id"),
		CustomerRef:    field("customer_ref"),
		Touchpoint:     field("touchpoint"),
		OccurredAt:     field("occurred_at"),
		TelegramChatID: field("telegram_chat_id"),
		WeChatOpenID:   field("wechat_openid"),
		Language:       field("language"),
		TimeZone:       field("timezone"),
	}
	for i, key := range c.attrs {
		if v := strings.TrimSpace(rec[i]); v != "" {
			if in.Attributes == nil {
				in.Attributes = make(map[string]string, len(c.attrs))
			}
			in.Attributes[key] = v
		}
	}
	return in
}

// countingReader counts the bytes read, for progress reports.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
