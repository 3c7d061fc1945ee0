package flows

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestValidateEvent(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	in := EventInput{
		ID: " ord-1 ", CustomerRef: "C-1", Touchpoint: "purchase", OccurredAt: "2026-11-20T09:30:00.5+08:00",
		TelegramChatID: "+0042", Language: "pt_BR", TimeZone: "Europe/Berlin", Attributes: map[string]string{" store ": " SH-01 "},
	}
	e, err := ValidateEvent(in, now)
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != "ord-1" || e.TelegramChatID != "42" || e.Attributes["store"] != "SH-01" ||
		!e.OccurredAt.Equal(time.Date(2026, 11, 20, 1, 30, 0, 500_000_000, time.UTC)) {
		t.Fatalf("ValidateEvent = %+v", e)
	}
	in.OccurredAt = "yesterday"
	_, err = ValidateEvent(in, now)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "occurred_at" || !errors.Is(err, ErrInvalid) ||
		err.Error() != `occurred_at "yesterday" is not RFC 3339 (like 2026-11-20T09:30:00+08:00)` {
		t.Fatalf("ValidateEvent(yesterday) = %v", err)
	}
	for _, tag := range []string{"en", "zh-CN", "zh-Hant-TW", "es-419", "pt_BR"} {
		if !isEventLanguage(tag) {
			t.Errorf("isEventLanguage(%q) = false", tag)
		}
	}
	for _, tag := range []string{"e", "english", "zh-", "-CN", "zh--CN", "1a", "zh-toolongsubtag", "中文",
		"en" + strings.Repeat("-abcdefgh", 4)} {
		if isEventLanguage(tag) {
			t.Errorf("isEventLanguage(%q) = true", tag)
		}
	}
	many := map[string]string{}
	for i := range maxEventAttributes + 1 {
		many[fmt.Sprint("k", i)] = "v"
	}
	in.OccurredAt, in.Attributes = "2026-11-20T09:30:00Z", many
	if _, err := ValidateEvent(in, now); err == nil || !strings.Contains(err.Error(), "at most 50") {
		t.Fatalf("51 attributes: %v", err)
	}
	in.Attributes = map[string]string{"": "v"}
	if _, err := ValidateEvent(in, now); err == nil || !strings.HasPrefix(err.Error(), "attributes key") {
		t.Fatalf("empty attribute key: %v", err)
	}
}

