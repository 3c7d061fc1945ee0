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
func (db *DB) ApplyStep(ctx context.Context, w flows.StepWrite) (answerInserted bool, err error) {
	op := fmt.Sprintf("apply step to response %d", w.ResponseID)
	if err := w.Validate(); err != nil {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	at := db.at(w.At)

	err = db.conn(ctx).Transaction(func(tx *gorm.DB) error {
		// Lock the response (PostgreSQL) so steps of one response serialise
		// even if two replicas ever handle the same chat.
		var resp responseRow
		if err := tx.Clauses(forUpdate()).Where("id = ?", w.ResponseID).Take(&resp).Error; err != nil {
			return err
		}
		if w.UpdateID != "" {
			switch resp.LastUpdateID {
			case w.UpdateID:
				return flows.ErrApplied
			case w.ExpectUpdateID:
			default:
				return fmt.Errorf("%w: the response moved on to update %q, the caller's state is from %q",
					flows.ErrConflict, resp.LastUpdateID, w.ExpectUpdateID)
			}
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
			if answerInserted {
				err := tx.Model(&invitationRow{}).
					Where("id = ? AND status IN ?", resp.InvitationID, statusStrings(flows.InvitationsAnswerStarts())).
					Updates(map[string]any{"status": string(flows.InvitationStarted), "updated_at": at}).Error
				if err != nil {
					return fmt.Errorf("mark invitation started: %w", err)
				}
			}
		}

		if w.OpenHandoff != nil {
			row, err := db.handoffRowFor(tx, resp, *w.OpenHandoff, at)
			if err != nil {
				return err
			}
			res := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "response_id"}}, DoNothing: true}).Create(&row)
			if res.Error != nil {
				return fmt.Errorf("insert handoff: %w", res.Error)
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

		respSet := map[string]any{}
		if w.State != nil {
			state, err := json.Marshal(w.State)
			if err != nil {
				return fmt.Errorf("encode state: %w", err)
			}
			respSet["state"] = string(state)
		}
		if w.UpdateID != "" {
			respSet["last_update_id"] = w.UpdateID
		}
		finish := w.Finish != "" && resp.Status.Finish(w.Finish)
		if finish {
			respSet["status"], respSet["completed_at"] = string(w.Finish), at
		}
		if len(respSet) > 0 {
			if err := tx.Model(&responseRow{}).Where("id = ?", resp.ID).Updates(respSet).Error; err != nil {
				return fmt.Errorf("update response: %w", err)
			}
		}
		if finish {
			// Only an invitation that reached the customer moves on; one still
			// planned (a send to retry) or failed keeps its status.
			err = tx.Model(&invitationRow{}).
				Where("id = ? AND status IN ?", resp.InvitationID, statusStrings(flows.RunningInvitationStatuses())).
				Updates(map[string]any{"status": string(flows.FinishedInvitation(w.Finish)), "updated_at": at}).Error
			if err != nil {
				return fmt.Errorf("finish invitation: %w", err)
			}
		}
		return nil
	})
	if errors.Is(err, flows.ErrApplied) {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	if err != nil {
		return false, sqlErr(op, err)
	}
	return answerInserted, nil
}

// handoffRowFor builds the handoff row of a step, completing what the
// caller left zero from the response and, only if still missing, from the
// customer (ref) and the invitation (event context).
func (db *DB) handoffRowFor(tx *gorm.DB, resp responseRow, h flows.Handoff, at time.Time) (handoffRow, error) {
	row := handoffRow{
		ResponseID:  resp.ID,
		CustomerID:  coalesce(h.CustomerID, resp.CustomerID),
		CustomerRef: h.CustomerRef,
		SurveyID:    coalesce(h.SurveyID, resp.SurveyID),
		QuestionID:  h.QuestionID,
		Kind:        string(h.Kind),
		Score:       h.Score,
		Class:       string(h.Class),
		Comment:     h.Comment,
		Channel:     coalesce(string(h.Channel), resp.Channel),
		ExternalID:  coalesce(h.ExternalID, resp.ExternalID),
		Context:     contextJSON(h.Context),
		Status:      coalesce(h.Status, flows.HandoffOpen),
		NotifiedAt:  sqlTimePtr(h.NotifiedAt),
		CreatedAt:   orTime(h.CreatedAt, at),
		UpdatedAt:   at,
	}
	if !row.Status.Valid() {
		return handoffRow{}, fmt.Errorf("open handoff: %w: unknown status %q", flows.ErrInvalid, row.Status)
	}
	if row.CustomerRef == "" {
		var c customerRow
		if err := tx.Select("ref").Where("id = ?", row.CustomerID).Take(&c).Error; err != nil {
			return handoffRow{}, fmt.Errorf("customer of handoff: %w", err)
		}
		row.CustomerRef = c.Ref
	}
	if h.Context == nil {
		var inv invitationRow
		if err := tx.Select("context").Where("id = ?", resp.InvitationID).Take(&inv).Error; err != nil {
			return handoffRow{}, fmt.Errorf("invitation of handoff: %w", err)
		}
		row.Context = coalesce(inv.Context, "{}")
	}
	return row, nil
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
