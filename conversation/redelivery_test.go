package conversation_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/bot/telegram"
	"github.com/cxbot/cxbot/bot/telegram/telegramtest"
	"github.com/cxbot/cxbot/conversation"
	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/store/redisstore"
	"github.com/cxbot/cxbot/store/sqlstore"
)

// flakyDedupe is the real Redis store with one dedupe write failing, the
// fault this test is about.
type flakyDedupe struct {
	*redisstore.Store
	failMarkSeen bool
}

// End loses the seen mark of one turn, as an evicted or flushed key would.
func (f *flakyDedupe) End(ctx context.Context, t flows.Turn, e flows.TurnEnd) error {
	if f.failMarkSeen && t.UpdateID != "" {
		f.failMarkSeen = false
		e.SeenTTL = 0
	}
	return f.Store.End(ctx, t, e)
}

// An update whose effect was saved but whose seen mark was lost (evicted,
// flushed) is redelivered: it must not answer the next question too.
func TestRedeliveryAfterLostDedupeMarkChangesNothing(t *testing.T) {
	ctx := context.Background()
	surveys, err := flows.LoadSurveys("../configs/surveys")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "cx.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	redis, err := redisstore.Open(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer redis.Close()
	tg := telegramtest.New("1:T")
	defer tg.Close()
	adapter, err := telegram.New(telegram.Config{Token: "1:T", APIURL: tg.URL(), DecodeTap: flows.DecodeTap}, nil)
	if err != nil {
		t.Fatal(err)
	}
	states := &flakyDedupe{Store: redis}
	conv, err := conversation.New(conversation.Config{Records: db, States: states, Channels: []bot.Channel{adapter}, Surveys: surveys})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := conv.Invite(ctx, conversation.InviteRequest{SurveyID: "post_purchase_nps", CustomerRef: "C-1", Channel: flows.ChannelTelegram, ChatID: "42", Language: "en"}); err != nil {
		t.Fatal(err)
	}
	score := flows.Update{Channel: flows.ChannelTelegram, UpdateID: "100", ChatID: "42", Text: "3"}
	states.failMarkSeen = true
	if err := conv.HandleUpdate(ctx, score); err != nil {
		t.Fatal(err)
	}
	if err := conv.HandleUpdate(ctx, score); err != nil { // the redelivery
		t.Fatal(err)
	}
	customer, _ := db.CustomerByRef(ctx, "C-1")
	responses, _ := db.CustomerResponses(ctx, customer.ID, 1)
	answers, _ := db.Answers(ctx, responses[0].ID)
	if len(answers) != 1 || *answers[0].Score != 3 {
		t.Fatalf("answers after the redelivery: %+v (the score must not become the comment)", answers)
	}
	if n := len(tg.Sent(42)); n != 2 {
		t.Errorf("chat got %d messages, want 2 (question, follow-up)", n)
	}
}
