package scheduler_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/scheduler"
)

func TestDescribeSchedule(t *testing.T) {
	now := time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC) // Monday 09:00 in Shanghai
	for _, c := range []struct{ spec, tz, en, zh, first string }{
		{"@every 1m", "UTC", "every minute", "每 1 分钟", "2026-03-02T01:01:00Z"},
		{"@every 90s", "UTC", "every 90 seconds", "每 90 秒", "2026-03-02T01:01:30Z"},
		{"*/15 * * * *", "UTC", "every 15 minutes", "每 15 分钟", "2026-03-02T01:15:00Z"},
		{"5 * * * *", "UTC", "every hour at minute 5", "每小时第 5 分钟", "2026-03-02T01:05:00Z"},
		{"0 */6 * * *", "UTC", "every 6 hours at minute 0", "每 6 小时的第 0 分钟", "2026-03-02T06:00:00Z"},
		{"@daily", "UTC", "every day at 00:00", "每天 00:00", "2026-03-03T00:00:00Z"},
		{"30 9,18 * * *", "UTC", "every day at 09:30, 18:30", "每天 09:30、18:30", "2026-03-02T09:30:00Z"},
		{"CRON_TZ=Asia/Shanghai 0 10 1 * *", "", "on day 1 of every month at 10:00 (Asia/Shanghai time)", "每月 1 日 10:00（Asia/Shanghai 时间）", "2026-04-01T10:00:00+08:00"},
		{"0 10 1 6 *", "UTC", "on day 1 of June at 10:00", "6 月 1 日 10:00", "2026-06-01T10:00:00Z"},
		{"0 10 * * MON-FRI", "UTC", "every Monday to Friday at 10:00", "每周一至周五 10:00", "2026-03-02T10:00:00Z"},
		{"0 10 * * 0,6", "UTC", "every Sunday, Saturday at 10:00", "每周日、周六 10:00", "2026-03-07T10:00:00Z"},
		{"0 10 1-7 * 1", "UTC", "on cron schedule 0 10 1-7 * 1", "按 cron 表达式 0 10 1-7 * 1", "2026-03-02T10:00:00Z"},
	} {
		// A spec without CRON_TZ runs in the server's zone; fix it for the test.
		spec := c.spec
		if !strings.HasPrefix(spec, "CRON_TZ=") {
			spec = "CRON_TZ=UTC " + spec
		}
		info, err := scheduler.DescribeSchedule(spec, c.tz, now, 5)
		if err != nil {
			t.Fatalf("%s: %v", c.spec, err)
		}
		suffixEN, suffixZH := "", ""
		if spec != c.spec {
			suffixEN, suffixZH = " (UTC time)", "（UTC 时间）"
		}
		if info.Words[0].Text != c.en+suffixEN || info.Words[1].Text != c.zh+suffixZH || info.Words[1].Language != "zh-CN" {
			t.Errorf("%s: words %q / %q, want %q / %q", c.spec, info.Words[0].Text, info.Words[1].Text, c.en, c.zh)
		}
		if len(info.NextRuns) != 5 || info.NextRuns[0].Format(time.RFC3339) != c.first || !info.NextRuns[1].After(info.NextRuns[0]) {
			t.Errorf("%s: next runs %v, want the first at %s", c.spec, info.NextRuns, c.first)
		}
	}
	// The wave's own time zone shows the runs of a spec without CRON_TZ.
	info, err := scheduler.DescribeSchedule("CRON_TZ=UTC 0 2 * * *", "Asia/Shanghai", now, 5)
	if err != nil || info.TimeZone != "UTC" {
		t.Fatalf("CRON_TZ wins over the wave's zone: %+v %v", info, err)
	}
	info, err = scheduler.DescribeSchedule("@every 1h", "Asia/Shanghai", now, 5)
	if err != nil || info.TimeZone != "Asia/Shanghai" || info.NextRuns[0].Format(time.RFC3339) != "2026-03-02T10:00:00+08:00" {
		t.Fatalf("runs in the wave's zone: %+v %v", info, err)
	}
	if _, err := scheduler.DescribeSchedule("CRON_TZ=", "", now, 5); err == nil {
		t.Fatal("a bare CRON_TZ= must be an error, not a panic")
	}
}

// A wave created paused is a draft: the preview counts who it would invite,
// running it invites no one, and once resumed it invites exactly those.
func TestDraftWaveInvitesOnlyOnceResumed(t *testing.T) {
	noon := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	f := newFixture(t, noon)
	ctx := context.Background()
	for i := range 4 {
		f.event(i, noon.Add(-3*time.Hour), "", map[string]string{"store": []string{"SH-01", "SH-02", "BJ-01", "SH-03"}[i]})
	}
	def := strings.Replace(baseWave, "delay: 2h}", `delay: 2h, where: {store: "SH-*"}}`, 1)
	check, err := f.manager.Check(ctx, []byte(def))
	if err != nil || check.ID != "w" || check.Kind != "trigger" || check.Schedule.Words[0].Text != "every minute" || len(check.Schedule.NextRuns) != 5 {
		t.Fatalf("check = %+v, %v", check, err)
	}
	if _, err := f.manager.Get(ctx, "w"); !errors.Is(err, flows.ErrNotFound) {
		t.Fatalf("check stored the wave: %v", err)
	}
	_, err = f.manager.Check(ctx, []byte(strings.Replace(def, "@every 1m", "every minute", 1)))
	var invalid *scheduler.InvalidWaveError
	if !errors.As(err, &invalid) || !errors.Is(err, flows.ErrInvalid) || len(invalid.Fields) != 1 || invalid.Fields[0].Field != "schedule" {
		t.Fatalf("check of a bad schedule = %v", err)
	}
	st, err := f.manager.Create(ctx, []byte(def), true)
	if err != nil || !st.Paused || st.When == nil || st.When.Words[1].Text != "每 1 分钟" {
		t.Fatalf("create paused = %+v, %v", st, err)
	}
	preview, err := f.manager.Preview(ctx, "w")
	if err != nil || preview.Planned != 3 {
		t.Fatalf("preview = %+v, %v", preview, err)
	}
	f.run("w")
	if c := f.counts("w"); c.Planned+c.Sent != 0 || len(f.sent(0)) != 0 {
		t.Fatalf("a draft invited: %+v", c)
	}
	if _, err := f.manager.SetPaused(ctx, "w", false); err != nil {
		t.Fatal(err)
	}
	f.run("w")
	for i, want := range []int{1, 1, 0, 1} {
		if got := len(f.sent(i)); got != want {
			t.Errorf("customer %d got %d messages, want %d", i, got, want)
		}
	}
	if c := f.counts("w"); c.Sent != preview.Planned {
		t.Errorf("sent %d, the preview said %d", c.Sent, preview.Planned)
	}
}
