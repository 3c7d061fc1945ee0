package sqlstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// sqlT0 is the base time of the repository tests.
var sqlT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func sqlScore(n int) *int { return &n }

func sameTime(a, b time.Time) bool { return a.Equal(b) }

func sameTimePtr(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

func wantErrIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error = %v, want %v", what, err, target)
	}
}

// newTestResponse creates a customer, an invitation and a started response
// on the survey, in the customer's Telegram chat "chat-<ref>".
func newTestResponse(t *testing.T, db *DB, ref, surveyID string) (flows.Invitation, flows.Response) {
	t.Helper()
	ctx := sqlTestCtx(t)
	c, err := db.UpsertCustomer(ctx, ref, "en")
	if err != nil {
		t.Fatalf("UpsertCustomer: %v", err)
	}
	inv, _, err := db.CreateInvitation(ctx, flows.Invitation{
		WaveID: "wave-1", CustomerID: c.ID, EventID: "order-" + ref, SurveyID: surveyID, SurveyVersion: 1,
		Channel: flows.ChannelTelegram, ExternalID: "chat-" + ref, Language: "en",
		Context: map[string]string{"order": "A-" + ref},
	})
	if err != nil {
		t.Fatalf("CreateInvitation: %v", err)
	}
	r, err := db.StartResponse(ctx, flows.Response{InvitationID: inv.ID, StartedAt: sqlT0})
	if err != nil {
		t.Fatalf("StartResponse: %v", err)
	}
	return inv, r
}

func testSurvey(id string) *flows.Survey {
	return &flows.Survey{
		ID:              id,
		Title:           flows.Text{"en": "How did we do?", "zh-CN": "我们做得怎么样？"},
		DefaultLanguage: "en",
		Questions: []flows.Question{
			{ID: "nps", Kind: flows.KindNPS, Prompt: flows.Text{"en": "Recommend us?"}, Next: "why",
				Branches: []flows.Branch{{When: "detractor", Goto: "why"}}},
			{ID: "why", Kind: flows.KindText, Prompt: flows.Text{"en": "Why?"}, Optional: true},
		},
		Source: "configs/surveys/" + id + ".yaml",
	}
}

func TestSQLSaveSurvey(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		s := testSurvey("delivery")
		save := func(s *flows.Survey, want int) {
			t.Helper()
			v, err := db.SaveSurvey(ctx, s)
			if err != nil || v != want {
				t.Fatalf("SaveSurvey = %d, %v; want %d", v, err, want)
			}
		}
		save(s, 1)
		save(s, 1) // unchanged: same version

		moved := *s
		moved.Source = "/elsewhere/delivery.yaml"
		moved.Version = 7
		save(&moved, 1) // Source and Version are not part of the definition
		if s.Version != 0 {
			t.Errorf("SaveSurvey modified its argument: Version = %d", s.Version)
		}

		changed := testSurvey("delivery")
		changed.Questions[0].Prompt = flows.Text{"en": "Would you recommend us to a friend?"}
		save(changed, 2)
		save(changed, 2)
		save(testSurvey("other"), 1)
		save(s, 3) // back to the first wording: still a change from the latest

		var row surveyRow
		if err := db.gorm.Where("survey_id = ? AND version = ?", "delivery", 2).Take(&row).Error; err != nil {
			t.Fatal(err)
		}
		var stored flows.Survey
		if err := json.Unmarshal([]byte(row.Definition), &stored); err != nil {
			t.Fatalf("definition is not a JSON survey: %v", err)
		}
		if stored.Version != 2 || stored.Questions[0].Prompt["en"] != "Would you recommend us to a friend?" {
			t.Errorf("stored definition = version %d, prompt %q", stored.Version, stored.Questions[0].Prompt["en"])
		}
		if fp, _ := surveyFingerprint(changed); row.Fingerprint != fp || len(fp) != 64 {
			t.Errorf("fingerprint = %q, want sha256 %q", row.Fingerprint, fp)
		}

		_, err := db.SaveSurvey(ctx, &flows.Survey{})
		wantErrIs(t, "SaveSurvey(no id)", err, flows.ErrInvalid)
	})
}

// TestSQLSaveSurveyConcurrent: replicas starting together agree on versions.
func TestSQLSaveSurveyConcurrent(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		const n = 8
		versions := make([]int, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				versions[i], errs[i] = db.SaveSurvey(ctx, testSurvey("concurrent"))
			})
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil || versions[i] != 1 {
				t.Fatalf("replica %d: SaveSurvey = %d, %v; want 1", i, versions[i], errs[i])
			}
		}
		var rows int64
		db.gorm.Model(&surveyRow{}).Where("survey_id = ?", "concurrent").Count(&rows)
		if rows != 1 {
			t.Fatalf("%d rows for one definition, want 1", rows)
		}
	})
}

