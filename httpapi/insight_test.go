package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

type fakeInsight struct {
	t               *testing.T
	ScoreReportFn   func(ctx context.Context, kind flows.Kind, q flows.ReportQuery) (flows.ScoreReport, error)
	FunnelReportFn  func(ctx context.Context, q flows.ReportQuery) (flows.FunnelReport, error)
	HandoffReportFn func(ctx context.Context, q flows.ReportQuery) (flows.HandoffReport, error)
}

func (f *fakeInsight) HandoffReport(ctx context.Context, q flows.ReportQuery) (flows.HandoffReport, error) {
	if f.HandoffReportFn == nil {
		f.t.Error("unexpected call to Insight.HandoffReport")
		return flows.HandoffReport{}, nil
	}
	return f.HandoffReportFn(ctx, q)
}

func (f *fakeInsight) ScoreReport(ctx context.Context, kind flows.Kind, q flows.ReportQuery) (flows.ScoreReport, error) {
	if f.ScoreReportFn == nil {
		f.t.Error("unexpected call to Insight.ScoreReport")
		return flows.ScoreReport{}, nil
	}
	return f.ScoreReportFn(ctx, kind, q)
}

func (f *fakeInsight) FunnelReport(ctx context.Context, q flows.ReportQuery) (flows.FunnelReport, error) {
	if f.FunnelReportFn == nil {
		f.t.Error("unexpected call to Insight.FunnelReport")
		return flows.FunnelReport{}, nil
	}
	return f.FunnelReportFn(ctx, q)
}

func TestScoreReports(t *testing.T) {
	a := newFakeAPI(t)
	a.convs.SurveysFn = testSurveys
	type call struct {
		kind flows.Kind
		q    flows.ReportQuery
	}
	var calls []call
	a.insight.ScoreReportFn = func(_ context.Context, kind flows.Kind, q flows.ReportQuery) (flows.ScoreReport, error) {
		calls = append(calls, call{kind, q})
		return flows.NewScoreReport(kind, q, []flows.ClassCount{
			{Class: flows.ClassPromoter, N: 5, ScoreSum: 50}, {Class: flows.ClassPassive, N: 3, ScoreSum: 24}, {Class: flows.ClassDetractor, N: 2, ScoreSum: 4},
		}, nil), nil
	}
	var nps struct {
		Survey, TZ                                 string
		Responses, Promoters, Passives, Detractors int
		NPS                                        float64
		Total                                      flows.ScoreSummary
	}
	r := a.do(http.MethodGet, "/api/v1/reports/nps?survey=post_purchase_nps", "")
	r.json(t, &nps)
	// The first release's top-level counts stay.
	if r.code != http.StatusOK || nps.Responses != 10 || nps.Promoters != 5 || nps.Passives != 3 || nps.Detractors != 2 || nps.NPS != 30 ||
		nps.Total.Score == nil || *nps.Total.Score != 30 || nps.TZ != "UTC" {
		t.Fatalf("nps = %d %s", r.code, r.body)
	}
	if q := calls[0].q; q.To.Sub(q.From) != flows.DefaultReportPeriod || time.Since(q.To) > time.Minute {
		t.Errorf("default period = %v .. %v", q.From, q.To)
	}
	r = a.do(http.MethodGet, "/api/v1/reports/csat?survey=post_purchase_nps&wave=w1&from=2026-01-01&to=2026-02-01&group_by=week&tz=Asia/Shanghai&attr.store=SH-01", "")
	c := calls[1]
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	if r.code != http.StatusOK || c.kind != flows.KindCSAT || c.q.Wave != "w1" || c.q.GroupBy != flows.GroupWeek || c.q.TZ.String() != "Asia/Shanghai" ||
		!c.q.From.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, shanghai)) || !c.q.To.Equal(time.Date(2026, 2, 1, 0, 0, 0, 0, shanghai)) ||
		c.q.Attributes["store"] != "SH-01" {
		t.Fatalf("csat = %d %s (query %+v)", r.code, r.body, c.q)
	}

	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{"nps?survey=nope", http.StatusNotFound, `survey "nope" not found`},
		{"nps?from=last+week", http.StatusBadRequest, `from="last week" is not an RFC 3339 time or a YYYY-MM-DD date`},
		{"nps?to=2026-13-01", http.StatusBadRequest, `to="2026-13-01" is not an RFC 3339 time or a YYYY-MM-DD date`},
		{"nps?from=2026-02-01&to=2026-01-01", http.StatusBadRequest, `from (2026-02-01T00:00:00Z) must be before to (2026-01-01T00:00:00Z)`},
		{"nps?tz=Mars/Olympus", http.StatusBadRequest, `tz="Mars/Olympus" is not an IANA time zone such as Asia/Shanghai`},
		{"nps?group_by=store%3Bdrop", http.StatusBadRequest, `group_by="store;drop": use day, week, month, touchpoint, wave, survey, channel, language or an event attribute name (letters, digits, _ . -)`},
		{"nps?attr.a%27b=1", http.StatusBadRequest, `attribute filter "a'b": names are letters, digits, _ . - (at most 64)`},
		{"nps?group_by=day&from=2020-01-01&to=2026-01-01", http.StatusBadRequest, `group_by=day over this period gives 1001 buckets, more than 1000: shorten the period or use a longer interval`},
		{"mood", http.StatusNotFound, `no report "mood": use nps, csat, ces, funnel, handoffs or terms`},
		{"nps?attr.store=SH-01&attr.store=SH-02", http.StatusBadRequest, `attr.store given 2 times: filter one value per attribute`},
		{"funnel?group_by=store", http.StatusBadRequest, `group_by="store": the funnel report cannot be grouped; leave group_by out`},
		{"terms?group_by=foo", http.StatusBadRequest, `group_by="foo": the terms report cannot be grouped; leave group_by out`},
	} {
		r := a.do(http.MethodGet, "/api/v1/reports/"+tc.path, "")
		if r.code != tc.code || r.errorText(t) != tc.want {
			t.Errorf("%s = %d %s; want %d %q", tc.path, r.code, r.body, tc.code, tc.want)
		}
	}
	if len(calls) != 2 {
		t.Fatalf("ScoreReport called %d times; refused queries must not reach it", len(calls))
	}

	a.insight.ScoreReportFn = func(context.Context, flows.Kind, flows.ReportQuery) (flows.ScoreReport, error) {
		return flows.ScoreReport{}, fmt.Errorf("nps query: %w", flows.ErrUnavailable)
	}
	if r := a.do(http.MethodGet, "/api/v1/reports/nps", ""); r.code != http.StatusServiceUnavailable {
		t.Fatalf("report with the database down = %d %s", r.code, r.body)
	}
}

