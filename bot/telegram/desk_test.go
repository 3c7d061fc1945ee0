package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/bot/telegram/telegramtest"
	"github.com/cxbot/cxbot/flows"
)

const (
	forumChat = int64(-1001234567890)
	superChat = int64(-1009876543210)
	groupChat = int64(-4242)
)

// deskRecorder is a DeskHandler: customer updates to its recorder, desk
// updates kept here, failing as fail says.
type deskRecorder struct {
	*recorder
	mu   sync.Mutex
	desk []flows.DeskUpdate
	fail error
	got  chan flows.DeskUpdate
}

func newDeskRecorder() *deskRecorder {
	return &deskRecorder{recorder: newRecorder(), got: make(chan flows.DeskUpdate, 100)}
}

func (d *deskRecorder) HandleDeskUpdate(_ context.Context, u flows.DeskUpdate) error {
	d.mu.Lock()
	d.desk = append(d.desk, u)
	err := d.fail
	d.mu.Unlock()
	d.got <- u
	return err
}

func (d *deskRecorder) deskCalls() []flows.DeskUpdate {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]flows.DeskUpdate(nil), d.desk...)
}

func convertDeskUpdate(t *testing.T, a *Adapter, in telegramtest.Update) (flows.DeskUpdate, bool, string) {
	t.Helper()
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var w wireUpdate
	if err := json.Unmarshal(raw, &w); err != nil {
		t.Fatal(err)
	}
	if !w.isDesk() {
		t.Fatalf("update %s is not a desk update", raw)
	}
	return a.convertDesk(w)
}

func TestConvertDesk(t *testing.T) {
	a, fake := setup(t, nil)
	ctx := testCtx(t)
	fake.MakeForum(forumChat)
	topic, err := a.CreateTopic(ctx, fmt.Sprint(forumChat), "case 1")
	if err != nil {
		t.Fatal(err)
	}
	notice, err := a.PostHTML(ctx, fmt.Sprint(forumChat), flows.Post{HTML: "<b>case 1</b>", ThreadID: topic})
	if err != nil {
		t.Fatal(err)
	}
	plainNotice, err := a.PostHTML(ctx, fmt.Sprint(superChat), flows.Post{HTML: "case 2"})
	if err != nil {
		t.Fatal(err)
	}
	li := telegramtest.NewUser(501, "Li")
	li.LastName = "Wei"
	anon := telegramtest.User{ID: 502, Username: "nameless"}
	tg := flows.ChannelTelegram
	forum, super, group := fmt.Sprint(forumChat), fmt.Sprint(superChat), fmt.Sprint(groupChat)

	inTopic := fake.GroupTextUpdate(forumChat, li, "we refund you", topic, 0)
	replyInTopic := fake.GroupTextUpdate(forumChat, li, "see this", topic, notice)
	photoInTopic := fake.GroupPhotoUpdate(forumChat, li, "AgACagent", "the label", topic, 0)
	// Older clients: the implicit reply carries the topic id but no forum_topic_created.
	implicitOld := fake.GroupTextUpdate(forumChat, li, "hi", topic, 0)
	implicitOld.Message.ReplyToMessage.ForumTopicCreated = nil
	replyInSuper := fake.GroupTextUpdate(superChat, anon, "/reply 2 done", 0, plainNotice)
	plain := fake.GroupTextUpdate(groupChat, li, "hello all", 0, 0)
	tap := fake.GroupTapUpdate(forumChat, li, notice, "d:claim:1")

	cases := []struct {
		name string
		in   telegramtest.Update
		want flows.DeskUpdate
	}{
		{"topic message replying to nothing", inTopic, flows.DeskUpdate{Channel: tg, UpdateID: id(inTopic), ChatID: forum, ThreadID: topic,
			UserID: "501", UserName: "Li Wei", MessageID: inTopic.Message.MessageID, Text: "we refund you", ReceivedAt: clock}},
		{"reply in a topic", replyInTopic, flows.DeskUpdate{Channel: tg, UpdateID: id(replyInTopic), ChatID: forum, ThreadID: topic,
			UserID: "501", UserName: "Li Wei", MessageID: replyInTopic.Message.MessageID, ReplyToMessageID: notice, Text: "see this", ReceivedAt: clock}},
		{"photo in a topic", photoInTopic, flows.DeskUpdate{Channel: tg, UpdateID: id(photoInTopic), ChatID: forum, ThreadID: topic,
			UserID: "501", UserName: "Li Wei", MessageID: photoInTopic.Message.MessageID, Text: "the label", PhotoID: "AgACagent", ReceivedAt: clock}},
		{"implicit topic reply by id", implicitOld, flows.DeskUpdate{Channel: tg, UpdateID: id(implicitOld), ChatID: forum, ThreadID: topic,
			UserID: "501", UserName: "Li Wei", MessageID: implicitOld.Message.MessageID, Text: "hi", ReceivedAt: clock}},
		{"reply in a plain supergroup: a reply thread is no topic", replyInSuper, flows.DeskUpdate{Channel: tg, UpdateID: id(replyInSuper), ChatID: super,
			UserID: "502", UserName: "nameless", MessageID: replyInSuper.Message.MessageID, ReplyToMessageID: plainNotice, Text: "/reply 2 done", ReceivedAt: clock}},
		{"basic group", plain, flows.DeskUpdate{Channel: tg, UpdateID: id(plain), ChatID: group,
			UserID: "501", UserName: "Li Wei", MessageID: plain.Message.MessageID, Text: "hello all", ReceivedAt: clock}},
		{"tap in a topic", tap, flows.DeskUpdate{Channel: tg, UpdateID: id(tap), ChatID: forum, ThreadID: topic,
			UserID: "501", UserName: "Li Wei", MessageID: notice, TapData: "d:claim:1", TapID: tap.CallbackQuery.ID, ReceivedAt: clock}},
	}
	for _, c := range cases {
		got, ok, why := convertDeskUpdate(t, a, c.in)
		if !ok || got != c.want {
			t.Errorf("%s: ok %v (%s)\ngot  %+v\nwant %+v", c.name, ok, why, got, c.want)
		}
	}

	fromBot := fake.GroupTextUpdate(groupChat, li, "beep", 0, 0)
	fromBot.Message.From.IsBot = true
	service := fake.GroupTextUpdate(groupChat, li, "", 0, 0) // e.g. a member joined
	noSender := fake.GroupTextUpdate(groupChat, li, "x", 0, 0)
	noSender.Message.From = nil
	emptyTap := fake.GroupTapUpdate(groupChat, li, 1, "")
	for name, in := range map[string]telegramtest.Update{"from a bot": fromBot, "service message": service, "no sender": noSender, "tap without data": emptyTap} {
		if got, ok, why := convertDeskUpdate(t, a, in); ok || why == "" {
			t.Errorf("%s: not ignored: %+v", name, got)
		}
	}
}

