package sqlstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// insightT0 is a Monday, midnight UTC (08:00 in Asia/Shanghai).
var insightT0 = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

// insightResponse is one seeded response: who, where, and its answers.
type insightResponse struct {
	survey, wave string
	channel      flows.Channel
	language     string
	context      map[string]string
	at           time.Time
	answers      []flows.Answer
	complete     bool
}

// seedInsight writes the responses through the store's own writes (the
// invitation created at the first answer's time) and returns the responses' ids.
func seedInsight(t testing.TB, db *DB, rs []insightResponse) []int64 {
	t.Helper()
	return seedInsightAs(t, db, "ins-", rs)
}

// seedInsightAs is seedInsight with customer refs prefix0, prefix1 ….
func seedInsightAs(t testing.TB, db *DB, prefix string, rs []insightResponse) []int64 {
	t.Helper()
	ctx := sqlTestCtx(t.(*testing.T))
	var ids []int64
	for n, r := range rs {
		at := r.at
		db.Now = func() time.Time { return at }
		ref := fmt.Sprint(prefix, n)
		c, err := db.UpsertCustomer(ctx, ref, "en")
		if err != nil {
			t.Fatal(err)
		}
		ch := r.channel
		if ch == "" {
			ch = flows.ChannelTelegram
		}
		lang := r.language
		if lang == "" {
			lang = "en"
		}
		inv, _, err := db.CreateInvitation(ctx, flows.Invitation{
			WaveID: r.wave, CustomerID: c.ID, EventID: "ev-" + ref, SurveyID: r.survey, SurveyVersion: 1,
			Channel: ch, ExternalID: "chat-" + ref, Language: lang, Context: r.context,
		})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := db.StartResponse(ctx, flows.Response{InvitationID: inv.ID, StartedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range r.answers {
			a.AnsweredAt = at.Add(time.Duration(i) * time.Second)
			w := flows.StepWrite{ResponseID: resp.ID, Answer: &a, At: a.AnsweredAt}
			if r.complete && i == len(r.answers)-1 {
				w.Finish = flows.ResponseCompleted
			}
			if _, err := db.ApplyStep(ctx, w); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, resp.ID)
	}
	db.Now = time.Now
	return ids
}

func npsAnswer(q string, score int) flows.Answer {
	s := &flows.Survey{}
	return flows.Answer{QuestionID: q, Kind: flows.KindNPS, Score: &score, Class: s.Classify(flows.KindNPS, score)}
}

func csatAnswer(q string, score int) flows.Answer {
	s := &flows.Survey{}
	return flows.Answer{QuestionID: q, Kind: flows.KindCSAT, Score: &score, Class: s.Classify(flows.KindCSAT, score)}
}

func textAnswer(q, text string) flows.Answer {
	return flows.Answer{QuestionID: q, Kind: flows.KindText, Text: text}
}

// insightFixture: six NPS responses in [T0, T0+3d) (3 promoters, 1 passive,
// 2 detractors), one promoter in the previous period, two CSAT responses
// with no unhappy customer. Times in UTC and, after →, in Asia/Shanghai.
func insightFixture() []insightResponse {
	h := func(n int) time.Time { return insightT0.Add(time.Duration(n) * time.Hour) }
	sh1 := map[string]string{"store": "SH-01", "touchpoint": "purchase"}
	sh2 := map[string]string{"store": "SH-02", "touchpoint": "purchase"}
	return []insightResponse{
		// 11-02 01:00 → 11-02 09:00; a second NPS answer does not count.
		{survey: "delivery", wave: "w1", context: sh1, at: h(1), complete: true,
			answers: []flows.Answer{npsAnswer("nps", 10), npsAnswer("nps_again", 0)}},
		// 11-02 17:00 → 11-03 01:00
		{survey: "delivery", wave: "w1", context: sh1, at: h(17), complete: true, answers: []flows.Answer{npsAnswer("nps", 9)}},
		// 11-03 01:00 → 11-03 09:00; the skipped answer is not the first.
		{survey: "delivery", wave: "w1", context: sh2, at: h(25), complete: true,
			answers: []flows.Answer{{QuestionID: "nps", Kind: flows.KindNPS, Skipped: true}, npsAnswer("nps_retry", 9)}},
		// 11-03 02:00 → 11-03 10:00
		{survey: "delivery", wave: "w1", context: sh2, at: h(26), answers: []flows.Answer{npsAnswer("nps", 8)}},
		// 11-03 16:00 → exactly midnight 11-04 in Shanghai
		{survey: "delivery", wave: "w1", context: sh2, at: h(40), answers: []flows.Answer{npsAnswer("nps", 3), textAnswer("why", "物流太慢了")}},
		// 11-04 02:00 → 11-04 10:00, another wave, WeChat, Chinese
		{survey: "delivery", wave: "w2", channel: flows.ChannelWeChat, language: "zh-CN", context: sh1, at: h(50),
			answers: []flows.Answer{npsAnswer("nps", 5)}},
		// the previous period
		{survey: "delivery", wave: "w1", context: sh1, at: h(-1), complete: true, answers: []flows.Answer{npsAnswer("nps", 10)}},
		// CSAT, nobody unhappy
		{survey: "service", wave: "w3", context: sh1, at: h(3), complete: true, answers: []flows.Answer{csatAnswer("csat", 5)}},
		{survey: "service", wave: "w3", context: sh2, at: h(4), complete: true, answers: []flows.Answer{csatAnswer("csat", 4)}},
	}
}

// summary is a ScoreSummary printed compactly, for comparisons.
func summary(s flows.ScoreSummary) string {
	f := func(p *float64) string {
		if p == nil {
			return "null"
		}
		return fmt.Sprint(*p)
	}
	b, _ := json.Marshal(s.Classes)
	return fmt.Sprintf("n=%d %s score=%s mean=%s moe=%s small=%v", s.Responses, b, f(s.Score), f(s.Mean), f(s.MarginOfError), s.SmallSample)
}

func groups(gs []flows.ScoreGroup) string {
	out := ""
	for _, g := range gs {
		score := "null"
		if g.Score != nil {
			score = fmt.Sprint(*g.Score)
		}
		out += fmt.Sprintf("%s:%d:%s ", g.Key, g.Responses, score)
	}
	return out
}

func TestSQLScoreReports(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		seedInsight(t, db, insightFixture())
		period := flows.ReportQuery{Survey: "delivery", From: insightT0, To: insightT0.Add(72 * time.Hour), TZ: time.UTC}
		// Before any roll-up (the handoff report runs none) the attribute
		// is found in the rows not rolled up yet.
		byStore := period
		byStore.GroupBy = "store"
		if _, err := db.HandoffReport(ctx, byStore); err != nil {
			t.Errorf("handoffs by store before a roll-up: %v", err)
		}
		report := func(kind flows.Kind, q flows.ReportQuery) flows.ScoreReport {
			t.Helper()
			q, err := q.Normalize(time.Now())
			if err != nil {
				t.Fatal(err)
			}
			rep, err := db.ScoreReport(ctx, kind, q)
			if err != nil {
				t.Fatal(err)
			}
			return rep
		}

		rep := report(flows.KindNPS, period)
		// (3 − 2) / 6 = 16.7; mean 44/6; MoE 1.96 × √((1/2 + 1/3 − (1/6)²) / 6) = 71.8.
		want := `n=6 {"detractor":2,"passive":1,"promoter":3} score=16.7 mean=7.33 moe=71.8 small=true`
		if got := summary(rep.Total); got != want {
			t.Errorf("NPS total = %s\nwant %s", got, want)
		}
		if got := summary(rep.Previous.ScoreSummary); got != `n=1 {"detractor":0,"passive":0,"promoter":1} score=100 mean=10 moe=0 small=true` {
			t.Errorf("NPS previous = %s", got)
		}
		if rep.Change == nil || *rep.Change != -83.3 || !rep.Previous.From.Equal(insightT0.Add(-72*time.Hour)) {
			t.Errorf("change = %v, previous from %v", rep.Change, rep.Previous.From)
		}

		byDay := period
		byDay.GroupBy = flows.GroupDay
		if got := groups(report(flows.KindNPS, byDay).Groups); got != "2026-11-02:2:100 2026-11-03:3:0 2026-11-04:1:-100 " {
			t.Errorf("NPS by UTC day = %s", got)
		}
		byDay.TZ = shanghai // midnight moves: the 16:00 UTC detractor is on 11-04
		if got := groups(report(flows.KindNPS, byDay).Groups); got != "2026-11-02:1:100 2026-11-03:3:66.7 2026-11-04:2:-100 2026-11-05:0:null " {
			t.Errorf("NPS by Shanghai day = %s", got)
		}
		byWeek := period
		byWeek.GroupBy, byWeek.TZ = flows.GroupWeek, shanghai
		if got := groups(report(flows.KindNPS, byWeek).Groups); got != "2026-11-02:6:16.7 " {
			t.Errorf("NPS by week = %s", got)
		}
		byMonth := period
		byMonth.GroupBy, byMonth.From = flows.GroupMonth, insightT0.Add(-72*time.Hour) // 10-30: the previous-period promoter (11-01 23:00) is in November
		if got := groups(report(flows.KindNPS, byMonth).Groups); got != "2026-10:0:null 2026-11:7:28.6 " {
			t.Errorf("NPS by month = %s", got)
		}

		for _, tc := range []struct {
			by   flows.GroupBy
			want string
		}{
			{"store", "SH-01:3:33.3 SH-02:3:0 "},
			{flows.GroupTouchpoint, "purchase:6:16.7 "},
			{flows.GroupWave, "w1:5:40 w2:1:-100 "},
			{flows.GroupChannel, "telegram:5:40 wechat:1:-100 "},
			{flows.GroupLanguage, "en:5:40 zh-CN:1:-100 "},
			{flows.GroupSurvey, "delivery:6:16.7 "},
		} {
			q := period
			q.GroupBy = tc.by
			if got := groups(report(flows.KindNPS, q).Groups); got != tc.want {
				t.Errorf("NPS by %s = %s, want %s", tc.by, got, tc.want)
			}
		}

		// A name no response of the period has is refused, naming it;
		// names are case-sensitive.
		for _, tc := range []struct {
			by       flows.GroupBy
			from, to time.Time
		}{{"sku", period.From, period.To}, {"STORE", period.From, period.To}, {"hour", period.From, period.To}} {
			q := period
			q.GroupBy, q.From, q.To = tc.by, tc.from, tc.to
			_, err := db.ScoreReport(ctx, flows.KindNPS, q)
			if !errors.Is(err, flows.ErrInvalid) || !strings.Contains(err.Error(), `group_by="`+string(tc.by)+`"`) {
				t.Errorf("NPS by %s over %v: %v", tc.by, tc.from, err)
			}
			if _, err := db.HandoffReport(ctx, q); !errors.Is(err, flows.ErrInvalid) {
				t.Errorf("handoffs by %s: %v", tc.by, err)
			}
		}

		// A period without any response has nothing to group: not refused.
		quiet := period
		quiet.GroupBy, quiet.From, quiet.To = "sku", insightT0.Add(10*24*time.Hour), insightT0.Add(11*24*time.Hour)
		if rep, err := db.ScoreReport(ctx, flows.KindNPS, quiet); err != nil || len(rep.Groups) != 0 {
			t.Errorf("NPS by sku over a quiet day = %+v, %v", rep.Groups, err)
		}

		filtered := period
		filtered.Attributes = map[string]string{"store": "SH-02"}
		if got := summary(report(flows.KindNPS, filtered).Total); got != `n=3 {"detractor":1,"passive":1,"promoter":1} score=0 mean=6.67 moe=92.4 small=true` {
			t.Errorf("NPS for store SH-02 = %s", got)
		}
		waveOnly := period
		waveOnly.Wave = "w2"
		if got := report(flows.KindNPS, waveOnly).Total; got.Responses != 1 || *got.Score != -100 {
			t.Errorf("NPS of wave w2 = %s", summary(got))
		}

		csat := period
		csat.Survey = "service"
		if got := summary(report(flows.KindCSAT, csat).Total); got != `n=2 {"dissatisfied":0,"neutral":0,"satisfied":2} score=100 mean=4.5 moe=0 small=true` {
			t.Errorf("CSAT with nobody unhappy = %s", got)
		}
		if got := report(flows.KindCES, csat).Total; got.Responses != 0 || got.Score != nil {
			t.Errorf("CES of a CSAT survey = %s", summary(got))
		}
		empty := period
		empty.From, empty.To = insightT0.Add(10*24*time.Hour), insightT0.Add(11*24*time.Hour)
		empty.GroupBy = flows.GroupDay
		rep = report(flows.KindNPS, empty)
		if got := summary(rep.Total); got != `n=0 {"detractor":0,"passive":0,"promoter":0} score=null mean=null moe=null small=true` || rep.Change != nil || groups(rep.Groups) != "2026-11-12:0:null " {
			t.Errorf("empty period = %s, change %v, groups %s", got, rep.Change, groups(rep.Groups))
		}
	})
}

