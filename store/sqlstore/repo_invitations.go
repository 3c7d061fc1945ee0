package sqlstore

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/cxbot/cxbot/flows"
)

// CreateInvitation inserts an invitation unless one exists for the same
// wave × customer × event, in which case it returns that one with
// created=false. The unique key, not a prior lookup, decides, so replicas,
// restarts and overlapping cron runs cannot invite twice. Status defaults
// to planned, CreatedAt to now, NotBefore to CreatedAt.
func (db *DB) CreateInvitation(ctx context.Context, inv flows.Invitation) (flows.Invitation, bool, error) {
	if inv.WaveID == "" || inv.CustomerID <= 0 || inv.SurveyID == "" {
		return flows.Invitation{}, false, fmt.Errorf("create invitation: %w: wave, customer and survey are required", flows.ErrInvalid)
	}
	status := inv.Status
	if status == "" {
		status = flows.InvitationPlanned
	}
	if !status.Valid() {
		return flows.Invitation{}, false, fmt.Errorf("create invitation: %w: unknown status %q", flows.ErrInvalid, status)
	}
	created := db.at(inv.CreatedAt)
	row := invitationRow{
		WaveID:        inv.WaveID,
		CustomerID:    inv.CustomerID,
		EventID:       inv.EventID,
		SurveyID:      inv.SurveyID,
		SurveyVersion: inv.SurveyVersion,
		Channel:       string(inv.Channel),
		ExternalID:    inv.ExternalID,
		Language:      inv.Language,
		Context:       contextJSON(inv.Context),
		Status:        status,
		Error:         inv.Error,
		SentAt:        sqlTimePtr(inv.SentAt),
		CreatedAt:     created,
		UpdatedAt:     created,
		NotBefore:     orTime(inv.NotBefore, created),
		Attempts:      inv.Attempts,
		RemindedAt:    sqlTimePtr(inv.RemindedAt),
	}
	op := fmt.Sprintf("create invitation (wave %s, customer %d, event %s)", inv.WaveID, inv.CustomerID, inv.EventID)
	g := db.conn(ctx)
	res := g.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "wave_id"}, {Name: "customer_id"}, {Name: "event_id"}},
		DoNothing: true,
	}).Create(&row)
	if res.Error != nil {
		return flows.Invitation{}, false, sqlErr(op, res.Error)
	}
	out, err := db.InvitationByKey(ctx, inv.WaveID, inv.CustomerID, inv.EventID)
	if err != nil {
		return flows.Invitation{}, false, fmt.Errorf("%s: %w", op, err)
	}
	return out, res.RowsAffected == 1, nil
}

// InvitationByKey returns the invitation of a wave × customer × event, so a
// repeated request can be answered with the first one.
func (db *DB) InvitationByKey(ctx context.Context, waveID string, customerID int64, eventID string) (flows.Invitation, error) {
	var out invitationWithRef
	err := selectInvitations(db.conn(ctx)).
		Where("invitations.wave_id = ? AND invitations.customer_id = ? AND invitations.event_id = ?", waveID, customerID, eventID).
		Take(&out).Error
	if err != nil {
		return flows.Invitation{}, sqlErr(fmt.Sprintf("invitation (wave %s, customer %d, event %s)", waveID, customerID, eventID), err)
	}
	return out.domain(), nil
}

// selectInvitations reads invitations with their customer's ref.
func selectInvitations(g *gorm.DB) *gorm.DB {
	return g.Model(&invitationRow{}).
		Select("invitations.*, customers.ref AS customer_ref").
		Joins("JOIN customers ON customers.id = invitations.customer_id")
}

// Invitation returns the invitation with this id.
func (db *DB) Invitation(ctx context.Context, id int64) (flows.Invitation, error) {
	var out invitationWithRef
	if err := selectInvitations(db.conn(ctx)).Where("invitations.id = ?", id).Take(&out).Error; err != nil {
		return flows.Invitation{}, sqlErr(fmt.Sprintf("invitation %d", id), err)
	}
	return out.domain(), nil
}

// SetInvitationStatus records what happened to an invitation; errText is
// the delivery error for failed ("" clears it) and sent_at is set when the
// status is sent. A late delivery report cannot pull an invitation the
// customer already started back to planned, sent or failed: the status is
// then kept, and sent_at is still recorded.
func (db *DB) SetInvitationStatus(ctx context.Context, id int64, status flows.InvitationStatus, errText string, at time.Time) error {
	op := fmt.Sprintf("set invitation %d %s", id, status)
	if !status.Valid() {
		return fmt.Errorf("%s: %w: unknown status", op, flows.ErrInvalid)
	}
	at = db.at(at)
	set := map[string]any{"status": string(status), "error": errText, "updated_at": at}
	if status.DeliveryOutcome() {
		set["status"] = gorm.Expr("CASE WHEN status IN ? THEN status ELSE ? END",
			statusStrings(flows.CustomerOwnedInvitationStatuses()), string(status))
	}
	if status == flows.InvitationSent {
		set["sent_at"] = at
	}
	res := db.conn(ctx).Model(&invitationRow{}).Where("id = ?", id).Updates(set)
	if res.Error != nil {
		return sqlErr(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%s: %w", op, flows.ErrNotFound)
	}
	return nil
}
