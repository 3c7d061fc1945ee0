package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cxbot/cxbot/flows"
)

const tokensUsage = `Usage:
  cxbot tokens create --role admin|marketer|agent --name NAME [--agent TELEGRAM_USER_ID]
  cxbot tokens list
  cxbot tokens revoke ID

A token is a bearer token for /api/v1 with a role: admin may do everything;
marketer reads reports, responses and exports and runs waves and event
imports; agent works the handoff desk (with --agent, only as that agent).
The secret is printed once: only its SHA-256 is stored. CXBOT_API_TOKEN
keeps working as an admin token. A revoked token stops working within 5 s
on every running replica.`

// cmdTokens manages the API's tokens in the database.
func cmdTokens(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "list" && args[0] != "revoke") {
		fmt.Fprintln(stderr, tokensUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return nil
		}
		return errors.New("tokens: say create, list or revoke")
	}
	fs := newFlagSet("tokens "+args[0], tokensUsage, stderr)
	role := fs.String("role", "", "admin, marketer or agent")
	name := fs.String("name", "", "who or what holds the token (shown in the list and in created_by)")
	agent := fs.Int64("agent", 0, "an agent token only: the Telegram user id of the registered agent it acts as")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var id int64
	switch {
	case args[0] == "revoke" && fs.NArg() != 1:
		return errors.New("tokens revoke: give the token's id (cxbot tokens list shows it)")
	case args[0] == "revoke":
		n, err := strconv.ParseInt(fs.Arg(0), 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("tokens revoke: %q is not a token id (a positive integer)", fs.Arg(0))
		}
		id = n
	case fs.NArg() > 0:
		return fmt.Errorf("tokens %s: unexpected argument %q", args[0], fs.Arg(0))
	}
	var apiRole flows.APIRole
	if args[0] == "create" {
		var err error
		if apiRole, err = flows.ParseAPIRole(*role); err != nil {
			return fmt.Errorf("tokens create: --%w", err)
		}
	}
	db, err := openConfiguredDatabase(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	switch args[0] {
	case "create":
		secret, t, err := flows.NewAPIToken(*name, apiRole, *agent, flows.PrivacyActorCLI(osUser(getenv)), time.Now())
		if err == nil {
			t, err = db.CreateAPIToken(ctx, t)
		}
		if err != nil {
			return fmt.Errorf("tokens create: %s", flagNames(err))
		}
		fmt.Fprintf(stderr, "token %d: %s (%s); the secret below is shown this once:\n", t.ID, t.Name, t.Role)
		fmt.Fprintln(stdout, secret)
	case "revoke":
		t, revokedNow, err := db.RevokeAPIToken(ctx, id)
		if err != nil {
			return fmt.Errorf("tokens revoke: %w", err)
		}
		if !revokedNow {
			fmt.Fprintf(stdout, "token %d (%s) was already revoked on %s\n", t.ID, t.Name, t.RevokedAt.Format(time.RFC3339))
			return nil
		}
		fmt.Fprintf(stdout, "token %d (%s) revoked\n", t.ID, t.Name)
	case "list":
		tokens, err := db.APITokens(ctx)
		if err != nil {
			return err
		}
		if len(tokens) == 0 {
			fmt.Fprintln(stdout, "no tokens yet: cxbot tokens create --role admin|marketer|agent --name NAME")
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tROLE\tAGENT\tCREATED\tBY\tLAST USED\tREVOKED")
		day := func(t *time.Time) string {
			if t == nil {
				return "-"
			}
			return t.Format("2006-01-02 15:04")
		}
		for _, t := range tokens {
			agent := "-"
			if t.AgentTelegramUserID != 0 {
				agent = strconv.FormatInt(t.AgentTelegramUserID, 10)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, agent, day(&t.CreatedAt), t.CreatedBy, day(t.LastUsedAt), day(t.RevokedAt))
		}
		return tw.Flush()
	}
	return nil
}

// flagNames words a field error as the CLI's flags: "--agent 78 is not a
// registered agent" rather than the API's agent_telegram_user_id.
func flagNames(err error) string {
	msg := strings.TrimPrefix(err.Error(), "create API token: ")
	for field, flag := range map[string]string{"agent_telegram_user_id ": "--agent ", "name ": "--name ", "role ": "--role "} {
		if rest, ok := strings.CutPrefix(msg, field); ok {
			return flag + rest
		}
	}
	return msg
}
