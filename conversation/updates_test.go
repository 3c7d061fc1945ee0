package conversation_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/conversation"
	"github.com/cxbot/cxbot/flows"
)

// failOn fails the calls of one method (times: how many, -1 for all).
func failOn(method string, err error, times int) func(string) error {
	var mu sync.Mutex
	return func(m string) error {
		mu.Lock()
		defer mu.Unlock()
		if m != method || times == 0 {
			return nil
		}
		times--
		return err
	}
}

// failSend makes a channel's Send fail (times: how many, -1 for all).
func failSend(err error, times int) func(chCall) error {
	var mu sync.Mutex
	return func(c chCall) error {
		mu.Lock()
		defer mu.Unlock()
		if c.Op != "Send" || times == 0 {
			return nil
		}
		times--
		return err
	}
}

func TestNewNeedsRecordsAndStates(t *testing.T) {
	h := newHarness(t)
	for name, cfg := range map[string]conversation.Config{
		"no records": {States: h.states},
		"no states":  {Records: h.records},
	} {
		if _, err := conversation.New(cfg); err == nil {
			t.Errorf("%s: New accepted the configuration", name)
		}
	}
	if s, ok := h.svc.Survey("nps"); !ok || s.ID != "nps" {
		t.Errorf("Survey(nps) = %v, %v", s, ok)
	}
	if _, ok := h.svc.Survey("nope"); ok {
		t.Error("Survey(nope) found a survey")
	}
	if n := len(h.svc.Surveys()); n != 2 {
		t.Errorf("Surveys() has %d surveys, want 2", n)
	}
}

func TestUpdateWithoutChatIsInvalid(t *testing.T) {
	h := newHarness(t)
	err := h.svc.HandleUpdate(h.ctx, flows.Update{Channel: tg, UpdateID: "1", Text: "hello"})
	if !errors.Is(err, flows.ErrInvalid) {
		t.Fatalf("HandleUpdate without chat = %v, want ErrInvalid", err)
	}
	if calls := h.log.list(); len(calls) != 0 {
		t.Errorf("an update without chat reached the stores or a channel: %q", calls)
	}
}

func TestSeenUpdateDoesNothing(t *testing.T) {
	h := newHarness(t)
	h.invite("42", "C-1")
	before := h.mustState(tg, "42")
	h.states.markSeen(tg, "42", "u-1")
	mark := h.log.len()
	if err := h.svc.HandleUpdate(h.ctx, flows.Update{Channel: tg, UpdateID: "u-1", ChatID: "42", Text: "9"}); err != nil {
		t.Fatal(err)
	}
	if calls := h.log.since(mark); len(calls) != 1 || calls[0] != "redis.Begin" {
		t.Errorf("a seen update made calls %q, want only redis.Begin", calls)
	}
	if after := h.mustState(tg, "42"); after.QuestionID != before.QuestionID || after.Attempts != before.Attempts {
		t.Errorf("state changed: %+v → %+v", before, after)
	}
}

func TestTapAnswerIsStoredBeforeAnythingIsSent(t *testing.T) {
	h := newHarness(t)
	inv := h.invite("42", "C-1")
	prompt := h.mustState(tg, "42").PromptMessageID
	u := h.tap("42", "9")
	mark := h.log.len()
	if err := h.svc.HandleUpdate(h.ctx, u); err != nil {
		t.Fatal(err)
	}
	resp := h.records.responseOf(inv.ID)
	answers := h.records.answersOf(resp.ID)
	if len(answers) != 1 || answers[0].QuestionID != "nps" || *answers[0].Score != 9 || answers[0].Class != flows.ClassPromoter {
		t.Fatalf("answers = %+v, want nps 9 promoter", answers)
	}
	taps := h.tg.succeeded("AnswerTap")
	if len(taps) != 1 || taps[0].TapID != u.TapID || taps[0].Text != "✓ 9" {
		t.Errorf("tap answered with %+v, want %s ✓ 9", taps, u.TapID)
	}
	closed := h.tg.succeeded("CloseQuestion")
	if len(closed) != 1 || closed[0].MessageID != prompt || !strings.Contains(closed[0].Text, "How likely") || !strings.Contains(closed[0].Text, "✓ 9") {
		t.Errorf("closed prompts = %+v, want message %d with the question and ✓ 9", closed, prompt)
	}
	if got := h.tg.lastSent(t, "42").Message.Text; got != "Thanks a lot!" {
		t.Errorf("last message %q, want the survey's thanks", got)
	}
	// Closing the keyboard and sending the next message run side by side;
	// both come after the answer is stored and before the turn ends.
	order(t, h.log.since(mark), "redis.Begin", "sql.ApplyStep", "telegram.AnswerTap", "telegram.Send", "redis.End")
	order(t, h.log.since(mark), "sql.ApplyStep", "telegram.CloseQuestion", "redis.End")

	// Finishing ends the conversation everywhere.
	h.noState(tg, "42")
	if end := h.states.lastEnd().End; end.Change != flows.DeleteState || end.SeenTTL != 7*24*time.Hour {
		t.Errorf("turn ended with %+v, want the state deleted and the update remembered 7 days", end)
	}
	if !h.states.seen(tg, "42", u.UpdateID) {
		t.Error("the update is not marked seen")
	}
	if got := h.records.response(resp.ID); got.Status != flows.ResponseCompleted || got.CompletedAt == nil {
		t.Errorf("response %+v, want completed", got)
	}
	if got := h.records.invitation(inv.ID).Status; got != flows.InvitationCompleted {
		t.Errorf("invitation %s, want completed", got)
	}
}

