package flows

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseAPIRole(t *testing.T) {
	for in, want := range map[string]APIRole{"admin": APIAdmin, " Marketer ": APIMarketer, "AGENT": APIAgent} {
		if got, err := ParseAPIRole(in); err != nil || got != want {
			t.Errorf("ParseAPIRole(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "supervisor", "root", "admin\x00"} {
		_, err := ParseAPIRole(bad)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "use admin, marketer or agent") {
			t.Errorf("ParseAPIRole(%q) = %v", bad, err)
		}
	}
}

// The matrix as the README documents it; a permission added without a
// decision here fails.
func TestRolePermissions(t *testing.T) {
	want := map[Permission][]APIRole{
		PermSelf:              {APIAdmin, APIMarketer, APIAgent},
		PermListAgents:        {APIAdmin, APIMarketer, APIAgent},
		PermListSurveys:       {APIAdmin, APIMarketer, APIAgent},
		PermReadHandoffs:      {APIAdmin, APIMarketer, APIAgent},
		PermWorkHandoffs:      {APIAdmin, APIAgent},
		PermImportEvents:      {APIAdmin, APIMarketer},
		PermManageWaves:       {APIAdmin, APIMarketer},
		PermReadReports:       {APIAdmin, APIMarketer},
		PermManageTokens:      {APIAdmin},
		PermManageAgents:      {APIAdmin},
		PermPrivacy:           {APIAdmin},
		PermWebhookDeliveries: {APIAdmin},
		PermSendInvitations:   {APIAdmin},
		PermIssueLinks:        {APIAdmin},
		PermHealthDetails:     {APIAdmin},
	}
	if len(want) != len(Permissions()) {
		t.Errorf("%d permissions, %d decided here", len(Permissions()), len(want))
	}
	for _, p := range Permissions() {
		if !slices.Equal(RolesWith(p), want[p]) {
			t.Errorf("RolesWith(%s) = %v, want %v", p, RolesWith(p), want[p])
		}
		if p.Describe() == string(p) {
			t.Errorf("%s has no description", p)
		}
		for _, r := range APIRoles() {
			if r.May(p) != slices.Contains(want[p], r) {
				t.Errorf("%s.May(%s) = %v", r, p, r.May(p))
			}
		}
	}
	if APIAdmin.May("misspelt") || RolesWith("misspelt") != nil {
		t.Error("an unknown permission must be nobody's")
	}
	if got := APIAgent.Refusal(PermReadReports); got != "an agent token may not read reports, responses or exports (that needs admin or marketer)" {
		t.Errorf("agent refusal = %q", got)
	}
	if got := APIMarketer.Refusal(PermManageTokens); got != "a marketer token may not list, create or revoke API tokens (that needs admin)" {
		t.Errorf("refusal = %q", got)
	}
	if got := len(APIAgent.Permissions()); got != 5 {
		t.Errorf("agent permissions = %v", APIAgent.Permissions())
	}
}

func TestNewAPIToken(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	secret, tok, err := NewAPIToken(" ops ", APIAdmin, 0, "cli:anna", now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "cxb_") || len(secret) != 47 || !WellFormedAPIToken(secret) {
		t.Errorf("secret %q", secret)
	}
	if tok.Hash != APITokenHash(secret) || strings.Contains(tok.Hash, secret[4:]) || tok.Name != "ops" || tok.Role != APIAdmin {
		t.Errorf("token %+v", tok)
	}
	other, _, _ := NewAPIToken("ops", APIAdmin, 0, "cli:anna", now)
	if other == secret {
		t.Error("two tokens are equal")
	}
	for _, bad := range []string{"", "cxb_", secret[:46], secret + "x", "xyz_" + secret[4:], secret[:46] + "!"} {
		if WellFormedAPIToken(bad) {
			t.Errorf("WellFormedAPIToken(%q) = true", bad)
		}
	}
	for _, tc := range []struct {
		name  string
		role  APIRole
		agent int64
		want  string
	}{
		{"", APIAdmin, 0, "name is required"},
		{"   ", APIAdmin, 0, "name is required"},
		{strings.Repeat("n", 65), APIAdmin, 0, "name is longer than 64"},
		{"a\nb", APIAdmin, 0, "control characters"},
		{"x", "root", 0, `role "root" is not a role`},
		{"x", APIMarketer, 77, "binds an agent token only"},
		{"x", APIAgent, -1, "positive Telegram user id"},
	} {
		_, _, err := NewAPIToken(tc.name, tc.role, tc.agent, "cli:anna", now)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewAPIToken(%q, %q, %d) = %v, want %q", tc.name, tc.role, tc.agent, err, tc.want)
		}
	}
	if _, tok, err := NewAPIToken("desk", APIAgent, 77, "cli:anna", now); err != nil || tok.AgentTelegramUserID != 77 {
		t.Errorf("bound agent token: %+v %v", tok, err)
	}
}

func TestTokenNeedsTouch(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var tok APIToken
	if !tok.NeedsTouch(now) {
		t.Error("never used: touch")
	}
	last := now.Add(-59 * time.Second)
	tok.LastUsedAt = &last
	if tok.NeedsTouch(now) {
		t.Error("used 59 s ago: no touch")
	}
	if !tok.NeedsTouch(now.Add(time.Second)) {
		t.Error("used a minute ago: touch")
	}
}
