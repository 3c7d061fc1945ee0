package flows

import (
	"testing"
	"time"
)

// TestOutcomeWrite checks the handoff and finish a step's outcome writes:
// a detractor score alone opens a case awaiting its comment, a score with
// its comment at once opens it ready, a comment alone readies the case.
func TestOutcomeWrite(t *testing.T) {
	at := time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)
	pending := PendingHandoff{QuestionID: "nps", Kind: KindNPS, Score: 2, Comment: "late parcel"}
	row := func(p PendingHandoff) Handoff {
		return Handoff{QuestionID: p.QuestionID, Score: p.Score, Comment: p.Comment}
	}
	cases := []struct {
		name        string
		out         Outcome
		wantOpen    HandoffStatus // "" when no case is opened
		wantComment string        // "" when no comment is set
		wantFinish  ResponseStatus
	}{
		{"score alone", Outcome{HandoffOpened: &pending}, HandoffAwaitingComment, "", ""},
		{"score with comment", Outcome{HandoffOpened: &pending, HandoffReady: &pending, Finished: true}, HandoffOpen, "", ResponseCompleted},
		{"comment readies the case", Outcome{HandoffReady: &pending, Finished: true}, "", "late parcel", ResponseCompleted},
		{"no handoff", Outcome{Answer: &Answer{QuestionID: "nps"}}, "", "", ""},
	}
	for _, c := range cases {
		w := c.out.Write(7, at, row)
		if w.ResponseID != 7 || !w.At.Equal(at) || w.Answer != c.out.Answer || w.Finish != c.wantFinish {
			t.Errorf("%s: write %+v", c.name, w)
		}
		switch {
		case c.wantOpen == "" && w.OpenHandoff != nil:
			t.Errorf("%s: opened %+v, want none", c.name, *w.OpenHandoff)
		case c.wantOpen != "" && (w.OpenHandoff == nil || w.OpenHandoff.Status != c.wantOpen || w.OpenHandoff.Score != 2):
			t.Errorf("%s: opened %+v, want status %s", c.name, w.OpenHandoff, c.wantOpen)
		}
		gotComment := ""
		if w.HandoffComment != nil {
			gotComment = *w.HandoffComment
		}
		if gotComment != c.wantComment || (c.wantComment != "") != (w.HandoffStatus == HandoffOpen) {
			t.Errorf("%s: comment %q status %q, want %q", c.name, gotComment, w.HandoffStatus, c.wantComment)
		}
	}
}
