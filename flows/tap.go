package flows

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxTapData is Telegram's limit on callback_data. Question and option ids
// are at most MaxIDLen bytes (checked at load), so "a:" + a 19-digit
// response id + two ids and two colons always fits.
const MaxTapData = 64

// tapPrefix versions the format: a later format can use another letter and
// old keyboards still decode (or are rejected) cleanly.
const tapPrefix = "a"

// EncodeTap packs a tap into button callback data: a:<responseID>:<questionID>:<value>.
func EncodeTap(t Tap) string {
	return tapPrefix + ":" + strconv.FormatInt(t.ResponseID, 10) + ":" + t.QuestionID + ":" + t.Value
}

// DecodeTap parses callback data made by EncodeTap. Anything else (a forged
// or foreign payload) is ErrInvalid, never a panic.
func DecodeTap(data string) (Tap, error) {
	bad := func(why string) (Tap, error) {
		return Tap{}, fmt.Errorf("%w: tap data %q: %s", ErrInvalid, clip(data, 80), why)
	}
	if len(data) > MaxTapData {
		return bad("longer than 64 bytes")
	}
	parts := strings.Split(data, ":")
	if len(parts) != 4 || parts[0] != tapPrefix {
		return bad("want a:<response>:<question>:<value>")
	}
	id, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != parts[1] {
		// Only EncodeTap's own form ("+1" and "01" are not): one tap, one spelling.
		return bad("response id is not a positive number")
	}
	if !isID(parts[2], MaxIDLen) {
		return bad("bad question id")
	}
	if !isID(parts[3], MaxIDLen) {
		return bad("bad value")
	}
	return Tap{ResponseID: id, QuestionID: parts[2], Value: parts[3]}, nil
}

// isID reports whether s is a slug: lowercase ASCII letters, digits, '_' and
// '-', starting with a letter or digit, at most max bytes. Slugs are safe in
// tap data, URLs and log keys.
func isID(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// clip shortens s to at most n runes for error messages.
func clip(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j] + "…"
		}
		i++
	}
	return s
}
