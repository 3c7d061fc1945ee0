package telegram

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cxbot/cxbot/bot/telegram/telegramtest"
	"github.com/cxbot/cxbot/flows"
)

func TestConvert(t *testing.T) {
	a, fake := setup(t, nil)
	sentAt := clock.Add(-time.Hour)
	tg := flows.ChannelTelegram

	text := fake.TextUpdate(42, "/start tok", "zh-hans")
	text.Message.Date = sentAt.Unix()
	tap := fake.TapUpdate(42, 3, "7|q1|10")
	tap.CallbackQuery.From.LanguageCode = "en"
	staleTap := fake.TapUpdate(42, 3, "garbage")
	blocked := fake.BlockedUpdate(42)
	blocked.MyChatMember.Date = sentAt.Unix()
	left := fake.BlockedUpdate(42)
	left.MyChatMember.NewChatMember.Status = "left"
	left.MyChatMember.Date = sentAt.Unix()
	unblocked := fake.BlockedUpdate(42)
	unblocked.MyChatMember.NewChatMember.Status = "member"
	groupText := fake.TextUpdate(-100200300, "hello", "")
	groupTap := fake.TapUpdate(-100200300, 1, "7|q1|1")
	groupKick := fake.BlockedUpdate(-100200300)
	photo := fake.TextUpdate(42, "", "")
	edited := fake.TextUpdate(42, "edited", "")
	edited.EditedMessage, edited.Message = edited.Message, nil
	inlineTap := fake.TapUpdate(42, 1, "7|q1|1")
	inlineTap.CallbackQuery.Message = nil
	gameTap := fake.TapUpdate(42, 1, "")

	cases := []struct {
		name    string
		in      telegramtest.Update
		want    flows.Update
		ignored bool
	}{
		{name: "command", in: text, want: flows.Update{Channel: tg, UpdateID: id(text), ChatID: "42", UserID: "42",
			Username: "user42", Language: "zh-hans", Text: "/start tok", ReceivedAt: sentAt}},
		{name: "tap", in: tap, want: flows.Update{Channel: tg, UpdateID: id(tap), ChatID: "42", UserID: "42", Username: "user42",
			Language: "en", Tap: &flows.Tap{ResponseID: 7, QuestionID: "q1", Value: "10"}, TapID: tap.CallbackQuery.ID,
			MessageID: 3, ReceivedAt: clock}},
		{name: "undecodable tap is a zero tap", in: staleTap, want: flows.Update{Channel: tg, UpdateID: id(staleTap), ChatID: "42",
			UserID: "42", Username: "user42", Tap: &flows.Tap{}, TapID: staleTap.CallbackQuery.ID, MessageID: 3, ReceivedAt: clock}},
		{name: "blocked", in: blocked, want: flows.Update{Channel: tg, UpdateID: id(blocked), ChatID: "42", UserID: "42",
			Username: "user42", Blocked: true, ReceivedAt: sentAt}},
		{name: "left", in: left, want: flows.Update{Channel: tg, UpdateID: id(left), ChatID: "42", UserID: "42",
			Username: "user42", Blocked: true, ReceivedAt: sentAt}},
		{name: "unblocked", in: unblocked, ignored: true},
		{name: "group message", in: groupText, ignored: true},
		{name: "group tap", in: groupTap, ignored: true},
		{name: "kicked from a group", in: groupKick, ignored: true},
		{name: "message without text or photo", in: photo, ignored: true},
		{name: "edited message", in: edited, ignored: true},
		{name: "inline-mode tap", in: inlineTap, ignored: true},
		{name: "tap without data", in: gameTap, ignored: true},
		{name: "empty update", in: telegramtest.Update{UpdateID: 5}, ignored: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, err := json.Marshal(c.in)
			if err != nil {
				t.Fatal(err)
			}
			var w wireUpdate
			if err := json.Unmarshal(raw, &w); err != nil {
				t.Fatal(err)
			}
			got, ok, why := a.convert(w)
			if ok == c.ignored {
				t.Fatalf("ok = %v (%s), want %v", ok, why, !c.ignored)
			}
			if c.ignored {
				if why == "" {
					t.Fatal("ignored without a reason")
				}
				return
			}
			if (got.Tap == nil) != (c.want.Tap == nil) || (got.Tap != nil && *got.Tap != *c.want.Tap) {
				t.Fatalf("tap %+v, want %+v", got.Tap, c.want.Tap)
			}
			got.Tap, c.want.Tap = nil, nil
			if got != c.want {
				t.Fatalf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}
