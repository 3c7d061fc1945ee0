package flows

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxTextRunes caps a free-text answer; longer replies are truncated, not
// refused, so a long complaint is never lost to a re-prompt.
const MaxTextRunes = 4000

// InputError says why a typed or tapped answer was refused and what would be
// accepted. It wraps ErrInvalid.
type InputError struct {
	Input string // what the customer sent (clipped)
	Valid string // what is accepted, e.g. "0–10"
}

func (e *InputError) Error() string {
	return fmt.Sprintf("%q is not a valid answer, expected %s", e.Input, e.Valid)
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *InputError) Unwrap() error { return ErrInvalid }

// numberWords are spelled-out scores people type instead of digits.
var numberWords = map[string]int{
	"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
	"six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
	"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4,
	"五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10,
	"🔟": 10,
}

// fold normalises typed input: full-width ASCII (common with Chinese input
// methods) to ASCII, emoji keycap marks dropped, spaces trimmed, lower case.
func fold(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 0xFF01 && r <= 0xFF5E:
			return r - 0xFEE0
		case r == 0x3000:
			return ' '
		case r == 0xFE0F || r == 0x20E3:
			return -1
		}
		return r
	}, s)
	return strings.ToLower(strings.TrimSpace(s))
}

// trimEndPunct drops trailing sentence punctuation ("7!", "2.", "七。").
func trimEndPunct(s string) string {
	return strings.TrimSpace(strings.TrimRight(s, ".!。！、)"))
}

// ParseScore reads a typed score for a scale kind: "7", "７", "7分", "7/10",
// "7 out of 10", "seven", "七". Anything out of the scale, fractional or
// unreadable is an *InputError.
func ParseScore(kind Kind, input string) (int, error) {
	lo, hi, ok := kind.Scale()
	if !ok {
		return 0, fmt.Errorf("%w: %s is not a scale", ErrInvalid, kind)
	}
	fail := &InputError{Input: clip(input, 40), Valid: fmt.Sprintf("%d–%d", lo, hi)}
	s := trimEndPunct(fold(input))
	// "7/10" and "7 out of 10" are fine only when the denominator is the scale's.
	for _, sep := range []string{"/", "out of"} {
		if num, den, found := strings.Cut(s, sep); found {
			den = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(den), "分"))
			if den != strconv.Itoa(hi) {
				return 0, fail
			}
			s = strings.TrimSpace(num)
			break
		}
	}
	for _, suffix := range []string{"分", "points", "point", "pts", "pt"} {
		if t, found := strings.CutSuffix(s, suffix); found {
			s = strings.TrimSpace(t)
			break
		}
	}
	n, ok := readNumber(s)
	if !ok || n < lo || n > hi {
		return 0, fail
	}
	return n, nil
}

// readNumber reads one or two ASCII digits or a number word.
func readNumber(s string) (int, bool) {
	if n, ok := numberWords[s]; ok {
		return n, true
	}
	if s == "" || len(s) > 2 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// ParseChoice finds the option a customer meant: its 1-based number, its id,
// or its label in any language, ignoring case, width and surrounding space.
func (q *Question) ParseChoice(input string) (*Option, error) {
	s := fold(input)
	if s != "" {
		if n, ok := readNumber(trimEndPunct(s)); ok && n >= 1 && n <= len(q.Options) {
			return &q.Options[n-1], nil
		}
		for i := range q.Options {
			if fold(q.Options[i].ID) == s {
				return &q.Options[i], nil
			}
		}
		for i := range q.Options {
			for _, label := range q.Options[i].Label {
				if fold(label) == s {
					return &q.Options[i], nil
				}
			}
		}
	}
	ids := make([]string, len(q.Options))
	for i, o := range q.Options {
		ids[i] = o.ID
	}
	return nil, &InputError{Input: clip(input, 40), Valid: fmt.Sprintf("1–%d or one of %s", len(q.Options), strings.Join(ids, ", "))}
}

// skipWords let a customer pass an optional text question.
var skipWords = map[string]bool{"skip": true, "/skip": true, "跳过": true, "跳過": true}

// ParseText accepts any non-empty reply, trimmed and capped at MaxTextRunes.
// On an optional question a skip word ("skip", "跳过", "/skip") skips it.
func (q *Question) ParseText(input string) (text string, skipped bool, err error) {
	text = strings.TrimSpace(input)
	if q.Optional && skipWords[trimEndPunct(fold(text))] {
		return "", true, nil
	}
	if text == "" {
		return "", false, &InputError{Input: input, Valid: "a text reply"}
	}
	if utf8.RuneCountInString(text) > MaxTextRunes {
		i, n := 0, 0
		for i = range text {
			if n == MaxTextRunes {
				break
			}
			n++
		}
		text = strings.TrimSpace(text[:i])
	}
	return text, false, nil
}
