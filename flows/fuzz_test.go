package flows

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Fuzz targets for every parser of outside input in the domain. Seeds are
// the f.Add calls plus testdata/fuzz/<target>; crashers found later are
// kept there as regression cases. .ci/run runs each for a few seconds.

func FuzzParseScore(f *testing.F) {
	for _, s := range []string{"7", "７", "7分", "7/10", "7 out of 10", "seven", "七", "十", "-1", "11", "1e9", "9.5", "", "\x00", "9️⃣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		for _, kind := range []Kind{KindNPS, KindCSAT, KindCES} {
			n, err := ParseScore(kind, input)
			lo, hi, _ := kind.Scale()
			if err == nil && (n < lo || n > hi) {
				t.Fatalf("ParseScore(%s, %q) = %d, outside %d–%d", kind, input, n, lo, hi)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				var ie *InputError
				if !errors.As(err, &ie) {
					t.Fatalf("ParseScore(%s, %q) error %v is neither ErrInvalid nor an InputError", kind, input, err)
				}
			}
		}
	})
}

func FuzzDecodeTap(f *testing.F) {
	for _, s := range []string{"a:1:nps:7", "a:9223372036854775807:q:v", "a:0:q:v", "a:-1:q:v", "b:1:q:v", "a:1:q", "a:1:q:v:w", "", strings.Repeat("a:", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		tap, err := DecodeTap(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("DecodeTap(%q): %v is not ErrInvalid", data, err)
			}
			return
		}
		if tap.ResponseID <= 0 || EncodeTap(tap) != data {
			t.Fatalf("DecodeTap(%q) = %+v, which encodes as %q", data, tap, EncodeTap(tap))
		}
	})
}

func FuzzParseSurvey(f *testing.F) {
	f.Add([]byte("id: s\ndefault_language: en\ntitle: {en: T}\nquestions:\n  - id: nps\n    kind: nps\n    text: {en: How likely?}\n"))
	f.Add([]byte("a: &a [*a, *a, *a]\nb: &b [*a, *a]\n"))
	f.Add([]byte("id: [\n"))
	f.Add([]byte("\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSurvey("fuzz.yaml", data)
		if err == nil && (s == nil || s.ID == "" || len(s.Questions) == 0) {
			t.Fatalf("ParseSurvey accepted a survey without an id or questions: %+v", s)
		}
	})
}

func FuzzValidateEvent(f *testing.F) {
	f.Add("e-1", "C-1", "purchase", "2026-11-20T09:30:00+08:00", "42", "oAbC", "zh-CN", "Asia/Shanghai", "order", "1001")
	f.Add("", "C\x00", "a b", "yesterday", "-5", "o o", "Chinese", "Mars/Olympus", "k\x00", strings.Repeat("v", 1001))
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, id, ref, touchpoint, at, chat, openID, lang, zone, key, value string) {
		e, err := ValidateEvent(EventInput{ID: id, CustomerRef: ref, Touchpoint: touchpoint, OccurredAt: at, TelegramChatID: chat,
			WeChatOpenID: openID, Language: lang, TimeZone: zone, Attributes: map[string]string{key: value}}, now)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) || len(err.Error()) > 400 {
				t.Fatalf("error %q is not a short FieldError", err)
			}
			return
		}
		for _, s := range []string{e.ID, e.CustomerRef, e.Touchpoint, e.WeChatOpenID} {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) || len(s) > 4*maxEventIDLen {
				t.Fatalf("accepted an unbounded or invalid value %q", s)
			}
		}
		if ValidateTelegramChat("c", e.TelegramChatID) != nil && e.TelegramChatID != "" {
			t.Fatalf("accepted chat id %q", e.TelegramChatID)
		}
	})
}

func FuzzCleanUpdate(f *testing.F) {
	f.Add("telegram", "1", "42", "hi\x00\xff", "user", "en")
	f.Add("wechat", "msg:1", "oAbC", strings.Repeat("长", 5000), "", "zh-CN")
	f.Fuzz(func(t *testing.T, ch, updateID, chatID, text, username, lang string) {
		u, err := CleanUpdate(Update{Channel: Channel(ch), UpdateID: updateID, ChatID: chatID, Text: text, Username: username, Language: lang})
		if err != nil {
			if !errors.Is(err, ErrInvalid) || len(err.Error()) > 400 {
				t.Fatalf("error %q is not a short ErrInvalid", err)
			}
			return
		}
		if !utf8.ValidString(u.Text) || strings.ContainsRune(u.Text, 0) || utf8.RuneCountInString(u.Text) > maxCustomerText ||
			len(u.Username) > 4*maxUsernameLen || (u.Language != "" && ValidateLanguage(u.Language) != nil) {
			t.Fatalf("CleanUpdate left %+v", u)
		}
	})
}

func FuzzLinkToken(f *testing.F) {
	f.Add("VklQLTE")
	f.Add(strings.Repeat("A", 32))
	f.Add(strings.Repeat("!", 32))
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, token string) {
		if WellFormedLinkToken(token) && (len(token) != linkTokenLen || strings.ContainsAny(token, "+/=")) {
			t.Fatalf("%q passed as a token", token)
		}
		if h := LinkTokenHash(token); len(h) != 64 {
			t.Fatalf("hash %q", h)
		}
		tok := LinkToken{CustomerRef: "C", ExpiresAt: now.Add(time.Hour), UsedAt: &now, UsedChannel: ChannelTelegram, UsedChatID: "1"}
		if err := tok.CheckUse(ChannelTelegram, token, now); (err == nil) != (token == "1") {
			t.Fatalf("CheckUse by chat %q: %v", token, err)
		}
	})
}
