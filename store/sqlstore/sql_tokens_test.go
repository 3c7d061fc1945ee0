package sqlstore

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// Tokens are stored by hash only, found by hash, listed newest first,
// revoked once (a second revoke changes nothing), and an agent token is
// bound only to a registered agent.
func TestSQLAPITokens(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		now := db.now()
		if has, err := db.HasActiveAPITokens(ctx); err != nil || has {
			t.Fatalf("HasActiveAPITokens on an empty table = %v, %v", has, err)
		}
		secret, tok, err := flows.NewAPIToken("ops", flows.APIAdmin, 0, "cli:anna", now)
		if err != nil {
			t.Fatal(err)
		}
		admin, err := db.CreateAPIToken(ctx, tok)
		if err != nil || admin.ID == 0 || admin.Name != "ops" || admin.Role != flows.APIAdmin || admin.CreatedBy != "cli:anna" ||
			!admin.CreatedAt.Equal(now) || admin.LastUsedAt != nil || admin.Revoked() {
			t.Fatalf("CreateAPIToken = %+v, %v", admin, err)
		}
		// The secret is nowhere in the table, in any column.
		var dump []map[string]any
		if err := db.conn(ctx).Table("api_tokens").Find(&dump).Error; err != nil {
			t.Fatal(err)
		}
		for _, row := range dump {
			for col, v := range row {
				if s, ok := v.(string); ok && (strings.Contains(s, secret) || strings.Contains(s, secret[len(flows.APITokenPrefix):])) {
					t.Errorf("api_tokens.%s holds the secret", col)
				}
			}
		}
		if len(dump) != 1 || dump[0]["token_hash"] != flows.APITokenHash(secret) {
			t.Errorf("rows = %v", dump)
		}
		if got, err := db.APITokenByHash(ctx, flows.APITokenHash(secret)); err != nil || got.ID != admin.ID {
			t.Errorf("APITokenByHash = %+v, %v", got, err)
		}
		if _, err := db.APITokenByHash(ctx, flows.APITokenHash(secret+"x")); !errors.Is(err, flows.ErrNotFound) {
			t.Errorf("APITokenByHash(unknown) = %v, want ErrNotFound", err)
		}
		if _, err := db.CreateAPIToken(ctx, tok); !errors.Is(err, flows.ErrConflict) {
			t.Errorf("the same hash twice = %v, want ErrConflict", err)
		}

		// Binding: only to a registered agent.
		_, bound, _ := flows.NewAPIToken("desk-li", flows.APIAgent, 77, "cli:anna", now)
		if _, err := db.CreateAPIToken(ctx, bound); !errors.Is(err, flows.ErrInvalid) || !strings.Contains(err.Error(), "agent_telegram_user_id 77 is not a registered agent") {
			t.Errorf("bound to nobody = %v", err)
		}
		if _, err := db.AddAgent(ctx, flows.Agent{TelegramUserID: 77, Name: "Li"}); err != nil {
			t.Fatal(err)
		}
		agent, err := db.CreateAPIToken(ctx, bound)
		if err != nil || agent.AgentTelegramUserID != 77 || agent.Role != flows.APIAgent {
			t.Fatalf("bound agent token = %+v, %v", agent, err)
		}
		_, bad, _ := flows.NewAPIToken("x", flows.APIAdmin, 0, "cli:anna", now)
		bad.Role = "root"
		if _, err := db.CreateAPIToken(ctx, bad); !errors.Is(err, flows.ErrInvalid) {
			t.Errorf("bad role stored: %v", err)
		}
		list, err := db.APITokens(ctx)
		if err != nil || len(list) != 2 || list[0].ID != agent.ID || list[1].ID != admin.ID || list[1].AgentTelegramUserID != 0 {
			t.Fatalf("APITokens = %+v, %v", list, err)
		}

		// last_used_at: written at most once a minute.
		if err := db.TouchAPIToken(ctx, admin.ID, now); err != nil {
			t.Fatal(err)
		}
		for _, at := range []time.Time{now.Add(30 * time.Second), now.Add(59 * time.Second)} {
			if err := db.TouchAPIToken(ctx, admin.ID, at); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := db.APITokenByHash(ctx, admin.Hash)
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(now) {
			t.Errorf("last_used_at after touches within a minute = %v, want %v", got.LastUsedAt, now)
		}
		if err := db.TouchAPIToken(ctx, admin.ID, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got, _ = db.APITokenByHash(ctx, admin.Hash); got.LastUsedAt == nil || !got.LastUsedAt.Equal(now.Add(time.Minute)) {
			t.Errorf("last_used_at a minute later = %v", got.LastUsedAt)
		}

		// Revoke: once; again changes nothing; unknown is ErrNotFound.
		r, now1, err := db.RevokeAPIToken(ctx, admin.ID)
		if err != nil || !now1 || !r.Revoked() || !r.RevokedAt.Equal(now) {
			t.Fatalf("RevokeAPIToken = %+v, %v, %v", r, now1, err)
		}
		db.Now = func() time.Time { return now.Add(time.Hour) }
		if r2, again, err := db.RevokeAPIToken(ctx, admin.ID); err != nil || again || !r2.RevokedAt.Equal(now) {
			t.Errorf("second revoke = %+v, %v, %v; want the first revoked_at kept", r2, again, err)
		}
		if _, _, err := db.RevokeAPIToken(ctx, 999); !errors.Is(err, flows.ErrNotFound) {
			t.Errorf("revoke unknown = %v, want ErrNotFound", err)
		}
		if has, err := db.HasActiveAPITokens(ctx); err != nil || !has {
			t.Errorf("HasActiveAPITokens with the agent token left = %v, %v", has, err)
		}
		if _, _, err := db.RevokeAPIToken(ctx, agent.ID); err != nil {
			t.Fatal(err)
		}
		if has, err := db.HasActiveAPITokens(ctx); err != nil || has {
			t.Errorf("HasActiveAPITokens with all revoked = %v, %v", has, err)
		}
	})
}

// Removing an agent revokes the tokens bound to them (and only those): a
// token acting for someone no longer on the desk must not read its cases.
func TestSQLRemoveAgentRevokesBoundTokens(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		for _, id := range []int64{77, 78} {
			if _, err := db.AddAgent(ctx, flows.Agent{TelegramUserID: id, Name: "A", Role: flows.RoleAgent}); err != nil {
				t.Fatal(err)
			}
		}
		mint := func(agent int64) flows.APIToken {
			_, tok, err := flows.NewAPIToken("desk", flows.APIAgent, agent, "test", db.now())
			if err != nil {
				t.Fatal(err)
			}
			if tok, err = db.CreateAPIToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
			return tok
		}
		gone, other, unbound := mint(77), mint(78), mint(0)
		if err := db.RemoveAgent(ctx, 77); err != nil {
			t.Fatal(err)
		}
		state := map[int64]bool{}
		toks, err := db.APITokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range toks {
			state[tok.ID] = tok.Revoked()
		}
		if !state[gone.ID] || state[other.ID] || state[unbound.ID] {
			t.Fatalf("revoked after removing agent 77: %v; want only token %d", state, gone.ID)
		}
		if err := db.RemoveAgent(ctx, 77); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("removing again = %v, want ErrNotFound", err)
		}
	})
}
