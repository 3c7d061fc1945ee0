package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/scheduler"
)

func testWave(id string) scheduler.WaveStatus {
	return scheduler.WaveStatus{
		ID: id, Survey: "post_purchase_nps", Kind: "trigger", Touchpoint: "purchase", Schedule: "*/5 * * * *", Source: "api",
		Definition: scheduler.WaveDefinition{
			Trigger:    &scheduler.TriggerDefinition{Touchpoint: "purchase", Delay: "2h", MaxAge: "7d", Where: map[string]string{"store": "SH-*"}},
			QuietHours: []string{"21:00-09:00"}, FrequencyCap: "1 per 30d", Sample: 1, ExpiresAfter: "3d", ReminderAfter: "1d",
			Channels: []flows.Channel{flows.ChannelTelegram}, TimeZone: "Asia/Shanghai",
		},
		Counts: flows.WaveCounts{Planned: 1, Skipped: 2, Sent: 3, Failed: 4, Delivered: 5, Started: 6, Completed: 7, Expired: 8},
	}
}

const testWaveJSON = `{"id":"w-1","survey":"post_purchase_nps","kind":"trigger","touchpoint":"purchase","schedule":"*/5 * * * *",` +
	`"source":"api","paused":false,"retired":false,"definition":{"trigger":{"touchpoint":"purchase","delay":"2h","max_age":"7d","where":{"store":"SH-*"}},` +
	`"quiet_hours":["21:00-09:00"],"frequency_cap":"1 per 30d","sample":1,"expires_after":"3d","reminder_after":"1d","channels":["telegram"],"timezone":"Asia/Shanghai"},` +
	`"counts":{"planned":1,"skipped":2,"sent":3,"failed":4,"delivered":5,"started":6,"completed":7,"expired":8}}`

func TestListWaves(t *testing.T) {
	a := newFakeAPI(t)
	a.waves.ListFn = func(context.Context) ([]scheduler.WaveStatus, error) {
		return []scheduler.WaveStatus{testWave("w-1")}, nil
	}
	if r := a.do(http.MethodGet, "/api/v1/waves", ""); r.code != http.StatusOK || r.body != `{"waves":[`+testWaveJSON+`]}`+"\n" {
		t.Fatalf("waves = %d %s", r.code, r.body)
	}
	a.waves.ListFn = func(context.Context) ([]scheduler.WaveStatus, error) {
		return nil, fmt.Errorf("waves: %w", flows.ErrUnavailable)
	}
	if r := a.do(http.MethodGet, "/api/v1/waves", ""); r.code != http.StatusServiceUnavailable {
		t.Fatalf("waves with the database down = %d %s", r.code, r.body)
	}
}

func TestGetWave(t *testing.T) {
	a := newFakeAPI(t)
	a.waves.GetFn = func(_ context.Context, id string) (scheduler.WaveStatus, error) {
		if id != "w-1" {
			return scheduler.WaveStatus{}, fmt.Errorf("%w: wave %q", flows.ErrNotFound, id)
		}
		return testWave(id), nil
	}
	if r := a.do(http.MethodGet, "/api/v1/waves/w-1", ""); r.code != http.StatusOK || r.body != testWaveJSON+"\n" {
		t.Fatalf("wave = %d %s", r.code, r.body)
	}
	if r := a.do(http.MethodGet, "/api/v1/waves/w-2", ""); r.code != http.StatusNotFound || r.errorText(t) != `wave "w-2" not found` {
		t.Fatalf("unknown wave = %d %s", r.code, r.body)
	}
}

