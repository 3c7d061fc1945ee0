package telegramtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

const forum, plainSuper, smallGroup = int64(-1001234567890), int64(-1009876543210), int64(-4242)

func TestGetChatAndForums(t *testing.T) {
	s := New(token)
	defer s.Close()
	ctx := testCtx(t)
	b := newClient(t, s)
	s.MakeForum(forum)
	for _, c := range []struct {
		id       int64
		typ      models.ChatType
		isForum  bool
		hasTitle bool
	}{
		{forum, models.ChatTypeSupergroup, true, true},
		{plainSuper, models.ChatTypeSupergroup, false, true},
		{smallGroup, models.ChatTypeGroup, false, true},
		{42, models.ChatTypePrivate, false, false},
	} {
		chat, err := b.GetChat(ctx, &tgbot.GetChatParams{ChatID: c.id})
		if err != nil || chat.ID != c.id || chat.Type != c.typ || chat.IsForum != c.isForum || (chat.Title != "") != c.hasTitle {
			t.Errorf("getChat %d: %+v %v", c.id, chat, err)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("MakeForum on a basic group must panic: only supergroups are forums")
		}
	}()
	s.MakeForum(smallGroup)
}

func TestCreateForumTopic(t *testing.T) {
	s := New(token)
	defer s.Close()
	ctx := testCtx(t)
	b := newClient(t, s)
	s.MakeForum(forum)
	if _, err := b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: forum, Text: "notice"}); err != nil {
		t.Fatal(err)
	}
	topic, err := b.CreateForumTopic(ctx, &tgbot.CreateForumTopicParams{ChatID: forum, Name: "王小明 · NPS 3"})
	if err != nil || topic.MessageThreadID != 2 || topic.Name != "王小明 · NPS 3" || topic.IconColor == 0 {
		t.Fatalf("createForumTopic: %+v %v (the thread id is the service message's id, after the notice)", topic, err)
	}
	got := s.Topics(forum)
	if len(got) != 1 || got[0].ThreadID != 2 || got[0].Name != "王小明 · NPS 3" {
		t.Fatalf("topics %+v", got)
	}
	// The next message in the chat comes after the topic's service message.
	if msg, err := b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: forum, Text: "x", MessageThreadID: 2}); err != nil || msg.ID != 3 ||
		msg.MessageThreadID != 2 || !msg.IsTopicMessage || msg.ReplyToMessage == nil || msg.ReplyToMessage.ForumTopicCreated == nil {
		t.Fatalf("message in the topic: %+v %v", msg, err)
	}

	for name, c := range map[string]struct {
		params *tgbot.CreateForumTopicParams
		says   string
	}{
		"not a forum":  {&tgbot.CreateForumTopicParams{ChatID: plainSuper, Name: "x"}, "the chat is not a forum"},
		"basic group":  {&tgbot.CreateForumTopicParams{ChatID: smallGroup, Name: "x"}, "the chat is not a forum"},
		"private chat": {&tgbot.CreateForumTopicParams{ChatID: 42, Name: "x"}, "the chat is not a forum"},
		"empty name":   {&tgbot.CreateForumTopicParams{ChatID: forum, Name: " "}, "name is empty"},
		"129 chars":    {&tgbot.CreateForumTopicParams{ChatID: forum, Name: strings.Repeat("名", 129)}, "longer than 128"},
		"bad colour":   {&tgbot.CreateForumTopicParams{ChatID: forum, Name: "x", IconColor: 1}, "icon_color"},
	} {
		if _, err := b.CreateForumTopic(ctx, c.params); !errors.Is(err, tgbot.ErrorBadRequest) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: got %v, want a 400 saying %q", name, err, c.says)
		}
	}
	if _, err := b.CreateForumTopic(ctx, &tgbot.CreateForumTopicParams{ChatID: forum, Name: strings.Repeat("名", 128)}); err != nil {
		t.Errorf("128 characters: %v", err)
	}
	s.DenyTopics(forum)
	if _, err := b.CreateForumTopic(ctx, &tgbot.CreateForumTopicParams{ChatID: forum, Name: "x"}); err == nil || !strings.Contains(err.Error(), "not enough rights") {
		t.Errorf("denied topics: %v", err)
	}
	if n := len(s.Topics(forum)); n != 2 {
		t.Errorf("%d topics, want 2 (refused ones record nothing)", n)
	}
}

