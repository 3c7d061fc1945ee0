// Package httpapi is cxbot's HTTP surface for businesses and marketers:
// invitations, reports, deep links and health, behind a bearer token.
// Chat platform webhooks are mounted next to it by cmd/cxbot.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/conversation"
	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/scheduler"
)

// Conversations is what the API needs from the conversation layer.
type Conversations interface {
	Invite(ctx context.Context, req conversation.InviteRequest) (flows.Invitation, bool, error)
	Surveys() map[string]*flows.Survey
}

// LinkTokens issues deep-link tokens for customer references.
type LinkTokens interface {
	Issue(ctx context.Context, customerRef string, reusable bool) (conversation.IssuedLink, error)
}

// Check is one dependency probed by /healthz.
type Check struct {
	Name  string
	Probe func(ctx context.Context) error
}

// Config wires the API.
type Config struct {
	Token  string     // CXBOT_API_TOKEN, an admin token; empty: only stored tokens work
	Tokens TokenStore // stored tokens with roles; nil: only Token works
	// TokenTTL is how long a token read from Tokens is trusted (revocation
	// elsewhere takes that long to be seen); zero is DefaultTokenTTL.
	TokenTTL      time.Duration
	Now           func() time.Time // the clock; nil is time.Now
	Conversations Conversations
	Insight       Insight
	Responses     ResponseReader
	Comments      Comments
	Words         WordSegmenter
	Links         LinkTokens
	Previews      []ChannelPreview // how each channel shows a survey's questions
	Events        EventSaver
	Waves         WaveAdmin
	Desk          Desk   // the handoff desk; nil answers 503
	Agents        Agents // the desk's agents
	Webhooks      WebhookLog
	Privacy       Privacy // erasure and its audit; nil answers 503
	Checks        []Check
	Logger        *slog.Logger
	// QuietUntil, if set, tells when the quiet hours of a customer end (zero:
	// not quiet now); timezone is the request's, "" for the customer's own.
	// A direct invitation in quiet hours is refused unless it says "now".
	QuietUntil func(ctx context.Context, customerRef, timezone string, now time.Time) (time.Time, error)
	// Limiter and ClientLimit bound each client's calls to /api/ (all
	// replicas together); a zero ClientLimit is no limit.
	Limiter     RateLimiter
	ClientLimit flows.Limit
}

// Server serves the API.
type Server struct {
	cfg    Config
	mux    *http.ServeMux
	tokens *tokenCache
}

// New returns the API handler.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), tokens: &tokenCache{}}
	for _, rt := range s.routes() {
		h := rt.handler
		switch rt.perm {
		case flows.PermPublic:
		case "":
			panic("httpapi: route " + rt.pattern + " declares no permission")
		default:
			h = s.auth(rt.perm, h)
		}
		if strings.HasPrefix(rt.pattern, "/api/") || strings.Contains(rt.pattern, " /api/") {
			h = s.limitClients(h)
		}
		s.mux.Handle(rt.pattern, h)
	}
	return s
}

// route is one endpoint of the API and the permission it needs
// (flows/access.go decides which roles hold it).
type route struct {
	pattern string
	perm    flows.Permission
	handler http.Handler
}

