package flows

import (
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 14, 9, 26, 0, 0, time.UTC)

func mustLoad(t testing.TB, path string) *Survey {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSurvey(path, data)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// turn is one customer input and what must come of it.
type turn struct {
	in   func(st State) Input
	want want
}

type want struct {
	stale    bool
	notice   string          // exact Notice
	answer   *Answer         // nil: no answer (AnsweredAt is not compared)
	next     string          // State.QuestionID afterwards
	finished bool            // Finished, and QuestionID ""
	attempts int             // State.Attempts afterwards
	opened   *PendingHandoff // HandoffOpened
	ready    *PendingHandoff // HandoffReady
	say      []string        // substrings of the messages, in order
	notSay   []string        // substrings no message may contain
	prompt   string          // QuestionID of the last message, "" for none
	closed   string          // substring of Closed.Text; "" means Closed is nil
}

func tap(v string) func(State) Input {
	return func(st State) Input {
		return Input{Tap: &Tap{ResponseID: st.ResponseID, QuestionID: st.QuestionID, Value: v}}
	}
}

// tapOn taps a button of a given question; response 0 means the current one.
func tapOn(response int64, q, v string) func(State) Input {
	return func(st State) Input {
		if response == 0 {
			response = st.ResponseID
		}
		return Input{Tap: &Tap{ResponseID: response, QuestionID: q, Value: v}}
	}
}

func say(text string) func(State) Input {
	return func(State) Input { return Input{Text: text} }
}

func score(n int) *int { return &n }

func TestConversations(t *testing.T) {
	nps := mustLoad(t, "../configs/surveys/post_purchase_nps.yaml")
	csat := mustLoad(t, "../configs/surveys/post_service_csat.yaml")
	npsOnly := mustLoad(t, "testdata/nps_only.yaml")
	choice := mustLoad(t, "testdata/choice.yaml")

	zhThanks := "收到，非常感谢您的支持！"
	zhHandoff := SystemText("handoff", "zh-CN")
	zhSkipped := SystemText("skipped", "zh-CN")
	zhAlready := SystemText("already_answered", "zh-CN")
	zhClosed := SystemText("closed", "zh-CN")
	enThanks := SystemText("thanks", "en")

	tests := []struct {
		name   string
		survey *Survey
		lang   string
		turns  []turn
	}{
		{"promoter path", nps, "zh-hans", []turn{
			{tap("9"), want{notice: "✓ 9", answer: &Answer{QuestionID: "nps", Kind: KindNPS, Score: score(9), Class: ClassPromoter},
				finished: true, say: []string{zhThanks}, notSay: []string{zhHandoff}, closed: "\n\n✓ 9"}},
		}},
		{"passive answers what would make it a 10", nps, "zh-CN", []turn{
			{tap("7"), want{notice: "✓ 7", answer: &Answer{QuestionID: "nps", Kind: KindNPS, Score: score(7), Class: ClassPassive},
				next: "make_it_10", say: []string{"让您愿意打 10 分"}, prompt: "make_it_10", closed: "✓ 7"}},
			{say("  送货再快一点就好了 "), want{answer: &Answer{QuestionID: "make_it_10", Kind: KindText, Text: "送货再快一点就好了"},
				finished: true, say: []string{zhThanks}}},
		}},
		{"passive skips the optional question", nps, "zh-CN", []turn{
			{tap("8"), want{notice: "✓ 8", answer: &Answer{QuestionID: "nps", Kind: KindNPS, Score: score(8), Class: ClassPassive},
				next: "make_it_10", prompt: "make_it_10", closed: "✓ 8"}},
			{say("跳过"), want{answer: &Answer{QuestionID: "make_it_10", Kind: KindText, Skipped: true}, finished: true, say: []string{zhThanks}}},
		}},
		{"detractor with comment", nps, "zh-CN", []turn{
			{tap("3"), want{notice: "✓ 3", answer: &Answer{QuestionID: "nps", Kind: KindNPS, Score: score(3), Class: ClassDetractor},
				opened: &PendingHandoff{QuestionID: "nps", Kind: KindNPS, Score: 3, Class: ClassDetractor},
				next:   "what_went_wrong", prompt: "what_went_wrong", say: []string{"哪里让您失望了"}, closed: "✓ 3"}},
			{say("包装破了，客服也没回复"), want{answer: &Answer{QuestionID: "what_went_wrong", Kind: KindText, Text: "包装破了，客服也没回复"},
				ready:    &PendingHandoff{QuestionID: "nps", Kind: KindNPS, Score: 3, Class: ClassDetractor, Comment: "包装破了，客服也没回复"},
				finished: true, say: []string{zhHandoff}, notSay: []string{zhThanks}}},
		}},
		{"detractor when the survey has no follow-up", npsOnly, "en", []turn{
			{tap("5"), want{notice: "✓ 5", answer: &Answer{QuestionID: "nps", Kind: KindNPS, Score: score(5), Class: ClassDetractor},
				opened:   &PendingHandoff{QuestionID: "nps", Kind: KindNPS, Score: 5, Class: ClassDetractor},
				ready:    &PendingHandoff{QuestionID: "nps", Kind: KindNPS, Score: 5, Class: ClassDetractor},
				finished: true, say: []string{"Someone from our team will call you."}, notSay: []string{enThanks}, closed: "✓ 5"}},
		}},
		{"custom thresholds: 6 is passive, 8 promoter", npsOnly, "en", []turn{
			{say("6"), want{answer: &Answer{QuestionID: "nps", Kind: KindNPS, Score: score(6), Class: ClassPassive}, finished: true, say: []string{enThanks}, closed: "✓ 6"}},
		}},
		{"three failed tries skip the question", nps, "zh-CN", []turn{
			{say("abc"), want{attempts: 1, next: "nps", prompt: "nps", say: []string{"0–10", "推荐给朋友"}}},
			{say("11"), want{attempts: 2, next: "nps", prompt: "nps", say: []string{"0–10"}}},
			{say("-1"), want{answer: &Answer{QuestionID: "nps", Kind: KindNPS, Skipped: true}, finished: true,
				say: []string{zhSkipped, zhThanks}, closed: "— 已跳过"}},
		}},
		{"a skipped question moves on to next, ignoring branches", csat, "en", []turn{
			{say("great"), want{attempts: 1, next: "csat", prompt: "csat", say: []string{"Please reply with: 1–5"}}},
			{say("6"), want{attempts: 2, next: "csat", prompt: "csat", say: []string{"1–5"}}},
			{tap("9"), want{answer: &Answer{QuestionID: "csat", Kind: KindCSAT, Skipped: true}, next: "ces", prompt: "ces",
				say: []string{SystemText("skipped", "en"), "How much effort"}, closed: "— skipped"}},
			{tap("3"), want{notice: "✓ 3", answer: &Answer{QuestionID: "ces", Kind: KindCES, Score: score(3), Class: ClassEasy}, next: "anything_else", prompt: "anything_else", closed: "✓ 3"}},
		}},
		{"re-prompt shows the valid range and the question again", nps, "en-US", []turn{
			{say("11"), want{attempts: 1, next: "nps", prompt: "nps", say: []string{"Sorry, I didn't get that. Please reply with: 0–10", "How likely are you to recommend us"}}},
			{say("9"), want{answer: &Answer{QuestionID: "nps", Kind: KindNPS, Score: score(9), Class: ClassPromoter}, finished: true, closed: "✓ 9"}},
		}},
		{"stale tap on an answered question", nps, "zh-CN", []turn{
			{tap("3"), want{notice: "✓ 3", answer: &Answer{QuestionID: "nps", Kind: KindNPS, Score: score(3), Class: ClassDetractor},
				opened: &PendingHandoff{QuestionID: "nps", Kind: KindNPS, Score: 3, Class: ClassDetractor}, next: "what_went_wrong", prompt: "what_went_wrong", closed: "✓ 3"}},
			{tapOn(0, "nps", "10"), want{stale: true, notice: zhAlready, next: "what_went_wrong"}},
		}},
		{"tap from another response", nps, "zh-CN", []turn{
			{tapOn(99, "nps", "9"), want{stale: true, notice: zhClosed, next: "nps"}},
			{tapOn(0, "gone", "9"), want{stale: true, notice: zhClosed, next: "nps"}},
		}},
		{"forged tap value counts as a failed try", nps, "zh-CN", []turn{
			{tap("42"), want{attempts: 1, next: "nps", prompt: "nps", say: []string{"0–10"}}},
			{tap("seven"), want{attempts: 2, next: "nps", prompt: "nps"}},
			{tap("10"), want{notice: "✓ 10", answer: &Answer{QuestionID: "nps", Kind: KindNPS, Score: score(10), Class: ClassPromoter}, finished: true, closed: "✓ 10"}},
		}},
		{"typed number instead of tapping", nps, "zh-CN", []turn{
			{say("9"), want{answer: &Answer{QuestionID: "nps", Kind: KindNPS, Score: score(9), Class: ClassPromoter}, finished: true, say: []string{zhThanks}, closed: "✓ 9"}},
		}},
		{"full-width digits", nps, "zh-CN", []turn{
			{say("７"), want{answer: &Answer{QuestionID: "nps", Kind: KindNPS, Score: score(7), Class: ClassPassive}, next: "make_it_10", prompt: "make_it_10", closed: "✓ 7"}},
		}},
		{"a spelled-out number", nps, "en", []turn{
			{say("seven"), want{answer: &Answer{QuestionID: "nps", Kind: KindNPS, Score: score(7), Class: ClassPassive}, next: "make_it_10", prompt: "make_it_10", closed: "✓ 7"}},
		}},
		{"11 is rejected", nps, "zh-CN", []turn{
			{say("11"), want{attempts: 1, next: "nps", prompt: "nps", say: []string{"请回复：0–10"}}},
		}},
		{"CSAT then CES then a comment", csat, "zh-CN", []turn{
			{tap("5"), want{notice: "✓ 5", answer: &Answer{QuestionID: "csat", Kind: KindCSAT, Score: score(5), Class: ClassSatisfied}, next: "ces", prompt: "ces", say: []string{"费劲"}, closed: "✓ 5"}},
			{tap("2"), want{notice: "✓ 2", answer: &Answer{QuestionID: "ces", Kind: KindCES, Score: score(2), Class: ClassEasy}, next: "anything_else", prompt: "anything_else", closed: "✓ 2"}},
			{say("师傅很专业"), want{answer: &Answer{QuestionID: "anything_else", Kind: KindText, Text: "师傅很专业"}, finished: true, say: []string{SystemText("thanks", "zh-CN")}}},
		}},
		{"CES 6 counts as a detractor", csat, "zh-CN", []turn{
			{say("4"), want{answer: &Answer{QuestionID: "csat", Kind: KindCSAT, Score: score(4), Class: ClassSatisfied}, next: "ces", prompt: "ces", closed: "✓ 4"}},
			{tap("6"), want{notice: "✓ 6", answer: &Answer{QuestionID: "ces", Kind: KindCES, Score: score(6), Class: ClassDifficult},
				opened: &PendingHandoff{QuestionID: "ces", Kind: KindCES, Score: 6, Class: ClassDifficult}, next: "anything_else", prompt: "anything_else", closed: "✓ 6"}},
			{say("打了三次电话才解决"), want{answer: &Answer{QuestionID: "anything_else", Kind: KindText, Text: "打了三次电话才解决"},
				ready:    &PendingHandoff{QuestionID: "ces", Kind: KindCES, Score: 6, Class: ClassDifficult, Comment: "打了三次电话才解决"},
				finished: true, say: []string{zhHandoff}}},
		}},
		{"only the first detractor answer opens a handoff", csat, "zh-CN", []turn{
			{tap("1"), want{notice: "✓ 1", answer: &Answer{QuestionID: "csat", Kind: KindCSAT, Score: score(1), Class: ClassDissatisfied},
				opened: &PendingHandoff{QuestionID: "csat", Kind: KindCSAT, Score: 1, Class: ClassDissatisfied}, next: "ces", prompt: "ces", closed: "✓ 1"}},
			{tap("7"), want{notice: "✓ 7", answer: &Answer{QuestionID: "ces", Kind: KindCES, Score: score(7), Class: ClassDifficult}, next: "anything_else", prompt: "anything_else", closed: "✓ 7"}},
			{say("跳过"), want{answer: &Answer{QuestionID: "anything_else", Kind: KindText, Skipped: true},
				ready:    &PendingHandoff{QuestionID: "csat", Kind: KindCSAT, Score: 1, Class: ClassDissatisfied},
				finished: true, say: []string{zhHandoff}}},
		}},
		{"choice by number", choice, "en", []turn{
			{say("1"), want{answer: &Answer{QuestionID: "channel", Kind: KindChoice, Choice: "app"}, finished: true, say: []string{enThanks}, closed: "✓ App"}},
		}},
		{"choice by full-width number", choice, "en", []turn{
			{say("３"), want{answer: &Answer{QuestionID: "channel", Kind: KindChoice, Choice: "web"}, finished: true, closed: "✓ Website"}},
		}},
		{"choice by id", choice, "en", []turn{
			{say("Web"), want{answer: &Answer{QuestionID: "channel", Kind: KindChoice, Choice: "web"}, finished: true, closed: "✓ Website"}},
		}},
		{"choice by label in another language", choice, "en", []turn{
			{say(" 门店 "), want{answer: &Answer{QuestionID: "channel", Kind: KindChoice, Choice: "store"}, next: "store_csat", prompt: "store_csat", closed: "✓ In store"}},
		}},
		{"choice re-prompt lists the options", choice, "zh-CN", []turn{
			{say("4"), want{attempts: 1, next: "channel", prompt: "channel", say: []string{"1. App  2. 门店  3. 官网"}}},
		}},
		{"branching by option id", choice, "zh-CN", []turn{
			{tap("store"), want{notice: "✓ 门店", answer: &Answer{QuestionID: "channel", Kind: KindChoice, Choice: "store"}, next: "store_csat", prompt: "store_csat", say: []string{"门店体验如何"}, closed: "✓ 门店"}},
			{tap("2"), want{notice: "✓ 2", answer: &Answer{QuestionID: "store_csat", Kind: KindCSAT, Score: score(2), Class: ClassDissatisfied},
				opened: &PendingHandoff{QuestionID: "store_csat", Kind: KindCSAT, Score: 2, Class: ClassDissatisfied},
				ready:  &PendingHandoff{QuestionID: "store_csat", Kind: KindCSAT, Score: 2, Class: ClassDissatisfied}, finished: true, closed: "✓ 2"}},
		}},
		{"an unmatched option follows next", choice, "en", []turn{
			{tap("app"), want{notice: "✓ App", answer: &Answer{QuestionID: "channel", Kind: KindChoice, Choice: "app"}, finished: true, say: []string{enThanks}, closed: "✓ App"}},
		}},
		{"a finished conversation is stale", npsOnly, "en", []turn{
			{say("10"), want{answer: &Answer{QuestionID: "nps", Kind: KindNPS, Score: score(10), Class: ClassPromoter}, finished: true, closed: "✓ 10"}},
			{say("10"), want{stale: true, notice: SystemText("already_answered", "en"), finished: true}},
			{tapOn(0, "nps", "3"), want{stale: true, notice: SystemText("already_answered", "en"), finished: true}},
		}},
		{"a tap on a text question is a failed try", nps, "zh-CN", []turn{
			{say("8"), want{answer: &Answer{QuestionID: "nps", Kind: KindNPS, Score: score(8), Class: ClassPassive}, next: "make_it_10", prompt: "make_it_10", closed: "✓ 8"}},
			{tap("x"), want{attempts: 1, next: "make_it_10", prompt: "make_it_10", say: []string{"一段文字"}}},
			{say(""), want{attempts: 2, next: "make_it_10", prompt: "make_it_10"}},
			{say(" "), want{answer: &Answer{QuestionID: "make_it_10", Kind: KindText, Skipped: true}, finished: true, say: []string{zhSkipped, zhThanks}}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, first := Start(tt.survey, tt.lang, 7, 42, t0)
			if first.QuestionID != tt.survey.First().ID || st.QuestionID != first.QuestionID {
				t.Fatalf("Start asked %q, state at %q", first.QuestionID, st.QuestionID)
			}
			msgID := 100
			st.PromptMessageID = msgID // the caller records the sent prompt
			for i, tu := range tt.turns {
				now := t0.Add(time.Duration(i+1) * time.Minute)
				before := st
				out := Step(tt.survey, st, tu.in(st), now)
				checkOutcome(t, i, before, out, tu.want, now)
				st = out.State
				if n := len(out.Messages); n > 0 && out.Messages[n-1].QuestionID != "" {
					msgID++
					st.PromptMessageID = msgID
				}
			}
		})
	}
}

func checkOutcome(t *testing.T, turn int, before State, out Outcome, w want, now time.Time) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("turn %d: "+format, append([]any{turn + 1}, args...)...)
	}
	if out.Stale != w.stale {
		fail("Stale = %v, want %v", out.Stale, w.stale)
	}
	if out.Notice != w.notice {
		fail("Notice = %q, want %q", out.Notice, w.notice)
	}
	if w.stale {
		if !reflect.DeepEqual(out.State, before) {
			fail("stale input changed the state:\n got %+v\nwant %+v", out.State, before)
		}
		if out.Answer != nil || out.Closed != nil || len(out.Messages) > 0 || out.HandoffOpened != nil || out.HandoffReady != nil {
			fail("stale input had effects: %+v", out)
		}
		return
	}
	switch {
	case w.answer == nil && out.Answer != nil:
		fail("Answer = %+v, want none", *out.Answer)
	case w.answer != nil && out.Answer == nil:
		fail("no Answer, want %+v", *w.answer)
	case w.answer != nil:
		got := *out.Answer
		if !got.AnsweredAt.Equal(now) {
			fail("AnsweredAt = %v, want %v", got.AnsweredAt, now)
		}
		got.AnsweredAt = time.Time{}
		if !reflect.DeepEqual(got, *w.answer) {
			fail("Answer = %s, want %s", fmtAnswer(got), fmtAnswer(*w.answer))
		}
	}
	if out.State.QuestionID != w.next {
		fail("next question %q, want %q", out.State.QuestionID, w.next)
	}
	if out.Finished != w.finished {
		fail("Finished = %v, want %v", out.Finished, w.finished)
	}
	if out.State.Attempts != w.attempts {
		fail("Attempts = %d, want %d", out.State.Attempts, w.attempts)
	}
	if !out.State.UpdatedAt.Equal(now) {
		fail("UpdatedAt = %v, want %v", out.State.UpdatedAt, now)
	}
	if out.Answer != nil && out.State.PromptMessageID != 0 {
		fail("PromptMessageID = %d after an answer, want 0 until the caller sends the next prompt", out.State.PromptMessageID)
	}
	if !reflect.DeepEqual(out.HandoffOpened, w.opened) {
		fail("HandoffOpened = %+v, want %+v", out.HandoffOpened, w.opened)
	}
	if !reflect.DeepEqual(out.HandoffReady, w.ready) {
		fail("HandoffReady = %+v, want %+v", out.HandoffReady, w.ready)
	}
	if w.opened != nil && !reflect.DeepEqual(out.State.PendingHandoff, w.opened) {
		fail("State.PendingHandoff = %+v, want %+v", out.State.PendingHandoff, w.opened)
	}
	var all strings.Builder
	for _, m := range out.Messages {
		all.WriteString(m.Text)
		all.WriteString("\n---\n")
	}
	text, rest := all.String(), all.String()
	for _, s := range w.say {
		i := strings.Index(rest, s)
		if i < 0 {
			fail("messages lack %q (in order):\n%s", s, text)
			break
		}
		rest = rest[i+len(s):]
	}
	for _, s := range w.notSay {
		if strings.Contains(text, s) {
			fail("messages contain %q:\n%s", s, text)
		}
	}
	last := ""
	if n := len(out.Messages); n > 0 {
		last = out.Messages[n-1].QuestionID
	} else {
		fail("no messages")
	}
	if last != w.prompt {
		fail("last message asks %q, want %q", last, w.prompt)
	}
	reprompt := out.Answer == nil && !out.Stale && len(out.Messages) > 0 && len(out.Messages[len(out.Messages)-1].Keyboard) > 0
	switch {
	case w.closed == "" && reprompt && before.PromptMessageID != 0:
		// A re-prompt sends the keyboard anew and closes the one before:
		// one live keyboard per question.
		if want := (ClosedPrompt{QuestionID: before.QuestionID, MessageID: before.PromptMessageID}); out.Closed == nil || *out.Closed != want {
			fail("Closed = %+v, want the superseded keyboard closed: %+v", out.Closed, want)
		}
	case w.closed == "":
		if out.Closed != nil {
			fail("Closed = %+v, want none", *out.Closed)
		}
	default:
		switch {
		case out.Closed == nil:
			fail("no Closed prompt, want one with %q", w.closed)
		case !strings.Contains(out.Closed.Text, w.closed) || out.Closed.QuestionID != before.QuestionID || out.Closed.MessageID != before.PromptMessageID:
			fail("Closed = %+v, want %q for %s in message %d", *out.Closed, w.closed, before.QuestionID, before.PromptMessageID)
		}
	}
}

