package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/cxbot/cxbot/flows"
)

// StartResponse records the response an invitation opens (its first question
// is about to be sent). The invitation becomes started with the first answer
// (see ApplyStep), so wave counts tell sent from started. One response per invitation: when it exists
// already (a second tap on the link, a redelivered update) that response is
// returned unchanged. Fields left zero are taken from the invitation;
// Status defaults to started and StartedAt to now.
func (db *DB) StartResponse(ctx context.Context, r flows.Response) (flows.Response, error) {
	op := fmt.Sprintf("start response to invitation %d", r.InvitationID)
	if r.InvitationID <= 0 {
		return flows.Response{}, fmt.Errorf("%s: %w: invitation is required", op, flows.ErrInvalid)
	}
	var out responseRow
	err := db.conn(ctx).Transaction(func(tx *gorm.DB) error {
		var inv invitationRow
		if err := tx.Where("id = ?", r.InvitationID).Take(&inv).Error; err != nil {
			return err
		}
		row := responseRow{
			InvitationID:  r.InvitationID,
			CustomerID:    coalesce(r.CustomerID, inv.CustomerID),
			SurveyID:      coalesce(r.SurveyID, inv.SurveyID),
			SurveyVersion: r.SurveyVersion,
			Channel:       coalesce(string(r.Channel), inv.Channel),
			ExternalID:    coalesce(r.ExternalID, inv.ExternalID),
			Language:      coalesce(r.Language, inv.Language),
			Status:        coalesce(r.Status, flows.ResponseStarted),
			StartedAt:     db.at(r.StartedAt),
			CompletedAt:   sqlTimePtr(r.CompletedAt),
		}
		if row.SurveyVersion == 0 {
			row.SurveyVersion = inv.SurveyVersion
		}
		res := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "invitation_id"}}, DoNothing: true}).Create(&row)
		if res.Error != nil {
			return res.Error
		}
		return tx.Where("invitation_id = ?", r.InvitationID).Take(&out).Error
	})
	if err != nil {
		return flows.Response{}, sqlErr(op, err)
	}
	return out.domain(), nil
}

// Response returns the response with this id.
func (db *DB) Response(ctx context.Context, id int64) (flows.Response, error) {
	var row responseRow
	if err := db.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return flows.Response{}, sqlErr(fmt.Sprintf("response %d", id), err)
	}
	return row.domain(), nil
}

// OpenResponseForChat returns the chat's most recent response still in
// progress, so a customer who writes after the conversation state expired
// gets a polite answer and the response gets closed.
func (db *DB) OpenResponseForChat(ctx context.Context, ch flows.Channel, externalID string) (flows.Response, error) {
	var row responseRow
	err := db.conn(ctx).
		Where("channel = ? AND external_id = ? AND status = ?", string(ch), externalID, flows.ResponseStarted).
		Order("started_at DESC").Order("id DESC").
		Take(&row).Error
	if err != nil {
		return flows.Response{}, sqlErr(fmt.Sprintf("open response for %s chat %s", ch, externalID), err)
	}
	return row.domain(), nil
}

