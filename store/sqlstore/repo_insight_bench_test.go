package sqlstore

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// benchResponses is the size of the reports' data set:
// CXBOT_BENCH_RESPONSES, 100,000 by default.
func benchResponses(b *testing.B) int {
	if v := os.Getenv("CXBOT_BENCH_RESPONSES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("CXBOT_BENCH_RESPONSES=%q is not a positive number", v)
		}
		return n
	}
	return 100_000
}

// seedReportData writes n completed responses over the 90 days before end,
// one NPS answer each (scores 0–10 in turn) and a comment from every
// detractor, spread over 1,000 customers, 50 stores and 5 waves, in
// multi-row INSERTs (the store's own write path would take minutes).
func seedReportData(b *testing.B, db *DB, n int, end time.Time) {
	ctx := context.Background()
	const customers = 1000
	var cs []customerRow
	for i := 1; i <= customers; i++ {
		cs = append(cs, customerRow{ID: int64(i), Ref: fmt.Sprint("bc-", i), Language: "en", TimeZone: "Asia/Shanghai", CreatedAt: end, UpdatedAt: end})
	}
	if err := db.conn(ctx).CreateInBatches(cs, 500).Error; err != nil {
		b.Fatal(err)
	}
	span := 90 * 24 * time.Hour
	survey := &flows.Survey{}
	const batch = 2000
	for start := 0; start < n; start += batch {
		var invs []invitationRow
		var rs []responseRow
		var as []answerRow
		for i := start; i < min(n, start+batch); i++ {
			id := int64(i + 1)
			at := end.Add(-span + time.Duration(int64(span)/int64(n)*int64(i)))
			ctxJSON := fmt.Sprintf(`{"store":"S-%02d","touchpoint":"purchase","sku":"K-%d"}`, i%50, i%200)
			invs = append(invs, invitationRow{ID: id, WaveID: fmt.Sprint("w", i%5), CustomerID: int64(i%customers + 1), EventID: fmt.Sprint("e", i),
				SurveyID: "bench", SurveyVersion: 1, Channel: "telegram", ExternalID: fmt.Sprint(i%customers + 1), Language: "en",
				Context: ctxJSON, Status: flows.InvitationCompleted, SentAt: &at, CreatedAt: at, UpdatedAt: at, NotBefore: at, Attempts: 1})
			done := at.Add(time.Minute)
			rs = append(rs, responseRow{ID: id, InvitationID: id, CustomerID: int64(i%customers + 1), SurveyID: "bench", SurveyVersion: 1,
				Channel: "telegram", ExternalID: fmt.Sprint(i%customers + 1), Language: "en", Status: flows.ResponseCompleted, StartedAt: at, CompletedAt: &done})
			score := i % 11
			class := survey.Classify(flows.KindNPS, score)
			as = append(as, answerRow{ResponseID: id, QuestionID: "nps", Kind: string(flows.KindNPS), Score: &score, Class: string(class), AnsweredAt: at})
			if class == flows.ClassDetractor {
				as = append(as, answerRow{ResponseID: id, QuestionID: "why", Kind: string(flows.KindText), Text: "delivery was late 物流太慢", AnsweredAt: at.Add(time.Second)})
			}
		}
		for _, rows := range []any{invs, rs, as} {
			if err := db.conn(ctx).CreateInBatches(rows, 500).Error; err != nil {
				b.Fatal(err)
			}
		}
	}
	if db.dialect.name == DialectPostgres {
		if err := db.conn(ctx).Exec("ANALYZE").Error; err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReports times the dashboard's reports over a large data set:
// NPS of the last 30 days with a daily trend in Asia/Shanghai, the same by
// store, the funnel, and reading every response a page at a time (what an
// export does).
func BenchmarkReports(b *testing.B) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		b.Fatal(err)
	}
	for _, tdb := range openTestDBs(b) {
		b.Run(tdb.name, func(b *testing.B) {
			db := tdb.open(b)
			ctx := context.Background()
			if _, err := db.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			n := benchResponses(b)
			end := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			began := time.Now()
			seedReportData(b, db, n, end)
			b.Logf("%s: seeded %d responses in %s", tdb.name, n, time.Since(began).Round(time.Millisecond))
			q := flows.ReportQuery{Survey: "bench", From: end.Add(-30 * 24 * time.Hour), To: end, TZ: shanghai}
			for _, g := range []flows.GroupBy{flows.GroupDay, "store"} {
				b.Run("nps_30d_by_"+string(g), func(b *testing.B) {
					q := q
					q.GroupBy = g
					for b.Loop() {
						rep, err := db.ScoreReport(ctx, flows.KindNPS, q)
						if err != nil || rep.Total.Responses == 0 {
							b.Fatalf("%+v, %v", rep.Total, err)
						}
					}
				})
			}
			b.Run("funnel_30d", func(b *testing.B) {
				for b.Loop() {
					if rep, err := db.FunnelReport(ctx, q); err != nil || rep.Steps[0].Count == 0 {
						b.Fatalf("%+v, %v", rep, err)
					}
				}
			})
			b.Run("read_all_responses", func(b *testing.B) {
				b.ReportAllocs()
				all := flows.ResponseFilter{ReportQuery: flows.ReportQuery{Survey: "bench", From: end.Add(-100 * 24 * time.Hour), To: end}, Limit: 1000}
				for b.Loop() {
					f, rows := all, 0
					for {
						page, err := db.ListResponses(ctx, f)
						if err != nil {
							b.Fatal(err)
						}
						rows += len(page)
						if len(page) < f.Limit {
							break
						}
						f.After = page[len(page)-1].ID
					}
					if rows != n {
						b.Fatalf("read %d responses, want %d", rows, n)
					}
					b.ReportMetric(float64(rows), "rows/op")
				}
			})
		})
	}
}
