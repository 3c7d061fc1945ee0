package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/cxbot/cxbot/flows"
)

// maxInsertRows is the most rows one multi-row INSERT carries on
// PostgreSQL: 500 invitations are 9,500 bound values (the limit is 65,535).
const maxInsertRows = 500

// insertRows writes rows (values in the order of cols) into table; suffix
// is appended to the INSERT (an ON CONFLICT clause). It returns how many
// rows were inserted and, when key >= 0, which ones: keyed by the string
// value in column key, which must be unique among the rows.
//
// Rows go in multi-row INSERTs of up to maxInsertRows rows (RETURNING the
// key when asked), or, where the dialect wants singleRowInserts (SQLite),
// through one prepared single-row INSERT executed per row, whose
// rows-affected tells which rows were new (the write transaction excludes
// other writers): with the pure-Go SQLite driver, parsing a long VALUES
// list and binding its values (a linear search per value) cost more than
// the inserts themselves (measured: 100,000 invitations take about 4 s
// this way, 5-7 s in multi-row statements of 20 to 500 rows).
func (db *DB) insertRows(tx *gorm.DB, table string, cols []string, rows [][]any, suffix string, key int) (int, map[string]bool, error) {
	var inserted map[string]bool
	if key >= 0 {
		inserted = make(map[string]bool, len(rows))
	}
	n := 0
	if db.dialect.singleRowInserts {
		ctx := tx.Statement.Context
		stmt, err := tx.Statement.ConnPool.PrepareContext(ctx, insertSQL(table, cols, 1)+suffix)
		if err != nil {
			return 0, nil, err
		}
		defer stmt.Close()
		for _, r := range rows {
			res, err := stmt.ExecContext(ctx, r...)
			if err != nil {
				if t, ok := tx.Dialector.(gorm.ErrorTranslator); ok {
					err = t.Translate(err) // as GORM does: unique and foreign key violations
				}
				return 0, nil, err
			}
			if k, _ := res.RowsAffected(); k == 1 {
				n++
				if key >= 0 {
					inserted[r[key].(string)] = true
				}
			}
		}
		return n, inserted, nil
	}
	for chunk := range slices.Chunk(rows, maxInsertRows) {
		args := make([]any, 0, len(chunk)*len(cols))
		for _, r := range chunk {
			args = append(args, r...)
		}
		q := insertSQL(table, cols, len(chunk)) + suffix
		if key < 0 {
			res := tx.Exec(q, args...)
			if res.Error != nil {
				return 0, nil, res.Error
			}
			n += int(res.RowsAffected)
			continue
		}
		rs, err := tx.Raw(q+" RETURNING "+cols[key], args...).Rows()
		if err != nil {
			return 0, nil, err
		}
		for rs.Next() {
			var k string
			if err := rs.Scan(&k); err != nil {
				rs.Close()
				return 0, nil, err
			}
			inserted[k] = true
			n++
		}
		if err := rs.Close(); err != nil {
			return 0, nil, err
		}
		if err := rs.Err(); err != nil {
			return 0, nil, err
		}
	}
	return n, inserted, nil
}

// invitationColumns are the columns PlanInvitations writes, in the order
// of invitationValues.
func invitationColumns() []string {
	return []string{
		"wave_id", "customer_id", "event_id", "survey_id", "survey_version", "channel", "external_id",
		"language", "context", "status", "error", "sent_at", "created_at", "updated_at",
		"not_before", "attempts", "reminded_at", "claimed_by", "claim_until",
	}
}

func invitationValues(r invitationRow) []any {
	return []any{
		r.WaveID, r.CustomerID, r.EventID, r.SurveyID, int64(r.SurveyVersion), r.Channel, r.ExternalID,
		r.Language, r.Context, r.Status, r.Error, nullTime(r.SentAt), r.CreatedAt, r.UpdatedAt,
		r.NotBefore, int64(r.Attempts), nullTime(r.RemindedAt), r.ClaimedBy, nullTime(r.ClaimUntil),
	}
}

// nullTime turns a nullable timestamp into a bind value (untyped nil for NULL).
func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return *t
}