// routes lists every endpoint in one place, so a test can prove each one
// answers as documented (snake_case keys, the error vocabulary).
func (s *Server) routes() []route {
	return []route{
		{"GET /healthz", flows.PermPublic, http.HandlerFunc(s.health)},
		{"GET /readyz", flows.PermPublic, http.HandlerFunc(s.health)}, // the same readiness, under the name Kubernetes users expect
		{"GET /livez", flows.PermPublic, http.HandlerFunc(s.live)},
		{"GET /api/v1/openapi.json", flows.PermPublic, http.HandlerFunc(s.openAPI)},
		{"GET /{$}", flows.PermPublic, s.dashboard()},
		{"GET /dashboard/", flows.PermPublic, s.dashboard()},
		{"POST /api/v1/invitations", flows.PermSendInvitations, http.HandlerFunc(s.createInvitation)},
		{"GET /api/v1/reports/terms", flows.PermReadReports, http.HandlerFunc(s.termsReport)},
		{"GET /api/v1/reports/{report}", flows.PermReadReports, http.HandlerFunc(s.report)},
		{"GET /api/v1/responses", flows.PermReadReports, http.HandlerFunc(s.listResponses)},
		{"GET /api/v1/exports/responses.csv", flows.PermReadReports, http.HandlerFunc(s.exportCSV)},
		{"GET /api/v1/exports/responses.xlsx", flows.PermReadReports, http.HandlerFunc(s.exportXLSX)},
		{"GET /api/v1/surveys", flows.PermListSurveys, http.HandlerFunc(s.listSurveys)},
		{"GET /api/v1/surveys/{id}/preview", flows.PermListSurveys, http.HandlerFunc(s.surveyPreview)},
		{"GET /api/v1/handoffs", flows.PermReadHandoffs, http.HandlerFunc(s.listHandoffs)},
		{"GET /api/v1/handoffs/{id}", flows.PermReadHandoffs, http.HandlerFunc(s.getHandoff)},
		{"POST /api/v1/handoffs/{id}/claim", flows.PermWorkHandoffs, http.HandlerFunc(s.claimHandoff)},
		{"POST /api/v1/handoffs/{id}/reply", flows.PermWorkHandoffs, http.HandlerFunc(s.replyHandoff)},
		{"POST /api/v1/handoffs/{id}/resolve", flows.PermWorkHandoffs, http.HandlerFunc(s.resolveHandoff)},
		{"GET /api/v1/agents", flows.PermListAgents, http.HandlerFunc(s.listAgents)},
		{"POST /api/v1/agents", flows.PermManageAgents, http.HandlerFunc(s.addAgent)},
		{"DELETE /api/v1/agents/{telegram_user_id}", flows.PermManageAgents, http.HandlerFunc(s.removeAgent)},
		{"POST /api/v1/links", flows.PermIssueLinks, http.HandlerFunc(s.createLink)},
		{"POST /api/v1/events", flows.PermImportEvents, http.HandlerFunc(s.postEvents)},
		{"GET /api/v1/waves", flows.PermManageWaves, http.HandlerFunc(s.listWaves)},
		{"POST /api/v1/waves", flows.PermManageWaves, http.HandlerFunc(s.createWave)},
		{"POST /api/v1/wave-checks", flows.PermManageWaves, http.HandlerFunc(s.checkWave)},
		{"GET /api/v1/waves/{id}", flows.PermManageWaves, http.HandlerFunc(s.getWave)},
		{"PUT /api/v1/waves/{id}", flows.PermManageWaves, http.HandlerFunc(s.putWave)},
		{"DELETE /api/v1/waves/{id}", flows.PermManageWaves, http.HandlerFunc(s.retireWave)},
		{"POST /api/v1/waves/{id}/pause", flows.PermManageWaves, http.HandlerFunc(s.pauseWave)},
		{"POST /api/v1/waves/{id}/resume", flows.PermManageWaves, http.HandlerFunc(s.resumeWave)},
		{"GET /api/v1/waves/{id}/preview", flows.PermManageWaves, http.HandlerFunc(s.previewWave)},
		{"GET /api/v1/webhooks/deliveries", flows.PermWebhookDeliveries, http.HandlerFunc(s.listDeliveries)},
		{"POST /api/v1/webhooks/deliveries/{id}/retry", flows.PermWebhookDeliveries, http.HandlerFunc(s.retryDelivery)},
		{"DELETE /api/v1/customers/{ref}", flows.PermPrivacy, http.HandlerFunc(s.eraseCustomer)},
		{"GET /api/v1/privacy/audit", flows.PermPrivacy, http.HandlerFunc(s.privacyAuditLog)},
		{"GET /api/v1/me", flows.PermSelf, http.HandlerFunc(s.me)},
		{"GET /api/v1/tokens", flows.PermManageTokens, http.HandlerFunc(s.listTokens)},
		{"POST /api/v1/tokens", flows.PermManageTokens, http.HandlerFunc(s.createToken)},
		{"DELETE /api/v1/tokens/{id}", flows.PermManageTokens, http.HandlerFunc(s.revokeToken)},
		{"/api/", flows.PermSelf, http.HandlerFunc(s.noRoute)},
	}
}

// noRoute answers any other path under /api/ (behind the token, so the
// routes cannot be probed without one).
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	if allowed := s.allowedMethods(r); len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed on %s: use %s", r.Method, r.URL.Path, strings.Join(allowed, ", ")))
		return
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("no API route %s %s", r.Method, r.URL.Path))
}

// Handle mounts another handler (a webhook) on the same mux.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// decodeBody reads a bounded JSON body and rejects unknown fields, so a
// typo in a field name is an error rather than a silently ignored setting.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonDecodeError(err, maxBodyBytes)
	}
	if dec.More() {
		return fmt.Errorf("%w: body has data after the JSON object", flows.ErrInvalid)
	}
	return nil
}

// errorBody is every error's JSON: a stable machine code (by status) and a
// message for a person.
type errorBody struct {
	Code  string `json:"code"`
	Error string `json:"error"`
	// Fields names each bad field of a refused wave, for an editor.
	Fields []scheduler.FieldProblem `json:"fields,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Code: errorCode(code), Error: msg})
}

// forbiddenError is a move the caller's token may not make (403), such as
// an agent's token acting as another agent.
type forbiddenError struct{ msg string }

func (e *forbiddenError) Error() string { return e.msg }

// fail maps the error vocabulary to HTTP status codes.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	var limited *bot.RateLimitedError
	switch {
	case errors.As(err, new(*tooLargeError)):
		code = http.StatusRequestEntityTooLarge
	case errors.As(err, new(*forbiddenError)):
		code = http.StatusForbidden
	case errors.As(err, &limited):
		code = http.StatusTooManyRequests
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(limited.RetryAfter.Seconds())))))
	case errors.Is(err, flows.ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, flows.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, flows.ErrConflict):
		code = http.StatusConflict
	case errors.Is(err, flows.ErrUnavailable):
		code = http.StatusServiceUnavailable
	}
	msg := publicMessage(err)
	if code == http.StatusInternalServerError {
		s.cfg.Logger.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error"
	}
	var invalidWave *scheduler.InvalidWaveError
	if code == http.StatusBadRequest && errors.As(err, &invalidWave) {
		writeJSON(w, code, errorBody{Code: errorCode(code), Error: msg, Fields: invalidWave.Fields})
		return
	}
	writeError(w, code, msg)
}