func TestSQLFunnelReport(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		ids := seedInsight(t, db, insightFixture())
		// Three more invitations: one skipped at send time (the dispatcher
		// counted an attempt, as a frequency cap met then does), one sent
		// and never answered, one planned.
		c, err := db.UpsertCustomer(ctx, "funnel", "en")
		if err != nil {
			t.Fatal(err)
		}
		db.Now = func() time.Time { return insightT0.Add(time.Hour) }
		for i, status := range []string{"skipped", "sent", "planned"} {
			inv, _, err := db.CreateInvitation(ctx, flows.Invitation{
				WaveID: "w1", CustomerID: c.ID, EventID: fmt.Sprint("f-", i), SurveyID: "delivery", SurveyVersion: 1,
				Channel: flows.ChannelTelegram, ExternalID: "chat-f", Language: "en",
			})
			if err != nil {
				t.Fatal(err)
			}
			var sentAt any
			if status == "sent" {
				sentAt = sqlTime(insightT0.Add(time.Hour))
			}
			if err := db.gorm.Exec("UPDATE invitations SET status = ?, sent_at = ?, attempts = ? WHERE id = ?",
				status, sentAt, map[bool]int{true: 1}[status != "planned"], inv.ID).Error; err != nil {
				t.Fatal(err)
			}
		}
		db.Now = time.Now
		if len(ids) != 9 {
			t.Fatal(ids)
		}
		q, err := flows.ReportQuery{Survey: "delivery", From: insightT0, To: insightT0.Add(72 * time.Hour)}.Normalize(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		rep, err := db.FunnelReport(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(rep.Steps)
		want := `[{"step":"invited","count":8,"step_rate":null,"overall_rate":100},` +
			`{"step":"sent","count":7,"step_rate":87.5,"overall_rate":87.5},` +
			`{"step":"delivered","count":7,"step_rate":100,"overall_rate":87.5},` +
			`{"step":"started","count":6,"step_rate":85.7,"overall_rate":75},` +
			`{"step":"completed","count":3,"step_rate":50,"overall_rate":37.5}]`
		if string(got) != want || rep.Skipped != 1 {
			t.Errorf("funnel = %s skipped %d\nwant %s", got, rep.Skipped, want)
		}
		if stops, _ := json.Marshal(rep.StoppedAt); string(stops) != `[{"after_question":"nps","responses":2},{"after_question":"why","responses":1}]` {
			t.Errorf("stopped at = %s", stops)
		}
	})
}

