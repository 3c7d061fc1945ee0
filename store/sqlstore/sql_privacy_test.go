package sqlstore

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// Erasing a customer removes what names them or what they wrote, in every
// table, and keeps their anonymous scores for the reports; another
// customer's rows are untouched.
func TestSQLEraseCustomer(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		h := newTestCase(t, db, "C-1")
		other := newTestCase(t, db, "C-2")
		for _, hh := range []flows.Handoff{h, other} {
			if _, err := db.AddCaseMessage(ctx, flows.CaseMessage{HandoffID: hh.ID, Author: flows.AuthorCustomer, Text: "my phone is 555", PhotoID: "ph-1"}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.LinkIdentity(ctx, flows.Identity{CustomerID: hh.CustomerID, Channel: flows.ChannelTelegram, ExternalID: hh.ExternalID}); err != nil {
				t.Fatal(err)
			}
		}
		for _, hh := range []flows.Handoff{h, other} {
			if err := insertOutbox(db.conn(ctx), flows.OutboxEvent{Event: flows.EventHandoffOpened, SubjectID: hh.ID, Payload: []byte(`{"customer_ref":"x"}`)}, sqlT0); err != nil {
				t.Fatal(err)
			}
		}
		before, err := db.NPSReport(ctx, "delivery", nil, nil)
		if err != nil {
			t.Fatal(err)
		}

		er, err := db.EraseCustomer(ctx, "C-1", "cli:ops")
		if err != nil {
			t.Fatalf("EraseCustomer: %v", err)
		}
		pseudonym := flows.ErasedRef(h.CustomerID)
		if er.Audit.Actor != "cli:ops" || er.Audit.Action != flows.PrivacyErase || er.Audit.Subject != pseudonym {
			t.Errorf("audit = %+v", er.Audit)
		}
		for table, want := range map[string]int64{"channel_identities": 1, "handoff_messages": 1, "handoffs": 1, "customers": 1, "invitations": 1, "responses": 1} {
			if got := er.Audit.Rows[table]; got != want {
				t.Errorf("rows[%s] = %d, want %d (all: %v)", table, got, want, er.Audit.Rows)
			}
		}
		if len(er.Chats) != 1 || er.Chats[0] != (flows.ChatRef{Channel: flows.ChannelTelegram, ExternalID: "chat-C-1"}) {
			t.Errorf("chats = %+v", er.Chats)
		}
		if _, err := db.CustomerByRef(ctx, "C-1"); !errors.Is(err, flows.ErrNotFound) {
			t.Errorf("CustomerByRef(C-1) after erase = %v, want ErrNotFound", err)
		}
		if c, err := db.CustomerByRef(ctx, pseudonym); err != nil || c.ID != h.CustomerID {
			t.Errorf("CustomerByRef(%s) = %+v, %v", pseudonym, c, err)
		}
		if _, _, err := db.IdentityByExternal(ctx, flows.ChannelTelegram, "chat-C-1"); !errors.Is(err, flows.ErrNotFound) {
			t.Errorf("chat still linked after erase: %v", err)
		}
		got, err := db.Handoff(ctx, h.ID)
		if err != nil || got.Comment != "" || got.CustomerRef != pseudonym || got.ExternalID != "" || len(got.Context) != 0 || got.Score != 2 {
			t.Errorf("handoff after erase = %+v, %v", got, err)
		}
		msgs, err := db.CaseMessages(ctx, h.ID)
		if err != nil || len(msgs) != 1 || msgs[0].Text != "" || msgs[0].PhotoID != "" {
			t.Errorf("messages after erase = %+v, %v", msgs, err)
		}
		answers, err := db.Answers(ctx, h.ResponseID)
		if err != nil || len(answers) != 1 || answers[0].Score == nil || *answers[0].Score != 2 || answers[0].Class != flows.ClassDetractor {
			t.Errorf("answers after erase = %+v, %v; want the score kept", answers, err)
		}
		after, err := db.NPSReport(ctx, "delivery", nil, nil)
		if err != nil || !reflect.DeepEqual(before, after) {
			t.Errorf("report changed by erase:\n before %+v\n after  %+v (%v)", before, after, err)
		}
		for _, row := range outboxEvents(t, db) {
			if row.SubjectID == h.ID && row.Event != string(flows.EventResponseCompleted) {
				t.Errorf("outbox still holds %s about the erased case", row.Event)
			}
		}
		if er.Audit.Rows["webhook_outbox"] < 1 || len(outboxEvents(t, db)) < 1 {
			t.Errorf("outbox: erased %d rows, %d left (the other customer's must stay)", er.Audit.Rows["webhook_outbox"], len(outboxEvents(t, db)))
		}
		// The other customer keeps everything.
		o, err := db.Handoff(ctx, other.ID)
		if err != nil || o.Comment != "late" || o.CustomerRef != "C-2" {
			t.Errorf("other customer's handoff = %+v, %v", o, err)
		}
		if msgs, _ := db.CaseMessages(ctx, other.ID); len(msgs) != 1 || msgs[0].Text != "my phone is 555" {
			t.Errorf("other customer's messages = %+v", msgs)
		}
		// Erasing again (or an unknown ref) is not found, and not audited.
		if _, err := db.EraseCustomer(ctx, "C-1", "api"); !errors.Is(err, flows.ErrNotFound) {
			t.Errorf("erase twice = %v, want ErrNotFound", err)
		}
		if _, err := db.EraseCustomer(ctx, "", "api"); !errors.Is(err, flows.ErrInvalid) {
			t.Errorf("erase empty ref = %v, want ErrInvalid", err)
		}
		audit, err := db.PrivacyAudit(ctx, 10)
		if err != nil || len(audit) != 1 || audit[0].Rows["customers"] != 1 || audit[0].At.IsZero() {
			t.Errorf("audit = %+v, %v", audit, err)
		}
	})
}

