package flows

import (
	"testing"
	"time"
)

func TestScoreSummaryFormulas(t *testing.T) {
	nps := NewScoreSummary(KindNPS, []ClassCount{
		{Class: ClassPromoter, N: 60, ScoreSum: 570}, {Class: ClassPassive, N: 25, ScoreSum: 200}, {Class: ClassDetractor, N: 15, ScoreSum: 60},
		{Class: ClassSatisfied, N: 99}, // another kind's class is ignored
	})
	// NPS 60 − 15 = 45; MoE 1.96 × √((0.60 + 0.15 − 0.45²) / 100) × 100 = 14.5.
	if nps.Responses != 100 || *nps.Score != 45 || *nps.MarginOfError != 14.5 || *nps.Mean != 8.3 || nps.SmallSample {
		t.Errorf("NPS = %+v score %v moe %v mean %v", nps, *nps.Score, *nps.MarginOfError, *nps.Mean)
	}
	ces := NewScoreSummary(KindCES, []ClassCount{{Class: ClassEasy, N: 20, ScoreSum: 40}, {Class: ClassDifficult, N: 9, ScoreSum: 54}})
	// % easy 20/29 = 69.0; MoE 1.96 × √(0.69 × 0.31 / 29) × 100 = 16.8; 29 < 30 is small.
	if ces.Responses != 29 || *ces.Score != 69 || *ces.MarginOfError != 16.8 || *ces.Mean != 3.24 || !ces.SmallSample || ces.Classes[ClassNeutral] != 0 {
		t.Errorf("CES = %+v score %v moe %v mean %v", ces, *ces.Score, *ces.MarginOfError, *ces.Mean)
	}
	if none := NewScoreSummary(KindCSAT, nil); none.Score != nil || none.Mean != nil || none.MarginOfError != nil || len(none.Classes) != 3 {
		t.Errorf("CSAT of nothing = %+v", none)
	}
}

func TestReportBuckets(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// 2026-10-25 is 25 hours long in Berlin (summer time ends).
	q := ReportQuery{GroupBy: GroupDay, TZ: berlin,
		From: time.Date(2026, 10, 24, 12, 0, 0, 0, berlin), To: time.Date(2026, 10, 26, 0, 0, 0, 0, berlin)}
	b := q.Buckets()
	if len(b) != 2 || b[0].Key != "2026-10-24" || !b[0].Start.Equal(q.From) || b[1].Key != "2026-10-25" || b[1].End.Sub(b[1].Start) != 25*time.Hour {
		t.Fatalf("days = %+v", b)
	}
	q.GroupBy, q.From = GroupWeek, time.Date(2026, 10, 1, 0, 0, 0, 0, berlin) // a Thursday
	if b := q.Buckets(); len(b) != 4 || b[0].Key != "2026-09-28" || b[3].Key != "2026-10-19" {
		t.Fatalf("weeks = %+v", b)
	}
	p := q.Previous()
	if !p.To.Equal(q.From) || p.To.Sub(p.From) != q.To.Sub(q.From) || p.GroupBy != GroupNone {
		t.Fatalf("previous = %+v", p)
	}
}

