package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/store/sqlstore"
)

// runDemo runs `cxbot demo` on dbURL and returns its output.
func runDemo(t *testing.T, dbURL string, customers int) string {
	t.Helper()
	var out, errOut strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute) // under -race beside the other slow tests
	defer cancel()
	code := run(ctx, []string{"demo", "--customers", fmt.Sprint(customers), "--config-dir", "../../configs", "--db", dbURL}, envOf(nil), &out, &errOut)
	if code != 0 {
		t.Fatalf("demo exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	return out.String()
}

type scoreGroupResult struct {
	Key       string   `json:"key"`
	Responses int      `json:"responses"`
	Score     *float64 `json:"score"`
}

type scoreReportResult struct {
	Total struct {
		Responses int                 `json:"responses"`
		Classes   map[flows.Class]int `json:"classes"`
	} `json:"total"`
	Groups []scoreGroupResult `json:"groups"`
}

// The demo leaves a database the dashboard has something to show on: eight
// weeks of NPS, CSAT and CES in four stores and three touchpoints, every
// class, comments with terms, and cases claimed, resolved and recovered.
// A second run adds its live conversations and no history; its report
// check still passes. On SQLite and, with CXBOT_TEST_POSTGRES_URL, on
// PostgreSQL.
func TestDemoLeavesDashboardData(t *testing.T) {
	t.Parallel() // slow and self-contained (own database, Redis prefix, fakes, ports): runs beside the other slow ones
	for _, st := range stacks(t) {
		t.Run(st.name, func(t *testing.T) {
			dbURL := st.databaseURL(t)
			first := runDemo(t, dbURL, 4)
			between := time.Now().UTC().Truncate(time.Second).Add(time.Second)
			for _, want := range []string{"History: 8 weeks", "cases worked by 3 agents", "live run 1", "matches what the customers answered",
				"CXBOT_DATABASE_URL='" + dbURL + "'", "CXBOT_API_TOKEN=", " serve", "http://127.0.0.1:8080/", "sign in with the token"} {
				if !strings.Contains(first, want) {
					t.Errorf("first run's output lacks %q:\n%s", want, first)
				}
			}
			time.Sleep(1100 * time.Millisecond) // the second run's answers fall after between
			second := runDemo(t, dbURL, 4)
			for _, want := range []string{"History: there from an earlier run, nothing added.", "live run 2", "C2-01", "matches what the customers answered"} {
				if !strings.Contains(second, want) {
					t.Errorf("second run's output lacks %q:\n%s", want, second)
				}
			}

			h := start(t, st, options{dbURL: dbURL})
			from := time.Now().UTC().AddDate(0, 0, -7*historyWeeks-1).Format(time.DateOnly)
			report := func(path string) scoreReportResult {
				t.Helper()
				var r scoreReportResult
				if code := h.api("GET", path, nil, &r); code != 200 {
					t.Fatalf("GET %s: %d %+v", path, code, r)
				}
				return r
			}
			nonEmpty := func(gs []scoreGroupResult) (n int) {
				for _, g := range gs {
					if g.Responses > 0 {
						n++
					}
				}
				return n
			}

			weekly := report("/api/v1/reports/nps?group_by=week&tz=Asia/Shanghai&from=" + from)
			if n := nonEmpty(weekly.Groups); n < historyWeeks {
				t.Errorf("weekly NPS trend has %d weeks with answers, want ≥ %d: %+v", n, historyWeeks, weekly.Groups)
			}
			daily := report("/api/v1/reports/nps?group_by=day&tz=Asia/Shanghai&from=" + from)
			if n := nonEmpty(daily.Groups); n < 7*historyWeeks {
				t.Errorf("daily NPS trend has %d days with answers, want ≥ %d", n, 7*historyWeeks)
			}
			// A believable trend: the last four weeks score better than the first four.
			var early, late []scoreGroupResult
			for i, g := range weekly.Groups {
				if g.Responses > 0 && g.Score != nil {
					if i < len(weekly.Groups)/2 {
						early = append(early, g)
					} else {
						late = append(late, g)
					}
				}
			}
			mean := func(gs []scoreGroupResult) float64 {
				s := 0.0
				for _, g := range gs {
					s += *g.Score
				}
				return s / float64(max(1, len(gs)))
			}
			if mean(late) <= mean(early) {
				t.Errorf("NPS does not improve: first weeks %.1f, last weeks %.1f", mean(early), mean(late))
			}
			for _, c := range []flows.Class{flows.ClassPromoter, flows.ClassPassive, flows.ClassDetractor} {
				if weekly.Total.Classes[c] == 0 {
					t.Errorf("no %s in the NPS report: %+v", c, weekly.Total)
				}
			}
			stores := report("/api/v1/reports/nps?group_by=store&from=" + from)
			if n := nonEmpty(stores.Groups); n < 3 {
				t.Errorf("store breakdown has %d stores, want ≥ 3: %+v", n, stores.Groups)
			}
			touchpoints := map[string]bool{}
			for _, kind := range []string{"nps", "csat"} {
				for _, g := range report("/api/v1/reports/" + kind + "?group_by=touchpoint&from=" + from).Groups {
					if g.Responses > 0 {
						touchpoints[g.Key] = true
					}
				}
			}
			for _, tp := range []string{"purchase", "order_delivered", "ticket_closed"} {
				if !touchpoints[tp] {
					t.Errorf("no answers at touchpoint %s: %v", tp, touchpoints)
				}
			}
			for _, kind := range []string{"csat", "ces"} {
				r := report("/api/v1/reports/" + kind + "?group_by=week&from=" + from)
				if nonEmpty(r.Groups) < historyWeeks || len(r.Total.Classes) < 2 {
					t.Errorf("%s: %d weeks with answers, classes %v", kind, nonEmpty(r.Groups), r.Total.Classes)
				}
				for c, n := range r.Total.Classes {
					if n == 0 {
						t.Errorf("%s: no %s answers: %v", kind, c, r.Total.Classes)
					}
				}
			}

			var terms struct {
				UnhappyComments int `json:"unhappy_comments"`
				HappyComments   int `json:"happy_comments"`
				Terms           []struct {
					Term    string `json:"term"`
					Unhappy int    `json:"unhappy"`
				} `json:"terms"`
			}
			if code := h.api("GET", "/api/v1/reports/terms?from="+from, nil, &terms); code != 200 {
				t.Fatalf("terms report: %d", code)
			}
			found := map[string]bool{}
			for _, term := range terms.Terms {
				if term.Unhappy > 0 {
					found[term.Term] = true
				}
			}
			if terms.UnhappyComments < 20 || terms.HappyComments == 0 || !found["物流"] || !found["delivery"] {
				t.Errorf("terms report: %d unhappy and %d happy comments, unhappy terms %v", terms.UnhappyComments, terms.HappyComments, found)
			}
			var comments struct {
				Responses []map[string]any `json:"responses"`
			}
			if code := h.api("GET", "/api/v1/responses?with_text=true&limit=50&from="+from, nil, &comments); code != 200 || len(comments.Responses) < 50 {
				t.Errorf("responses with comments: %d, %d", code, len(comments.Responses))
			}

			var desk struct {
				Total struct {
					Cases, Claimed, Resolved int
					FollowUps                int `json:"follow_ups"`
					Recovered                int
					Outcomes                 map[string]int
				} `json:"total"`
			}
			if code := h.api("GET", "/api/v1/reports/handoffs?from="+from, nil, &desk); code != 200 {
				t.Fatalf("handoff report: %d", code)
			}
			d := desk.Total
			if d.Cases < 50 || d.Resolved < d.Cases/2 || d.Claimed <= d.Resolved || d.Cases <= d.Claimed ||
				d.FollowUps == 0 || d.Recovered == 0 || d.Recovered == d.FollowUps || d.Outcomes["no_answer"] == 0 {
				t.Errorf("handoff report: %+v", d)
			}

			// The second run added its 4 live answers and no history.
			before := report("/api/v1/reports/nps?from=" + from + "&to=" + between.Format(time.RFC3339))
			after := report("/api/v1/reports/nps?from=" + from)
			if after.Total.Responses != before.Total.Responses+4 {
				t.Errorf("%d NPS answers after the first run, %d after the second: want 4 more", before.Total.Responses, after.Total.Responses)
			}
		})
	}
}

// Seeding the history again, a day and a half later, finds every fixed
// event id and writes nothing.
func TestDemoHistoryOnce(t *testing.T) {
	t.Parallel() // slow and self-contained (own database, Redis prefix, fakes, ports): runs beside the other slow ones
	for _, st := range stacks(t) {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := sqlstore.Open(ctx, st.databaseURL(t), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			surveys, err := flows.LoadSurveys(filepath.Join("..", "..", "configs", "surveys"))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range surveys {
				if s.Version, err = db.SaveSurvey(ctx, s); err != nil {
					t.Fatal(err)
				}
			}
			now := time.Now()
			got, err := seedHistory(ctx, db, surveys, now)
			if err != nil {
				t.Fatal(err)
			}
			if got.Invitations < 500 || got.Responses < got.Invitations/2 || got.Handoffs < 50 {
				t.Fatalf("first seeding: %+v", got)
			}
			again, err := seedHistory(ctx, db, surveys, now.Add(36*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if again.Invitations != 0 || again.Responses != 0 || again.Handoffs != 0 {
				t.Errorf("second seeding added %+v", again)
			}
			if _, err := seedHistory(ctx, db, map[string]*flows.Survey{}, now); err == nil || !strings.Contains(err.Error(), "needs survey") {
				t.Errorf("without the surveys: %v", err)
			}
		})
	}
}

// A --db in a folder that does not exist is refused before anything runs.
func TestDemoBadDatabase(t *testing.T) {
	var out, errOut strings.Builder
	dir := filepath.Join(t.TempDir(), "missing", "demo.db")
	code := run(context.Background(), []string{"demo", "--config-dir", "../../configs", "--db", dir}, envOf(nil), &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "--db "+dir) || !strings.Contains(errOut.String(), "does not exist") {
		t.Errorf("exit %d, %q", code, errOut.String())
	}
}
