package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/cxbot/cxbot/flows"
)

// AddAgent registers a Telegram user as an agent; registering one again
// updates their name and role.
func (db *DB) AddAgent(ctx context.Context, a flows.Agent) (flows.Agent, error) {
	a.Name = strings.TrimSpace(a.Name)
	if a.Role == "" {
		a.Role = flows.RoleAgent
	}
	if err := a.Validate(); err != nil {
		return flows.Agent{}, err
	}
	row := agentRow{TelegramUserID: a.TelegramUserID, Name: a.Name, Role: string(a.Role), CreatedAt: db.at(a.CreatedAt)}
	err := db.conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "telegram_user_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"name", "role"}),
	}).Create(&row).Error
	if err != nil {
		return flows.Agent{}, sqlErr("add agent", err)
	}
	return db.AgentByTelegramUser(ctx, a.TelegramUserID)
}

// AgentByTelegramUser returns the agent a Telegram user is, ErrNotFound
// for anyone not registered.
func (db *DB) AgentByTelegramUser(ctx context.Context, userID int64) (flows.Agent, error) {
	var row agentRow
	if err := db.conn(ctx).Where("telegram_user_id = ?", userID).Take(&row).Error; err != nil {
		return flows.Agent{}, sqlErr(fmt.Sprintf("agent with telegram user %d", userID), err)
	}
	return row.domain(), nil
}

// Agent returns an agent by id.
func (db *DB) Agent(ctx context.Context, id int64) (flows.Agent, error) {
	var row agentRow
	if err := db.conn(ctx).Take(&row, id).Error; err != nil {
		return flows.Agent{}, sqlErr(fmt.Sprintf("agent %d", id), err)
	}
	return row.domain(), nil
}

// Agents lists the registered agents, by name.
func (db *DB) Agents(ctx context.Context) ([]flows.Agent, error) {
	var rows []agentRow
	if err := db.conn(ctx).Order("name").Order("id").Find(&rows).Error; err != nil {
		return nil, sqlErr("list agents", err)
	}
	out := make([]flows.Agent, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}

// RemoveAgent unregisters a Telegram user. An agent who owns cases still
// being worked is refused (a supervisor resolves them first), so no case is
// left with an owner nobody can act as; closed cases keep the name.
func (db *DB) RemoveAgent(ctx context.Context, telegramUserID int64) error {
	var owned []int64
	err := db.conn(ctx).Model(&handoffRow{}).
		Where("status = ? AND claimed_by IN (SELECT id FROM agents WHERE telegram_user_id = ?)", string(flows.HandoffClaimed), telegramUserID).
		Order("id").Limit(20).Pluck("id", &owned).Error
	if err != nil {
		return sqlErr("remove agent", err)
	}
	if len(owned) > 0 {
		return fmt.Errorf("remove agent: %w: telegram user %d still owns cases %v: resolve them first (a supervisor may)", flows.ErrConflict, telegramUserID, owned)
	}
	// The agent's bound API tokens go with them: a token acting for
	// someone no longer on the desk must not keep reading its cases.
	err = db.conn(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Where("telegram_user_id = ?", telegramUserID).Delete(&agentRow{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("telegram user %d is not an agent: %w", telegramUserID, flows.ErrNotFound)
		}
		return tx.Model(&apiTokenRow{}).Where("agent_telegram_user_id = ? AND revoked_at IS NULL", telegramUserID).
			Update("revoked_at", db.at(time.Time{})).Error
	})
	return sqlErr("remove agent", err)
}

var errNoChange = errors.New("no row changed")

// updateHandoff runs change on the handoff in a transaction, then queues
// the webhook event (if any) built from the handoff as it now is. changed
// is false when the WHERE of change matched nothing.
func (db *DB) updateHandoff(ctx context.Context, op string, id int64, event flows.WebhookEvent, change func(tx *gorm.DB) *gorm.DB) (flows.Handoff, bool, error) {
	var out handoffRow
	changed := true
	apply := func(tx *gorm.DB) error {
		// The changed row comes back with the UPDATE (RETURNING); it is
		// read on its own only when nothing changed.
		res := change(tx.Model(&out).Clauses(clause.Returning{}).Where("id = ?", id))
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			if err := tx.Take(&out, id).Error; err != nil {
				return err
			}
			return errNoChange
		}
		if event == "" || !db.Webhooks {
			return nil
		}
		payload, err := flows.HandoffWebhookPayload(event, out.domain(), db.now())
		if err != nil {
			return err
		}
		return insertOutbox(tx, flows.OutboxEvent{Event: event, SubjectID: id, Payload: payload}, db.now())
	}
	var err error
	if event != "" && db.Webhooks {
		err = db.conn(ctx).Transaction(apply)
	} else {
		// Nothing to queue with it: the conditional UPDATE is atomic on its
		// own, and the read after it needs no transaction (two round trips
		// instead of four on the detractor's path).
		err = apply(db.conn(ctx))
	}
	switch {
	case errors.Is(err, errNoChange):
		changed = false
	case err != nil:
		return flows.Handoff{}, false, sqlErr(fmt.Sprintf("%s handoff %d", op, id), err)
	}
	return out.domain(), changed, nil
}
