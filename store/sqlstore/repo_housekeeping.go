package sqlstore

import (
	"context"
	"time"
)

// Pruned counts what PruneFinished deleted.
type Pruned struct {
	WebhookDeliveries int64 // delivered or given up before the cut-off
	LinkTokens        int64 // expired before the cut-off
}

// PruneFinished deletes rows that can no longer change anything: webhook
// deliveries delivered or given up before deliveriesBefore (they only fill
// the delivery log), and deep-link tokens that expired before
// tokensBefore (an unknown token and an expired one get the same "invalid
// link" answer). Pending deliveries are never touched.
func (db *DB) PruneFinished(ctx context.Context, deliveriesBefore, tokensBefore time.Time) (Pruned, error) {
	var out Pruned
	g := db.conn(ctx)
	res := g.Exec("DELETE FROM webhook_outbox WHERE delivered_at < ? OR (delivered_at IS NULL AND failed_at < ?)",
		sqlTime(deliveriesBefore), sqlTime(deliveriesBefore))
	if res.Error != nil {
		return out, sqlErr("prune webhook deliveries", res.Error)
	}
	out.WebhookDeliveries = res.RowsAffected
	res = g.Exec("DELETE FROM link_tokens WHERE expires_at < ?", sqlTime(tokensBefore))
	if res.Error != nil {
		return out, sqlErr("prune link tokens", res.Error)
	}
	out.LinkTokens = res.RowsAffected
	return out, nil
}
