package httpapi

import (
	"context"
	"encoding/csv"
	"fmt"
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
	rq, err := s.reportQuery(q)
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

// export is the shared part of the two export formats: the columns and a
// walk over every selected response in id order.
type export struct {
	questions, attributes []string
	filter                flows.ResponseFilter
}

func (s *Server) prepareExport(r *http.Request) (export, error) {
	f, err := s.responseFilter(r.URL.Query())
	if err != nil {
		return export{}, err
	}
	if f.Survey == "" {
		return export{}, fmt.Errorf("%w: query parameter survey is required: an export has one column per question of one survey", flows.ErrInvalid)
	}
	e := export{filter: f}
	for _, q := range s.cfg.Conversations.Surveys()[f.Survey].Questions {
		e.questions = append(e.questions, q.ID)
	}
	e.filter.Limit, e.filter.Before = exportPage, 0
	if e.attributes, err = s.cfg.Responses.ResponseAttributes(r.Context(), e.filter); err != nil {
		return export{}, err
	}
	return e, nil
}

// each calls row with every selected response's cells, a page at a time.
func (e export) each(ctx context.Context, rr ResponseReader, row func([]string) error) error {
	f := e.filter
	for {
		page, err := rr.ListResponses(ctx, f)
		if err != nil {
			return err
		}
		for _, rec := range page {
			if err := row(flows.ExportRow(rec, e.questions, e.attributes)); err != nil {
				return err
			}
		}
		if len(page) < f.Limit {
			return nil
		}
		f.After = page[len(page)-1].ID
	}
}

func exportName(f flows.ResponseFilter, ext string) string {
	return fmt.Sprintf(`attachment; filename="%s-responses-%s.%s"`, f.Survey, time.Now().UTC().Format("20060102"), ext)
}

// abortExport ends a response whose headers are out: the client sees a
// broken transfer, never a short file that looks complete.
func (s *Server) abortExport(r *http.Request, err error) {
	s.cfg.Logger.Error("export failed after it started", "path", r.URL.Path, "err", err)
	panic(http.ErrAbortHandler)
}

// exportCSV serves GET /api/v1/exports/responses.csv.
func (s *Server) exportCSV(w http.ResponseWriter, r *http.Request) {
	e, err := s.prepareExport(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", exportName(e.filter, "csv"))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("\uFEFF")) // a BOM, so spreadsheet programs read the file as UTF-8 (Chinese text)
	cw := csv.NewWriter(w)
	_ = cw.Write(flows.ExportHeader(e.questions, e.attributes))
	n := 0
	err = e.each(r.Context(), s.cfg.Responses, func(cells []string) error {
		n++
		if n%exportPage == 0 {
			cw.Flush()
		}
		return cw.Write(cells)
	})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	if err != nil {
		s.abortExport(r, err)
	}
}

// exportXLSX serves GET /api/v1/exports/responses.xlsx through excelize's
// stream writer, which keeps rows on disk past a small buffer.
func (s *Server) exportXLSX(w http.ResponseWriter, r *http.Request) {
	e, err := s.prepareExport(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	book := excelize.NewFile()
	defer func() { _ = book.Close() }()
	sheet := "responses"
	if err := book.SetSheetName("Sheet1", sheet); err != nil {
		s.fail(w, r, err)
		return
	}
	sw, err := book.NewStreamWriter(sheet)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rowNum := 1
	writeRow := func(cells []string) error {
		vals := make([]any, len(cells))
		for i, c := range cells {
			vals[i] = c
		}
		cell, err := excelize.CoordinatesToCellName(1, rowNum)
		if err != nil {
			return err
		}
		rowNum++
		return sw.SetRow(cell, vals)
	}
	if err := writeRow(flows.ExportHeader(e.questions, e.attributes)); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := e.each(r.Context(), s.cfg.Responses, writeRow); err != nil {
		s.fail(w, r, err) // nothing sent yet: the book is written at the end
		return
	}
	if err := sw.Flush(); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", exportName(e.filter, "xlsx"))
	w.WriteHeader(http.StatusOK)
	if err := book.Write(w); err != nil {
		s.abortExport(r, err)
	}
}
