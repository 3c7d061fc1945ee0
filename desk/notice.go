package desk

import (
	"fmt"
	"html"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/flows"
)

// The agents' notice is Telegram HTML. Everything the customer or the
// business wrote (comment, answers, event attributes, references) is
// escaped and customer text sits in a quote block, so no text of theirs
// can pass for a line of cxbot's own.

// maxQuoted bounds each quoted customer text in a notice, so a notice with
// every answer stays within Telegram's 4096 characters.
const maxQuoted = 700

// noticeFacts is what a notice shows besides the handoff itself.
type noticeFacts = flows.NoticeFacts

func esc(s string) string { return html.EscapeString(s) }

// quote is customer text, cut to max runes, escaped, in a quote block.
func quote(s string, max int) string {
	r := []rune(strings.TrimSpace(s))
	if len(r) > max {
		s = string(r[:max]) + "…"
	}
	return "<blockquote>" + esc(s) + "</blockquote>"
}

func scoreLabel(kind flows.Kind, score int) string {
	s := strings.ToUpper(string(kind)) + " " + strconv.Itoa(score)
	if _, max, ok := kind.Scale(); ok {
		s += "/" + strconv.Itoa(max)
	}
	return s
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// maxNotice keeps a notice under Telegram's 4096 visible characters, with
// room for the status line.
const maxNotice = 3800

// noticeHTML renders the agents' notice of a case, with a status line
// (claimed, closed) when it has one. Long customer texts are quoted shorter
// until the notice fits one Telegram message.
func noticeHTML(lang string, h flows.Handoff, f noticeFacts) string {
	var html string
	for _, quoted := range []int{maxQuoted, 200, 60} {
		html = noticeWithQuotes(lang, h, f, quoted)
		if len([]rune(bot.VisibleHTML(html))) <= maxNotice {
			break
		}
	}
	return html
}

func noticeWithQuotes(lang string, h flows.Handoff, f noticeFacts, maxQuoted int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "🔴 <b>%s</b> · %s\n", say(lang, "case", "id", strconv.FormatInt(h.ID, 10)), esc(scoreLabel(h.Kind, h.Score)))
	fmt.Fprintf(&b, "%s: <code>%s</code> · %s\n", say(lang, "customer"), esc(orDash(h.CustomerRef)), esc(string(h.Channel)))
	fmt.Fprintf(&b, "%s: %s\n", say(lang, "survey"), esc(h.SurveyID))
	var texts []flows.Answer
	if len(f.Answers) > 0 {
		fmt.Fprintf(&b, "<b>%s</b>\n", say(lang, "answers"))
		for _, a := range f.Answers {
			switch {
			case a.Skipped:
				fmt.Fprintf(&b, "• %s: %s\n", esc(a.QuestionID), say(lang, "skipped"))
			case a.Score != nil:
				fmt.Fprintf(&b, "• %s: <b>%s</b> (%s)\n", esc(a.QuestionID), esc(scoreLabel(a.Kind, *a.Score)), esc(classLabel(lang, a.Class)))
			case a.Choice != "":
				fmt.Fprintf(&b, "• %s: %s\n", esc(a.QuestionID), esc(a.Choice))
			case a.Text != "" && a.Text != h.Comment:
				texts = append(texts, a)
			}
		}
	}
	for _, a := range texts {
		fmt.Fprintf(&b, "%s:\n%s\n", esc(a.QuestionID), quote(a.Text, maxQuoted))
	}
	fmt.Fprintf(&b, "<b>%s</b>\n", say(lang, "comment"))
	if strings.TrimSpace(h.Comment) == "" {
		b.WriteString(say(lang, "no_comment") + "\n")
	} else {
		b.WriteString(quote(h.Comment, maxQuoted*2) + "\n")
	}
	if len(h.Context) > 0 {
		keys := make([]string, 0, len(h.Context))
		for k := range h.Context {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, "<code>"+esc(clip(k, 40))+"</code>="+esc(clip(h.Context[k], 100)))
		}
		fmt.Fprintf(&b, "%s: %s\n", say(lang, "context"), strings.Join(parts, ", "))
	}
	if len(f.History) > 0 {
		parts := make([]string, 0, len(f.History))
		for i, p := range f.History {
			if i == 5 {
				break
			}
			parts = append(parts, esc(scoreLabel(p.Kind, p.Score))+" ("+p.AnsweredAt.Format("2006-01-02")+")")
		}
		fmt.Fprintf(&b, "%s: %s\n", say(lang, "history"), strings.Join(parts, ", "))
	}
	if len(f.OtherCaseIDs) > 0 {
		parts := make([]string, 0, len(f.OtherCaseIDs))
		for _, id := range f.OtherCaseIDs {
			parts = append(parts, "#"+strconv.FormatInt(id, 10))
		}
		fmt.Fprintf(&b, "%s: %s\n", say(lang, "other_cases"), strings.Join(parts, ", "))
	}
	switch {
	case h.Status == flows.HandoffResolved:
		fmt.Fprintf(&b, "%s\n", say(lang, "closed_by", "name", esc(orDash(h.ResolvedBy)), "outcome", outcomeLabel(lang, h.Outcome)))
	case h.ClaimedByName != "":
		fmt.Fprintf(&b, "%s\n", say(lang, "claimed_by", "name", esc(h.ClaimedByName)))
	}
	return strings.TrimRight(b.String(), "\n")
}