func TestSQLCustomerUpsert(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		c, err := db.UpsertCustomer(ctx, "cust-1", "")
		if err != nil || c.ID == 0 || c.Ref != "cust-1" || c.Language != "" || !sameTime(c.CreatedAt, db.Now()) {
			t.Fatalf("UpsertCustomer(new) = %+v, %v", c, err)
		}
		c2, err := db.UpsertCustomer(ctx, "cust-1", "de")
		if err != nil || c2.ID != c.ID || c2.Language != "de" {
			t.Fatalf("UpsertCustomer(language first known) = %+v, %v; want id %d, de", c2, err, c.ID)
		}
		c3, err := db.UpsertCustomer(ctx, "cust-1", "fr")
		if err != nil || c3.ID != c.ID || c3.Language != "de" {
			t.Fatalf("UpsertCustomer(other language) = %+v, %v; want de kept", c3, err)
		}
		byRef, err := db.CustomerByRef(ctx, "cust-1")
		if err != nil || byRef.ID != c.ID {
			t.Fatalf("CustomerByRef = %+v, %v", byRef, err)
		}
		byID, err := db.Customer(ctx, c.ID)
		if err != nil || byID.Ref != "cust-1" {
			t.Fatalf("Customer = %+v, %v", byID, err)
		}

		_, err = db.CustomerByRef(ctx, "nobody")
		wantErrIs(t, "CustomerByRef(missing)", err, flows.ErrNotFound)
		_, err = db.Customer(ctx, 99999)
		wantErrIs(t, "Customer(missing)", err, flows.ErrNotFound)
		_, err = db.UpsertCustomer(ctx, "", "en")
		wantErrIs(t, "UpsertCustomer(no ref)", err, flows.ErrInvalid)
	})
}

func TestSQLCustomerOptOutKept(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		c, err := db.UpsertCustomer(ctx, "cust-1", "en")
		if err != nil {
			t.Fatal(err)
		}
		t1, t2 := sqlT0.Add(time.Hour), sqlT0.Add(2*time.Hour)
		get := func() flows.Customer {
			t.Helper()
			got, err := db.Customer(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}

		if err := db.OptOut(ctx, c.ID, t1); err != nil {
			t.Fatal(err)
		}
		if err := db.OptOut(ctx, c.ID, t2); err != nil {
			t.Fatalf("second OptOut: %v", err)
		}
		if got := get(); !sameTimePtr(got.OptedOutAt, &t1) {
			t.Fatalf("OptedOutAt = %v, want the first opt-out %v", got.OptedOutAt, t1)
		}
		if err := db.OptIn(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if got := get(); got.OptedOutAt != nil {
			t.Fatalf("OptedOutAt after OptIn = %v", got.OptedOutAt)
		}
		if err := db.OptOut(ctx, c.ID, t2); err != nil {
			t.Fatal(err)
		}
		if got := get(); !sameTimePtr(got.OptedOutAt, &t2) {
			t.Fatalf("OptedOutAt after opting out again = %v, want %v", got.OptedOutAt, t2)
		}

		if err := db.MarkUnreachable(ctx, c.ID, t1); err != nil {
			t.Fatal(err)
		}
		if err := db.MarkUnreachable(ctx, c.ID, t2); err != nil {
			t.Fatal(err)
		}
		if got := get(); !sameTimePtr(got.UnreachableAt, &t1) {
			t.Fatalf("UnreachableAt = %v, want %v", got.UnreachableAt, t1)
		}
		if err := db.ClearUnreachable(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if got := get(); got.UnreachableAt != nil || !sameTimePtr(got.OptedOutAt, &t2) {
			t.Fatalf("after ClearUnreachable: %+v", got)
		}

		for name, err := range map[string]error{
			"OptOut":           db.OptOut(ctx, 99999, t1),
			"OptIn":            db.OptIn(ctx, 99999),
			"MarkUnreachable":  db.MarkUnreachable(ctx, 99999, t1),
			"ClearUnreachable": db.ClearUnreachable(ctx, 99999),
		} {
			wantErrIs(t, name+"(missing customer)", err, flows.ErrNotFound)
		}
	})
}

func TestSQLCustomerIdentityRelink(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		alice, _ := db.UpsertCustomer(ctx, "alice", "en")
		bob, _ := db.UpsertCustomer(ctx, "bob", "en")
		t1, t2, t3 := sqlT0, sqlT0.Add(time.Minute), sqlT0.Add(2*time.Minute)

		id1, err := db.LinkIdentity(ctx, flows.Identity{CustomerID: alice.ID, Channel: flows.ChannelTelegram,
			ExternalID: "100", Username: "alice_tg", Language: "en", LinkedAt: t1})
		if err != nil || id1.ID == 0 || id1.CustomerID != alice.ID || !sameTime(id1.LinkedAt, t1) {
			t.Fatalf("LinkIdentity = %+v, %v", id1, err)
		}
		ident, cust, err := db.IdentityByExternal(ctx, flows.ChannelTelegram, "100")
		if err != nil || ident.ID != id1.ID || cust.ID != alice.ID || cust.Ref != "alice" {
			t.Fatalf("IdentityByExternal = %+v, %+v, %v", ident, cust, err)
		}

		// Same owner again: username kept when not given, language refreshed, LinkedAt kept.
		id2, err := db.LinkIdentity(ctx, flows.Identity{CustomerID: alice.ID, Channel: flows.ChannelTelegram,
			ExternalID: "100", Language: "de", LinkedAt: t2})
		if err != nil || id2.ID != id1.ID || id2.Username != "alice_tg" || id2.Language != "de" || !sameTime(id2.LinkedAt, t1) {
			t.Fatalf("LinkIdentity(same owner) = %+v, %v", id2, err)
		}

		// The chat moves to bob.
		id3, err := db.LinkIdentity(ctx, flows.Identity{CustomerID: bob.ID, Channel: flows.ChannelTelegram,
			ExternalID: "100", Username: "bob_tg", LinkedAt: t3})
		if err != nil || id3.ID != id1.ID || id3.CustomerID != bob.ID || id3.Username != "bob_tg" || !sameTime(id3.LinkedAt, t3) {
			t.Fatalf("LinkIdentity(relink) = %+v, %v", id3, err)
		}
		_, cust, err = db.IdentityByExternal(ctx, flows.ChannelTelegram, "100")
		if err != nil || cust.ID != bob.ID {
			t.Fatalf("after relink the chat belongs to %+v, %v; want bob", cust, err)
		}

		// The same external id on another channel is another chat.
		wc, err := db.LinkIdentity(ctx, flows.Identity{CustomerID: alice.ID, Channel: flows.ChannelWeChat, ExternalID: "100"})
		if err != nil || wc.ID == id1.ID || wc.CustomerID != alice.ID || !sameTime(wc.LinkedAt, db.Now()) {
			t.Fatalf("LinkIdentity(wechat) = %+v, %v", wc, err)
		}

		_, _, err = db.IdentityByExternal(ctx, flows.ChannelTelegram, "404")
		wantErrIs(t, "IdentityByExternal(missing)", err, flows.ErrNotFound)
		_, err = db.LinkIdentity(ctx, flows.Identity{CustomerID: 99999, Channel: flows.ChannelTelegram, ExternalID: "200"})
		wantErrIs(t, "LinkIdentity(missing customer)", err, flows.ErrNotFound)
		_, err = db.LinkIdentity(ctx, flows.Identity{CustomerID: alice.ID, Channel: flows.ChannelTelegram})
		wantErrIs(t, "LinkIdentity(no external id)", err, flows.ErrInvalid)
	})
}

