package scheduler_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/scheduler"
	"github.com/cxbot/cxbot/store/redisstore"
	"github.com/cxbot/cxbot/store/sqlstore"
)

// live is the preview's view of SQL (caps) and Redis (surveys in progress).
type live struct {
	db    *sqlstore.DB
	redis *redisstore.Store
}

func (l live) SentSince(ctx context.Context, customerID int64, since time.Time) (int, error) {
	return l.db.SentSince(ctx, customerID, since)
}

func (l live) LoadState(ctx context.Context, ch flows.Channel, chatID string) (flows.State, bool, error) {
	return l.redis.LoadState(ctx, ch, chatID)
}

var weekCap = &scheduler.FrequencyCap{Count: 1, Per: 7 * 24 * time.Hour}

func withDefaults(f *fixture, mc *scheduler.ManagerConfig) {
	quiet, err := scheduler.ParseQuietHours("21:00-09:00")
	if err != nil {
		f.t.Fatal(err)
	}
	mc.Defaults = scheduler.WaveDefaults{FrequencyCap: weekCap, QuietHours: quiet}
	mc.Live = live{f.db, f.redis}
}

const everyone = `
id: everyone
survey: post_purchase_nps
segment: {where: {}}
schedule: "0 * * * *"
`

// Review finding 1: a wave naming no cap and no quiet hours gets the
// defaults; "off" is honoured only where it cannot re-ask everyone.
func TestWaveDefaultsApplyWhenNoneNamed(t *testing.T) {
	f := newFixtureWith(t, time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC), withDefaults)
	ctx := context.Background()
	st, err := f.manager.Create(ctx, []byte(everyone), true)
	if err != nil {
		t.Fatal(err)
	}
	if st.Definition.FrequencyCap != "1 per 7d" || strings.Join(st.Definition.QuietHours, ",") != "21:00-09:00" {
		t.Fatalf("defaults not applied: %+v", st.Definition)
	}
	st, err = f.manager.Create(ctx, []byte(baseWave+"frequency_cap: off\nquiet_hours: off\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	if st.Definition.FrequencyCap != "" || len(st.Definition.QuietHours) != 0 {
		t.Fatalf("explicit off not honoured: %+v", st.Definition)
	}
	st, err = f.manager.Create(ctx, []byte(strings.Replace(baseWave, "id: w", "id: w2", 1)+"frequency_cap: 2 per 1d\nquiet_hours: [\"22:00-08:00\"]\n"), true)
	if err != nil || st.Definition.FrequencyCap != "2 per 1d" || strings.Join(st.Definition.QuietHours, ",") != "22:00-08:00" {
		t.Fatalf("a wave's own cap lost: %+v %v", st.Definition, err)
	}
	for _, tc := range []struct{ name, def, field, want string }{
		{"segment cap off", everyone + "frequency_cap: off\n", "frequency_cap", "needs a cap"},
		{"segment every minute", strings.Replace(everyone, `"0 * * * *"`, `"@every 1m"`, 1), "schedule", `"@every 1m" runs every 1m: a segment wave`},
		{"segment every 30 minutes", strings.Replace(everyone, `"0 * * * *"`, `"*/30 * * * *"`, 1), "schedule", "runs every 30m"},
		{"never runs", strings.Replace(baseWave, `"@every 1m"`, `"0 0 31 2 *"`, 1), "schedule", `"0 0 31 2 *" never runs`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.manager.Check(ctx, []byte(tc.def))
			var inv *scheduler.InvalidWaveError
			if !errors.As(err, &inv) || len(inv.Fields) != 1 || inv.Fields[0].Field != tc.field || !strings.Contains(inv.Fields[0].Problem, tc.want) {
				t.Fatalf("err = %v (%+v), want %s: %s", err, inv, tc.field, tc.want)
			}
		})
	}
	// Without a default cap a segment wave must name one.
	g := newFixture(t, time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	if _, err := g.manager.Check(ctx, []byte(everyone)); err == nil || !strings.Contains(err.Error(), "frequency_cap: is required for a segment wave") {
		t.Fatalf("segment without any cap: %v", err)
	}
}

