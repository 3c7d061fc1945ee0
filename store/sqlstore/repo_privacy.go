package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/cxbot/cxbot/flows"
)

// privacyAuditRow is one privacy_audit row.
type privacyAuditRow struct {
	ID        int64 `gorm:"primaryKey"`
	Actor     string
	Action    string
	Subject   string
	RowCounts string // JSON object: table → rows changed
	CreatedAt time.Time
}

func (privacyAuditRow) TableName() string { return "privacy_audit" }

func (r privacyAuditRow) domain() flows.PrivacyAudit {
	rows := map[string]int64{}
	_ = json.Unmarshal([]byte(r.RowCounts), &rows)
	return flows.PrivacyAudit{ID: r.ID, Actor: r.Actor, Action: r.Action, Subject: r.Subject, Rows: rows, At: r.CreatedAt}
}

// privacyStep is one statement of an erasure or a purge, counted under table.
type privacyStep struct {
	table string
	sql   string
	args  []any
}

// runPrivacySteps runs the steps in tx and records the audit row with the
// rows each table had changed.
func (db *DB) runPrivacySteps(tx *gorm.DB, actor, action, subject string, steps []privacyStep) (flows.PrivacyAudit, error) {
	counts := map[string]int64{}
	for _, s := range steps {
		res := tx.Exec(s.sql, s.args...)
		if res.Error != nil {
			return flows.PrivacyAudit{}, fmt.Errorf("%s: %w", s.table, res.Error)
		}
		counts[s.table] += res.RowsAffected
	}
	js, err := json.Marshal(counts)
	if err != nil {
		return flows.PrivacyAudit{}, err
	}
	row := privacyAuditRow{Actor: actor, Action: action, Subject: subject, RowCounts: string(js), CreatedAt: db.at(time.Time{})}
	if err := tx.Create(&row).Error; err != nil {
		return flows.PrivacyAudit{}, err
	}
	return row.domain(), nil
}

// EraseCustomer applies the erasure rules of flows (privacy.go) to the
// customer with this reference, in one transaction, and audits it. It
// returns the customer's chats, whose conversation state the caller must
// forget too. An unknown (or already erased) reference is ErrNotFound.
func (db *DB) EraseCustomer(ctx context.Context, ref, actor string) (flows.Erasure, error) {
	if err := flows.CheckErasable(ref); err != nil {
		return flows.Erasure{}, fmt.Errorf("erase customer: %w", err)
	}
	if actor == "" {
		return flows.Erasure{}, fmt.Errorf("erase customer: %w: actor is required", flows.ErrInvalid)
	}
	var out flows.Erasure
	err := db.conn(ctx).Transaction(func(tx *gorm.DB) error {
		var c customerRow
		if err := tx.Where("ref = ?", ref).Take(&c).Error; err != nil {
			return err
		}
		id := c.ID
		var chats []struct {
			Channel    string
			ExternalID string
		}
		err := tx.Raw(`SELECT channel, external_id FROM channel_identities WHERE customer_id = ?
			UNION SELECT channel, external_id FROM responses WHERE customer_id = ? AND external_id <> ''
			UNION SELECT channel, external_id FROM invitations WHERE customer_id = ? AND external_id <> ''`, id, id, id).
			Scan(&chats).Error
		if err != nil {
			return err
		}
		for _, ch := range chats {
			out.Chats = append(out.Chats, flows.ChatRef{Channel: flows.Channel(ch.Channel), ExternalID: ch.ExternalID})
		}
		if err := db.eraseReportAttributes(tx, id); err != nil {
			return err
		}
		pseudonym := flows.ErasedRef(id)
		handoffsOf := "SELECT id FROM handoffs WHERE customer_id = ?"
		steps := []privacyStep{
			{"channel_identities", "DELETE FROM channel_identities WHERE customer_id = ?", []any{id}},
			{"link_tokens", "DELETE FROM link_tokens WHERE customer_ref = ?", []any{ref}},
			{"answers", "UPDATE answers SET text = '' WHERE text <> '' AND response_id IN (SELECT id FROM responses WHERE customer_id = ?)", []any{id}},
			{"responses", "UPDATE responses SET external_id = '', state = '' WHERE customer_id = ?", []any{id}},
			{"invitations", "UPDATE invitations SET external_id = '', context = '{}' WHERE customer_id = ?", []any{id}},
			{"report_answers", "UPDATE report_answers SET attributes = '{}' WHERE response_id IN (SELECT id FROM responses WHERE customer_id = ?)", []any{id}},
			{"handoff_messages", "UPDATE handoff_messages SET text = '', photo_id = '' WHERE (text <> '' OR photo_id <> '') AND handoff_id IN (" + handoffsOf + ")", []any{id}},
			{"webhook_outbox", "DELETE FROM webhook_outbox WHERE (event LIKE 'handoff.%' AND subject_id IN (" + handoffsOf + ")) OR (event = ? AND subject_id IN (SELECT id FROM responses WHERE customer_id = ?))", []any{id, string(flows.EventResponseCompleted), id}},
			{"handoffs", "UPDATE handoffs SET customer_ref = ?, comment = '', external_id = '', context = '{}' WHERE customer_id = ?", []any{pseudonym, id}},
			{"events", "UPDATE events SET telegram_chat_id = '', wechat_openid = '', attributes = '{}' WHERE customer_id = ?", []any{id}},
			{"customers", "UPDATE customers SET ref = ?, updated_at = ? WHERE id = ?", []any{pseudonym, db.at(time.Time{}), id}},
		}
		out.Audit, err = db.runPrivacySteps(tx, actor, flows.PrivacyErase, pseudonym, steps)
		return err
	})
	if err != nil {
		return flows.Erasure{}, sqlErr("erase customer "+ref, err)
	}
	return out, nil
}

// PurgeTextBefore blanks the free text written before cutoff (answers,
// handoff comments, relayed messages) and audits it; scores stay.
func (db *DB) PurgeTextBefore(ctx context.Context, cutoff time.Time, actor string) (flows.PrivacyAudit, error) {
	if actor == "" || cutoff.IsZero() {
		return flows.PrivacyAudit{}, fmt.Errorf("purge text: %w: cut-off and actor are required", flows.ErrInvalid)
	}
	cutoff = sqlTime(cutoff)
	var out flows.PrivacyAudit
	err := db.conn(ctx).Transaction(func(tx *gorm.DB) error {
		steps := []privacyStep{
			{"answers", "UPDATE answers SET text = '' WHERE text <> '' AND answered_at < ?", []any{cutoff}},
			{"handoffs", "UPDATE handoffs SET comment = '' WHERE comment <> '' AND created_at < ?", []any{cutoff}},
			{"handoff_messages", "UPDATE handoff_messages SET text = '', photo_id = '' WHERE (text <> '' OR photo_id <> '') AND created_at < ?", []any{cutoff}},
		}
		var err error
		out, err = db.runPrivacySteps(tx, actor, flows.PrivacyRetention, "before "+cutoff.Format(time.RFC3339), steps)
		return err
	})
	if err != nil {
		return flows.PrivacyAudit{}, sqlErr("purge text", err)
	}
	return out, nil
}

// PrivacyAudit returns the latest privacy actions, newest first.
func (db *DB) PrivacyAudit(ctx context.Context, limit int) ([]flows.PrivacyAudit, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	var rows []privacyAuditRow
	if err := db.conn(ctx).Order("id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, sqlErr("privacy audit", err)
	}
	out := make([]flows.PrivacyAudit, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, nil
}