func TestSQLInvitationUnique(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		c, _ := db.UpsertCustomer(ctx, "cust-1", "en")
		want := flows.Invitation{
			WaveID: "after-delivery", CustomerID: c.ID, EventID: "evt-1", SurveyID: "delivery", SurveyVersion: 2,
			Channel: flows.ChannelTelegram, ExternalID: "100", Language: "en",
			Context: map[string]string{"order": "A-1", "store": "Berlin"},
		}
		inv, created, err := db.CreateInvitation(ctx, want)
		if err != nil || !created || inv.ID == 0 {
			t.Fatalf("CreateInvitation = %+v, %v, %v", inv, created, err)
		}
		if inv.Status != flows.InvitationPlanned || inv.CustomerRef != "cust-1" || !maps.Equal(inv.Context, want.Context) ||
			inv.SurveyVersion != 2 || !sameTime(inv.CreatedAt, db.Now()) || inv.SentAt != nil {
			t.Fatalf("created invitation = %+v", inv)
		}

		again := want
		again.Context = map[string]string{"order": "changed"}
		dup, created, err := db.CreateInvitation(ctx, again)
		if err != nil || created || dup.ID != inv.ID || dup.Context["order"] != "A-1" {
			t.Fatalf("CreateInvitation(duplicate) = %+v, created=%v, %v; want the first, created=false", dup, created, err)
		}

		other := want
		other.EventID = "evt-2"
		inv2, created, err := db.CreateInvitation(ctx, other)
		if err != nil || !created || inv2.ID == inv.ID {
			t.Fatalf("CreateInvitation(other event) = %+v, %v, %v", inv2, created, err)
		}

		got, err := db.Invitation(ctx, inv.ID)
		if err != nil || got.ID != inv.ID || got.CustomerRef != "cust-1" || got.WaveID != "after-delivery" {
			t.Fatalf("Invitation = %+v, %v", got, err)
		}
		_, err = db.Invitation(ctx, 99999)
		wantErrIs(t, "Invitation(missing)", err, flows.ErrNotFound)

		sentAt := sqlT0.Add(time.Minute)
		if err := db.SetInvitationStatus(ctx, inv.ID, flows.InvitationSent, "", sentAt); err != nil {
			t.Fatal(err)
		}
		got, _ = db.Invitation(ctx, inv.ID)
		if got.Status != flows.InvitationSent || !sameTimePtr(got.SentAt, &sentAt) {
			t.Fatalf("after sent: status %s, sent_at %v", got.Status, got.SentAt)
		}
		if err := db.SetInvitationStatus(ctx, inv2.ID, flows.InvitationFailed, "forbidden: bot was blocked", sentAt); err != nil {
			t.Fatal(err)
		}
		got, _ = db.Invitation(ctx, inv2.ID)
		if got.Status != flows.InvitationFailed || got.Error != "forbidden: bot was blocked" || got.SentAt != nil {
			t.Fatalf("after failed: %+v", got)
		}

		wantErrIs(t, "SetInvitationStatus(unknown status)",
			db.SetInvitationStatus(ctx, inv.ID, "bogus", "", sentAt), flows.ErrInvalid)
		wantErrIs(t, "SetInvitationStatus(missing)",
			db.SetInvitationStatus(ctx, 99999, flows.InvitationSent, "", sentAt), flows.ErrNotFound)
		missing := want
		missing.CustomerID = 99999
		_, _, err = db.CreateInvitation(ctx, missing)
		wantErrIs(t, "CreateInvitation(missing customer)", err, flows.ErrNotFound)
		_, _, err = db.CreateInvitation(ctx, flows.Invitation{CustomerID: c.ID, SurveyID: "x"})
		wantErrIs(t, "CreateInvitation(no wave)", err, flows.ErrInvalid)
	})
}

