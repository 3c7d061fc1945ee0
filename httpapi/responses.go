package httpapi

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/cxbot/cxbot/flows"
)

// ResponseReader pages through stored responses for the list and the
// exports.
type ResponseReader interface {
	ListResponses(ctx context.Context, f flows.ResponseFilter) ([]flows.ResponseRecord, error)
	ResponseAttributes(ctx context.Context, f flows.ResponseFilter) ([]string, error)
}

// exportPage is how many responses an export reads at a time: memory
// stays flat whatever the number of rows.
const exportPage = 1000

type responsesJSON struct {
	Responses  []flows.ResponseRecord `json:"responses"`
	NextCursor string                 `json:"next_cursor"` // "" on the last page
}

// responseFilter reads the report parameters plus class, with_text, limit
// and cursor.
func (s *Server) responseFilter(q url.Values) (flows.ResponseFilter, error) {
	rq, err := s.reportQuery(q, "a list of responses")
	if err != nil {
		return flows.ResponseFilter{}, err
	}
	f := flows.ResponseFilter{ReportQuery: rq, Class: flows.Class(q.Get("class")), Limit: 50}
	if v := q.Get("with_text"); v != "" {
		if f.WithText, err = strconv.ParseBool(v); err != nil {
			return f, fmt.Errorf("%w: with_text=%q: use true or false", flows.ErrInvalid, v)
		}
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 {
			return f, fmt.Errorf("%w: limit=%q: 1 to %d", flows.ErrInvalid, v, flows.MaxResponsePage)
		}
	}
	if v := q.Get("cursor"); v != "" {
		if f.Before, err = strconv.ParseInt(v, 10, 64); err != nil || f.Before < 1 {
			return f, fmt.Errorf("%w: cursor=%q is not a cursor from next_cursor", flows.ErrInvalid, v)
		}
	}
	return f, f.Validate()
}

