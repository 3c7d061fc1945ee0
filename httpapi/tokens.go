package httpapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// TokenStore keeps the API tokens (cxbot's SQL store).
type TokenStore interface {
	APITokenByHash(ctx context.Context, hash string) (flows.APIToken, error)
	HasActiveAPITokens(ctx context.Context) (bool, error)
	TouchAPIToken(ctx context.Context, id int64, at time.Time) error
	CreateAPIToken(ctx context.Context, t flows.APIToken) (flows.APIToken, error)
	APITokens(ctx context.Context) ([]flows.APIToken, error)
	RevokeAPIToken(ctx context.Context, id int64) (flows.APIToken, bool, error)
}

// DefaultTokenTTL is how long a replica trusts what it read of a token: a
// token revoked elsewhere (the CLI, another replica) stops working here
// within it; revoked through this replica's API, at once.
const DefaultTokenTTL = 5 * time.Second

// maxCachedTokens bounds the cache; past it, it starts over.
const maxCachedTokens = 1024

// envCaller is who presents CXBOT_API_TOKEN: an admin with no row.
func envCaller() flows.APIToken { return flows.APIToken{Name: "CXBOT_API_TOKEN", Role: flows.APIAdmin} }

// Why a request has no caller.
var (
	errAPIOff       = errors.New("the API is disabled: set CXBOT_API_TOKEN, or create a token with: cxbot tokens create --role admin --name NAME")
	errWrongToken   = errors.New("missing or wrong bearer token")
	errRevokedToken = errors.New("this bearer token was revoked")
)

// tokenCache is what a Server read of tokens lately, by hash; entries are
// trusted for ttl. Unknown tokens are not cached (a stranger cannot fill
// it), so each costs a lookup; /api/ is rate limited by client first.
type tokenCache struct {
	mu      sync.Mutex
	entries map[string]cachedToken
	// anyActive answers "is the API on" when CXBOT_API_TOKEN is empty.
	anyActive   bool
	anyActiveAt time.Time
}

type cachedToken struct {
	token flows.APIToken
	at    time.Time
}

// get returns the entry for hash and when it was read, if younger than ttl.
func (c *tokenCache) get(hash string, now time.Time, ttl time.Duration) (cachedToken, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[hash]
	if !ok || now.Sub(e.at) >= ttl {
		return cachedToken{}, false
	}
	return e, true
}

// put stores t as read at (a copy updated later keeps the time it was
// read, so no update stretches how long a revoked token is trusted).
func (c *tokenCache) put(t flows.APIToken, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= maxCachedTokens {
		c.entries = map[string]cachedToken{}
	}
	c.entries[t.Hash] = cachedToken{token: t, at: at}
}

func (c *tokenCache) active(now time.Time, ttl time.Duration) (on, known bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.anyActiveAt.IsZero() || now.Sub(c.anyActiveAt) >= ttl {
		return false, false
	}
	return c.anyActive, true
}

func (c *tokenCache) setActive(on bool, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.anyActive, c.anyActiveAt = on, at
}

// forget drops everything, after a change made through this replica.
func (c *tokenCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = nil
	c.anyActiveAt = time.Time{}
}

func (s *Server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

func (s *Server) tokenTTL() time.Duration {
	if s.cfg.TokenTTL > 0 {
		return s.cfg.TokenTTL
	}
	return DefaultTokenTTL
}

// caller resolves the request's bearer token: CXBOT_API_TOKEN (compared
// in constant time) is an admin; any other is looked up by its hash. The
// error is errAPIOff, errWrongToken, errRevokedToken or the store's.
func (s *Server) caller(r *http.Request) (flows.APIToken, error) {
	got, ok := bearerToken(r.Header.Get("Authorization"))
	if ok && s.cfg.Token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) == 1 {
		return envCaller(), nil
	}
	if s.cfg.Tokens == nil {
		if s.cfg.Token == "" {
			return flows.APIToken{}, errAPIOff
		}
		return flows.APIToken{}, errWrongToken
	}
	if ok && flows.WellFormedAPIToken(got) {
		t, err := s.lookupToken(r.Context(), flows.APITokenHash(got))
		switch {
		case err == nil && t.Revoked():
			return flows.APIToken{}, errRevokedToken
		case err == nil:
			return t, nil
		case !errors.Is(err, flows.ErrNotFound):
			return flows.APIToken{}, err
		}
	}
	if s.cfg.Token == "" {
		on, err := s.anyActiveToken(r.Context())
		if err != nil {
			return flows.APIToken{}, err
		}
		if !on {
			return flows.APIToken{}, errAPIOff
		}
	}
	return flows.APIToken{}, errWrongToken
}

// lookupToken reads a token through the cache and records its use (at
// most once a minute: flows.TokenTouchEvery).
func (s *Server) lookupToken(ctx context.Context, hash string) (flows.APIToken, error) {
	now := s.now()
	e, cached := s.tokens.get(hash, now, s.tokenTTL())
	if !cached {
		t, err := s.cfg.Tokens.APITokenByHash(ctx, hash)
		if err != nil {
			return flows.APIToken{}, err
		}
		e = cachedToken{token: t, at: now}
	}
	t := e.token
	if !t.Revoked() && t.NeedsTouch(now) {
		if err := s.cfg.Tokens.TouchAPIToken(ctx, t.ID, now); err != nil {
			s.cfg.Logger.Warn("could not record an API token's use", "token", t.ID, "err", err)
		}
		t.LastUsedAt = &now
		cached = false // keep the touched copy
	}
	if !cached {
		s.tokens.put(t, e.at)
	}
	return t, nil
}

