package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The image cannot be built on the CI machine (no image registry): these
// check what the Dockerfile and compose.yaml promise, and the commands they
// call are tested on their own (healthcheck, version, serve --migrate).
func TestContainerFiles(t *testing.T) {
	docker, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`HEALTHCHECK`, `CMD ["/app/cxbot", "healthcheck"]`, // distroless has no curl
		`CMD ["serve", "--migrate"]`, // a fresh volume gets its schema
		`-X main.buildVersion=${VERSION}`, "ARG VERSION", "CGO_ENABLED=0", "USER 65532",
	} {
		if !strings.Contains(string(docker), want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	compose, err := os.ReadFile("../../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"postgres:", "redis:", `"--appendonly", "yes"`, "cxbot-a:", "cxbot-b:", "CXBOT_REPLICA_NAME: cxbot-b"} {
		if !strings.Contains(string(compose), want) {
			t.Errorf("compose.yaml lacks %s", want)
		}
	}
}

// The image's command on a fresh volume: serve --migrate creates the
// schema and becomes healthy; plain serve refuses a fresh database.
func TestServeMigrateOnAFreshVolume(t *testing.T) {
	volume := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := envOf(map[string]string{"CXBOT_DATABASE_URL": filepath.Join(volume, "cxbot.db"), "CXBOT_CONFIG_DIR": "../../configs", "CXBOT_HTTP_ADDR": addr})

	var out, errOut strings.Builder
	if code := run(context.Background(), []string{"serve"}, env, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "run `cxbot migrate` first, or start with --migrate") {
		t.Fatalf("serve on a fresh database = %d %s", code, errOut.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var serveErr syncBuffer
	go func() { done <- run(ctx, []string{"serve", "--migrate"}, env, &out, &serveErr) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var hcOut, hcErr strings.Builder
		if run(context.Background(), []string{"healthcheck", "--timeout", "1s"}, env, &hcOut, &hcErr) == 0 {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("never healthy: %s\n%s", hcErr.String(), serveErr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve --migrate exited %d: %s", code, serveErr.String())
	}
}