// TestSQLInvitationConcurrent: invariant 3, any number of concurrent
// creators make exactly one invitation per wave × customer × event.
func TestSQLInvitationConcurrent(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		c, _ := db.UpsertCustomer(ctx, "cust-1", "en")
		const n = 20
		ids := make([]int64, n)
		created := make([]bool, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				inv, ok, err := db.CreateInvitation(ctx, flows.Invitation{
					WaveID: "w", CustomerID: c.ID, EventID: "e", SurveyID: "s",
					Context: map[string]string{"caller": fmt.Sprint(i)},
				})
				ids[i], created[i], errs[i] = inv.ID, ok, err
			})
		}
		close(start)
		wg.Wait()
		winners := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("caller %d: %v", i, errs[i])
			}
			if ids[i] != ids[0] {
				t.Fatalf("caller %d got invitation %d, caller 0 got %d", i, ids[i], ids[0])
			}
			if created[i] {
				winners++
			}
		}
		var rows int64
		db.gorm.Model(&invitationRow{}).Count(&rows)
		if winners != 1 || rows != 1 {
			t.Fatalf("created=true %d times, %d rows; want exactly one", winners, rows)
		}
	})
}

func TestSQLStartResponse(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		inv, r := newTestResponse(t, db, "cust-1", "delivery")
		if r.ID == 0 || r.InvitationID != inv.ID || r.CustomerID != inv.CustomerID || r.SurveyID != "delivery" ||
			r.SurveyVersion != 1 || r.Channel != flows.ChannelTelegram || r.ExternalID != "chat-cust-1" ||
			r.Language != "en" || r.Status != flows.ResponseStarted || !sameTime(r.StartedAt, sqlT0) || r.CompletedAt != nil {
			t.Fatalf("StartResponse = %+v (invitation %+v)", r, inv)
		}
		got, _ := db.Invitation(ctx, inv.ID)
		if got.Status != inv.Status {
			t.Fatalf("invitation status = %s, want %s until the first answer", got.Status, inv.Status)
		}

		again, err := db.StartResponse(ctx, flows.Response{InvitationID: inv.ID, StartedAt: sqlT0.Add(time.Hour)})
		if err != nil || again.ID != r.ID || !sameTime(again.StartedAt, sqlT0) {
			t.Fatalf("StartResponse(again) = %+v, %v; want the first response", again, err)
		}
		byID, err := db.Response(ctx, r.ID)
		if err != nil || byID != r {
			t.Fatalf("Response = %+v, %v; want %+v", byID, err, r)
		}
		open, err := db.OpenResponseForChat(ctx, flows.ChannelTelegram, "chat-cust-1")
		if err != nil || open.ID != r.ID {
			t.Fatalf("OpenResponseForChat = %+v, %v", open, err)
		}

		// The first answer marks the invitation started; a late "sent"
		// report does not pull it back.
		if _, err := db.ApplyStep(ctx, flows.StepWrite{ResponseID: r.ID, Answer: &flows.Answer{QuestionID: "q1", Kind: flows.KindText, Text: "hi"}, At: sqlT0}); err != nil {
			t.Fatal(err)
		}
		sentAt := sqlT0.Add(time.Second)
		if err := db.SetInvitationStatus(ctx, inv.ID, flows.InvitationSent, "", sentAt); err != nil {
			t.Fatal(err)
		}
		got, _ = db.Invitation(ctx, inv.ID)
		if got.Status != flows.InvitationStarted || !sameTimePtr(got.SentAt, &sentAt) {
			t.Fatalf("after late sent: status %s sent_at %v; want started, %v", got.Status, got.SentAt, sentAt)
		}

		_, err = db.OpenResponseForChat(ctx, flows.ChannelTelegram, "no-such-chat")
		wantErrIs(t, "OpenResponseForChat(none)", err, flows.ErrNotFound)
		_, err = db.Response(ctx, 99999)
		wantErrIs(t, "Response(missing)", err, flows.ErrNotFound)
		_, err = db.StartResponse(ctx, flows.Response{InvitationID: 99999})
		wantErrIs(t, "StartResponse(missing invitation)", err, flows.ErrNotFound)
	})
}

