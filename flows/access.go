package flows

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// API access: every caller of /api/v1 holds a bearer token with one role,
// and every route needs one permission. Which role holds which permission
// is decided here, once, so the HTTP layer and the CLI only apply it:
//
//   - admin: everything (tokens, agents, erasure and the privacy audit,
//     webhook deliveries, direct invitations and deep links, …); the
//     CXBOT_API_TOKEN of the environment is an admin token.
//   - marketer: what a marketing team runs and reads: reports, responses
//     and exports, surveys, waves (every operation: a wave is their
//     campaign), event imports (the touchpoints waves are planned from),
//     and the desk read-only (cases and agents, to see how detractors are
//     followed up). Not invitations or links: those are per-customer sends
//     from the business's own systems, which hold an admin token.
//   - agent: the handoff desk (list, read, claim, reply, resolve), the
//     agents and the surveys (to name a case's survey). An agent token may
//     be bound to one agent, and then acts only as them.

// APIRole is what an API token may do.
type APIRole string

const (
	APIAdmin    APIRole = "admin"
	APIMarketer APIRole = "marketer"
	APIAgent    APIRole = "agent"
)

// APIRoles lists the roles, most powerful first.
func APIRoles() []APIRole { return []APIRole{APIAdmin, APIMarketer, APIAgent} }

// Valid reports whether r is a known role.
func (r APIRole) Valid() bool { return r == APIAdmin || r == APIMarketer || r == APIAgent }

// ParseAPIRole reads a role as a person types it (any case, spaces around).
func ParseAPIRole(s string) (APIRole, error) {
	r := APIRole(strings.ToLower(strings.TrimSpace(s)))
	if !r.Valid() {
		return "", NewFieldError("role", "%q is not a role: use admin, marketer or agent", clip(s, maxQuotedValue))
	}
	return r, nil
}

// Permission is what a route needs; its value is the stable name the API
// shows (GET /api/v1/me lists a caller's).
type Permission string

const (
	// PermPublic routes answer anyone, without a token (health, the
	// OpenAPI document, the dashboard's files: they hold no data).
	PermPublic Permission = "public"
	// PermSelf is every token's: who am I, and 404/405 for unknown routes.
	PermSelf              Permission = "self"
	PermManageTokens      Permission = "manage_tokens"
	PermManageAgents      Permission = "manage_agents"
	PermListAgents        Permission = "list_agents"
	PermPrivacy           Permission = "privacy"
	PermWebhookDeliveries Permission = "webhook_deliveries"
	PermSendInvitations   Permission = "send_invitations"
	PermIssueLinks        Permission = "issue_links"
	PermImportEvents      Permission = "import_events"
	PermManageWaves       Permission = "manage_waves"
	PermReadReports       Permission = "read_reports"
	PermListSurveys       Permission = "list_surveys"
	PermReadHandoffs      Permission = "read_handoffs"
	PermWorkHandoffs      Permission = "work_handoffs"
	// PermHealthDetails shows why a health check fails (hosts, ports,
	// database users): operators only.
	PermHealthDetails Permission = "health_details"
)

// Permissions lists every permission but PermPublic.
func Permissions() []Permission {
	return []Permission{PermSelf, PermManageTokens, PermManageAgents, PermListAgents, PermPrivacy, PermWebhookDeliveries,
		PermSendInvitations, PermIssueLinks, PermImportEvents, PermManageWaves, PermReadReports, PermListSurveys,
		PermReadHandoffs, PermWorkHandoffs, PermHealthDetails}
}

// RolesWith lists the roles that hold p; none for a permission this build
// does not know, so a misspelt one locks a route rather than opening it.
func RolesWith(p Permission) []APIRole {
	switch p {
	case PermPublic, PermSelf, PermListAgents, PermListSurveys, PermReadHandoffs:
		return []APIRole{APIAdmin, APIMarketer, APIAgent}
	case PermImportEvents, PermManageWaves, PermReadReports:
		return []APIRole{APIAdmin, APIMarketer}
	case PermWorkHandoffs:
		return []APIRole{APIAdmin, APIAgent}
	case PermManageTokens, PermManageAgents, PermPrivacy, PermWebhookDeliveries, PermSendInvitations, PermIssueLinks, PermHealthDetails:
		return []APIRole{APIAdmin}
	}
	return nil
}

// May reports whether role r holds p.
func (r APIRole) May(p Permission) bool {
	for _, holder := range RolesWith(p) {
		if holder == r {
			return true
		}
	}
	return false
}

// Permissions lists what r may do, in the order of Permissions().
func (r APIRole) Permissions() []Permission {
	var out []Permission
	for _, p := range Permissions() {
		if r.May(p) {
			out = append(out, p)
		}
	}
	return out
}