func TestTermsReport(t *testing.T) {
	c := NewTermCounts()
	for range 3 {
		c.Add(ClassDetractor, []string{"物流", "slow"})
	}
	c.Add(ClassDetractor, []string{"price"}) // one comment: not listed
	c.Add(ClassDissatisfied, []string{"客服", "slow"})
	c.Add(ClassDissatisfied, []string{"客服"})
	for range 4 {
		c.Add(ClassPromoter, []string{"slow", "fast"})
	}
	c.Add(ClassPassive, []string{"物流"}) // an other comment: not the baseline while there are happy ones
	rep := NewTermsReport(ReportQuery{}, c)
	// 物流: 3 of 6 unhappy, 0 of 4 happy: lift (4/7)/(1/5) = 2.86;
	// 客服: 2 of 6: (3/7)/(1/5) = 2.14; slow: 4 of 6 vs 4 of 4: (5/7)/(5/5) < 1.
	if rep.UnhappyComments != 6 || rep.HappyComments != 4 || rep.OtherComments != 1 || rep.Baseline != BaselineHappy ||
		rep.BaselineComments != 4 || len(rep.Terms) != 2 ||
		rep.Terms[0].Term != "物流" || rep.Terms[0].Unhappy != 3 || rep.Terms[0].UnhappyRate != 50 || *rep.Terms[0].Lift != 2.86 ||
		rep.Terms[1].Term != "客服" || rep.Terms[1].UnhappyRate != 33.3 || *rep.Terms[1].Lift != 2.14 || !rep.SmallSample {
		t.Fatalf("terms = %+v", rep)
	}
}

// TestTermsReportWithoutHappyComments: the shipped NPS survey asks only
// detractors and passives for a comment, so the passives are the baseline;
// with detractors' comments alone the words are ranked by frequency.
func TestTermsReportWithoutHappyComments(t *testing.T) {
	c := NewTermCounts()
	for range 3 {
		c.Add(ClassDetractor, []string{"物流", "慢"})
	}
	c.Add(ClassDetractor, []string{"价格", "慢"})
	c.Add(ClassDetractor, []string{"价格"})
	c.Add(ClassPassive, []string{"慢", "包装"})
	c.Add(ClassPassive, []string{"价格"})
	rep := NewTermsReport(ReportQuery{}, c)
	// 物流: 3 of 5 vs 0 of 2: (4/6)/(1/3) = 2; 慢: 4 of 5 vs 1 of 2: (5/6)/(2/3) = 1.25;
	// 价格: 2 of 5 vs 1 of 2: (3/6)/(2/3) < 1, dropped.
	if rep.Baseline != BaselineOthers || rep.BaselineComments != 2 || rep.HappyComments != 0 || len(rep.Terms) != 2 ||
		rep.Terms[0].Term != "物流" || *rep.Terms[0].Lift != 2 || rep.Terms[0].BaselineCount != 0 ||
		rep.Terms[1].Term != "慢" || *rep.Terms[1].Lift != 1.25 || rep.Terms[1].BaselineCount != 1 || rep.Terms[1].BaselineRate != 50 {
		t.Fatalf("against the passives = %+v", rep)
	}

	only := NewTermCounts()
	for _, ws := range [][]string{{"物流", "慢"}, {"物流"}, {"物流", "价格"}, {"价格", "慢"}, {"客服"}} {
		only.Add(ClassDetractor, ws)
	}
	rep = NewTermsReport(ReportQuery{}, only)
	if rep.Baseline != BaselineNone || rep.BaselineComments != 0 || len(rep.Terms) != 3 ||
		rep.Terms[0].Term != "物流" || rep.Terms[0].Unhappy != 3 || rep.Terms[0].Lift != nil ||
		rep.Terms[1].Term != "价格" || rep.Terms[2].Term != "慢" || rep.Terms[2].UnhappyRate != 40 {
		t.Fatalf("unhappy comments only = %+v", rep)
	}
}

func TestFunnelStopBeforeFirstAnswer(t *testing.T) {
	rep := NewFunnelReport(ReportQuery{}, FunnelCounts{Invited: 4, Sent: 4, Delivered: 4, Started: 3, Completed: 0,
		StoppedAt: map[string]int{"": 2, "nps": 1}})
	if len(rep.StoppedAt) != 2 || rep.StoppedAt[0] != (StopPoint{AfterQuestion: StopBeforeFirstAnswer, Responses: 2}) ||
		rep.StoppedAt[1] != (StopPoint{AfterQuestion: "nps", Responses: 1}) {
		t.Fatalf("stopped at = %+v", rep.StoppedAt)
	}
}
