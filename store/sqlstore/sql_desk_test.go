package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

func newTestCase(t *testing.T, db *DB, ref string) flows.Handoff {
	t.Helper()
	ctx := sqlTestCtx(t)
	_, r := newTestResponse(t, db, ref, "delivery")
	_, err := db.ApplyStep(ctx, flows.StepWrite{
		ResponseID:  r.ID,
		Answer:      &flows.Answer{QuestionID: "nps", Kind: flows.KindNPS, Score: sqlScore(2), Class: flows.ClassDetractor},
		OpenHandoff: &flows.Handoff{QuestionID: "nps", Kind: flows.KindNPS, Score: 2, Class: flows.ClassDetractor, Comment: "late", Status: flows.HandoffOpen},
		At:          sqlT0,
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

func outboxEvents(t *testing.T, db *DB) []outboxRow {
	t.Helper()
	var rows []outboxRow
	if err := db.conn(context.Background()).Order("id").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestSQLAgents(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		a, err := db.AddAgent(ctx, flows.Agent{TelegramUserID: 501, Name: " Li Wei "})
		if err != nil || a.ID == 0 || a.Name != "Li Wei" || a.Role != flows.RoleAgent {
			t.Fatalf("AddAgent = %+v, %v", a, err)
		}
		again, err := db.AddAgent(ctx, flows.Agent{TelegramUserID: 501, Name: "Li", Role: flows.RoleSupervisor})
		if err != nil || again.ID != a.ID || again.Name != "Li" || again.Role != flows.RoleSupervisor {
			t.Fatalf("AddAgent again = %+v, %v; want the same agent updated", again, err)
		}
		for _, bad := range []flows.Agent{{TelegramUserID: 0, Name: "x"}, {TelegramUserID: 2, Name: " "}, {TelegramUserID: 2, Name: "x", Role: "boss"}} {
			if _, err := db.AddAgent(ctx, bad); !errors.Is(err, flows.ErrInvalid) {
				t.Errorf("AddAgent(%+v) = %v, want ErrInvalid", bad, err)
			}
		}
		if _, err := db.AddAgent(ctx, flows.Agent{TelegramUserID: 502, Name: "Anna"}); err != nil {
			t.Fatal(err)
		}
		all, err := db.Agents(ctx)
		if err != nil || len(all) != 2 || all[0].Name != "Anna" {
			t.Fatalf("Agents = %+v, %v", all, err)
		}
		if _, err := db.AgentByTelegramUser(ctx, 999); !errors.Is(err, flows.ErrNotFound) {
			t.Errorf("AgentByTelegramUser(unknown) = %v", err)
		}
		if err := db.RemoveAgent(ctx, 501); err != nil {
			t.Fatal(err)
		}
		if err := db.RemoveAgent(ctx, 501); !errors.Is(err, flows.ErrNotFound) {
			t.Errorf("RemoveAgent twice = %v, want ErrNotFound", err)
		}
	})
}

// Two agents claim one case at once, many times: exactly one owner each
// time, and one handoff.claimed event.
func TestSQLClaimRace(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		db.Webhooks = true
		anna, _ := db.AddAgent(ctx, flows.Agent{TelegramUserID: 1, Name: "Anna"})
		bo, _ := db.AddAgent(ctx, flows.Agent{TelegramUserID: 2, Name: "Bo"})
		for i := range 10 {
			h := newTestCase(t, db, "race-"+string(rune('a'+i)))
			var wg sync.WaitGroup
			wins := make(chan flows.Agent, 2)
			for _, ag := range []flows.Agent{anna, bo} {
				wg.Go(func() {
					_, won, err := db.ClaimHandoff(ctx, h.ID, ag, sqlT0.Add(time.Minute))
					if err != nil {
						t.Error(err)
					}
					if won {
						wins <- ag
					}
				})
			}
			wg.Wait()
			close(wins)
			var winners []flows.Agent
			for w := range wins {
				winners = append(winners, w)
			}
			got, _ := db.Handoff(ctx, h.ID)
			if len(winners) != 1 || got.Status != flows.HandoffClaimed || got.ClaimedBy != winners[0].ID || got.ClaimedByName != winners[0].Name {
				t.Fatalf("race %d: winners %v, handoff %+v", i, winners, got.Case)
			}
		}
		claimed := 0
		for _, e := range outboxEvents(t, db) {
			if e.Event == string(flows.EventHandoffClaimed) {
				claimed++
			}
		}
		if claimed != 10 {
			t.Fatalf("%d handoff.claimed events, want 10", claimed)
		}
	})
}

