package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/cxbot/cxbot/flows"
)

// The desk's side of handoffs: claiming, threading, resolving, reopening,
// recovery, and the messages relayed both ways. Every move is a conditional
// UPDATE, so two agents (or an agent and the customer) racing for one case
// get exactly one winner, on any number of replicas.

// Handoff returns a handoff by id.
func (db *DB) Handoff(ctx context.Context, id int64) (flows.Handoff, error) {
	var row handoffRow
	if err := db.conn(ctx).Take(&row, id).Error; err != nil {
		return flows.Handoff{}, sqlErr(fmt.Sprintf("handoff %d", id), err)
	}
	return row.domain(), nil
}

// QueryHandoffs lists cases newest first, filtered by q.
func (db *DB) QueryHandoffs(ctx context.Context, q flows.HandoffQuery) ([]flows.Handoff, error) {
	if q.Status != "" && !q.Status.Valid() {
		return nil, fmt.Errorf("list handoffs: %w: unknown status %q", flows.ErrInvalid, q.Status)
	}
	g := db.conn(ctx).Order("id DESC").Limit(listLimit(q.Limit))
	if q.Status != "" {
		g = g.Where("status = ?", string(q.Status))
	}
	if q.AgentID != 0 {
		g = g.Where("claimed_by = ?", q.AgentID)
	}
	if q.ResponseID != 0 {
		g = g.Where("response_id = ?", q.ResponseID)
	}
	if !q.From.IsZero() {
		g = g.Where("created_at >= ?", sqlTime(q.From))
	}
	if !q.To.IsZero() {
		g = g.Where("created_at < ?", sqlTime(q.To))
	}
	if q.BeforeID > 0 {
		g = g.Where("id < ?", q.BeforeID)
	}
	var rows []handoffRow
	if err := g.Find(&rows).Error; err != nil {
		return nil, sqlErr("list handoffs", err)
	}
	return handoffRows(rows), nil
}

// NoticePosted records where the agents' notice of a handoff went and that
// agents were told: a handoff awaiting its comment becomes open, and the
// first notice queues handoff.opened.
func (db *DB) NoticePosted(ctx context.Context, id int64, chatID string, messageID int, at time.Time) (flows.Handoff, error) {
	at = db.at(at)
	noticedFrom, noticedTo := flows.HandoffNoticed()
	if db.dialect.noticeAtOnce && !db.Webhooks {
		return db.noticePostedAtOnce(ctx, id, chatID, messageID, at)
	}
	h, _, err := db.updateHandoff(ctx, "notice of", id, flows.EventHandoffOpened, func(tx *gorm.DB) *gorm.DB {
		return tx.Where("notified_at IS NULL").Updates(map[string]any{
			"status":            gorm.Expr("CASE WHEN status IN ? THEN ? ELSE status END", statusStrings(noticedFrom), string(noticedTo)),
			"notified_at":       at,
			"updated_at":        at,
			"agent_chat_id":     chatID,
			"notice_message_id": messageID,
		})
	})
	return h, err
}

// noticePostedAtOnce is NoticePosted on PostgreSQL with no outbox event to
// queue beside it: one conditional UPDATE … RETURNING outside GORM (the
// detractor's path), and a read only when the notice was recorded before.
func (db *DB) noticePostedAtOnce(ctx context.Context, id int64, chatID string, messageID int, at time.Time) (flows.Handoff, error) {
	op := fmt.Sprintf("notice of handoff %d", id)
	noticedFrom, noticedTo := flows.HandoffNoticed()
	var row handoffRow
	err := db.rawRow(ctx, `UPDATE handoffs SET status = CASE WHEN status IN ? THEN ? ELSE status END,
    notified_at = ?, updated_at = ?, agent_chat_id = ?, notice_message_id = ?
WHERE id = ? AND notified_at IS NULL
RETURNING `+handoffColumns,
		[]any{statusStrings(noticedFrom), string(noticedTo), at, at, chatID, messageID, id}, row.fields()...)
	if errors.Is(err, sql.ErrNoRows) {
		err = db.rawRow(ctx, `SELECT `+handoffColumns+` FROM handoffs WHERE id = ?`, []any{id}, row.fields()...)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return flows.Handoff{}, fmt.Errorf("%s: %w", op, flows.ErrNotFound)
	}
	if err != nil {
		return flows.Handoff{}, sqlErr(op, err)
	}
	return row.domain(), nil
}

