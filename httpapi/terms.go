package httpapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/cxbot/cxbot/flows"
)

// Comments streams the text answers of a report's period with their
// response's class.
type Comments interface {
	EachComment(ctx context.Context, q flows.ReportQuery, fn func(class flows.Class, text string) error) error
}

// WordSegmenter cuts a comment into the words worth counting (Chinese by
// word segmentation).
type WordSegmenter interface {
	Words(text string) ([]string, error)
}

// termsReport serves GET /api/v1/reports/terms.
func (s *Server) termsReport(w http.ResponseWriter, r *http.Request) {
	q, err := s.reportQuery(r.URL.Query(), "the terms report")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	counts := flows.NewTermCounts()
	err = s.cfg.Comments.EachComment(r.Context(), q, func(class flows.Class, text string) error {
		words, err := s.cfg.Words.Words(text)
		if err != nil {
			return fmt.Errorf("segment a comment: %w", err)
		}
		counts.Add(class, words)
		return nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, flows.NewTermsReport(q, counts))
}
