package sqlstore

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/httpapi"
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
// one NPS answer each (scores 0–10 in turn), a CSAT answer from every
// third, a CES answer from every fourth and a comment from every detractor,
// spread over 1,000 customers, 50 stores, 200 SKUs and 5 waves, in
// multi-row INSERTs (the store's own write path would take minutes); on
// PostgreSQL with generate_series (seedReportDataPostgres). The database
// is at release 9: migration 10 then backfills the reports' summary.
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
	if db.dialect.name == DialectPostgres {
		seedReportDataPostgres(b, db, n, end)
		return
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
			if i%3 == 0 {
				csat := i%5 + 1
				as = append(as, answerRow{ResponseID: id, QuestionID: "csat", Kind: string(flows.KindCSAT), Score: &csat, Class: string(survey.Classify(flows.KindCSAT, csat)), AnsweredAt: at})
			}
			if i%4 == 0 {
				ces := i%7 + 1
				as = append(as, answerRow{ResponseID: id, QuestionID: "ces", Kind: string(flows.KindCES), Score: &ces, Class: string(survey.Classify(flows.KindCES, ces)), AnsweredAt: at})
			}
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
}

// seedReportDataPostgres is seedReportData in four INSERT … SELECT FROM
// generate_series: a million responses in about a minute.
func seedReportDataPostgres(b *testing.B, db *DB, n int, end time.Time) {
	survey := &flows.Survey{}
	classes := func(kind flows.Kind, lo, hi int) string {
		var cs []string
		for s := lo; s <= hi; s++ {
			cs = append(cs, "'"+string(survey.Classify(kind, s))+"'")
		}
		return "(ARRAY[" + strings.Join(cs, ", ") + "])"
	}
	span := 90 * 24 * time.Hour
	at := fmt.Sprintf("(TIMESTAMPTZ '%s' + make_interval(secs => g * %f))", end.Add(-span).Format(time.RFC3339), span.Seconds()/float64(n))
	g := fmt.Sprintf("FROM generate_series(0, %d) g", n-1)
	for _, stmt := range []string{
		`INSERT INTO invitations (id, wave_id, customer_id, event_id, survey_id, survey_version, channel, external_id, language, context,
    status, error, sent_at, created_at, updated_at, not_before, attempts)
SELECT g + 1, 'w' || (g % 5), g % 1000 + 1, 'e' || g, 'bench', 1, 'telegram', (g % 1000 + 1)::text, 'en',
    '{"store":"S-' || lpad((g % 50)::text, 2, '0') || '","touchpoint":"purchase","sku":"K-' || (g % 200) || '"}',
    'completed', '', ` + at + `, ` + at + `, ` + at + `, ` + at + `, 1 ` + g,
		`INSERT INTO responses (id, invitation_id, customer_id, survey_id, survey_version, channel, external_id, language, status, started_at, completed_at)
SELECT g + 1, g + 1, g % 1000 + 1, 'bench', 1, 'telegram', (g % 1000 + 1)::text, 'en', 'completed', ` + at + `, ` + at + ` + INTERVAL '1 minute' ` + g,
		`INSERT INTO answers (response_id, question_id, kind, score, choice, text, class, skipped, answered_at)
SELECT g + 1, 'nps', 'nps', g % 11, '', '', ` + classes(flows.KindNPS, 0, 10) + `[g % 11 + 1], false, ` + at + ` ` + g + `
UNION ALL SELECT g + 1, 'csat', 'csat', g % 5 + 1, '', '', ` + classes(flows.KindCSAT, 1, 5) + `[g % 5 + 1], false, ` + at + ` ` + g + ` WHERE g % 3 = 0
UNION ALL SELECT g + 1, 'ces', 'ces', g % 7 + 1, '', '', ` + classes(flows.KindCES, 1, 7) + `[g % 7 + 1], false, ` + at + ` ` + g + ` WHERE g % 4 = 0`,
		`INSERT INTO answers (response_id, question_id, kind, score, choice, text, class, skipped, answered_at)
SELECT g + 1, 'why', 'text', NULL, '', 'delivery was late 物流太慢', '', false, ` + at + ` + INTERVAL '1 second' ` + g + `
WHERE ` + classes(flows.KindNPS, 0, 10) + `[g % 11 + 1] = '` + string(flows.ClassDetractor) + `'`,
		"SELECT setval(pg_get_serial_sequence('invitations', 'id'), (SELECT max(id) FROM invitations))",
		"SELECT setval(pg_get_serial_sequence('responses', 'id'), (SELECT max(id) FROM responses))",
	} {
		if err := db.gorm.Exec(stmt).Error; err != nil {
			b.Fatalf("%v\n%s", err, stmt)
		}
	}
}

