package sqlstore

import (
	"cmp"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// TestSQLPruneFinished: finished deliveries and expired tokens older than
// the cut-offs go; pending deliveries, recent ones and live tokens stay.
func TestSQLPruneFinished(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		for i := range 4 {
			e := flows.OutboxEvent{Event: flows.EventHandoffOpened, SubjectID: int64(i + 1), Payload: []byte(`{}`)}
			if err := insertOutbox(db.gorm.WithContext(ctx), e, sqlT0); err != nil {
				t.Fatal(err)
			}
		}
		due, err := db.ClaimWebhooks(ctx, sqlT0, time.Minute, 10)
		if err != nil || len(due) != 4 {
			t.Fatalf("claim = %d, %v", len(due), err)
		}
		slices.SortFunc(due, func(a, b flows.DueWebhook) int { return cmp.Compare(a.ID, b.ID) })
		old, recent := sqlT0.Add(time.Second), sqlT0.Add(48*time.Hour)
		retry := sqlT0.Add(time.Hour)
		for _, f := range []struct {
			id        int64
			delivered bool
			retry     *time.Time
			at        time.Time
		}{
			{due[0].ID, true, nil, old},     // delivered long ago: pruned
			{due[1].ID, false, nil, old},    // given up long ago: pruned
			{due[2].ID, false, &retry, old}, // pending: kept
			{due[3].ID, true, nil, recent},  // delivered recently: kept
		} {
			if err := db.FinishWebhook(ctx, f.id, flows.DeliveryResult{Status: 200}, f.delivered, f.retry, f.at); err != nil {
				t.Fatal(err)
			}
		}
		expired, expiredRec, _ := flows.NewLinkToken("A", false, time.Hour, sqlT0)
		live, liveRec, _ := flows.NewLinkToken("B", false, 72*time.Hour, sqlT0)
		for _, rec := range []flows.LinkToken{expiredRec, liveRec} {
			if err := db.CreateLinkToken(ctx, rec); err != nil {
				t.Fatal(err)
			}
		}

		cut := sqlT0.Add(24 * time.Hour)
		got, err := db.PruneFinished(ctx, cut, cut)
		if err != nil || got != (Pruned{WebhookDeliveries: 2, LinkTokens: 1}) {
			t.Fatalf("PruneFinished = %+v, %v; want 2 deliveries and 1 token", got, err)
		}
		left, err := db.WebhookDeliveries(ctx, flows.DeliveryQuery{})
		if err != nil || len(left) != 2 || left[0].ID != due[3].ID || left[1].ID != due[2].ID {
			t.Fatalf("deliveries left = %+v, %v; want the recent and the pending one", left, err)
		}
		if _, err := db.LinkToken(ctx, flows.LinkTokenHash(expired)); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("expired token after pruning: %v, want ErrNotFound", err)
		}
		if _, err := db.LinkToken(ctx, flows.LinkTokenHash(live)); err != nil {
			t.Fatalf("live token after pruning: %v", err)
		}
		again, err := db.PruneFinished(ctx, cut, cut)
		if err != nil || again != (Pruned{}) {
			t.Fatalf("second prune = %+v, %v; want nothing", again, err)
		}
	})
}