func TestSQLApplyStep(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		inv, r := newTestResponse(t, db, "cust-1", "delivery")
		at := sqlT0.Add(time.Minute)
		detractor := flows.Answer{QuestionID: "nps", Kind: flows.KindNPS, Score: sqlScore(3), Class: flows.ClassDetractor}
		step := flows.StepWrite{
			ResponseID: r.ID,
			Answer:     &detractor,
			OpenHandoff: &flows.Handoff{QuestionID: "nps", Kind: flows.KindNPS, Score: 3, Class: flows.ClassDetractor,
				Status: flows.HandoffAwaitingComment},
			At: at,
		}
		inserted, err := db.ApplyStep(ctx, step)
		if err != nil || !inserted {
			t.Fatalf("ApplyStep = %v, %v; want inserted", inserted, err)
		}
		h, err := db.HandoffForResponse(ctx, r.ID)
		if err != nil || h.ID == 0 || h.Status != flows.HandoffAwaitingComment || h.CustomerID != inv.CustomerID ||
			h.CustomerRef != "cust-1" || h.SurveyID != "delivery" || h.Score != 3 || h.Class != flows.ClassDetractor ||
			h.Channel != flows.ChannelTelegram || h.ExternalID != "chat-cust-1" || h.Context["order"] != "A-cust-1" ||
			!sameTime(h.CreatedAt, at) || h.NotifiedAt != nil {
			t.Fatalf("HandoffForResponse = %+v, %v", h, err)
		}

		// The platform redelivers the update: nothing is added twice.
		redelivered := step
		changed := detractor
		changed.Score = sqlScore(0)
		redelivered.Answer = &changed
		redelivered.At = at.Add(time.Second)
		inserted, err = db.ApplyStep(ctx, redelivered)
		if err != nil || inserted {
			t.Fatalf("ApplyStep(redelivered) = %v, %v; want ignored", inserted, err)
		}
		answers, err := db.Answers(ctx, r.ID)
		if err != nil || len(answers) != 1 || *answers[0].Score != 3 || !sameTime(answers[0].AnsweredAt, at) {
			t.Fatalf("Answers = %+v, %v; want the first answer only", answers, err)
		}
		var handoffs int64
		db.gorm.Model(&handoffRow{}).Where("response_id = ?", r.ID).Count(&handoffs)
		if handoffs != 1 {
			t.Fatalf("%d handoffs for one response", handoffs)
		}

		// The comment arrives: answer, comment and status in one step.
		comment := "The parcel was wet."
		inserted, err = db.ApplyStep(ctx, flows.StepWrite{
			ResponseID:     r.ID,
			Answer:         &flows.Answer{QuestionID: "why", Kind: flows.KindText, Text: comment},
			HandoffComment: &comment,
			HandoffStatus:  flows.HandoffOpen,
			At:             at.Add(time.Minute),
		})
		if err != nil || !inserted {
			t.Fatalf("ApplyStep(comment) = %v, %v", inserted, err)
		}
		h, _ = db.HandoffForResponse(ctx, r.ID)
		if h.Comment != comment || h.Status != flows.HandoffOpen {
			t.Fatalf("handoff after comment = %+v", h)
		}

		// Finish: response and invitation complete together.
		done := at.Add(2 * time.Minute)
		if _, err := db.ApplyStep(ctx, flows.StepWrite{ResponseID: r.ID, Finish: flows.ResponseCompleted, At: done}); err != nil {
			t.Fatal(err)
		}
		gotR, _ := db.Response(ctx, r.ID)
		gotInv, _ := db.Invitation(ctx, inv.ID)
		if gotR.Status != flows.ResponseCompleted || !sameTimePtr(gotR.CompletedAt, &done) || gotInv.Status != flows.InvitationCompleted {
			t.Fatalf("after finish: response %+v, invitation status %s", gotR, gotInv.Status)
		}
		// Expiring a finished response changes nothing.
		if _, err := db.ApplyStep(ctx, flows.StepWrite{ResponseID: r.ID, Finish: flows.ResponseExpired, At: done.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		gotR, _ = db.Response(ctx, r.ID)
		gotInv, _ = db.Invitation(ctx, inv.ID)
		if gotR.Status != flows.ResponseCompleted || !sameTimePtr(gotR.CompletedAt, &done) || gotInv.Status != flows.InvitationCompleted {
			t.Fatalf("after late expiry: response %+v, invitation status %s", gotR, gotInv.Status)
		}
		if _, err := db.OpenResponseForChat(ctx, flows.ChannelTelegram, "chat-cust-1"); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("OpenResponseForChat after finish = %v, want ErrNotFound", err)
		}

		answers, _ = db.Answers(ctx, r.ID)
		if len(answers) != 2 || answers[0].QuestionID != "nps" || answers[1].QuestionID != "why" || answers[1].Text != comment {
			t.Fatalf("Answers = %+v", answers)
		}

		_, err = db.ApplyStep(ctx, flows.StepWrite{ResponseID: r.ID, Finish: "abandoned"})
		wantErrIs(t, "ApplyStep(bad finish)", err, flows.ErrInvalid)
		_, err = db.ApplyStep(ctx, flows.StepWrite{ResponseID: 99999, Answer: &detractor})
		wantErrIs(t, "ApplyStep(missing response)", err, flows.ErrNotFound)
	})
}