func TestCreateWave(t *testing.T) {
	t.Parallel() // an oversized body costs net/http's 500 ms close delay: overlap it
	a := newFakeAPI(t)
	var got []string
	var pausedCalls []bool
	a.waves.CreateFn = func(_ context.Context, definition []byte, paused bool) (scheduler.WaveStatus, error) {
		got = append(got, string(definition))
		pausedCalls = append(pausedCalls, paused)
		switch {
		case strings.Contains(string(definition), "id: w-taken"):
			return scheduler.WaveStatus{}, fmt.Errorf("%w: wave w-taken exists", flows.ErrConflict)
		case !strings.Contains(string(definition), "survey:"):
			return scheduler.WaveStatus{}, fmt.Errorf("%w: api: survey is required", flows.ErrInvalid)
		}
		return testWave("w-1"), nil
	}
	const yaml = "id: w-1\nsurvey: post_purchase_nps\ntrigger:\n  touchpoint: purchase\nschedule: '*/5 * * * *'\n"
	if r := a.do(http.MethodPost, "/api/v1/waves", yaml); r.code != http.StatusCreated || r.body != testWaveJSON+"\n" || got[0] != yaml {
		t.Fatalf("create = %d %s (definition %q)", r.code, r.body, got)
	}
	if r := a.do(http.MethodPost, "/api/v1/waves", "id: w-taken\nsurvey: s\n"); r.code != http.StatusConflict || r.errorText(t) != "wave w-taken exists" {
		t.Fatalf("create over an existing wave = %d %s", r.code, r.body)
	}
	if r := a.do(http.MethodPost, "/api/v1/waves", `{"id":"w-3"}`); r.code != http.StatusBadRequest || r.errorText(t) != "api: survey is required" {
		t.Fatalf("create without survey = %d %s", r.code, r.body)
	}
	big := "id: w-4\nsurvey: s\n# " + strings.Repeat("x", 64<<10)
	if r := a.do(http.MethodPost, "/api/v1/waves", big); r.code != http.StatusRequestEntityTooLarge || r.errorText(t) != "body larger than 64 KiB" {
		t.Fatalf("create with a 64 KiB definition = %d %s", r.code, r.body)
	}
	if len(got) != 3 {
		t.Fatalf("Create called %d times; the oversized definition must not reach it", len(got))
	}
	// A draft: created paused.
	if r := a.do(http.MethodPost, "/api/v1/waves?paused=true", yaml); r.code != http.StatusCreated || !pausedCalls[3] || pausedCalls[0] {
		t.Fatalf("create paused = %d %s (paused %v)", r.code, r.body, pausedCalls)
	}
	if r := a.do(http.MethodPost, "/api/v1/waves?paused=yes", yaml); r.code != http.StatusBadRequest || r.errorText(t) != `paused="yes": use true or false` || len(got) != 4 {
		t.Fatalf("create paused=yes = %d %s", r.code, r.body)
	}
	// A typo of paused would make the wave live at once: refused, nothing made.
	if r := a.do(http.MethodPost, "/api/v1/waves?pause=true", yaml); r.code != http.StatusBadRequest || r.errorText(t) != `unknown query parameter "pause" (this call takes only paused)` || len(got) != 4 {
		t.Fatalf("create ?pause=true = %d %s (calls %d)", r.code, r.body, len(got))
	}
	for _, c := range []struct{ method, path string }{
		{http.MethodPost, "/api/v1/wave-checks?x=1"},
		{http.MethodPut, "/api/v1/waves/w-1?paused=true"},
		{http.MethodDelete, "/api/v1/waves/w-1?force=true"},
		{http.MethodPost, "/api/v1/waves/w-1/pause?all=1"},
		{http.MethodPost, "/api/v1/waves/w-1/resume?now=true"},
	} {
		if r := a.do(c.method, c.path, yaml); r.code != http.StatusBadRequest || !strings.Contains(r.errorText(t), "unknown query parameter") || !strings.Contains(r.errorText(t), "(this call takes none)") {
			t.Errorf("%s %s = %d %s", c.method, c.path, r.code, r.body)
		}
	}
}