func fmtAnswer(a Answer) string {
	s := "nil"
	if a.Score != nil {
		s = strconv.Itoa(*a.Score)
	}
	return strings.Join([]string{a.QuestionID, string(a.Kind), "score=" + s, string(a.Class), "choice=" + a.Choice, "text=" + a.Text, map[bool]string{true: "skipped", false: ""}[a.Skipped]}, " ")
}

func TestStart(t *testing.T) {
	nps := mustLoad(t, "../configs/surveys/post_purchase_nps.yaml")
	tests := []struct{ client, lang, intro, prompt string }{
		{"zh-hans", "zh-CN", "感谢您最近在我们这里购物", "您有多大可能"},
		{"en-US", "en", "Thanks for your recent purchase", "How likely are you"},
		{"en", "en", "Thanks for your recent purchase", "How likely are you"},
		{"fr", "zh-CN", "感谢您最近在我们这里购物", "您有多大可能"},
		{"", "zh-CN", "感谢您最近在我们这里购物", "您有多大可能"},
	}
	for _, tt := range tests {
		st, m := Start(nps, tt.client, 7, 42, t0)
		if st.Language != tt.lang {
			t.Errorf("%q: language %q, want %q", tt.client, st.Language, tt.lang)
		}
		intro, prompt, ok := strings.Cut(m.Text, "\n\n")
		if !ok || !strings.Contains(intro, tt.intro) || !strings.HasPrefix(prompt, tt.prompt) {
			t.Errorf("%q: first message %q, want intro %q, blank line, prompt %q", tt.client, m.Text, tt.intro, tt.prompt)
		}
		want := State{ResponseID: 42, InvitationID: 7, SurveyID: "post_purchase_nps", Language: tt.lang, QuestionID: "nps", StartedAt: t0, UpdatedAt: t0}
		if !reflect.DeepEqual(st, want) {
			t.Errorf("%q: state %+v, want %+v", tt.client, st, want)
		}
	}
}