func TestTypedAnswersWalkTheSurvey(t *testing.T) {
	h := newHarness(t)
	inv := h.invite("42", "C-1")
	resp := h.records.responseOf(inv.ID)

	h.mustSay("42", "7")
	st := h.mustState(tg, "42")
	last := h.tg.lastSent(t, "42")
	if st.QuestionID != "make_it_10" || st.PromptMessageID != last.MessageID || st.LastUpdateID != "1" {
		t.Errorf("state %+v, want make_it_10 prompted by message %d, made by update 1", st, last.MessageID)
	}
	if last.Message.Text != "What would make it a 10?" || last.Message.QuestionID != "make_it_10" {
		t.Errorf("sent %+v, want the passive's question", last.Message)
	}
	if ttl := h.states.stateTTL(tg, "42"); ttl != 72*time.Hour {
		t.Errorf("state saved for %s, want the default 72h", ttl)
	}
	if got := h.records.invitation(inv.ID).Status; got != flows.InvitationStarted {
		t.Errorf("invitation %s after the first answer, want started", got)
	}

	h.mustSay("42", "skip")
	answers := h.records.answersOf(resp.ID)
	if len(answers) != 2 || !answers[1].Skipped || answers[1].QuestionID != "make_it_10" {
		t.Errorf("answers %+v, want the optional question skipped", answers)
	}
	if got := h.tg.lastSent(t, "42").Message.Text; got != "Thanks a lot!" {
		t.Errorf("last message %q, want thanks", got)
	}
	h.noState(tg, "42")
}

func TestBadScoreRepromptsWithTheValidRange(t *testing.T) {
	for _, input := range []string{"42", "great", "7.5", "-1"} {
		t.Run(input, func(t *testing.T) {
			h := newHarness(t)
			inv := h.invite("42", "C-1")
			before := h.mustState(tg, "42")
			h.mustSay("42", input)
			m := h.tg.lastSent(t, "42")
			mustContain(t, "re-prompt", m.Message.Text, "0–10", "How likely are you to recommend us?")
			if len(m.Message.Keyboard) == 0 {
				t.Error("the re-prompt has no keyboard")
			}
			st := h.mustState(tg, "42")
			if st.QuestionID != "nps" || st.Attempts != 1 || st.PromptMessageID != m.MessageID {
				t.Errorf("state %+v, want nps, one failed try, prompt %d", st, m.MessageID)
			}
			if st.PromptMessageID == before.PromptMessageID {
				t.Error("the state still points at the old prompt")
			}
			if answers := h.records.answersOf(h.records.responseOf(inv.ID).ID); len(answers) != 0 {
				t.Errorf("a bad score stored answers %+v", answers)
			}
		})
	}
}

func TestThreeFailedTriesSkipTheQuestion(t *testing.T) {
	h := newHarness(t)
	inv := h.invite("42", "C-1")
	h.mustSay("42", "no idea")
	h.mustSay("42", "what?")
	if st := h.mustState(tg, "42"); st.Attempts != 2 {
		t.Fatalf("attempts %d after two bad tries", st.Attempts)
	}
	h.mustSay("42", "banana")
	resp := h.records.responseOf(inv.ID)
	answers := h.records.answersOf(resp.ID)
	if len(answers) != 1 || !answers[0].Skipped || answers[0].Score != nil {
		t.Fatalf("answers %+v, want nps skipped", answers)
	}
	if got := h.tg.lastSent(t, "42").Message.Text; got != "Let's leave that one and move on.\n\nThanks a lot!" {
		t.Errorf("last message %q", got)
	}
	closed := h.tg.succeeded("CloseQuestion")
	if len(closed) == 0 || !strings.Contains(closed[len(closed)-1].Text, "— skipped") {
		t.Errorf("closed prompts %+v, want the last one marked skipped", closed)
	}
	h.noState(tg, "42")
	if got := h.records.response(resp.ID).Status; got != flows.ResponseCompleted {
		t.Errorf("response %s, want completed", got)
	}
}