// ClaimHandoff makes agent the owner of an open case. won is false when
// someone else got it first (or it is no longer open); the handoff is
// returned as it is either way.
func (db *DB) ClaimHandoff(ctx context.Context, id int64, agent flows.Agent, at time.Time) (h flows.Handoff, won bool, err error) {
	at = db.at(at)
	return db.updateHandoff(ctx, "claim", id, flows.EventHandoffClaimed, func(tx *gorm.DB) *gorm.DB {
		return tx.Where("status IN ?", statusStrings(flows.HandoffStatusesMovableTo(flows.HandoffClaimed))).
			Where("status <> ?", string(flows.HandoffClaimed)).
			Updates(map[string]any{
				"status":          string(flows.HandoffClaimed),
				"claimed_by":      agent.ID,
				"claimed_by_name": agent.Name,
				"claimed_at":      at,
				"updated_at":      at,
			})
	})
}

// SetHandoffTopic records the forum topic a case lives in.
func (db *DB) SetHandoffTopic(ctx context.Context, id int64, topicID int) error {
	res := db.conn(ctx).Model(&handoffRow{}).Where("id = ?", id).Update("topic_id", topicID)
	if res.Error != nil {
		return sqlErr(fmt.Sprintf("set topic of handoff %d", id), res.Error)
	}
	return nil
}

// ResolveHandoff closes a live case. changed is false when it was not live
// (resolved already, by someone else).
func (db *DB) ResolveHandoff(ctx context.Context, id int64, r flows.Resolution) (flows.Handoff, bool, error) {
	if err := r.Validate(); err != nil {
		return flows.Handoff{}, false, err
	}
	at := db.at(r.At)
	return db.updateHandoff(ctx, "resolve", id, flows.EventHandoffResolved, func(tx *gorm.DB) *gorm.DB {
		return tx.Where("status IN ?", statusStrings(flows.LiveHandoffStatuses())).
			Updates(map[string]any{
				"status":          string(flows.HandoffResolved),
				"resolved_at":     at,
				"outcome":         string(r.Outcome),
				"resolution_note": r.Note,
				"resolved_by":     r.By,
				"updated_at":      at,
			})
	})
}

// ReopenHandoff puts a resolved case back in its owner's hands (open when
// nobody owned it): the customer wrote again. A follow-up answer already
// given stays (the figures keep it) until the next resolution's follow-up
// asks again.
func (db *DB) ReopenHandoff(ctx context.Context, id int64, at time.Time) (flows.Handoff, bool, error) {
	at = db.at(at)
	from, owned, unowned := flows.HandoffReopened()
	return db.updateHandoff(ctx, "reopen", id, "", func(tx *gorm.DB) *gorm.DB {
		return tx.Where("status = ?", string(from)).Updates(map[string]any{
			"status":            gorm.Expr("CASE WHEN claimed_by IS NULL THEN ? ELSE ? END", string(unowned), string(owned)),
			"resolved_at":       nil,
			"outcome":           "",
			"resolution_note":   "",
			"resolved_by":       "",
			"follow_up_sent_at": nil,
			"reopened":          gorm.Expr("reopened + 1"),
			"updated_at":        at,
		})
	})
}

// CaseForChat returns the chat's case the customer's words belong to: a
// live one if there is one, else the latest resolved one (which the caller
// may reopen). ErrNotFound when neither exists.
func (db *DB) CaseForChat(ctx context.Context, ch flows.Channel, externalID string) (flows.Handoff, error) {
	var row handoffRow
	err := db.conn(ctx).
		Where("channel = ? AND external_id = ? AND status IN ?", string(ch), externalID,
			statusStrings(append(flows.LiveHandoffStatuses(), flows.HandoffResolved))).
		Order(gorm.Expr("CASE WHEN status = ? THEN 1 ELSE 0 END", string(flows.HandoffResolved))).
		Order("created_at DESC").Order("id DESC").
		Take(&row).Error
	if err != nil {
		return flows.Handoff{}, sqlErr("case of chat "+externalID, err)
	}
	return row.domain(), nil
}

