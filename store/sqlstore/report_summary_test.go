package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// legacyClassCounts is the score reports' query before the summary
// (migration 10): every answer of the kind joined to its response and
// invitation, first of its kind by a correlated check. The reference the
// summary and roll-ups must agree with.
func legacyClassCounts(t *testing.T, db *DB, kind flows.Kind, q flows.ReportQuery) []flows.ClassCount {
	t.Helper()
	group, groupArgs := db.groupExpr(q, "a.answered_at")
	switch q.GroupBy {
	case flows.GroupWave:
		group = "i.wave_id"
	case flows.GroupSurvey:
		group = "r.survey_id"
	case flows.GroupChannel:
		group = "r.channel"
	case flows.GroupLanguage:
		group = "r.language"
	}
	if a := q.GroupBy.Attribute(); a != "" {
		expr, arg := db.dialect.contextAttr("i.context", a)
		group, groupArgs = "COALESCE("+expr+", '')", []any{arg}
	}
	f := db.filterFor(q, "r.survey_id")
	sql := `SELECT ` + group + ` AS grp, a.class AS class, COUNT(*) AS n, COALESCE(SUM(a.score), 0) AS score_sum
FROM answers a
JOIN responses r ON r.id = a.response_id
JOIN invitations i ON i.id = r.invitation_id
WHERE a.kind = ? AND a.skipped = ? AND a.answered_at >= ? AND a.answered_at < ?
  AND NOT EXISTS (SELECT 1 FROM answers p
    WHERE p.response_id = a.response_id AND p.kind = a.kind AND p.skipped = ? AND p.id < a.id)`
	args := append(groupArgs, string(kind), false, sqlTime(q.From), sqlTime(q.To), false)
	for _, w := range f.where {
		sql += "\n  AND " + w
	}
	args = append(args, f.args...)
	var rows []struct {
		Grp, Class string
		N          int
		ScoreSum   int64
	}
	if err := db.conn(sqlTestCtx(t)).Raw(sql+"\nGROUP BY 1, 2", args...).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := make([]flows.ClassCount, len(rows))
	for i, r := range rows {
		out[i] = flows.ClassCount{Group: r.Grp, Class: flows.Class(r.Class), N: r.N, ScoreSum: r.ScoreSum}
	}
	return out
}

// randomInsight is n responses at odd minutes over five days from
// insightT0: several NPS answers (some skipped first), CSAT now and then, a
// store on most, two waves, both channels.
func randomInsight(rng *rand.Rand, n int) []insightResponse {
	var out []insightResponse
	for range n {
		r := insightResponse{survey: []string{"delivery", "service"}[rng.IntN(2)], wave: fmt.Sprint("w", rng.IntN(2)),
			at:       insightT0.Add(time.Duration(rng.IntN(5*24*60)) * time.Minute).Add(time.Duration(rng.IntN(60)) * time.Second),
			complete: rng.IntN(2) == 0}
		if rng.IntN(3) == 0 {
			r.channel, r.language = flows.ChannelWeChat, "zh-CN"
		}
		if k := rng.IntN(4); k > 0 {
			r.context = map[string]string{"store": fmt.Sprint("S-", k), "touchpoint": "purchase"}
		}
		if rng.IntN(4) == 0 {
			r.answers = append(r.answers, flows.Answer{QuestionID: "skip", Kind: flows.KindNPS, Skipped: true})
		}
		r.answers = append(r.answers, npsAnswer("nps", rng.IntN(11)))
		if rng.IntN(3) == 0 {
			r.answers = append(r.answers, npsAnswer("nps2", rng.IntN(11)))
		}
		if rng.IntN(2) == 0 {
			r.answers = append(r.answers, csatAnswer("csat", 1+rng.IntN(5)))
		}
		r.answers = append(r.answers, textAnswer("why", "物流 delivery"))
		out = append(out, r)
	}
	return out
}

