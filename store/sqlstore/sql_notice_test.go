package sqlstore

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// HandoffNotice (one statement on PostgreSQL) reads what the four reads it
// replaces read: the handoff, its response's answers in order, the
// customer's scores in other responses and their other live cases.
func TestSQLHandoffNoticeReadsWhatTheNoticeShows(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		earlier := newTestCase(t, db, "C-notice")
		c, err := db.UpsertCustomer(ctx, "C-notice", "en")
		if err != nil {
			t.Fatal(err)
		}
		inv, _, err := db.CreateInvitation(ctx, flows.Invitation{
			WaveID: "wave-2", CustomerID: c.ID, EventID: "order-2", SurveyID: "delivery", SurveyVersion: 1,
			Channel: flows.ChannelTelegram, ExternalID: "chat-C-notice", Language: "en", Context: map[string]string{"order": "B-2"},
		})
		if err != nil {
			t.Fatal(err)
		}
		r, err := db.StartResponse(ctx, flows.Response{InvitationID: inv.ID, StartedAt: sqlT0})
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range []flows.StepWrite{
			{ResponseID: r.ID, At: sqlT0.Add(time.Hour),
				Answer:      &flows.Answer{QuestionID: "nps", Kind: flows.KindNPS, Score: sqlScore(1), Class: flows.ClassDetractor},
				OpenHandoff: &flows.Handoff{QuestionID: "nps", Kind: flows.KindNPS, Score: 1, Class: flows.ClassDetractor, Status: flows.HandoffAwaitingComment}},
			{ResponseID: r.ID, At: sqlT0.Add(2 * time.Hour), Answer: &flows.Answer{QuestionID: "why", Kind: flows.KindText, Text: `late "again" <b>`},
				HandoffComment: new(`late "again" <b>`), HandoffStatus: flows.HandoffOpen},
		} {
			if _, err := db.ApplyStep(ctx, w); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		}

		h, f, err := db.HandoffNotice(ctx, r.ID, 5)
		if err != nil {
			t.Fatal(err)
		}
		wantH, wantF, err := db.handoffNoticeReads(ctx, r.ID, 5)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(h, wantH) {
			t.Errorf("handoff\n got %+v\nwant %+v", h, wantH)
		}
		if !reflect.DeepEqual(f, wantF) {
			t.Errorf("facts\n got %+v\nwant %+v", f, wantF)
		}
		switch {
		case h.ResponseID != r.ID || h.Comment != `late "again" <b>` || h.Context["order"] != "B-2":
			t.Errorf("handoff %+v", h)
		case len(f.Answers) != 2 || f.Answers[0].QuestionID != "nps" || f.Answers[1].Text != `late "again" <b>` || !f.Answers[1].AnsweredAt.Equal(sqlT0.Add(2*time.Hour)):
			t.Errorf("answers %+v", f.Answers)
		case len(f.History) != 1 || f.History[0].Score != 2 || f.History[0].Kind != flows.KindNPS:
			t.Errorf("history %+v, want the earlier response's 2", f.History)
		case !reflect.DeepEqual(f.OtherCaseIDs, []int64{earlier.ID}):
			t.Errorf("other cases %v, want [%d]", f.OtherCaseIDs, earlier.ID)
		}

		if _, _, err := db.HandoffNotice(ctx, r.ID+1000, 5); !errors.Is(err, flows.ErrNotFound) {
			t.Errorf("a response without a handoff: %v, want ErrNotFound", err)
		}
	})
}
