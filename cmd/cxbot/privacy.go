package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/user"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/scheduler"
	"github.com/cxbot/cxbot/store/redisstore"
	"github.com/cxbot/cxbot/store/sqlstore"
)

// chatForgetter deletes a chat's conversation state (Redis).
type chatForgetter interface {
	ForgetChat(ctx context.Context, ch flows.Channel, chatID string) error
}

// privacyService erases a customer in SQL (one transaction, audited) and
// then forgets their chats' conversation state in Redis. Used by the API
// and the CLI alike.
type privacyService struct {
	db     *sqlstore.DB
	states chatForgetter // nil: no Redis to clean (the CLI without CXBOT_REDIS_URL)
	log    *slog.Logger
}

func (p privacyService) EraseCustomer(ctx context.Context, ref, actor string) (flows.Erasure, error) {
	er, err := p.db.EraseCustomer(ctx, ref, actor)
	if err != nil || p.states == nil {
		return er, err
	}
	var failed []error
	for _, c := range er.Chats {
		if err := p.states.ForgetChat(ctx, c.Channel, c.ExternalID); err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) > 0 {
		// SQL is done (the state SQL keeps was blanked too); what Redis holds
		// expires with its TTL. Said loudly so an operator can flush it.
		p.log.Error("customer erased in SQL, but their chat state in Redis was not deleted", "pseudonym", er.Audit.Subject, "err", errors.Join(failed...))
		return er, fmt.Errorf("%w: customer erased as %s, but deleting their chat state in Redis failed: %v", flows.ErrUnavailable, er.Audit.Subject, errors.Join(failed...))
	}
	return er, nil
}

func (p privacyService) PrivacyAudit(ctx context.Context, limit int) ([]flows.PrivacyAudit, error) {
	return p.db.PrivacyAudit(ctx, limit)
}

// addRetentionJob schedules the free-text purge (one replica per slot) when
// CXBOT_TEXT_RETENTION is set.
func (a *app) addRetentionJob() error {
	if a.cfg.TextRetention <= 0 {
		return nil
	}
	err := a.sched.Add(scheduler.Job{Name: "text-retention", Spec: a.cfg.RetentionSweep, Run: func(ctx context.Context, now time.Time) error {
		cutoff, ok := flows.RetentionCutoff(now, a.cfg.TextRetention)
		if !ok {
			return nil
		}
		audit, err := a.db.PurgeTextBefore(ctx, cutoff, flows.PrivacyActorRetention)
		if err != nil {
			return err
		}
		a.log.Info("text retention purged free text", "before", cutoff.Format(time.RFC3339), "rows", formatRows(audit.Rows))
		return nil
	}})
	if err != nil {
		return fmt.Errorf("CXBOT_RETENTION_SWEEP: %w", err)
	}
	return nil
}

// formatRows prints rows per table in a stable order: "answers=2 handoffs=0".
func formatRows(rows map[string]int64) string {
	tables := make([]string, 0, len(rows))
	for t := range rows {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	parts := make([]string, 0, len(tables))
	for _, t := range tables {
		parts = append(parts, fmt.Sprintf("%s=%d", t, rows[t]))
	}
	return strings.Join(parts, " ")
}

const customersUsage = `Usage:
  cxbot customers erase --ref REF   erase a customer (identities, free text, relayed messages, chat state)
  cxbot customers audit [--limit N] print the privacy audit (erasures, retention runs), newest first

Erasure keeps the customer's anonymous scores for the reports; the customer's
reference becomes a pseudonym (erased-<id>). Each action is recorded with who
did it (cli:<os user> here), when, and how many rows of each table changed.`

// cmdCustomers is the privacy side of customers: erase and the audit.
func cmdCustomers(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "erase" && args[0] != "audit") {
		fmt.Fprintln(stderr, customersUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return nil
		}
		return errors.New("customers: say erase or audit")
	}
	fs := newFlagSet("customers "+args[0], customersUsage, stderr)
	ref := fs.String("ref", "", "the business's customer reference")
	limit := fs.Int("limit", 50, "how many audit entries")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("customers %s: unexpected argument %q", args[0], fs.Arg(0))
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	db, err := openDatabase(ctx, cfg, log, cfg.AutoMigrate)
	if err != nil {
		return err
	}
	defer db.Close()
	p := privacyService{db: db, log: log}
	switch args[0] {
	case "erase":
		if *ref == "" {
			return errors.New("customers erase: --ref is required")
		}
		if cfg.RedisURL != "" { // an embedded Redis starts empty: nothing to forget
			r, err := redisstore.Open(ctx, cfg.RedisURL, log)
			if err != nil {
				return fmt.Errorf("CXBOT_REDIS_URL: %w", err)
			}
			defer r.Close()
			p.states = r.WithPrefix(cfg.RedisPrefix)
		}
		er, err := p.EraseCustomer(ctx, *ref, flows.PrivacyActorCLI(osUser(getenv)))
		if err != nil {
			return fmt.Errorf("customers erase: %w", err)
		}
		fmt.Fprintf(stdout, "customer erased: now %s; chats forgotten: %d; rows: %s\n", er.Audit.Subject, len(er.Chats), formatRows(er.Audit.Rows))
	case "audit":
		if *limit < 1 || *limit > 1000 {
			return errors.New("customers audit: --limit must be from 1 to 1000")
		}
		entries, err := p.PrivacyAudit(ctx, *limit)
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			fmt.Fprintln(stdout, "no privacy actions yet")
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "WHEN\tWHO\tWHAT\tSUBJECT\tROWS")
		for _, e := range entries {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.At.UTC().Format(time.RFC3339), e.Actor, e.Action, e.Subject, formatRows(e.Rows))
		}
		return tw.Flush()
	}
	return nil
}

// osUser names the operator for the audit: $USER, else the OS account.
func osUser(getenv func(string) string) string {
	if u := getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}