func TestStaleTapsGetANotice(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tap    func(st flows.State) flows.Tap
		notice string
	}{
		{"another response's keyboard", func(st flows.State) flows.Tap {
			return flows.Tap{ResponseID: st.ResponseID + 99, QuestionID: st.QuestionID, Value: "9"}
		}, "This survey has closed."},
		{"an answered question", func(st flows.State) flows.Tap {
			return flows.Tap{ResponseID: st.ResponseID, QuestionID: "nps", Value: "9"}
		}, "You've already answered this — thank you!"},
		{"a question the survey no longer has", func(st flows.State) flows.Tap {
			return flows.Tap{ResponseID: st.ResponseID, QuestionID: "old_question", Value: "1"}
		}, "This survey has closed."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.invite("42", "C-1")
			h.mustSay("42", "7") // now at make_it_10
			before := h.mustState(tg, "42")
			steps, sends := h.records.count("ApplyStep"), len(h.tg.sent("42"))
			tap := tc.tap(before)
			u := flows.Update{Channel: tg, UpdateID: "tap-1", ChatID: "42", Tap: &tap, TapID: "cb-1", Language: "en"}
			if err := h.svc.HandleUpdate(h.ctx, u); err != nil {
				t.Fatal(err)
			}
			taps := h.tg.succeeded("AnswerTap")
			if len(taps) != 1 || taps[0].TapID != "cb-1" || taps[0].Text != tc.notice {
				t.Errorf("tap answered %+v, want %q", taps, tc.notice)
			}
			if h.records.count("ApplyStep") != steps || len(h.tg.sent("42")) != sends {
				t.Error("a stale tap was stored or answered with a message")
			}
			if after := h.mustState(tg, "42"); after.QuestionID != before.QuestionID || after.LastUpdateID != before.LastUpdateID {
				t.Errorf("state changed: %+v → %+v", before, after)
			}
			if !h.states.seen(tg, "42", "tap-1") {
				t.Error("the stale tap is not marked seen")
			}
		})
	}
}

// The seen mark of an applied update is lost (evicted, flushed): its
// redelivery must not answer the next question with the same text.
func TestRedeliveryWithoutSeenMarkChangesNothing(t *testing.T) {
	h := newHarness(t)
	inv := h.invite("42", "C-1")
	u := flows.Update{Channel: tg, UpdateID: "u-7", ChatID: "42", Text: "7", Language: "en"}
	if err := h.svc.HandleUpdate(h.ctx, u); err != nil {
		t.Fatal(err)
	}
	before := h.mustState(tg, "42")
	if before.LastUpdateID != "u-7" {
		t.Fatalf("state made by %q, want u-7", before.LastUpdateID)
	}
	h.states.forget(tg, "42", "u-7")
	sends, steps := len(h.tg.sent("42")), h.records.count("ApplyStep")
	if err := h.svc.HandleUpdate(h.ctx, u); err != nil {
		t.Fatal(err)
	}
	if n := len(h.tg.sent("42")); n != sends {
		t.Errorf("the redelivery sent %d more messages", n-sends)
	}
	if h.records.count("ApplyStep") != steps {
		t.Error("the redelivery wrote a step")
	}
	if answers := h.records.answersOf(h.records.responseOf(inv.ID).ID); len(answers) != 1 {
		t.Errorf("answers %+v, want only the score", answers)
	}
	if after := h.mustState(tg, "42"); after.QuestionID != "make_it_10" {
		t.Errorf("state moved to %q", after.QuestionID)
	}
}

func TestSQLErrorReleasesTheChatUnsaved(t *testing.T) {
	h := newHarness(t)
	inv := h.invite("42", "C-1")
	before := h.mustState(tg, "42")
	h.records.Fail = failOn("ApplyStep", errTransient, 1)
	sends := len(h.tg.sent("42"))
	u := flows.Update{Channel: tg, UpdateID: "u-1", ChatID: "42", Text: "3", Language: "en"}
	if err := h.svc.HandleUpdate(h.ctx, u); !errors.Is(err, errTransient) {
		t.Fatalf("HandleUpdate = %v, want the SQL error", err)
	}
	if len(h.tg.sent("42")) != sends {
		t.Error("a message went out although the answer was not stored")
	}
	if after := h.mustState(tg, "42"); after.QuestionID != before.QuestionID || after.LastUpdateID != "" {
		t.Errorf("state changed: %+v", after)
	}
	if h.states.seen(tg, "42", "u-1") {
		t.Error("the failed update is marked seen: its redelivery would be dropped")
	}
	if h.states.held(tg, "42") || h.states.count("Release") != 1 {
		t.Error("the chat was not released")
	}

	// The platform redelivers it; now it goes through.
	if err := h.svc.HandleUpdate(h.ctx, u); err != nil {
		t.Fatal(err)
	}
	if answers := h.records.answersOf(h.records.responseOf(inv.ID).ID); len(answers) != 1 || *answers[0].Score != 3 {
		t.Errorf("answers %+v after the retry", answers)
	}
	if st := h.mustState(tg, "42"); st.QuestionID != "what_went_wrong" {
		t.Errorf("state at %q after the retry", st.QuestionID)
	}
}