// insertSQL returns "INSERT INTO table (a, b) VALUES (?, ?), (?, ?)" for n
// rows.
func insertSQL(table string, cols []string, n int) string {
	var b strings.Builder
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	b.Grow(len(table) + 32 + 16*len(cols) + n*(len(row)+2))
	b.WriteString("INSERT INTO ")
	b.WriteString(table)
	b.WriteString(" (")
	b.WriteString(strings.Join(cols, ", "))
	b.WriteString(") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}

// PlanInvitations writes a planner's invitations, status planned (the
// default) or skipped (Error says why), in one transaction of multi-row
// INSERTs ON CONFLICT (wave_id, customer_id, event_id) DO NOTHING, and
// returns how many rows were new: planning the same events again, on any
// replica, adds nothing. CreatedAt defaults to now and NotBefore to
// CreatedAt. An invalid invitation rejects the call before anything is
// written; an unknown customer is ErrNotFound.
func (db *DB) PlanInvitations(ctx context.Context, invs []flows.Invitation) (int, error) {
	if len(invs) == 0 {
		return 0, nil
	}
	now := db.at(time.Time{})
	values := make([][]any, 0, len(invs))
	for i, inv := range invs {
		if inv.Status == "" {
			inv.Status = flows.InvitationPlanned
		}
		switch {
		case inv.WaveID == "" || inv.CustomerID <= 0 || inv.SurveyID == "":
			return 0, fmt.Errorf("plan invitations: %w: invitation %d: wave, customer and survey are required", flows.ErrInvalid, i)
		case inv.Status != flows.InvitationPlanned && inv.Status != flows.InvitationSkipped:
			return 0, fmt.Errorf("plan invitations: %w: invitation %d: status %q must be %s or %s",
				flows.ErrInvalid, i, inv.Status, flows.InvitationPlanned, flows.InvitationSkipped)
		}
		values = append(values, invitationValues(db.newInvitationRow(inv, now)))
	}
	created := 0
	err := db.conn(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		created, _, err = db.insertRows(tx, "invitations", invitationColumns(), values,
			" ON CONFLICT (wave_id, customer_id, event_id) DO NOTHING", -1)
		return err
	})
	if err != nil {
		return 0, sqlErr(fmt.Sprintf("plan %d invitations", len(invs)), err)
	}
	return created, nil
}

// newInvitationRow maps a new invitation for insertion: timestamps
// normalised, CreatedAt defaulting to now and NotBefore to CreatedAt.
func (db *DB) newInvitationRow(inv flows.Invitation, now time.Time) invitationRow {
	created := orTime(inv.CreatedAt, now)
	return invitationRow{
		WaveID:        inv.WaveID,
		CustomerID:    inv.CustomerID,
		EventID:       inv.EventID,
		SurveyID:      inv.SurveyID,
		SurveyVersion: inv.SurveyVersion,
		Channel:       string(inv.Channel),
		ExternalID:    inv.ExternalID,
		Language:      inv.Language,
		Context:       contextJSON(inv.Context),
		Status:        inv.Status,
		Error:         inv.Error,
		SentAt:        sqlTimePtr(inv.SentAt),
		CreatedAt:     created,
		UpdatedAt:     created,
		NotBefore:     orTime(inv.NotBefore, created),
		Attempts:      inv.Attempts,
		RemindedAt:    sqlTimePtr(inv.RemindedAt),
	}
}

// ClaimInvitations leases up to limit invitations that are due to a
// dispatcher (owner): status planned, not_before <= now, not claimed or
// the claim expired, and their wave not paused or retired (API invitations, wave
// "api", are sent by the request that made them, never by a dispatcher) (a wave without a row, such
// as "api", counts as running). The oldest due go first. The rows are
// claimed until now+lease; FinishAttempt releases them. The candidate
// rows are locked with the dialect's skipLocked (FOR UPDATE SKIP LOCKED on
// PostgreSQL), so concurrent replicas each take different rows without
// waiting; on SQLite the write transaction excludes other writers. Rows
// of a dispatcher that died come back once its lease has expired.
func (db *DB) ClaimInvitations(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]flows.Invitation, error) {
	op := "claim invitations for " + owner
	if owner == "" || lease <= 0 {
		return nil, fmt.Errorf("claim invitations: %w: owner and a positive lease are required", flows.ErrInvalid)
	}
	now = db.at(now)
	claim := `UPDATE invitations SET claimed_by = ?, claim_until = ?
WHERE id IN (
    SELECT i.id FROM invitations i
    WHERE i.status = ? AND i.not_before <= ? AND i.wave_id <> ?
      AND (i.claim_until IS NULL OR i.claim_until < ?)
      AND NOT EXISTS (SELECT 1 FROM waves w WHERE w.id = i.wave_id AND (w.paused = ? OR w.retired_at IS NOT NULL))
    ORDER BY i.not_before, i.id
    LIMIT ?
    ` + db.dialect.skipLocked + `)
RETURNING id`
	var out []invitationWithRef
	err := db.conn(ctx).Transaction(func(tx *gorm.DB) error {
		out = nil
		rows, err := tx.Raw(claim, owner, sqlTime(now.Add(lease)), string(flows.InvitationPlanned), now, flows.WaveAPI, now, true, listLimit(limit)).Rows()
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		return selectInvitations(tx).Where("invitations.id IN ?", ids).
			Order("invitations.not_before").Order("invitations.id").Find(&out).Error
	})
	if err != nil {
		return nil, sqlErr(op, err)
	}
	return invitationsWithRef(out), nil
}

