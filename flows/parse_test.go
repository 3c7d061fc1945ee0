package flows

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseScore(t *testing.T) {
	tests := []struct {
		kind  Kind
		in    string
		want  int
		valid bool
	}{
		{KindNPS, "7", 7, true},
		{KindNPS, " 7 ", 7, true},
		{KindNPS, "７", 7, true},
		{KindNPS, "7分", 7, true},
		{KindNPS, "７ 分", 7, true},
		{KindNPS, "7/10", 7, true},
		{KindNPS, "7 / 10", 7, true},
		{KindNPS, "7 out of 10", 7, true},
		{KindNPS, "seven", 7, true},
		{KindNPS, "Seven", 7, true},
		{KindNPS, "SEVEN!", 7, true},
		{KindNPS, "七", 7, true},
		{KindNPS, "七分。", 7, true},
		{KindNPS, "十", 10, true},
		{KindNPS, "零", 0, true},
		{KindNPS, "0", 0, true},
		{KindNPS, "10", 10, true},
		{KindNPS, "１０", 10, true},
		{KindNPS, "7️⃣", 7, true},
		{KindNPS, "11", 0, false},
		{KindNPS, "-1", 0, false},
		{KindNPS, "7.5", 0, false},
		{KindNPS, "abc", 0, false},
		{KindNPS, "", 0, false},
		{KindNPS, "   ", 0, false},
		{KindNPS, "7/5", 0, false},
		{KindNPS, "100", 0, false},
		{KindNPS, "I'd say 7", 0, false},
		{KindCSAT, "5", 5, true},
		{KindCSAT, "3/5", 3, true},
		{KindCSAT, "五", 5, true},
		{KindCSAT, "6", 0, false},
		{KindCSAT, "0", 0, false},
		{KindCSAT, "7", 0, false},
		{KindCES, "7", 7, true},
		{KindCES, "8", 0, false},
		{KindText, "3", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseScore(tt.kind, tt.in)
		if tt.valid {
			if err != nil || got != tt.want {
				t.Errorf("ParseScore(%s, %q) = %d, %v; want %d", tt.kind, tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseScore(%s, %q) = %d, want an error", tt.kind, tt.in, got)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseScore(%s, %q): %v does not wrap ErrInvalid", tt.kind, tt.in, err)
		}
	}
	// The message tells the customer what would work.
	_, err := ParseScore(KindCSAT, "6")
	var ie *InputError
	if !errors.As(err, &ie) || ie.Valid != "1–5" || !strings.Contains(err.Error(), "1–5") {
		t.Errorf("CSAT error %v, want one naming 1–5", err)
	}
}

func choiceQuestion() *Question {
	return &Question{ID: "channel", Kind: KindChoice, Options: []Option{
		{ID: "app", Label: Text{"en": "App", "zh-CN": "App"}},
		{ID: "store", Label: Text{"en": "In store", "zh-CN": "门店"}},
		{ID: "web", Label: Text{"en": "Website", "zh-CN": "官网"}},
	}}
}

func TestParseChoice(t *testing.T) {
	q := choiceQuestion()
	tests := []struct{ in, want string }{
		{"2", "store"}, {"２", "store"}, {" 2. ", "store"}, {"store", "store"}, {"STORE", "store"},
		{"In store", "store"}, {"  in STORE ", "store"}, {"门店", "store"}, {"1", "app"}, {"app", "app"},
		{"官网", "web"}, {"3", "web"}, {"ｗｅｂ", "web"},
		{"4", ""}, {"0", ""}, {"", ""}, {"shop", ""}, {"in", ""},
	}
	for _, tt := range tests {
		o, err := q.ParseChoice(tt.in)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("ParseChoice(%q) = %s, want an error", tt.in, o.ID)
		case tt.want == "" && !errors.Is(err, ErrInvalid):
			t.Errorf("ParseChoice(%q): %v does not wrap ErrInvalid", tt.in, err)
		case tt.want != "" && (err != nil || o.ID != tt.want):
			t.Errorf("ParseChoice(%q) = %v, %v; want %s", tt.in, o, err, tt.want)
		}
	}
}

func TestParseText(t *testing.T) {
	required := &Question{ID: "why", Kind: KindText}
	optional := &Question{ID: "more", Kind: KindText, Optional: true}
	tests := []struct {
		q           *Question
		in, want    string
		skipped, ok bool
	}{
		{required, "  box was crushed \n", "box was crushed", false, true},
		{required, "", "", false, false},
		{required, " \n\t ", "", false, false},
		{required, "skip", "skip", false, true}, // only optional questions can be skipped
		{optional, "skip", "", true, true},
		{optional, "Skip", "", true, true},
		{optional, "/skip", "", true, true},
		{optional, "跳过", "", true, true},
		{optional, "跳过。", "", true, true},
		{optional, "skip the small talk, ship faster", "skip the small talk, ship faster", false, true},
		{optional, "", "", false, false},
	}
	for _, tt := range tests {
		got, skipped, err := tt.q.ParseText(tt.in)
		if (err == nil) != tt.ok || got != tt.want || skipped != tt.skipped {
			t.Errorf("ParseText(optional=%v, %q) = %q, %v, %v; want %q, %v, ok=%v", tt.q.Optional, tt.in, got, skipped, err, tt.want, tt.skipped, tt.ok)
		}
	}
	long := strings.Repeat("很", MaxTextRunes+10)
	got, _, err := required.ParseText(long)
	if err != nil || utf8.RuneCountInString(got) != MaxTextRunes || !utf8.ValidString(got) {
		t.Errorf("long text: %d runes, valid UTF-8 %v, err %v", utf8.RuneCountInString(got), utf8.ValidString(got), err)
	}
}