func TestKeyboards(t *testing.T) {
	csat := mustLoad(t, "../configs/surveys/post_service_csat.yaml")
	nps := mustLoad(t, "../configs/surveys/post_purchase_nps.yaml")
	choice := mustLoad(t, "testdata/choice.yaml")
	labels := func(m Message) string {
		var rows []string
		for _, row := range m.Keyboard {
			var ls []string
			for _, b := range row {
				ls = append(ls, b.Label)
				tap, err := DecodeTap(b.Data)
				if err != nil || tap.ResponseID != 42 || tap.QuestionID != m.QuestionID {
					t.Errorf("button %q carries %q (%+v, %v)", b.Label, b.Data, tap, err)
				}
			}
			rows = append(rows, strings.Join(ls, " "))
		}
		return strings.Join(rows, " | ")
	}
	_, m := Start(nps, "en", 7, 42, t0)
	if got := labels(m); got != "0 1 2 3 4 5 | 6 7 8 9 10" {
		t.Errorf("NPS keyboard %q", got)
	}
	_, m = Start(csat, "en", 7, 42, t0)
	if got := labels(m); got != "1 2 3 4 5" {
		t.Errorf("CSAT keyboard %q", got)
	}
	st := State{ResponseID: 42, SurveyID: csat.ID, Language: "en", QuestionID: "csat"}
	out := Step(csat, st, Input{Text: "5"}, t0)
	if got := labels(out.Messages[0]); got != "1 2 3 4 5 6 7" {
		t.Errorf("CES keyboard %q", got)
	}
	out = Step(csat, out.State, Input{Text: "1"}, t0)
	if out.Messages[0].Keyboard != nil || out.Messages[0].QuestionID != "anything_else" {
		t.Errorf("text question got a keyboard: %+v", out.Messages[0])
	}
	_, m = Start(choice, "zh-CN", 7, 42, t0)
	if got := labels(m); got != "App | 门店 | 官网" {
		t.Errorf("choice keyboard %q", got)
	}
	if tap, _ := DecodeTap(m.Keyboard[1][0].Data); tap.Value != "store" {
		t.Errorf("second option sends %q, want store", tap.Value)
	}
}

