package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/store/sqlstore"
)

// newTokenDB is a real (SQLite) store holding token 1 (a marketer's) and
// agent 77.
func newTokenDB(t *testing.T) *sqlstore.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "cxbot.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddAgent(ctx, flows.Agent{TelegramUserID: 77, Name: "Li"}); err != nil {
		t.Fatal(err)
	}
	if tok := storedToken(t, db, flows.APIMarketer, 0); tok.ID != 1 {
		t.Fatalf("seed token id %d", tok.ID)
	}
	return db
}

// mintToken stores a new token and returns its secret.
func mintToken(t *testing.T, db *sqlstore.DB, role flows.APIRole, agent int64) string {
	t.Helper()
	secret, tok, err := flows.NewAPIToken("test-"+string(role), role, agent, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateAPIToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	return secret
}

func storedToken(t *testing.T, db *sqlstore.DB, role flows.APIRole, agent int64) flows.APIToken {
	t.Helper()
	got, err := db.APITokenByHash(context.Background(), flows.APITokenHash(mintToken(t, db, role, agent)))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// testClock is a clock the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestRoleMatrix walks every route for every role: a role the matrix
// refuses gets 403 naming the role and what it may not do (over HTTP, so
// the router applies the route's permission); a role it allows is let
// through. A route missing from the matrix fails the test, so a new route
// needs a decision.
func TestRoleMatrix(t *testing.T) {
	const all, adminOnly, marketing, desk = "admin marketer agent", "admin", "admin marketer", "admin agent"
	matrix := map[string]string{
		"GET /healthz": "public", "GET /readyz": "public", "GET /livez": "public", "GET /api/v1/openapi.json": "public",
		"GET /{$}": "public", "GET /dashboard/": "public",

		"GET /api/v1/me": all, "/api/": all, "GET /api/v1/surveys": all, "GET /api/v1/agents": all,
		"GET /api/v1/handoffs": all, "GET /api/v1/handoffs/{id}": all,

		"POST /api/v1/handoffs/{id}/claim": desk, "POST /api/v1/handoffs/{id}/reply": desk, "POST /api/v1/handoffs/{id}/resolve": desk,

		"GET /api/v1/reports/terms": marketing, "GET /api/v1/reports/{report}": marketing, "GET /api/v1/responses": marketing,
		"GET /api/v1/exports/responses.csv": marketing, "GET /api/v1/exports/responses.xlsx": marketing, "POST /api/v1/events": marketing,
		"GET /api/v1/waves": marketing, "POST /api/v1/waves": marketing, "GET /api/v1/waves/{id}": marketing, "PUT /api/v1/waves/{id}": marketing,
		"DELETE /api/v1/waves/{id}": marketing, "POST /api/v1/waves/{id}/pause": marketing, "POST /api/v1/waves/{id}/resume": marketing,
		"GET /api/v1/waves/{id}/preview": marketing, "POST /api/v1/wave-checks": marketing, "GET /api/v1/surveys/{id}/preview": all,

		"POST /api/v1/invitations": adminOnly, "POST /api/v1/links": adminOnly, "POST /api/v1/agents": adminOnly,
		"DELETE /api/v1/agents/{telegram_user_id}": adminOnly, "GET /api/v1/webhooks/deliveries": adminOnly,
		"POST /api/v1/webhooks/deliveries/{id}/retry": adminOnly, "DELETE /api/v1/customers/{ref}": adminOnly,
		"GET /api/v1/privacy/audit": adminOnly, "GET /api/v1/tokens": adminOnly, "POST /api/v1/tokens": adminOnly,
		"DELETE /api/v1/tokens/{id}": adminOnly,
	}
	db := newTokenDB(t)
	secrets := map[flows.APIRole]string{}
	for _, role := range flows.APIRoles() {
		secrets[role] = mintToken(t, db, role, 0)
	}
	a := newFakeAPI(t, func(c *Config) { c.Tokens = db }) // no fake is set: a refused call must not reach one
	direct := New(Config{Token: testToken, Tokens: db, Logger: slog.New(slog.DiscardHandler)})
	reaches := func(perm flows.Permission, method, path, secret string, role flows.APIRole) bool {
		reached := false
		req := httptest.NewRequest(method, path, strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+secret)
		direct.auth(perm, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			reached = callerOf(r.Context()).Role == role
		})).ServeHTTP(httptest.NewRecorder(), req)
		return reached
	}
	seen := 0
	for _, rt := range (&Server{}).routes() {
		want, ok := matrix[rt.pattern]
		if !ok {
			t.Errorf("route %s is not in the role matrix: decide which roles may call it", rt.pattern)
			continue
		}
		seen++
		if want == "public" {
			if rt.perm != flows.PermPublic {
				t.Errorf("%s needs %s; the matrix says it is public", rt.pattern, rt.perm)
			}
			continue
		}
		method, path := requestFor(rt.pattern)
		for _, role := range flows.APIRoles() {
			if slices.Contains(strings.Fields(want), string(role)) {
				if !reaches(rt.perm, method, path, secrets[role], role) {
					t.Errorf("%s with a %s token: refused; the matrix allows it", rt.pattern, role)
				}
				continue
			}
			r := a.doWith(method, path, `{}`, "Bearer "+secrets[role])
			if msg := r.errorText(t); r.code != http.StatusForbidden || !(strings.HasPrefix(msg, "a "+string(role)+" token may not ") || strings.HasPrefix(msg, "an "+string(role)+" token may not ")) ||
				!strings.Contains(msg, "(that needs admin") || !strings.Contains(r.body, `"code":"forbidden"`) {
				t.Errorf("%s %s with a %s token = %d %s; want 403 naming the role", method, path, role, r.code, r.body)
			}
		}
		if !reaches(rt.perm, method, path, testToken, flows.APIAdmin) {
			t.Errorf("%s: CXBOT_API_TOKEN is refused; it is an admin token", rt.pattern)
		}
	}
	if seen != len(matrix) {
		t.Errorf("the matrix has %d rows, the router %d of them: drop the rows of removed routes", len(matrix), seen)
	}
	// The words of one refusal, in full.
	r := a.doWith(http.MethodGet, "/api/v1/tokens", "", "Bearer "+secrets[flows.APIMarketer])
	if got := r.errorText(t); got != "a marketer token may not list, create or revoke API tokens (that needs admin)" {
		t.Errorf("refusal = %q", got)
	}
}

