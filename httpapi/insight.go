package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// Insight reads the marketers' reports from SQL.
type Insight interface {
	ScoreReport(ctx context.Context, kind flows.Kind, q flows.ReportQuery) (flows.ScoreReport, error)
	FunnelReport(ctx context.Context, q flows.ReportQuery) (flows.FunnelReport, error)
	HandoffReport(ctx context.Context, q flows.ReportQuery) (flows.HandoffReport, error)
}

// npsReportJSON is the NPS report with the top-level counts of the first
// release's reports/nps, which its clients still read.
type npsReportJSON struct {
	flows.ScoreReport
	Responses  int     `json:"responses"`
	Promoters  int     `json:"promoters"`
	Passives   int     `json:"passives"`
	Detractors int     `json:"detractors"`
	NPS        float64 `json:"nps"`
}

// reportQuery reads the parameters every report shares: survey, wave,
// from, to (RFC 3339 or a date, midnight in tz), group_by, tz and
// attr.<name>=<value> filters. ungrouped names the reader, when it cannot
// group: a group_by it would ignore is refused rather than dropped.
func (s *Server) reportQuery(q url.Values, ungrouped string) (flows.ReportQuery, error) {
	var rq flows.ReportQuery
	rq.TZ = time.UTC
	if tz := q.Get("tz"); tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil || tz == "Local" {
			return rq, fmt.Errorf("%w: tz=%q is not an IANA time zone such as Asia/Shanghai", flows.ErrInvalid, tz)
		}
		rq.TZ = loc
	}
	rq.Survey = q.Get("survey")
	if rq.Survey != "" {
		if _, ok := s.cfg.Conversations.Surveys()[rq.Survey]; !ok {
			return rq, fmt.Errorf("%w: survey %q", flows.ErrNotFound, rq.Survey)
		}
	}
	rq.Wave = q.Get("wave")
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &rq.From}, {"to", &rq.To}} {
		t, err := localTimeParam(q.Get(p.name), p.name, rq.TZ)
		if err != nil {
			return rq, err
		}
		*p.dst = t
	}
	rq.GroupBy = flows.GroupBy(q.Get("group_by"))
	if rq.GroupBy != flows.GroupNone && ungrouped != "" {
		return rq, fmt.Errorf("%w: group_by=%q: %s cannot be grouped; leave group_by out", flows.ErrInvalid, string(rq.GroupBy), ungrouped)
	}
	for k, vs := range q {
		if name, ok := strings.CutPrefix(k, "attr."); ok {
			// One value per attribute: several would have to be ORed,
			// which the summary tables cannot count; refused, not dropped.
			if len(vs) > 1 {
				return rq, fmt.Errorf("%w: %s given %d times: filter one value per attribute", flows.ErrInvalid, k, len(vs))
			}
			if rq.Attributes == nil {
				rq.Attributes = map[string]string{}
			}
			rq.Attributes[name] = vs[0]
		}
	}
	return rq.Normalize(time.Now())
}

// localTimeParam is timeParam with plain dates at midnight in tz.
func localTimeParam(v, name string, tz *time.Location) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, v, tz); err == nil {
		return t, nil
	}
	t, err := timeParam(v, name)
	if err != nil {
		return time.Time{}, err
	}
	return *t, nil
}

// report serves GET /api/v1/reports/{report}.
func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("report")
	kind, isScore := flows.ParseReportKind(name)
	if !isScore && name != "funnel" && name != "handoffs" {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no report %q: use nps, csat, ces, funnel, handoffs or terms", name))
		return
	}
	ungrouped := ""
	if name == "funnel" {
		ungrouped = "the funnel report"
	}
	q, err := s.reportQuery(r.URL.Query(), ungrouped)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if name == "handoffs" {
		rep, err := s.cfg.Insight.HandoffReport(r.Context(), q)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, rep)
		return
	}
	if !isScore {
		rep, err := s.cfg.Insight.FunnelReport(r.Context(), q)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, rep)
		return
	}
	rep, err := s.cfg.Insight.ScoreReport(r.Context(), kind, q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if kind != flows.KindNPS {
		writeJSON(w, http.StatusOK, rep)
		return
	}
	out := npsReportJSON{ScoreReport: rep, Responses: rep.Total.Responses,
		Promoters: rep.Total.Classes[flows.ClassPromoter], Passives: rep.Total.Classes[flows.ClassPassive],
		Detractors: rep.Total.Classes[flows.ClassDetractor]}
	if rep.Total.Score != nil {
		out.NPS = *rep.Total.Score
	}
	writeJSON(w, http.StatusOK, out)
}
