package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cxbot/cxbot/store/sqlstore"
)

// bench --apart runs cxbot as `cxbot serve` in a child process, so that
// the figures that matter for capacity planning (memory with N open
// conversations, CPU per update) are cxbot's own and not the fake Bot
// API's or the simulated customers'. The child reports itself through its
// GET /metrics (round trips, CPU, heap) and /proc (peak RSS).

// startApart starts `cxbot serve` from this binary with the bench's
// settings, listening where ln was (ln is closed for it).
func startApart(env func(string) string, ln net.Listener, stderr io.Writer) (*exec.Cmd, error) {
	addr := ln.Addr().String()
	ln.Close()
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench --apart: %w", err)
	}
	cmd := exec.Command(exe, "serve")
	cmd.Env = apartEnv(os.Environ(), env, addr)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	cmd.SysProcAttr = apartProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench --apart: start cxbot serve: %w", err)
	}
	return cmd, nil
}

// apartEnv is the child's environment: the bench's own without any CXBOT_*
// variable, then every setting as the bench resolved it, and the address.
// CXBOT_TEST_CHILD makes a test binary run main (cxbot itself ignores it).
func apartEnv(environ []string, env func(string) string, addr string) []string {
	out := make([]string, 0, len(environ)+32)
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "CXBOT_") {
			out = append(out, kv)
		}
	}
	for _, s := range settings() {
		if v := env(s.name); v != "" && s.name != "CXBOT_HTTP_ADDR" {
			out = append(out, s.name+"="+v)
		}
	}
	return append(out, "CXBOT_HTTP_ADDR="+addr, "CXBOT_TEST_CHILD=1")
}

// waitApart waits for the child until ctx ends, then stops it as an
// orchestrator would (SIGTERM, then SIGKILL after a grace period). An exit
// before that is an error: cxbot stopped under the bench.
func waitApart(ctx context.Context, cmd *exec.Cmd) error {
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		return fmt.Errorf("cxbot serve (pid %d) exited: %v", cmd.Process.Pid, err)
	case <-ctx.Done():
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("cxbot serve (pid %d) after SIGTERM: %w", cmd.Process.Pid, err)
		}
		return nil
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("cxbot serve (pid %d) did not stop within 15 s of SIGTERM", cmd.Process.Pid)
	}
}

// apartSnapshot reads the counters of the child: its Redis and SQL round
// trips and CPU from /metrics, the Bot API calls from the fake. A scrape
// that fails is kept in cx.apartErr and fails the run.
func (cx *benchCxbot) apartSnapshot(api *benchAPI) benchSnapshot {
	s := benchSnapshot{calls: api.callCounts(), answers: api.webhookAnswers.Load(), machine: machineCPU()}
	m, err := cx.scrape()
	if err != nil {
		cx.apartErr = errors.Join(cx.apartErr, err)
		return s
	}
	s.redis = int64(histogramCount(m["cxbot_redis_duration_seconds"]))
	pipelined := int64(gaugeOrCounter(m["cxbot_sql_pipelined_total"]))
	s.sql[sqlstore.StatementSQL] = int64(histogramCount(m["cxbot_sql_duration_seconds"])) - pipelined
	s.sql[sqlstore.StatementPipelined] = pipelined
	s.cpu = time.Duration(gaugeOrCounter(m["process_cpu_seconds_total"]) * float64(time.Second))
	return s
}

// apartMemory fills the heap figures from the child's /metrics (as the Go
// runtime reports them, no GC forced).
func (cx *benchCxbot) apartMemory(f *benchFigures) {
	m, err := cx.scrape()
	if err != nil {
		cx.apartErr = errors.Join(cx.apartErr, err)
		return
	}
	f.HeapInuseMiB = gaugeOrCounter(m["go_memstats_heap_inuse_bytes"]) / mib
	f.SysMiB = gaugeOrCounter(m["go_memstats_sys_bytes"]) / mib
	f.RSSOpenMiB = gaugeOrCounter(m["process_resident_memory_bytes"]) / mib
}

// apartPeak is the child's peak RSS since apartResetPeak (VmHWM).
func (cx *benchCxbot) apartPeak(f *benchFigures, reset bool) {
	f.PeakRSSMiB = float64(statusKB(fmt.Sprintf("/proc/%d/status", cx.apart.Process.Pid), "VmHWM:")<<10) / mib
	if !reset {
		f.PeakRSSNote = "cxbot's peak over its whole life, set-up included (VmHWM could not be reset)"
	}
}

// apartResetPeak resets the child's VmHWM, so the peak is the timed phase's.
func (cx *benchCxbot) apartResetPeak() bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", cx.apart.Process.Pid), []byte("5"), 0) == nil
}

func (cx *benchCxbot) scrape() (map[string]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cx.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+cx.apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench --apart: scrape cxbot's /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench --apart: cxbot's /metrics answered %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	m, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("bench --apart: cxbot's /metrics: %w", err)
	}
	return m, nil
}

// histogramCount sums a histogram's observations over its label sets.
func histogramCount(f *dto.MetricFamily) uint64 {
	var n uint64
	if f == nil {
		return 0
	}
	for _, m := range f.GetMetric() {
		n += m.GetHistogram().GetSampleCount()
	}
	return n
}

// gaugeOrCounter is the sum of a gauge's or counter's values.
func gaugeOrCounter(f *dto.MetricFamily) float64 {
	var v float64
	if f == nil {
		return 0
	}
	for _, m := range f.GetMetric() {
		v += m.GetGauge().GetValue() + m.GetCounter().GetValue()
	}
	return v
}

// statusKB reads a "Name:   123 kB" line of a /proc status file (0 if none).
func statusKB(path, name string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}