func TestFailingSendIsAnErrorAndSavesNothing(t *testing.T) {
	h := newHarness(t)
	inv := h.invite("42", "C-1")
	h.tg.Fail = failSend(errTransient, 1)
	u := flows.Update{Channel: tg, UpdateID: "u-1", ChatID: "42", Text: "7", Language: "en"}
	if err := h.svc.HandleUpdate(h.ctx, u); !errors.Is(err, errTransient) {
		t.Fatalf("HandleUpdate = %v, want the send error", err)
	}
	if st := h.mustState(tg, "42"); st.QuestionID != "nps" {
		t.Errorf("state moved to %q although the next question never went out", st.QuestionID)
	}
	if h.states.seen(tg, "42", "u-1") {
		t.Error("the update is marked seen")
	}
	// The redelivery sends the question; the answer stays the first one.
	if err := h.svc.HandleUpdate(h.ctx, u); err != nil {
		t.Fatal(err)
	}
	if answers := h.records.answersOf(h.records.responseOf(inv.ID).ID); len(answers) != 1 {
		t.Errorf("answers %+v, want one", answers)
	}
	if st := h.mustState(tg, "42"); st.QuestionID != "make_it_10" {
		t.Errorf("state at %q after the redelivery", st.QuestionID)
	}
	if n := len(h.tg.sent("42")); n != 2 {
		t.Errorf("%d messages reached the chat, want 2 (invitation, next question)", n)
	}
}

func TestBlockedSendMarksTheCustomerUnreachable(t *testing.T) {
	for _, op := range []string{"Send", "CloseQuestion"} {
		t.Run(op, func(t *testing.T) {
			h := newHarness(t)
			h.invite("42", "C-1")
			h.tg.Fail = func(c chCall) error {
				if c.Op == op {
					return bot.ErrBlocked
				}
				return nil
			}
			u := flows.Update{Channel: tg, UpdateID: "u-1", ChatID: "42", Text: "7", Language: "en"}
			if err := h.svc.HandleUpdate(h.ctx, u); err != nil {
				t.Fatalf("HandleUpdate = %v, want the update acknowledged", err)
			}
			c := h.records.customer("C-1")
			if c.UnreachableAt == nil || c.OptedOutAt != nil {
				t.Errorf("customer %+v, want unreachable and not opted out", c)
			}
			if id, _ := h.records.identity(tg, "42"); id.UnreachableAt == nil {
				t.Error("the chat is not marked unreachable")
			}
			if !h.states.seen(tg, "42", "u-1") {
				t.Error("the update is not acknowledged (seen)")
			}
		})
	}
}

func TestPlatformHiccupsOnTapsAndKeyboardsAreLogged(t *testing.T) {
	h := newHarness(t)
	h.invite("42", "C-1")
	h.tg.Fail = func(c chCall) error {
		if c.Op == "AnswerTap" || c.Op == "CloseQuestion" {
			return errTransient
		}
		return nil
	}
	if err := h.svc.HandleUpdate(h.ctx, h.tap("42", "7")); err != nil {
		t.Fatalf("HandleUpdate = %v: a tap or keyboard that cannot be updated is not worth a redelivery", err)
	}
	if st := h.mustState(tg, "42"); st.QuestionID != "make_it_10" {
		t.Errorf("state at %q", st.QuestionID)
	}
	h.logged("answer tap", "connection reset")
	h.logged("close answered question", "connection reset")
}

func TestWeChatUpdatesOpenTheServiceWindowAndSpeakChinese(t *testing.T) {
	h := newHarness(t)
	u := flows.Update{Channel: wx, UpdateID: "msg-1", ChatID: "o-1", Text: "/help"}
	if err := h.svc.HandleUpdate(h.ctx, u); err != nil {
		t.Fatal(err)
	}
	if got := h.wx.texts("o-1"); len(got) != 1 || got[0] != flows.SystemText("help", "zh-CN") {
		t.Errorf("WeChat help = %q, want the Chinese help", got)
	}
	if end := h.states.lastEnd().End; end.WindowTTL != serviceWindow {
		t.Errorf("window TTL %s, want %s", end.WindowTTL, serviceWindow)
	}
	if until := h.states.windowUntil(wx, "o-1"); !until.Equal(h.clock.Now().Add(serviceWindow)) {
		t.Errorf("window open until %s", until)
	}

	// Unfollowing is not the customer writing to us.
	if err := h.svc.HandleUpdate(h.ctx, flows.Update{Channel: wx, UpdateID: "ev-2", ChatID: "o-2", Blocked: true}); err != nil {
		t.Fatal(err)
	}
	if end := h.states.lastEnd().End; end.WindowTTL != 0 {
		t.Errorf("an unfollow opened the window for %s", end.WindowTTL)
	}
	// Telegram has no window.
	h.mustSay("42", "/help")
	if end := h.states.lastEnd().End; end.WindowTTL != 0 {
		t.Errorf("a Telegram update set a window of %s", end.WindowTTL)
	}
}

func TestStart(t *testing.T) {
	h := newHarness(t)
	token, err := h.links.Token("C-9")
	if err != nil {
		t.Fatal(err)
	}
	h.mustSay("42", "/start")
	if got := h.tg.texts("42"); got[len(got)-1] != flows.SystemText("greeting", "en") {
		t.Errorf("/start answered %q, want the greeting", got)
	}
	if id, ok := h.records.identity(tg, "42"); !ok || id.CustomerID != h.records.customer("telegram:42").ID {
		t.Errorf("chat 42 is linked to %+v, want an anonymous customer telegram:42", id)
	}

	h.mustSay("43", "/start@CxBot "+token)
	if got := h.tg.texts("43"); got[len(got)-1] != flows.SystemText("linked", "en") {
		t.Errorf("/start <token> answered %q, want linked", got)
	}
	if id, ok := h.records.identity(tg, "43"); !ok || id.CustomerID != h.records.customer("C-9").ID {
		t.Errorf("chat 43 is linked to %+v, want C-9", id)
	}

	forged := token[:len(token)-1] + "x"
	if forged == token {
		forged = token[:len(token)-1] + "y"
	}
	h.mustSay("44", "/start "+forged)
	if got := h.tg.texts("44"); got[len(got)-1] != flows.SystemText("invalid_link", "en") {
		t.Errorf("forged /start answered %q, want invalid_link", got)
	}
	if _, ok := h.records.identity(tg, "44"); ok {
		t.Error("a forged link linked the chat")
	}
}