// TestValidateEventFields names the field of each rule, as the API and the
// CSV import both report it.
func TestValidateEventFields(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	good := EventInput{ID: "e", CustomerRef: "C-1", Touchpoint: "purchase", OccurredAt: "2026-11-20T09:30:00Z"}
	with := func(edit func(*EventInput)) EventInput {
		in := good
		edit(&in)
		return in
	}
	long := strings.Repeat("x", 61)
	for _, tc := range []struct {
		name  string
		in    EventInput
		field string
		want  string // the whole error text, or a prefix ending in "…"
	}{
		{"no id", with(func(in *EventInput) { in.ID = "  " }), "id", "id is required"},
		{"long id", with(func(in *EventInput) { in.ID = strings.Repeat("é", 201) }), "id", "id is longer than 200 characters"},
		{"bad utf-8", with(func(in *EventInput) { in.CustomerRef = "C-\xff" }), "customer_ref", "customer_ref is not valid UTF-8"},
		{"control", with(func(in *EventInput) { in.CustomerRef = "C-\x07" }), "customer_ref", `customer_ref "C-\a" contains control characters`},
		{"long touchpoint", with(func(in *EventInput) { in.Touchpoint = strings.Repeat("t", 101) }), "touchpoint", "touchpoint is longer than 100 characters"},
		{"spaced touchpoint", with(func(in *EventInput) { in.Touchpoint = "a purchase" }), "touchpoint", `touchpoint "a purchase" must not contain spaces`},
		{"no time", with(func(in *EventInput) { in.OccurredAt = "" }), "occurred_at", "occurred_at is required"},
		{"long bad time", with(func(in *EventInput) { in.OccurredAt = long }), "occurred_at", `occurred_at "` + long[:60] + `…" is not RFC 3339 (like 2026-11-20T09:30:00+08:00)`},
		{"future", with(func(in *EventInput) { in.OccurredAt = "2026-11-21T12:00:01Z" }), "occurred_at", `occurred_at "2026-11-21T12:00:01Z" is more than a day in the future`},
		{"chat zero", with(func(in *EventInput) { in.TelegramChatID = "0" }), "telegram_chat_id", `telegram_chat_id "0" is not a Telegram chat id (an integer)`},
		{"chat text", with(func(in *EventInput) { in.TelegramChatID = "abc" }), "telegram_chat_id", `telegram_chat_id "abc" is not a Telegram chat id (an integer)`},
		{"group chat", with(func(in *EventInput) { in.TelegramChatID = "-100123" }), "telegram_chat_id",
			"telegram_chat_id -100123 is a group or channel; surveys go to a customer's private chat with the bot (a positive id)"},
		{"NUL in ref", with(func(in *EventInput) { in.CustomerRef = "C-\x00" }), "customer_ref", `customer_ref "C-\x00" contains control characters`},
		{"long ref", with(func(in *EventInput) { in.CustomerRef = strings.Repeat("r", 9000) }), "customer_ref", "customer_ref is longer than 200 characters"},
		{"long openid", with(func(in *EventInput) { in.WeChatOpenID = strings.Repeat("o", 129) }), "wechat_openid", "wechat_openid is longer than 128 characters"},
		{"spaced openid", with(func(in *EventInput) { in.WeChatOpenID = "o a" }), "wechat_openid", `wechat_openid "o a" must not contain spaces`},
		{"language", with(func(in *EventInput) { in.Language = "Chinese please" }), "language", `language "Chinese please" is not a language tag (like en or zh-CN)`},
		{"zone", with(func(in *EventInput) { in.TimeZone = "Mars/Olympus" }), "timezone", `timezone "Mars/Olympus" is not an IANA time zone (like Asia/Shanghai)`},
		{"local zone", with(func(in *EventInput) { in.TimeZone = "Local" }), "timezone", `timezone "Local" is not an IANA time zone (like Asia/Shanghai)`},
		{"attribute key", with(func(in *EventInput) { in.Attributes = map[string]string{"a\x00": "v"} }), "attributes", `attributes key "a\x00" must be 1 to 100 characters of text`},
		{"attribute value", with(func(in *EventInput) { in.Attributes = map[string]string{"n": strings.Repeat("y", 1001)} }), "attributes.n", "attributes.n is longer than 1000 characters"},
		{"attribute control", with(func(in *EventInput) { in.Attributes = map[string]string{"n": "a\x1bb"} }), "attributes.n", `attributes.n "a\x1bb" contains control characters`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ValidateEvent(tc.in, now)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want a FieldError on %s", err, tc.field)
			}
			if err.Error() != tc.want {
				t.Fatalf("err = %q\nwant  %q", err, tc.want)
			}
		})
	}

	// Accepted as they are: a multi-line attribute, a day ahead exactly, a
	// private chat id with a leading zero (normalised).
	ok := with(func(in *EventInput) {
		in.OccurredAt, in.TelegramChatID = "2026-11-21T12:00:00Z", "0100123"
		in.Attributes = map[string]string{"note": "line one\nline\ttwo"}
	})
	e, err := ValidateEvent(ok, now)
	if err != nil || e.TelegramChatID != "100123" || e.Attributes["note"] != "line one\nline\ttwo" {
		t.Fatalf("ValidateEvent = %+v, %v", e, err)
	}
}

func TestEventValidatorRemembersZones(t *testing.T) {
	var v EventValidator
	now := time.Now()
	for range 2 {
		for _, zone := range []string{"Asia/Shanghai", "Mars/Olympus"} {
			_, err := v.Validate(EventInput{ID: "e", CustomerRef: "C", Touchpoint: "t", OccurredAt: "2026-01-01T00:00:00Z", TimeZone: zone}, now)
			if (err == nil) != (zone == "Asia/Shanghai") {
				t.Fatalf("zone %s: %v", zone, err)
			}
		}
	}
	if len(v.zones) != 2 || !v.zones["Asia/Shanghai"] || v.zones["Mars/Olympus"] {
		t.Fatalf("remembered zones = %v", v.zones)
	}
	for i := range maxKnownZones + 10 {
		v.knownZone(fmt.Sprint("Nowhere/", i))
	}
	if len(v.zones) != maxKnownZones {
		t.Fatalf("remembered %d zones, want the bound %d", len(v.zones), maxKnownZones)
	}
}

func TestNewFieldError(t *testing.T) {
	err := NewFieldError("telegram_chat_id", "must be %s", "an integer")
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "telegram_chat_id" || err.Error() != "telegram_chat_id must be an integer" || !errors.Is(err, ErrInvalid) {
		t.Fatalf("NewFieldError = %#v", err)
	}
}