// TestSQLApplyStepAtomic: a step that fails part-way leaves nothing behind.
func TestSQLApplyStepAtomic(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		inv, r := newTestResponse(t, db, "cust-1", "delivery")
		comment := "no handoff to attach this to"
		_, err := db.ApplyStep(ctx, flows.StepWrite{
			ResponseID:     r.ID,
			Answer:         &flows.Answer{QuestionID: "why", Kind: flows.KindText, Text: comment},
			HandoffComment: &comment,
			Finish:         flows.ResponseCompleted,
			At:             sqlT0,
		})
		wantErrIs(t, "ApplyStep(comment without handoff)", err, flows.ErrNotFound)
		answers, _ := db.Answers(ctx, r.ID)
		gotR, _ := db.Response(ctx, r.ID)
		gotInv, _ := db.Invitation(ctx, inv.ID)
		if len(answers) != 0 || gotR.Status != flows.ResponseStarted || gotInv.Status != inv.Status {
			t.Fatalf("failed step left %d answers, response %s, invitation %s", len(answers), gotR.Status, gotInv.Status)
		}

		// Expiry of a response in progress, as the conversation layer does it.
		// Only an invitation that reached the customer expires with it.
		if err := db.SetInvitationStatus(ctx, inv.ID, flows.InvitationSent, "", sqlT0); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ApplyStep(ctx, flows.StepWrite{ResponseID: r.ID, Finish: flows.ResponseExpired}); err != nil {
			t.Fatal(err)
		}
		gotR, _ = db.Response(ctx, r.ID)
		gotInv, _ = db.Invitation(ctx, inv.ID)
		if gotR.Status != flows.ResponseExpired || !sameTimePtr(gotR.CompletedAt, new(db.Now())) || gotInv.Status != flows.InvitationExpired {
			t.Fatalf("after expiry: response %+v, invitation %s", gotR, gotInv.Status)
		}
	})
}

func TestSQLHandoffsToNotify(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		open := func(ref string, status flows.HandoffStatus, created time.Time) flows.Handoff {
			t.Helper()
			_, r := newTestResponse(t, db, ref, "delivery")
			_, err := db.ApplyStep(ctx, flows.StepWrite{
				ResponseID: r.ID,
				Answer:     &flows.Answer{QuestionID: "nps", Kind: flows.KindNPS, Score: sqlScore(2), Class: flows.ClassDetractor},
				OpenHandoff: &flows.Handoff{QuestionID: "nps", Kind: flows.KindNPS, Score: 2, Class: flows.ClassDetractor,
					Status: status},
				At: created,
			})
			if err != nil {
				t.Fatal(err)
			}
			h, err := db.HandoffForResponse(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			return h
		}
		oldAwaiting := open("a", flows.HandoffAwaitingComment, sqlT0)
		newAwaiting := open("b", flows.HandoffAwaitingComment, sqlT0.Add(20*time.Minute))
		unnotified := open("c", flows.HandoffOpen, sqlT0.Add(5*time.Minute))
		notified := open("d", flows.HandoffOpen, sqlT0.Add(6*time.Minute))
		claimed := open("e", flows.HandoffClaimed, sqlT0.Add(7*time.Minute))
		if err := db.MarkHandoffNotified(ctx, notified.ID, sqlT0.Add(6*time.Minute)); err != nil {
			t.Fatal(err)
		}

		ids := func(hs []flows.Handoff) []int64 {
			out := []int64{}
			for _, h := range hs {
				out = append(out, h.ID)
			}
			return out
		}
		cutoff := sqlT0.Add(10 * time.Minute)
		due, err := db.HandoffsToNotify(ctx, cutoff, cutoff, 10)
		if err != nil || fmt.Sprint(ids(due)) != fmt.Sprint([]int64{oldAwaiting.ID, unnotified.ID}) {
			t.Fatalf("HandoffsToNotify = %v, %v; want [%d %d]", ids(due), err, oldAwaiting.ID, unnotified.ID)
		}
		if due[0].CustomerRef != "a" || due[0].Context["order"] != "A-a" {
			t.Errorf("handoff read back without ref/context: %+v", due[0])
		}
		// An open handoff within its grace (being notified right now) waits.
		if due, _ := db.HandoffsToNotify(ctx, cutoff, sqlT0.Add(4*time.Minute), 10); len(due) != 1 || due[0].ID != oldAwaiting.ID {
			t.Fatalf("HandoffsToNotify(open grace) = %v, want only [%d]", ids(due), oldAwaiting.ID)
		}
		if due, _ := db.HandoffsToNotify(ctx, cutoff, cutoff, 1); len(due) != 1 || due[0].ID != oldAwaiting.ID {
			t.Fatalf("HandoffsToNotify(limit 1) = %v", ids(due))
		}

		notifiedAt := sqlT0.Add(11 * time.Minute)
		if err := db.MarkHandoffNotified(ctx, oldAwaiting.ID, notifiedAt); err != nil {
			t.Fatal(err)
		}
		h, _ := db.HandoffForResponse(ctx, oldAwaiting.ResponseID)
		if h.Status != flows.HandoffOpen || !sameTimePtr(h.NotifiedAt, &notifiedAt) {
			t.Fatalf("after MarkHandoffNotified: %+v", h)
		}
		due, _ = db.HandoffsToNotify(ctx, cutoff, cutoff, 10)
		if fmt.Sprint(ids(due)) != fmt.Sprint([]int64{unnotified.ID}) {
			t.Fatalf("HandoffsToNotify after notifying = %v, want [%d]", ids(due), unnotified.ID)
		}
		if err := db.MarkHandoffNotified(ctx, claimed.ID, notifiedAt); err != nil {
			t.Fatal(err)
		}
		if h, _ := db.HandoffForResponse(ctx, claimed.ResponseID); h.Status != flows.HandoffClaimed {
			t.Fatalf("MarkHandoffNotified changed a claimed handoff to %s", h.Status)
		}
		wantErrIs(t, "MarkHandoffNotified(missing)", db.MarkHandoffNotified(ctx, 99999, notifiedAt), flows.ErrNotFound)

		all, err := db.QueryHandoffs(ctx, flows.HandoffQuery{})
		want := []int64{newAwaiting.ID, claimed.ID, notified.ID, unnotified.ID, oldAwaiting.ID}
		slices.Sort(want)
		slices.Reverse(want)
		if err != nil || fmt.Sprint(ids(all)) != fmt.Sprint(want) {
			t.Fatalf("QueryHandoffs(all) = %v, %v; want the last made first %v", ids(all), err, want)
		}
		opened, err := db.QueryHandoffs(ctx, flows.HandoffQuery{Status: flows.HandoffOpen, Limit: 2})
		if err != nil || fmt.Sprint(ids(opened)) != fmt.Sprint([]int64{notified.ID, unnotified.ID}) {
			t.Fatalf("QueryHandoffs(open, 2) = %v, %v", ids(opened), err)
		}
		_, err = db.QueryHandoffs(ctx, flows.HandoffQuery{Status: "bogus"})
		wantErrIs(t, "QueryHandoffs(bad status)", err, flows.ErrInvalid)
		_, err = db.HandoffForResponse(ctx, 99999)
		wantErrIs(t, "HandoffForResponse(missing)", err, flows.ErrNotFound)
	})
}

