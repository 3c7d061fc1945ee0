package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cxbot healthcheck is the container's HEALTHCHECK: 0 for a ready cxbot,
// 1 with the reason for a degraded one or none at all.
func TestHealthcheckCommand(t *testing.T) {
	h := start(t, stacks(t)[0], options{webhook: true}) // up once its webhook is registered
	var out, errOut strings.Builder
	if code := run(context.Background(), []string{"healthcheck", "--url", h.base + "/healthz"}, envOf(nil), &out, &errOut); code != 0 {
		t.Fatalf("healthcheck of a running cxbot = %d %s", code, errOut.String())
	}
	// The default URL comes from CXBOT_HTTP_ADDR.
	addr := strings.TrimPrefix(h.base, "http://")
	_, port, _ := strings.Cut(addr, ":")
	out.Reset()
	if code := run(context.Background(), []string{"healthcheck"}, envOf(map[string]string{"CXBOT_HTTP_ADDR": ":" + port}), &out, &errOut); code != 0 ||
		!strings.Contains(out.String(), "http://127.0.0.1:"+port+"/healthz") {
		t.Fatalf("healthcheck from CXBOT_HTTP_ADDR = %d %s %s", code, out.String(), errOut.String())
	}

	degraded := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"status":"degraded"}`))
	}))
	defer degraded.Close()
	errOut.Reset()
	if code := run(context.Background(), []string{"health", "--url", degraded.URL + "/healthz"}, envOf(nil), &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "answered 503") {
		t.Fatalf("healthcheck of a degraded cxbot = %d %s", code, errOut.String())
	}
	degraded.Close()
	errOut.Reset()
	if code := run(context.Background(), []string{"healthcheck", "--url", degraded.URL + "/healthz"}, envOf(nil), &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "healthcheck:") {
		t.Fatalf("healthcheck with nothing listening = %d %s", code, errOut.String())
	}
}

func TestHealthURL(t *testing.T) {
	for addr, want := range map[string]string{
		":8080": "http://127.0.0.1:8080/healthz", "0.0.0.0:9000": "http://127.0.0.1:9000/healthz",
		"[::]:8080": "http://127.0.0.1:8080/healthz", "10.0.0.5:8080": "http://10.0.0.5:8080/healthz",
	} {
		if got := healthURL(addr); got != want {
			t.Errorf("healthURL(%q) = %q, want %q", addr, got, want)
		}
	}
}

// The version is stamped at build time the way the Dockerfile does it
// (there is no .git in a Docker build context).
func TestVersionStampedAtBuildTime(t *testing.T) {
	t.Parallel() // slow and self-contained (own database, Redis prefix, fakes, ports): runs beside the other slow ones
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "cxbot")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.buildVersion=v9.8.7+abc1234", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || strings.TrimSpace(string(out)) != "cxbot v9.8.7+abc1234" {
		t.Fatalf("cxbot version = %q, %v", out, err)
	}
}

// CXBOT_LOG_FORMAT=json logs one JSON object per line.
func TestJSONLogs(t *testing.T) {
	cfg, err := loadConfig(envOf(map[string]string{"CXBOT_LOG_FORMAT": "json", "CXBOT_LOG_LEVEL": "warn"}))
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	log := newLogger(&buf, cfg.LogLevel, cfg.LogFormat)
	log.Info("hidden")
	log.Warn("seen", "wave", "w1")
	var line map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &line); err != nil || line["msg"] != "seen" || line["wave"] != "w1" || line["level"] != "WARN" {
		t.Fatalf("log %q: %v", buf.String(), err)
	}
	if _, err := loadConfig(envOf(map[string]string{"CXBOT_LOG_FORMAT": "xml"})); err == nil || !strings.Contains(err.Error(), `CXBOT_LOG_FORMAT: "xml" is not text or json`) {
		t.Fatalf("bad format: %v", err)
	}
}
