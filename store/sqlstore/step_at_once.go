package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// applyStepAtOnce is ApplyStep as ONE statement, for a server that runs
// data-modifying CTEs (PostgreSQL): every part of the step hangs off the
// response row the first CTE locks, checks and writes, so the statement is
// atomic and a step refused there writes nothing. It saves the transaction's
// BEGIN and COMMIT and every statement but one: one round trip per step
// instead of six, on the path every answer takes.
func (db *DB) applyStepAtOnce(ctx context.Context, w flows.StepWrite, state any, at time.Time) (bool, error) {
	update, args := responseStepUpdate(w, state, at)
	var sql strings.Builder
	sql.WriteString("WITH r AS (\n" + update)
	updatesHandoff := w.HandoffComment != nil || w.HandoffStatus != ""
	if updatesHandoff {
		// A handoff to change that does not exist refuses the whole step.
		sql.WriteString(" AND EXISTS (SELECT 1 FROM handoffs WHERE response_id = ?)")
		args = append(args, w.ResponseID)
	}
	sql.WriteString("\n" + stepReturning + "\n)")

	answered := "false"
	if a := w.Answer; a != nil {
		sql.WriteString(`, a AS (
    INSERT INTO answers (response_id, question_id, kind, score, choice, text, class, skipped, answered_at)
    SELECT r.id, ?, ?, ?, ?, ?, ?, ?, ? FROM r
    ON CONFLICT (response_id, question_id) DO NOTHING
    RETURNING id
)`)
		answeredAt := orTime(a.AnsweredAt, at)
		args = append(args, a.QuestionID, string(a.Kind), a.Score, a.Choice, a.Text, string(a.Class), a.Skipped, answeredAt)
		answered = "EXISTS (SELECT 1 FROM a)"
		if reportedAnswer(a) {
			// The reports' summary row, if this is the response's first
			// answer of the kind (reportSummaryInsert).
			sql.WriteString(`, ra AS (
    INSERT INTO report_answers (` + reportAnswerColumns + `)
    SELECT r.id, ?, a.id, r.survey_id, i.wave_id, r.channel, r.language, ?, ?, ?, ?, ` + db.dialect.reportAttributes + `, ?
    FROM r CROSS JOIN a JOIN invitations i ON i.id = r.invitation_id
    ON CONFLICT (response_id, kind) DO NOTHING
)`)
			args = append(args, string(a.Kind), string(a.Class), a.Score, answeredAt, reportSlot(answeredAt), false)
		}
	}

	// The invitation moves with the customer (flows.InvitationAfterStep),
	// by whether the answer was new.
	fromNew, toNew, okNew := flows.InvitationAfterStep(true, w.Finish)
	fromOld, toOld, okOld := flows.InvitationAfterStep(false, w.Finish)
	if w.Answer == nil {
		okNew = false
	}
	if okNew || okOld {
		if !okNew {
			fromNew, toNew = nil, toOld
		}
		if !okOld {
			fromOld, toOld = nil, toNew
		}
		sql.WriteString(`, i AS (
    UPDATE invitations SET updated_at = ?,
        status = CASE WHEN ` + answered + ` THEN ? ELSE ? END
    FROM r
    WHERE invitations.id = r.invitation_id
      AND ((` + answered + ` AND invitations.status IN ?) OR (NOT ` + answered + ` AND invitations.status IN ?))
)`)
		args = append(args, at, string(toNew), string(toOld), statusStrings(fromNew), statusStrings(fromOld))
	}

	if h := w.OpenHandoff; h != nil {
		customerRef, eventContext, err := handoffSources(*h)
		if err != nil {
			return false, fmt.Errorf("insert handoff: %w", err)
		}
		sql.WriteString(`, h AS (
    INSERT INTO handoffs (response_id, customer_id, customer_ref, survey_id, question_id, kind, score, class,
        comment, channel, external_id, context, status, notified_at, created_at, updated_at)
    SELECT r.id, c.id, ?, COALESCE(NULLIF(?, ''), r.survey_id), ?, ?, ?, ?, ?,
        COALESCE(NULLIF(?, ''), r.channel), COALESCE(NULLIF(?, ''), r.external_id), ?, ?, ?, ?, ?
    FROM r JOIN invitations i ON i.id = r.invitation_id
        JOIN customers c ON c.id = COALESCE(NULLIF(?, 0), r.customer_id)
    ON CONFLICT (response_id) DO NOTHING
)`)
		args = append(args, customerRef, h.SurveyID, h.QuestionID, string(h.Kind), h.Score, string(h.Class), h.Comment,
			string(h.Channel), h.ExternalID, eventContext, string(h.Status), sqlTimePtr(h.NotifiedAt), orTime(h.CreatedAt, at), at,
			h.CustomerID)
	}

	if updatesHandoff {
		sql.WriteString(`, hu AS (
    UPDATE handoffs SET updated_at = ?`)
		args = append(args, at)
		if w.HandoffComment != nil {
			sql.WriteString(", comment = ?")
			args = append(args, *w.HandoffComment)
		}
		if w.HandoffStatus != "" {
			// A handoff never moves back (flows.HandoffStatus.CanMoveTo).
			sql.WriteString(", status = CASE WHEN handoffs.status IN ? THEN ? ELSE handoffs.status END")
			args = append(args, statusStrings(flows.HandoffStatusesMovableTo(w.HandoffStatus)), string(w.HandoffStatus))
		}
		sql.WriteString("\n    FROM r WHERE handoffs.response_id = r.id\n)")
	}

	if w.CompletedWebhook && w.Finish == flows.ResponseCompleted {
		// Only the step that completes the response: it alone wrote this
		// completed_at (stepCompletes). The payload is built when sent.
		sql.WriteString(`, o AS (
    INSERT INTO webhook_outbox (event, subject_id, payload, created_at, next_attempt_at)
    SELECT ?, r.id, '', ?, ? FROM r WHERE r.status = ? AND r.completed_at = ?
)`)
		args = append(args, string(flows.EventResponseCompleted), at, at, string(flows.ResponseCompleted), at)
	}

	sql.WriteString("\nSELECT (SELECT count(*) FROM r) AS responses, " + answered + " AS answered")
	var (
		responses   int
		answeredNew bool
	)
	if err := db.rawRow(ctx, sql.String(), args, &responses, &answeredNew); err != nil {
		return false, err
	}
	if responses == 0 {
		return false, whyNoStep(db.conn(ctx), w, updatesHandoff)
	}
	return answeredNew, nil
}
