package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The example env file is a POSIX shell file: sourced as its header says,
// every variable holds the value written in it, and cxbot accepts them all.
func TestEnvExampleSourcesInAShell(t *testing.T) {
	for _, shell := range []string{"bash", "sh"} {
		path, err := exec.LookPath(shell)
		if err != nil {
			t.Fatalf("%s is needed for this test: %v", shell, err)
		}
		cmd := exec.Command(path, "-c", `set -eu; set -a; . ../../configs/cxbot.env.example; set +a; env`)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() > 0 {
			t.Fatalf("%s: sourcing the example: %v %s", shell, err, stderr.String())
		}
		env := map[string]string{}
		for _, line := range strings.Split(string(out), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "CXBOT_") {
				env[k] = v
			}
		}
		for k, want := range map[string]string{
			"CXBOT_HANDOFF_SWEEP": "@every 30s", "CXBOT_WAVE_SYNC": "@every 30s", "CXBOT_REDIS_PREFIX": "cx:",
			"CXBOT_DATABASE_URL": "postgres://cxbot:change-me@127.0.0.1:5432/cxbot?sslmode=disable", "CXBOT_TELEGRAM_RATE": "30/s",
		} {
			if env[k] != want {
				t.Errorf("%s: %s = %q, want %q", shell, k, env[k], want)
			}
		}
		for _, s := range settings() {
			if _, ok := env[s.name]; !ok {
				t.Errorf("%s: %s is not set by the example", shell, s.name)
			}
		}
		if _, err := loadConfig(envOf(env)); err != nil {
			t.Errorf("%s: the example's values are refused: %v", shell, err)
		}
	}
}

// Every setting is checked before anything is opened, and a secret's
// reason is given without the secret.
func TestSettingsCheckedBeforeAnythingIsOpened(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string
		not  []string
	}{
		{"port", map[string]string{"CXBOT_HTTP_ADDR": ":99999"}, []string{`CXBOT_HTTP_ADDR: ":99999": the port must be a number from 0 to 65535`}, nil},
		{"crons", map[string]string{"CXBOT_HANDOFF_SWEEP": "every 30s", "CXBOT_WAVE_SYNC": "@every"},
			[]string{`CXBOT_HANDOFF_SWEEP: "every 30s" is not a cron spec`, `CXBOT_WAVE_SYNC: "@every" is not a cron spec`}, nil},
		{"redis without scheme", map[string]string{"CXBOT_REDIS_URL": "localhost:6379"},
			[]string{"CXBOT_REDIS_URL: redis: url: must start with redis://"}, []string{"invalid value", "invalid: "}},
		{"redis password", map[string]string{"CXBOT_REDIS_URL": "http://user:hunter2@x"}, []string{"CXBOT_REDIS_URL: "}, []string{"hunter2"}},
		{"database scheme", map[string]string{"CXBOT_DATABASE_URL": "mysql://root:pw1234@db/cx"},
			[]string{`CXBOT_DATABASE_URL: unsupported URL scheme "mysql"`}, []string{"pw1234"}},
		{"sqlite folder", map[string]string{"CXBOT_DATABASE_URL": filepath.Join(dir, "typo", "cxbot.db")},
			[]string{"CXBOT_DATABASE_URL: the folder " + filepath.Join(dir, "typo") + " of the SQLite file does not exist"}, nil},
		{"aes key", map[string]string{"CXBOT_WECHAT_AES_KEY": "short"}, []string{"CXBOT_WECHAT_AES_KEY: must be the 43-character EncodingAESKey"}, []string{"short"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"CXBOT_CONFIG_DIR": "../../configs"}
			for k, v := range tc.env {
				env[k] = v
			}
			var stdout, stderr strings.Builder
			if code := run(context.Background(), []string{"serve"}, envOf(env), &stdout, &stderr); code != 1 {
				t.Fatalf("serve = %d, want 1: %s", code, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			for _, n := range tc.not {
				if strings.Contains(stderr.String(), n) {
					t.Errorf("stderr shows %q:\n%s", n, stderr.String())
				}
			}
			// Nothing was opened: no database file, no log of a store.
			if strings.Contains(stderr.String(), "migration") || strings.Contains(stderr.String(), "Redis") && !strings.Contains(tc.name, "redis") {
				t.Errorf("a store was opened:\n%s", stderr.String())
			}
			if _, err := os.Stat(filepath.Join(dir, "typo")); err == nil {
				t.Error("a folder was created for the SQLite file")
			}
		})
	}
	// The default SQLite path (the working folder) is always fine.
	if err := checkDatabaseURL("cxbot.db"); err != nil {
		t.Fatal(err)
	}
}

func TestWarningForAnEmptyAPIToken(t *testing.T) {
	cfg, err := loadConfig(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if w := configWarnings(cfg); len(w) != 1 || !strings.Contains(w[0], "CXBOT_API_TOKEN is empty") {
		t.Fatalf("warnings = %q", w)
	}
	cfg.APIToken = "s3cret"
	if w := configWarnings(cfg); len(w) != 0 {
		t.Fatalf("warnings with a token = %q", w)
	}
}
