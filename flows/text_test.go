package flows

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidateTelegramChat(t *testing.T) {
	for id, want := range map[string]string{
		"42":                   "",
		"-5":                   "telegram_chat_id -5 is a group or channel; surveys go to a customer's private chat with the bot (a positive id)",
		"-100123":              "telegram_chat_id -100123 is a group or channel; surveys go to a customer's private chat with the bot (a positive id)",
		"0":                    `telegram_chat_id "0" is not a Telegram chat id (an integer)`,
		"4.5":                  `telegram_chat_id "4.5" is not a Telegram chat id (an integer)`,
		"99999999999999999999": `telegram_chat_id "99999999999999999999" is not a Telegram chat id (an integer)`,
	} {
		err := ValidateTelegramChat("telegram_chat_id", id)
		if (want == "" && err != nil) || (want != "" && (err == nil || err.Error() != want || !errors.Is(err, ErrInvalid))) {
			t.Errorf("ValidateTelegramChat(%q) = %v, want %q", id, err, want)
		}
	}
}

func TestValidateOutsideStrings(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string // "" = accepted
	}{
		{"ref", ValidateCustomerRef("C-1"), ""},
		{"ref in Chinese", ValidateCustomerRef("客户-１"), ""},
		{"empty ref", ValidateCustomerRef(""), "customer_ref is required"},
		{"NUL ref", ValidateCustomerRef("C\x00"), `customer_ref "C\x00" contains control characters`},
		{"9,000-char ref", ValidateCustomerRef(strings.Repeat("x", 9000)), "customer_ref is longer than 200 characters"},
		{"bad UTF-8 ref", ValidateCustomerRef("\xff"), "customer_ref is not valid UTF-8"},
		{"300 KB event id", ValidateEventID(strings.Repeat("e", 300_000)), "event_id is longer than 200 characters"},
		{"no event id", ValidateEventID(""), ""},
		{"newline in event id", ValidateEventID("a\nb"), `event_id "a\nb" contains control characters`},
		{"survey", ValidateSurveyID("post_purchase_nps"), ""},
		{"openid with a space", ValidateWeChatOpenID("wechat_openid", "o 1"), `wechat_openid "o 1" must not contain spaces`},
		{"language", ValidateLanguage("zh_CN"), ""},
		{"bad language", ValidateLanguage("<script>"), `language "<script>" is not a language tag (like en or zh-CN)`},
		{"unknown channel", ValidateChat("line", "U1"), ""},
	} {
		if (tc.want == "") != (tc.err == nil) || (tc.err != nil && (tc.err.Error() != tc.want || !errors.Is(tc.err, ErrInvalid))) {
			t.Errorf("%s: %v, want %q", tc.name, tc.err, tc.want)
		}
	}
	attrs, err := ValidateAttributes("context", map[string]string{" order ": " 1001 ", "note": "two\nlines"})
	if err != nil || attrs["order"] != "1001" || attrs["note"] != "two\nlines" {
		t.Fatalf("ValidateAttributes = %v, %v", attrs, err)
	}
	if _, err := ValidateAttributes("context", map[string]string{"k": "v\x00"}); err == nil || err.Error() != `context.k "v\x00" contains control characters` {
		t.Fatalf("NUL in a context value: %v", err)
	}
}

func TestCleanUpdate(t *testing.T) {
	u, err := CleanUpdate(Update{Channel: ChannelTelegram, UpdateID: "1", ChatID: "42", Text: "a\x00b\xffc" + strings.Repeat("长", 5000),
		Username: strings.Repeat("u", 100), Language: "not a tag"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.Text, "ab\uFFFDc长") || utf8.RuneCountInString(u.Text) != 4096 || !utf8.ValidString(u.Text) {
		t.Errorf("text %q… (%d runes)", u.Text[:12], utf8.RuneCountInString(u.Text))
	}
	if len(u.Username) != 64 || u.Language != "" {
		t.Errorf("username %d bytes, language %q", len(u.Username), u.Language)
	}
	for name, bad := range map[string]Update{
		"no chat":      {Channel: ChannelTelegram, UpdateID: "1"},
		"group chat":   {Channel: ChannelTelegram, UpdateID: "1", ChatID: "-5"},
		"long openid":  {Channel: ChannelWeChat, UpdateID: "1", ChatID: strings.Repeat("o", 129)},
		"long update":  {Channel: ChannelTelegram, UpdateID: strings.Repeat("9", 300), ChatID: "42"},
		"NUL in an id": {Channel: ChannelWeChat, UpdateID: "1", ChatID: "o\x00"},
	} {
		if _, err := CleanUpdate(bad); !errors.Is(err, ErrInvalid) || len(err.Error()) > 300 {
			t.Errorf("%s: %v, want a short ErrInvalid", name, err)
		}
	}
}

func TestLogValue(t *testing.T) {
	if got := LogValue("short"); got != "short" {
		t.Errorf("LogValue(short) = %q", got)
	}
	got := LogValue(strings.Repeat("é", 150_000)) // 300 KB
	if len(got) > 220 || !utf8.ValidString(got) || !strings.HasSuffix(got, "…(300000 bytes)") {
		t.Errorf("LogValue of 300 KB = %q", got)
	}
	if got := LogValue("a\xffb"); !utf8.ValidString(got) {
		t.Errorf("LogValue of bad UTF-8 = %q", got)
	}
}
