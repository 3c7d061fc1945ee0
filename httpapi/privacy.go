package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// Privacy erases customers and reads the privacy audit (cmd/cxbot joins the
// SQL erasure with forgetting the chats' Redis state).
type Privacy interface {
	EraseCustomer(ctx context.Context, ref, actor string) (flows.Erasure, error)
	PrivacyAudit(ctx context.Context, limit int) ([]flows.PrivacyAudit, error)
}

var errNoPrivacy = fmt.Errorf("%w: erasure is not configured", flows.ErrUnavailable)

type privacyAuditJSON struct {
	ID      int64            `json:"id"`
	Actor   string           `json:"actor"`
	Action  string           `json:"action"`
	Subject string           `json:"subject"`
	Rows    map[string]int64 `json:"rows"`
	At      time.Time        `json:"at"`
}

func toPrivacyAuditJSON(a flows.PrivacyAudit) privacyAuditJSON {
	return privacyAuditJSON{ID: a.ID, Actor: a.Actor, Action: a.Action, Subject: a.Subject, Rows: a.Rows, At: a.At}
}

// eraseCustomer is DELETE /api/v1/customers/{ref}: the customer's
// identities and free text go, their anonymous scores stay (flows/privacy.go).
func (s *Server) eraseCustomer(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Privacy == nil {
		s.fail(w, r, errNoPrivacy)
		return
	}
	er, err := s.cfg.Privacy.EraseCustomer(r.Context(), r.PathValue("ref"), flows.PrivacyActorAPI)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, erasedCustomerJSON{true, er.Audit.Subject, len(er.Chats), toPrivacyAuditJSON(er.Audit)})
}

// privacyAuditLog is GET /api/v1/privacy/audit?limit=N (newest first).
func (s *Server) privacyAuditLog(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Privacy == nil {
		s.fail(w, r, errNoPrivacy)
		return
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			s.fail(w, r, fmt.Errorf("%w: limit: want a number from 1 to 1000", flows.ErrInvalid))
			return
		}
		limit = n
	}
	entries, err := s.cfg.Privacy.PrivacyAudit(r.Context(), limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := privacyAuditListJSON{Audit: make([]privacyAuditJSON, 0, len(entries))}
	for _, e := range entries {
		out.Audit = append(out.Audit, toPrivacyAuditJSON(e))
	}
	writeJSON(w, http.StatusOK, out)
}

// erasedCustomerJSON is DELETE /api/v1/customers/{ref}: what was erased,
// and its audit entry.
type erasedCustomerJSON struct {
	Erased         bool             `json:"erased"`
	Pseudonym      string           `json:"pseudonym"`
	ChatsForgotten int              `json:"chats_forgotten"`
	Audit          privacyAuditJSON `json:"audit"`
}

// privacyAuditListJSON is GET /api/v1/privacy/audit.
type privacyAuditListJSON struct {
	Audit []privacyAuditJSON `json:"audit"`
}