func TestThreadsAndReplies(t *testing.T) {
	s := New(token)
	defer s.Close()
	ctx := testCtx(t)
	b := newClient(t, s)
	s.MakeForum(forum)
	topic, err := b.CreateForumTopic(ctx, &tgbot.CreateForumTopicParams{ChatID: forum, Name: "case 1"})
	if err != nil {
		t.Fatal(err)
	}
	send := func(p *tgbot.SendMessageParams) (*models.Message, error) { return b.SendMessage(ctx, p) }

	if _, err := send(&tgbot.SendMessageParams{ChatID: forum, Text: "x", MessageThreadID: 99}); err == nil || !strings.Contains(err.Error(), "message thread not found") {
		t.Fatalf("unknown thread: %v", err)
	}
	if _, err := send(&tgbot.SendMessageParams{ChatID: plainSuper, Text: "x", MessageThreadID: topic.MessageThreadID}); err == nil || !strings.Contains(err.Error(), "message thread not found") {
		t.Fatalf("another chat's thread: %v", err)
	}
	inTopic, err := send(&tgbot.SendMessageParams{ChatID: forum, Text: "in topic", MessageThreadID: topic.MessageThreadID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := send(&tgbot.SendMessageParams{ChatID: forum, Text: "x", ReplyParameters: &models.ReplyParameters{MessageID: 500}}); err == nil || !strings.Contains(err.Error(), "message to be replied not found") {
		t.Fatalf("reply to a missing message: %v", err)
	}
	loose, err := send(&tgbot.SendMessageParams{ChatID: forum, Text: "x", ReplyParameters: &models.ReplyParameters{MessageID: 500, AllowSendingWithoutReply: true}})
	if err != nil || loose.ReplyToMessage != nil {
		t.Fatalf("allowed missing reply: %+v %v", loose, err)
	}
	// A reply without a thread goes to the topic of the message it replies to.
	reply, err := send(&tgbot.SendMessageParams{ChatID: forum, Text: "reply", ReplyParameters: &models.ReplyParameters{MessageID: inTopic.ID}})
	if err != nil || reply.ReplyToMessage == nil || reply.ReplyToMessage.ID != inTopic.ID || reply.MessageThreadID != topic.MessageThreadID {
		t.Fatalf("reply: %+v %v", reply, err)
	}
	// The legacy reply_to_message_id, form-encoded.
	code, env := call(t, ctx, s.URL(), token, "sendMessage", `{"chat_id":-4242,"text":"legacy","reply_to_message_id":1,"allow_sending_without_reply":true}`)
	if code != 200 {
		t.Fatalf("legacy reply: %d %+v", code, env)
	}
	sent := s.Sent(forum)
	if sent[0].ThreadID != topic.MessageThreadID || sent[1].ReplyTo != 0 || sent[2].ReplyTo != inTopic.ID || sent[2].ThreadID != topic.MessageThreadID {
		t.Fatalf("recorded %+v", sent)
	}
	if got := s.Sent(smallGroup); len(got) != 1 || got[0].ReplyTo != 0 {
		t.Fatalf("reply to a missing message in a new chat, allowed: %+v", got)
	}
}

func TestParseModeHTML(t *testing.T) {
	s := New(token)
	defer s.Close()
	ctx := testCtx(t)
	b := newClient(t, s)
	good := map[string]string{
		`<b>Score</b> 3 &lt;bad&gt; &amp; &quot;q&quot; &#39;x&#x27;`:                                    `Score 3 <bad> & "q" 'x'`,
		`<blockquote expandable>客户说：<i>很慢</i></blockquote>`:                                              `客户说：很慢`,
		`<a href="https://x.example/?a=1&amp;b=2">link</a> <span class="tg-spoiler">s</span>`:            `link s`,
		`<STRONG>up</strong><code>c</code><pre><code class="language-go">x</code></pre><u>u</u><s>s</s>`: `upcxus`,
		`<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji><tg-spoiler>t</tg-spoiler><del>d</del>`:    `👍td`,
	}
	for html, plain := range good {
		msg, err := b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: 7, Text: html, ParseMode: models.ParseModeHTML})
		if err != nil {
			t.Errorf("%s: %v", html, err)
			continue
		}
		if msg.Text != plain {
			t.Errorf("%s: Telegram shows %q, want %q", html, msg.Text, plain)
		}
	}
	for _, m := range s.Sent(7) {
		if m.ParseMode != "HTML" || good[m.Text] != m.PlainText() {
			t.Errorf("recorded %q (%s) plain %q", m.Text, m.ParseMode, m.PlainText())
		}
	}
	bad := map[string]string{
		`<br>`:                     `Unsupported start tag "br"`,
		`a < b`:                    `Unsupported start tag ""`,
		`<b>open`:                  `Can't find end tag corresponding to start tag "b"`,
		`<b><i>x</b></i>`:          `Unmatched end tag`,
		`x</b>`:                    `Unexpected end tag`,
		`AT&T`:                     `bare '&'`,
		`<b`:                       `Unclosed start tag`,
		`<span>x</span>`:           `must have class "tg-spoiler"`,
		`<a href="?a=1&b=2">x</a>`: `bare '&'`,
		`<b></b>`:                  `message text is empty`,
		`<b>` + strings.Repeat("x", 4097) + `</b>`: `message is too long`,
	}
	for html, says := range bad {
		_, err := b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: 8, Text: html, ParseMode: models.ParseModeHTML})
		if !errors.Is(err, tgbot.ErrorBadRequest) || !strings.Contains(err.Error(), says) {
			t.Errorf("%.40s: got %v, want a 400 saying %q", html, err, says)
		}
	}
	if _, err := b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: 8, Text: "<b>" + strings.Repeat("x", 4090) + "</b>", ParseMode: models.ParseModeHTML}); err != nil {
		t.Errorf("4096 counts the text after parsing, not the tags: %v", err)
	}
	if _, err := b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: 8, Text: "a < b & <c>"}); err != nil {
		t.Errorf("without a parse mode nothing is parsed: %v", err)
	}
	if _, err := b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: 8, Text: "x", ParseMode: "Bogus"}); err == nil {
		t.Error("an unknown parse mode must be refused")
	}

	// Edits are parsed the same way.
	msg, err := b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: 9, Text: "<b>new</b> case", ParseMode: models.ParseModeHTML})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.EditMessageText(ctx, &tgbot.EditMessageTextParams{ChatID: 9, MessageID: msg.ID, Text: "<b>claimed", ParseMode: models.ParseModeHTML}); err == nil || !strings.Contains(err.Error(), "can't parse entities") {
		t.Fatalf("bad HTML edit: %v", err)
	}
	if _, err := b.EditMessageText(ctx, &tgbot.EditMessageTextParams{ChatID: 9, MessageID: msg.ID, Text: "<b>new</b> case", ParseMode: models.ParseModeHTML}); err == nil || !strings.Contains(err.Error(), "not modified") {
		t.Fatalf("same HTML again: %v", err)
	}
	if _, err := b.EditMessageText(ctx, &tgbot.EditMessageTextParams{ChatID: 9, MessageID: msg.ID, Text: "claimed by <i>Li</i> &amp; co", ParseMode: models.ParseModeHTML}); err != nil {
		t.Fatal(err)
	}
	if got := s.Sent(9)[0]; got.PlainText() != "claimed by Li & co" || got.EditedParseMode != "HTML" || s.Edits()[0].ParseMode != "HTML" {
		t.Fatalf("after the edit: %+v plain %q", got, got.PlainText())
	}
}