func TestSQLListResponses(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		ids := seedInsight(t, db, insightFixture())
		base := flows.ResponseFilter{ReportQuery: flows.ReportQuery{Survey: "delivery", From: insightT0, To: insightT0.Add(72 * time.Hour)}}
		list := func(f flows.ResponseFilter) []flows.ResponseRecord {
			t.Helper()
			rs, err := db.ListResponses(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			return rs
		}
		idsOf := func(rs []flows.ResponseRecord) string {
			var out []int64
			for _, r := range rs {
				out = append(out, r.ID)
			}
			return fmt.Sprint(out)
		}
		all := list(base)
		if idsOf(all) != fmt.Sprint(ids[:6]) {
			t.Fatalf("all = %s, want %v", idsOf(all), ids[:6])
		}
		first := all[0]
		if first.Survey != "delivery" || first.Wave != "w1" || first.CustomerRef != "ins-0" || first.Attributes["store"] != "SH-01" ||
			first.Status != flows.ResponseCompleted || len(first.Answers) != 2 || *first.Answers[0].Score != 10 || first.Answers[1].QuestionID != "nps_again" {
			t.Errorf("first = %+v", first)
		}
		// Pages of two, by cursor, both ways.
		page := base
		page.Limit = 2
		p1 := list(page)
		page.After = p1[1].ID
		if p2 := list(page); idsOf(p2) != fmt.Sprint(ids[2:4]) {
			t.Errorf("page 2 = %s", idsOf(p2))
		}
		newest := base
		newest.Newest, newest.Limit, newest.Before = true, 2, ids[5]
		if got := list(newest); idsOf(got) != fmt.Sprint([]int64{ids[4], ids[3]}) {
			t.Errorf("newest before %d = %s", ids[5], idsOf(got))
		}
		detractors := base
		detractors.Class = flows.ClassDetractor
		if got := list(detractors); idsOf(got) != fmt.Sprint([]int64{ids[0], ids[4], ids[5]}) { // the first has a detractor's second answer
			t.Errorf("detractors = %s", idsOf(got))
		}
		withText := base
		withText.WithText = true
		withText.Attributes = map[string]string{"store": "SH-02"}
		if got := list(withText); idsOf(got) != fmt.Sprint([]int64{ids[4]}) || got[0].Answers[1].Text != "物流太慢了" {
			t.Errorf("with text at SH-02 = %+v", got)
		}
		keys, err := db.ResponseAttributes(ctx, base)
		if err != nil || fmt.Sprint(keys) != "[store touchpoint]" {
			t.Errorf("attributes = %v, %v", keys, err)
		}
		none := base
		none.From, none.To = insightT0.Add(-time.Hour*1000), insightT0.Add(-time.Hour*999)
		if got := list(none); got == nil || len(got) != 0 {
			t.Errorf("empty = %v", got)
		}
	})
}