// CaseByAgentMessage returns the case a message of an agents' chat belongs
// to: its notice, or a message relayed into its thread.
func (db *DB) CaseByAgentMessage(ctx context.Context, chatID string, messageID int) (flows.Handoff, error) {
	var row handoffRow
	err := db.conn(ctx).
		Where("agent_chat_id = ? AND (notice_message_id = ? OR id IN (SELECT handoff_id FROM handoff_messages WHERE agent_chat_message_id = ?))",
			chatID, messageID, messageID).
		Order("id DESC").Take(&row).Error
	if err != nil {
		return flows.Handoff{}, sqlErr(fmt.Sprintf("case of message %d in chat %s", messageID, chatID), err)
	}
	return row.domain(), nil
}

// CaseByTopic returns the case living in a forum topic of an agents' chat.
func (db *DB) CaseByTopic(ctx context.Context, chatID string, topicID int) (flows.Handoff, error) {
	var row handoffRow
	err := db.conn(ctx).Where("agent_chat_id = ? AND topic_id = ?", chatID, topicID).Order("id DESC").Take(&row).Error
	if err != nil {
		return flows.Handoff{}, sqlErr(fmt.Sprintf("case of topic %d in chat %s", topicID, chatID), err)
	}
	return row.domain(), nil
}

// AddCaseMessage stores one relayed message.
func (db *DB) AddCaseMessage(ctx context.Context, m flows.CaseMessage) (flows.CaseMessage, error) {
	row := handoffMessageRow{
		HandoffID: m.HandoffID, Author: string(m.Author), AgentID: m.AgentID, AgentName: m.AgentName,
		Text: m.Text, PhotoID: m.PhotoID, AgentChatMessageID: m.AgentChatMessageID, CustomerMessageID: m.CustomerMessageID,
		Delivered: m.Delivered, Error: clipError(m.Error), CreatedAt: db.at(m.CreatedAt),
	}
	if err := db.conn(ctx).Create(&row).Error; err != nil {
		return flows.CaseMessage{}, sqlErr(fmt.Sprintf("add message to handoff %d", m.HandoffID), err)
	}
	return row.domain(), nil
}

func clipError(s string) string {
	if r := []rune(s); len(r) > 500 {
		return string(r[:500]) + "…"
	}
	return s
}