func (s *Server) anyActiveToken(ctx context.Context) (bool, error) {
	now := s.now()
	if on, known := s.tokens.active(now, s.tokenTTL()); known {
		return on, nil
	}
	on, err := s.cfg.Tokens.HasActiveAPITokens(ctx)
	if err != nil {
		return false, err
	}
	s.tokens.setActive(on, now)
	return on, nil
}

// callerKey holds the request's caller in its context.
type callerKey struct{}

// callerOf is the caller auth let through (an admin if none: handlers
// called outside auth are tests').
func callerOf(ctx context.Context) flows.APIToken {
	if c, ok := ctx.Value(callerKey{}).(flows.APIToken); ok {
		return c
	}
	return envCaller()
}

// auth lets a request through when its token's role holds perm: 401 for no
// token, a wrong or revoked one; 403 naming the role and what it may not do.
func (s *Server) auth(perm flows.Permission, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.caller(r)
		switch {
		case errors.Is(err, errAPIOff), errors.Is(err, errWrongToken), errors.Is(err, errRevokedToken):
			if !errors.Is(err, errAPIOff) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="cxbot"`)
			}
			writeError(w, http.StatusUnauthorized, err.Error())
			return
		case err != nil:
			s.fail(w, r, fmt.Errorf("%w: checking the bearer token: %v", flows.ErrUnavailable, err))
			return
		}
		if !c.Role.May(perm) {
			writeError(w, http.StatusForbidden, c.Role.Refusal(perm))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
	})
}

// callerMay reports whether the request's token (if any) holds perm, for
// routes that answer anyone but tell more to some.
func (s *Server) callerMay(r *http.Request, perm flows.Permission) bool {
	c, err := s.caller(r)
	return err == nil && c.Role.May(perm)
}

// meJSON is GET /api/v1/me: who the token is and what it may do, so the
// dashboard shows only the pages the role may use.
type meJSON struct {
	Role                flows.APIRole      `json:"role"`
	Name                string             `json:"name"`
	TokenID             int64              `json:"token_id,omitempty"`
	AgentTelegramUserID int64              `json:"agent_telegram_user_id,omitempty"`
	Permissions         []flows.Permission `json:"permissions"`
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r.Context())
	writeJSON(w, http.StatusOK, meJSON{Role: c.Role, Name: c.Name, TokenID: c.ID, AgentTelegramUserID: c.AgentTelegramUserID, Permissions: c.Role.Permissions()})
}

type tokenJSON struct {
	ID                  int64         `json:"id"`
	Name                string        `json:"name"`
	Role                flows.APIRole `json:"role"`
	AgentTelegramUserID int64         `json:"agent_telegram_user_id,omitempty"`
	CreatedAt           time.Time     `json:"created_at"`
	CreatedBy           string        `json:"created_by"`
	LastUsedAt          *time.Time    `json:"last_used_at,omitempty"`
	RevokedAt           *time.Time    `json:"revoked_at,omitempty"`
}

func toTokenJSON(t flows.APIToken) tokenJSON {
	return tokenJSON{ID: t.ID, Name: t.Name, Role: t.Role, AgentTelegramUserID: t.AgentTelegramUserID, CreatedAt: t.CreatedAt,
		CreatedBy: t.CreatedBy, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt}
}

type tokensJSON struct {
	Tokens []tokenJSON `json:"tokens"`
}

// createdTokenJSON is the only answer that holds a token's secret.
type createdTokenJSON struct {
	tokenJSON
	Secret string `json:"secret"`
}

// revokedTokenJSON is DELETE /api/v1/tokens/{id}'s answer; revoked_now is
// false when the token was revoked already.
type revokedTokenJSON struct {
	tokenJSON
	RevokedNow bool `json:"revoked_now"`
}

var errNoTokens = fmt.Errorf("%w: API tokens are not configured (no database)", flows.ErrUnavailable)

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Tokens == nil {
		s.fail(w, r, errNoTokens)
		return
	}
	tokens, err := s.cfg.Tokens.APITokens(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := tokensJSON{Tokens: make([]tokenJSON, 0, len(tokens))}
	for _, t := range tokens {
		out.Tokens = append(out.Tokens, toTokenJSON(t))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Tokens == nil {
		s.fail(w, r, errNoTokens)
		return
	}
	var req struct {
		Name                string `json:"name"`
		Role                string `json:"role"`
		AgentTelegramUserID int64  `json:"agent_telegram_user_id"`
	}
	if err := decodeBody(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	role, err := flows.ParseAPIRole(req.Role)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	secret, t, err := flows.NewAPIToken(req.Name, role, req.AgentTelegramUserID, flows.TokenActor(callerOf(r.Context())), s.now())
	if err == nil {
		t, err = s.cfg.Tokens.CreateAPIToken(r.Context(), t)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.tokens.forget()
	s.cfg.Logger.Info("API token created", "token", t.ID, "name", t.Name, "role", t.Role, "by", t.CreatedBy)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, createdTokenJSON{tokenJSON: toTokenJSON(t), Secret: secret})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Tokens == nil {
		s.fail(w, r, errNoTokens)
		return
	}
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	t, revokedNow, err := s.cfg.Tokens.RevokeAPIToken(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.tokens.forget()
	if revokedNow {
		s.cfg.Logger.Info("API token revoked", "token", t.ID, "name", t.Name, "by", flows.TokenActor(callerOf(r.Context())))
	}
	writeJSON(w, http.StatusOK, revokedTokenJSON{tokenJSON: toTokenJSON(t), RevokedNow: revokedNow})
}
