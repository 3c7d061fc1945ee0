package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/cxbot/cxbot/flows"
)

const agentsUsage = `Usage:
  cxbot agents add --telegram-user ID --name NAME [--role agent|supervisor]
  cxbot agents list
  cxbot agents remove --telegram-user ID

Only registered agents can claim, answer and resolve cases in the agents' chat.
A Telegram user finds their id with @userinfobot, or in cxbot's log when they
tap a button without being registered.`

// cmdAgents registers the people who work the handoff desk.
func cmdAgents(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "add" && args[0] != "list" && args[0] != "remove") {
		fmt.Fprintln(stderr, agentsUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return nil
		}
		return errors.New("agents: say add, list or remove")
	}
	fs := newFlagSet("agents "+args[0], agentsUsage, stderr)
	user := fs.Int64("telegram-user", 0, "the agent's Telegram user id")
	name := fs.String("name", "", "the agent's name, as customers and colleagues see it")
	role := fs.String("role", string(flows.RoleAgent), "agent or supervisor (supervisors also get escalations and may act on any case)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("agents %s: unexpected argument %q", args[0], fs.Arg(0))
	}
	db, err := openConfiguredDatabase(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	switch args[0] {
	case "add":
		a, err := db.AddAgent(ctx, flows.Agent{TelegramUserID: *user, Name: *name, Role: flows.AgentRole(*role)})
		if err != nil {
			return fmt.Errorf("agents add: %w", err)
		}
		fmt.Fprintf(stdout, "agent %d: %s (telegram user %d, %s)\n", a.ID, a.Name, a.TelegramUserID, a.Role)
	case "remove":
		if *user <= 0 {
			return errors.New("agents remove: --telegram-user is required")
		}
		if err := db.RemoveAgent(ctx, *user); err != nil {
			return fmt.Errorf("agents remove: %w", err)
		}
		fmt.Fprintf(stdout, "telegram user %d is no longer an agent\n", *user)
	case "list":
		agents, err := db.Agents(ctx)
		if err != nil {
			return err
		}
		if len(agents) == 0 {
			fmt.Fprintln(stdout, "no agents yet: cxbot agents add --telegram-user ID --name NAME")
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTELEGRAM USER\tNAME\tROLE\tADDED")
		for _, a := range agents {
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\n", a.ID, a.TelegramUserID, a.Name, a.Role, a.CreatedAt.Format("2006-01-02"))
		}
		return tw.Flush()
	}
	return nil
}