// CaseMessages returns a case's thread, oldest first.
func (db *DB) CaseMessages(ctx context.Context, handoffID int64) ([]flows.CaseMessage, error) {
	var rows []handoffMessageRow
	if err := db.conn(ctx).Where("handoff_id = ?", handoffID).Order("id").Find(&rows).Error; err != nil {
		return nil, sqlErr(fmt.Sprintf("messages of handoff %d", handoffID), err)
	}
	out := make([]flows.CaseMessage, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}

// UnclaimedCases returns open cases agents were told of, oldest first: the
// SLA sweep decides which to announce again or escalate.
func (db *DB) UnclaimedCases(ctx context.Context, limit int) ([]flows.Handoff, error) {
	var rows []handoffRow
	err := db.conn(ctx).Where("status = ? AND notified_at IS NOT NULL AND escalated_at IS NULL", string(flows.HandoffOpen)).
		Order("created_at").Order("id").Limit(listLimit(limit)).Find(&rows).Error
	if err != nil {
		return nil, sqlErr("unclaimed handoffs", err)
	}
	return handoffRows(rows), nil
}

// MarkCaseReminded records that an unclaimed case was announced again; false
// when another replica did it first.
func (db *DB) MarkCaseReminded(ctx context.Context, id int64, at time.Time) (bool, error) {
	return db.markOnce(ctx, id, "reminded_at", at)
}

// MarkEscalated records that an unclaimed case went to the supervisors;
// false when another replica did it first.
func (db *DB) MarkEscalated(ctx context.Context, id int64, at time.Time) (bool, error) {
	return db.markOnce(ctx, id, "escalated_at", at)
}

// MarkFollowUpSent takes the right to send a case's follow-up question;
// false when it went already. A new question clears an earlier answer (a
// case reopened and resolved again is asked again).
func (db *DB) MarkFollowUpSent(ctx context.Context, id int64, at time.Time) (bool, error) {
	res := db.conn(ctx).Model(&handoffRow{}).Where("id = ? AND follow_up_sent_at IS NULL", id).
		Updates(map[string]any{"follow_up_sent_at": db.at(at), "recovery_score": nil, "recovered": nil})
	if res.Error != nil {
		return false, sqlErr(fmt.Sprintf("mark follow-up of handoff %d", id), res.Error)
	}
	return res.RowsAffected == 1, nil
}

// ClearFollowUpSent gives the follow-up back when it could not be sent.
func (db *DB) ClearFollowUpSent(ctx context.Context, id int64) error {
	res := db.conn(ctx).Model(&handoffRow{}).Where("id = ? AND recovery_score IS NULL", id).Update("follow_up_sent_at", nil)
	return sqlErr(fmt.Sprintf("clear follow-up of handoff %d", id), res.Error)
}

func (db *DB) markOnce(ctx context.Context, id int64, column string, at time.Time) (bool, error) {
	res := db.conn(ctx).Model(&handoffRow{}).Where("id = ? AND "+column+" IS NULL", id).Update(column, db.at(at))
	if res.Error != nil {
		return false, sqlErr(fmt.Sprintf("set %s of handoff %d", column, id), res.Error)
	}
	return res.RowsAffected == 1, nil
}

// FollowUpsDue returns cases resolved (as fixed) before resolvedBefore whose
// follow-up question has not gone out.
func (db *DB) FollowUpsDue(ctx context.Context, resolvedBefore time.Time, limit int) ([]flows.Handoff, error) {
	var rows []handoffRow
	err := db.conn(ctx).
		Where("status = ? AND outcome = ? AND resolved_by <> ? AND follow_up_sent_at IS NULL AND resolved_at < ?",
			string(flows.HandoffResolved), string(flows.OutcomeResolved), flows.ResolvedByCustomer, sqlTime(resolvedBefore)).
		Order("resolved_at").Order("id").Limit(listLimit(limit)).Find(&rows).Error
	if err != nil {
		return nil, sqlErr("follow-ups due", err)
	}
	return handoffRows(rows), nil
}

// RecordRecovery stores the answer to a case's follow-up question, once:
// changed is false when it was answered already (or never asked).
func (db *DB) RecordRecovery(ctx context.Context, responseID int64, score int, at time.Time) (flows.Handoff, bool, error) {
	var id int64
	if err := db.conn(ctx).Model(&handoffRow{}).Where("response_id = ?", responseID).Pluck("id", &id).Error; err != nil || id == 0 {
		if err == nil {
			err = gorm.ErrRecordNotFound
		}
		return flows.Handoff{}, false, sqlErr(fmt.Sprintf("handoff of response %d", responseID), err)
	}
	recovered := flows.RecoveredBy(score)
	at = db.at(at)
	return db.updateHandoff(ctx, "record recovery of", id, flows.EventHandoffRecovered, func(tx *gorm.DB) *gorm.DB {
		return tx.Where("follow_up_sent_at IS NOT NULL AND recovery_score IS NULL").Updates(map[string]any{
			"recovery_score": score,
			"recovered":      recovered,
			"updated_at":     at,
		})
	})
}

// CustomerScores returns the scores a customer gave in other responses,
// newest first, for the agents' notice.
func (db *DB) CustomerScores(ctx context.Context, customerID, exceptResponse int64, limit int) ([]flows.PastScore, error) {
	var rows []struct {
		SurveyID   string
		Kind       string
		Score      int
		Class      string
		AnsweredAt time.Time
	}
	err := db.conn(ctx).Table("answers a").
		Select("r.survey_id, a.kind, a.score, a.class, a.answered_at").
		Joins("JOIN responses r ON r.id = a.response_id").
		Where("r.customer_id = ? AND r.id <> ? AND a.score IS NOT NULL AND a.skipped = ?", customerID, exceptResponse, false).
		Order("a.answered_at DESC").Limit(listLimit(limit)).Scan(&rows).Error
	if err != nil {
		return nil, sqlErr(fmt.Sprintf("scores of customer %d", customerID), err)
	}
	out := make([]flows.PastScore, len(rows))
	for i, r := range rows {
		out[i] = flows.PastScore{SurveyID: r.SurveyID, Kind: flows.Kind(r.Kind), Score: r.Score, Class: flows.Class(r.Class), AnsweredAt: r.AnsweredAt.UTC()}
	}
	return out, nil
}

// CustomerCases returns a customer's live cases other than except.
func (db *DB) CustomerCases(ctx context.Context, customerID, except int64) ([]flows.Handoff, error) {
	var rows []handoffRow
	err := db.conn(ctx).Where("customer_id = ? AND id <> ? AND status IN ?", customerID, except,
		statusStrings(flows.LiveHandoffStatuses())).Order("id DESC").Limit(20).Find(&rows).Error
	if err != nil {
		return nil, sqlErr(fmt.Sprintf("cases of customer %d", customerID), err)
	}
	return handoffRows(rows), nil
}
