package conversation_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/conversation"
	"github.com/cxbot/cxbot/flows"
)

var (
	_ conversation.Records = (*memRecords)(nil)
	_ conversation.States  = (*memStates)(nil)
	_ bot.Channel          = (*fakeChannel)(nil)
	_ bot.Channel          = (*fakeWeChat)(nil)
	_ bot.TemplateSender   = (*fakeWeChat)(nil)
	_ bot.AgentNotifier    = (*fakeAgents)(nil)
)

// The surveys the tests run, in the tests so their texts are fixed here.
//
// npsSurvey: a score, then for a detractor a comment (the handoff waits for
// it), for a passive an optional comment, for a promoter the end; a WeChat
// template. quickSurvey: one CSAT question, so a bad score opens a handoff
// that is ready at once; no template.
const npsSurvey = `
id: nps
title: {en: "After your purchase", zh-CN: "购后回访"}
default_language: en
messages:
  intro: {en: "Hi there!", zh-CN: "您好！"}
  thanks: {en: "Thanks a lot!", zh-CN: "非常感谢！"}
  handoff: {en: "Sorry! A person will contact you.", zh-CN: "抱歉！我们会联系您。"}
  expired: {en: "This survey is over, thanks anyway.", zh-CN: "问卷已结束，谢谢。"}
wechat_template:
  id: TEMPLATE-1
  url: https://example.com/s
  fields:
    first: {en: "Tell us how we did", zh-CN: "请评价我们"}
    keyword1: "{survey}"
    remark: "{question} Reply {valid}."
questions:
  - id: nps
    kind: nps
    prompt: {en: "How likely are you to recommend us?", zh-CN: "您有多大可能推荐我们？"}
    branches:
      - {when: detractor, goto: what_went_wrong}
      - {when: passive, goto: make_it_10}
      - {when: promoter, goto: end}
    next: end
  - id: what_went_wrong
    kind: text
    prompt: {en: "What went wrong?", zh-CN: "哪里让您失望了？"}
    next: end
  - id: make_it_10
    kind: text
    optional: true
    prompt: {en: "What would make it a 10?", zh-CN: "怎样才能打10分？"}
`

const quickSurvey = `
id: quick
default_language: en
questions:
  - id: csat
    kind: csat
    prompt: {en: "How satisfied are you?", zh-CN: "您满意吗？"}
`

const (
	tg = flows.ChannelTelegram
	wx = flows.ChannelWeChat
)

// serviceWindow is WeChat's 48 hours less the Service's safety margin.
const serviceWindow = 48*time.Hour - 5*time.Minute

type harness struct {
	t       *testing.T
	ctx     context.Context
	clock   *fakeClock
	log     *journal
	records *memRecords
	states  *memStates
	tg      *fakeChannel
	wx      *fakeWeChat
	agents  *fakeAgents
	links   linkIssuer
	linkDB  *memLinks
	logs    *syncBuffer
	cfg     conversation.Config
	svc     *conversation.Service

	expectHeld []string // chats a test leaves held on purpose
	updates    int
}