// TestStepIsPure checks that Step never writes through the caller's state.
func TestStepIsPure(t *testing.T) {
	nps := mustLoad(t, "../configs/surveys/post_purchase_nps.yaml")
	ph := &PendingHandoff{QuestionID: "nps", Kind: KindNPS, Score: 2, Class: ClassDetractor}
	st := State{ResponseID: 42, Language: "en", QuestionID: "what_went_wrong", PendingHandoff: ph}
	saved := *ph
	out1 := Step(nps, st, Input{Text: "late delivery"}, t0)
	out2 := Step(nps, st, Input{Text: "late delivery"}, t0)
	if *ph != saved {
		t.Errorf("caller's pending handoff changed to %+v", *ph)
	}
	if !reflect.DeepEqual(out1, out2) {
		t.Error("the same input gave different outcomes")
	}
	if out1.HandoffReady == nil || out1.HandoffReady.Comment != "late delivery" || out1.HandoffReady == out1.State.PendingHandoff {
		t.Errorf("HandoffReady = %+v, want its own copy with the comment", out1.HandoffReady)
	}
}

// BenchmarkStep runs a whole detractor conversation (start, score, comment)
// per iteration: the hottest path, since it also opens and completes a handoff.
func BenchmarkStep(b *testing.B) {
	s := mustLoad(b, "../configs/surveys/post_purchase_nps.yaml")
	const answersPerConversation = 2
	b.ReportAllocs()
	var id int64
	for b.Loop() {
		id++
		st, _ := Start(s, "zh-hans", id, id, t0)
		st.PromptMessageID = 1
		out := Step(s, st, Input{Tap: &Tap{ResponseID: id, QuestionID: "nps", Value: "3"}}, t0)
		out = Step(s, out.State, Input{Text: "快递太慢了"}, t0)
		if !out.Finished || out.HandoffReady == nil {
			b.Fatal("conversation did not finish with a handoff")
		}
	}
	b.ReportMetric(float64(id*answersPerConversation)/b.Elapsed().Seconds(), "answers/s")
}