func TestHandoffReportRoute(t *testing.T) {
	a := newFakeAPI(t)
	a.insight.HandoffReportFn = func(_ context.Context, q flows.ReportQuery) (flows.HandoffReport, error) {
		return flows.NewHandoffReport(q, []flows.HandoffCounts{{Cases: 2, Claimed: 1, ClaimSeconds: 90, FollowUps: 1, Recovered: 1}}), nil
	}
	var rep flows.HandoffReport
	r := a.do(http.MethodGet, "/api/v1/reports/handoffs?tz=Asia/Shanghai", "")
	r.json(t, &rep)
	if r.code != http.StatusOK || rep.Total.Cases != 2 || *rep.Total.MinutesToClaim != 1.5 || *rep.Total.RecoveredPct != 100 || rep.TZ != "Asia/Shanghai" {
		t.Fatalf("handoffs = %d %s", r.code, r.body)
	}
}

func TestFunnelReportRoute(t *testing.T) {
	a := newFakeAPI(t)
	a.convs.SurveysFn = testSurveys
	a.insight.FunnelReportFn = func(_ context.Context, q flows.ReportQuery) (flows.FunnelReport, error) {
		return flows.NewFunnelReport(q, flows.FunnelCounts{Invited: 10, Sent: 9, Delivered: 8, Started: 4, Completed: 2, StoppedAt: map[string]int{"why": 2}}), nil
	}
	var rep flows.FunnelReport
	r := a.do(http.MethodGet, "/api/v1/reports/funnel?wave=w1", "")
	r.json(t, &rep)
	if r.code != http.StatusOK || len(rep.Steps) != 5 || rep.Steps[3].Count != 4 || *rep.Steps[3].StepRate != 50 || rep.Wave != "w1" ||
		len(rep.StoppedAt) != 1 || rep.StoppedAt[0].AfterQuestion != "why" {
		t.Fatalf("funnel = %d %s", r.code, r.body)
	}
}

type fakeResponses struct {
	t            *testing.T
	ListFn       func(ctx context.Context, f flows.ResponseFilter) ([]flows.ResponseRecord, error)
	AttributesFn func(ctx context.Context, f flows.ResponseFilter) ([]string, error)
}

func (f *fakeResponses) ListResponses(ctx context.Context, rf flows.ResponseFilter) ([]flows.ResponseRecord, error) {
	if f.ListFn == nil {
		f.t.Error("unexpected call to Responses.ListResponses")
		return nil, nil
	}
	return f.ListFn(ctx, rf)
}

func (f *fakeResponses) ResponseAttributes(ctx context.Context, rf flows.ResponseFilter) ([]string, error) {
	if f.AttributesFn == nil {
		f.t.Error("unexpected call to Responses.ResponseAttributes")
		return nil, nil
	}
	return f.AttributesFn(ctx, rf)
}

type fakeComments struct {
	t      *testing.T
	EachFn func(ctx context.Context, q flows.ReportQuery, fn func(class flows.Class, text string) error) error
}

func (f *fakeComments) EachComment(ctx context.Context, q flows.ReportQuery, fn func(class flows.Class, text string) error) error {
	if f.EachFn == nil {
		f.t.Error("unexpected call to Comments.EachComment")
		return nil
	}
	return f.EachFn(ctx, q, fn)
}

// spaceWords splits at spaces: the fakes' segmenter.
type spaceWords struct{}

func (spaceWords) Words(text string) ([]string, error) { return strings.Fields(text), nil }
