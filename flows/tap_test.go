package flows

import (
	"errors"
	"strings"
	"testing"
)

func TestTapRoundTrip(t *testing.T) {
	taps := []Tap{
		{ResponseID: 1, QuestionID: "nps", Value: "0"},
		{ResponseID: 42, QuestionID: "channel", Value: "in_store"},
		// The longest possible tap still fits Telegram's callback_data.
		{ResponseID: 1<<63 - 1, QuestionID: strings.Repeat("q", MaxIDLen), Value: strings.Repeat("v", MaxIDLen)},
	}
	for _, tap := range taps {
		data := EncodeTap(tap)
		if len(data) > MaxTapData {
			t.Errorf("EncodeTap(%+v) is %d bytes", tap, len(data))
		}
		got, err := DecodeTap(data)
		if err != nil || got != tap {
			t.Errorf("DecodeTap(%q) = %+v, %v; want %+v", data, got, err, tap)
		}
	}
	if got := EncodeTap(Tap{ResponseID: 42, QuestionID: "nps", Value: "9"}); got != "a:42:nps:9" {
		t.Errorf("EncodeTap = %q, want a:42:nps:9", got)
	}
}

func TestDecodeTapRejects(t *testing.T) {
	for _, data := range []string{
		"", "a", "a:1:nps", "a:1:nps:9:x", "b:1:nps:9", "a:x:nps:9", "a:-1:nps:9", "a:0:nps:9",
		"a:1::9", "a:1:nps:", "a:1:NPS:9", "a:1:nps:9 ", "a:99999999999999999999:nps:9",
		"a:1:nps:" + strings.Repeat("9", 70),
	} {
		if tap, err := DecodeTap(data); !errors.Is(err, ErrInvalid) {
			t.Errorf("DecodeTap(%q) = %+v, %v; want ErrInvalid", data, tap, err)
		}
	}
}