func TestSendPhoto(t *testing.T) {
	s := New(token)
	defer s.Close()
	ctx := testCtx(t)
	b := newClient(t, s)
	in := s.PhotoUpdate(42, "AgACphoto1", "broken box")
	if p := in.Message.Photo; len(p) != 3 || p[2].FileID != "AgACphoto1" || p[2].Width <= p[0].Width || in.Message.Caption != "broken box" {
		t.Fatalf("photo update: %+v", in.Message)
	}

	msg, err := b.SendPhoto(ctx, &tgbot.SendPhotoParams{ChatID: smallGroup, Photo: &models.InputFileString{Data: "AgACphoto1"},
		Caption: "<b>from</b> customer", ParseMode: models.ParseModeHTML,
		ReplyMarkup: callbackKeyboard{InlineKeyboard: [][]callbackButton{{{Text: "Claim", CallbackData: "d:claim:1"}}}}})
	if err != nil || len(msg.Photo) == 0 || msg.Caption != "from customer" || msg.ReplyMarkup == nil {
		t.Fatalf("sendPhoto by file_id to a group: %+v %v", msg, err)
	}
	got := s.Sent(smallGroup)[0]
	if got.PhotoID != "AgACphoto1" || got.Text != "<b>from</b> customer" || got.PlainText() != "from customer" || len(got.Keyboard) != 1 {
		t.Fatalf("recorded %+v", got)
	}
	if _, err := b.SendPhoto(ctx, &tgbot.SendPhotoParams{ChatID: 42, Photo: &models.InputFileString{Data: "AgACphoto1_m"}}); err != nil {
		t.Fatalf("a smaller size's file_id: %v", err)
	}
	if _, err := b.SendPhoto(ctx, &tgbot.SendPhotoParams{ChatID: 42, Photo: &models.InputFileString{Data: "never-seen"}}); err == nil || !strings.Contains(err.Error(), "wrong file identifier") {
		t.Fatalf("unknown file_id: %v", err)
	}
	up, err := b.SendPhoto(ctx, &tgbot.SendPhotoParams{ChatID: 42, Photo: &models.InputFileUpload{Filename: "p.jpg", Data: bytes.NewReader([]byte("\xff\xd8jpeg"))}, Caption: "a < b"})
	if err != nil || len(up.Photo) == 0 || up.Caption != "a < b" {
		t.Fatalf("upload: %+v %v", up, err)
	}
	if again, err := b.SendPhoto(ctx, &tgbot.SendPhotoParams{ChatID: 43, Photo: &models.InputFileString{Data: up.Photo[len(up.Photo)-1].FileID}}); err != nil || len(again.Photo) == 0 {
		t.Fatalf("an upload's file_id is known afterwards: %v", err)
	}
	if _, err := b.SendPhoto(ctx, &tgbot.SendPhotoParams{ChatID: 42, Photo: &models.InputFileString{Data: "AgACphoto1"}, Caption: strings.Repeat("x", 1025)}); err == nil || !strings.Contains(err.Error(), "caption is too long") {
		t.Fatalf("1025-char caption: %v", err)
	}
	if code, env := call(t, ctx, s.URL(), token, "sendPhoto", `{"chat_id":42}`); code != 400 || !strings.Contains(env.Description, "no photo") {
		t.Fatalf("no photo: %d %+v", code, env)
	}
	if _, err := b.EditMessageText(ctx, &tgbot.EditMessageTextParams{ChatID: smallGroup, MessageID: msg.ID, Text: "x"}); err == nil || !strings.Contains(err.Error(), "no text in the message") {
		t.Fatalf("editMessageText on a photo: %v", err)
	}
	s.Block(42)
	if _, err := b.SendPhoto(ctx, &tgbot.SendPhotoParams{ChatID: 42, Photo: &models.InputFileString{Data: "AgACphoto1"}}); !errors.Is(err, tgbot.ErrorForbidden) {
		t.Fatalf("blocked: %v", err)
	}
	s.Block(smallGroup)
	if _, err := b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: smallGroup, Text: "x"}); !errors.Is(err, tgbot.ErrorForbidden) || !strings.Contains(err.Error(), "kicked from the group chat") {
		t.Fatalf("bot removed from a group: %v", err)
	}
}