// FinishAttempt records an attempt and moves its invitation, in one
// transaction, releasing the dispatcher's claim. It requires the claim:
// when the invitation is no longer claimed by owner (its lease expired and
// another dispatcher took it), nothing is written and the error is
// ErrConflict.
//
//   - status "" leaves the status as it is (planned; claimable again at once);
//   - status sent also sets sent_at = a.At and clears the error;
//     failed and skipped set the error to a.Error;
//   - retryAt != nil keeps the invitation planned with not_before = *retryAt
//     and the error a.Error (the last failure); status must then be "" or planned.
//
// A status the customer already moved on (started, completed, expired)
// is kept. attempts grows by one unless the outcome is "deferred".
func (db *DB) FinishAttempt(ctx context.Context, owner string, a flows.Attempt, status flows.InvitationStatus, retryAt *time.Time) error {
	op := fmt.Sprintf("finish attempt on invitation %d", a.InvitationID)
	switch {
	case a.InvitationID <= 0 || owner == "" || a.Outcome == "":
		return fmt.Errorf("%s: %w: invitation, owner and outcome are required", op, flows.ErrInvalid)
	case status != "" && !flows.DispatcherMaySet(status):
		return fmt.Errorf("%s: %w: status %q cannot be set by a dispatcher", op, flows.ErrInvalid, status)
	case retryAt != nil && status != "" && status != flows.InvitationPlanned:
		return fmt.Errorf("%s: %w: a retry keeps the invitation planned, not %s", op, flows.ErrInvalid, status)
	}
	at := db.at(a.At)
	set := map[string]any{"claimed_by": "", "claim_until": nil, "updated_at": at}
	if a.Outcome.Counts() {
		set["attempts"] = gorm.Expr("attempts + 1")
	}
	if retryAt != nil {
		status = flows.InvitationPlanned
		set["not_before"] = sqlTime(*retryAt)
		set["error"] = a.Error
	}
	if status != "" {
		// A status the customer moved on is kept (flows.InvitationStatus.CustomerOwned).
		set["status"] = gorm.Expr("CASE WHEN status IN ? THEN status ELSE ? END",
			statusStrings(flows.CustomerOwnedInvitationStatuses()), string(status))
		switch status {
		case flows.InvitationSent:
			set["sent_at"] = at
			set["error"] = ""
		case flows.InvitationFailed, flows.InvitationSkipped:
			set["error"] = a.Error
		}
	}
	err := db.conn(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&invitationRow{}).Where("id = ? AND claimed_by = ?", a.InvitationID, owner).Updates(set)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			var n int64
			if err := tx.Model(&invitationRow{}).Where("id = ?", a.InvitationID).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return gorm.ErrRecordNotFound
			}
			return fmt.Errorf("%w: the lease was lost (invitation not claimed by %s)", flows.ErrConflict, owner)
		}
		row := deliveryAttemptRow{
			InvitationID: a.InvitationID,
			At:           at,
			Outcome:      a.Outcome,
			Error:        a.Error,
			RetryAfterMs: a.RetryAfter.Milliseconds(),
		}
		return tx.Create(&row).Error
	})
	return sqlErr(op, err)
}

// Attempts returns an invitation's delivery attempts, oldest first.
func (db *DB) Attempts(ctx context.Context, invitationID int64) ([]flows.Attempt, error) {
	var rows []deliveryAttemptRow
	err := db.conn(ctx).Where("invitation_id = ?", invitationID).Order("at").Order("id").Find(&rows).Error
	if err != nil {
		return nil, sqlErr(fmt.Sprintf("attempts of invitation %d", invitationID), err)
	}
	out := make([]flows.Attempt, len(rows))
	for i, r := range rows {
		out[i] = r.attempt()
	}
	return out, nil
}

// SentSince counts the invitations of every wave (and the API) that
// reached the customer at or after since: the frequency cap's measure.
func (db *DB) SentSince(ctx context.Context, customerID int64, since time.Time) (int, error) {
	var n int64
	err := db.conn(ctx).Model(&invitationRow{}).
		Where("customer_id = ? AND sent_at >= ?", customerID, sqlTime(since)).Count(&n).Error
	if err != nil {
		return 0, sqlErr(fmt.Sprintf("invitations sent to customer %d", customerID), err)
	}
	return int(n), nil
}

