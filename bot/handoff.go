package bot

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cxbot/cxbot/flows"
)

// HandoffNotice is the message agents get when a detractor is handed to them:
// who, where to reach them, what they scored, what they said, and the
// business event that led to the survey.
func HandoffNotice(h flows.Handoff) string {
	var b strings.Builder
	fmt.Fprintf(&b, "🔴 Handoff #%d: %s\n", h.ID, h.Class)
	fmt.Fprintf(&b, "Customer: %s (%s chat %s)\n", orDash(h.CustomerRef), h.Channel, h.ExternalID)
	fmt.Fprintf(&b, "Survey: %s, %s %d", h.SurveyID, strings.ToUpper(string(h.Kind)), h.Score)
	if _, max, ok := h.Kind.Scale(); ok { // agents read "3/10" rather than "3"
		fmt.Fprintf(&b, "/%d", max)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "Comment: %s\n", quoteOrNone(h.Comment))
	if ctx := formatContext(h.Context); ctx != "" {
		fmt.Fprintf(&b, "Context: %s\n", ctx)
	}
	return strings.TrimRight(b.String(), "\n")
}

// HandoffCommentNotice adds a late comment to a handoff agents already know of.
func HandoffCommentNotice(h flows.Handoff) string {
	return fmt.Sprintf("💬 Handoff #%d (%s): the customer added %s", h.ID, orDash(h.CustomerRef), quoteOrNone(h.Comment))
}

func formatContext(attrs map[string]string) string {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+attrs[k])
	}
	return strings.Join(parts, ", ")
}

func quoteOrNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(none)"
	}
	return "“" + s + "”"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