// Review finding 1: an hourly segment wave asks a customer once, not at
// every run; the row planned behind the open survey is skipped, not sent
// once the survey ends.
func TestSegmentWaveDoesNotReSurvey(t *testing.T) {
	noon := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	f := newFixtureWith(t, noon, withDefaults)
	ctx := context.Background()
	f.wave(everyone)
	f.event(1, noon.Add(-24*time.Hour), "", nil)
	f.run("everyone")
	if n := len(f.sent(1)); n != 1 {
		t.Fatalf("first run sent %d", n)
	}
	f.clock.Set(noon.Add(time.Hour)) // the survey is still open
	f.run("everyone")
	if n := len(f.sent(1)); n != 1 {
		t.Fatalf("second run while the survey is open sent %d", n)
	}
	// The customer answers; the next runs ask nothing more.
	if err := f.conv.HandleUpdate(ctx, flows.Update{Channel: flows.ChannelTelegram, UpdateID: "a", ChatID: "5001", Text: "9"}); err != nil {
		t.Fatal(err)
	}
	answered := len(f.sent(1))
	for h := 2; h <= 5; h++ {
		f.clock.Set(noon.Add(time.Duration(h) * time.Hour))
		f.run("everyone")
	}
	if got := f.sent(1); len(got) != answered {
		t.Fatalf("after answering the customer got %d more messages: %+v", len(got)-answered, got[answered:])
	}
	c := f.counts("everyone")
	if c.Completed != 1 || c.Skipped != 5 || c.Planned != 0 {
		t.Fatalf("counts %+v: want 1 completed, 5 skipped (frequency cap), none left planned", c)
	}
}

// Review finding 4: preview skips whom dispatch would skip now, by reason.
func TestPreviewAppliesDispatchRules(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC) // 20:00 in Shanghai, 12:00 in London
	f := newFixtureWith(t, now, withDefaults)
	ctx := context.Background()
	f.wave(baseWave) // default cap 1 per 7d, default quiet hours 21:00-09:00
	f.event(1, now.Add(-3*time.Hour), "Europe/London", nil)
	f.run("w") // customer 1 got the survey and has not answered
	f.wave(strings.Replace(baseWave, "id: w", "id: w2", 1) + "frequency_cap: off\n")
	f.wave(strings.Replace(baseWave, "id: w", "id: w3", 1))
	if _, err := f.manager.SetPaused(ctx, "w2", true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.manager.SetPaused(ctx, "w3", true); err != nil {
		t.Fatal(err)
	}
	f.event(2, now.Add(-150*time.Minute), "Europe/London", nil)
	f.event(3, now.Add(-150*time.Minute), "Asia/Shanghai", nil)
	f.clock.Set(now.Add(90 * time.Minute)) // 21:30 in Shanghai: quiet there
	p, err := f.manager.Preview(ctx, "w3")
	if err != nil {
		t.Fatal(err)
	}
	if p.Planned != 1 || p.Skipped[scheduler.SkipFrequency] != 1 || p.Skipped[scheduler.SkipQuietHours] != 1 || len(p.Sample) != 1 || p.Sample[0].CustomerRef != "C-2" {
		t.Fatalf("preview w3: %+v", p)
	}
	// Without a cap, customer 1 is still held back by the open survey.
	p, err = f.manager.Preview(ctx, "w2")
	if err != nil {
		t.Fatal(err)
	}
	if p.Planned != 1 || p.Skipped[scheduler.SkipInProgress] != 1 || p.Skipped[scheduler.SkipQuietHours] != 1 {
		t.Fatalf("preview w2: %+v", p)
	}
	// What preview said is what dispatch does.
	if _, err := f.manager.SetPaused(ctx, "w3", false); err != nil {
		t.Fatal(err)
	}
	f.run("w3")
	if len(f.sent(1)) != 1 || len(f.sent(2)) != 1 || len(f.sent(3)) != 0 {
		t.Fatalf("dispatch after preview sent %d %d %d", len(f.sent(1)), len(f.sent(2)), len(f.sent(3)))
	}
}