func loadSurveys(t *testing.T) map[string]*flows.Survey {
	t.Helper()
	out := map[string]*flows.Survey{}
	for _, src := range []string{npsSurvey, quickSurvey} {
		s, err := flows.ParseSurvey("test", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		s.Version = 1
		out[s.ID] = s
	}
	return out
}

// newHarness wires a Service to fresh fakes: Telegram and WeChat, an
// agents' chat, a link signer, the fake clock. configure may change the
// Config before the Service is made. At the end of the test it checks that
// no chat was left held and the states were used as a turn must.
func newHarness(t *testing.T, configure ...func(*conversation.Config)) *harness {
	t.Helper()
	clock, log := newClock(), &journal{}
	h := &harness{
		t: t, ctx: context.Background(), clock: clock, log: log,
		records: newRecords(t, clock.Now, log),
		states:  newStates(t, clock.Now, log),
		tg:      newChannel(tg, log),
		wx:      &fakeWeChat{newChannel(wx, log)},
		agents:  &fakeAgents{log: log},
		linkDB:  newMemLinks(),
		logs:    &syncBuffer{},
	}
	h.links = linkIssuer{ctx: h.ctx, links: conversation.NewLinks(h.linkDB, 0, clock.Now)}
	h.cfg = conversation.Config{
		Records:  h.records,
		States:   h.states,
		Channels: []bot.Channel{h.tg, h.wx},
		Agents:   h.agents,
		Surveys:  loadSurveys(t),
		Links:    h.links.links,
		Logger:   slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:      clock.Now,
	}
	for _, c := range configure {
		c(&h.cfg)
	}
	svc, err := conversation.New(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	t.Cleanup(func() {
		h.states.check(t, h.expectHeld...)
		if t.Failed() {
			t.Logf("calls: %s", strings.Join(h.log.list(), " "))
			t.Logf("service log:\n%s", h.logs.String())
		}
	})
	return h
}

// invite starts the nps survey for a customer in a Telegram chat.
func (h *harness) invite(chatID, ref string) flows.Invitation {
	h.t.Helper()
	return h.inviteTo(conversation.InviteRequest{SurveyID: "nps", CustomerRef: ref, Channel: tg, ChatID: chatID, Language: "en"})
}

func (h *harness) inviteTo(req conversation.InviteRequest) flows.Invitation {
	h.t.Helper()
	inv, created, err := h.svc.Invite(h.ctx, req)
	if err != nil || !created {
		h.t.Fatalf("Invite(%+v) = %v, created %v", req, err, created)
	}
	return inv
}

// say sends a Telegram text update with a fresh update id.
func (h *harness) say(chatID, text string) error {
	h.updates++
	return h.svc.HandleUpdate(h.ctx, flows.Update{Channel: tg, UpdateID: fmt.Sprint(h.updates), ChatID: chatID, Text: text, Language: "en"})
}

func (h *harness) mustSay(chatID, text string) {
	h.t.Helper()
	if err := h.say(chatID, text); err != nil {
		h.t.Fatalf("update %q: %v", text, err)
	}
}

// tap taps a button of the chat's current question.
func (h *harness) tap(chatID, value string) flows.Update {
	h.t.Helper()
	st := h.mustState(tg, chatID)
	h.updates++
	return flows.Update{
		Channel: tg, UpdateID: fmt.Sprint(h.updates), ChatID: chatID, Language: "en",
		Tap:   &flows.Tap{ResponseID: st.ResponseID, QuestionID: st.QuestionID, Value: value},
		TapID: fmt.Sprintf("cb-%d", h.updates), MessageID: st.PromptMessageID,
	}
}

func (h *harness) mustState(ch flows.Channel, chatID string) flows.State {
	h.t.Helper()
	st, ok := h.states.state(ch, chatID)
	if !ok {
		h.t.Fatalf("chat %s has no conversation", chatID)
	}
	return st
}

func (h *harness) noState(ch flows.Channel, chatID string) {
	h.t.Helper()
	if st, ok := h.states.state(ch, chatID); ok {
		h.t.Fatalf("chat %s still has a conversation: %+v", chatID, st)
	}
}

// logged checks the Service logged a line with all the parts.
func (h *harness) logged(parts ...string) {
	h.t.Helper()
	for _, line := range strings.Split(h.logs.String(), "\n") {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
			return
		}
	}
	h.t.Errorf("no log line with %q in:\n%s", parts, h.logs.String())
}

// order checks that the entries appear in the journal in this order (each
// entry's first occurrence after the previous one's).
func order(t *testing.T, entries []string, want ...string) {
	t.Helper()
	i := 0
	for _, e := range entries {
		if i < len(want) && e == want[i] {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("calls out of order: want %q in this order, got %q", want, entries)
	}
}

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s = %q, want it to contain %q", what, got, w)
		}
	}
}
