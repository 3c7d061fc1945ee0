package httpapi

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/store/sqlstore"
)

var whT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// newDeliveryLog is a real (SQLite) outbox with three deliveries: 1 failed
// (503), 2 delivered, 3 pending after a 500.
func newDeliveryLog(t *testing.T) *sqlstore.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "cxbot.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for i, e := range []flows.WebhookEvent{flows.EventHandoffOpened, flows.EventHandoffClaimed, flows.EventHandoffOpened} {
		if err := db.QueueWebhook(ctx, flows.OutboxEvent{Event: e, SubjectID: int64(10 + i), Payload: []byte(`{}`)}, whT0); err != nil {
			t.Fatal(err)
		}
	}
	due, err := db.ClaimWebhooks(ctx, whT0, time.Minute, 10)
	if err != nil || len(due) != 3 {
		t.Fatalf("claim: %d, %v", len(due), err)
	}
	retry := whT0.Add(time.Hour)
	for _, err := range []error{
		db.FinishWebhook(ctx, 1, flows.DeliveryResult{Status: 503, Error: "503 Service Unavailable"}, false, nil, whT0),
		db.FinishWebhook(ctx, 2, flows.DeliveryResult{Status: 200}, true, nil, whT0),
		db.FinishWebhook(ctx, 3, flows.DeliveryResult{Status: 500, Error: "500 Internal Server Error"}, false, &retry, whT0),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func TestWebhookDeliveriesAPI(t *testing.T) {
	a := newFakeAPI(t, func(c *Config) { c.Webhooks = newDeliveryLog(t) })
	list := func(query string) deliveriesJSON {
		t.Helper()
		r := a.do(http.MethodGet, "/api/v1/webhooks/deliveries"+query, "")
		var out deliveriesJSON
		if r.code != http.StatusOK {
			t.Fatalf("GET %s = %d %s", query, r.code, r.body)
		}
		r.json(t, &out)
		return out
	}
	ids := func(d deliveriesJSON) []int64 {
		var out []int64
		for _, x := range d.Deliveries {
			out = append(out, x.ID)
		}
		return out
	}
	if got := ids(list("")); len(got) != 3 || got[0] != 3 || got[2] != 1 {
		t.Fatalf("all = %v; want newest first", got)
	}
	failed := list("?status=failed")
	if len(failed.Deliveries) != 1 || failed.Deliveries[0].ID != 1 || failed.Deliveries[0].LastStatus != 503 ||
		failed.Deliveries[0].Status != flows.DeliveryFailed || failed.Deliveries[0].NextAttemptAt != nil {
		t.Fatalf("failed = %+v", failed)
	}
	if got := list("?status=pending&event=handoff.opened"); len(got.Deliveries) != 1 || got.Deliveries[0].ID != 3 || got.Deliveries[0].NextAttemptAt == nil {
		t.Fatalf("pending opened = %+v", got)
	}
	page := list("?limit=2")
	if got := ids(page); len(got) != 2 || page.NextBefore != 2 {
		t.Fatalf("page 1 = %v next %d", got, page.NextBefore)
	}
	if page2 := list("?limit=2&before=2"); len(page2.Deliveries) != 1 || page2.Deliveries[0].ID != 1 || page2.NextBefore != 0 {
		t.Fatalf("page 2 = %+v", page2)
	}

	// Retry: the failed one is pending again, due now.
	r := a.do(http.MethodPost, "/api/v1/webhooks/deliveries/1/retry", "")
	var d deliveryJSON
	r.json(t, &d)
	if r.code != http.StatusOK || d.Status != flows.DeliveryPending || d.Attempts != 0 || d.NextAttemptAt == nil || d.NextAttemptAt.Before(whT0.Add(time.Hour)) {
		t.Fatalf("retry = %d %s", r.code, r.body)
	}

	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{http.MethodGet, "/api/v1/webhooks/deliveries?status=lost", 400},
		{http.MethodGet, "/api/v1/webhooks/deliveries?limit=0", 400},
		{http.MethodGet, "/api/v1/webhooks/deliveries?limit=many", 400},
		{http.MethodGet, "/api/v1/webhooks/deliveries?before=-3", 400},
		{http.MethodPost, "/api/v1/webhooks/deliveries/x/retry", 400},
		{http.MethodPost, "/api/v1/webhooks/deliveries/99/retry", 404},
		{http.MethodPost, "/api/v1/webhooks/deliveries/2/retry", 409}, // delivered already
	} {
		r := a.do(tc.method, tc.path, "")
		if r.code != tc.code || r.errorText(t) == "" {
			t.Errorf("%s %s = %d %s; want %d with an error", tc.method, tc.path, r.code, r.body, tc.code)
		}
	}
}