// Review finding 10: PUT takes the path's id; retired waves stay retired.
func TestPutIDFromPathAndRetiredConflict(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	ctx := context.Background()
	body := strings.Replace(baseWave, "id: w\n", "", 1)
	st, created, err := f.manager.Put(ctx, "w", []byte(body))
	if err != nil || !created || st.ID != "w" {
		t.Fatalf("YAML put without id: %+v %v %v", st, created, err)
	}
	json := `{"survey":"post_purchase_nps","trigger":{"touchpoint":"purchase"},"schedule":"@every 5m"}`
	if st, created, err = f.manager.Put(ctx, "j", []byte(json)); err != nil || !created || st.Schedule != "@every 5m" {
		t.Fatalf("JSON put without id: %+v %v %v", st, created, err)
	}
	if _, _, err = f.manager.Put(ctx, "j", []byte(`{"id":"k",`+json[1:])); !errors.Is(err, flows.ErrInvalid) || !strings.Contains(err.Error(), `id "k" in the body differs from "j" in the path`) {
		t.Fatalf("differing ids: %v", err)
	}
	if _, err := f.manager.Retire(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	if _, _, err = f.manager.Put(ctx, "j", []byte(json)); !errors.Is(err, flows.ErrConflict) || !strings.Contains(err.Error(), "retired") {
		t.Fatalf("put of a retired wave: %v", err)
	}
	if _, err = f.manager.SetPaused(ctx, "j", false); !errors.Is(err, flows.ErrConflict) {
		t.Fatalf("resume of a retired wave: %v", err)
	}
	st, err = f.manager.Get(ctx, "j")
	if err != nil || !st.Retired {
		t.Fatalf("retired wave revived: %+v %v", st, err)
	}
	// Its schedule still reads in words, with no runs to come.
	if st.When == nil || st.When.Words[0].Text != "every 5 minutes" || len(st.When.NextRuns) != 0 {
		t.Fatalf("retired wave's schedule: %+v", st.When)
	}
}

// Review finding 10: an API body's errors come together, by field, in JSON
// terms, without a pseudo file name.
func TestAPIWaveErrorsTogether(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	def := `{"id":"Bad id","survey":"post_purchase_nps","trigger":{"touchpoint":"purchase","delai":"2h","where":{"store":["SH"]}},` +
		`"schedule":"@every 1m","channels":"telegram","sample":"200%","expires_after":{"h":1}}`
	_, err := f.manager.Check(context.Background(), []byte(def))
	var inv *scheduler.InvalidWaveError
	if !errors.As(err, &inv) {
		t.Fatalf("err = %v", err)
	}
	got := map[string]string{}
	for _, p := range inv.Fields {
		got[p.Field] = p.Problem
	}
	want := map[string]string{
		"id":                  "must be lowercase",
		"trigger.delai":       "unknown field (want one of touchpoint, delay, max_age, where)",
		"trigger.where.store": "must be a string, not an array",
		"channels":            "must be an array of strings, not a string",
		"sample":              "must be a share",
		"expires_after":       "must be a string, not an object",
	}
	for field, w := range want {
		if !strings.Contains(got[field], w) {
			t.Errorf("%s: %q, want %q", field, got[field], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("fields %v, want exactly %v", got, want)
	}
	for _, bad := range []string{"api", "line ", "!!", "[]string", "unmarshal"} {
		if strings.Contains(err.Error(), bad) {
			t.Errorf("message has %q: %s", bad, err)
		}
	}
	if _, err := f.manager.Check(context.Background(), []byte(`{"id":`)); err == nil || strings.HasPrefix(strings.TrimPrefix(err.Error(), "invalid: "), "api") || !strings.Contains(err.Error(), "not valid JSON or YAML") {
		t.Errorf("syntax error: %v", err)
	}
}