func TestStartOptsBackIn(t *testing.T) {
	h := newHarness(t)
	h.invite("42", "C-1")
	h.mustSay("42", "stop")
	c := h.records.customer("C-1")
	if err := h.records.MarkUnreachable(h.ctx, c.ID, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	h.mustSay("42", "/start")
	if got := h.tg.texts("42"); got[len(got)-1] != flows.SystemText("resumed", "en") {
		t.Errorf("/start after /stop answered %q, want resumed", got)
	}
	c = h.records.customer("C-1")
	if c.OptedOutAt != nil || c.UnreachableAt != nil {
		t.Errorf("customer %+v, want opted in and reachable", c)
	}
	if _, _, err := h.svc.Invite(h.ctx, conversation.InviteRequest{SurveyID: "nps", CustomerRef: "C-1", Channel: tg, ChatID: "42"}); err != nil {
		t.Errorf("Invite after /start = %v", err)
	}
}

// A chat keeps its consent marks when it is linked to another customer
// (flows.Identity). A customer who writes /start in such a chat asks to hear
// from us again: the chat's own marks must go too, or no survey can ever
// reach it.
func TestStartClearsTheChatsOwnConsentMarks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mark  func(h *harness, customerID int64) error
		start func(h *harness) string
	}{
		{"opted out, /start", func(h *harness, id int64) error { return h.records.OptOut(h.ctx, id, h.clock.Now()) },
			func(h *harness) string { return "/start" }},
		{"opted out, /start <token>", func(h *harness, id int64) error { return h.records.OptOut(h.ctx, id, h.clock.Now()) },
			func(h *harness) string { token, _ := h.links.Token("C-1"); return "/start " + token }},
		{"blocked, /start", func(h *harness, id int64) error { return h.records.MarkUnreachable(h.ctx, id, h.clock.Now()) },
			func(h *harness) string { return "/start" }},
		{"blocked, /start <token>", func(h *harness, id int64) error { return h.records.MarkUnreachable(h.ctx, id, h.clock.Now()) },
			func(h *harness) string { token, _ := h.links.Token("C-1"); return "/start " + token }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			// The chat was someone's (an anonymous customer) who opted out
			// or blocked the bot; then it is linked to C-1.
			h.mustSay("42", "/start")
			if err := tc.mark(h, h.records.customer("telegram:42").ID); err != nil {
				t.Fatal(err)
			}
			c1, _ := h.records.UpsertCustomer(h.ctx, "C-1", "en")
			if _, err := h.records.LinkIdentity(h.ctx, flows.Identity{CustomerID: c1.ID, Channel: tg, ExternalID: "42"}); err != nil {
				t.Fatal(err)
			}
			h.mustSay("42", tc.start(h))
			if id, _ := h.records.identity(tg, "42"); id.OptedOutAt != nil || id.UnreachableAt != nil {
				t.Errorf("after %s the chat is still opted out %v / unreachable %v", tc.start(h), id.OptedOutAt, id.UnreachableAt)
			}
			if _, _, err := h.svc.Invite(h.ctx, conversation.InviteRequest{SurveyID: "nps", CustomerRef: "C-1", Channel: tg, ChatID: "42"}); err != nil {
				t.Errorf("Invite after the customer's /start = %v", err)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	h := newHarness(t)
	h.mustSay("42", "/HELP")
	if got := h.tg.texts("42"); len(got) != 1 || got[0] != flows.SystemText("help", "en") {
		t.Errorf("/help answered %q", got)
	}
}

func TestStopWordsMidSurvey(t *testing.T) {
	for _, word := range []string{"/stop", "stop", "STOP", "退订", "TD", "td", "unsubscribe"} {
		t.Run(word, func(t *testing.T) {
			h := newHarness(t)
			inv := h.invite("42", "C-1")
			h.mustSay("42", word)
			if c := h.records.customer("C-1"); c.OptedOutAt == nil {
				t.Error("the customer is not opted out")
			}
			h.noState(tg, "42")
			if got := h.records.responseOf(inv.ID).Status; got != flows.ResponseExpired {
				t.Errorf("response %s, want expired", got)
			}
			if got := h.records.invitation(inv.ID).Status; got != flows.InvitationExpired {
				t.Errorf("invitation %s, want expired", got)
			}
			if got := h.tg.lastSent(t, "42").Message.Text; got != flows.SystemText("stopped", "en") {
				t.Errorf("answered %q, want stopped", got)
			}
			_, _, err := h.svc.Invite(h.ctx, conversation.InviteRequest{SurveyID: "nps", CustomerRef: "C-1", Channel: tg, ChatID: "42"})
			if !errors.Is(err, flows.ErrConflict) {
				t.Errorf("Invite after %s = %v, want ErrConflict", word, err)
			}
		})
	}
}

func TestStopWithoutSurvey(t *testing.T) {
	h := newHarness(t)
	h.mustSay("42", "退订")
	c := h.records.customer("telegram:42")
	if c.OptedOutAt == nil {
		t.Error("an unknown chat's stop is not recorded")
	}
	if h.records.count("ApplyStep") != 0 {
		t.Error("a stop without a survey wrote a step")
	}
	if got := h.tg.texts("42"); len(got) != 1 || got[0] != flows.SystemText("stopped", "en") {
		t.Errorf("answered %q", got)
	}
	// Not a stop word: only the whole message counts.
	h.mustSay("43", "please stop it")
	if h.records.hasCustomer("telegram:43") && h.records.customer("telegram:43").OptedOutAt != nil {
		t.Error("a sentence with stop in it opted the customer out")
	}
}

func TestBlockedUpdates(t *testing.T) {
	for _, tc := range []struct {
		ch                  flows.Channel
		chat                string
		optedOut, unreached bool
	}{
		{wx, "o-1", true, true}, // unfollowing the Official Account is an opt-out
		{tg, "42", false, true},
	} {
		t.Run(string(tc.ch), func(t *testing.T) {
			h := newHarness(t)
			h.inviteTo(conversation.InviteRequest{SurveyID: "nps", CustomerRef: "C-1", Channel: tc.ch, ChatID: tc.chat})
			calls := h.tg.callCount() + h.wx.callCount()
			if err := h.svc.HandleUpdate(h.ctx, flows.Update{Channel: tc.ch, UpdateID: "b-1", ChatID: tc.chat, Blocked: true}); err != nil {
				t.Fatal(err)
			}
			c := h.records.customer("C-1")
			if (c.OptedOutAt != nil) != tc.optedOut || (c.UnreachableAt != nil) != tc.unreached {
				t.Errorf("customer opted out %v, unreachable %v; want %v, %v", c.OptedOutAt, c.UnreachableAt, tc.optedOut, tc.unreached)
			}
			if h.tg.callCount()+h.wx.callCount() != calls {
				t.Error("a blocked chat was messaged")
			}
		})
	}
	t.Run("unknown chat", func(t *testing.T) {
		h := newHarness(t)
		if err := h.svc.HandleUpdate(h.ctx, flows.Update{Channel: tg, UpdateID: "b-1", ChatID: "99", Blocked: true}); err != nil {
			t.Fatal(err)
		}
		if h.records.hasCustomer("telegram:99") {
			t.Error("a customer was made for a chat that blocked us")
		}
	})
	t.Run("SQL down", func(t *testing.T) {
		h := newHarness(t)
		h.records.Fail = failOn("IdentityByExternal", errTransient, -1)
		if err := h.svc.HandleUpdate(h.ctx, flows.Update{Channel: tg, UpdateID: "b-1", ChatID: "42", Blocked: true}); !errors.Is(err, errTransient) {
			t.Errorf("HandleUpdate = %v, want the SQL error (redelivered)", err)
		}
		if h.states.seen(tg, "42", "b-1") {
			t.Error("a block that was not recorded is marked seen")
		}
	})
}

func TestConversationWhoseSurveyChangedExpiresPolitely(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(h *harness)
	}{
		{"survey removed", func(h *harness) { delete(h.cfg.Surveys, "nps") }},
		{"question removed", func(h *harness) {
			st := h.mustState(tg, "42")
			st.QuestionID = "dropped_question"
			h.states.put(tg, "42", st)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			inv := h.invite("42", "C-1")
			tc.change(h)
			h.mustSay("42", "9")
			if got := h.tg.lastSent(t, "42").Message.Text; got != flows.SystemText("expired", "en") {
				t.Errorf("answered %q, want expired", got)
			}
			h.noState(tg, "42")
			if got := h.records.responseOf(inv.ID).Status; got != flows.ResponseExpired {
				t.Errorf("response %s, want expired", got)
			}
			if answers := h.records.answersOf(h.records.responseOf(inv.ID).ID); len(answers) != 0 {
				t.Errorf("stored %+v for a survey that changed", answers)
			}
		})
	}
}

func TestNoConversation(t *testing.T) {
	t.Run("never invited", func(t *testing.T) {
		h := newHarness(t)
		h.mustSay("42", "hello?")
		if got := h.tg.texts("42"); len(got) != 1 || got[0] != flows.SystemText("no_survey", "en") {
			t.Errorf("answered %q, want no_survey", got)
		}
		if h.records.count("ApplyStep") != 0 {
			t.Error("a step was written without a response")
		}
	})
	t.Run("conversation expired in Redis", func(t *testing.T) {
		h := newHarness(t)
		inv := h.invite("42", "C-1")
		h.clock.Advance(71 * time.Hour)
		h.mustState(tg, "42") // still there before the 72h TTL
		h.clock.Advance(2 * time.Hour)
		h.mustSay("42", "9")
		if got := h.tg.lastSent(t, "42").Message.Text; got != "This survey is over, thanks anyway." {
			t.Errorf("answered %q, want the survey's expired text", got)
		}
		if got := h.records.responseOf(inv.ID).Status; got != flows.ResponseExpired {
			t.Errorf("response %s, want expired", got)
		}
		if got := h.records.invitation(inv.ID).Status; got != flows.InvitationExpired {
			t.Errorf("invitation %s, want expired", got)
		}
	})
	t.Run("tap on an expired conversation", func(t *testing.T) {
		h := newHarness(t)
		inv := h.invite("42", "C-1")
		u := h.tap("42", "9")
		h.clock.Advance(73 * time.Hour)
		if err := h.svc.HandleUpdate(h.ctx, u); err != nil {
			t.Fatal(err)
		}
		taps := h.tg.succeeded("AnswerTap")
		if len(taps) != 1 || taps[0].Text != "This survey is over, thanks anyway." {
			t.Errorf("tap answered %+v", taps)
		}
		if got := h.records.responseOf(inv.ID).Status; got != flows.ResponseExpired {
			t.Errorf("response %s, want expired", got)
		}
	})
	t.Run("tap with no response at all", func(t *testing.T) {
		h := newHarness(t)
		tap := flows.Tap{ResponseID: 7, QuestionID: "nps", Value: "9"}
		if err := h.svc.HandleUpdate(h.ctx, flows.Update{Channel: tg, UpdateID: "1", ChatID: "42", Tap: &tap, TapID: "cb", Language: "en"}); err != nil {
			t.Fatal(err)
		}
		if taps := h.tg.succeeded("AnswerTap"); len(taps) != 1 || taps[0].Text != flows.SystemText("closed", "en") {
			t.Errorf("tap answered %+v, want closed", taps)
		}
		if n := len(h.tg.sent("42")); n != 0 {
			t.Errorf("%d messages for an old keyboard", n)
		}
	})
	t.Run("invitation whose send failed", func(t *testing.T) {
		// Its response was started, but the customer never saw a question.
		h := newHarness(t)
		h.tg.Fail = failSend(errTransient, 1)
		if _, _, err := h.svc.Invite(h.ctx, conversation.InviteRequest{SurveyID: "nps", CustomerRef: "C-1", Channel: tg, ChatID: "42"}); err == nil {
			t.Fatal("Invite succeeded with a failing send")
		}
		h.mustSay("42", "9")
		if got := h.tg.texts("42"); len(got) != 1 || got[0] != flows.SystemText("no_survey", "en") {
			t.Errorf("answered %q, want no_survey", got)
		}
	})
	t.Run("SQL down", func(t *testing.T) {
		h := newHarness(t)
		h.records.Fail = failOn("OpenResponseForChat", errTransient, -1)
		if err := h.say("42", "9"); !errors.Is(err, errTransient) {
			t.Errorf("HandleUpdate = %v, want the SQL error", err)
		}
	})
}

func TestStickersAreIgnored(t *testing.T) {
	for _, text := range []string{"", "   "} {
		h := newHarness(t)
		h.invite("42", "C-1")
		sends := len(h.tg.sent("42"))
		if err := h.svc.HandleUpdate(h.ctx, flows.Update{Channel: tg, UpdateID: "s-1", ChatID: "42", Text: text}); err != nil {
			t.Fatal(err)
		}
		if len(h.tg.sent("42")) != sends || h.records.count("ApplyStep") != 0 {
			t.Errorf("text %q was answered or stored", text)
		}
		if st := h.mustState(tg, "42"); st.Attempts != 0 {
			t.Errorf("a sticker counted as a failed try")
		}
		if !h.states.seen(tg, "42", "s-1") {
			t.Error("the sticker is not acknowledged")
		}
	}
}

func TestUpdateFromAChannelNotConfigured(t *testing.T) {
	h := newHarness(t)
	err := h.svc.HandleUpdate(h.ctx, flows.Update{Channel: "line", UpdateID: "1", ChatID: "42", Text: "hi"})
	if !errors.Is(err, flows.ErrUnavailable) {
		t.Errorf("HandleUpdate = %v, want ErrUnavailable", err)
	}
}

func TestBeginFailing(t *testing.T) {
	h := newHarness(t)
	h.states.Fail = failOn("Begin", errTransient, -1)
	err := h.say("42", "9")
	if !errors.Is(err, errTransient) || !strings.Contains(err.Error(), "begin turn at chat 42") {
		t.Errorf("HandleUpdate = %v, want the Begin error with the chat", err)
	}
	if h.tg.callCount() != 0 || h.records.count("IdentityByExternal") != 0 {
		t.Error("the step ran without a turn")
	}
}

// When the turn cannot be ended (Redis fails), the update is given back:
// the chat stays held until its lease runs out, as in Redis, and then the
// redelivery runs again with the answer kept once.
func TestEndFailingGivesTheUpdateBack(t *testing.T) {
	h := newHarness(t)
	h.expectHeld = []string{"42"}
	inv := h.invite("42", "C-1")
	h.states.Fail = failOn("End", errTransient, 1)
	u := flows.Update{Channel: tg, UpdateID: "u-1", ChatID: "42", Text: "7", Language: "en"}
	if err := h.svc.HandleUpdate(h.ctx, u); !errors.Is(err, errTransient) {
		t.Fatalf("HandleUpdate = %v, want the End error", err)
	}
	if h.states.seen(tg, "42", "u-1") {
		t.Error("marked seen although End failed")
	}
	h.clock.Advance(time.Minute) // the lease runs out
	if err := h.svc.HandleUpdate(h.ctx, u); err != nil {
		t.Fatal(err)
	}
	if answers := h.records.answersOf(h.records.responseOf(inv.ID).ID); len(answers) != 1 {
		t.Errorf("answers %+v, want the score once", answers)
	}
	if st := h.mustState(tg, "42"); st.QuestionID != "make_it_10" {
		t.Errorf("state at %q", st.QuestionID)
	}
}

// A step that outlives its lease (by the fake clock) is written all the
// same: End reports the conflict and the Service only logs it.
func TestStepOutlivingItsLeaseIsWrittenAndLogged(t *testing.T) {
	h := newHarness(t)
	h.invite("42", "C-1")
	h.tg.Fail = func(c chCall) error {
		if c.Op == "Send" {
			h.clock.Advance(time.Minute)
		}
		return nil
	}
	if err := h.say("42", "7"); err != nil {
		t.Fatalf("HandleUpdate = %v", err)
	}
	if st := h.mustState(tg, "42"); st.QuestionID != "make_it_10" {
		t.Errorf("state at %q, want it written all the same", st.QuestionID)
	}
	h.logged("lease ran out", "chat_id=42")
}

// Two updates of one chat at once: the turns make them one after the other,
// so exactly one score is stored and the other update finds the survey done.
func TestConcurrentUpdatesOfOneChat(t *testing.T) {
	h := newHarness(t)
	inv := h.invite("42", "C-1")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.svc.HandleUpdate(h.ctx, flows.Update{Channel: tg, UpdateID: "c-" + string(rune('a'+i)), ChatID: "42", Text: "10", Language: "en"})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("update %d: %v", i, err)
		}
	}
	answers := h.records.answersOf(h.records.responseOf(inv.ID).ID)
	if len(answers) != 1 {
		t.Errorf("answers %+v, want one", answers)
	}
	thanks := 0
	for _, text := range h.tg.texts("42") {
		if text == "Thanks a lot!" {
			thanks++
		}
	}
	if thanks != 1 {
		t.Errorf("thanked %d times, want once", thanks)
	}
}