// The group builders make what Telegram sends, decodable by the SDK.
func TestGroupUpdates(t *testing.T) {
	s := New(token)
	defer s.Close()
	ctx := testCtx(t)
	b := newClient(t, s)
	s.MakeForum(forum)
	topic, err := b.CreateForumTopic(ctx, &tgbot.CreateForumTopicParams{ChatID: forum, Name: "case 7"})
	if err != nil {
		t.Fatal(err)
	}
	notice, err := b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: forum, Text: "notice", MessageThreadID: topic.MessageThreadID})
	if err != nil {
		t.Fatal(err)
	}
	li := NewUser(501, "Li")
	decode := func(u Update) models.Update {
		raw, _ := json.Marshal(u)
		var out models.Update
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("SDK cannot decode %s: %v", raw, err)
		}
		return out
	}

	m := decode(s.GroupTextUpdate(forum, li, "we will refund you", topic.MessageThreadID, 0)).Message
	if m.Chat.ID != forum || !m.Chat.IsForum || !m.IsTopicMessage || m.MessageThreadID != topic.MessageThreadID || m.From.ID != 501 ||
		m.ReplyToMessage == nil || m.ReplyToMessage.ID != topic.MessageThreadID || m.ReplyToMessage.ForumTopicCreated == nil {
		t.Fatalf("topic message replying to nothing: %+v", m)
	}
	m = decode(s.GroupTextUpdate(forum, li, "see above", topic.MessageThreadID, notice.ID)).Message
	if m.ReplyToMessage == nil || m.ReplyToMessage.ID != notice.ID || m.ReplyToMessage.Text != "notice" || m.ReplyToMessage.ForumTopicCreated != nil {
		t.Fatalf("topic message replying to the notice: %+v", m.ReplyToMessage)
	}
	p := decode(s.GroupPhotoUpdate(forum, li, "AgACagent", "label", topic.MessageThreadID, 0)).Message
	if len(p.Photo) != 3 || p.Photo[2].FileID != "AgACagent" || p.Caption != "label" || p.MessageThreadID != topic.MessageThreadID {
		t.Fatalf("photo in a topic: %+v", p)
	}
	if _, err := b.SendPhoto(ctx, &tgbot.SendPhotoParams{ChatID: 42, Photo: &models.InputFileString{Data: "AgACagent"}}); err != nil {
		t.Fatalf("an agent's photo relayed by file_id: %v", err)
	}

	// A plain supergroup: a reply carries the reply thread, not a topic.
	root, err := b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: plainSuper, Text: "notice"})
	if err != nil {
		t.Fatal(err)
	}
	r := decode(s.GroupTextUpdate(plainSuper, li, "on it", 0, root.ID)).Message
	if r.IsTopicMessage || r.MessageThreadID != root.ID || r.ReplyToMessage.ID != root.ID {
		t.Fatalf("reply in a plain supergroup: %+v", r)
	}

	tap := s.GroupTapUpdate(plainSuper, li, root.ID, "d:claim:7")
	q := decode(tap).CallbackQuery
	if q.From.ID != 501 || q.Data != "d:claim:7" || q.Message.Message == nil || q.Message.Message.Chat.ID != plainSuper || q.Message.Message.ID != root.ID {
		t.Fatalf("group tap: %+v", q)
	}
	if ok, err := b.AnswerCallbackQuery(ctx, &tgbot.AnswerCallbackQueryParams{CallbackQueryID: tap.CallbackQuery.ID, Text: "yours"}); err != nil || !ok {
		t.Fatalf("answering a group tap: %v", err)
	}
	if _, err := b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: plainSuper, Text: "case 8", ReplyMarkup: callbackKeyboard{
		InlineKeyboard: [][]callbackButton{{{Text: "Claim", CallbackData: "d:claim:8"}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SendMessage(ctx, &tgbot.SendMessageParams{ChatID: plainSuper, Text: "chatter"}); err != nil {
		t.Fatal(err)
	}
	byLabel, err := s.TapGroupButton(plainSuper, li, "Claim")
	if err != nil || byLabel.CallbackQuery.Data != "d:claim:8" || byLabel.CallbackQuery.From.ID != 501 {
		t.Fatalf("TapGroupButton: %+v %v", byLabel.CallbackQuery, err)
	}
	if _, err := s.TapGroupButton(plainSuper, li, "Resolve"); err == nil {
		t.Fatal("TapGroupButton on a missing button must fail")
	}
	defer func() {
		if recover() == nil {
			t.Error("writing in a topic of a chat that is no forum must panic")
		}
	}()
	s.GroupTextUpdate(plainSuper, li, "x", 3, 0)
}