func outcomeLabel(lang string, o flows.CaseOutcome) string { return say(lang, string(o)) }

func clip(s string, max int) string {
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
}

// noticeButtons are the buttons a notice carries for the case's status.
func noticeButtons(lang string, h flows.Handoff) [][]flows.Button {
	switch h.Status {
	case flows.HandoffOpen, flows.HandoffAwaitingComment:
		return [][]flows.Button{{{Label: say(lang, "claim"), Data: flows.EncodeDeskTap(flows.DeskTap{Action: flows.ActClaim, HandoffID: h.ID})}}}
	case flows.HandoffClaimed:
		return [][]flows.Button{{{Label: say(lang, "resolve"), Data: flows.EncodeDeskTap(flows.DeskTap{Action: flows.ActResolve, HandoffID: h.ID})}}}
	}
	return nil
}

// outcomeButtons offer the ways to close a case.
func outcomeButtons(lang string, id int64) [][]flows.Button {
	var rows [][]flows.Button
	for _, o := range flows.CaseOutcomes() {
		rows = append(rows, []flows.Button{{Label: outcomeLabel(lang, o), Data: flows.EncodeDeskTap(flows.DeskTap{Action: flows.ActOutcome, HandoffID: id, Outcome: o})}})
	}
	return append(rows, []flows.Button{{Label: say(lang, "back"), Data: flows.EncodeDeskTap(flows.DeskTap{Action: flows.ActBack, HandoffID: id})}})
}

// topicName names a case's forum topic after the customer and score
// (Telegram allows 128 characters; plain text, no HTML).
func topicName(lang string, h flows.Handoff) string {
	return clip(say(lang, "topic", "id", strconv.FormatInt(h.ID, 10), "customer", orDash(h.CustomerRef), "score", scoreLabel(h.Kind, h.Score)), 120)
}

// waitLabel is a wait agents read at a glance ("25m", "2h05m"; "25分钟").
func waitLabel(lang string, d time.Duration) string {
	d = d.Round(time.Minute)
	m, h := int(d.Minutes())%60, int(d.Hours())
	return say(lang, map[bool]string{true: "wait_minutes", false: "wait_hours"}[h == 0], "h", strconv.Itoa(h), "m", strconv.Itoa(m), "mm", fmt.Sprintf("%02d", m))
}

// classLabel names a score class in the agents' language.
func classLabel(lang string, c flows.Class) string {
	if t := say(lang, "class_"+string(c)); t != "class_"+string(c) {
		return t
	}
	return string(c)
}
