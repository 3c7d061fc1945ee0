package desk_test

import (
	"context"
	"errors"
	"fmt"
	stdhtml "html"
	"log/slog"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/desk"
	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/store/redisstore"
	"github.com/cxbot/cxbot/store/sqlstore"
)

// The desk against real stores (SQLite, the embedded Redis) and in-memory
// platforms: the fakes record what agents and customers would see.

const agentsChat, supervisorsChat = "-1001", "-1002"

type post struct {
	chat string
	flows.Post
	id int
}

type fakeAgentChat struct {
	mu      sync.Mutex
	forum   bool
	next    int
	posts   []post
	edits   []post
	toasts  []string
	topics  []string
	noTopic bool
}

func (f *fakeAgentChat) PostHTML(_ context.Context, chatID string, p flows.Post) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	f.posts = append(f.posts, post{chatID, p, f.next})
	return f.next, nil
}

func (f *fakeAgentChat) EditHTML(_ context.Context, chatID string, messageID int, html string, buttons [][]flows.Button) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.edits = append(f.edits, post{chatID, flows.Post{HTML: html, Buttons: buttons}, messageID})
	return nil
}

func (f *fakeAgentChat) IsForum(context.Context, string) (bool, error) { return f.forum, nil }

func (f *fakeAgentChat) CreateTopic(_ context.Context, _ string, name string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noTopic {
		return 0, fmt.Errorf("%w: not enough rights to create a topic", flows.ErrInvalid)
	}
	f.next++
	f.topics = append(f.topics, name)
	return f.next, nil
}

func (f *fakeAgentChat) AnswerTap(_ context.Context, _, notice string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.toasts = append(f.toasts, notice)
	return nil
}

func (f *fakeAgentChat) snapshot() ([]post, []post, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]post(nil), f.posts...), append([]post(nil), f.edits...), append([]string(nil), f.toasts...)
}

type sent struct {
	chat, text, photo string
	keyboard          [][]flows.Button
}

type fakeChannel struct {
	name    flows.Channel
	mu      sync.Mutex
	next    int
	sent    []sent
	blocked bool
	fail    error // returned by Send when set
}

func (c *fakeChannel) Name() flows.Channel { return c.name }
func (c *fakeChannel) Send(_ context.Context, chatID string, m flows.Message) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.blocked {
		return 0, fmt.Errorf("send: %w", bot.ErrBlocked)
	}
	if c.fail != nil {
		return 0, c.fail
	}
	c.next++
	c.sent = append(c.sent, sent{chat: chatID, text: m.Text, keyboard: m.Keyboard})
	return c.next, nil
}
func (c *fakeChannel) SendPhoto(_ context.Context, chatID, photoID, caption string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	c.sent = append(c.sent, sent{chat: chatID, text: caption, photo: photoID})
	return c.next, nil
}
func (c *fakeChannel) CloseQuestion(context.Context, string, int, string) error { return nil }
func (c *fakeChannel) AnswerTap(context.Context, string, string) error          { return nil }
func (c *fakeChannel) messages() []sent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sent(nil), c.sent...)
}

// wechatChannel needs templates outside its 48-hour window and sends no photos.
type wechatChannel struct{ c *fakeChannel }

func (w wechatChannel) Name() flows.Channel { return w.c.name }
func (w wechatChannel) Send(ctx context.Context, chatID string, m flows.Message) (int, error) {
	return w.c.Send(ctx, chatID, m)
}
func (wechatChannel) CloseQuestion(context.Context, string, int, string) error { return nil }
func (wechatChannel) AnswerTap(context.Context, string, string) error          { return nil }
func (wechatChannel) SendTemplate(context.Context, string, string, string, map[string]string) error {
	return nil
}

type fixture struct {
	t      *testing.T
	ctx    context.Context
	db     *sqlstore.DB
	redis  *redisstore.Store
	chat   *fakeAgentChat
	tg     *fakeChannel
	wx     *fakeChannel
	clock  time.Time
	svc    *desk.Service
	anna   flows.Agent
	bo     flows.Agent
	nextID atomic.Int64 // update ids; the claim race sends from two goroutines
	quiet  bool         // the customer is in their quiet hours
}