func TestSQLNPSReport(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		n := 0
		answer := func(surveyID string, at time.Time, answers ...flows.Answer) {
			t.Helper()
			n++
			_, r := newTestResponse(t, db, fmt.Sprint("cust-", n), surveyID)
			for _, a := range answers {
				a.AnsweredAt = at
				if _, err := db.ApplyStep(ctx, flows.StepWrite{ResponseID: r.ID, Answer: &a}); err != nil {
					t.Fatal(err)
				}
				at = at.Add(time.Second)
			}
		}
		nps := func(q string, score int, class flows.Class) flows.Answer {
			return flows.Answer{QuestionID: q, Kind: flows.KindNPS, Score: &score, Class: class}
		}
		hour := func(h int) time.Time { return sqlT0.Add(time.Duration(h) * time.Hour) }

		// Six counted responses, one per hour: 3 promoters, 1 passive, 2 detractors.
		answer("delivery", hour(0), nps("nps", 10, flows.ClassPromoter),
			nps("nps_again", 0, flows.ClassDetractor)) // only the first NPS answer counts
		answer("delivery", hour(1), nps("nps", 9, flows.ClassPromoter))
		answer("delivery", hour(2), nps("nps", 9, flows.ClassPromoter))
		answer("delivery", hour(3), nps("nps", 8, flows.ClassPassive))
		answer("delivery", hour(4), flows.Answer{QuestionID: "nps", Kind: flows.KindNPS, Skipped: true},
			nps("nps_retry", 3, flows.ClassDetractor)) // a skipped answer is not the first
		answer("delivery", hour(5), nps("nps", 5, flows.ClassDetractor))
		// Not counted: skipped only, no NPS question, another survey.
		answer("delivery", hour(6), flows.Answer{QuestionID: "nps", Kind: flows.KindNPS, Skipped: true})
		answer("delivery", hour(7), flows.Answer{QuestionID: "csat", Kind: flows.KindCSAT, Score: sqlScore(1), Class: flows.ClassDissatisfied})
		answer("other", hour(8), nps("nps", 10, flows.ClassPromoter))

		rep, err := db.NPSReport(ctx, "delivery", nil, nil)
		want := flows.NPSReport{Survey: "delivery", Responses: 6, Promoters: 3, Passives: 1, Detractors: 2, NPS: 16.7}
		if err != nil || rep != want {
			t.Fatalf("NPSReport = %+v, %v; want %+v", rep, err, want)
		}

		// Window [hour 2, hour 5): promoter, passive, detractor.
		from, to := hour(2), hour(5)
		rep, err = db.NPSReport(ctx, "delivery", &from, &to)
		want = flows.NPSReport{Survey: "delivery", Responses: 3, Promoters: 1, Passives: 1, Detractors: 1, NPS: 0}
		if err != nil || rep != want {
			t.Fatalf("NPSReport(window) = %+v, %v; want %+v", rep, err, want)
		}
		// Open-ended from hour 4 (in another zone, same instant): two detractors.
		from = hour(4).In(time.FixedZone("CST", 8*3600))
		rep, err = db.NPSReport(ctx, "delivery", &from, nil)
		want = flows.NPSReport{Survey: "delivery", Responses: 2, Detractors: 2, NPS: -100}
		if err != nil || rep != want {
			t.Fatalf("NPSReport(from) = %+v, %v; want %+v", rep, err, want)
		}

		rep, err = db.NPSReport(ctx, "nothing", nil, nil)
		if err != nil || rep != (flows.NPSReport{Survey: "nothing"}) {
			t.Fatalf("NPSReport(empty) = %+v, %v", rep, err)
		}
	})
}