func TestConvertPrivatePhoto(t *testing.T) {
	a, fake := setup(t, nil)
	photo := fake.PhotoUpdate(42, "AgACcustomer", "broken on arrival")
	bare := fake.PhotoUpdate(42, "AgACbare", "")
	for _, c := range []struct {
		in         telegramtest.Update
		text, file string
	}{{photo, "broken on arrival", "AgACcustomer"}, {bare, "", "AgACbare"}} {
		raw, _ := json.Marshal(c.in)
		var w wireUpdate
		if err := json.Unmarshal(raw, &w); err != nil {
			t.Fatal(err)
		}
		u, ok, why := a.convert(w)
		if !ok || u.PhotoID != c.file || u.Text != c.text || u.ChatID != "42" || u.UserID != "42" || u.ReceivedAt != clock {
			t.Errorf("photo %s: ok %v (%s) %+v", c.file, ok, why, u)
		}
	}
}

func TestWebhookHandsGroupUpdatesToTheDesk(t *testing.T) {
	a, fake := setup(t, nil)
	ctx := testCtx(t)
	li := telegramtest.NewUser(501, "Li")

	// A handler with no desk never sees group updates.
	plain := newRecorder()
	url := webhookServer(t, a, plain)
	if status, err := fake.Deliver(ctx, url, "hook-secret_1", fake.GroupTextUpdate(groupChat, li, "hi", 0, 0)); err != nil || status != http.StatusOK {
		t.Fatalf("group update, no desk: %d %v", status, err)
	}
	if calls, _ := plain.snapshot(); len(calls) != 0 {
		t.Fatalf("a plain handler got %d group updates", len(calls))
	}

	cases := []struct {
		err    error
		status int
	}{
		{nil, 200},
		{fmt.Errorf("db down: %w", flows.ErrUnavailable), 503},
		{fmt.Errorf("not a desk button: %w", flows.ErrInvalid), 200},
		{errors.New("boom"), 500},
	}
	for _, c := range cases {
		d := newDeskRecorder()
		d.fail = c.err
		url := webhookServer(t, a, d)
		u := fake.GroupTextUpdate(groupChat, li, "hi", 0, 0)
		if status, err := fake.Deliver(ctx, url, "hook-secret_1", u); err != nil || status != c.status {
			t.Errorf("desk error %v: status %d (%v), want %d", c.err, status, err, c.status)
		}
		if got := d.deskCalls(); len(got) != 1 || got[0].UpdateID != id(u) || got[0].Text != "hi" {
			t.Errorf("desk error %v: desk got %+v", c.err, got)
		}
		// Customers still go to HandleUpdate.
		if status, _ := fake.Deliver(ctx, url, "hook-secret_1", fake.TextUpdate(42, "hello", "")); status != 200 {
			t.Errorf("customer update: %d", status)
		}
		if calls, _ := d.snapshot(); len(calls) != 1 || len(d.deskCalls()) != 1 {
			t.Errorf("customer update went astray: %d customer, %d desk", len(calls), len(d.deskCalls()))
		}
	}

	// A tap in the group, answered inside the webhook answer as for customers.
	msg, err := a.PostHTML(ctx, fmt.Sprint(groupChat), flows.Post{HTML: "case", Buttons: [][]flows.Button{{{Label: "Claim", Data: "d:claim:1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	answering := &tapDesk{deskRecorder: newDeskRecorder(), a: a}
	url = webhookServer(t, a, answering)
	if status, err := fake.Deliver(ctx, url, "hook-secret_1", fake.GroupTapUpdate(groupChat, li, msg, "d:claim:1")); err != nil || status != 200 {
		t.Fatalf("tap: %d %v", status, err)
	}
	if ans := fake.CallbackAnswers(); len(ans) != 1 || ans[0].Text != "yours" || fake.WebhookAnswers() != 1 {
		t.Fatalf("tap answers %+v", ans)
	}
}

// tapDesk answers every desk tap.
type tapDesk struct {
	*deskRecorder
	a *Adapter
}

func (d *tapDesk) HandleDeskUpdate(ctx context.Context, u flows.DeskUpdate) error {
	_ = d.deskRecorder.HandleDeskUpdate(ctx, u)
	return d.a.AnswerTap(ctx, u.TapID, "yours")
}

func TestPollHandsGroupUpdatesToTheDesk(t *testing.T) {
	a, fake := setup(t, nil)
	ctx := testCtx(t)
	li := telegramtest.NewUser(501, "Li")
	g1, c1, g2 := fake.GroupTextUpdate(groupChat, li, "one", 0, 0), fake.TextUpdate(42, "customer", ""), fake.GroupPhotoUpdate(groupChat, li, "AgACp", "", 0, 0)
	fake.Enqueue(g1, c1, g2)
	d := newDeskRecorder()
	stop := startPoll(t, a, d)
	for range 2 {
		select {
		case <-d.got:
		case <-ctx.Done():
			t.Fatal("desk updates not handled")
		}
	}
	d.waitHandled(t, ctx, 1)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := d.deskCalls(); len(got) != 2 || got[0].Text != "one" || got[1].PhotoID != "AgACp" {
		t.Fatalf("desk got %+v", got)
	}
	if fake.Offset() != g2.UpdateID+1 {
		t.Fatalf("offset %d, want %d", fake.Offset(), g2.UpdateID+1)
	}
}

func TestPostHTML(t *testing.T) {
	a, fake := setup(t, nil)
	ctx := testCtx(t)
	fake.MakeForum(forumChat)
	forum := fmt.Sprint(forumChat)
	topic, err := a.CreateTopic(ctx, forum, "王小明 · NPS 3")
	if err != nil {
		t.Fatal(err)
	}
	buttons := [][]flows.Button{{{Label: "认领", Data: "d:claim:9"}}}
	notice, err := a.PostHTML(ctx, forum, flows.Post{HTML: "<b>NPS 3</b>\n<blockquote>太慢 &lt;script&gt;</blockquote>", ThreadID: topic, Buttons: buttons})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := a.PostHTML(ctx, forum, flows.Post{HTML: "客户：<i>还在吗</i>", ThreadID: topic, ReplyTo: notice})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := a.PostHTML(ctx, forum, flows.Post{HTML: "x", ReplyTo: 999})
	if err != nil {
		t.Fatalf("a reply to a deleted message is sent anyway: %v", err)
	}
	fake.PhotoUpdate(42, "AgACcust", "") // the customer's photo, relayed by file_id
	pic, err := a.PostHTML(ctx, forum, flows.Post{HTML: "<b>客户</b> sent a photo", PhotoID: "AgACcust", ThreadID: topic, Buttons: buttons})
	if err != nil {
		t.Fatal(err)
	}
	sent := fake.Sent(forumChat)
	byID := map[int]telegramtest.SentMessage{}
	for _, m := range sent {
		byID[m.MessageID] = m
	}
	n, r, g, p := byID[notice], byID[reply], byID[gone], byID[pic]
	if n.ParseMode != "HTML" || n.ThreadID != topic || n.PlainText() != "NPS 3\n太慢 <script>" || len(n.Keyboard) != 1 || n.Keyboard[0][0].CallbackData != "d:claim:9" {
		t.Errorf("notice %+v", n)
	}
	if r.ReplyTo != notice || r.ThreadID != topic || g.ReplyTo != 0 {
		t.Errorf("reply %+v, gone %+v", r, g)
	}
	if p.PhotoID != "AgACcust" || p.PlainText() != "客户 sent a photo" || p.ThreadID != topic || len(p.Keyboard) != 1 {
		t.Errorf("photo %+v", p)
	}

	calls := fake.Calls("sendMessage")
	for name, post := range map[string]flows.Post{
		"empty":            {HTML: " "},
		"too long":         {HTML: "<b>" + strings.Repeat("长", 4097) + "</b>"},
		"caption too long": {HTML: strings.Repeat("x", 1025), PhotoID: "AgACcust"},
		"bad button":       {HTML: "x", Buttons: [][]flows.Button{{{Label: "x", Data: strings.Repeat("d", 65)}}}},
	} {
		if _, err := a.PostHTML(ctx, forum, post); !errors.Is(err, flows.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
	if fake.Calls("sendMessage") != calls {
		t.Error("refused posts reached Telegram")
	}
	if _, err := a.PostHTML(ctx, forum, flows.Post{HTML: strings.Repeat("&amp;", 4000)}); err != nil {
		t.Errorf("the limit counts what people see (4000 '&'), not the markup: %v", err)
	}
	// What Telegram refuses: unbalanced HTML, an unknown topic.
	if _, err := a.PostHTML(ctx, forum, flows.Post{HTML: "<b>open"}); !errors.Is(err, flows.ErrInvalid) || !strings.Contains(err.Error(), "can't parse entities") {
		t.Errorf("bad HTML: %v", err)
	}
	if _, err := a.PostHTML(ctx, forum, flows.Post{HTML: "x", ThreadID: 777}); !errors.Is(err, flows.ErrInvalid) || !strings.Contains(err.Error(), "thread not found") {
		t.Errorf("unknown topic: %v", err)
	}
	fake.Block(groupChat)
	if _, err := a.PostHTML(ctx, fmt.Sprint(groupChat), flows.Post{HTML: "x"}); !errors.Is(err, bot.ErrBlocked) {
		t.Errorf("bot removed from the group: %v", err)
	}
}

func TestEditHTML(t *testing.T) {
	a, fake := setup(t, nil)
	ctx := testCtx(t)
	group := fmt.Sprint(groupChat)
	msg, err := a.PostHTML(ctx, group, flows.Post{HTML: "<b>case 9</b>", Buttons: [][]flows.Button{{{Label: "Claim", Data: "d:claim:9"}}}})
	if err != nil {
		t.Fatal(err)
	}
	resolve := [][]flows.Button{{{Label: "Resolve", Data: "d:resolve:9"}}}
	for range 2 { // the second edit changes nothing: success all the same
		if err := a.EditHTML(ctx, group, msg, "<b>case 9</b> · claimed by <i>Li</i>", resolve); err != nil {
			t.Fatal(err)
		}
	}
	got := fake.Sent(groupChat)[0]
	if got.PlainText() != "case 9 · claimed by Li" || got.EditedParseMode != "HTML" || len(got.Keyboard) != 1 || got.Keyboard[0][0].CallbackData != "d:resolve:9" {
		t.Fatalf("after claim: %+v", got)
	}
	if err := a.EditHTML(ctx, group, msg, "<b>case 9</b> · resolved", nil); err != nil {
		t.Fatal(err)
	}
	if got := fake.Sent(groupChat)[0]; got.Keyboard != nil || !got.KeyboardRemoved {
		t.Fatalf("nil buttons keep the keyboard: %+v", got)
	}
	if err := a.EditHTML(ctx, group, msg, "<i>x", nil); !errors.Is(err, flows.ErrInvalid) {
		t.Errorf("bad HTML: %v", err)
	}
	if err := a.EditHTML(ctx, group, 0, "x", nil); !errors.Is(err, flows.ErrInvalid) {
		t.Errorf("message 0: %v", err)
	}
}

func TestIsForumIsAskedOncePerChat(t *testing.T) {
	a, fake := setup(t, nil)
	ctx := testCtx(t)
	fake.MakeForum(forumChat)
	for range 3 {
		yes, err := a.IsForum(ctx, fmt.Sprint(forumChat))
		if err != nil || !yes {
			t.Fatalf("forum: %v %v", yes, err)
		}
		no, err := a.IsForum(ctx, fmt.Sprint(superChat))
		if err != nil || no {
			t.Fatalf("plain supergroup: %v %v", no, err)
		}
	}
	if n := fake.Calls("getChat"); n != 2 {
		t.Fatalf("getChat called %d times, want 2 (once per chat)", n)
	}
	fake.FailNext("getChat", 0, http.StatusBadGateway, 0)
	if _, err := a.IsForum(ctx, fmt.Sprint(groupChat)); !errors.Is(err, flows.ErrUnavailable) {
		t.Fatalf("getChat failing: %v", err)
	}
	if yes, err := a.IsForum(ctx, fmt.Sprint(groupChat)); err != nil || yes {
		t.Fatalf("a failure is not cached: %v %v", yes, err)
	}
}

func TestCreateTopic(t *testing.T) {
	a, fake := setup(t, nil)
	ctx := testCtx(t)
	fake.MakeForum(forumChat)
	forum := fmt.Sprint(forumChat)
	long := strings.Repeat("😀", 100) // 200 UTF-16 units
	thread, err := a.CreateTopic(ctx, forum, long)
	if err != nil {
		t.Fatal(err)
	}
	topics := fake.Topics(forumChat)
	if len(topics) != 1 || topics[0].ThreadID != thread {
		t.Fatalf("topics %+v, thread %d", topics, thread)
	}
	if u := utf16.Encode([]rune(topics[0].Name)); len(u) > 128 || !strings.HasPrefix(long, strings.TrimSuffix(topics[0].Name, "…")) {
		t.Fatalf("name cut to %d units: %q", len(u), topics[0].Name)
	}
	if _, err := a.CreateTopic(ctx, forum, "  "); !errors.Is(err, flows.ErrInvalid) {
		t.Errorf("empty name: %v", err)
	}
	if _, err := a.CreateTopic(ctx, fmt.Sprint(superChat), "x"); !errors.Is(err, flows.ErrInvalid) || !strings.Contains(err.Error(), "not a forum") {
		t.Errorf("not a forum: %v", err)
	}
	fake.FailNext("createForumTopic", forumChat, http.StatusBadRequest, 0)
	if _, err := a.CreateTopic(ctx, forum, "x"); !errors.Is(err, flows.ErrInvalid) {
		t.Errorf("refused: %v", err)
	}
}

func TestSendPhotoToCustomer(t *testing.T) {
	a, fake := setup(t, nil)
	ctx := testCtx(t)
	fake.GroupPhotoUpdate(groupChat, telegramtest.NewUser(501, "Li"), "AgACagent", "", 0, 0)
	id, err := a.SendPhoto(ctx, "42", "AgACagent", "<b>not HTML</b> & as typed")
	if err != nil {
		t.Fatal(err)
	}
	got := fake.Sent(42)
	if len(got) != 1 || got[0].MessageID != id || got[0].PhotoID != "AgACagent" || got[0].ParseMode != "" || got[0].PlainText() != "<b>not HTML</b> & as typed" {
		t.Fatalf("sent %+v", got)
	}
	if _, err := a.SendPhoto(ctx, "42", "unknown-file", ""); !errors.Is(err, flows.ErrInvalid) {
		t.Errorf("unknown file: %v", err)
	}
	if _, err := a.SendPhoto(ctx, "42", "AgACagent", strings.Repeat("x", 1025)); !errors.Is(err, flows.ErrInvalid) {
		t.Errorf("long caption: %v", err)
	}
	fake.Block(42)
	if _, err := a.SendPhoto(ctx, "42", "AgACagent", ""); !errors.Is(err, bot.ErrBlocked) {
		t.Errorf("blocked: %v", err)
	}
}