func TestSQLCaseLifecycle(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		db.Webhooks = true
		agent, _ := db.AddAgent(ctx, flows.Agent{TelegramUserID: 7, Name: "Li"})
		h := newTestCase(t, db, "life")

		posted, err := db.NoticePosted(ctx, h.ID, "-100200", 41, sqlT0.Add(time.Minute))
		if err != nil || posted.NotifiedAt == nil || posted.AgentChatID != "-100200" || posted.NoticeMessageID != 41 {
			t.Fatalf("NoticePosted = %+v, %v", posted, err)
		}
		if byNotice, err := db.CaseByAgentMessage(ctx, "-100200", 41); err != nil || byNotice.ID != h.ID {
			t.Fatalf("CaseByAgentMessage(notice) = %d, %v", byNotice.ID, err)
		}
		if _, err := db.CaseByAgentMessage(ctx, "-100999", 41); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("CaseByAgentMessage(other chat) = %v", err)
		}
		if unclaimed, err := db.UnclaimedCases(ctx, 10); err != nil || len(unclaimed) != 1 {
			t.Fatalf("UnclaimedCases = %d, %v", len(unclaimed), err)
		}
		if won, _ := db.MarkCaseReminded(ctx, h.ID, sqlT0); !won {
			t.Fatal("first reminder refused")
		}
		if won, _ := db.MarkCaseReminded(ctx, h.ID, sqlT0); won {
			t.Fatal("a second reminder was allowed")
		}
		if _, won, err := db.ClaimHandoff(ctx, h.ID, agent, sqlT0.Add(2*time.Minute)); !won || err != nil {
			t.Fatalf("claim: %v %v", won, err)
		}
		if err := db.SetHandoffTopic(ctx, h.ID, 77); err != nil {
			t.Fatal(err)
		}
		if byTopic, err := db.CaseByTopic(ctx, "-100200", 77); err != nil || byTopic.ID != h.ID {
			t.Fatalf("CaseByTopic = %d, %v", byTopic.ID, err)
		}
		m, err := db.AddCaseMessage(ctx, flows.CaseMessage{HandoffID: h.ID, Author: flows.AuthorCustomer, Text: "还在吗", AgentChatMessageID: 45})
		if err != nil || m.ID == 0 {
			t.Fatal(err)
		}
		if byRelay, err := db.CaseByAgentMessage(ctx, "-100200", 45); err != nil || byRelay.ID != h.ID {
			t.Fatalf("CaseByAgentMessage(relayed) = %d, %v", byRelay.ID, err)
		}
		if live, err := db.CaseForChat(ctx, h.Channel, h.ExternalID); err != nil || live.ID != h.ID {
			t.Fatalf("CaseForChat = %d, %v", live.ID, err)
		}
		if _, _, err := db.ResolveHandoff(ctx, h.ID, flows.Resolution{Outcome: "fixed"}); !errors.Is(err, flows.ErrInvalid) {
			t.Fatalf("resolve with a bad outcome = %v", err)
		}
		resolvedAt := sqlT0.Add(time.Hour)
		res, changed, err := db.ResolveHandoff(ctx, h.ID, flows.Resolution{Outcome: flows.OutcomeResolved, Note: "refunded", By: "Li", At: resolvedAt})
		if err != nil || !changed || res.Status != flows.HandoffResolved || res.Outcome != flows.OutcomeResolved || res.Note != "refunded" {
			t.Fatalf("resolve = %+v %v %v", res.Case, changed, err)
		}
		if _, changed, _ := db.ResolveHandoff(ctx, h.ID, flows.Resolution{Outcome: flows.OutcomeNoAnswer}); changed {
			t.Fatal("a resolved case was resolved again")
		}
		if due, _ := db.FollowUpsDue(ctx, resolvedAt, 10); len(due) != 0 {
			t.Fatalf("follow-up due before its time: %d", len(due))
		}
		due, err := db.FollowUpsDue(ctx, resolvedAt.Add(time.Second), 10)
		if err != nil || len(due) != 1 {
			t.Fatalf("FollowUpsDue = %d, %v", len(due), err)
		}
		if _, changed, _ := db.RecordRecovery(ctx, h.ResponseID, 5, resolvedAt); changed {
			t.Fatal("a recovery was recorded for a follow-up never sent")
		}
		if won, _ := db.MarkFollowUpSent(ctx, h.ID, resolvedAt); !won {
			t.Fatal("follow-up refused")
		}
		rec, changed, err := db.RecordRecovery(ctx, h.ResponseID, 4, resolvedAt)
		if err != nil || !changed || rec.Recovered == nil || !*rec.Recovered || *rec.RecoveryScore != 4 {
			t.Fatalf("RecordRecovery = %+v %v %v", rec.Case, changed, err)
		}
		if _, changed, _ := db.RecordRecovery(ctx, h.ResponseID, 1, resolvedAt); changed {
			t.Fatal("the follow-up was answered twice")
		}
		reopened, changed, err := db.ReopenHandoff(ctx, h.ID, resolvedAt.Add(time.Hour))
		if err != nil || !changed || reopened.Status != flows.HandoffClaimed || reopened.Reopened != 1 || reopened.ResolvedAt != nil || reopened.Recovered == nil || reopened.FollowUpSentAt != nil {
			t.Fatalf("reopen = %+v %v %v", reopened, changed, err)
		}
		msgs, err := db.CaseMessages(ctx, h.ID)
		if err != nil || len(msgs) != 1 || msgs[0].Text != "还在吗" {
			t.Fatalf("CaseMessages = %+v, %v", msgs, err)
		}

		var events []string
		for _, e := range outboxEvents(t, db) {
			events = append(events, e.Event)
			var body struct {
				Event string `json:"event"`
				Data  struct {
					HandoffID int64 `json:"handoff_id"`
				} `json:"data"`
			}
			if err := json.Unmarshal([]byte(e.Payload), &body); err != nil || body.Event != e.Event || body.Data.HandoffID != h.ID {
				t.Errorf("outbox %s payload %s: %v", e.Event, e.Payload, err)
			}
		}
		want := []string{"handoff.opened", "handoff.claimed", "handoff.resolved", "handoff.recovered"}
		if len(events) != len(want) {
			t.Fatalf("outbox events %v, want %v", events, want)
		}
		for i := range want {
			if events[i] != want[i] {
				t.Fatalf("outbox events %v, want %v", events, want)
			}
		}
	})
}