func TestReminderReasksTheOpenQuestion(t *testing.T) {
	s := mustLoad(t, "../configs/surveys/post_purchase_nps.yaml")
	st, first := Start(s, "en", 1, 2, time.Now())
	m, ok := Reminder(s, st)
	if !ok || len(m.Keyboard) != len(first.Keyboard) || m.QuestionID != st.QuestionID || !strings.Contains(m.Text, "reminder") {
		t.Fatalf("reminder = %+v, %v", m, ok)
	}
	st.QuestionID = ""
	if _, ok := Reminder(s, st); ok {
		t.Fatal("a finished conversation got a reminder")
	}
}

// After a re-prompt the customer may still tap the first keyboard (or the
// state may have lost the prompt's id): the keyboard tapped is the one closed.
func TestTapClosesTheTappedKeyboard(t *testing.T) {
	nps := mustLoad(t, "../configs/surveys/post_purchase_nps.yaml")
	st, _ := Start(nps, "en", 7, 42, t0)
	st.PromptMessageID = 100
	out := Step(nps, st, Input{Text: "11"}, t0.Add(time.Minute))
	if out.Closed == nil || out.Closed.MessageID != 100 || out.Closed.Text != "" {
		t.Fatalf("re-prompt: Closed = %+v, want message 100's keyboard removed", out.Closed)
	}
	st = out.State
	st.PromptMessageID = 101 // the re-prompt
	tapFirst := Input{Tap: &Tap{ResponseID: 42, QuestionID: "nps", Value: "9"}, MessageID: 100}
	if out := Step(nps, st, tapFirst, t0.Add(2*time.Minute)); out.Closed == nil || out.Closed.MessageID != 100 {
		t.Fatalf("tap on the first keyboard: Closed = %+v, want message 100", out.Closed)
	}
	st.PromptMessageID = 0 // lost, e.g. a state rebuilt from SQL
	tapAgain := Input{Tap: &Tap{ResponseID: 42, QuestionID: "nps", Value: "9"}, MessageID: 101}
	if out := Step(nps, st, tapAgain, t0.Add(2*time.Minute)); out.Closed == nil || out.Closed.MessageID != 101 || !strings.Contains(out.Closed.Text, "✓ 9") {
		t.Fatalf("tap with no recorded prompt: Closed = %+v, want message 101 marked ✓ 9", out.Closed)
	}
}
