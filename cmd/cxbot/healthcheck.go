package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// cmdHealthcheck asks the cxbot on this host whether it is ready, for a
// container's HEALTHCHECK (distroless images have no curl): exit 0 when
// /healthz answers 200, 1 otherwise, with the reason on stderr.
func cmdHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("healthcheck", "Exits 0 when the cxbot listening on CXBOT_HTTP_ADDR on this host answers GET /healthz with 200.", stderr)
	target := fs.String("url", "", "health URL to ask (default: http://127.0.0.1<port of CXBOT_HTTP_ADDR>/healthz)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this")
	if err := fs.Parse(args); err != nil {
		return err
	}
	url := *target
	if url == "" {
		cfg, err := loadConfig(getenv)
		if err != nil {
			return fmt.Errorf("configuration:\n%w", err)
		}
		url = healthURL(cfg.HTTPAddr)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d: %s", url, resp.StatusCode, body)
	}
	fmt.Fprintf(stdout, "healthy: %s\n", url)
	return nil
}

// healthURL is the loopback URL of the server listening on addr (":8080",
// "0.0.0.0:8080", "[::]:8080" all mean this host).
func healthURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://127.0.0.1:8080/healthz"
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz"
}