// Every step keeps the conversation state and its update with the response,
// in the answer's transaction; a redelivered update writes nothing
// (ErrApplied) and a step from a stale state is refused (ErrConflict).
func TestSQLApplyStepKeepsTheConversation(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		inv, r := newTestResponse(t, db, "C-state", "delivery")
		if _, err := db.ChatConversation(ctx, flows.ChannelTelegram, "no-such-chat"); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("ChatConversation of an unknown chat: %v", err)
		}
		c, err := db.ChatConversation(ctx, r.Channel, r.ExternalID)
		if err != nil || c.Response.ID != r.ID || c.HasState || c.LastUpdateID != "" || c.Invitation != inv.Status {
			t.Fatalf("before the first step: %+v, %v", c, err)
		}

		st := flows.State{ResponseID: r.ID, InvitationID: inv.ID, SurveyID: "delivery", QuestionID: "comment", LastUpdateID: "u1", Attempts: 1}
		first := flows.StepWrite{ResponseID: r.ID, UpdateID: "u1", State: &st,
			Answer: &flows.Answer{QuestionID: "nps", Kind: flows.KindNPS, Score: sqlScore(3), Class: flows.ClassDetractor}}
		if _, err := db.ApplyStep(ctx, first); err != nil {
			t.Fatal(err)
		}
		c, err = db.ChatConversation(ctx, r.Channel, r.ExternalID)
		if err != nil || !c.HasState || !reflect.DeepEqual(c.State, st) || c.LastUpdateID != "u1" {
			t.Fatalf("after the first step: %+v, %v", c, err)
		}

		// The same update again: nothing written, even with another answer.
		again := first
		again.Answer = &flows.Answer{QuestionID: "comment", Kind: flows.KindText, Text: "must not be stored"}
		if _, err := db.ApplyStep(ctx, again); !errors.Is(err, flows.ErrApplied) {
			t.Fatalf("redelivered update: err = %v, want ErrApplied", err)
		}
		// A step made from the state before u1 (another replica's stale view).
		stale := flows.StepWrite{ResponseID: r.ID, UpdateID: "u2", ExpectUpdateID: "",
			Answer: &flows.Answer{QuestionID: "comment", Kind: flows.KindText, Text: "must not be stored either"}}
		if _, err := db.ApplyStep(ctx, stale); !errors.Is(err, flows.ErrConflict) {
			t.Fatalf("stale step: err = %v, want ErrConflict", err)
		}
		if answers, _ := db.Answers(ctx, r.ID); len(answers) != 1 {
			t.Fatalf("answers = %+v, want only the first step's", answers)
		}

		// The next step from the right state finishes the response.
		next := flows.StepWrite{ResponseID: r.ID, UpdateID: "u2", ExpectUpdateID: "u1", Finish: flows.ResponseCompleted,
			Answer: &flows.Answer{QuestionID: "comment", Kind: flows.KindText, Text: "late"}}
		if _, err := db.ApplyStep(ctx, next); err != nil {
			t.Fatal(err)
		}
		c, err = db.ChatConversation(ctx, r.Channel, r.ExternalID)
		if err != nil || c.Response.Status != flows.ResponseCompleted || c.LastUpdateID != "u2" || !reflect.DeepEqual(c.State, st) {
			t.Fatalf("after finishing: %+v, %v (state kept as of its last write)", c, err)
		}
	})
}

// A value the database refuses (PostgreSQL: a NUL byte in text) is
// ErrInvalid, so a caller acknowledges the poison update instead of
// retrying it for ever; SQLite stores it.
func TestSQLRefusedValueIsInvalid(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		_, r := newTestResponse(t, db, "C-nul", "delivery")
		_, err := db.ApplyStep(ctx, flows.StepWrite{ResponseID: r.ID,
			Answer: &flows.Answer{QuestionID: "comment", Kind: flows.KindText, Text: "a\x00b"}})
		if db.Dialect() == DialectPostgres && !errors.Is(err, flows.ErrInvalid) {
			t.Fatalf("NUL in text on PostgreSQL: err = %v, want ErrInvalid", err)
		}
		if db.Dialect() == DialectSQLite && err != nil {
			t.Fatalf("NUL in text on SQLite: %v", err)
		}
	})
}