// WaveCounts returns the counts of a wave (all zero for an unknown wave).
func (db *DB) WaveCounts(ctx context.Context, waveID string) (flows.WaveCounts, error) {
	var rows []struct {
		Status    flows.InvitationStatus
		N         int
		Delivered int
	}
	err := db.conn(ctx).Raw(`SELECT status, COUNT(*) AS n,
  SUM(CASE WHEN sent_at IS NOT NULL THEN 1 ELSE 0 END) AS delivered
FROM invitations WHERE wave_id = ? GROUP BY status`, waveID).Scan(&rows).Error
	if err != nil {
		return flows.WaveCounts{}, sqlErr("counts of wave "+waveID, err)
	}
	var c flows.WaveCounts
	for _, r := range rows {
		c.Delivered += r.Delivered
		c.Add(r.Status, r.N)
	}
	return c, nil
}

// DueReminders returns a wave's invitations that were sent before
// sentBefore, not answered (status still sent: the first answer makes it
// started) and not reminded yet; oldest first.
func (db *DB) DueReminders(ctx context.Context, waveID string, sentBefore time.Time, limit int) ([]flows.Invitation, error) {
	var rows []invitationWithRef
	err := selectInvitations(db.conn(ctx)).
		Where("invitations.wave_id = ? AND invitations.status = ? AND invitations.reminded_at IS NULL AND invitations.sent_at < ?",
			waveID, flows.InvitationSent, sqlTime(sentBefore)).
		Order("invitations.sent_at").Order("invitations.id").
		Limit(listLimit(limit)).Find(&rows).Error
	if err != nil {
		return nil, sqlErr("due reminders of wave "+waveID, err)
	}
	return invitationsWithRef(rows), nil
}

// MarkReminded records that the invitation's one reminder went out. The
// first time is kept.
func (db *DB) MarkReminded(ctx context.Context, id int64, at time.Time) error {
	op := fmt.Sprintf("mark invitation %d reminded", id)
	at = db.at(at)
	res := db.conn(ctx).Model(&invitationRow{}).Where("id = ? AND reminded_at IS NULL", id).
		Updates(map[string]any{"reminded_at": at, "updated_at": at})
	if res.Error != nil {
		return sqlErr(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return db.mustExist(ctx, op, &invitationRow{}, id)
	}
	return nil
}

// DueExpiries returns a wave's open invitations that are past their time:
// planned ones created before before (never sent: quiet hours, caps or
// outages kept them back too long), sent or started ones sent before
// before. Oldest first.
func (db *DB) DueExpiries(ctx context.Context, waveID string, before time.Time, limit int) ([]flows.Invitation, error) {
	b := sqlTime(before)
	var rows []invitationWithRef
	err := selectInvitations(db.conn(ctx)).
		Where("invitations.wave_id = ?", waveID).
		Where("(invitations.status = ? AND invitations.created_at < ?) OR "+
			"(invitations.status IN (?, ?) AND COALESCE(invitations.sent_at, invitations.created_at) < ?)",
			flows.InvitationPlanned, b, flows.InvitationSent, flows.InvitationStarted, b).
		Order("invitations.id").
		Limit(listLimit(limit)).Find(&rows).Error
	if err != nil {
		return nil, sqlErr("due expiries of wave "+waveID, err)
	}
	return invitationsWithRef(rows), nil
}

// ExpireInvitation closes an invitation nobody finished: it becomes
// expired, and so does its response if the customer had started, in one
// transaction. An invitation already completed, failed or skipped is left
// as it is; an unknown one is ErrNotFound.
func (db *DB) ExpireInvitation(ctx context.Context, id int64, at time.Time) error {
	op := fmt.Sprintf("expire invitation %d", id)
	at = db.at(at)
	err := db.conn(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&invitationRow{}).
			Where("id = ? AND status IN ?", id, statusStrings(flows.ExpirableInvitationStatuses())).
			Updates(map[string]any{"status": flows.InvitationExpired, "updated_at": at})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			var n int64
			if err := tx.Model(&invitationRow{}).Where("id = ?", id).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return gorm.ErrRecordNotFound
			}
			return nil
		}
		return tx.Model(&responseRow{}).Where("invitation_id = ? AND status = ?", id, flows.ResponseStarted).
			Updates(map[string]any{"status": flows.ResponseExpired, "completed_at": at}).Error
	})
	return sqlErr(op, err)
}

// ResponseForInvitation returns the response an invitation opened.
func (db *DB) ResponseForInvitation(ctx context.Context, invitationID int64) (flows.Response, error) {
	var row responseRow
	if err := db.conn(ctx).Where("invitation_id = ?", invitationID).Take(&row).Error; err != nil {
		return flows.Response{}, sqlErr(fmt.Sprintf("response to invitation %d", invitationID), err)
	}
	return row.domain(), nil
}
