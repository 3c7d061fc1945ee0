// Package httpapi is cxbot's HTTP surface for businesses and marketers:
// invitations, reports, deep links and health, behind a bearer token.
// Chat platform webhooks are mounted next to it by cmd/cxbot.
package httpapi

import (
	"context"
	"crypto/subtle"
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
	Token         string // bearer token; empty refuses every API call
	Conversations Conversations
	Insight       Insight
	Responses     ResponseReader
	Comments      Comments
	Words         WordSegmenter
	Links         LinkTokens
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
	cfg Config
	mux *http.ServeMux
}

// New returns the API handler.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	for _, rt := range s.routes() {
		h := rt.handler
		if strings.HasPrefix(rt.pattern, "/api/") || strings.Contains(rt.pattern, " /api/") {
			h = s.limitClients(h)
		}
		s.mux.Handle(rt.pattern, h)
	}
	return s
}

// route is one endpoint of the API.
type route struct {
	pattern string
	handler http.Handler
}

// routes lists every endpoint in one place, so a test can prove each one
// answers as documented (snake_case keys, the error vocabulary).
func (s *Server) routes() []route {
	return []route{
		{"GET /healthz", http.HandlerFunc(s.health)},
		{"GET /readyz", http.HandlerFunc(s.health)}, // the same readiness, under the name Kubernetes users expect
		{"GET /livez", http.HandlerFunc(s.live)},
		{"GET /api/v1/openapi.json", http.HandlerFunc(s.openAPI)},
		{"GET /{$}", s.dashboard()},
		{"GET /dashboard/", s.dashboard()},
		{"POST /api/v1/invitations", s.auth(s.createInvitation)},
		{"GET /api/v1/reports/terms", s.auth(s.termsReport)},
		{"GET /api/v1/reports/{report}", s.auth(s.report)},
		{"GET /api/v1/responses", s.auth(s.listResponses)},
		{"GET /api/v1/exports/responses.csv", s.auth(s.exportCSV)},
		{"GET /api/v1/exports/responses.xlsx", s.auth(s.exportXLSX)},
		{"GET /api/v1/surveys", s.auth(s.listSurveys)},
		{"GET /api/v1/surveys/{id}/preview", s.auth(s.surveyPreview)},
		{"GET /api/v1/handoffs", s.auth(s.listHandoffs)},
		{"GET /api/v1/handoffs/{id}", s.auth(s.getHandoff)},
		{"POST /api/v1/handoffs/{id}/claim", s.auth(s.claimHandoff)},
		{"POST /api/v1/handoffs/{id}/reply", s.auth(s.replyHandoff)},
		{"POST /api/v1/handoffs/{id}/resolve", s.auth(s.resolveHandoff)},
		{"GET /api/v1/agents", s.auth(s.listAgents)},
		{"POST /api/v1/agents", s.auth(s.addAgent)},
		{"DELETE /api/v1/agents/{telegram_user_id}", s.auth(s.removeAgent)},
		{"POST /api/v1/links", s.auth(s.createLink)},
		{"POST /api/v1/events", s.auth(s.postEvents)},
		{"GET /api/v1/waves", s.auth(s.listWaves)},
		{"POST /api/v1/waves", s.auth(s.createWave)},
		{"POST /api/v1/wave-checks", s.auth(s.checkWave)},
		{"GET /api/v1/waves/{id}", s.auth(s.getWave)},
		{"PUT /api/v1/waves/{id}", s.auth(s.putWave)},
		{"DELETE /api/v1/waves/{id}", s.auth(s.retireWave)},
		{"POST /api/v1/waves/{id}/pause", s.auth(s.pauseWave)},
		{"POST /api/v1/waves/{id}/resume", s.auth(s.resumeWave)},
		{"GET /api/v1/waves/{id}/preview", s.auth(s.previewWave)},
		{"GET /api/v1/webhooks/deliveries", s.auth(s.listDeliveries)},
		{"POST /api/v1/webhooks/deliveries/{id}/retry", s.auth(s.retryDelivery)},
		{"DELETE /api/v1/customers/{ref}", s.auth(s.eraseCustomer)},
		{"GET /api/v1/privacy/audit", s.auth(s.privacyAuditLog)},
		{"/api/", s.auth(s.noRoute)},
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

func (s *Server) auth(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Token == "" {
			writeError(w, http.StatusUnauthorized, "the API is disabled: set CXBOT_API_TOKEN")
			return
		}
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cxbot"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next(w, r)
	})
}

// authorized reports whether the request carries the API token (compared
// in constant time); with no token configured nothing is authorized.
func (s *Server) authorized(r *http.Request) bool {
	got, ok := bearerToken(r.Header.Get("Authorization"))
	return ok && s.cfg.Token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) == 1
}

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

// fail maps the error vocabulary to HTTP status codes.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	var limited *bot.RateLimitedError
	switch {
	case errors.As(err, new(*tooLargeError)):
		code = http.StatusRequestEntityTooLarge
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