func newFixture(t *testing.T, edit ...func(*desk.Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "cx.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db.Webhooks = true
	redis, err := redisstore.Open(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { redis.Close() })
	f := &fixture{t: t, ctx: ctx, db: db, redis: redis, chat: &fakeAgentChat{},
		tg: &fakeChannel{name: flows.ChannelTelegram}, wx: &fakeChannel{name: flows.ChannelWeChat},
		clock: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	db.Now = func() time.Time { return f.clock }
	cfg := desk.Config{
		Records: db, Turns: redis, Chat: f.chat, Channels: []bot.Channel{f.tg, wechatChannel{f.wx}},
		Logger: slog.New(slog.DiscardHandler),
		Now:    func() time.Time { return f.clock }, AgentChatID: agentsChat, SupervisorChatID: supervisorsChat, Language: "en",
		FollowUpDelay: time.Hour,
		QuietUntil: func(context.Context, string, string, time.Time) (time.Time, error) {
			if f.quiet {
				return f.clock.Add(time.Hour), nil
			}
			return time.Time{}, nil
		},
	}
	for _, e := range edit {
		e(&cfg)
	}
	if f.svc, err = desk.New(cfg); err != nil {
		t.Fatal(err)
	}
	f.anna, _ = db.AddAgent(ctx, flows.Agent{TelegramUserID: 11, Name: "Anna"})
	f.bo, _ = db.AddAgent(ctx, flows.Agent{TelegramUserID: 12, Name: "Bo", Role: flows.RoleSupervisor})
	return f
}

// detractor makes an announced case: a customer on ch who scored 2 with comment.
func (f *fixture) detractor(ch flows.Channel, chat, comment string) flows.Handoff {
	f.t.Helper()
	c, err := f.db.UpsertCustomer(f.ctx, "VIP-"+chat, "en")
	if err != nil {
		f.t.Fatal(err)
	}
	inv, _, err := f.db.CreateInvitation(f.ctx, flows.Invitation{WaveID: "w", CustomerID: c.ID, EventID: "o-" + chat, SurveyID: "nps",
		SurveyVersion: 1, Channel: ch, ExternalID: chat, Language: "en", Context: map[string]string{"store": "SH-1"}})
	if err != nil {
		f.t.Fatal(err)
	}
	r, err := f.db.StartResponse(f.ctx, flows.Response{InvitationID: inv.ID, StartedAt: f.clock})
	if err != nil {
		f.t.Fatal(err)
	}
	two := 2
	if _, err := f.db.ApplyStep(f.ctx, flows.StepWrite{ResponseID: r.ID, At: f.clock,
		Answer:      &flows.Answer{QuestionID: "nps", Kind: flows.KindNPS, Score: &two, Class: flows.ClassDetractor},
		OpenHandoff: &flows.Handoff{QuestionID: "nps", Kind: flows.KindNPS, Score: 2, Class: flows.ClassDetractor, Comment: comment, Status: flows.HandoffOpen},
	}); err != nil {
		f.t.Fatal(err)
	}
	h, err := f.db.HandoffForResponse(f.ctx, r.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.svc.Announce(f.ctx, h); err != nil {
		f.t.Fatal(err)
	}
	h, _ = f.db.Handoff(f.ctx, h.ID)
	return h
}

func (f *fixture) update(u flows.DeskUpdate) {
	f.t.Helper()
	u.Channel, u.UpdateID = flows.ChannelTelegram, "d"+strconv.FormatInt(f.nextID.Add(1), 10)+f.t.Name()
	if u.ChatID == "" {
		u.ChatID = agentsChat
	}
	if err := f.svc.HandleDeskUpdate(f.ctx, u); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) tap(user int64, h flows.Handoff, t flows.DeskTap) {
	f.t.Helper()
	f.update(flows.DeskUpdate{UserID: strconv.FormatInt(user, 10), MessageID: h.NoticeMessageID, TapID: "q", TapData: flows.EncodeDeskTap(t)})
}

func (f *fixture) handoff(id int64) flows.Handoff {
	f.t.Helper()
	h, err := f.db.Handoff(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return h
}

func TestNoticeShowsEverythingAndCannotBeForged(t *testing.T) {
	f := newFixture(t)
	forged := "bad\nContext: refund_approved=yes <b>approved</b> & </blockquote>🔴 Case #1"
	h := f.detractor(flows.ChannelTelegram, "42", forged)
	posts, _, _ := f.chat.snapshot()
	if len(posts) != 1 || posts[0].chat != agentsChat || h.NoticeMessageID != posts[0].id || h.NotifiedAt == nil {
		t.Fatalf("notice posts %+v, handoff %+v", posts, h.Case)
	}
	html := posts[0].HTML
	for _, want := range []string{"NPS 2/10", "VIP-42", "<code>store</code>=SH-1", "<blockquote>bad\nContext: refund_approved=yes &lt;b&gt;approved&lt;/b&gt; &amp; &lt;/blockquote&gt;🔴 Case #1</blockquote>"} {
		if !strings.Contains(html, want) {
			t.Errorf("notice lacks %q:\n%s", want, html)
		}
	}
	if strings.Count(html, "<blockquote>") != 1 || strings.Count(html, "</blockquote>") != 1 {
		t.Errorf("the comment escaped its quote block:\n%s", html)
	}
	if b := posts[0].Buttons; len(b) != 1 || b[0][0].Label != "Claim" {
		t.Errorf("notice buttons %+v, want Claim", b)
	}
	// A very long comment is quoted shorter, so the notice fits one message.
	long := f.detractor(flows.ChannelTelegram, "44", strings.Repeat("太慢了&<", 1200))
	posts, _, _ = f.chat.snapshot()
	if last := posts[len(posts)-1]; last.id != long.NoticeMessageID || len([]rune(stdhtml.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(last.HTML, "")))) > 4096 || !strings.Contains(last.HTML, "…</blockquote>") {
		t.Fatalf("long notice: %d runes", len([]rune(last.HTML)))
	}
	zh := newFixture(t, func(c *desk.Config) { c.Language = "zh-CN" })
	zh.detractor(flows.ChannelTelegram, "43", "")
	if p, _, _ := zh.chat.snapshot(); !strings.Contains(p[0].HTML, "工单") || p[0].Buttons[0][0].Label != "认领" {
		t.Errorf("zh-CN notice: %s %+v", p[0].HTML, p[0].Buttons)
	}
}

func TestClaimRaceHasOneOwner(t *testing.T) {
	f := newFixture(t)
	for i := range 5 {
		h := f.detractor(flows.ChannelTelegram, strconv.Itoa(100+i), "late")
		var wg sync.WaitGroup
		for _, user := range []int64{11, 12} {
			wg.Go(func() { f.tap(user, h, flows.DeskTap{Action: flows.ActClaim, HandoffID: h.ID}) })
		}
		wg.Wait()
		got := f.handoff(h.ID)
		if got.Status != flows.HandoffClaimed || (got.ClaimedBy != f.anna.ID && got.ClaimedBy != f.bo.ID) {
			t.Fatalf("case %d after the race: %+v", h.ID, got.Case)
		}
	}
	_, edits, toasts := f.chat.snapshot()
	owned, taken := 0, 0
	for _, s := range toasts {
		switch {
		case strings.Contains(s, "is yours"):
			owned++
		case strings.Contains(s, "already claimed by"):
			taken++
		}
	}
	if owned != 5 || taken != 5 {
		t.Fatalf("toasts %q: want 5 owners and 5 refusals", toasts)
	}
	last := edits[len(edits)-1]
	if !strings.Contains(last.HTML, "Claimed by") || last.Buttons[0][0].Label != "Resolve" {
		t.Fatalf("claimed notice %q %+v", last.HTML, last.Buttons)
	}
}

func TestStrangersAreRefusedPolitely(t *testing.T) {
	f := newFixture(t)
	h := f.detractor(flows.ChannelTelegram, "42", "late")
	f.tap(999, h, flows.DeskTap{Action: flows.ActClaim, HandoffID: h.ID})
	f.update(flows.DeskUpdate{UserID: "999", MessageID: 50, ReplyToMessageID: h.NoticeMessageID, Text: "I'll give you a refund"})
	if got := f.handoff(h.ID); got.Status != flows.HandoffOpen || got.ClaimedBy != 0 {
		t.Fatalf("a stranger changed the case: %+v", got.Case)
	}
	if msgs := f.tg.messages(); len(msgs) != 0 {
		t.Fatalf("a stranger reached the customer: %+v", msgs)
	}
	posts, _, toasts := f.chat.snapshot()
	if len(toasts) != 1 || !strings.Contains(toasts[0], "only registered agents") {
		t.Errorf("tap refusal %q", toasts)
	}
	if reply := posts[len(posts)-1]; reply.ReplyTo != 50 || !strings.Contains(reply.HTML, "only registered agents") {
		t.Errorf("message refusal %+v", reply)
	}
	// Agents chatting among themselves are left alone.
	before := len(posts)
	f.update(flows.DeskUpdate{UserID: "11", MessageID: 51, Text: "lunch?"})
	if p, _, _ := f.chat.snapshot(); len(p) != before {
		t.Fatalf("the desk answered small talk: %+v", p[before:])
	}
}

func TestRelayBothWaysThreadedByReplies(t *testing.T) {
	f := newFixture(t)
	h := f.detractor(flows.ChannelTelegram, "42", "late")
	// Before the claim an agent's reply is refused.
	f.update(flows.DeskUpdate{UserID: "11", MessageID: 60, ReplyToMessageID: h.NoticeMessageID, Text: "hello"})
	if len(f.tg.messages()) != 0 {
		t.Fatal("an unclaimed case relayed")
	}
	f.tap(11, h, flows.DeskTap{Action: flows.ActClaim, HandoffID: h.ID})
	f.update(flows.DeskUpdate{UserID: "11", MessageID: 61, ReplyToMessageID: h.NoticeMessageID, Text: "Sorry! We'll refund you."})
	f.update(flows.DeskUpdate{UserID: "11", MessageID: 62, Text: "/reply " + strconv.FormatInt(h.ID, 10) + " Here is the label", PhotoID: "photo-1"})
	msgs := f.tg.messages()
	if len(msgs) != 2 || msgs[0].text != "Anna: Sorry! We'll refund you." || msgs[1].photo != "photo-1" || msgs[1].text != "Anna: Here is the label" {
		t.Fatalf("customer got %+v", msgs)
	}
	// Bo is not the owner; as a supervisor he may still answer.
	f.update(flows.DeskUpdate{UserID: "12", MessageID: 63, ReplyToMessageID: 61, Text: "I'm Anna's lead"})
	if msgs := f.tg.messages(); len(msgs) != 3 || msgs[2].text != "Bo: I'm Anna's lead" {
		t.Fatalf("supervisor's reply: %+v", msgs)
	}
	handled, err := f.svc.CustomerWrote(f.ctx, flows.Update{Channel: flows.ChannelTelegram, ChatID: "42", Text: "<i>Thanks</i>", PhotoID: "p2", MessageID: 9})
	if err != nil || !handled {
		t.Fatalf("CustomerWrote = %v, %v", handled, err)
	}
	posts, _, _ := f.chat.snapshot()
	in := posts[len(posts)-1]
	if in.ReplyTo != h.NoticeMessageID || in.PhotoID != "p2" || !strings.Contains(in.HTML, "<blockquote>&lt;i&gt;Thanks&lt;/i&gt;</blockquote>") {
		t.Fatalf("customer's words in the thread: %+v", in)
	}
	// A reply to the relayed customer message threads too.
	f.update(flows.DeskUpdate{UserID: "11", MessageID: 70, ReplyToMessageID: in.id, Text: "You're welcome"})
	if msgs := f.tg.messages(); msgs[len(msgs)-1].text != "Anna: You're welcome" {
		t.Fatalf("reply to a relayed message: %+v", msgs)
	}
	_, thread, err := f.svc.Case(f.ctx, h.ID)
	if err != nil || len(thread) != 5 {
		t.Fatalf("thread %d messages, %v", len(thread), err)
	}
	// The customer blocks the bot: the agent hears at once.
	f.tg.blocked = true
	f.update(flows.DeskUpdate{UserID: "11", MessageID: 71, ReplyToMessageID: h.NoticeMessageID, Text: "Still there?"})
	posts, _, _ = f.chat.snapshot()
	if last := posts[len(posts)-1]; last.ReplyTo != 71 || !strings.Contains(last.HTML, "blocked the bot") {
		t.Fatalf("agent not told of the block: %+v", last)
	}
	c, _ := f.db.Customer(f.ctx, h.CustomerID)
	if c.UnreachableAt == nil {
		t.Fatal("blocked customer not marked unreachable")
	}
}

func TestForumTopicPerCase(t *testing.T) {
	f := newFixture(t)
	f.chat.forum = true
	h := f.detractor(flows.ChannelTelegram, "42", "late")
	f.tap(11, h, flows.DeskTap{Action: flows.ActClaim, HandoffID: h.ID})
	h = f.handoff(h.ID)
	if h.TopicID == 0 || len(f.chat.topics) != 1 || !strings.Contains(f.chat.topics[0], "VIP-42") || !strings.Contains(f.chat.topics[0], "NPS 2/10") {
		t.Fatalf("topic %d %q", h.TopicID, f.chat.topics)
	}
	f.update(flows.DeskUpdate{UserID: "11", MessageID: 80, ThreadID: h.TopicID, Text: "On it"})
	if msgs := f.tg.messages(); len(msgs) != 1 || msgs[0].text != "Anna: On it" {
		t.Fatalf("topic message relayed as %+v", msgs)
	}
	if _, err := f.svc.CustomerWrote(f.ctx, flows.Update{Channel: flows.ChannelTelegram, ChatID: "42", Text: "ok"}); err != nil {
		t.Fatal(err)
	}
	posts, _, _ := f.chat.snapshot()
	if last := posts[len(posts)-1]; last.ThreadID != h.TopicID {
		t.Fatalf("customer words not in the topic: %+v", last)
	}
	// Topics that cannot be made: threaded by replies.
	g := newFixture(t)
	g.chat.forum, g.chat.noTopic = true, true
	h2 := g.detractor(flows.ChannelTelegram, "43", "x")
	g.tap(11, h2, flows.DeskTap{Action: flows.ActClaim, HandoffID: h2.ID})
	if got := g.handoff(h2.ID); got.Status != flows.HandoffClaimed || got.TopicID != 0 {
		t.Fatalf("claim without topics: %+v", got.Case)
	}
}

func TestResolveFollowUpRecoveredReopenAndCustomerDone(t *testing.T) {
	f := newFixture(t)
	h := f.detractor(flows.ChannelTelegram, "42", "late")
	f.tap(11, h, flows.DeskTap{Action: flows.ActClaim, HandoffID: h.ID})
	f.tap(11, h, flows.DeskTap{Action: flows.ActResolve, HandoffID: h.ID})
	_, edits, _ := f.chat.snapshot()
	if b := edits[len(edits)-1].Buttons; len(b) != 4 || b[0][0].Label != "Resolved" {
		t.Fatalf("outcome buttons %+v", b)
	}
	f.tap(11, h, flows.DeskTap{Action: flows.ActOutcome, HandoffID: h.ID, Outcome: flows.OutcomeResolved})
	h = f.handoff(h.ID)
	if h.Status != flows.HandoffResolved || h.Outcome != flows.OutcomeResolved || h.ResolvedBy != "Anna" {
		t.Fatalf("resolved case %+v", h.Case)
	}
	msgs := f.tg.messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0].text, "marked your issue as resolved") {
		t.Fatalf("closing message %+v", msgs)
	}
	if err := f.svc.Sweep(f.ctx); err != nil || len(f.tg.messages()) != 1 {
		t.Fatalf("follow-up before its delay: %v %+v", err, f.tg.messages())
	}
	f.clock = f.clock.Add(2 * time.Hour)
	f.quiet = true // the customer's night: the question waits
	if err := f.svc.Sweep(f.ctx); err != nil || len(f.tg.messages()) != 1 {
		t.Fatalf("follow-up in quiet hours: %v %+v", err, f.tg.messages())
	}
	f.quiet = false
	if err := f.svc.Sweep(f.ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Sweep(f.ctx); err != nil { // a second run asks nothing more
		t.Fatal(err)
	}
	msgs = f.tg.messages()
	if len(msgs) != 2 || !strings.Contains(msgs[1].text, "Did we fix it?") || len(msgs[1].keyboard[0]) != 5 {
		t.Fatalf("follow-up %+v", msgs)
	}
	tap, _ := flows.DecodeTap(msgs[1].keyboard[0][4].Data)
	forged := tap
	if err := f.svc.FollowUpAnswered(f.ctx, flows.Update{Channel: flows.ChannelTelegram, ChatID: "666", Tap: &forged}); err != nil {
		t.Fatal(err)
	}
	if f.handoff(h.ID).Recovered != nil {
		t.Fatal("a tap from another chat recorded the recovery")
	}
	if err := f.svc.FollowUpAnswered(f.ctx, flows.Update{Channel: flows.ChannelTelegram, ChatID: "42", Tap: &tap}); err != nil {
		t.Fatal(err)
	}
	h = f.handoff(h.ID)
	if h.Recovered == nil || !*h.Recovered || *h.RecoveryScore != 5 {
		t.Fatalf("recovery %+v", h.Case)
	}
	// The customer writes again within the window: reopened, back with Anna.
	if handled, err := f.svc.CustomerWrote(f.ctx, flows.Update{Channel: flows.ChannelTelegram, ChatID: "42", Text: "it broke again"}); !handled || err != nil {
		t.Fatalf("CustomerWrote after resolution = %v %v", handled, err)
	}
	h = f.handoff(h.ID)
	if h.Status != flows.HandoffClaimed || h.ClaimedBy != f.anna.ID || h.Reopened != 1 {
		t.Fatalf("reopened %+v", h.Case)
	}
	// The customer closes it themselves.
	if handled, err := f.svc.CustomerWrote(f.ctx, flows.Update{Channel: flows.ChannelTelegram, ChatID: "42", Text: "已解决"}); !handled || err != nil {
		t.Fatalf("customer done = %v %v", handled, err)
	}
	if h = f.handoff(h.ID); h.Status != flows.HandoffResolved || h.ResolvedBy != desk.ByCustomer {
		t.Fatalf("closed by the customer: %+v", h.Case)
	}
	// After the window nothing reopens.
	f.clock = f.clock.Add(8 * 24 * time.Hour)
	if handled, _ := f.svc.CustomerWrote(f.ctx, flows.Update{Channel: flows.ChannelTelegram, ChatID: "42", Text: "hi"}); handled {
		t.Fatal("a case reopened after the window")
	}
}

func TestSLARemindsThenEscalatesInWorkingHours(t *testing.T) {
	hours, err := flows.ParseWorkingHours("Mon-Fri 09:00-18:00", "UTC")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(c *desk.Config) {
		c.ClaimSLA, c.EscalateAfter, c.Hours = 15*time.Minute, time.Hour, hours
	})
	f.clock = time.Date(2026, 12, 4, 17, 50, 0, 0, time.UTC) // a Friday, 10 minutes before closing
	h := f.detractor(flows.ChannelTelegram, "42", "late")
	sweepAt := func(at time.Time) []post {
		f.clock = at
		if err := f.svc.Sweep(f.ctx); err != nil {
			t.Fatal(err)
		}
		p, _, _ := f.chat.snapshot()
		return p
	}
	if p := sweepAt(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)); len(p) != 1 { // Saturday: 10 working minutes
		t.Fatalf("reminded over the weekend: %+v", p[1:])
	}
	p := sweepAt(time.Date(2026, 12, 7, 9, 6, 0, 0, time.UTC)) // Monday 09:06: 16 working minutes
	if len(p) != 2 || p[1].ReplyTo != h.NoticeMessageID || !strings.Contains(p[1].HTML, "waited 16m") {
		t.Fatalf("reminder %+v", p)
	}
	if p := sweepAt(time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC)); len(p) != 2 {
		t.Fatalf("reminded twice: %+v", p[2:])
	}
	p = sweepAt(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)) // 70 working minutes
	if len(p) != 3 || p[2].chat != supervisorsChat || !strings.Contains(p[2].HTML, "Escalated") {
		t.Fatalf("escalation %+v", p)
	}
	// A supervisor claims from the escalation.
	f.update(flows.DeskUpdate{ChatID: supervisorsChat, UserID: "12", MessageID: p[2].id, TapID: "q", TapData: flows.EncodeDeskTap(flows.DeskTap{Action: flows.ActClaim, HandoffID: h.ID})})
	if got := f.handoff(h.ID); got.ClaimedBy != f.bo.ID || got.EscalatedAt == nil {
		t.Fatalf("claimed from the escalation: %+v", got.Case)
	}
	if p := sweepAt(f.clock.Add(3 * time.Hour)); len(p) != 3 {
		t.Fatalf("a claimed case was escalated again: %+v", p[3:])
	}
}

