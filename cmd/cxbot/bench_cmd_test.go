package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// benchEnv runs the bench on the embedded defaults, whatever the machine's
// environment says.
var benchEnv = envOf(map[string]string{"CXBOT_CONFIG_DIR": "../../configs"})

func runBenchCommand(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errs bytes.Buffer
	if code := run(ctx, append([]string{"bench"}, args...), benchEnv, &out, &errs); code != 0 {
		t.Fatalf("cxbot bench %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errs.String())
	}
	return out.String()
}

func TestBenchCommand(t *testing.T) {
	out := runBenchCommand(t, "--customers", "20", "--concurrency", "4")
	for _, want := range []string{
		"integrity: OK: SQL holds 40 answers (2 per customer) and 20 handoffs",
		"every customer got each message once",
		"answers/s", "update-to-reply p50 / p99", "detractor-to-handoff p50 / p99", "to agents' notice p50 / p99",
		"Redis per open conversation", "peak RSS", "Redis round trips / update", "SQL round trips / update",
		"Bot API calls / update", "sendMessage", "cxbot / echo answers/s", "echo bot",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestBenchCommandJSON(t *testing.T) {
	out := runBenchCommand(t, "--customers", "10", "--concurrency", "3", "--skip-echo", "--json")
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	c := rep.Cxbot
	switch {
	case !strings.HasPrefix(rep.Integrity, "OK"):
		t.Errorf("integrity %q", rep.Integrity)
	case rep.Echo != nil || rep.RatioToEcho != 0:
		t.Errorf("--skip-echo ran the echo bot: %+v", rep.Echo)
	case c == nil || c.Answers != 20 || c.Updates != 20 || c.AnswersPerSecond <= 0:
		t.Errorf("cxbot figures %+v", c)
	case c.UpdateToReply.P50ms <= 0 || c.UpdateToReply.P99ms < c.UpdateToReply.P50ms || c.CommentToNotice == nil:
		t.Errorf("latencies %+v, notice %v", c.UpdateToReply, c.CommentToNotice)
	case c.RedisRoundTrips == nil || *c.RedisRoundTrips <= 0 || c.SQLRoundTrips == nil || *c.SQLRoundTrips <= 0:
		t.Errorf("round trips: Redis %v, SQL %v", c.RedisRoundTrips, c.SQLRoundTrips)
	case c.SQLByKind["begin"] <= 0 || c.BotAPICalls < 2 || c.BotAPIByMethod["sendMessage"] < 1:
		t.Errorf("SQL %v, Bot API %v %v", c.SQLByKind, c.BotAPICalls, c.BotAPIByMethod)
	case c.RedisBytesPerConversation == nil || *c.RedisBytesPerConversation <= 0 || c.HeapInuseMiB <= 0:
		t.Errorf("memory: Redis %v, heap %v", c.RedisBytesPerConversation, c.HeapInuseMiB)
	}
}

func TestBenchCommandRefusesAScoreWithoutFollowUp(t *testing.T) {
	var out, errs bytes.Buffer
	code := run(context.Background(), []string{"bench", "--customers", "1", "--score", "10"}, benchEnv, &out, &errs)
	if code != 1 || !strings.Contains(errs.String(), "not followed by a text question") {
		t.Fatalf("exit %d, stderr %s", code, errs.String())
	}
}

// The integrity check must catch a lost answer and a doubled message, or
// the figures of a broken run would be reported.
func TestBenchIntegrityCheckCatchesLossAndDoubles(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o := benchOptions{customers: 3, concurrency: 3, score: 2, survey: "post_purchase_nps", logLevel: "error"}
	api, err := startBenchAPI(benchAgentChat)
	if err != nil {
		t.Fatal(err)
	}
	defer api.close()
	client := benchClient(o.concurrency)
	var logs bytes.Buffer
	cx, err := startBenchCxbot(ctx, o, benchEnv, api, &logs)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := cx.stop(); err != nil {
			t.Error(err)
		}
	}()
	expect, err := expectFor(cx.app.surveys[o.survey], o.score)
	if err != nil {
		t.Fatal(err)
	}
	_, cs, err := benchCxbotRun(ctx, o, cx, api, client, expect)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cx.check(ctx, api, cs, expect); err != nil {
		t.Fatalf("a clean run failed the check: %v", err)
	}

	// The fake receives a message cxbot did not mean to send twice…
	body := strings.NewReader(fmt.Sprintf(`{"chat_id":%d,"text":"again"}`, cs[0].chat))
	resp, err := http.Post(api.url+"/bot"+benchToken+"/sendMessage", "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// …and SQL loses an answer.
	db, err := sql.Open("sqlite", cx.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DELETE FROM answers WHERE id = (SELECT MIN(id) FROM answers)`); err != nil {
		t.Fatal(err)
	}
	_, err = cx.check(ctx, api, cs, expect)
	if err == nil {
		t.Fatal("the check passed a run that lost an answer and doubled a message")
	}
	for _, want := range []string{
		fmt.Sprintf("chat %d received 4 messages, want 3", cs[0].chat),
		"answers in SQL, want 2",
		"SQL holds 5 answers in all, want 6",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the check's error lacks %q:\n%v", want, err)
		}
	}
}

// Paced mode is an open loop: every update starts at its due time whether
// or not the earlier ones are answered, and each is timed from that due time.
func TestRunPacedIsAnOpenLoop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 5
	var started sync.WaitGroup
	started.Add(n)
	dues := make([]time.Time, n)
	_, err := runPaced(ctx, n, 1000, func(ctx context.Context, i int, due time.Time) error {
		dues[i] = due
		started.Done()
		// No step ends before all have begun: a closed loop would hang here.
		done := make(chan struct{})
		go func() { started.Wait(); close(done) }()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("step %d: the later updates never started", i)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range dues {
		if got := d.Sub(dues[0]); got != time.Duration(i)*time.Millisecond {
			t.Errorf("update %d due %v after the first, want %v", i, got, time.Duration(i)*time.Millisecond)
		}
	}
}

// Paced, taps and comments mix as real customers' do: a customer comments
// as soon as asked, before later customers have tapped; closed loop, every
// tap comes before any comment.
func TestRunHalvesMixesTapsAndCommentsWhenPaced(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, o := range []benchOptions{{rate: 200}, {concurrency: 2}} {
		var mu sync.Mutex
		var order []string
		record := func(what string) func(context.Context, int, time.Time) error {
			return func(_ context.Context, i int, _ time.Time) error {
				mu.Lock()
				defer mu.Unlock()
				order = append(order, fmt.Sprintf("%s%d", what, i))
				return nil
			}
		}
		between := 0
		_, comments, _, err := o.runHalves(ctx, 4, benchHalves{tap: record("tap"), comment: record("comment"),
			between: func() error { between++; return nil }, snap: func() benchSnapshot { return benchSnapshot{} }})
		if err != nil {
			t.Fatal(err)
		}
		first, last := slices.Index(order, "comment0"), slices.Index(order, "tap3")
		if len(order) != 8 || first < 0 || last < 0 {
			t.Fatalf("rate %g: ran %v, want 4 taps and 4 comments", o.rate, order)
		}
		if paced := o.rate > 0; paced != (first < last) || paced != (comments == nil) || paced != (between == 0) {
			t.Errorf("rate %g: order %v, halves counted apart %v, between ran %d times", o.rate, order, comments != nil, between)
		}
	}
}

func TestBenchCommandPaced(t *testing.T) {
	heap := filepath.Join(t.TempDir(), "heap")
	out := runBenchCommand(t, "--customers", "10", "--rate", "200", "--memprofile", heap)
	for _, want := range []string{"paced: updates arrive at 200/s (open loop: customers arrive at 100/s", "integrity: OK: SQL holds 20 answers", "update-to-reply p50 / p99"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "cxbot / echo answers/s") {
		t.Errorf("paced, both bots keep the pace, yet a ratio of their rates is printed:\n%s", out)
	}
	for _, p := range []string{heap, heap + ".echo"} {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("--memprofile: %s: %v", p, err)
		}
	}
	var out2, errs bytes.Buffer
	for _, bad := range []string{"-5", "NaN", "1e-12"} {
		errs.Reset()
		if code := run(context.Background(), []string{"bench", "--rate", bad}, benchEnv, &out2, &errs); code == 0 || !strings.Contains(errs.String(), "--rate ") {
			t.Errorf("--rate %s: exit %d, stderr %s", bad, code, errs.String())
		}
	}
	if !strings.Contains(out, "heap in use / Go sys, at the end (paced)") {
		t.Errorf("paced, memory is read at the end, yet not labelled so:\n%s", out)
	}
}

// --apart runs cxbot as `cxbot serve` in a child process (here this test
// binary, which runs main under CXBOT_TEST_CHILD) and measures that process:
// its RSS, heap and round trips come from its /metrics, and they are
// cxbot's own. Without a Redis server it refuses at once.
func TestBenchCommandApart(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"bench", "--apart", "--customers", "2"}, benchEnv, &out, &errs); code == 0 || !strings.Contains(errs.String(), "--apart needs CXBOT_REDIS_URL") {
		t.Errorf("--apart on the embedded Redis: exit %d, stderr %s", code, errs.String())
	}
	if code := run(context.Background(), []string{"bench", "--apart", "--memprofile", "x"}, benchEnv, &out, &errs); code == 0 || !strings.Contains(errs.String(), "with --apart cxbot is another") {
		t.Errorf("--apart with --memprofile: exit %d, stderr %s", code, errs.String())
	}

	pg, rd := os.Getenv("CXBOT_TEST_POSTGRES_URL"), os.Getenv("CXBOT_TEST_REDIS_URL")
	if pg == "" || rd == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI: set CXBOT_TEST_POSTGRES_URL and CXBOT_TEST_REDIS_URL")
		}
		t.Skip("needs PostgreSQL and Redis (CXBOT_TEST_POSTGRES_URL, CXBOT_TEST_REDIS_URL)")
	}
	env := envOf(map[string]string{"CXBOT_CONFIG_DIR": "../../configs", "CXBOT_DATABASE_URL": pg, "CXBOT_REDIS_URL": rd})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out.Reset()
	var logs syncBuffer // the child's output is copied in beside the bench's own
	if code := run(ctx, []string{"bench", "--apart", "--customers", "12", "--concurrency", "4", "--skip-echo", "--json"}, env, &out, &logs); code != 0 {
		t.Fatalf("bench --apart: exit %d\n%s\n%s", code, out.String(), logs.String())
	}
	var rep benchReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	c := rep.Cxbot
	switch {
	case !rep.Apart || !strings.HasPrefix(rep.Integrity, "OK"):
		t.Errorf("apart %v, integrity %q", rep.Apart, rep.Integrity)
	case c.RSSOpenMiB <= 0 || c.PeakRSSMiB <= 0 || c.HeapInuseMiB <= 0:
		t.Errorf("cxbot's memory not measured: RSS %.1f, peak %.1f, heap %.1f MiB", c.RSSOpenMiB, c.PeakRSSMiB, c.HeapInuseMiB)
	case c.RedisRoundTrips == nil || *c.RedisRoundTrips < 1 || c.SQLRoundTrips == nil || *c.SQLRoundTrips < 1:
		t.Errorf("round trips not read from the child's /metrics: %+v", c)
	case c.CPUCores <= 0:
		t.Errorf("cxbot's CPU not measured: %+v", c)
	}
}
