package flows

import (
	"strings"
	"testing"
)

func TestResolveLanguage(t *testing.T) {
	avail := []string{"zh-CN", "en"}
	tests := []struct {
		avail        []string
		client, want string
	}{
		{avail, "zh-hans", "zh-CN"},
		{avail, "zh-hant", "zh-CN"},
		{avail, "zh", "zh-CN"},
		{avail, "zh-CN", "zh-CN"},
		{avail, "zh_cn", "zh-CN"},
		{avail, "zh-TW", "zh-CN"},
		{avail, "en", "en"},
		{avail, "en-US", "en"},
		{avail, "EN-gb", "en"},
		{avail, "fr", "zh-CN"},
		{avail, "", "zh-CN"},
		{[]string{"en", "zh-CN", "zh-TW"}, "zh-hant", "zh-TW"},
		{[]string{"en", "zh-CN", "zh-TW"}, "zh-hans", "zh-CN"},
		{[]string{"en-GB", "zh-CN"}, "en-US", "en-GB"},
		{[]string{"en"}, "zh-hans", "en"},
	}
	for _, tt := range tests {
		fallback := tt.avail[0]
		if got := ResolveLanguage(tt.avail, tt.client, fallback); got != tt.want {
			t.Errorf("ResolveLanguage(%v, %q, %q) = %q, want %q", tt.avail, tt.client, fallback, got, tt.want)
		}
	}
}

func TestSystemText(t *testing.T) {
	keys := []string{"greeting", "linked", "help", "stopped", "resumed", "no_survey", "expired", "closed",
		"already_answered", "reprompt", "skipped", "thanks", "handoff", "invalid_link", "intro"}
	for _, key := range keys {
		en, zh := SystemText(key, "en"), SystemText(key, "zh-CN")
		if en == "" || zh == "" || en == key || en == zh {
			t.Errorf("%s: en %q zh %q", key, en, zh)
		}
		if SystemText(key, "fr") != en {
			t.Errorf("%s: French should fall back to English", key)
		}
		if SystemText(key, "zh-hans") != zh {
			t.Errorf("%s: zh-hans should get Chinese", key)
		}
	}
	for _, lang := range []string{"en", "zh-CN"} {
		if !strings.Contains(SystemText("reprompt", lang), "{valid}") {
			t.Errorf("reprompt (%s) lacks {valid}", lang)
		}
		if !strings.Contains(SystemText("stopped", lang), "/start") {
			t.Errorf("stopped (%s) does not say how to resume", lang)
		}
	}
	if got := SystemText("handoff", "en"); got != "Sorry to hear that. A member of our team will contact you here shortly." {
		t.Errorf("handoff = %q", got)
	}
	if got := SystemText("no_such_key", "en"); got != "no_such_key" {
		t.Errorf("unknown key gave %q", got)
	}
}

func TestSurveyText(t *testing.T) {
	s := &Survey{DefaultLanguage: "zh-CN", Messages: Messages{
		Thanks: Text{"zh-CN": "多谢！", "en": "Cheers!"},
		Intro:  Text{"zh-CN": "您好"},
	}}
	tests := []struct{ key, lang, want string }{
		{"thanks", "en", "Cheers!"},
		{"thanks", "zh-CN", "多谢！"},
		{"intro", "en", "您好"}, // the survey's own text beats a generic one in another language
		{"handoff", "en", SystemText("handoff", "en")},
		{"handoff", "zh-CN", SystemText("handoff", "zh-CN")},
		{"closed", "zh-CN", SystemText("closed", "zh-CN")},
	}
	for _, tt := range tests {
		if got := s.Text(tt.key, tt.lang); got != tt.want {
			t.Errorf("Text(%s, %s) = %q, want %q", tt.key, tt.lang, got, tt.want)
		}
	}
}

func TestTextIn(t *testing.T) {
	tx := Text{"en": "Hello", "zh-CN": "你好"}
	for _, tt := range []struct{ lang, fallback, want string }{
		{"en", "zh-CN", "Hello"}, {"zh-CN", "en", "你好"}, {"fr", "zh-CN", "你好"}, {"fr", "de", "Hello"},
	} {
		if got := tx.In(tt.lang, tt.fallback); got != tt.want {
			t.Errorf("In(%s, %s) = %q, want %q", tt.lang, tt.fallback, got, tt.want)
		}
	}
	if got := Text(nil).In("en", "en"); got != "" {
		t.Errorf("empty text gave %q", got)
	}
}

func TestLanguagesOnlyComplete(t *testing.T) {
	s := &Survey{DefaultLanguage: "en", Questions: []Question{
		{ID: "a", Kind: KindText, Prompt: Text{"en": "A", "zh-CN": "甲", "fr": "A"}},
		{ID: "b", Kind: KindText, Prompt: Text{"en": "B", "zh-CN": "乙"}}, // no French
	}}
	if got := strings.Join(s.Languages(), ","); got != "en,zh-CN" {
		t.Errorf("Languages = %s, want en,zh-CN (French is half done)", got)
	}
}