// Describe says what p allows, to complete "may not …" in a refusal.
func (p Permission) Describe() string {
	switch p {
	case PermSelf:
		return "use the API"
	case PermManageTokens:
		return "list, create or revoke API tokens"
	case PermManageAgents:
		return "add or remove agents"
	case PermListAgents:
		return "list agents"
	case PermPrivacy:
		return "erase customers or read the privacy audit"
	case PermWebhookDeliveries:
		return "read or retry webhook deliveries"
	case PermSendInvitations:
		return "send invitations"
	case PermIssueLinks:
		return "issue deep links"
	case PermImportEvents:
		return "import events"
	case PermManageWaves:
		return "read or change waves"
	case PermReadReports:
		return "read reports, responses or exports"
	case PermListSurveys:
		return "list surveys"
	case PermReadHandoffs:
		return "read handoffs"
	case PermWorkHandoffs:
		return "claim, answer or resolve handoffs"
	case PermHealthDetails:
		return "see why a health check fails"
	}
	return string(p)
}

// Refusal is the message for a caller whose role lacks p.
func (r APIRole) Refusal(p Permission) string {
	holders := RolesWith(p)
	names := make([]string, len(holders))
	for i, h := range holders {
		names[i] = string(h)
	}
	need := "no role"
	if len(names) > 0 {
		need = strings.Join(names, " or ")
	}
	article := "a"
	if r != "" && strings.ContainsRune("aeiou", rune(r[0])) {
		article = "an"
	}
	return fmt.Sprintf("%s %s token may not %s (that needs %s)", article, r, p.Describe(), need)
}

// API tokens are "cxb_" and 43 base64url characters (32 random bytes): the
// prefix makes a leaked one easy to find in a repository or a log (secret
// scanners match it), and only its SHA-256 is stored, so a copy of the
// database grants nothing.
const (
	APITokenPrefix  = "cxb_"
	apiTokenBytes   = 32
	apiTokenLen     = len(APITokenPrefix) + 43
	maxTokenNameLen = 64
	maxCreatedByLen = 200
)

// APIToken is a stored token: everything but the secret.
type APIToken struct {
	ID   int64
	Hash string // APITokenHash of the secret
	Name string
	Role APIRole
	// AgentTelegramUserID binds an agent token to one agent (0: unbound):
	// the desk API then acts as that agent and refuses acting as another.
	AgentTelegramUserID int64
	CreatedAt           time.Time
	CreatedBy           string // "cli:anna", "token 3 (ops)", "CXBOT_API_TOKEN"
	LastUsedAt          *time.Time
	RevokedAt           *time.Time
}

// Revoked reports whether the token no longer works.
func (t APIToken) Revoked() bool { return t.RevokedAt != nil }

// Validate checks a token before it is stored.
func (t APIToken) Validate() error {
	if err := checkText("name", t.Name, maxTokenNameLen, true, false); err != nil {
		return err
	}
	if strings.TrimSpace(t.Name) == "" {
		return NewFieldError("name", "is required")
	}
	if !t.Role.Valid() {
		return NewFieldError("role", "%q is not a role: use admin, marketer or agent", clip(string(t.Role), maxQuotedValue))
	}
	switch {
	case t.AgentTelegramUserID < 0:
		return NewFieldError("agent_telegram_user_id", "must be a positive Telegram user id")
	case t.AgentTelegramUserID > 0 && t.Role != APIAgent:
		return NewFieldError("agent_telegram_user_id", "binds an agent token only; a %s token acts as no agent", t.Role)
	}
	if len(t.Hash) != sha256.Size*2 {
		return fmt.Errorf("%w: token hash must be a hex SHA-256", ErrInvalid)
	}
	return checkText("created_by", t.CreatedBy, maxCreatedByLen, true, false)
}

// NewAPIToken makes a token: the secret to hand out once, and the record
// to store.
func NewAPIToken(name string, role APIRole, agentTelegramUserID int64, createdBy string, now time.Time) (string, APIToken, error) {
	b := make([]byte, apiTokenBytes)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	secret := APITokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	t := APIToken{Hash: APITokenHash(secret), Name: strings.TrimSpace(name), Role: role,
		AgentTelegramUserID: agentTelegramUserID, CreatedAt: now, CreatedBy: createdBy}
	if err := t.Validate(); err != nil {
		return "", APIToken{}, err
	}
	return secret, t, nil
}

// APITokenHash is what a token is stored and looked up by.
func APITokenHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// WellFormedAPIToken reports whether s has a token's shape, so a value
// that cannot be one costs no lookup.
func WellFormedAPIToken(s string) bool {
	rest, ok := strings.CutPrefix(s, APITokenPrefix)
	if !ok || len(s) != apiTokenLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(rest)
	return err == nil
}

// TokenTouchEvery is how stale a token's last_used_at may get: it is
// written at most this often, not on every call.
const TokenTouchEvery = time.Minute

// NeedsTouch reports whether a call at now should record the token's use.
func (t APIToken) NeedsTouch(now time.Time) bool {
	return t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= TokenTouchEvery
}

// TokenActor names a caller of the API, for created_by and logs: the
// environment's token, or a stored one by id and name.
func TokenActor(t APIToken) string {
	if t.ID == 0 {
		return "CXBOT_API_TOKEN"
	}
	return fmt.Sprintf("token %d (%s)", t.ID, t.Name)
}