func TestWeChatCaseWorkedFromTelegram(t *testing.T) {
	f := newFixture(t)
	h := f.detractor(flows.ChannelWeChat, "o-wx-1", "物流太慢")
	f.tap(11, h, flows.DeskTap{Action: flows.ActClaim, HandoffID: h.ID})
	// No window: only a template could reach them.
	f.update(flows.DeskUpdate{UserID: "11", MessageID: 90, ReplyToMessageID: h.NoticeMessageID, Text: "您好"})
	posts, _, _ := f.chat.snapshot()
	if last := posts[len(posts)-1]; !strings.Contains(last.HTML, "48 hours") || len(f.wx.messages()) != 0 {
		t.Fatalf("outside the window: %+v / %+v", last, f.wx.messages())
	}
	if err := f.redis.End(f.ctx, mustBegin(t, f, "o-wx-1"), flows.TurnEnd{WindowTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	f.update(flows.DeskUpdate{UserID: "11", MessageID: 91, ReplyToMessageID: h.NoticeMessageID, Text: "您好，我们马上处理"})
	f.update(flows.DeskUpdate{UserID: "11", MessageID: 92, ReplyToMessageID: h.NoticeMessageID, PhotoID: "ph"})
	msgs := f.wx.messages()
	if len(msgs) != 1 || msgs[0].chat != "o-wx-1" || msgs[0].text != "Anna: 您好，我们马上处理" {
		t.Fatalf("WeChat customer got %+v", msgs)
	}
	posts, _, _ = f.chat.snapshot()
	if last := posts[len(posts)-1]; !strings.Contains(last.HTML, "Photos cannot be relayed") {
		t.Fatalf("photo to WeChat: %+v", last)
	}
	if _, err := f.svc.ReplyAs(f.ctx, h.ID, f.bo.ID, "API reply"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ReplyAs(f.ctx, h.ID, f.anna.ID, " "); !errors.Is(err, flows.ErrInvalid) {
		t.Fatalf("empty reply = %v", err)
	}
	if _, err := f.svc.ResolveAs(f.ctx, h.ID, 0, "fixed", ""); !errors.Is(err, flows.ErrInvalid) {
		t.Fatalf("bad outcome = %v", err)
	}
	if got, err := f.svc.ResolveAs(f.ctx, h.ID, 0, flows.OutcomeNotActionable, "duplicate"); err != nil || got.ResolvedBy != "api" {
		t.Fatalf("resolve via API = %+v %v", got.Case, err)
	}
	if _, err := f.svc.ResolveAs(f.ctx, h.ID, 0, flows.OutcomeResolved, ""); !errors.Is(err, desk.ErrNotLive) {
		t.Fatalf("resolve twice = %v", err)
	}
}

func mustBegin(t *testing.T, f *fixture, chat string) flows.Turn {
	t.Helper()
	turn, err := f.redis.Begin(f.ctx, flows.ChannelWeChat, chat, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return turn
}

func TestCustomerOptingOutDuringACase(t *testing.T) {
	f := newFixture(t)
	h := f.detractor(flows.ChannelTelegram, "42", "late")
	f.tap(11, h, flows.DeskTap{Action: flows.ActClaim, HandoffID: h.ID})
	if err := f.db.OptOut(f.ctx, h.CustomerID, f.clock); err != nil {
		t.Fatal(err)
	}
	f.svc.CustomerOptedOut(f.ctx, flows.ChannelTelegram, "42")
	posts, _, _ := f.chat.snapshot()
	if last := posts[len(posts)-1]; last.ReplyTo != h.NoticeMessageID || !strings.Contains(last.HTML, "opted out of surveys") {
		t.Fatalf("agents not told of the opt-out: %+v", last)
	}
	// Replies still reach them; the follow-up survey question does not.
	f.update(flows.DeskUpdate{UserID: "11", MessageID: 99, ReplyToMessageID: h.NoticeMessageID, Text: "Refund sent"})
	f.tap(11, h, flows.DeskTap{Action: flows.ActOutcome, HandoffID: h.ID, Outcome: flows.OutcomeResolved})
	f.clock = f.clock.Add(2 * time.Hour)
	if err := f.svc.Sweep(f.ctx); err != nil {
		t.Fatal(err)
	}
	msgs := f.tg.messages()
	if len(msgs) != 2 || msgs[0].text != "Anna: Refund sent" || strings.Contains(msgs[1].text, "Did we fix it?") {
		t.Fatalf("an opted-out customer got %+v", msgs)
	}
	if got := f.handoff(h.ID); got.FollowUpSentAt == nil {
		t.Fatal("the skipped follow-up is due again")
	}
}

func TestRoutesPickTheAgentsChat(t *testing.T) {
	routes, err := flows.ParseRoutes("store=BJ-*:-1005,store=SH-*:-1009")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(c *desk.Config) { c.Routes = routes })
	h := f.detractor(flows.ChannelTelegram, "42", "late") // its event says store SH-1
	posts, _, _ := f.chat.snapshot()
	if h.AgentChatID != "-1009" || posts[0].chat != "-1009" {
		t.Fatalf("case in chat %q, notice posted to %q; want the Shanghai team", h.AgentChatID, posts[0].chat)
	}
	// Its thread lives there too.
	f.tap(11, h, flows.DeskTap{Action: flows.ActClaim, HandoffID: h.ID})
	if _, err := f.svc.CustomerWrote(f.ctx, flows.Update{Channel: flows.ChannelTelegram, ChatID: "42", Text: "hello?"}); err != nil {
		t.Fatal(err)
	}
	posts, _, _ = f.chat.snapshot()
	if last := posts[len(posts)-1]; last.chat != "-1009" || last.ReplyTo != h.NoticeMessageID {
		t.Fatalf("customer's words went to %+v", last)
	}
}

// What an outside review found, fixed: replies to the desk's own lines
// thread, notes stay internal, commands read as agents type them, the
// customer closing an unclaimed case is not asked whether it was fixed,
// a block is told at once, an owner with live cases is not removed.
func TestDeskReviewFixes(t *testing.T) {
	f := newFixture(t, func(c *desk.Config) { c.Language = "zh-CN" })
	h := f.detractor(flows.ChannelTelegram, "42", "late")
	f.tap(11, h, flows.DeskTap{Action: flows.ActClaim, HandoffID: h.ID})
	f.svc.CustomerOptedOut(f.ctx, flows.ChannelTelegram, "42") // a line of the desk's own in the thread
	posts, _, _ := f.chat.snapshot()
	line := posts[len(posts)-1]
	f.update(flows.DeskUpdate{UserID: "11", MessageID: 300, ReplyToMessageID: line.id, Text: "收到"})
	if msgs := f.tg.messages(); len(msgs) != 1 || msgs[0].text != "Anna: 收到" {
		t.Fatalf("a reply to the desk's line: %+v", msgs)
	}
	f.update(flows.DeskUpdate{UserID: "11", MessageID: 301, ReplyToMessageID: h.NoticeMessageID, Text: "/note 客户是老会员，优先处理"})
	if msgs := f.tg.messages(); len(msgs) != 1 {
		t.Fatalf("a note reached the customer: %+v", msgs)
	}
	f.update(flows.DeskUpdate{UserID: "11", MessageID: 302, Text: "/reply " + strconv.FormatInt(h.ID, 10) + "\n换新的已经寄出"})
	if msgs := f.tg.messages(); len(msgs) != 2 || msgs[1].text != "Anna: 换新的已经寄出" {
		t.Fatalf("/reply with a newline: %+v", msgs)
	}
	f.update(flows.DeskUpdate{UserID: "11", MessageID: 303, ReplyToMessageID: h.NoticeMessageID, Text: " "})
	posts, _, _ = f.chat.snapshot()
	if last := posts[len(posts)-1]; strings.Contains(last.HTML, "invalid") || !strings.Contains(last.HTML, "请输入文字") {
		t.Fatalf("refusal in zh-CN: %q", last.HTML)
	}
	if err := f.db.RemoveAgent(f.ctx, 11); !errors.Is(err, flows.ErrConflict) {
		t.Fatalf("removing an owner of a live case = %v, want a conflict", err)
	}
	live, err := f.svc.LiveCase(f.ctx, flows.ChannelTelegram, "42")
	if err != nil || !live {
		t.Fatalf("LiveCase = %v, %v", live, err)
	}
	f.svc.CustomerBlocked(f.ctx, flows.ChannelTelegram, "42")
	posts, _, _ = f.chat.snapshot()
	if last := posts[len(posts)-1]; !strings.Contains(last.HTML, "屏蔽") {
		t.Fatalf("block not told: %q", last.HTML)
	}
	f.update(flows.DeskUpdate{UserID: "11", MessageID: 304, Text: "/resolve " + strconv.FormatInt(h.ID, 10) + " 已解决 退款完成"})
	if got := f.handoff(h.ID); got.Status != flows.HandoffResolved || got.Outcome != flows.OutcomeResolved || got.Note != "退款完成" {
		t.Fatalf("/resolve with the zh-CN label: %+v", got.Case)
	}
	_, thread, _ := f.svc.Case(f.ctx, h.ID)
	var notes, desks int
	for _, m := range thread {
		switch m.Author {
		case flows.AuthorNote:
			notes++
		case flows.AuthorDesk:
			desks++
		}
	}
	if notes != 1 || desks != 0 {
		for _, m := range thread {
			t.Logf("%+v", m)
		}
		t.Fatalf("thread shows %d notes and %d bookmarks of desk lines", notes, desks)
	}

	// The customer closes an unclaimed case: no "did we fix it?" afterwards.
	g := newFixture(t)
	h2 := g.detractor(flows.ChannelTelegram, "43", "late")
	if handled, err := g.svc.CustomerWrote(g.ctx, flows.Update{Channel: flows.ChannelTelegram, ChatID: "43", Text: "/done"}); !handled || err != nil {
		t.Fatalf("customer done = %v %v", handled, err)
	}
	g.clock = g.clock.Add(2 * time.Hour)
	if err := g.svc.Sweep(g.ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range g.tg.messages() {
		if strings.Contains(m.text, "Did we fix it?") {
			t.Fatalf("the customer who closed case %d was asked whether it was fixed", h2.ID)
		}
	}
	if handled, _ := g.svc.CustomerWrote(g.ctx, flows.Update{Channel: flows.ChannelTelegram, ChatID: "43", Text: "done"}); !handled {
		t.Fatal("a plain \"done\" after closing should reopen, not be swallowed")
	}
}
