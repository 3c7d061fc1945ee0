package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// noticeCases bounds the other live cases a notice lists.
const noticeCases = 20

// The history's ORDER BY is on an expression, not on answered_at itself:
// ordered by the column, with statistics that lag a fast-growing answers
// table, PostgreSQL walked answers_answered_idx backwards over every answer
// to find a customer's five (measured: 3.6 s per notice at 100,000 answers,
// found by `cxbot bench --apart --customers 100000`); this way it starts from
// the customer's responses.

// HandoffNotice reads a response's handoff with what the agents' notice
// shows: the response's answers, the customer's latest history scores in
// other responses and their other live cases. The notice is on a
// detractor's path, so on PostgreSQL this is one statement (the three lists
// as JSON aggregates beside the handoff's row); elsewhere, one read each.
func (db *DB) HandoffNotice(ctx context.Context, responseID int64, history int) (flows.Handoff, flows.NoticeFacts, error) {
	if !db.dialect.noticeAtOnce {
		return db.handoffNoticeReads(ctx, responseID, history)
	}
	op := fmt.Sprintf("notice of the handoff of response %d", responseID)
	var row struct {
		Handoff                                   handoffRow
		NoticeAnswers, NoticeHistory, NoticeCases string
	}
	dest := append(row.Handoff.fields(), &row.NoticeAnswers, &row.NoticeHistory, &row.NoticeCases)
	err := db.rawRow(ctx, `SELECT `+prefixColumns("h.", handoffColumns)+`,
    COALESCE((SELECT json_agg(json_build_object('question_id', a.question_id, 'kind', a.kind, 'score', a.score,
            'choice', a.choice, 'text', a.text, 'class', a.class, 'skipped', a.skipped, 'answered_at', a.answered_at)
        ORDER BY a.answered_at, a.id) FROM answers a WHERE a.response_id = h.response_id), '[]') AS notice_answers,
    COALESCE((SELECT json_agg(json_build_object('survey_id', p.survey_id, 'kind', p.kind, 'score', p.score,
            'class', p.class, 'answered_at', p.answered_at) ORDER BY p.answered_at DESC)
        FROM (SELECT r.survey_id, a.kind, a.score, a.class, a.answered_at
            FROM answers a JOIN responses r ON r.id = a.response_id
            WHERE r.customer_id = h.customer_id AND r.id <> h.response_id AND a.score IS NOT NULL AND a.skipped = ?
            ORDER BY (a.answered_at + INTERVAL '0 seconds') DESC LIMIT ?) p), '[]') AS notice_history,
    COALESCE((SELECT json_agg(c.id ORDER BY c.id DESC)
        FROM (SELECT id FROM handoffs WHERE customer_id = h.customer_id AND id <> h.id AND status IN ?
            ORDER BY id DESC LIMIT ?) c), '[]') AS notice_cases
FROM handoffs h WHERE h.response_id = ?`,
		[]any{false, listLimit(history), statusStrings(flows.LiveHandoffStatuses()), noticeCases, responseID},
		dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return flows.Handoff{}, flows.NoticeFacts{}, fmt.Errorf("%s: %w", op, flows.ErrNotFound)
	}
	if err != nil {
		return flows.Handoff{}, flows.NoticeFacts{}, sqlErr(op, err)
	}
	var (
		answers []struct {
			QuestionID string    `json:"question_id"`
			Kind       string    `json:"kind"`
			Score      *int      `json:"score"`
			Choice     string    `json:"choice"`
			Text       string    `json:"text"`
			Class      string    `json:"class"`
			Skipped    bool      `json:"skipped"`
			AnsweredAt time.Time `json:"answered_at"`
		}
		scores []struct {
			SurveyID   string    `json:"survey_id"`
			Kind       string    `json:"kind"`
			Score      int       `json:"score"`
			Class      string    `json:"class"`
			AnsweredAt time.Time `json:"answered_at"`
		}
		f flows.NoticeFacts
	)
	for _, part := range []struct {
		json string
		into any
	}{{row.NoticeAnswers, &answers}, {row.NoticeHistory, &scores}, {row.NoticeCases, &f.OtherCaseIDs}} {
		if err := json.Unmarshal([]byte(part.json), part.into); err != nil {
			return flows.Handoff{}, flows.NoticeFacts{}, fmt.Errorf("%s: decode: %w", op, err)
		}
	}
	f.Answers = make([]flows.Answer, len(answers))
	for i, a := range answers {
		f.Answers[i] = answerRow{QuestionID: a.QuestionID, Kind: a.Kind, Score: a.Score, Choice: a.Choice, Text: a.Text,
			Class: a.Class, Skipped: a.Skipped, AnsweredAt: a.AnsweredAt}.domain()
	}
	f.History = make([]flows.PastScore, len(scores))
	for i, p := range scores {
		f.History[i] = flows.PastScore{SurveyID: p.SurveyID, Kind: flows.Kind(p.Kind), Score: p.Score, Class: flows.Class(p.Class), AnsweredAt: p.AnsweredAt.UTC()}
	}
	return row.Handoff.domain(), f, nil
}

// handoffNoticeReads is HandoffNotice as one read per part.
func (db *DB) handoffNoticeReads(ctx context.Context, responseID int64, history int) (flows.Handoff, flows.NoticeFacts, error) {
	var f flows.NoticeFacts
	h, err := db.HandoffForResponse(ctx, responseID)
	if err != nil {
		return flows.Handoff{}, f, err
	}
	if f.Answers, err = db.Answers(ctx, responseID); err != nil {
		return flows.Handoff{}, f, err
	}
	if f.History, err = db.CustomerScores(ctx, h.CustomerID, responseID, history); err != nil {
		return flows.Handoff{}, f, err
	}
	others, err := db.CustomerCases(ctx, h.CustomerID, h.ID)
	if err != nil {
		return flows.Handoff{}, f, err
	}
	for i, o := range others {
		if i == noticeCases {
			break
		}
		f.OtherCaseIDs = append(f.OtherCaseIDs, o.ID)
	}
	return h, f, nil
}
