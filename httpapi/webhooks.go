package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// WebhookLog is the outbound webhooks' delivery log.
type WebhookLog interface {
	WebhookDeliveries(ctx context.Context, q flows.DeliveryQuery) ([]flows.WebhookDelivery, error)
	RetryWebhook(ctx context.Context, id int64, now time.Time) (flows.WebhookDelivery, error)
}

type deliveryJSON struct {
	ID            int64                `json:"id"`
	Event         flows.WebhookEvent   `json:"event"`
	SubjectID     int64                `json:"subject_id"`
	Status        flows.DeliveryStatus `json:"status"`
	Attempts      int                  `json:"attempts"`
	LastStatus    int                  `json:"last_status"`
	LastError     string               `json:"last_error"`
	CreatedAt     time.Time            `json:"created_at"`
	NextAttemptAt *time.Time           `json:"next_attempt_at"` // null once delivered or given up
	DeliveredAt   *time.Time           `json:"delivered_at"`
	FailedAt      *time.Time           `json:"failed_at"`
}

type deliveriesJSON struct {
	Deliveries []deliveryJSON `json:"deliveries"`
	// NextBefore is the cursor of the next (older) page, 0 when this one
	// is the last.
	NextBefore int64 `json:"next_before"`
}

func deliveryOut(d flows.WebhookDelivery) deliveryJSON {
	out := deliveryJSON{ID: d.ID, Event: d.Event, SubjectID: d.SubjectID, Status: d.Status(), Attempts: d.Attempts,
		LastStatus: d.LastStatus, LastError: d.LastError, CreatedAt: d.CreatedAt, DeliveredAt: d.DeliveredAt, FailedAt: d.FailedAt}
	if out.Status == flows.DeliveryPending {
		next := d.NextAttemptAt
		out.NextAttemptAt = &next
	}
	return out
}

// listDeliveries: GET /api/v1/webhooks/deliveries?status=&event=&limit=&before=, newest first.
func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	dq := flows.DeliveryQuery{Status: flows.DeliveryStatus(q.Get("status")), Event: flows.WebhookEvent(q.Get("event")), Limit: 100}
	if dq.Status != "" && !dq.Status.Valid() {
		s.fail(w, r, fmt.Errorf("%w: status must be pending, delivered or failed", flows.ErrInvalid))
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			s.fail(w, r, fmt.Errorf("%w: limit must be an integer from 1 to 1000", flows.ErrInvalid))
			return
		}
		dq.Limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			s.fail(w, r, fmt.Errorf("%w: before must be a delivery id (a positive integer)", flows.ErrInvalid))
			return
		}
		dq.BeforeID = n
	}
	ds, err := s.cfg.Webhooks.WebhookDeliveries(r.Context(), dq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := deliveriesJSON{Deliveries: make([]deliveryJSON, 0, len(ds))}
	for _, d := range ds {
		out.Deliveries = append(out.Deliveries, deliveryOut(d))
	}
	if len(ds) == dq.Limit {
		out.NextBefore = ds[len(ds)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}

// retryDelivery: POST /api/v1/webhooks/deliveries/{id}/retry makes a
// pending or failed delivery due now (a failed one with a fresh series of
// attempts); a delivered one is 409.
func (s *Server) retryDelivery(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		s.fail(w, r, fmt.Errorf("%w: delivery id %q is not a positive integer", flows.ErrInvalid, r.PathValue("id")))
		return
	}
	d, err := s.cfg.Webhooks.RetryWebhook(r.Context(), id, time.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, deliveryOut(d))
}