// TestSQLReportSummaryMatchesAnswers checks the summary and its roll-ups
// against the former query over random data, with part of the rows rolled
// up and part not, for periods that start and end mid-hour, every grouping,
// zones whose midnight is not on the UTC hour, and every filter.
func TestSQLReportSummaryMatchesAnswers(t *testing.T) {
	zones := []string{"UTC", "Asia/Shanghai", "Asia/Kolkata", "America/New_York"}
	eachSQL(t, func(t *testing.T, db *DB) {
		// 1,408 reports: under the race detector on SQLite they take longer
		// than sqlTestCtx's 30 s, so this test has its own bound.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		rng := rand.New(rand.NewPCG(11, 12))
		seedInsightAs(t, db, "a-", randomInsight(rng, 60))
		if n, err := db.rollUpReports(ctx); err != nil || n == 0 {
			t.Fatalf("roll-up moved %d rows, %v", n, err)
		}
		seedInsightAs(t, db, "b-", randomInsight(rng, 40)) // not rolled up
		var unrolled int64
		if err := db.gorm.Raw("SELECT COUNT(*) FROM report_answers WHERE NOT rolled").Scan(&unrolled).Error; err != nil || unrolled == 0 {
			t.Fatalf("%d rows not rolled up, %v", unrolled, err)
		}
		compared := 0
		for _, zone := range zones {
			tz, err := time.LoadLocation(zone)
			if err != nil {
				t.Fatal(err)
			}
			for _, period := range [][2]time.Duration{
				{37 * time.Minute, 4*24*time.Hour + 13*time.Minute}, // mid-hour bounds
				{0, 5 * 24 * time.Hour},                             // whole days
				{90 * time.Minute, 150 * time.Minute},               // under two hours
				{26 * time.Hour, 3*24*time.Hour - 10*time.Second},
			} {
				for _, g := range []flows.GroupBy{flows.GroupNone, flows.GroupDay, flows.GroupWeek, flows.GroupMonth, flows.GroupWave,
					flows.GroupSurvey, flows.GroupChannel, flows.GroupLanguage, "store", flows.GroupTouchpoint, "sku"} {
					for _, filter := range []flows.ReportQuery{{}, {Survey: "delivery"}, {Wave: "w1"},
						{Survey: "delivery", Attributes: map[string]string{"store": "S-2"}}} {
						for _, kind := range []flows.Kind{flows.KindNPS, flows.KindCSAT} {
							q := filter
							q.From, q.To, q.GroupBy, q.TZ = insightT0.Add(period[0]), insightT0.Add(period[1]), g, tz
							want := flows.NewScoreReport(kind, q, legacyClassCounts(t, db, kind, q), legacyClassCounts(t, db, kind, q.Previous()))
							got, err := db.ScoreReport(ctx, kind, q)
							if g == "sku" { // nobody has it: refused rather than one group ""
								if !errors.Is(err, flows.ErrInvalid) {
									t.Fatalf("by sku: %v", err)
								}
								continue
							}
							if err != nil {
								t.Fatal(err)
							}
							if g, w := reportJSON(t, got), reportJSON(t, want); g != w {
								t.Fatalf("%s %s %v..%v by %q %+v:\n got %s\nwant %s", kind, zone, q.From, q.To, q.GroupBy, filter, g, w)
							}
							compared++
						}
					}
				}
			}
			if zone == "UTC" {
				// Later zones read everything rolled up.
				if _, err := db.rollUpReports(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		t.Logf("%d reports equal to the former query", compared)
	})
}

func reportJSON(t *testing.T, rep flows.ScoreReport) string {
	t.Helper()
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSQLReportSummaryUpgrade builds a database as release 9 left it, with
// answers written before the summary existed, and checks that migration 10
// backfills it: every report equals the former query before and after, on
// SQLite (answered_at as text) and PostgreSQL.
func TestSQLReportSummaryUpgrade(t *testing.T) {
	steps, err := sqlMigrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, tdb := range openTestDBs(t) {
		t.Run(tdb.name, func(t *testing.T) {
			ctx := sqlTestCtx(t)
			db := tdb.open(t)
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			seedInsightAs(t, db, "u-", randomInsight(rand.New(rand.NewPCG(3, 4)), 50))
			shanghai, _ := time.LoadLocation("Asia/Shanghai")
			queries := []flows.ReportQuery{
				{From: insightT0.Add(7 * time.Minute), To: insightT0.Add(5 * 24 * time.Hour), GroupBy: flows.GroupDay, TZ: shanghai},
				{Survey: "delivery", From: insightT0, To: insightT0.Add(5 * 24 * time.Hour), GroupBy: "store", TZ: time.UTC},
				{Wave: "w0", From: insightT0.Add(time.Hour), To: insightT0.Add(4 * 24 * time.Hour), GroupBy: flows.GroupChannel, TZ: time.UTC},
			}
			reports := func() string {
				var b strings.Builder
				for _, q := range queries {
					for _, kind := range []flows.Kind{flows.KindNPS, flows.KindCSAT} {
						rep, err := db.ScoreReport(ctx, kind, q)
						if err != nil {
							t.Fatal(err)
						}
						want := flows.NewScoreReport(kind, q, legacyClassCounts(t, db, kind, q), legacyClassCounts(t, db, kind, q.Previous()))
						if g, w := reportJSON(t, rep), reportJSON(t, want); g != w {
							t.Fatalf("%s %+v:\n got %s\nwant %s", kind, q, g, w)
						}
						b.WriteString(reportJSON(t, rep) + "\n")
					}
				}
				return b.String()
			}
			before := reportJSON(t, flows.ScoreReport{}) + reports()
			if !strings.Contains(before, `"responses":`) || strings.Count(before, `"responses":0,`) > 20 {
				t.Fatalf("reports before the upgrade look empty:\n%s", before)
			}
			// Back to release 9: the summary's tables gone, step 10 not applied.
			for _, stmt := range []string{"DROP TABLE report_attribute_days", "DROP TABLE report_hours", "DROP TABLE report_answers",
				"DELETE FROM schema_migrations WHERE version = 10"} {
				if err := db.gorm.Exec(stmt).Error; err != nil {
					t.Fatal(err)
				}
			}
			if applied, err := db.migrate(ctx, steps[:10]); err != nil || fmt.Sprint(applied) != "[10]" {
				t.Fatalf("migrate = %v, %v", applied, err)
			}
			var rows []struct {
				Rolled bool
				N      int
			}
			if err := db.gorm.Raw("SELECT rolled, COUNT(*) AS n FROM report_answers GROUP BY rolled").Scan(&rows).Error; err != nil ||
				len(rows) != 1 || !rows[0].Rolled || rows[0].N < 50 {
				t.Fatalf("backfilled rows = %+v, %v; want all rolled up", rows, err)
			}
			if after := reportJSON(t, flows.ScoreReport{}) + reports(); after != before {
				t.Errorf("reports after the upgrade differ:\n%s\nbefore:\n%s", after, before)
			}
		})
	}
}

// TestSQLReportSummaryErasure: an erased customer's event attributes leave
// the attribute roll-ups and the summary, as they leave the invitation;
// its scores stay counted (under no store).
func TestSQLReportSummaryErasure(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		seedInsight(t, db, insightFixture())
		q := flows.ReportQuery{Survey: "delivery", From: insightT0, To: insightT0.Add(72 * time.Hour), GroupBy: "store", TZ: time.UTC}
		rep, err := db.ScoreReport(ctx, flows.KindNPS, q) // rolls up
		if err != nil || groups(rep.Groups) != "SH-01:3:33.3 SH-02:3:0 " {
			t.Fatalf("by store = %s, %v", groups(rep.Groups), err)
		}
		if _, err := db.EraseCustomer(ctx, "ins-0", "test"); err != nil {
			t.Fatal(err)
		}
		rep, err = db.ScoreReport(ctx, flows.KindNPS, q)
		if err != nil {
			t.Fatal(err)
		}
		want := flows.NewScoreReport(flows.KindNPS, q, legacyClassCounts(t, db, flows.KindNPS, q), legacyClassCounts(t, db, flows.KindNPS, q.Previous()))
		if got := groups(rep.Groups); got != "SH-02:3:0 SH-01:2:0 :1:100 " || reportJSON(t, rep) != reportJSON(t, want) {
			t.Errorf("by store after erasing ins-0 = %s, want %s", got, groups(want.Groups))
		}
		var keys []string
		if err := db.gorm.Raw("SELECT DISTINCT attr_key FROM report_attribute_days WHERE n < 0").Scan(&keys).Error; err != nil || len(keys) != 0 {
			t.Errorf("negative roll-ups: %v, %v", keys, err)
		}
	})
}
