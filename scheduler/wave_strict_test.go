package scheduler

import (
	"errors"
	"strings"
	"testing"

	"github.com/cxbot/cxbot/flows"
)

// A typo at any depth is refused with the file, the line and the field: a
// dropped delay or store filter would survey the wrong customers.
func TestWaveUnknownFieldsAtEveryDepth(t *testing.T) {
	for _, tc := range []struct{ name, def, want string }{
		{"top", "id: w1\nsurvey: post_purchase_nps\ntrigger: {touchpoint: purchase}\nschedule: \"@every 1m\"\nsampel: 50%\n",
			"w.yaml:5: sampel: unknown field"},
		{"trigger", "id: w1\nsurvey: post_purchase_nps\ntrigger:\n  touchpoint: purchase\n  delai: 2h\nschedule: \"@every 1m\"\n",
			"w.yaml:5: trigger.delai: unknown field (want one of touchpoint, delay, max_age, where)"},
		{"segment", "id: w1\nsurvey: post_purchase_nps\nsegment:\n  wher: {tier: gold}\nschedule: \"@every 1m\"\n",
			"w.yaml:4: segment.wher: unknown field (want one of touchpoint, where)"},
		{"json", `{"id":"w1","survey":"post_purchase_nps","trigger":{"touchpoint":"purchase","delai":"2h"},"schedule":"@every 1m"}`,
			"w.yaml:1: trigger.delai: unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWave("w.yaml", []byte(tc.def), knownSurvey)
			if err == nil || !errors.Is(err, flows.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// Filter keys are attribute names, not fields: any name is allowed.
	if _, err := ParseWave("w.yaml", []byte("id: w1\nsurvey: post_purchase_nps\ntrigger: {touchpoint: purchase, where: {anything_goes: x}}\nschedule: \"@every 1m\"\n"), knownSurvey); err != nil {
		t.Fatal(err)
	}
}