// NoticePosted without an outbox event to queue is one UPDATE … RETURNING
// outside GORM on PostgreSQL: what it returns is the row GORM reads, a
// second notice changes nothing, and an unknown case is ErrNotFound.
func TestSQLNoticePostedWithoutWebhooks(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		db.Webhooks = false
		h := newTestCase(t, db, "posted")
		at := sqlT0.Add(time.Minute)
		posted, err := db.NoticePosted(ctx, h.ID, "-100300", 51, at)
		if err != nil || posted.NotifiedAt == nil || !posted.NotifiedAt.Equal(at) || posted.AgentChatID != "-100300" || posted.NoticeMessageID != 51 {
			t.Fatalf("NoticePosted = %+v, %v", posted, err)
		}
		read, err := db.Handoff(ctx, h.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(posted, read) {
			t.Errorf("returned\n %+v\nread\n %+v", posted, read)
		}
		again, err := db.NoticePosted(ctx, h.ID, "-100999", 99, at.Add(time.Hour))
		if err != nil || again.AgentChatID != "-100300" || again.NoticeMessageID != 51 || !again.NotifiedAt.Equal(at) {
			t.Errorf("a second notice changed the case: %+v, %v", again.Case, err)
		}
		if _, err := db.NoticePosted(ctx, h.ID+1000, "-100300", 52, at); !errors.Is(err, flows.ErrNotFound) {
			t.Errorf("unknown case: %v, want ErrNotFound", err)
		}
	})
}
