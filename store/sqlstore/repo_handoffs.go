package sqlstore

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/cxbot/cxbot/flows"
)

// defaultListLimit caps lists when the caller passes no limit.
const defaultListLimit = 100

// HandoffForResponse returns the response's handoff.
func (db *DB) HandoffForResponse(ctx context.Context, responseID int64) (flows.Handoff, error) {
	var row handoffRow
	if err := db.conn(ctx).Where("response_id = ?", responseID).Take(&row).Error; err != nil {
		return flows.Handoff{}, sqlErr(fmt.Sprintf("handoff of response %d", responseID), err)
	}
	return row.domain(), nil
}

// MarkHandoffNotified records that agents were told about the handoff. A
// handoff still awaiting the customer's comment becomes open (it went out
// without the comment); one an agent already claimed or resolved keeps its
// status.
func (db *DB) MarkHandoffNotified(ctx context.Context, id int64, at time.Time) error {
	op := fmt.Sprintf("mark handoff %d notified", id)
	at = db.at(at)
	noticedFrom, noticedTo := flows.HandoffNoticed()
	res := db.conn(ctx).Model(&handoffRow{}).Where("id = ?", id).Updates(map[string]any{
		"status":      gorm.Expr("CASE WHEN status IN ? THEN ? ELSE status END", statusStrings(noticedFrom), string(noticedTo)),
		"notified_at": at,
		"updated_at":  at,
	})
	if res.Error != nil {
		return sqlErr(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%s: %w", op, flows.ErrNotFound)
	}
	return nil
}

// HandoffsToNotify returns the handoffs agents have not been told about:
// open ones never notified and last changed before openBefore (a crash
// between commit and notice, a failed notice; the grace keeps the sweep
// from racing a notice being sent right now), and ones still awaiting a
// comment created before awaitingBefore (the customer never wrote it;
// agents must not wait forever). Oldest first.
func (db *DB) HandoffsToNotify(ctx context.Context, awaitingBefore, openBefore time.Time, limit int) ([]flows.Handoff, error) {
	var rows []handoffRow
	err := db.conn(ctx).
		Where("(status = ? AND created_at < ?) OR (status = ? AND notified_at IS NULL AND updated_at < ?)",
			flows.HandoffAwaitingComment, sqlTime(awaitingBefore), flows.HandoffOpen, sqlTime(openBefore)).
		Order("created_at").Order("id").
		Limit(listLimit(limit)).
		Find(&rows).Error
	if err != nil {
		return nil, sqlErr("handoffs to notify", err)
	}
	return handoffRows(rows), nil
}

func listLimit(n int) int {
	if n <= 0 {
		return defaultListLimit
	}
	return n
}