// Every SQL failure of a command gives the update back (an error, no seen
// mark, nothing said), so the platform's redelivery applies it.
func TestCommandSQLErrorsGiveTheUpdateBack(t *testing.T) {
	start := func(*harness) string { return "/start" }
	link := func(h *harness) string { tok, _ := h.links.Token("C-1"); return "/start " + tok }
	stop := func(*harness) string { return "stop" }
	for _, tc := range []struct {
		name   string
		text   func(h *harness) string
		setup  func(h *harness)
		method string
	}{
		{"/start, chat lookup", start, nil, "IdentityByExternal"},
		{"/start, new customer", start, nil, "UpsertCustomer"},
		{"/start, new chat", start, nil, "LinkIdentity"},
		{"/start <token>, customer", link, nil, "UpsertCustomer"},
		{"/start <token>, chat", link, nil, "LinkIdentity"},
		{"/start, opt in", start, func(h *harness) { h.mustSay("42", "/stop") }, "OptIn"},
		{"/start, reachable again", start, func(h *harness) {
			h.mustSay("42", "/start")
			_ = h.records.MarkUnreachable(h.ctx, h.records.customer("telegram:42").ID, h.clock.Now())
		}, "ClearUnreachable"},
		{"stop, chat lookup", stop, nil, "IdentityByExternal"},
		{"stop, opt out", stop, nil, "OptOut"},
		{"stop mid-survey, expire", stop, func(h *harness) { h.invite("42", "C-1") }, "ApplyStep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if tc.setup != nil {
				tc.setup(h)
			}
			text := tc.text(h)
			before, hadState := h.states.state(tg, "42")
			sends := len(h.tg.sent("42"))
			h.records.Fail = failOn(tc.method, errTransient, -1)
			err := h.svc.HandleUpdate(h.ctx, flows.Update{Channel: tg, UpdateID: "u-x", ChatID: "42", Text: text, Language: "en"})
			if !errors.Is(err, errTransient) {
				t.Fatalf("HandleUpdate(%q) with %s failing = %v", text, tc.method, err)
			}
			if h.states.seen(tg, "42", "u-x") || len(h.tg.sent("42")) != sends {
				t.Error("a failed command was acknowledged or answered")
			}
			if after, has := h.states.state(tg, "42"); has != hadState || after.QuestionID != before.QuestionID {
				t.Errorf("state changed: %+v → %+v", before, after)
			}
		})
	}
}