func TestSQLEachComment(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		rs := insightFixture()
		rs = append(rs, insightResponse{survey: "delivery", wave: "w1", at: insightT0.Add(5 * time.Hour),
			answers: []flows.Answer{npsAnswer("nps", 10), textAnswer("why", "fast delivery")}},
			insightResponse{survey: "delivery", wave: "w1", at: insightT0.Add(6 * time.Hour),
				answers: []flows.Answer{textAnswer("why", "no score yet")}})
		seedInsight(t, db, rs)
		q := flows.ReportQuery{Survey: "delivery", From: insightT0, To: insightT0.Add(72 * time.Hour)}
		var got []string
		err := db.EachComment(ctx, q, func(class flows.Class, text string) error {
			got = append(got, string(class)+":"+text)
			return nil
		})
		if err != nil || fmt.Sprint(got) != "[detractor:物流太慢了 :no score yet promoter:fast delivery]" {
			t.Errorf("comments = %q, %v", got, err)
		}
	})
}

func TestSQLHandoffReport(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		ids := seedInsight(t, db, insightFixture())
		h := func(n int) time.Time { return insightT0.Add(time.Duration(n) * time.Hour) }
		for _, c := range []struct {
			response          int64
			opened            time.Time
			claimMin, doneMin int // 0: not yet
			outcome           string
			recovered         any
		}{
			{ids[4], h(40), 10, 70, "resolved", true},
			{ids[5], h(50), 20, 30, "no_answer", nil},
			{ids[0], h(1), 0, 0, "", nil},
			{ids[3], h(26), 5, 10, "resolved", false},
		} {
			if _, err := db.ApplyStep(ctx, flows.StepWrite{ResponseID: c.response, At: c.opened,
				OpenHandoff: &flows.Handoff{QuestionID: "nps", Kind: flows.KindNPS, Score: 3, Class: flows.ClassDetractor}}); err != nil {
				t.Fatal(err)
			}
			var claimed, resolved any
			if c.claimMin > 0 {
				claimed, resolved = sqlTime(c.opened.Add(time.Duration(c.claimMin)*time.Minute)), sqlTime(c.opened.Add(time.Duration(c.doneMin)*time.Minute))
			}
			if err := db.gorm.Exec("UPDATE handoffs SET claimed_at = ?, resolved_at = ?, outcome = ?, recovered = ? WHERE response_id = ?",
				claimed, resolved, c.outcome, c.recovered, c.response).Error; err != nil {
				t.Fatal(err)
			}
		}
		q, err := flows.ReportQuery{Survey: "delivery", From: insightT0, To: insightT0.Add(72 * time.Hour), GroupBy: flows.GroupWave}.Normalize(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		rep, err := db.HandoffReport(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(rep.Total)
		// Claims after 10, 20 and 5 minutes; resolutions after 70, 30 and 10; 1 of 2 answered follow-ups recovered.
		want := `{"cases":4,"claimed":3,"resolved":3,"minutes_to_claim":11.7,"minutes_to_resolve":36.7,` +
			`"outcomes":{"no_answer":1,"not_actionable":0,"resolved":2},"follow_ups":2,"recovered":1,"recovered_pct":50,"margin_of_error":69.3,"small_sample":true}`
		if string(got) != want {
			t.Errorf("handoffs = %s\nwant %s", got, want)
		}
		if len(rep.Groups) != 2 || rep.Groups[0].Key != "w1" || rep.Groups[0].Cases != 3 || rep.Groups[1].Key != "w2" || *rep.Groups[1].MinutesToClaim != 20 {
			t.Errorf("by wave = %+v", rep.Groups)
		}
		q.From = insightT0.Add(100 * time.Hour)
		q.To = q.From.Add(time.Hour)
		if rep, err := db.HandoffReport(ctx, q); err != nil || rep.Total.Cases != 0 || rep.Total.MinutesToClaim != nil || rep.Total.RecoveredPct != nil {
			t.Errorf("empty period = %+v, %v", rep.Total, err)
		}
	})
}