// ApplyStep writes one conversation step in ONE transaction and reports
// whether the answer was new. A handoff comment or status for a response
// without a handoff is ErrNotFound and nothing of the step is written.
//
// It is on every answer's path, so it costs few round trips. On PostgreSQL
// the whole step is one statement (applyStepAtOnce). Elsewhere it is a
// transaction: the response row is locked, checked (UpdateID) and written
// by one UPDATE … RETURNING; the invitation moves with one UPDATE; a handoff
// is inserted with the customer's ref and the invitation's context in one
// INSERT … SELECT.
func (db *DB) ApplyStep(ctx context.Context, w flows.StepWrite) (answerInserted bool, err error) {
	op := fmt.Sprintf("apply step to response %d", w.ResponseID)
	if err := w.Validate(); err != nil {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	if w.OpenHandoff != nil && w.OpenHandoff.Status == "" {
		h := *w.OpenHandoff
		h.Status = flows.HandoffOpen
		w.OpenHandoff = &h
	}
	at := db.at(w.At)
	var state any = gorm.Expr("state")
	if w.State != nil {
		b, err := json.Marshal(w.State)
		if err != nil {
			return false, fmt.Errorf("%s: encode state: %w", op, err)
		}
		state = string(b)
	}

	if db.dialect.stepAtOnce && (w.OpenHandoff == nil || (w.HandoffComment == nil && w.HandoffStatus == "")) {
		answerInserted, err = db.applyStepAtOnce(ctx, w, state, at)
	} else {
		answerInserted, err = db.applyStepInTransaction(ctx, w, state, at)
	}
	if errors.Is(err, flows.ErrApplied) {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	if err != nil {
		return false, sqlErr(op, err)
	}
	return answerInserted, nil
}

// applyStepInTransaction is ApplyStep as a transaction of a few statements.
func (db *DB) applyStepInTransaction(ctx context.Context, w flows.StepWrite, state any, at time.Time) (answerInserted bool, err error) {
	err = db.conn(ctx).Transaction(func(tx *gorm.DB) error {
		// The UPDATE locks the response (PostgreSQL) so steps of one
		// response serialise even if two replicas ever handle the same
		// chat, and refuses a step from a stale state (UpdateID set).
		update, args := responseStepUpdate(w, state, at)
		var resp responseRow
		res := tx.Raw(update+"\n"+stepReturning, args...).Scan(&resp)
		if res.Error != nil {
			return fmt.Errorf("update response: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return whyNoStep(tx, w, false)
		}

		if a := w.Answer; a != nil {
			row := answerRow{
				ResponseID: resp.ID,
				QuestionID: a.QuestionID,
				Kind:       string(a.Kind),
				Score:      a.Score,
				Choice:     a.Choice,
				Text:       a.Text,
				Class:      string(a.Class),
				Skipped:    a.Skipped,
				AnsweredAt: orTime(a.AnsweredAt, at),
			}
			res := tx.Clauses(clause.OnConflict{
				Columns:   []clause.Column{{Name: "response_id"}, {Name: "question_id"}},
				DoNothing: true,
			}).Create(&row)
			if res.Error != nil {
				return fmt.Errorf("insert answer %s: %w", a.QuestionID, res.Error)
			}
			answerInserted = res.RowsAffected == 1
			if answerInserted && reportedAnswer(a) {
				if err := db.insertReportAnswer(tx, resp, row); err != nil {
					return fmt.Errorf("insert report summary of %s: %w", a.QuestionID, err)
				}
			}
		}

		// The invitation moves with the customer (flows.InvitationAfterStep).
		if from, to, ok := flows.InvitationAfterStep(answerInserted, w.Finish); ok {
			err := tx.Model(&invitationRow{}).
				Where("id = ? AND status IN ?", resp.InvitationID, statusStrings(from)).
				Updates(map[string]any{"status": string(to), "updated_at": at}).Error
			if err != nil {
				return fmt.Errorf("move invitation: %w", err)
			}
		}

		if stepCompletes(w, resp, at) {
			e := flows.OutboxEvent{Event: flows.EventResponseCompleted, SubjectID: resp.ID}
			if err := insertOutbox(tx, e, at); err != nil {
				return fmt.Errorf("queue webhook: %w", err)
			}
		}

		if h := w.OpenHandoff; h != nil {
			if err := insertHandoff(tx, resp, *h, at); err != nil {
				return fmt.Errorf("insert handoff: %w", err)
			}
		}

		if w.HandoffComment != nil || w.HandoffStatus != "" {
			set := map[string]any{"updated_at": at}
			if w.HandoffComment != nil {
				set["comment"] = *w.HandoffComment
			}
			if w.HandoffStatus != "" {
				// A handoff never moves back (flows.HandoffStatus.CanMoveTo).
				set["status"] = gorm.Expr("CASE WHEN status IN ? THEN ? ELSE status END",
					statusStrings(flows.HandoffStatusesMovableTo(w.HandoffStatus)), string(w.HandoffStatus))
			}
			res := tx.Model(&handoffRow{}).Where("response_id = ?", resp.ID).Updates(set)
			if res.Error != nil {
				return fmt.Errorf("update handoff: %w", res.Error)
			}
			if res.RowsAffected == 0 {
				return fmt.Errorf("update handoff: %w", gorm.ErrRecordNotFound)
			}
		}
		return nil
	})
	return answerInserted, err
}

// stepCompletes reports whether the step just written (resp as RETURNING
// read it back) is the one that completed the response and asks for its
// webhook: the response is completed as of this very step's time. A
// response finished before keeps its own completed_at.
func stepCompletes(w flows.StepWrite, resp responseRow, at time.Time) bool {
	return w.CompletedWebhook && w.Finish == flows.ResponseCompleted &&
		resp.Status == flows.ResponseCompleted && resp.CompletedAt != nil && resp.CompletedAt.Equal(at)
}

// stepReturning is what a step reads back from the response row it updates.
const stepReturning = "RETURNING id, invitation_id, customer_id, survey_id, channel, external_id, language, status, completed_at"

// responseStepUpdate is the UPDATE of the response row that begins every
// step, without RETURNING: it writes the state and the update id, finishes
// a started response, and, with UpdateID set, matches only when the row's
// last update is ExpectUpdateID. Matching no row is explained by whyNoStep.
func responseStepUpdate(w flows.StepWrite, state any, at time.Time) (string, []any) {
	update := `UPDATE responses SET state = ?, last_update_id = ?,
    completed_at = CASE WHEN ? AND status = ? THEN ? ELSE completed_at END,
    status = CASE WHEN ? AND status = ? THEN ? ELSE status END
WHERE id = ?`
	finish := w.Finish != ""
	args := []any{state, w.UpdateID, finish, string(flows.ResponseStarted), at,
		finish, string(flows.ResponseStarted), string(coalesce(w.Finish, flows.ResponseStarted)), w.ResponseID}
	if w.UpdateID == "" {
		args[1] = gorm.Expr("last_update_id")
	} else {
		update += " AND last_update_id = ?"
		args = append(args, w.ExpectUpdateID)
	}
	return update, args
}

// whyNoStep tells why a step's response UPDATE matched no row: there is no
// such response, or (checkHandoff) no handoff to change (ErrNotFound); the
// step's update was applied before (ErrApplied); or the caller's state is
// stale (ErrConflict). Only a redelivery or a race takes this path.
func whyNoStep(g *gorm.DB, w flows.StepWrite, checkHandoff bool) error {
	var resp responseRow
	if err := g.Select("last_update_id").Where("id = ?", w.ResponseID).Take(&resp).Error; err != nil {
		return err
	}
	if checkHandoff {
		var n int64
		if err := g.Model(&handoffRow{}).Where("response_id = ?", w.ResponseID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("update handoff: %w", gorm.ErrRecordNotFound)
		}
	}
	if resp.LastUpdateID == w.UpdateID {
		return flows.ErrApplied
	}
	return fmt.Errorf("%w: the response moved on to update %q, the caller's state is from %q",
		flows.ErrConflict, resp.LastUpdateID, w.ExpectUpdateID)
}

// handoffSources are the customer ref and event context a new handoff
// takes: the caller's when given, otherwise the customer's ref (c.ref) and
// the invitation's context (i.context) read by the inserting statement.
func handoffSources(h flows.Handoff) (customerRef, eventContext any, err error) {
	if !h.Status.Valid() {
		return nil, nil, fmt.Errorf("%w: unknown status %q", flows.ErrInvalid, h.Status)
	}
	customerRef, eventContext = gorm.Expr("c.ref"), gorm.Expr("COALESCE(NULLIF(i.context, ''), '{}')")
	if h.CustomerRef != "" {
		customerRef = h.CustomerRef
	}
	if h.Context != nil {
		eventContext = contextJSON(h.Context)
	}
	return customerRef, eventContext, nil
}

// insertHandoff inserts a step's handoff unless the response has one,
// completing what the caller left zero from the response and, in the same
// statement, the customer's ref and the invitation's event context.
func insertHandoff(tx *gorm.DB, resp responseRow, h flows.Handoff, at time.Time) error {
	customerRef, eventContext, err := handoffSources(h)
	if err != nil {
		return err
	}
	// "WHERE" before ON CONFLICT also keeps SQLite's parser from reading
	// the conflict clause as part of a join.
	return tx.Exec(`INSERT INTO handoffs (response_id, customer_id, customer_ref, survey_id, question_id, kind, score, class,
    comment, channel, external_id, context, status, notified_at, created_at, updated_at)
SELECT ?, c.id, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
FROM invitations i JOIN customers c ON c.id = ?
WHERE i.id = ?
ON CONFLICT (response_id) DO NOTHING`,
		resp.ID, customerRef, coalesce(h.SurveyID, resp.SurveyID), h.QuestionID, string(h.Kind), h.Score, string(h.Class),
		h.Comment, coalesce(string(h.Channel), resp.Channel), coalesce(h.ExternalID, resp.ExternalID), eventContext,
		string(h.Status), sqlTimePtr(h.NotifiedAt), orTime(h.CreatedAt, at), at,
		coalesce(h.CustomerID, resp.CustomerID), resp.InvitationID).Error
}

// Answers returns a response's answers in the order they were given.
func (db *DB) Answers(ctx context.Context, responseID int64) ([]flows.Answer, error) {
	var rows []answerRow
	err := db.conn(ctx).Where("response_id = ?", responseID).Order("answered_at").Order("id").Find(&rows).Error
	if err != nil {
		return nil, sqlErr(fmt.Sprintf("answers of response %d", responseID), err)
	}
	out := make([]flows.Answer, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}

// coalesce returns v, or def when v is the zero value (SQL's COALESCE for
// "not given" rather than NULL).
func coalesce[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// orTime returns v normalised for storage, or def when v is zero.
func orTime(v, def time.Time) time.Time {
	if v.IsZero() {
		return def
	}
	return sqlTime(v)
}

// CustomerResponses returns a customer's responses, newest first: the
// history an agent looks at before contacting a detractor.
func (db *DB) CustomerResponses(ctx context.Context, customerID int64, limit int) ([]flows.Response, error) {
	if limit <= 0 {
		limit = 100
	}
	var rows []responseRow
	err := db.conn(ctx).Where("customer_id = ?", customerID).
		Order("started_at DESC").Order("id DESC").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, sqlErr(fmt.Sprintf("responses of customer %d", customerID), err)
	}
	out := make([]flows.Response, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.domain())
	}
	return out, nil
}

// ChatConversation returns what SQL knows of the chat's latest response
// (any status), so a conversation Redis forgot can be rebuilt and a
// redelivered update recognised. ErrNotFound when the chat never had one.
func (db *DB) ChatConversation(ctx context.Context, ch flows.Channel, externalID string) (flows.Conversation, error) {
	var row struct {
		Row              responseRow `gorm:"embedded"`
		InvitationStatus flows.InvitationStatus
	}
	err := db.conn(ctx).Table("responses").
		Select("responses.*, invitations.status AS invitation_status").
		Joins("JOIN invitations ON invitations.id = responses.invitation_id").
		Where("responses.channel = ? AND responses.external_id = ?", string(ch), externalID).
		Order("responses.started_at DESC").Order("responses.id DESC").
		Limit(1).Take(&row).Error
	if err != nil {
		return flows.Conversation{}, sqlErr(fmt.Sprintf("conversation of %s chat %s", ch, externalID), err)
	}
	c := flows.Conversation{Response: row.Row.domain(), Invitation: row.InvitationStatus, LastUpdateID: row.Row.LastUpdateID}
	if row.Row.State != "" {
		if err := json.Unmarshal([]byte(row.Row.State), &c.State); err != nil {
			db.log.WarnContext(ctx, "undecodable conversation state in SQL ignored", "response_id", row.Row.ID, "err", err)
		} else {
			c.HasState = true
		}
	}
	return c, nil
}
