package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/cxbot/cxbot/flows"
)

// insertOutbox queues a webhook in tx, so it commits (or not) with the
// change it reports: nothing the business's systems hear of is ever undone,
// and nothing done goes unreported.
func insertOutbox(tx *gorm.DB, e flows.OutboxEvent, at time.Time) error {
	row := outboxRow{Event: string(e.Event), SubjectID: e.SubjectID, Payload: string(e.Payload), CreatedAt: at, NextAttemptAt: at}
	return tx.Create(&row).Error
}

// maxDeliveryError bounds the last_error kept with a delivery.
const maxDeliveryError = 500

// ClaimWebhooks leases up to limit due webhooks (not delivered, not given
// up, next_attempt_at <= now) for one attempt each: their next_attempt_at
// moves to now+lease, so no other replica takes them meanwhile (and a
// replica that dies mid-attempt gives them back when the lease ends), and
// their attempts count goes up by one. Candidates are locked with the
// dialect's skipLocked (FOR UPDATE SKIP LOCKED on PostgreSQL): concurrent
// replicas take different rows without waiting. A row queued without a body
// (response.completed) gets it now, stored, so every retry sends the same
// bytes.
func (db *DB) ClaimWebhooks(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]flows.DueWebhook, error) {
	if lease <= 0 {
		return nil, fmt.Errorf("claim webhooks: %w: a positive lease is required", flows.ErrInvalid)
	}
	now = db.at(now)
	claim := `UPDATE webhook_outbox SET next_attempt_at = ?, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM webhook_outbox
    WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?
    ORDER BY next_attempt_at, id
    LIMIT ?
    ` + db.dialect.skipLocked + `)
RETURNING id, event, subject_id, payload, created_at, attempts`
	var rows []outboxRow
	if err := db.conn(ctx).Raw(claim, sqlTime(now.Add(lease)), now, listLimit(limit)).Scan(&rows).Error; err != nil {
		return nil, sqlErr("claim webhooks", err)
	}
	out := make([]flows.DueWebhook, 0, len(rows))
	for _, r := range rows {
		if r.Payload == "" {
			body, err := db.buildPayload(ctx, r)
			if err != nil {
				// Left claimed: the lease ends and it is tried again.
				return out, fmt.Errorf("build webhook %d: %w", r.ID, err)
			}
			r.Payload = string(body)
		}
		out = append(out, flows.DueWebhook{Attempt: r.Attempts, OutboxEvent: flows.OutboxEvent{
			ID: r.ID, Event: flows.WebhookEvent(r.Event), SubjectID: r.SubjectID, Payload: []byte(r.Payload), CreatedAt: r.CreatedAt}})
	}
	return out, nil
}

// buildPayload builds and stores the body of a row queued without one. A
// body already stored by a replica that got there first wins.
func (db *DB) buildPayload(ctx context.Context, r outboxRow) ([]byte, error) {
	if flows.WebhookEvent(r.Event) != flows.EventResponseCompleted {
		return nil, fmt.Errorf("%w: %s webhook queued without a body", flows.ErrInvalid, r.Event)
	}
	g := db.conn(ctx)
	var resp responseRow
	if err := g.Where("id = ?", r.SubjectID).Take(&resp).Error; err != nil {
		return nil, sqlErr(fmt.Sprintf("response %d", r.SubjectID), err)
	}
	var src struct {
		EventID, WaveID, Context, CustomerRef string
	}
	err := g.Raw(`SELECT i.event_id, i.wave_id, i.context, c.ref AS customer_ref
FROM invitations i JOIN customers c ON c.id = ? WHERE i.id = ?`, resp.CustomerID, resp.InvitationID).Scan(&src).Error
	if err != nil {
		return nil, sqlErr("invitation of response", err)
	}
	answers, err := db.Answers(ctx, resp.ID)
	if err != nil {
		return nil, err
	}
	c := flows.CompletedResponse{Response: resp.domain(), Answers: answers, CustomerRef: src.CustomerRef,
		WaveID: src.WaveID, EventID: src.EventID}
	if src.Context != "" {
		if err := json.Unmarshal([]byte(src.Context), &c.Context); err != nil {
			return nil, fmt.Errorf("invitation context: %w", err)
		}
	}
	body, err := flows.ResponseCompletedPayload(c, r.CreatedAt)
	if err != nil {
		return nil, err
	}
	if err := g.Model(&outboxRow{}).Where("id = ? AND payload = ''", r.ID).Update("payload", string(body)).Error; err != nil {
		return nil, sqlErr("store webhook body", err)
	}
	var stored outboxRow
	if err := g.Select("payload").Where("id = ?", r.ID).Take(&stored).Error; err != nil {
		return nil, sqlErr("read webhook body", err)
	}
	return []byte(stored.Payload), nil
}

