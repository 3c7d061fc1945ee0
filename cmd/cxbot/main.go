// Command cxbot runs the chat-native customer feedback service.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"text/tabwriter"
)

const usage = `cxbot: customer feedback surveys inside Telegram, with detractor handoff.

Usage:
  cxbot serve [--migrate]   run the service (HTTP API, Telegram, cron jobs)
  cxbot migrate             apply database migrations
  cxbot events import FILE.csv  load touchpoint events from a CSV file
  cxbot waves               list survey waves and their counts
  cxbot export --survey ID --out FILE.csv|.xlsx  write the responses to a file
  cxbot agents add|list|remove  register the people who work handoffs
  cxbot tokens create|list|revoke  API tokens with a role (admin, marketer, agent)
  cxbot customers erase|audit   erase a customer's personal data; print the privacy audit
  cxbot demo [--customers N] [--db PATH] run the whole loop on this machine, no services needed; leaves data for the dashboard
  cxbot bench [--customers N] measure the answer path against a bare echo bot
  cxbot healthcheck [--url URL]  exit 0 when this host's cxbot answers /healthz with 200 (Docker HEALTHCHECK)
  cxbot version             print the version

Run "cxbot <command> --help" for a command's flags and settings.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is main without the process: tests call it with their own
// arguments, environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(ctx, args[1:], getenv, stderr)
	case "migrate":
		err = cmdMigrate(ctx, args[1:], getenv, stdout, stderr)
	case "events":
		err = cmdEvents(ctx, args[1:], getenv, stdout, stderr)
	case "agents":
		err = cmdAgents(ctx, args[1:], getenv, stdout, stderr)
	case "tokens":
		err = cmdTokens(ctx, args[1:], getenv, stdout, stderr)
	case "customers":
		err = cmdCustomers(ctx, args[1:], getenv, stdout, stderr)
	case "waves":
		err = cmdWaves(ctx, args[1:], getenv, stdout, stderr)
	case "export":
		err = cmdExport(ctx, args[1:], getenv, stdout, stderr)
	case "demo":
		err = cmdDemo(ctx, args[1:], getenv, stdout, stderr)
	case "bench":
		err = cmdBench(ctx, args[1:], getenv, stdout, stderr)
	case "healthcheck", "health":
		err = cmdHealthcheck(ctx, args[1:], getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "cxbot", version())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "cxbot: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "cxbot:", err)
		return 1
	}
	return 0
}

// newFlagSet prints the command's flags and every CXBOT_* setting on --help.
func newFlagSet(name, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: cxbot %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "\nSettings (environment):")
		tw := tabwriter.NewWriter(stderr, 2, 4, 2, ' ', 0)
		for _, s := range settings() {
			def := s.def
			if def == "" {
				def = "(empty)"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.name, def, s.help)
		}
		tw.Flush()
	}
	return fs
}

// newLogger logs at level in format: "text" (key=value) or "json" (one
// object per line, for log collectors).
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := newFlagSet("serve", "Runs the HTTP API, the Telegram channel (webhook or long polling) and the cron jobs.", stderr)
	migrate := fs.Bool("migrate", false, "apply pending database migrations first (same as CXBOT_AUTO_MIGRATE=true)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	a, err := newApp(ctx, cfg, log, *migrate || cfg.AutoMigrate)
	if err != nil {
		return err
	}
	defer a.close()
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("CXBOT_HTTP_ADDR: %w", err)
	}
	return a.run(ctx, ln)
}

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", "Applies pending database migrations (safe to run from several replicas at once).", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	db, err := openDatabase(ctx, cfg, newLogger(stderr, cfg.LogLevel, cfg.LogFormat), true)
	if err != nil {
		return err
	}
	defer db.Close()
	current, _, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "database schema at version %d (%s)\n", current, db.Dialect())
	return nil
}

// buildVersion is stamped at build time, where there may be no .git for
// Go's VCS stamping (the Docker build):
// go build -ldflags "-X main.buildVersion=v1.4.0+abc123" ./cmd/cxbot
var buildVersion string

func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
		if s.Key == "vcs.modified" && s.Value == "true" {
			v += "-dirty"
		}
	}
	return v
}
