package httpapi

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/segment"
	"github.com/cxbot/cxbot/store/sqlstore"
)

// storeAPI is the API over a real SQLite store holding seeded responses.
type storeAPI struct {
	*fakeAPI
	db *sqlstore.DB
}

// seededResponse is one response to seed: its answers, in order, at at.
type seededResponse struct {
	survey, ref string
	context     map[string]string
	at          time.Time
	answers     []flows.Answer
}

func newStoreAPI(t *testing.T, seed []seededResponse) *storeAPI {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "cxbot.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	survey := testSurveys()
	for n, s := range seed {
		c, err := db.UpsertCustomer(ctx, s.ref, "en")
		if err != nil {
			t.Fatal(err)
		}
		inv, _, err := db.CreateInvitation(ctx, flows.Invitation{WaveID: "w1", CustomerID: c.ID, EventID: fmt.Sprint("ev-", n),
			SurveyID: s.survey, SurveyVersion: 1, Channel: flows.ChannelTelegram, ExternalID: fmt.Sprint(n), Language: "en", Context: s.context})
		if err != nil {
			t.Fatal(err)
		}
		r, err := db.StartResponse(ctx, flows.Response{InvitationID: inv.ID, StartedAt: s.at})
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range s.answers {
			if a.Score != nil {
				a.Class = survey[s.survey].Classify(a.Kind, *a.Score)
			}
			a.AnsweredAt = s.at.Add(time.Duration(i) * time.Second)
			if _, err := db.ApplyStep(ctx, flows.StepWrite{ResponseID: r.ID, Answer: &a, At: a.AnsweredAt}); err != nil {
				t.Fatal(err)
			}
		}
	}
	a := &storeAPI{db: db, fakeAPI: &fakeAPI{t: t, convs: &fakeConversations{t: t, SurveysFn: testSurveys}}}
	a.srv = httptest.NewServer(New(Config{Token: testToken, Conversations: a.convs, Insight: db, Responses: db, Comments: db, Words: segment.New(), Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(a.srv.Close)
	return a
}

func score(kind flows.Kind, q string, v int) flows.Answer {
	return flows.Answer{QuestionID: q, Kind: kind, Score: &v}
}

func text(q, v string) flows.Answer {
	return flows.Answer{QuestionID: q, Kind: flows.KindText, Text: v}
}

func exportFixture() []seededResponse {
	t0 := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Second)
	return []seededResponse{
		{"post_purchase_nps", "C-1", map[string]string{"store": "SH-01", "sku": "=HYPERLINK(\"http://x\")"}, t0,
			[]flows.Answer{score(flows.KindNPS, "nps", 2), text("why", "物流太慢, <script>alert(1)</script>")}},
		{"post_purchase_nps", "C-2", map[string]string{"store": "SH-02"}, t0.Add(time.Hour),
			[]flows.Answer{score(flows.KindNPS, "nps", 10), text("why", "+fast @home -ok")}},
		{"post_purchase_nps", "C-3", nil, t0.Add(2 * time.Hour), []flows.Answer{score(flows.KindNPS, "nps", 9)}},
		{"post_service_csat", "C-4", nil, t0, []flows.Answer{score(flows.KindCSAT, "csat", 5)}},
	}
}

func TestExportsFromTheStore(t *testing.T) {
	a := newStoreAPI(t, exportFixture())
	wantRows := [][]string{
		{"response_id", "survey", "wave", "customer_ref", "channel", "language", "status", "started_at", "completed_at", "nps", "why", "attr.sku", "attr.store"},
		{"1", "post_purchase_nps", "w1", "C-1", "telegram", "en", "started", "", "", "2", "物流太慢, <script>alert(1)</script>", `'=HYPERLINK("http://x")`, "SH-01"},
		{"2", "post_purchase_nps", "w1", "C-2", "telegram", "en", "started", "", "", "10", "'+fast @home -ok", "", "SH-02"},
		{"3", "post_purchase_nps", "w1", "C-3", "telegram", "en", "started", "", "", "9", "", "", ""},
	}
	check := func(format string, rows [][]string) {
		t.Helper()
		if len(rows) != len(wantRows) {
			t.Fatalf("%s: %d rows: %q", format, len(rows), rows)
		}
		for i := range rows {
			if i > 0 {
				rows[i][7] = "" // started_at: the seed's clock
			}
			if fmt.Sprint(rows[i]) != fmt.Sprint(wantRows[i]) {
				t.Errorf("%s row %d = %q\nwant %q", format, i, rows[i], wantRows[i])
			}
		}
	}

	r := a.do(http.MethodGet, "/api/v1/exports/responses.csv?survey=post_purchase_nps", "")
	body, ok := strings.CutPrefix(r.body, "\uFEFF")
	if r.code != http.StatusOK || !ok || !strings.Contains(r.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("csv = %d %v %.200s", r.code, r.header, r.body)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	check("csv", rows)

	r = a.do(http.MethodGet, "/api/v1/exports/responses.xlsx?survey=post_purchase_nps", "")
	book, err := excelize.OpenReader(bytes.NewReader([]byte(r.body)))
	if r.code != http.StatusOK || err != nil {
		t.Fatalf("xlsx = %d %v", r.code, err)
	}
	rows, err = book.GetRows("responses")
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows { // GetRows drops trailing empty cells
		for len(rows[i]) < len(wantRows[0]) {
			rows[i] = append(rows[i], "")
		}
	}
	check("xlsx", rows)
	// Ids and scores are numbers (SUM works), times are dates, text is text
	// (a number cell has no t attribute: CellTypeUnset).
	num := excelize.CellTypeUnset
	for cell, want := range map[string]excelize.CellType{"A2": num, "J2": num,
		"J4": num, "H2": num, "K2": excelize.CellTypeInlineString,
		"L2": excelize.CellTypeInlineString, "D2": excelize.CellTypeInlineString} {
		if got, err := book.GetCellType("responses", cell); err != nil || got != want {
			t.Errorf("xlsx %s type = %v %v, want %v", cell, got, err, want)
		}
	}
	if err := book.SetCellFormula("responses", "Z1", "SUM(J2:J4)+A4"); err != nil {
		t.Fatal(err)
	}
	if sum, err := book.CalcCellValue("responses", "Z1"); err != nil || sum != "24" {
		t.Errorf("SUM of the scores + id 3 = %q %v", sum, err)
	}
	started, err := book.GetCellValue("responses", "H2")
	if at, perr := time.Parse("2006-01-02 15:04:05", started); err != nil || perr != nil || at.Sub(time.Now().UTC().Add(-48*time.Hour)).Abs() > time.Hour {
		t.Errorf("xlsx started_at shows %q (%v %v), want the seed's time as a date", started, err, perr)
	}

	r = a.do(http.MethodGet, "/api/v1/exports/responses.csv?survey=post_purchase_nps&class=promoter&attr.store=SH-02", "")
	if rows, _ := csv.NewReader(strings.NewReader(r.body)).ReadAll(); len(rows) != 2 || rows[1][3] != "C-2" {
		t.Errorf("filtered export = %q", rows)
	}
	for _, tc := range []struct{ path, want string }{
		{"/api/v1/exports/responses.csv", "query parameter survey is required: an export has one column per question of one survey"},
		{"/api/v1/exports/responses.xlsx?survey=post_purchase_nps&class=happy", `class="happy": use promoter, passive, detractor, satisfied, neutral, dissatisfied, easy or difficult`},
	} {
		if r := a.do(http.MethodGet, tc.path, ""); r.code != http.StatusBadRequest || r.errorText(t) != tc.want {
			t.Errorf("%s = %d %s", tc.path, r.code, r.body)
		}
	}
}

func TestResponseListFromTheStore(t *testing.T) {
	a := newStoreAPI(t, exportFixture())
	var page responsesJSON
	seen := []string{}
	path := "/api/v1/responses?survey=post_purchase_nps&limit=2"
	for range 3 {
		r := a.do(http.MethodGet, path, "")
		r.json(t, &page)
		for _, rec := range page.Responses {
			seen = append(seen, rec.CustomerRef)
		}
		if page.NextCursor == "" {
			break
		}
		path = "/api/v1/responses?survey=post_purchase_nps&limit=2&cursor=" + page.NextCursor
	}
	if fmt.Sprint(seen) != "[C-3 C-2 C-1]" {
		t.Errorf("pages, newest first = %v", seen)
	}
	r := a.do(http.MethodGet, "/api/v1/responses?with_text=true&class=detractor", "")
	r.json(t, &page)
	if len(page.Responses) != 1 || page.Responses[0].Answers[1].Text != "物流太慢, <script>alert(1)</script>" || page.NextCursor != "" {
		t.Errorf("detractors' comments = %s", r.body)
	}
	for _, q := range []string{"limit=0", "limit=501", "cursor=abc", "with_text=maybe"} {
		if r := a.do(http.MethodGet, "/api/v1/responses?"+q, ""); r.code != http.StatusBadRequest {
			t.Errorf("%s = %d %s", q, r.code, r.body)
		}
	}
}

// TestTermsFromTheStore: 物流 rises among detractors, in Chinese comments
// cut into words.
func TestTermsFromTheStore(t *testing.T) {
	t.Parallel() // store-backed (and a browser): the slow ones overlap
	t0 := time.Now().UTC().Add(-24 * time.Hour)
	var seed []seededResponse
	for i, c := range []struct {
		score   int
		comment string
	}{
		{1, "物流太慢了"}, {2, "物流很慢，包装也坏了"}, {3, "The delivery was late"}, {0, "delivery late again, 物流差"},
		{10, "客服很好"}, {9, "fast delivery"}, {10, "包装很好"}, {7, "物流还行"},
	} {
		seed = append(seed, seededResponse{"post_purchase_nps", fmt.Sprint("T-", i), nil, t0.Add(time.Duration(i) * time.Minute),
			[]flows.Answer{score(flows.KindNPS, "nps", c.score), text("why", c.comment)}})
	}
	a := newStoreAPI(t, seed)
	var rep flows.TermsReport
	r := a.do(http.MethodGet, "/api/v1/reports/terms?survey=post_purchase_nps", "")
	r.json(t, &rep)
	if r.code != http.StatusOK || rep.UnhappyComments != 4 || rep.HappyComments != 3 || len(rep.Terms) < 2 {
		t.Fatalf("terms = %d %s", r.code, r.body)
	}
	// 物流 in 3 of 4 unhappy comments, none of the happy ones (the passive's is not counted).
	if top := rep.Terms[0]; top.Term != "物流" || top.Unhappy != 3 || top.Happy != 0 {
		t.Errorf("top term = %+v; all %s", top, r.body)
	}
	var late *flows.Term
	for i := range rep.Terms {
		if rep.Terms[i].Term == "late" {
			late = &rep.Terms[i]
		}
	}
	if late == nil || late.Unhappy != 2 {
		t.Errorf("late = %+v in %s", late, r.body)
	}
}

// TestTermsWithTheShippedNPSSurvey: configs/surveys/post_purchase_nps.yaml
// asks detractors and passives for a comment and thanks promoters at once,
// so there is no happy comment; the passives' comments are the baseline,
// and with only detractors' comments the words are ranked by frequency.
func TestTermsWithTheShippedNPSSurvey(t *testing.T) {
	t.Parallel() // store-backed (and a browser): the slow ones overlap
	shipped, err := flows.LoadSurveys(filepath.Join("..", "configs", "surveys"))
	if err != nil {
		t.Fatal(err)
	}
	nps := shipped["post_purchase_nps"]
	if nps == nil {
		t.Fatal("no shipped post_purchase_nps")
	}
	// The comment question each class is led to, "" for none.
	commentFor := map[string]string{}
	for _, b := range nps.Questions[0].Branches {
		for _, q := range nps.Questions {
			if q.ID == b.Goto && q.Kind == flows.KindText {
				commentFor[b.When] = q.ID
			}
		}
	}
	if commentFor["promoter"] != "" || commentFor["detractor"] == "" || commentFor["passive"] == "" {
		t.Fatalf("the shipped survey's comment questions changed: %v", commentFor)
	}
	t0 := time.Now().UTC().Add(-24 * time.Hour)
	answer := func(i, s int, comment string) seededResponse {
		class := string(nps.Classify(flows.KindNPS, s))
		as := []flows.Answer{score(flows.KindNPS, "nps", s)}
		if q := commentFor[class]; q != "" {
			as = append(as, text(q, comment))
		}
		return seededResponse{"post_purchase_nps", fmt.Sprint("S-", i), nil, t0.Add(time.Duration(i) * time.Minute), as}
	}
	detractors := []seededResponse{answer(0, 1, "物流太慢了"), answer(1, 3, "物流很慢，包装也坏了"), answer(2, 0, "The delivery was late, 物流差"),
		answer(3, 2, "delivery late again"), answer(4, 10, "promoters are not asked"), answer(5, 9, "")}

	a := newStoreAPI(t, detractors)
	var rep flows.TermsReport
	r := a.do(http.MethodGet, "/api/v1/reports/terms?survey=post_purchase_nps", "")
	r.json(t, &rep)
	if r.code != http.StatusOK || rep.Baseline != flows.BaselineNone || rep.UnhappyComments != 4 || rep.HappyComments != 0 ||
		rep.OtherComments != 0 || len(rep.Terms) == 0 || !strings.Contains(r.body, `"baseline":"none"`) {
		t.Fatalf("detractors only: %d %s", r.code, r.body)
	}
	if top := rep.Terms[0]; top.Term != "物流" || top.Unhappy != 3 || top.Lift != nil {
		t.Errorf("detractors only, top term = %+v in %s", top, r.body)
	}

	withPassives := append(detractors, answer(6, 7, "包装很好，物流还行"), answer(7, 8, "delivery was fine"), answer(8, 7, "价格高"))
	a = newStoreAPI(t, withPassives)
	rep = flows.TermsReport{}
	r = a.do(http.MethodGet, "/api/v1/reports/terms?survey=post_purchase_nps", "")
	r.json(t, &rep)
	if r.code != http.StatusOK || rep.Baseline != flows.BaselineOthers || rep.BaselineComments != 3 || rep.UnhappyComments != 4 || len(rep.Terms) == 0 {
		t.Fatalf("with passives: %d %s", r.code, r.body)
	}
	var late *flows.Term
	for i := range rep.Terms {
		if rep.Terms[i].Term == "late" {
			late = &rep.Terms[i]
		}
	}
	// late: 2 of 4 unhappy, 0 of 3 passives: (3/5)/(1/4) = 2.4.
	if late == nil || late.Lift == nil || *late.Lift != 2.4 || late.BaselineCount != 0 {
		t.Errorf("late = %+v in %s", late, r.body)
	}
}

// TestUnknownGroupByFromTheStore: a grouping no response has is a 400
// naming it, on the score and handoff reports; a known attribute is not.
func TestUnknownGroupByFromTheStore(t *testing.T) {
	a := newStoreAPI(t, exportFixture())
	for _, tc := range []struct{ path, want string }{
		{"reports/nps?group_by=hour", `group_by="hour": no response between from and to has an event attribute "hour"`},
		{"reports/nps?group_by=STORE", `group_by="STORE": no response between from and to has an event attribute "STORE"`},
		{"reports/handoffs?group_by=nonexistent_attr", `group_by="nonexistent_attr": no response`},
		{"responses?group_by=day", `group_by="day": a list of responses cannot be grouped`},
		{"exports/responses.csv?group_by=store", `group_by="store": a list of responses cannot be grouped`},
		{"exports/responses.xlsx?attr.store=SH-01&attr.store=SH-02", `attr.store given 2 times`},
	} {
		r := a.do(http.MethodGet, "/api/v1/"+tc.path, "")
		if r.code != http.StatusBadRequest || !strings.Contains(r.errorText(t), tc.want) {
			t.Errorf("%s = %d %s; want 400 %q", tc.path, r.code, r.body, tc.want)
		}
	}
	var rep flows.ScoreReport
	r := a.do(http.MethodGet, "/api/v1/reports/nps?group_by=store", "")
	r.json(t, &rep)
	if r.code != http.StatusOK || len(rep.Groups) != 3 {
		t.Errorf("nps by store = %d %s", r.code, r.body)
	}
}
