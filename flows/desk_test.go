package flows

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDeskTapRoundTrip(t *testing.T) {
	for _, tap := range []DeskTap{
		{Action: ActClaim, HandoffID: 1},
		{Action: ActResolve, HandoffID: 9_223_372_036_854_775_807},
		{Action: ActBack, HandoffID: 3},
		{Action: ActOutcome, HandoffID: 4, Outcome: OutcomeNotActionable},
	} {
		data := EncodeDeskTap(tap)
		if len(data) > MaxTapData {
			t.Errorf("%+v encodes to %d bytes", tap, len(data))
		}
		got, err := DecodeDeskTap(data)
		if err != nil || got != tap {
			t.Errorf("DecodeDeskTap(%q) = %+v, %v; want %+v", data, got, err, tap)
		}
	}
	for _, bad := range []string{"", "a:1:nps:3", "d:claim", "d:claim:0", "d:claim:-1", "d:claim:x", "d:claim:1:extra",
		"d:outcome:1", "d:outcome:1:fixed", "d:steal:1", "d:resolve:1:resolved"} {
		if _, err := DecodeDeskTap(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("DecodeDeskTap(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	// A desk button never decodes as a survey answer, nor the reverse.
	if _, err := DecodeTap(EncodeDeskTap(DeskTap{Action: ActClaim, HandoffID: 1})); err == nil {
		t.Error("a desk button decoded as a survey tap")
	}
	if _, err := DecodeTap(EncodeTap(Tap{ResponseID: 1, QuestionID: RecoveryQuestionID, Value: "5"})); err != nil {
		t.Errorf("the follow-up question's tap does not decode: %v", err)
	}
}

func TestRoutes(t *testing.T) {
	routes, err := ParseRoutes(" store=SH-*:-1001 , sku=A??:-1002,store=*:-1003 ")
	if err != nil || len(routes) != 3 {
		t.Fatalf("ParseRoutes = %+v, %v", routes, err)
	}
	for _, c := range []struct {
		ctx  map[string]string
		want string
	}{
		{map[string]string{"store": "SH-01"}, "-1001"},
		{map[string]string{"sku": "A12", "store": "BJ-1"}, "-1002"},
		{map[string]string{"store": "BJ-1"}, "-1003"},
		{map[string]string{"city": "SH"}, "-9"},
		{nil, "-9"},
	} {
		if got := RouteFor(routes, c.ctx, "-9"); got != c.want {
			t.Errorf("RouteFor(%v) = %s, want %s", c.ctx, got, c.want)
		}
	}
	if r, err := ParseRoutes(""); err != nil || len(r) != 0 {
		t.Errorf("empty routes = %v, %v", r, err)
	}
	for _, bad := range []string{"store:-1", "store=SH-*", "=x:-1", "store=[:-1", "store=SH:chat"} {
		if _, err := ParseRoutes(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseRoutes(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestWorkingHours(t *testing.T) {
	w, err := ParseWorkingHours("Mon-Fri 09:00-18:00", "Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	sh, _ := time.LoadLocation("Asia/Shanghai")
	at := func(day, hour, min int) time.Time { return time.Date(2026, 12, day, hour, min, 0, 0, sh) } // Dec 4 2026 is a Friday
	for _, c := range []struct {
		from, to time.Time
		want     time.Duration
	}{
		{at(4, 10, 0), at(4, 10, 30), 30 * time.Minute},
		{at(4, 17, 50), at(7, 9, 6), 16 * time.Minute},      // over the weekend
		{at(5, 10, 0), at(6, 23, 0), 0},                     // all weekend
		{at(3, 20, 0), at(4, 8, 0), 0},                      // overnight
		{at(3, 17, 0), at(4, 10, 0), 2 * time.Hour},         // 1h Thursday, 1h Friday
		{at(7, 9, 0), at(14, 9, 0), 5 * 9 * time.Hour},      // a whole week
		{at(4, 10, 0).UTC(), at(4, 11, 0).UTC(), time.Hour}, // any zone in, same instants
		{at(4, 11, 0), at(4, 10, 0), 0},
	} {
		if got := w.Elapsed(c.from, c.to); got != c.want {
			t.Errorf("Elapsed(%s, %s) = %s, want %s", c.from, c.to, got, c.want)
		}
	}
	odd, err := ParseWorkingHours("Sat,Sun 10:00-16:00", "")
	if err != nil || !odd.Days[time.Saturday] || !odd.Days[time.Sunday] || odd.Days[time.Monday] {
		t.Fatalf("Sat,Sun = %+v, %v", odd.Days, err)
	}
	wrap, err := ParseWorkingHours("Fri-Mon 09:00-10:00", "UTC")
	if err != nil || !wrap.Days[time.Saturday] || wrap.Days[time.Wednesday] {
		t.Fatalf("Fri-Mon = %+v, %v", wrap.Days, err)
	}
	for _, spec := range []string{"", "always", "ALWAYS"} {
		a, err := ParseWorkingHours(spec, "")
		if err != nil || a.Elapsed(at(5, 0, 0), at(5, 1, 0)) != time.Hour {
			t.Errorf("%q: %v", spec, err)
		}
	}
	for _, bad := range [][2]string{{"Mon-Fri", "UTC"}, {"Mon-Fry 09:00-18:00", "UTC"}, {"Mon 18:00-09:00", "UTC"}, {"Mon 9-18", "UTC"}, {"Mon 09:00-18:00", "Mars/Olympus"}} {
		if _, err := ParseWorkingHours(bad[0], bad[1]); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseWorkingHours(%q, %q) = %v, want ErrInvalid", bad[0], bad[1], err)
		}
	}
}

func TestDeskRules(t *testing.T) {
	for _, text := range []string{"/done", " DONE ", "已解决", "解决了"} {
		if !IsCustomerDone(text) {
			t.Errorf("%q should close the case", text)
		}
	}
	for _, text := range []string{"not done yet", "done?", "未解决"} {
		if IsCustomerDone(text) {
			t.Errorf("%q closed the case", text)
		}
	}
	if !RecoveredBy(4) || !RecoveredBy(5) || RecoveredBy(3) {
		t.Error("recovery is a CSAT of 4 or 5")
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	resolved := now.Add(-6 * 24 * time.Hour)
	h := Handoff{Status: HandoffResolved, Case: Case{ResolvedAt: &resolved}}
	if !h.Reopenable(now, 7*24*time.Hour) || h.Reopenable(now, 5*24*time.Hour) || h.Live() {
		t.Error("reopen window")
	}
	if !(Handoff{Status: HandoffClaimed}).Live() || (Handoff{Status: HandoffAwaitingComment}).Live() {
		t.Error("live statuses")
	}
	if err := (Resolution{Outcome: "fixed"}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Error("unknown outcome accepted")
	}
	if err := (Resolution{Outcome: OutcomeResolved, Note: string(make([]rune, 2001))}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Error("long note accepted")
	}
	if !OutcomeResolved.FollowsUp() || OutcomeNoAnswer.FollowsUp() {
		t.Error("only a fix is followed up")
	}
	for _, bad := range []Agent{{TelegramUserID: 1, Name: "", Role: RoleAgent}, {TelegramUserID: 1, Name: string(make([]rune, 65)), Role: RoleAgent}} {
		if err := bad.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("agent %+v accepted", bad)
		}
	}
}

func TestHandoffWebhookPayload(t *testing.T) {
	rec := true
	body, err := HandoffWebhookPayload(EventHandoffRecovered, Handoff{ID: 7, CustomerRef: "C-1", Status: HandoffResolved, Case: Case{Recovered: &rec}}, time.Unix(0, 0))
	if err != nil || string(body) == "" {
		t.Fatal(err)
	}
	for _, want := range []string{`"event":"handoff.recovered"`, `"handoff_id":7`, `"customer_ref":"C-1"`, `"recovered":true`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("payload %s lacks %s", body, want)
		}
	}
}