// A refused definition names each bad field beside the usual code and
// message, so the dashboard can show it next to the field; a good one
// answers its schedule in words and its next five runs.
func TestCheckWave(t *testing.T) {
	a := newFakeAPI(t)
	now := time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC) // a Monday, 09:00 in Shanghai
	a.waves.CheckFn = func(_ context.Context, definition []byte) (scheduler.WaveCheck, error) {
		w, err := scheduler.ParseWave("api", definition, func(id string) bool { return id == "post_purchase_nps" })
		if err != nil {
			return scheduler.WaveCheck{}, err
		}
		info, err := scheduler.DescribeSchedule(w.Schedule, w.TimeZone, now, 5)
		return scheduler.WaveCheck{ID: w.ID, Survey: w.Survey, Kind: "segment", Definition: w.Definition(), Schedule: info}, err
	}
	bad := `{"id":"Bad Id","survey":"nope","segment":{"where":{"tier":"gold"}},"schedule":"0 25 * * *","sample":"150%","quiet_hours":["9-10"],"channels":["sms"]}`
	r := a.do(http.MethodPost, "/api/v1/wave-checks", bad)
	var body struct {
		Code   string `json:"code"`
		Error  string `json:"error"`
		Fields []struct {
			Field string `json:"field"`
			Error string `json:"error"`
		} `json:"fields"`
	}
	r.json(t, &body)
	fields := map[string]string{}
	for _, f := range body.Fields {
		fields[f.Field] = f.Error
	}
	if r.code != http.StatusBadRequest || body.Code != "invalid_request" || !strings.Contains(body.Error, "sample: ") || len(body.Fields) != 6 {
		t.Fatalf("check bad = %d %s", r.code, r.body)
	}
	for field, want := range map[string]string{
		"id": "lowercase letters", "survey": `no survey "nope"`, "schedule": "not a valid cron spec", "sample": "at most 100%",
		"quiet_hours": `"9-10" is not HH:MM-HH:MM`, "channels": `"sms" is not telegram or wechat`,
	} {
		if !strings.Contains(fields[field], want) {
			t.Errorf("field %s: %q, want it to say %q", field, fields[field], want)
		}
	}
	good := `{"id":"monthly","survey":"post_purchase_nps","segment":{"where":{"tier":"gold"}},"schedule":"CRON_TZ=Asia/Shanghai 0 10 * * 1-5","sample":"50%"}`
	r = a.do(http.MethodPost, "/api/v1/wave-checks", good)
	var check scheduler.WaveCheck
	r.json(t, &check)
	var runs []string
	for _, at := range check.Schedule.NextRuns {
		runs = append(runs, at.Format("Mon 2006-01-02 15:04 -07:00"))
	}
	wantRuns := "Mon 2026-03-02 10:00 +08:00,Tue 2026-03-03 10:00 +08:00,Wed 2026-03-04 10:00 +08:00,Thu 2026-03-05 10:00 +08:00,Fri 2026-03-06 10:00 +08:00"
	if r.code != http.StatusOK || check.ID != "monthly" || check.Definition.Sample != 0.5 || check.Schedule.TimeZone != "Asia/Shanghai" || strings.Join(runs, ",") != wantRuns {
		t.Fatalf("check good = %d %s\nruns %s", r.code, r.body, runs)
	}
	if len(check.Schedule.Words) != 2 || check.Schedule.Words[0].Text != "every Monday to Friday at 10:00 (Asia/Shanghai time)" ||
		check.Schedule.Words[1].Language != "zh-CN" || check.Schedule.Words[1].Text != "每周一至周五 10:00（Asia/Shanghai 时间）" {
		t.Fatalf("words = %+v", check.Schedule.Words)
	}
	if r := a.do(http.MethodPost, "/api/v1/wave-checks", "id: [unclosed"); r.code != http.StatusBadRequest || !strings.Contains(r.body, "invalid YAML") {
		t.Fatalf("check malformed = %d %s", r.code, r.body)
	}
}

func TestPauseAndResumeWave(t *testing.T) {
	a := newFakeAPI(t)
	type call struct {
		id     string
		paused bool
	}
	var calls []call
	a.waves.SetPausedFn = func(_ context.Context, id string, paused bool) (scheduler.WaveStatus, error) {
		calls = append(calls, call{id, paused})
		if id != "w-1" {
			return scheduler.WaveStatus{}, fmt.Errorf("%w: wave %q", flows.ErrNotFound, id)
		}
		w := testWave(id)
		w.Paused = paused
		return w, nil
	}
	r := a.do(http.MethodPost, "/api/v1/waves/w-1/pause", "")
	if r.code != http.StatusOK || !strings.Contains(r.body, `"paused":true`) || calls[0] != (call{"w-1", true}) {
		t.Fatalf("pause = %d %s (call %+v)", r.code, r.body, calls)
	}
	r = a.do(http.MethodPost, "/api/v1/waves/w-1/resume", "")
	if r.code != http.StatusOK || r.body != testWaveJSON+"\n" || calls[1] != (call{"w-1", false}) {
		t.Fatalf("resume = %d %s (call %+v)", r.code, r.body, calls)
	}
	if r := a.do(http.MethodPost, "/api/v1/waves/w-9/pause", ""); r.code != http.StatusNotFound {
		t.Fatalf("pause an unknown wave = %d %s", r.code, r.body)
	}
	if r := a.do(http.MethodGet, "/api/v1/waves/w-1/pause", ""); r.code != http.StatusMethodNotAllowed || len(calls) != 3 {
		t.Fatalf("GET pause = %d %s; only POST pauses", r.code, r.body)
	}
}

