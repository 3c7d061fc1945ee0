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
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/conversation"
	"github.com/cxbot/cxbot/flows"
)

const maxBodyBytes = 1 << 20

// Conversations is what the API needs from the conversation layer.
type Conversations interface {
	Invite(ctx context.Context, req conversation.InviteRequest) (flows.Invitation, bool, error)
	Surveys() map[string]*flows.Survey
}

// Reports reads results from SQL.
type Reports interface {
	ListHandoffs(ctx context.Context, status flows.HandoffStatus, limit int) ([]flows.Handoff, error)
}

// LinkTokens signs deep links to customer references.
type LinkTokens interface {
	Token(customerRef string) (string, error)
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
	Reports       Reports
	Insight       Insight
	Responses     ResponseReader
	Comments      Comments
	Words         WordSegmenter
	Links         LinkTokens
	Events        EventSaver
	Waves         WaveAdmin
	Checks        []Check
	Logger        *slog.Logger
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
		s.mux.Handle(rt.pattern, rt.handler)
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
		{"GET /{$}", s.dashboard()},
		{"GET /dashboard/", s.dashboard()},
		{"POST /api/v1/invitations", s.auth(s.createInvitation)},
		{"GET /api/v1/reports/terms", s.auth(s.termsReport)},
		{"GET /api/v1/reports/{report}", s.auth(s.report)},
		{"GET /api/v1/responses", s.auth(s.listResponses)},
		{"GET /api/v1/exports/responses.csv", s.auth(s.exportCSV)},
		{"GET /api/v1/exports/responses.xlsx", s.auth(s.exportXLSX)},
		{"GET /api/v1/surveys", s.auth(s.listSurveys)},
		{"GET /api/v1/handoffs", s.auth(s.listHandoffs)},
		{"POST /api/v1/links", s.auth(s.createLink)},
		{"POST /api/v1/events", s.auth(s.postEvents)},
		{"GET /api/v1/waves", s.auth(s.listWaves)},
		{"POST /api/v1/waves", s.auth(s.createWave)},
		{"GET /api/v1/waves/{id}", s.auth(s.getWave)},
		{"POST /api/v1/waves/{id}/pause", s.auth(s.pauseWave)},
		{"POST /api/v1/waves/{id}/resume", s.auth(s.resumeWave)},
		{"GET /api/v1/waves/{id}/preview", s.auth(s.previewWave)},
		{"/api/", s.auth(s.noRoute)},
	}
}

// noRoute answers any other path under /api/ (behind the token, so the
// routes cannot be probed without one).
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
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
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cxbot"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next(w, r)
	})
}

// healthJSON is the answer of /healthz: "ok" or "degraded", and each
// check's "ok" or error.
type healthJSON struct {
	Checks map[string]string `json:"checks"`
	Status string            `json:"status"`
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	out, code := healthJSON{Checks: map[string]string{}, Status: "ok"}, http.StatusOK
	for _, c := range s.cfg.Checks {
		if err := c.Probe(ctx); err != nil {
			out.Checks[c.Name] = err.Error()
			out.Status, code = "degraded", http.StatusServiceUnavailable
			continue
		}
		out.Checks[c.Name] = "ok"
	}
	writeJSON(w, code, out)
}

// decodeBody reads a bounded JSON body and rejects unknown fields, so a
// typo in a field name is an error rather than a silently ignored setting.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var tooBig *http.MaxBytesError
		var syntax *json.SyntaxError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooBig):
			return fmt.Errorf("%w: body larger than %d bytes", flows.ErrInvalid, maxBodyBytes)
		case errors.As(err, &syntax):
			return fmt.Errorf("%w: malformed JSON at byte %d", flows.ErrInvalid, syntax.Offset)
		case errors.As(err, &typeErr):
			return fmt.Errorf("%w: field %q must be %s", flows.ErrInvalid, typeErr.Field, typeErr.Type)
		case errors.Is(err, io.EOF):
			return fmt.Errorf("%w: empty body, expected a JSON object", flows.ErrInvalid)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return fmt.Errorf("%w: malformed JSON: the body ends too early", flows.ErrInvalid)
		default:
			return fmt.Errorf("%w: %s", flows.ErrInvalid, strings.TrimPrefix(err.Error(), "json: "))
		}
	}
	if dec.More() {
		return fmt.Errorf("%w: body has data after the JSON object", flows.ErrInvalid)
	}
	return nil
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

// fail maps the error vocabulary to HTTP status codes.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	var limited *bot.RateLimitedError
	switch {
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
	msg := err.Error()
	if code == http.StatusInternalServerError {
		s.cfg.Logger.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error"
	}
	writeError(w, code, msg)
}
