package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/cxbot/cxbot/bot/telegram/telegramtest"
	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/store/sqlstore"
)

// configWithWaves makes a config folder with the shipped surveys and the
// given waves (file name → YAML).
func configWithWaves(t testing.TB, waves map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	surveys, err := filepath.Abs("../../configs/surveys")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(surveys, filepath.Join(dir, "surveys")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "waves"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, yaml := range waves {
		if err := os.WriteFile(filepath.Join(dir, "waves", name), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// seedPurchases reports n purchases, customer i in chat firstChat+i.
func seedPurchases(t testing.TB, db *sqlstore.DB, n int, firstChat int64, occurred time.Time) {
	t.Helper()
	for from := 0; from < n; from += 1000 {
		var batch []flows.Event
		for i := from; i < min(from+1000, n); i++ {
			batch = append(batch, flows.Event{
				ID: fmt.Sprintf("ord-%d", i), CustomerRef: fmt.Sprintf("W-%d", i), Touchpoint: "purchase", OccurredAt: occurred,
				TelegramChatID: strconv.FormatInt(firstChat+int64(i), 10), Language: "en",
			})
		}
		results, err := db.SaveEvents(context.Background(), batch)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range results {
			if r.Err != nil {
				t.Fatalf("event %s: %v", r.ID, r.Err)
			}
		}
	}
}

// sharedRedis is a Redis every replica of a test uses: the real one, or a
// miniredis of the test's own.
func sharedRedis(t testing.TB, st stack) string {
	if st.redisURL != "" {
		return st.redisURL
	}
	return "redis://" + miniredis.RunT(t).Addr()
}

// maxPerSecond is the most messages the fake received in any one-second window.
// The limiter admits at most rate + burst (2) per window; requests admitted a
// few milliseconds apart can arrive closer together, so tests allow up to
// 100 ms of transit jitter on top (peakAllowed): on a loaded 2-core CI
// machine one send can sit that long between admission and the fake.
func maxPerSecond(sent []telegramtest.SentMessage) int {
	times := make([]time.Time, len(sent))
	for i, m := range sent {
		times[i] = m.At
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	best, lo := 0, 0
	for hi := range times {
		for times[hi].Sub(times[lo]) >= time.Second {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// waitCalls waits until the fake has seen n sendMessage calls.
func waitCalls(t testing.TB, tg *telegramtest.Server, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for tg.Calls("sendMessage") < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d messages sent after %s", tg.Calls("sendMessage"), n, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const bulkWave = `
id: bulk
survey: post_purchase_nps
trigger: {touchpoint: purchase, delay: 1m}
schedule: "@every 1s"
`

// Three replicas run one wave: every customer gets exactly one first
// question, also when one replica is stopped mid-wave, and the send rate
// stays within the configured global limit.
func TestWaveAcrossReplicasSendsEachInvitationOnce(t *testing.T) {
	t.Parallel() // slow and self-contained (own database, Redis prefix, fakes, ports): runs beside the other slow ones
	for _, st := range stacks(t) {
		n, limit := 600, 400
		if st.name == "postgres+redis" && !testing.Short() {
			n, limit = 10_000, 1000 // the size; -short (the race run in CI) keeps it small
		}
		t.Run(fmt.Sprintf("%s/%d", st.name, n), func(t *testing.T) {
			tg := telegramtest.New(testBotToken)
			t.Cleanup(tg.Close)
			env := map[string]string{
				"CXBOT_CONFIG_DIR":       configWithWaves(t, map[string]string{"bulk.yaml": bulkWave}),
				"CXBOT_REDIS_URL":        sharedRedis(t, st),
				"CXBOT_REDIS_PREFIX":     "cx-waves-" + rand.Text()[:8] + ":",
				"CXBOT_TELEGRAM_RATE":    fmt.Sprintf("%d/s", limit),
				"CXBOT_DISPATCH_WORKERS": "2",
				"CXBOT_WAVE_SYNC":        "@every 1s",
			}
			dbURL := st.databaseURL(t)
			var replicas []*harness
			for i := range 3 {
				env := merged(env, map[string]string{"CXBOT_REPLICA_NAME": fmt.Sprintf("r%d", i)})
				replicas = append(replicas, start(t, st, options{webhook: true, tg: tg, dbURL: dbURL, env: env}))
			}
			seedPurchases(t, replicas[0].app.db, n, 1_000_000, time.Now().Add(-time.Hour))

			waitCalls(t, tg, n/3, 3*time.Minute)
			replicas[2].stop() // a replica goes away mid-wave
			waitCalls(t, tg, n, 5*time.Minute)
			time.Sleep(2 * time.Second) // a duplicate would show up now

			sent := tg.AllSent()
			perChat := map[int64]int{}
			for _, m := range sent {
				perChat[m.ChatID]++
			}
			if len(sent) != n || len(perChat) != n {
				t.Fatalf("%d messages to %d chats, want %d to %d", len(sent), len(perChat), n, n)
			}
			for chat, c := range perChat {
				if c != 1 {
					t.Fatalf("chat %d got %d invitations", chat, c)
				}
			}
			counts, err := replicas[0].app.db.WaveCounts(context.Background(), "bulk")
			if err != nil || counts.Sent != n || counts.Delivered != n || counts.Planned != 0 || counts.Failed != 0 {
				t.Errorf("wave counts %+v, %v", counts, err)
			}
			if peak := maxPerSecond(sent); peak > peakAllowed(limit) {
				t.Errorf("peak %d messages in one second, limit %d/s", peak, limit)
			}
		})
	}
}

// A 429 pauses the channel for retry_after on every replica, and the
// global limit holds.
func TestWaveHonoursRetryAfterAndRateLimit(t *testing.T) {
	st := stacks(t)[len(stacks(t))-1]
	const n, limit = 120, 40
	tg := telegramtest.New(testBotToken)
	t.Cleanup(tg.Close)
	tg.FailNext("sendMessage", 0, 429, 2)
	env := map[string]string{
		"CXBOT_CONFIG_DIR":       configWithWaves(t, map[string]string{"bulk.yaml": bulkWave}),
		"CXBOT_REDIS_URL":        sharedRedis(t, st),
		"CXBOT_REDIS_PREFIX":     "cx-429-" + rand.Text()[:8] + ":",
		"CXBOT_TELEGRAM_RATE":    fmt.Sprintf("%d/s", limit),
		"CXBOT_DISPATCH_WORKERS": "3",
	}
	dbURL := st.databaseURL(t)
	a := start(t, st, options{webhook: true, tg: tg, dbURL: dbURL, env: merged(env, map[string]string{"CXBOT_REPLICA_NAME": "a"})})
	start(t, st, options{webhook: true, tg: tg, dbURL: dbURL, env: merged(env, map[string]string{"CXBOT_REPLICA_NAME": "b"})})
	seedPurchases(t, a.app.db, n, 2_000_000, time.Now().Add(-time.Hour))

	waitCalls(t, tg, n+1, 2*time.Minute) // n sends + the rejected one
	// A call is counted when it arrives and recorded once handled: let the
	// last one land before reading what was sent.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = tg.WaitFor(ctx, func() bool { return len(tg.AllSent()) >= n })
	sent := tg.AllSent()
	rejectedAt := tg.Faulted()[0]
	// Sends already on the wire when the 429 came back may land just after
	// it; after that, nothing until retry_after has passed.
	inFlight, during := 0, 0
	for _, m := range sent {
		switch since := m.At.Sub(rejectedAt); {
		case since >= 0 && since < 150*time.Millisecond:
			inFlight++
		case since >= 150*time.Millisecond && since < 1950*time.Millisecond:
			during++
		}
	}
	if during > 0 || inFlight > 6 {
		t.Errorf("%d messages during the 2s pause after the 429 (and %d in flight), want none", during, inFlight)
	}
	if peak := maxPerSecond(sent); peak > peakAllowed(limit) {
		t.Errorf("peak %d messages in one second, limit %d/s", peak, limit)
	}
	if len(sent) != n {
		t.Errorf("%d messages, want %d", len(sent), n)
	}
}

// peakAllowed is rate + burst per second, plus the sends 100 ms of transit
// jitter can squeeze into the window.
func peakAllowed(limit int) int { return limit + 2 + max(1, limit/10) }

func merged(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// The waves API: create (bad definitions refused whole, naming the field),
// list with counts, preview, pause and resume; and the waves CLI.
func TestWavesAPI(t *testing.T) {
	st := stacks(t)[0]
	dbURL := st.databaseURL(t)
	h := start(t, st, options{webhook: true, dbURL: dbURL})
	for _, tc := range []struct {
		body  string
		want  string
		field string // the field the error JSON names, if any
	}{
		{`{"id":"w1","survey":"nope","trigger":{"touchpoint":"purchase"},"schedule":"@every 1m"}`, `survey: no survey "nope"`, "survey"},
		{`{"id":"w1","survey":"post_purchase_nps","trigger":{"touchpoint":"purchase"},"schedule":"every minute"}`, "schedule", "schedule"},
		{`{"id":"w1","survey":"post_purchase_nps","trigger":{"touchpoint":"purchase"},"schedule":"@every 1m","quiet_hours":["21:00-09:00","08:00-10:00"]}`, "overlaps", "quiet_hours"},
		{`{"id":"w1",`, "not valid JSON or YAML", ""},
		{`{"id":"w1","survey":"post_purchase_nps","segment":{"where":{}},"schedule":"@every 1m"}`, "at most hourly", "schedule"},
		{`{"id":"w1","survey":"post_purchase_nps","trigger":{"touchpoint":"purchase","delai":"1h"},"schedule":"0 0 31 2 *","channels":"telegram"}`, "never runs", "trigger.delai,channels,schedule"},
	} {
		var body struct {
			Error  string `json:"error"`
			Fields []struct {
				Field string `json:"field"`
			} `json:"fields"`
		}
		code := h.api("POST", "/api/v1/waves", tc.body, &body)
		if code != http.StatusBadRequest || !strings.Contains(body.Error, tc.want) || strings.Contains(body.Error, "api") {
			t.Errorf("POST %s: %d %q, want 400 naming %q", tc.body, code, body.Error, tc.want)
		}
		var named []string
		for _, f := range body.Fields {
			named = append(named, f.Field)
		}
		if strings.Join(named, ",") != tc.field {
			t.Errorf("POST %s: fields %+v, want %q", tc.body, body.Fields, tc.field)
		}
	}
	var list struct{ Waves []struct{ ID string } }
	h.api("GET", "/api/v1/waves", nil, &list)
	for _, w := range list.Waves {
		if w.ID == "w1" {
			t.Fatal("a refused wave was stored")
		}
	}

	good := `{"id":"vip","survey":"post_purchase_nps","trigger":{"touchpoint":"purchase","delay":"1h","where":{"store":"SH-*"}},"schedule":"@every 1m"}`
	var created struct {
		ID     string
		Kind   string
		Paused bool
	}
	if code := h.api("POST", "/api/v1/waves", good, &created); code != http.StatusCreated || created.ID != "vip" || created.Kind != "trigger" {
		t.Fatalf("create: %d %+v", code, created)
	}
	if code := h.api("POST", "/api/v1/waves", good, nil); code != http.StatusConflict {
		t.Errorf("creating it again: %d, want 409", code)
	}
	// Review findings 1 and 8: the default cap applies; a typo'd ?paused is refused.
	var eff struct {
		Definition struct {
			FrequencyCap string `json:"frequency_cap"`
		}
	}
	if h.api("GET", "/api/v1/waves/vip", nil, &eff); eff.Definition.FrequencyCap != "1 per 7d" {
		t.Errorf("effective cap %q, want the default 1 per 7d", eff.Definition.FrequencyCap)
	}
	if code := h.api("POST", "/api/v1/waves?pause=true", strings.Replace(good, `"vip"`, `"vip2"`, 1), nil); code != http.StatusBadRequest || h.api("GET", "/api/v1/waves/vip2", nil, nil) != http.StatusNotFound {
		t.Errorf("?pause=true: %d, want 400 and nothing stored", code)
	}
	if code := h.api("POST", "/api/v1/waves/vip/pause", nil, &created); code != http.StatusOK || !created.Paused {
		t.Errorf("pause: %d %+v", code, created)
	}

	// Two due purchases, one in a Shanghai store: the preview counts one.
	ctx := context.Background()
	_, err := h.app.db.SaveEvents(ctx, []flows.Event{
		{ID: "e1", CustomerRef: "P-1", Touchpoint: "purchase", OccurredAt: time.Now().Add(-2 * time.Hour), TelegramChatID: "71", Attributes: map[string]string{"store": "SH-01"}},
		{ID: "e2", CustomerRef: "P-2", Touchpoint: "purchase", OccurredAt: time.Now().Add(-2 * time.Hour), TelegramChatID: "72", Attributes: map[string]string{"store": "BJ-01"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var preview struct {
		WouldInvite int `json:"would_invite"`
		Sample      []struct {
			CustomerRef string `json:"customer_ref"`
		}
	}
	if code := h.api("GET", "/api/v1/waves/vip/preview", nil, &preview); code != http.StatusOK || preview.WouldInvite != 1 || len(preview.Sample) != 1 || preview.Sample[0].CustomerRef != "P-1" {
		t.Errorf("preview: %d %+v", code, preview)
	}
	if code := h.api("POST", "/api/v1/waves/vip/resume", nil, &created); code != http.StatusOK || created.Paused {
		t.Errorf("resume: %d %+v", code, created)
	}
	if code := h.api("GET", "/api/v1/waves/nope", nil, nil); code != http.StatusNotFound {
		t.Errorf("unknown wave: %d", code)
	}
	if code := h.api("POST", "/api/v1/waves/nope/pause", nil, nil); code != http.StatusNotFound {
		t.Errorf("pausing an unknown wave: %d", code)
	}

	// The CLI lists the same waves from SQL.
	var out, errOut strings.Builder
	env := envOf(map[string]string{"CXBOT_DATABASE_URL": dbURL, "CXBOT_CONFIG_DIR": "../../configs"})
	if code := run(ctx, []string{"waves"}, env, &out, &errOut); code != 0 {
		t.Fatalf("cxbot waves: %d %s", code, errOut.String())
	}
	for _, want := range []string{"WAVE", "vip", "post_purchase", "relationship_nps", "active"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("cxbot waves output lacks %q:\n%s", want, out.String())
		}
	}
}