// FinishWebhook records one attempt of a claimed webhook: delivered, due
// again at retryAt, or (retryAt nil, not delivered) given up. A delivery
// already recorded as delivered is left alone.
func (db *DB) FinishWebhook(ctx context.Context, id int64, res flows.DeliveryResult, delivered bool, retryAt *time.Time, at time.Time) error {
	at = db.at(at)
	set := map[string]any{"last_status": res.Status, "last_error": clipText(res.Error, maxDeliveryError)}
	switch {
	case delivered:
		set["delivered_at"] = at
	case retryAt != nil:
		set["next_attempt_at"] = sqlTime(*retryAt)
	default:
		set["failed_at"] = at
	}
	err := db.conn(ctx).Model(&outboxRow{}).Where("id = ? AND delivered_at IS NULL", id).Updates(set).Error
	return sqlErr(fmt.Sprintf("finish webhook %d", id), err)
}

// WebhookDeliveries lists the delivery log, newest first.
func (db *DB) WebhookDeliveries(ctx context.Context, q flows.DeliveryQuery) ([]flows.WebhookDelivery, error) {
	g := db.conn(ctx).Model(&outboxRow{}).Omit("payload")
	switch q.Status {
	case "":
	case flows.DeliveryPending:
		g = g.Where("delivered_at IS NULL AND failed_at IS NULL")
	case flows.DeliveryDelivered:
		g = g.Where("delivered_at IS NOT NULL")
	case flows.DeliveryFailed:
		g = g.Where("failed_at IS NOT NULL AND delivered_at IS NULL")
	default:
		return nil, fmt.Errorf("webhook deliveries: %w: unknown status %q", flows.ErrInvalid, q.Status)
	}
	if q.Event != "" {
		g = g.Where("event = ?", string(q.Event))
	}
	if q.BeforeID > 0 {
		g = g.Where("id < ?", q.BeforeID)
	}
	var rows []outboxRow
	err := g.Select("id, event, subject_id, created_at, next_attempt_at, attempts, last_status, last_error, delivered_at, failed_at").
		Order("id DESC").Limit(listLimit(q.Limit)).Find(&rows).Error
	if err != nil {
		return nil, sqlErr("webhook deliveries", err)
	}
	out := make([]flows.WebhookDelivery, len(rows))
	for i, r := range rows {
		out[i] = flows.WebhookDelivery{ID: r.ID, Event: flows.WebhookEvent(r.Event), SubjectID: r.SubjectID,
			CreatedAt: r.CreatedAt, NextAttemptAt: r.NextAttemptAt, Attempts: r.Attempts, LastStatus: r.LastStatus,
			LastError: r.LastError, DeliveredAt: r.DeliveredAt, FailedAt: r.FailedAt}
	}
	return out, nil
}

// RetryWebhook makes a pending or failed delivery due at now; a failed one
// starts a fresh series of attempts. Unknown is ErrNotFound; delivered
// already is ErrConflict.
func (db *DB) RetryWebhook(ctx context.Context, id int64, now time.Time) (flows.WebhookDelivery, error) {
	op := fmt.Sprintf("retry webhook %d", id)
	now = db.at(now)
	res := db.conn(ctx).Model(&outboxRow{}).Where("id = ? AND delivered_at IS NULL", id).Updates(map[string]any{
		"next_attempt_at": now,
		"attempts":        gorm.Expr("CASE WHEN failed_at IS NULL THEN attempts ELSE 0 END"),
		"failed_at":       nil,
	})
	if res.Error != nil {
		return flows.WebhookDelivery{}, sqlErr(op, res.Error)
	}
	var row outboxRow
	if err := db.conn(ctx).Omit("payload").Where("id = ?", id).Take(&row).Error; err != nil {
		return flows.WebhookDelivery{}, sqlErr(op, err)
	}
	if res.RowsAffected == 0 {
		return flows.WebhookDelivery{}, fmt.Errorf("%s: %w: it was delivered already", op, flows.ErrConflict)
	}
	return flows.WebhookDelivery{ID: row.ID, Event: flows.WebhookEvent(row.Event), SubjectID: row.SubjectID,
		CreatedAt: row.CreatedAt, NextAttemptAt: row.NextAttemptAt, Attempts: row.Attempts, LastStatus: row.LastStatus,
		LastError: row.LastError, DeliveredAt: row.DeliveredAt, FailedAt: row.FailedAt}, nil
}

// clipText keeps at most n runes of s, valid UTF-8 without NUL (which
// PostgreSQL's text refuses): a receiver's answer can be any bytes.
func clipText(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// QueueWebhook queues a webhook on its own, outside any other change (the
// desk queues its events inside its transactions with insertOutbox).
func (db *DB) QueueWebhook(ctx context.Context, e flows.OutboxEvent, at time.Time) error {
	return sqlErr("queue webhook", insertOutbox(db.conn(ctx), e, db.at(at)))
}
