package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/cxbot/cxbot/flows"
)

// Tokens made at the command line work on a running cxbot with their
// role; the list never shows a secret; a revoked token is refused; and
// CXBOT_API_TOKEN stays an admin.
func TestTokensCLI(t *testing.T) {
	for _, st := range stacks(t) {
		t.Run(st.name, func(t *testing.T) {
			dbURL := st.databaseURL(t)
			env := envOf(map[string]string{"CXBOT_DATABASE_URL": dbURL, "CXBOT_LOG_LEVEL": "warn", "USER": "anna"})
			cli := func(args ...string) (int, string, string) {
				t.Helper()
				var out, errOut bytes.Buffer
				code := run(context.Background(), args, env, &out, &errOut)
				return code, out.String(), errOut.String()
			}
			if code, _, errOut := cli("migrate"); code != 0 {
				t.Fatalf("migrate: %s", errOut)
			}
			if code, out, _ := cli("tokens", "list"); code != 0 || !strings.Contains(out, "no tokens yet") {
				t.Errorf("list of none = %d %q", code, out)
			}
			code, marketer, errOut := cli("tokens", "create", "--role", "marketer", "--name", "campaign team")
			marketer = strings.TrimSpace(marketer)
			if code != 0 || !flows.WellFormedAPIToken(marketer) || !strings.Contains(errOut, "token 1: campaign team (marketer); the secret below is shown this once") {
				t.Fatalf("create = %d %q %q", code, marketer, errOut)
			}

			// Bad input: exit 1 naming the flag; nothing stored.
			for _, tc := range []struct {
				args []string
				want string
			}{
				{[]string{"tokens", "create", "--role", "root", "--name", "x"}, `--role "root" is not a role: use admin, marketer or agent`},
				{[]string{"tokens", "create", "--role", "agent"}, "--name is required"},
				{[]string{"tokens", "create", "--role", "agent", "--name", "desk", "--agent", "501"}, "--agent 501 is not a registered agent"},
				{[]string{"tokens", "create", "--role", "admin", "--name", "x", "--agent", "501"}, "binds an agent token only"},
				{[]string{"tokens", "revoke"}, "give the token's id"},
				{[]string{"tokens", "revoke", "abc"}, `"abc" is not a token id`},
				{[]string{"tokens", "revoke", "99"}, "API token 99: not found"},
				{[]string{"tokens", "rotate"}, "say create, list or revoke"},
			} {
				if code, _, errOut := cli(tc.args...); code != 1 || !strings.Contains(errOut, tc.want) {
					t.Errorf("%v = %d %q; want exit 1 with %q", tc.args, code, errOut, tc.want)
				}
			}
			if code, _, errOut := cli("agents", "add", "--telegram-user", "501", "--name", "Anna"); code != 0 {
				t.Fatalf("agents add: %s", errOut)
			}
			code, agent, _ := cli("tokens", "create", "--role", "agent", "--name", "desk", "--agent", "501")
			agent = strings.TrimSpace(agent)
			if code != 0 {
				t.Fatalf("create agent token: %d", code)
			}
			_, doomed, _ := cli("tokens", "create", "--role", "admin", "--name", "old ops")
			doomed = strings.TrimSpace(doomed)
			if code, out, _ := cli("tokens", "revoke", "3"); code != 0 || out != "token 3 (old ops) revoked\n" {
				t.Errorf("revoke = %d %q", code, out)
			}
			if code, out, _ := cli("tokens", "revoke", "3"); code != 0 || !strings.Contains(out, "token 3 (old ops) was already revoked on ") {
				t.Errorf("revoke again = %d %q", code, out)
			}
			code, list, _ := cli("tokens", "list")
			if code != 0 || strings.Count(list, "\n") != 4 || !strings.Contains(list, "campaign team") || !strings.Contains(list, "cli:anna") ||
				!strings.Contains(list, "501") || strings.Contains(list, marketer) || strings.Contains(list, agent[4:]) {
				t.Errorf("list = %d\n%s", code, list)
			}

			h := start(t, st, options{dbURL: dbURL})
			var me struct {
				Role  string `json:"role"`
				Name  string `json:"name"`
				Agent int64  `json:"agent_telegram_user_id"`
			}
			if code := h.apiWithToken(marketer, "GET", "/api/v1/me", nil, &me); code != http.StatusOK || me.Role != "marketer" || me.Name != "campaign team" {
				t.Errorf("me (marketer) = %d %+v", code, me)
			}
			if code := h.apiWithToken(marketer, "GET", "/api/v1/surveys", nil, nil); code != http.StatusOK {
				t.Errorf("a marketer listing surveys = %d", code)
			}
			if code := h.apiWithToken(marketer, "GET", "/api/v1/tokens", nil, nil); code != http.StatusForbidden {
				t.Errorf("a marketer listing tokens = %d, want 403", code)
			}
			if code := h.apiWithToken(agent, "GET", "/api/v1/me", nil, &me); code != http.StatusOK || me.Role != "agent" || me.Agent != 501 {
				t.Errorf("me (agent) = %d %+v", code, me)
			}
			if code := h.apiWithToken(agent, "GET", "/api/v1/reports/nps?survey=post_purchase_nps", nil, nil); code != http.StatusForbidden {
				t.Errorf("an agent reading a report = %d, want 403", code)
			}
			var refused struct {
				Error string `json:"error"`
			}
			if code := h.apiWithToken(doomed, "GET", "/api/v1/me", nil, &refused); code != http.StatusUnauthorized || refused.Error != "this bearer token was revoked" {
				t.Errorf("revoked token = %d %+v", code, refused)
			}
			var tokens struct {
				Tokens []struct {
					Name       string  `json:"name"`
					LastUsedAt *string `json:"last_used_at"`
				} `json:"tokens"`
			}
			if code := h.api("GET", "/api/v1/tokens", nil, &tokens); code != http.StatusOK || len(tokens.Tokens) != 3 ||
				tokens.Tokens[2].Name != "campaign team" || tokens.Tokens[2].LastUsedAt == nil || tokens.Tokens[0].LastUsedAt != nil {
				t.Errorf("tokens with CXBOT_API_TOKEN = %d %+v", code, tokens)
			}
		})
	}
}
