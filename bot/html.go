package bot

import (
	"html"
	"strings"
)

// VisibleHTML is what people see of a Telegram HTML text: tags dropped,
// entities decoded. It measures only (lengths against Telegram's limits);
// Telegram itself judges whether the HTML is valid.
func VisibleHTML(s string) string {
	var b strings.Builder
	inTag := false
	for _, r := range s {
		switch {
		case r == '<':
			inTag = true
		case r == '>' && inTag:
			inTag = false
		case !inTag:
			b.WriteRune(r)
		}
	}
	return html.UnescapeString(b.String())
}