// The retention blanks free text written before the cut-off only, and is
// audited with its counts.
func TestSQLPurgeTextBefore(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		_, r := newTestResponse(t, db, "C-1", "delivery")
		old := sqlT0.Add(-400 * 24 * time.Hour)
		for _, a := range []flows.StepWrite{
			{ResponseID: r.ID, Answer: &flows.Answer{QuestionID: "nps", Kind: flows.KindNPS, Score: sqlScore(9), Class: flows.ClassPromoter, AnsweredAt: old}, At: old},
			{ResponseID: r.ID, Answer: &flows.Answer{QuestionID: "why", Kind: flows.KindText, Text: "old words", AnsweredAt: old}, At: old},
			{ResponseID: r.ID, Answer: &flows.Answer{QuestionID: "more", Kind: flows.KindText, Text: "new words", AnsweredAt: sqlT0}, At: sqlT0},
		} {
			if _, err := db.ApplyStep(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		audit, err := db.PurgeTextBefore(ctx, sqlT0.Add(-365*24*time.Hour), flows.PrivacyActorRetention)
		if err != nil {
			t.Fatal(err)
		}
		if audit.Rows["answers"] != 1 || audit.Actor != "retention" || audit.Action != flows.PrivacyRetention {
			t.Errorf("audit = %+v", audit)
		}
		answers, err := db.Answers(ctx, r.ID)
		if err != nil || len(answers) != 3 {
			t.Fatalf("answers = %+v, %v", answers, err)
		}
		texts := map[string]string{}
		for _, a := range answers {
			texts[a.QuestionID] = a.Text
		}
		if texts["why"] != "" || texts["more"] != "new words" || answers[0].Score == nil || *answers[0].Score != 9 {
			t.Errorf("after purge: %+v", answers)
		}
		again, err := db.PurgeTextBefore(ctx, sqlT0.Add(-365*24*time.Hour), flows.PrivacyActorRetention)
		if err != nil || again.Rows["answers"] != 0 {
			t.Errorf("purge again = %+v, %v; want nothing left", again, err)
		}
	})
}
