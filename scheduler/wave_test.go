package scheduler

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

func knownSurvey(id string) bool { return id == "post_purchase_nps" }

func TestShippedWavesParse(t *testing.T) {
	data, err := os.ReadFile("../configs/waves/post_purchase.yaml")
	if err != nil {
		t.Fatal(err)
	}
	w, err := ParseWave("post_purchase.yaml", data, knownSurvey)
	if err != nil {
		t.Fatal(err)
	}
	want := Trigger{Touchpoint: "purchase", Delay: 2 * time.Hour, MaxAge: DefaultMaxAge, Where: Filter{"store": "SH-*"}}
	if w.Trigger == nil || w.Trigger.Touchpoint != want.Touchpoint || w.Trigger.Delay != want.Delay || w.Trigger.Where["store"] != "SH-*" {
		t.Errorf("trigger = %+v", w.Trigger)
	}
	if w.Schedule != "@every 1m" || w.Sample != 1 || w.ExpiresAfter != 72*time.Hour || w.ReminderAfter != 24*time.Hour {
		t.Errorf("wave = %+v", w)
	}
	if w.FrequencyCap == nil || *w.FrequencyCap != (FrequencyCap{Count: 1, Per: 30 * 24 * time.Hour}) {
		t.Errorf("frequency cap = %+v", w.FrequencyCap)
	}
	if len(w.QuietHours) != 1 || w.QuietHours[0] != (TimeRange{Start: 21 * 60, End: 9 * 60}) {
		t.Errorf("quiet hours = %+v", w.QuietHours)
	}

	data, _ = os.ReadFile("../configs/waves/relationship_nps.yaml")
	seg, err := ParseWave("relationship_nps.yaml", data, knownSurvey)
	if err != nil {
		t.Fatal(err)
	}
	if seg.Segment == nil || seg.Segment.Where["tier"] != "gold" || seg.Sample != 0.5 || seg.TimeZone != "Asia/Shanghai" {
		t.Errorf("segment wave = %+v", seg)
	}
}

func TestBadWavesNameTheField(t *testing.T) {
	base := "id: w1\nsurvey: post_purchase_nps\ntrigger: {touchpoint: purchase}\nschedule: \"@every 1m\"\n"
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown survey", strings.Replace(base, "post_purchase_nps", "nope", 1), `w.yaml:2: survey: no survey "nope"`},
		{"bad cron", strings.Replace(base, "@every 1m", "every minute", 1), `w.yaml:4: schedule: "every minute" is not a valid cron spec`},
		{"no trigger", "id: w1\nsurvey: post_purchase_nps\nschedule: \"@every 1m\"\n", "trigger"},
		{"both", base + "segment: {where: {tier: gold}}\n", "either trigger or segment"},
		{"overlapping quiet hours", base + "quiet_hours: [\"21:00-09:00\", \"08:00-10:00\"]\n", `"08:00-10:00" overlaps "21:00-09:00"`},
		{"empty quiet hours", base + "quiet_hours: \"09:00-09:00\"\n", "same time"},
		{"bad quiet hours", base + "quiet_hours: \"9pm-9am\"\n", "w.yaml:5: quiet_hours"},
		{"bad cap", base + "frequency_cap: once a month\n", "frequency_cap"},
		{"zero cap", base + "frequency_cap: 0 per 30d\n", "frequency_cap"},
		{"bad sample", base + "sample: 150%\n", "sample"},
		{"bad delay", strings.Replace(base, "{touchpoint: purchase}", "{touchpoint: purchase, delay: soon}", 1), "trigger.delay"},
		{"reminder after expiry", base + "expires_after: 24h\nreminder_after: 48h\n", "reminder_after"},
		{"unknown field", base + "qiet_hours: \"21:00-09:00\"\n", `w.yaml:5: qiet_hours: unknown field`},
		{"bad id", strings.Replace(base, "w1", "Wave One", 1), "id"},
		{"bad channel", base + "channels: [sms]\n", "channels"},
		{"bad timezone", base + "timezone: Mars/Olympus\n", "timezone"},
		{"bad pattern", strings.Replace(base, "{touchpoint: purchase}", "{touchpoint: purchase, where: {store: \"[\"}}", 1), "trigger.where.store"},
		{"not yaml", "id: [", "w.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWave("w.yaml", []byte(tc.yaml), knownSurvey)
			if err == nil || !errors.Is(err, flows.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want ErrInvalid naming %q, got %v", tc.want, err)
			}
		})
	}
}

func TestWaveAcceptsJSON(t *testing.T) {
	w, err := ParseWave("api", []byte(`{"id":"api_wave","survey":"post_purchase_nps","segment":{"where":{"tier":"gold"}},"schedule":"0 10 * * *","sample":"25%"}`), knownSurvey)
	if err != nil || w.Segment == nil || w.Sample != 0.25 {
		t.Fatalf("%+v %v", w, err)
	}
}

func TestQuietUntil(t *testing.T) {
	w := &Wave{QuietHours: []TimeRange{{Start: 21 * 60, End: 9 * 60}}}
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	for _, tc := range []struct {
		at   time.Time
		want time.Time
	}{
		{time.Date(2026, 11, 20, 22, 30, 0, 0, shanghai), time.Date(2026, 11, 21, 9, 0, 0, 0, shanghai)},
		{time.Date(2026, 11, 21, 3, 0, 0, 0, shanghai), time.Date(2026, 11, 21, 9, 0, 0, 0, shanghai)},
		{time.Date(2026, 11, 21, 9, 0, 0, 0, shanghai), time.Time{}},
		{time.Date(2026, 11, 21, 20, 59, 0, 0, shanghai), time.Time{}},
	} {
		if got := w.QuietUntil(tc.at.UTC(), shanghai); !got.Equal(tc.want) {
			t.Errorf("QuietUntil(%v) = %v, want %v", tc.at, got, tc.want)
		}
	}
}

func TestSampleIsStableAndProportional(t *testing.T) {
	w := &Wave{ID: "w", Sample: 0.3}
	in := 0
	for i := range 10_000 {
		a, b := w.Sampled(int64(i), "e"), w.Sampled(int64(i), "e")
		if a != b {
			t.Fatal("sampling is not deterministic")
		}
		if a {
			in++
		}
	}
	if in < 2800 || in > 3200 {
		t.Errorf("30%% sample took %d of 10,000", in)
	}
}

func TestFilter(t *testing.T) {
	f := Filter{"store": "SH-*", "sku": "A?"}
	if !f.Match(map[string]string{"store": "SH-01", "sku": "A7", "x": "y"}) {
		t.Error("should match")
	}
	if f.Match(map[string]string{"store": "BJ-01", "sku": "A7"}) || f.Match(map[string]string{"store": "SH-01"}) {
		t.Error("should not match")
	}
}
