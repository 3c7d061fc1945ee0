package main

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// scrape reads /metrics and returns each sample line's value by its series
// (name and labels as written).
func scrape(t *testing.T, h *harness) (map[string]float64, string) {
	t.Helper()
	resp, err := http.Get(h.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndex(line, " ")
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		out[line[:i]] = v
	}
	return out, string(body)
}

// After a detractor's conversation the scrape shows what happened: the
// update, answers, handoff, sends, HTTP requests, Redis and SQL timings.
// Every cxbot series follows the Prometheus naming conventions.
func TestMetricsAfterAConversation(t *testing.T) {
	h := start(t, stacks(t)[0], options{webhook: true})
	// A chat id no metric value will contain by chance (4242 once matched
	// a byte count), so finding it means a label carries it.
	const chat = 918273645
	h.invite("post_purchase_nps", "C-metrics", chat, "en")
	h.waitSent(chat, 1)
	h.tap(chat, "2")
	h.waitSent(chat, 2)
	h.say(chat, "late and broken", "en")
	h.waitSent(chat, 3)
	h.waitSent(agentChat, 1)

	m, body := scrape(t, h)
	for series, atLeast := range map[string]float64{
		`cxbot_updates_total{channel="telegram",outcome="ok"}`:                        2,
		`cxbot_answers_total{class="detractor",kind="nps"}`:                           1,
		`cxbot_answers_total{class="none",kind="text"}`:                               1,
		`cxbot_handoffs_opened_total`:                                                 1,
		`cxbot_handoffs_open`:                                                         1,
		`cxbot_sends_total{channel="telegram",outcome="ok"}`:                          2,
		`cxbot_http_requests_total{code="201",route="POST /api/v1/invitations"}`:      1,
		`cxbot_http_requests_total{code="200",route="/telegram/webhook"}`:             2,
		`cxbot_redis_duration_seconds_count{kind="pipeline"}`:                         1,
		`cxbot_sql_duration_seconds_count`:                                            10,
		`cxbot_http_request_duration_seconds_count{route="POST /api/v1/invitations"}`: 1,
	} {
		if m[series] < atLeast {
			t.Errorf("%s = %v, want at least %v", series, m[series], atLeast)
		}
	}
	if m["cxbot_sql_errors_total"] != 0 || m["cxbot_redis_errors_total"] != 0 {
		t.Errorf("errors counted in a clean run: sql %v redis %v", m["cxbot_sql_errors_total"], m["cxbot_redis_errors_total"])
	}
	if _, ok := m["cxbot_handoff_oldest_open_age_seconds"]; !ok {
		t.Error("no oldest open handoff age")
	}
	// Naming: cxbot_ prefix, snake_case, counters end in _total, units in
	// base units (seconds).
	name := regexp.MustCompile(`^# TYPE (\S+) (\S+)$`)
	for _, line := range strings.Split(body, "\n") {
		g := name.FindStringSubmatch(line)
		if g == nil || strings.HasPrefix(g[1], "go_") || strings.HasPrefix(g[1], "process_") || strings.HasPrefix(g[1], "promhttp_") {
			continue
		}
		if !regexp.MustCompile(`^cxbot_[a-z0-9_]+$`).MatchString(g[1]) {
			t.Errorf("series %s is not cxbot_snake_case", g[1])
		}
		if (g[2] == "counter") != strings.HasSuffix(g[1], "_total") {
			t.Errorf("%s %s: counters, and only counters, end in _total", g[2], g[1])
		}
		if g[2] == "histogram" && !strings.HasSuffix(g[1], "_seconds") {
			t.Errorf("histogram %s is not in seconds", g[1])
		}
	}
	if strings.Contains(body, "C-metrics") || strings.Contains(body, strconv.Itoa(chat)) {
		t.Error("a metric label carries customer data")
	}
}
