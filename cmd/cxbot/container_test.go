package main

import (
	"os"
	"strings"
	"testing"
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
