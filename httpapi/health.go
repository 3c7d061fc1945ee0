package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// healthJSON is the answer of /healthz: "ok" or "degraded", and each
// check's "ok" or "failing". Only a caller with the API token sees why a
// check fails: the error names hosts, ports and database users, which an
// anonymous prober must not learn during an outage.
type healthJSON struct {
	Checks map[string]string `json:"checks"`
	Status string            `json:"status"`
}

// checkFailing is what an anonymous caller sees of a failing check.
const checkFailing = "failing"

// health is readiness: 200 while every dependency answers, 503 otherwise.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	detailed := s.callerMay(r, flows.PermHealthDetails)
	out, code := healthJSON{Checks: map[string]string{}, Status: "ok"}, http.StatusOK
	for _, c := range s.cfg.Checks {
		if err := c.Probe(ctx); err != nil {
			out.Checks[c.Name] = checkFailing
			if detailed {
				out.Checks[c.Name] = err.Error()
			}
			out.Status, code = "degraded", http.StatusServiceUnavailable
			continue
		}
		out.Checks[c.Name] = "ok"
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, code, out)
}

// liveJSON is the answer of /livez.
type liveJSON struct {
	Status string `json:"status"`
}

// live is liveness: 200 while the process serves HTTP, whatever its
// dependencies do, so an orchestrator restarts only a hung process and not
// every replica during a database outage.
func (s *Server) live(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, liveJSON{Status: "ok"})
}