// listResponses serves GET /api/v1/responses: newest first, a page at a
// time; next_cursor fetches the next page.
func (s *Server) listResponses(w http.ResponseWriter, r *http.Request) {
	f, err := s.responseFilter(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f.Newest = true
	rows, err := s.cfg.Responses.ListResponses(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := responsesJSON{Responses: rows}
	if len(rows) == f.Limit {
		out.NextCursor = strconv.FormatInt(rows[len(rows)-1].ID, 10)
	}
	writeJSON(w, http.StatusOK, out)
}

// Export is a response export: one survey's responses the filter
// selects, one column per question and per attribute. The HTTP exports
// and "cxbot export" share it.
type Export struct {
	Questions, Attributes []string
	Filter                flows.ResponseFilter
	Responses             ResponseReader
}

// NewExport reads the attribute columns of the responses f selects.
func NewExport(ctx context.Context, rr ResponseReader, survey *flows.Survey, f flows.ResponseFilter) (Export, error) {
	e := Export{Filter: f, Responses: rr}
	for _, q := range survey.Questions {
		e.Questions = append(e.Questions, q.ID)
	}
	e.Filter.Survey, e.Filter.Limit, e.Filter.Before, e.Filter.Newest = survey.ID, exportPage, 0, false
	var err error
	if e.Attributes, err = rr.ResponseAttributes(ctx, e.Filter); err != nil {
		return Export{}, err
	}
	return e, nil
}

// each calls row with every selected response and its cells, a page at
// a time.
func (e Export) each(ctx context.Context, row func(flows.ResponseRecord, []string) error) error {
	f := e.Filter
	for {
		page, err := e.Responses.ListResponses(ctx, f)
		if err != nil {
			return err
		}
		for _, rec := range page {
			if err := row(rec, flows.ExportRow(rec, e.Questions, e.Attributes)); err != nil {
				return err
			}
		}
		if len(page) < f.Limit {
			return nil
		}
		f.After = page[len(page)-1].ID
	}
}

// WriteCSV writes the export as UTF-8 CSV with a byte-order mark (so
// spreadsheet programs read Chinese right), a page at a time; progress, if
// set, gets the number of rows written after each page.
func (e Export) WriteCSV(ctx context.Context, w io.Writer, progress func(rows int)) error {
	if _, err := w.Write([]byte("\uFEFF")); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(flows.ExportHeader(e.Questions, e.Attributes)); err != nil {
		return err
	}
	n := 0
	err := e.each(ctx, func(_ flows.ResponseRecord, cells []string) error {
		n++
		if n%exportPage == 0 {
			cw.Flush()
			if progress != nil {
				progress(n)
			}
		}
		return cw.Write(cells)
	})
	cw.Flush()
	if progress != nil {
		progress(n)
	}
	if err != nil {
		return err
	}
	return cw.Error()
}

// WriteXLSX writes the export as one sheet through excelize's stream
// writer, which keeps rows on disk past a small buffer; nothing reaches w
// before every row is read.
func (e Export) WriteXLSX(ctx context.Context, w io.Writer, progress func(rows int)) error {
	book := excelize.NewFile()
	defer func() { _ = book.Close() }()
	sheet := "responses"
	if err := book.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	sw, err := book.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	dateStyle, err := book.NewStyle(&excelize.Style{CustomNumFmt: ptr("yyyy-mm-dd hh:mm:ss")})
	if err != nil {
		return err
	}
	rowNum := 1
	writeRow := func(vals []any) error {
		cell, err := excelize.CoordinatesToCellName(1, rowNum)
		if err != nil {
			return err
		}
		rowNum++
		if progress != nil && rowNum%exportPage == 0 {
			progress(rowNum - 2)
		}
		return sw.SetRow(cell, vals)
	}
	header := flows.ExportHeader(e.Questions, e.Attributes)
	vals := make([]any, len(header))
	for i, h := range header {
		vals[i] = h
	}
	if err := writeRow(vals); err != nil {
		return err
	}
	err = e.each(ctx, func(rec flows.ResponseRecord, cells []string) error {
		return writeRow(xlsxCells(rec, cells, e.Questions, dateStyle))
	})
	if err != nil {
		return err
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	if progress != nil {
		progress(rowNum - 2)
	}
	_, err = book.WriteTo(w)
	return err
}

func (s *Server) prepareExport(r *http.Request) (Export, error) {
	f, err := s.responseFilter(r.URL.Query())
	if err != nil {
		return Export{}, err
	}
	if f.Survey == "" {
		return Export{}, fmt.Errorf("%w: query parameter survey is required: an export has one column per question of one survey", flows.ErrInvalid)
	}
	return NewExport(r.Context(), s.cfg.Responses, s.cfg.Conversations.Surveys()[f.Survey], f)
}

func exportName(f flows.ResponseFilter, ext string) string {
	return fmt.Sprintf(`attachment; filename="%s-responses-%s.%s"`, f.Survey, time.Now().UTC().Format("20060102"), ext)
}

// startedWriter sends the file's headers with its first byte, so an error
// before that can still be answered as JSON.
type startedWriter struct {
	w           http.ResponseWriter
	contentType string
	disposition string
	started     bool
}

func (sw *startedWriter) Write(p []byte) (int, error) {
	if !sw.started {
		sw.started = true
		sw.w.Header().Set("Content-Type", sw.contentType)
		sw.w.Header().Set("Content-Disposition", sw.disposition)
		sw.w.WriteHeader(http.StatusOK)
	}
	return sw.w.Write(p)
}

// serveExport writes an export; an error after the first byte aborts the
// response: the client sees a broken transfer, never a short file that
// looks complete.
func (s *Server) serveExport(w http.ResponseWriter, r *http.Request, ext, contentType string,
	write func(Export, context.Context, io.Writer, func(int)) error) {
	e, err := s.prepareExport(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := &startedWriter{w: w, contentType: contentType, disposition: exportName(e.Filter, ext)}
	if err := write(e, r.Context(), out, nil); err != nil {
		if !out.started {
			s.fail(w, r, err)
			return
		}
		s.cfg.Logger.Error("export failed after it started", "path", r.URL.Path, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// exportCSV serves GET /api/v1/exports/responses.csv.
func (s *Server) exportCSV(w http.ResponseWriter, r *http.Request) {
	s.serveExport(w, r, "csv", "text/csv; charset=utf-8", Export.WriteCSV)
}

// exportXLSX serves GET /api/v1/exports/responses.xlsx.
func (s *Server) exportXLSX(w http.ResponseWriter, r *http.Request) {
	s.serveExport(w, r, "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", Export.WriteXLSX)
}

// xlsxCells types an export row's cells for a spreadsheet, so that SUM,
// AVERAGE and sorting work: the response id and the scores are numbers,
// the times are dates (UTC, in dateStyle); the rest stays neutralised
// text (flows.ExportRow).
func xlsxCells(rec flows.ResponseRecord, cells []string, questions []string, dateStyle int) []any {
	vals := make([]any, len(cells))
	for i, c := range cells {
		vals[i] = c
	}
	vals[0] = rec.ID
	vals[7] = excelize.Cell{StyleID: dateStyle, Value: excelTime(rec.StartedAt)}
	if rec.CompletedAt != nil {
		vals[8] = excelize.Cell{StyleID: dateStyle, Value: excelTime(*rec.CompletedAt)}
	}
	first := make(map[string]bool, len(rec.Answers))
	for _, a := range rec.Answers {
		if first[a.QuestionID] {
			continue
		}
		first[a.QuestionID] = true
		if a.Score == nil || a.Skipped {
			continue
		}
		for i, q := range questions {
			if q == a.QuestionID {
				vals[9+i] = *a.Score
			}
		}
	}
	return vals
}

// excelTime is t's UTC wall clock: spreadsheet dates have no zone.
func excelTime(t time.Time) time.Time {
	u := t.UTC()
	return time.Date(u.Year(), u.Month(), u.Day(), u.Hour(), u.Minute(), u.Second(), 0, time.UTC)
}

func ptr[T any](v T) *T { return &v }