func TestPreviewWave(t *testing.T) {
	a := newFakeAPI(t)
	a.waves.PreviewFn = func(_ context.Context, id string) (scheduler.PlanResult, error) {
		switch id {
		case "w-1":
			return scheduler.PlanResult{
				Considered: 5, Planned: 2, Created: 0,
				Skipped: map[string]int{scheduler.SkipOptedOut: 2, scheduler.SkipFrequency: 1},
				Sample: []flows.Invitation{
					{CustomerRef: "C-1", EventID: "ord-1", Channel: flows.ChannelTelegram, ExternalID: "42", Language: "en", Status: flows.InvitationPlanned},
					{CustomerRef: "C-2", EventID: "ord-2", Channel: flows.ChannelWeChat, ExternalID: "oAbC123", Language: "zh-CN"},
				},
			}, nil
		case "w-empty":
			return scheduler.PlanResult{Skipped: map[string]int{}}, nil
		}
		return scheduler.PlanResult{}, fmt.Errorf("%w: wave %q", flows.ErrNotFound, id)
	}
	r := a.do(http.MethodGet, "/api/v1/waves/w-1/preview", "")
	want := `{"wave":"w-1","would_invite":2,"considered":5,"skipped":{"frequency_cap":1,"opted_out":2},"sample":[` +
		`{"customer_ref":"C-1","event_id":"ord-1","channel":"telegram","chat_id":"42","language":"en"},` +
		`{"customer_ref":"C-2","event_id":"ord-2","channel":"wechat","chat_id":"oAbC123","language":"zh-CN"}]}` + "\n"
	if r.code != http.StatusOK || r.body != want {
		t.Fatalf("preview = %d %s\nwant %s", r.code, r.body, want)
	}
	if r := a.do(http.MethodGet, "/api/v1/waves/w-empty/preview", ""); r.code != http.StatusOK ||
		r.body != `{"wave":"w-empty","would_invite":0,"considered":0,"skipped":{},"sample":[]}`+"\n" {
		t.Fatalf("empty preview = %d %s; want an empty sample list", r.code, r.body)
	}
	if r := a.do(http.MethodGet, "/api/v1/waves/w-9/preview", ""); r.code != http.StatusNotFound {
		t.Fatalf("preview of an unknown wave = %d %s", r.code, r.body)
	}
}

func TestPutAndDeleteWave(t *testing.T) {
	a := newFakeAPI(t)
	var put []string
	a.waves.PutFn = func(_ context.Context, id string, definition []byte) (scheduler.WaveStatus, bool, error) {
		put = append(put, id+"|"+string(definition))
		if id == "file-wave" {
			return scheduler.WaveStatus{}, false, fmt.Errorf("%w: wave %q comes from a file: edit the file instead", flows.ErrConflict, id)
		}
		return testWave(id), len(put) == 1, nil
	}
	if r := a.do(http.MethodPut, "/api/v1/waves/w-1", "id: w-1\n"); r.code != http.StatusCreated || r.body != testWaveJSON+"\n" {
		t.Fatalf("PUT new = %d %s", r.code, r.body)
	}
	if r := a.do(http.MethodPut, "/api/v1/waves/w-1", "id: w-1\n"); r.code != http.StatusOK {
		t.Fatalf("PUT replace = %d %s", r.code, r.body)
	}
	if r := a.do(http.MethodPut, "/api/v1/waves/file-wave", "id: file-wave\n"); r.code != http.StatusConflict || !strings.Contains(r.errorText(t), "edit the file") {
		t.Fatalf("PUT file wave = %d %s", r.code, r.body)
	}
	if len(put) != 3 || put[0] != "w-1|id: w-1\n" {
		t.Fatalf("put calls %q", put)
	}
	a.waves.RetireFn = func(_ context.Context, id string) (scheduler.WaveStatus, error) {
		if id != "w-1" {
			return scheduler.WaveStatus{}, fmt.Errorf("%w: wave %q", flows.ErrNotFound, id)
		}
		w := testWave(id)
		w.Retired = true
		return w, nil
	}
	if r := a.do(http.MethodDelete, "/api/v1/waves/w-1", ""); r.code != http.StatusOK || !strings.Contains(r.body, `"retired":true`) {
		t.Fatalf("DELETE = %d %s", r.code, r.body)
	}
	if r := a.do(http.MethodDelete, "/api/v1/waves/w-2", ""); r.code != http.StatusNotFound {
		t.Fatalf("DELETE unknown = %d %s", r.code, r.body)
	}
}