// BenchmarkReports times the dashboard's reports over a large data set
// (CXBOT_BENCH_RESPONSES, 100,000 by default; 1,000,000 for issue 11's
// figures): NPS over 90 days with a daily trend in Asia/Shanghai and by
// store, the same over 30 days, CSAT and CES, the funnel, the terms'
// comments, a page of the response list, and the CSV export of every row,
// whose heap is reported after 100,000 rows and at its peak (it must stay
// flat). Seeding builds a release-9 database and times migration 10's
// backfill.
func BenchmarkReports(b *testing.B) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		b.Fatal(err)
	}
	steps, err := sqlMigrations()
	if err != nil {
		b.Fatal(err)
	}
	for _, tdb := range openTestDBs(b) {
		b.Run(tdb.name, func(b *testing.B) {
			db := tdb.open(b)
			ctx := context.Background()
			if _, err := db.migrate(ctx, steps[:9]); err != nil {
				b.Fatal(err)
			}
			n := benchResponses(b)
			end := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			began := time.Now()
			seedReportData(b, db, n, end)
			b.Logf("%s: seeded %d responses in %s", tdb.name, n, time.Since(began).Round(time.Millisecond))
			began = time.Now()
			if _, err := db.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			b.Logf("%s: migration 10 (summary backfill) took %s", tdb.name, time.Since(began).Round(time.Millisecond))
			if db.dialect.name == DialectPostgres {
				if err := db.conn(ctx).Exec("VACUUM ANALYZE").Error; err != nil {
					b.Fatal(err)
				}
			}
			q90 := flows.ReportQuery{Survey: "bench", From: end.Add(-90 * 24 * time.Hour), To: end, TZ: shanghai}
			q30 := q90
			q30.From = end.Add(-30 * 24 * time.Hour)
			for _, c := range []struct {
				name string
				kind flows.Kind
				q    flows.ReportQuery
				by   flows.GroupBy
			}{
				{"nps_90d_by_day", flows.KindNPS, q90, flows.GroupDay},
				{"nps_90d_by_store", flows.KindNPS, q90, "store"},
				{"nps_30d_by_day", flows.KindNPS, q30, flows.GroupDay},
				{"nps_30d_by_store", flows.KindNPS, q30, "store"},
				{"nps_90d_by_wave", flows.KindNPS, q90, flows.GroupWave},
				{"csat_90d_by_week", flows.KindCSAT, q90, flows.GroupWeek},
				{"ces_90d", flows.KindCES, q90, flows.GroupNone},
			} {
				b.Run(c.name, func(b *testing.B) {
					q := c.q
					q.GroupBy = c.by
					for b.Loop() {
						rep, err := db.ScoreReport(ctx, c.kind, q)
						if err != nil || rep.Total.Responses == 0 {
							b.Fatalf("%+v, %v", rep.Total, err)
						}
					}
				})
			}
			b.Run("nps_30d_one_store_by_day", func(b *testing.B) { // an attribute filter: counted raw
				q := q30
				q.GroupBy, q.Attributes = flows.GroupDay, map[string]string{"store": "S-07"}
				for b.Loop() {
					if rep, err := db.ScoreReport(ctx, flows.KindNPS, q); err != nil || rep.Total.Responses == 0 {
						b.Fatalf("%+v, %v", rep.Total, err)
					}
				}
			})
			b.Run("funnel_30d", func(b *testing.B) {
				for b.Loop() {
					if rep, err := db.FunnelReport(ctx, q30); err != nil || rep.Steps[0].Count == 0 {
						b.Fatalf("%+v, %v", rep, err)
					}
				}
			})
			b.Run("terms_comments_30d", func(b *testing.B) {
				for b.Loop() {
					n := 0
					if err := db.EachComment(ctx, q30, func(flows.Class, string) error { n++; return nil }); err != nil || n == 0 {
						b.Fatalf("%d comments, %v", n, err)
					}
				}
			})
			b.Run("responses_page", func(b *testing.B) {
				f := flows.ResponseFilter{ReportQuery: q30, Limit: 50, Newest: true, Class: flows.ClassDetractor}
				for b.Loop() {
					if page, err := db.ListResponses(ctx, f); err != nil || len(page) != 50 {
						b.Fatalf("%d rows, %v", len(page), err)
					}
				}
			})
			b.Run("export_csv_all", func(b *testing.B) {
				b.ReportAllocs()
				survey := &flows.Survey{ID: "bench", Questions: []flows.Question{{ID: "nps", Kind: flows.KindNPS}, {ID: "csat", Kind: flows.KindCSAT},
					{ID: "ces", Kind: flows.KindCES}, {ID: "why", Kind: flows.KindText}}}
				all := flows.ResponseFilter{ReportQuery: flows.ReportQuery{From: end.Add(-100 * 24 * time.Hour), To: end}}
				for b.Loop() {
					e, err := httpapi.NewExport(ctx, db, survey, all)
					if err != nil {
						b.Fatal(err)
					}
					var at100k, peak uint64
					rows := 0
					var out countingWriter
					err = e.WriteCSV(ctx, &out, func(written int) {
						rows = written
						var ms runtime.MemStats
						runtime.ReadMemStats(&ms)
						peak = max(peak, ms.HeapInuse)
						if written == min(100_000, n) {
							at100k = ms.HeapInuse
						}
					})
					if err != nil {
						b.Fatal(err)
					}
					if rows < n-n%1000 {
						b.Fatalf("exported %d rows, want %d", rows, n)
					}
					b.ReportMetric(float64(n), "rows/op")
					b.ReportMetric(float64(out)/1e6, "csv_MB/op")
					b.ReportMetric(float64(at100k)/1e6, "heap_MB_at_100k")
					b.ReportMetric(float64(peak)/1e6, "heap_MB_peak")
				}
			})
		})
	}
}

// countingWriter counts the bytes written to it and keeps none.
type countingWriter int64

func (w *countingWriter) Write(p []byte) (int, error) {
	*w += countingWriter(len(p))
	return len(p), nil
}