// Tokens through the API: the secret once, the list without it, /me, and
// revocation (idempotent; 401 at once on this replica).
func TestTokensAPI(t *testing.T) {
	db := newTokenDB(t)
	a := newFakeAPI(t, func(c *Config) { c.Tokens = db })

	r := a.do(http.MethodPost, "/api/v1/tokens", `{"name":" campaign team ","role":"Marketer"}`)
	var created struct {
		ID        int64  `json:"id"`
		Name      string `json:"name"`
		Role      string `json:"role"`
		CreatedBy string `json:"created_by"`
		Secret    string `json:"secret"`
	}
	r.json(t, &created)
	if r.code != http.StatusCreated || created.ID == 0 || created.Name != "campaign team" || created.Role != "marketer" ||
		created.CreatedBy != "CXBOT_API_TOKEN" || !flows.WellFormedAPIToken(created.Secret) || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create = %d %s", r.code, r.body)
	}
	secret := created.Secret

	r = a.doWith(http.MethodGet, "/api/v1/me", "", "Bearer "+secret)
	var me meJSON
	r.json(t, &me)
	if r.code != http.StatusOK || me.Role != flows.APIMarketer || me.Name != "campaign team" || me.TokenID != created.ID ||
		!slices.Equal(me.Permissions, flows.APIMarketer.Permissions()) || strings.Contains(r.body, "agent_telegram_user_id") {
		t.Errorf("me = %d %s", r.code, r.body)
	}
	if r = a.do(http.MethodGet, "/api/v1/me", ""); !strings.Contains(r.body, `"role":"admin","name":"CXBOT_API_TOKEN"`) || strings.Contains(r.body, "token_id") {
		t.Errorf("me with CXBOT_API_TOKEN = %s", r.body)
	}
	// A token the marketer made? No: only admins manage tokens.
	if r = a.doWith(http.MethodPost, "/api/v1/tokens", `{"name":"x","role":"admin"}`, "Bearer "+secret); r.code != http.StatusForbidden {
		t.Errorf("a marketer creating a token = %d %s", r.code, r.body)
	}
	// An admin token made through the API creates in its own name.
	r = a.do(http.MethodPost, "/api/v1/tokens", `{"name":"ops","role":"admin"}`)
	var ops struct {
		ID     int64  `json:"id"`
		Secret string `json:"secret"`
	}
	r.json(t, &ops)
	r = a.doWith(http.MethodPost, "/api/v1/tokens", `{"name":"desk","role":"agent","agent_telegram_user_id":77}`, "Bearer "+ops.Secret)
	if r.code != http.StatusCreated || !strings.Contains(r.body, `"created_by":"token `) || !strings.Contains(r.body, `(ops)"`) ||
		!strings.Contains(r.body, `"agent_telegram_user_id":77`) {
		t.Errorf("create by a stored admin token = %d %s", r.code, r.body)
	}

	r = a.do(http.MethodGet, "/api/v1/tokens", "")
	var list tokensJSON
	r.json(t, &list)
	if r.code != http.StatusOK || len(list.Tokens) != 4 || list.Tokens[0].Name != "desk" || list.Tokens[3].ID != 1 ||
		strings.Contains(r.body, secret) || strings.Contains(r.body, "secret") || strings.Contains(r.body, flows.APITokenHash(secret)) {
		t.Errorf("list = %d %s", r.code, r.body)
	}
	for _, tok := range list.Tokens {
		if tok.ID == created.ID && tok.LastUsedAt == nil {
			t.Errorf("the used token has no last_used_at: %+v", tok)
		}
	}

	// Revoke: 200 with revoked_now, again 200 without, and the secret is 401.
	path := "/api/v1/tokens/" + itoa(created.ID)
	if r = a.do(http.MethodDelete, path, ""); r.code != http.StatusOK || !strings.Contains(r.body, `"revoked_now":true`) || !strings.Contains(r.body, `"revoked_at":`) {
		t.Errorf("revoke = %d %s", r.code, r.body)
	}
	if r = a.do(http.MethodDelete, path, ""); r.code != http.StatusOK || !strings.Contains(r.body, `"revoked_now":false`) {
		t.Errorf("revoke again = %d %s", r.code, r.body)
	}
	r = a.doWith(http.MethodGet, "/api/v1/me", "", "Bearer "+secret)
	if r.code != http.StatusUnauthorized || r.errorText(t) != "this bearer token was revoked" || r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("revoked token = %d %s", r.code, r.body)
	}

	// Bad input: each refused with what is wrong, nothing stored.
	for _, tc := range []struct{ method, path, body, want string }{
		{http.MethodPost, "/api/v1/tokens", `{"name":"x","role":"root"}`, `role "root" is not a role: use admin, marketer or agent`},
		{http.MethodPost, "/api/v1/tokens", `{"name":"","role":"agent"}`, "name is required"},
		{http.MethodPost, "/api/v1/tokens", `{"name":"x"}`, `role "" is not a role`},
		{http.MethodPost, "/api/v1/tokens", `{"name":"x","role":"agent","agent":77}`, `unknown field "agent"`},
		{http.MethodPost, "/api/v1/tokens", `{"name":"x","role":"agent","agent_telegram_user_id":78}`, "agent_telegram_user_id 78 is not a registered agent"},
		{http.MethodPost, "/api/v1/tokens", `{"name":"x","role":"marketer","agent_telegram_user_id":77}`, "binds an agent token only"},
		{http.MethodPost, "/api/v1/tokens", `{"name":"` + strings.Repeat("n", 65) + `","role":"agent"}`, "name is longer than 64 characters"},
		{http.MethodDelete, "/api/v1/tokens/abc", "", `id "abc" is not a positive integer`},
	} {
		r := a.do(tc.method, tc.path, tc.body)
		if r.code != http.StatusBadRequest || !strings.Contains(r.errorText(t), tc.want) {
			t.Errorf("%s %s %s = %d %s; want 400 %q", tc.method, tc.path, tc.body, r.code, r.body, tc.want)
		}
	}
	if r = a.do(http.MethodDelete, "/api/v1/tokens/999", ""); r.code != http.StatusNotFound {
		t.Errorf("revoke unknown = %d %s", r.code, r.body)
	}
	if all, _ := db.APITokens(context.Background()); len(all) != 4 {
		t.Errorf("%d tokens stored after bad requests, want 4", len(all))
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A token revoked elsewhere (the CLI, another replica) works here until
// the cache's TTL has passed, then 401; last_used_at is written at most
// once a minute however busy the token.
func TestTokenCacheAndTouch(t *testing.T) {
	db := newTokenDB(t)
	counted := &touchCounter{DB: db}
	clock := &testClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	a := newFakeAPI(t, func(c *Config) { c.Tokens, c.Now = counted, clock.now })
	secret := mintToken(t, db, flows.APIAgent, 0)
	tok, err := db.APITokenByHash(context.Background(), flows.APITokenHash(secret))
	if err != nil {
		t.Fatal(err)
	}

	for range 20 {
		if r := a.doWith(http.MethodGet, "/api/v1/me", "", "Bearer "+secret); r.code != http.StatusOK {
			t.Fatalf("me = %d %s", r.code, r.body)
		}
		clock.add(2 * time.Second) // 40 s in all: past the TTL, within the minute
	}
	if n := counted.touches.Load(); n != 1 {
		t.Errorf("%d touches in 40 s of calls, want 1", n)
	}
	clock.add(30 * time.Second)
	a.doWith(http.MethodGet, "/api/v1/me", "", "Bearer "+secret)
	if n := counted.touches.Load(); n != 2 {
		t.Errorf("%d touches after 70 s, want 2", n)
	}
	got, _ := db.APITokenByHash(context.Background(), tok.Hash)
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(clock.now()) {
		t.Errorf("last_used_at = %v, want %v", got.LastUsedAt, clock.now())
	}

	if _, _, err := db.RevokeAPIToken(context.Background(), tok.ID); err != nil {
		t.Fatal(err)
	}
	clock.add(DefaultTokenTTL - time.Second)
	if r := a.doWith(http.MethodGet, "/api/v1/me", "", "Bearer "+secret); r.code != http.StatusOK {
		t.Errorf("within the TTL of the last read: %d (the cache is expected to answer)", r.code)
	}
	clock.add(time.Second)
	if r := a.doWith(http.MethodGet, "/api/v1/me", "", "Bearer "+secret); r.code != http.StatusUnauthorized {
		t.Errorf("revoked elsewhere, after the TTL = %d %s; want 401", r.code, r.body)
	}
}

// touchCounter counts the store's last_used_at writes.
type touchCounter struct {
	*sqlstore.DB
	touches atomic.Int64
}

func (c *touchCounter) TouchAPIToken(ctx context.Context, id int64, at time.Time) error {
	c.touches.Add(1)
	return c.DB.TouchAPIToken(ctx, id, at)
}

// With CXBOT_API_TOKEN empty the API is on as soon as a token exists in
// SQL; before, it says how to turn it on.
func TestAPIOnWithStoredTokensOnly(t *testing.T) {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "cxbot.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	a := newFakeAPI(t, func(c *Config) { c.Token, c.Tokens, c.Now = "", db, clock.now })
	r := a.doWith(http.MethodGet, "/api/v1/surveys", "", "Bearer "+testToken)
	if r.code != http.StatusUnauthorized || !strings.Contains(r.errorText(t), "the API is disabled: set CXBOT_API_TOKEN, or create a token with: cxbot tokens create --role admin") {
		t.Errorf("no tokens at all = %d %s", r.code, r.body)
	}
	secret := mintToken(t, db, flows.APIAdmin, 0)
	if r := a.doWith(http.MethodGet, "/api/v1/me", "", "Bearer "+secret); r.code != http.StatusOK {
		t.Errorf("the stored admin token = %d %s", r.code, r.body)
	}
	clock.add(DefaultTokenTTL)
	for _, auth := range []string{"", "Bearer " + testToken, "Bearer " + secret + "x", "Bearer cxb_" + strings.Repeat("A", 43)} {
		if r := a.doWith(http.MethodGet, "/api/v1/me", "", auth); r.code != http.StatusUnauthorized || r.errorText(t) != "missing or wrong bearer token" {
			t.Errorf("Authorization %q with a token stored = %d %s", auth, r.code, r.body)
		}
	}
}

// An agent token bound to an agent claims, replies and resolves as that
// agent and no other; an unbound one names the agent as before.
func TestBoundAgentToken(t *testing.T) {
	db := newTokenDB(t)
	li, err := db.AgentByTelegramUser(context.Background(), 77)
	if err != nil {
		t.Fatal(err)
	}
	other, err := db.AddAgent(context.Background(), flows.Agent{TelegramUserID: 88, Name: "Wang"})
	if err != nil {
		t.Fatal(err)
	}
	a := newFakeAPI(t, func(c *Config) { c.Tokens, c.Agents = db, db })
	var actedAs []int64
	a.desk.ClaimFn = func(_ context.Context, id, agentID int64) (flows.Handoff, error) {
		actedAs = append(actedAs, agentID)
		return flows.Handoff{ID: id, Status: flows.HandoffClaimed}, nil
	}
	a.desk.ReplyFn = func(_ context.Context, id, agentID int64, text string) (flows.CaseMessage, error) {
		actedAs = append(actedAs, agentID)
		return flows.CaseMessage{ID: 1, HandoffID: id, Text: text}, nil
	}
	a.desk.ResolveFn = func(_ context.Context, id, agentID int64, _ flows.CaseOutcome, _ string) (flows.Handoff, error) {
		actedAs = append(actedAs, agentID)
		return flows.Handoff{ID: id}, nil
	}
	bound := "Bearer " + mintToken(t, db, flows.APIAgent, 77)
	for _, tc := range []struct{ path, body string }{
		{"/api/v1/handoffs/1/claim", `{}`},
		{"/api/v1/handoffs/1/claim", `{"agent_id":` + itoa(li.ID) + `}`},
		{"/api/v1/handoffs/1/reply", `{"text":"hello"}`},
		{"/api/v1/handoffs/1/resolve", `{"outcome":"resolved"}`},
	} {
		if r := a.doWith(http.MethodPost, tc.path, tc.body, bound); r.code >= 400 {
			t.Errorf("%s %s with the bound token = %d %s", tc.path, tc.body, r.code, r.body)
		}
	}
	if !slices.Equal(actedAs, []int64{li.ID, li.ID, li.ID, li.ID}) {
		t.Errorf("acted as %v, want agent %d each time", actedAs, li.ID)
	}
	for path, rest := range map[string]string{"/api/v1/handoffs/1/claim": "", "/api/v1/handoffs/1/reply": `,"text":"x"`, "/api/v1/handoffs/1/resolve": `,"outcome":"resolved"`} {
		r := a.doWith(http.MethodPost, path, `{"agent_id":`+itoa(other.ID)+rest+`}`, bound)
		if want := "this token acts only as agent " + itoa(li.ID) + " (Li, telegram user 77), not as agent " + itoa(other.ID); r.code != http.StatusForbidden || r.errorText(t) != want {
			t.Errorf("%s as another agent = %d %s; want 403 %q", path, r.code, r.body, want)
		}
	}
	if r := a.doWith(http.MethodGet, "/api/v1/me", "", bound); !strings.Contains(r.body, `"agent_telegram_user_id":77`) {
		t.Errorf("me of the bound token = %s", r.body)
	}

	// Unbound: the agent is named, as with CXBOT_API_TOKEN.
	actedAs = nil
	unbound := "Bearer " + mintToken(t, db, flows.APIAgent, 0)
	if r := a.doWith(http.MethodPost, "/api/v1/handoffs/1/claim", `{}`, unbound); r.code != http.StatusBadRequest || r.errorText(t) != "agent_id is required" {
		t.Errorf("unbound claim without agent_id = %d %s", r.code, r.body)
	}
	if r := a.doWith(http.MethodPost, "/api/v1/handoffs/1/claim", `{"agent_id":`+itoa(other.ID)+`}`, unbound); r.code != http.StatusOK || !slices.Equal(actedAs, []int64{other.ID}) {
		t.Errorf("unbound claim as %d = %d %s, acted as %v", other.ID, r.code, r.body, actedAs)
	}

	// The agent removed: the bound token can no longer act.
	if err := db.RemoveAgent(context.Background(), 77); err != nil {
		t.Fatal(err)
	}
	r := a.doWith(http.MethodPost, "/api/v1/handoffs/1/claim", `{}`, bound)
	if r.code != http.StatusForbidden || r.errorText(t) != "this token is bound to telegram user 77, who is no longer an agent" {
		t.Errorf("claim after the agent was removed = %d %s", r.code, r.body)
	}
}

// Health shows why a check fails to admins only, stored tokens included.
func TestHealthDetailsForAdmins(t *testing.T) {
	db := newTokenDB(t)
	a := newFakeAPI(t, func(c *Config) {
		c.Tokens = db
		c.Checks = []Check{{Name: "redis", Probe: func(context.Context) error { return errors.New("dial tcp 10.0.0.1:6379") }}}
	})
	for role, detailed := range map[flows.APIRole]bool{flows.APIAdmin: true, flows.APIMarketer: false, flows.APIAgent: false} {
		r := a.doWith(http.MethodGet, "/healthz", "", "Bearer "+mintToken(t, db, role, 0))
		if strings.Contains(r.body, "10.0.0.1") != detailed || r.code != http.StatusServiceUnavailable {
			t.Errorf("healthz with a %s token = %d %s", role, r.code, r.body)
		}
	}
}
