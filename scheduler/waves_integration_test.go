package scheduler_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/bot/telegram"
	"github.com/cxbot/cxbot/bot/telegram/telegramtest"
	"github.com/cxbot/cxbot/conversation"
	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/scheduler"
	"github.com/cxbot/cxbot/store/redisstore"
	"github.com/cxbot/cxbot/store/sqlstore"
)

// clock is the injected time: tests move it instead of sleeping for hours.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

// fixture is one cxbot replica's wave machinery on SQLite, the embedded
// Redis and a fake Telegram Bot API over HTTP.
type fixture struct {
	t       testing.TB
	clock   *clock
	db      *sqlstore.DB
	redis   *redisstore.Store
	tg      *telegramtest.Server
	conv    *conversation.Service
	manager *scheduler.Manager
	disp    *scheduler.Dispatcher
	surveys map[string]*flows.Survey
	limits  map[flows.Channel]scheduler.ChannelLimits
}

var shanghai, _ = time.LoadLocation("Asia/Shanghai")

func newFixture(t testing.TB, start time.Time) *fixture {
	t.Helper()
	return newFixtureWith(t, start, nil)
}

// newFixtureWith lets a test set the manager's defaults and live state.
func newFixtureWith(t testing.TB, start time.Time, configure func(*fixture, *scheduler.ManagerConfig)) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{t: t, clock: &clock{now: start}}
	var err error
	if f.surveys, err = flows.LoadSurveys("../configs/surveys"); err != nil {
		t.Fatal(err)
	}
	if f.db, err = sqlstore.Open(ctx, filepath.Join(t.TempDir(), "cx.db"), nil); err != nil {
		t.Fatal(err)
	}
	f.db.Now = f.clock.Now
	t.Cleanup(func() { f.db.Close() })
	if _, err := f.db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range f.surveys {
		if s.Version, err = f.db.SaveSurvey(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if f.redis, err = redisstore.Open(ctx, "", nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.redis.Close() })
	f.tg = telegramtest.New("1:T")
	t.Cleanup(f.tg.Close)
	tgAdapter, err := telegram.New(telegram.Config{Token: "1:T", APIURL: f.tg.URL(), DecodeTap: flows.DecodeTap, Now: f.clock.Now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.conv, err = conversation.New(conversation.Config{
		Records: f.db, States: f.redis, Channels: []bot.Channel{tgAdapter}, Surveys: f.surveys,
		Now: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	limits := map[flows.Channel]scheduler.ChannelLimits{flows.ChannelTelegram: {Global: flows.Limit{Count: 1000, Per: time.Second}}}
	f.limits = limits
	mc := scheduler.ManagerConfig{
		Store: f.db, FollowUps: f.db, Planner: scheduler.NewPlanner(f.db, f.surveys, nil), Convs: f.conv,
		Limiter: f.redis, Limits: limits, Surveys: f.surveys, Now: f.clock.Now,
	}
	if configure != nil {
		configure(f, &mc)
	}
	f.manager = scheduler.NewManager(mc)
	f.disp = scheduler.NewDispatcher(scheduler.DispatcherConfig{
		Store: f.db, Limiter: f.redis, Sender: f.conv, Waves: f.manager.Lookup, Owner: "test", Limits: limits, Now: f.clock.Now,
	})
	return f
}

// wave creates a wave through the manager, as the API does.
func (f *fixture) wave(yaml string) {
	f.t.Helper()
	if _, err := f.manager.Create(context.Background(), []byte(yaml), false); err != nil {
		f.t.Fatal(err)
	}
}

// event reports a purchase by customer i, chat 5000+i.
func (f *fixture) event(i int, occurred time.Time, tz string, attrs map[string]string) {
	f.t.Helper()
	res, err := f.db.SaveEvents(context.Background(), []flows.Event{{
		ID: fmt.Sprintf("ord-%d-%d", i, occurred.Unix()), CustomerRef: fmt.Sprintf("C-%d", i), Touchpoint: "purchase",
		OccurredAt: occurred, TelegramChatID: strconv.Itoa(5000 + i), Language: "en", TimeZone: tz, Attributes: attrs,
	}})
	if err != nil || res[0].Err != nil {
		f.t.Fatalf("save event: %v %+v", err, res)
	}
}

// run plans the wave at the current clock and dispatches until the outbox
// has nothing due.
func (f *fixture) run(waveID string) {
	f.t.Helper()
	ctx := context.Background()
	if err := f.manager.RunWave(ctx, waveID, f.clock.Now()); err != nil {
		f.t.Fatal(err)
	}
	for {
		n, err := f.disp.DispatchOnce(ctx)
		if err != nil {
			f.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

func (f *fixture) sent(i int) []telegramtest.SentMessage { return f.tg.Sent(int64(5000 + i)) }

func (f *fixture) counts(waveID string) flows.WaveCounts {
	c, err := f.db.WaveCounts(context.Background(), waveID)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

const baseWave = `
id: w
survey: post_purchase_nps
trigger: {touchpoint: purchase, delay: 2h}
schedule: "@every 1m"
`

func TestTriggerDelayAndAttributeFilter(t *testing.T) {
	noon := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	f := newFixture(t, noon)
	f.wave(strings.Replace(baseWave, "delay: 2h}", `delay: 2h, where: {store: "SH-*"}}`, 1))
	f.event(1, noon.Add(-3*time.Hour), "", map[string]string{"store": "SH-01"})
	f.event(2, noon.Add(-1*time.Hour), "", map[string]string{"store": "SH-02"}) // not due yet
	f.event(3, noon.Add(-3*time.Hour), "", map[string]string{"store": "BJ-01"}) // filtered out
	f.run("w")
	if len(f.sent(1)) != 1 || len(f.sent(2)) != 0 || len(f.sent(3)) != 0 {
		t.Fatalf("sent: %d %d %d", len(f.sent(1)), len(f.sent(2)), len(f.sent(3)))
	}
	f.clock.Set(noon.Add(90 * time.Minute)) // customer 2's event is now 2.5h old
	f.run("w")
	f.run("w") // running again invites nobody twice
	if len(f.sent(1)) != 1 || len(f.sent(2)) != 1 || len(f.sent(3)) != 0 {
		t.Fatalf("after the delay: %d %d %d", len(f.sent(1)), len(f.sent(2)), len(f.sent(3)))
	}
	if c := f.counts("w"); c.Sent != 2 || c.Delivered != 2 {
		t.Errorf("counts %+v", c)
	}
}

func TestQuietHoursInTheCustomersTimeZone(t *testing.T) {
	// 22:30 in Shanghai is 14:30 UTC: quiet for the Shanghai customer only.
	now := time.Date(2026, 11, 20, 22, 30, 0, 0, shanghai)
	f := newFixture(t, now)
	f.wave(baseWave + `quiet_hours: "21:00-09:00"`)
	f.event(1, now.Add(-3*time.Hour), "Asia/Shanghai", nil)
	f.event(2, now.Add(-3*time.Hour), "Europe/London", nil)
	f.run("w")
	if len(f.sent(1)) != 0 || len(f.sent(2)) != 1 {
		t.Fatalf("during Shanghai quiet hours: %d %d", len(f.sent(1)), len(f.sent(2)))
	}
	f.clock.Set(time.Date(2026, 11, 21, 8, 59, 0, 0, shanghai))
	f.run("w")
	if len(f.sent(1)) != 0 {
		t.Fatal("sent before quiet hours ended")
	}
	f.clock.Set(time.Date(2026, 11, 21, 9, 0, 0, 0, shanghai))
	f.run("w")
	if len(f.sent(1)) != 1 {
		t.Fatal("not sent when quiet hours ended")
	}
}

func TestFrequencyCapAcrossWaves(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	f := newFixture(t, now)
	f.wave(baseWave + "frequency_cap: 1 per 30d\n")
	f.wave(strings.Replace(baseWave, "id: w", "id: w2", 1) + "frequency_cap: 1 per 30d\n")
	f.event(1, now.Add(-3*time.Hour), "", nil)
	f.run("w")
	// The customer finishes the first survey, so no conversation is in the way.
	if err := f.conv.HandleUpdate(context.Background(), flows.Update{Channel: flows.ChannelTelegram, UpdateID: "u1", ChatID: "5001", Text: "10"}); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(now.Add(24 * time.Hour))
	f.event(1, now.Add(20*time.Hour), "", nil) // a second purchase
	f.run("w")
	f.run("w2")
	if n := len(f.sent(1)); n != 2 { // first question + thanks; no second invitation
		t.Fatalf("customer got %d messages within the cap", n)
	}
	if c := f.counts("w"); c.Skipped != 1 {
		t.Errorf("w counts %+v, want the capped invitation skipped", c)
	}
	f.clock.Set(now.Add(31 * 24 * time.Hour))
	f.event(1, now.Add(31*24*time.Hour-3*time.Hour), "", nil)
	f.run("w")
	if n := len(f.sent(1)); n != 3 {
		t.Fatalf("after the cap window: %d messages", n)
	}
}

func TestOptOutIsCheckedAtSendTime(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	f := newFixture(t, now)
	f.wave(baseWave)
	f.event(1, now.Add(-3*time.Hour), "", nil)
	f.event(2, now.Add(-3*time.Hour), "", nil)
	ctx := context.Background()
	// Customer 1 opts out after planning, before sending.
	if err := f.manager.RunWave(ctx, "w", now); err != nil {
		t.Fatal(err)
	}
	if err := f.conv.HandleUpdate(ctx, flows.Update{Channel: flows.ChannelTelegram, UpdateID: "stop", ChatID: "5001", Text: "/stop"}); err != nil {
		t.Fatal(err)
	}
	f.run("w")
	if got := f.sent(1); len(got) != 1 || !strings.Contains(got[0].Text, "won't receive") {
		t.Fatalf("opted-out customer got %d messages: %+v", len(got), got)
	}
	if len(f.sent(2)) != 1 {
		t.Fatal("customer 2 was not invited")
	}
	if c := f.counts("w"); c.Skipped != 1 || c.Sent != 1 {
		t.Errorf("counts %+v", c)
	}
}

func TestSampleIsRespected(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	f := newFixture(t, now)
	f.wave(baseWave + "sample: 20%\n")
	for i := range 200 {
		f.event(i, now.Add(-3*time.Hour), "", nil)
	}
	f.run("w")
	c := f.counts("w")
	if c.Sent+c.Skipped != 200 || c.Sent < 25 || c.Sent > 55 {
		t.Fatalf("20%% sample of 200: %+v", c)
	}
}

func TestReminderOnceAndExpiry(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	f := newFixture(t, now)
	f.wave(baseWave + "reminder_after: 24h\nexpires_after: 72h\n")
	f.event(1, now.Add(-3*time.Hour), "", nil) // will not answer
	f.event(2, now.Add(-3*time.Hour), "", nil) // answers at once
	f.run("w")
	ctx := context.Background()
	if err := f.conv.HandleUpdate(ctx, flows.Update{Channel: flows.ChannelTelegram, UpdateID: "a2", ChatID: "5002", Text: "9"}); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(now.Add(25 * time.Hour))
	f.run("w")
	f.clock.Set(now.Add(49 * time.Hour))
	f.run("w") // a second reminder is never sent
	got := f.sent(1)
	if len(got) != 2 || !strings.Contains(got[1].Text, "reminder") || len(got[1].Keyboard) == 0 {
		t.Fatalf("silent customer got %d messages: %+v", len(got), got)
	}
	if n := len(f.sent(2)); n != 2 { // question + thanks, no reminder
		t.Fatalf("customer who answered got %d messages", n)
	}
	f.clock.Set(now.Add(73 * time.Hour))
	f.run("w")
	if c := f.counts("w"); c.Expired != 1 || c.Completed != 1 {
		t.Errorf("counts after expiry %+v", c)
	}
	// A late answer after expiry is told politely, not recorded.
	if err := f.conv.HandleUpdate(ctx, flows.Update{Channel: flows.ChannelTelegram, UpdateID: "late", ChatID: "5001", Text: "3"}); err != nil {
		t.Fatal(err)
	}
	if last := f.sent(1)[len(f.sent(1))-1].Text; strings.Contains(last, "went wrong") {
		t.Errorf("expired conversation went on: %q", last)
	}
}

func TestPauseAndResume(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	f := newFixture(t, now)
	f.wave(baseWave)
	ctx := context.Background()
	if _, err := f.manager.SetPaused(ctx, "w", true); err != nil {
		t.Fatal(err)
	}
	f.event(1, now.Add(-3*time.Hour), "", nil)
	f.run("w")
	if len(f.sent(1)) != 0 {
		t.Fatal("a paused wave sent")
	}
	preview, err := f.manager.Preview(ctx, "w")
	if err != nil || preview.Planned != 1 || len(preview.Sample) != 1 || preview.Sample[0].CustomerRef != "C-1" {
		t.Fatalf("preview of the paused wave: %+v %v", preview, err)
	}
	if _, err := f.manager.SetPaused(ctx, "w", false); err != nil {
		t.Fatal(err)
	}
	f.run("w")
	if len(f.sent(1)) != 1 {
		t.Fatal("resumed wave did not send")
	}
	if _, err := f.manager.SetPaused(ctx, "nope", true); err == nil {
		t.Error("pausing an unknown wave should fail")
	}
}

func TestSegmentRunsOncePerSlot(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, shanghai)
	f := newFixture(t, now)
	f.wave(`
id: rnps
survey: post_purchase_nps
segment: {where: {tier: gold}}
schedule: "CRON_TZ=Asia/Shanghai 0 10 1 * *"
frequency_cap: 1 per 20d
`)
	f.event(1, now.AddDate(0, -2, 0), "", map[string]string{"tier": "gold"})
	f.event(2, now.AddDate(0, -2, 0), "", map[string]string{"tier": "silver"})
	f.event(3, now.AddDate(0, -3, 0), "", map[string]string{"tier": "silver"})
	f.event(3, now.AddDate(0, -1, 0), "", map[string]string{"tier": "gold"}) // latest event decides
	f.run("rnps")
	f.run("rnps") // the same slot again: nobody twice
	if len(f.sent(1)) != 1 || len(f.sent(2)) != 0 || len(f.sent(3)) != 1 {
		t.Fatalf("segment sent: %d %d %d", len(f.sent(1)), len(f.sent(2)), len(f.sent(3)))
	}
}

// A chat that said /stop before the business linked it to a customer
// reference is still never invited (review finding: consent follows the chat).
func TestOptOutSurvivesRelinkingTheChat(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	f := newFixture(t, now)
	f.wave(baseWave)
	ctx := context.Background()
	if err := f.conv.HandleUpdate(ctx, flows.Update{Channel: flows.ChannelTelegram, UpdateID: "s", ChatID: "5001", Text: "/stop"}); err != nil {
		t.Fatal(err)
	}
	f.event(1, now.Add(-3*time.Hour), "", nil) // links chat 5001 to C-1
	f.run("w")
	if got := f.sent(1); len(got) != 1 { // only the /stop confirmation
		t.Fatalf("chat that said stop got %d messages", len(got))
	}
	if c := f.counts("w"); c.Skipped != 1 || c.Sent != 0 {
		t.Errorf("counts %+v", c)
	}
}
