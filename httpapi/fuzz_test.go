package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cxbot/cxbot/flows"
)

// savedEvents is an EventSaver that checks what reaches the store.
type savedEvents struct{}

func (savedEvents) SaveEvents(_ context.Context, events []flows.Event) ([]flows.EventResult, error) {
	out := make([]flows.EventResult, 0, len(events))
	for _, e := range events {
		if flows.ValidateCustomerRef(e.CustomerRef) != nil || flows.ValidateEventID(e.ID) != nil || e.ID == "" {
			return nil, errors.New("an invalid event reached the store: " + flows.LogValue(e.ID))
		}
		out = append(out, flows.EventResult{ID: e.ID, Created: true})
	}
	return out, nil
}

// FuzzPostEvents: any body of POST /api/v1/events gets 200 (each event's
// problems reported) or 400, never a panic or a 5xx, and only valid events
// reach the store.
func FuzzPostEvents(f *testing.F) {
	f.Add(`{"events":[{"id":"e-1","customer_ref":"C-1","touchpoint":"purchase","occurred_at":"2026-11-20T09:30:00+08:00","telegram_chat_id":42,"attributes":{"order_id":"1"}}]}`)
	f.Add(`{"events":[{"id":"e\u0000","customer_ref":"C","touchpoint":"p","occurred_at":"x","telegram_chat_id":-5}]}`)
	f.Add(`{"events":[]}`)
	f.Add(`{"events":[1,"a",null,{}]}`)
	f.Add(`{"events":[{"id":7}]} trailing`)
	srv := New(Config{Token: testToken, Events: savedEvents{}})
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/events", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest && rec.Code != http.StatusMultiStatus {
			t.Fatalf("body %q: %d %s", body, rec.Code, rec.Body)
		}
	})
}
