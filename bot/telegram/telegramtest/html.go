package telegramtest

import (
	"fmt"
	"strings"
	"unicode/utf16"
)

// Telegram's parse_mode HTML, as TDLib parses it: only these tags, the
// entities &lt; &gt; &amp; &quot; and numeric ones. Unknown attributes are
// ignored, as Telegram ignores them.
var htmlTags = map[string]bool{
	"b": true, "strong": true, "i": true, "em": true, "u": true, "ins": true,
	"s": true, "strike": true, "del": true, "span": true, "tg-spoiler": true,
	"a": true, "code": true, "pre": true, "blockquote": true, "tg-emoji": true,
}

// parseMode checks a parse_mode parameter; the fake knows "" and HTML.
func parseMode(mode string) (string, *apiError) {
	switch strings.ToLower(mode) {
	case "":
		return "", nil
	case "html":
		return "HTML", nil
	case "markdown", "markdownv2":
		return "", badRequest("parse_mode " + mode + " is not supported by the fake (only HTML)")
	}
	return "", badRequest("unsupported parse_mode")
}

// visibleText is what people see of text sent with mode, or Telegram's
// refusal.
func visibleText(text, mode string) (string, *apiError) {
	if mode != "HTML" {
		return text, nil
	}
	plain, err := parseHTML(text)
	if err != nil {
		return "", badRequest("can't parse entities: " + err.Error())
	}
	return plain, nil
}

func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }

// parseHTML returns the text of s with tags stripped and entities decoded,
// or why Telegram refuses s. It follows TDLib's parser with one deliberate
// difference: Telegram keeps a bare '&' that starts no entity as it is; the
// fake refuses it, so that customer text the desk forgot to escape fails
// the test instead of passing by luck.
func parseHTML(s string) (string, error) {
	var out strings.Builder
	var open []string
	for i := 0; i < len(s); {
		switch s[i] {
		case '&':
			r, n := decodeEntity(s[i:])
			if n == 0 {
				return "", refusal("bare '&' at byte offset %d is not a character entity (escape it as &amp;)", i)
			}
			out.WriteRune(r)
			i += n
		case '<':
			begin := i
			if i+1 < len(s) && s[i+1] == '/' {
				if len(open) == 0 {
					return "", refusal("Unexpected end tag at byte offset %d", begin)
				}
				j := i + 2
				for j < len(s) && !isSpace(s[j]) && s[j] != '>' {
					j++
				}
				name := strings.ToLower(s[i+2 : j])
				for j < len(s) && isSpace(s[j]) {
					j++
				}
				if j >= len(s) || s[j] != '>' {
					return "", refusal("Unclosed end tag at byte offset %d", begin)
				}
				want := open[len(open)-1]
				if name != "" && name != want {
					return "", refusal("Unmatched end tag at byte offset %d, expected \"</%s>\", found \"</%s>\"", begin, want, name)
				}
				open = open[:len(open)-1]
				i = j + 1
				continue
			}
			j := i + 1
			for j < len(s) && !isSpace(s[j]) && s[j] != '>' {
				j++
			}
			if j >= len(s) {
				return "", refusal("Unclosed start tag at byte offset %d", begin)
			}
			name := strings.ToLower(s[i+1 : j])
			if !htmlTags[name] {
				return "", refusal("Unsupported start tag \"%s\" at byte offset %d", name, begin)
			}
			attrs, end, err := parseAttributes(s, j, name, begin)
			if err != nil {
				return "", err
			}
			switch {
			case name == "span" && attrs["class"] != "tg-spoiler":
				return "", refusal("Tag \"span\" must have class \"tg-spoiler\" at byte offset %d", begin)
			case name == "tg-emoji" && attrs["emoji-id"] == "":
				return "", refusal("Tag \"tg-emoji\" must have attribute \"emoji-id\" at byte offset %d", begin)
			}
			open = append(open, name)
			i = end
		default:
			out.WriteByte(s[i])
			i++
		}
	}
	if len(open) > 0 {
		return "", refusal("Can't find end tag corresponding to start tag \"%s\"", open[len(open)-1])
	}
	return out.String(), nil
}

// parseAttributes reads a start tag's attributes from s[i:] up to its '>',
// returning them and the offset just past the tag.
func parseAttributes(s string, i int, tag string, begin int) (map[string]string, int, error) {
	attrs := map[string]string{}
	unclosed := refusal("Unclosed start tag at byte offset %d", begin)
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			return nil, 0, unclosed
		}
		if s[i] == '>' {
			return attrs, i + 1, nil
		}
		start := i
		for i < len(s) && !isSpace(s[i]) && s[i] != '=' && s[i] != '>' {
			i++
		}
		name := strings.ToLower(s[start:i])
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			return nil, 0, unclosed
		}
		if s[i] != '=' {
			if tag == "blockquote" && name == "expandable" {
				attrs[name] = ""
				continue
			}
			return nil, 0, refusal("Expected equal sign in declaration of an attribute of the tag \"%s\" at byte offset %d", tag, begin)
		}
		i++
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			return nil, 0, unclosed
		}
		var value strings.Builder
		if q := s[i]; q == '"' || q == '\'' {
			i++
			for i < len(s) && s[i] != q {
				if s[i] == '&' {
					r, n := decodeEntity(s[i:])
					if n == 0 {
						return nil, 0, refusal("bare '&' at byte offset %d is not a character entity (escape it as &amp;)", i)
					}
					value.WriteRune(r)
					i += n
					continue
				}
				value.WriteByte(s[i])
				i++
			}
			if i >= len(s) {
				return nil, 0, unclosed
			}
			i++
		} else {
			for i < len(s) && (isAlnum(s[i]) || s[i] == '.' || s[i] == '-') {
				value.WriteByte(s[i])
				i++
			}
			if value.Len() == 0 {
				return nil, 0, refusal("Expected quote at byte offset %d", i)
			}
		}
		attrs[name] = value.String()
	}
}

// decodeEntity decodes the character entity s starts with ('&'), as TDLib
// does (the ';' is optional); n is 0 when s starts none.
func decodeEntity(s string) (r rune, n int) {
	end := 1
	if len(s) > 1 && s[1] == '#' {
		end = 2
		hex := len(s) > 2 && (s[2] == 'x' || s[2] == 'X')
		if hex {
			end = 3
		}
		digits := end
		var v int64
		for end < len(s) && (isDigit(s[end]) || hex && isHex(s[end])) {
			if hex {
				v = v*16 + hexValue(s[end])
			} else {
				v = v*10 + int64(s[end]-'0')
			}
			if v >= 0x10ffff {
				return 0, 0
			}
			end++
		}
		if end == digits || v == 0 || (v >= 0xd800 && v <= 0xdfff) {
			return 0, 0
		}
		r = rune(v)
	} else {
		for end < len(s) && (s[end] >= 'a' && s[end] <= 'z' || s[end] >= 'A' && s[end] <= 'Z') {
			end++
		}
		switch s[1:end] {
		case "lt":
			r = '<'
		case "gt":
			r = '>'
		case "amp":
			r = '&'
		case "quot":
			r = '"'
		default:
			return 0, 0
		}
	}
	if end < len(s) && s[end] == ';' {
		end++
	}
	return r, end
}

func hexValue(c byte) int64 {
	switch {
	case c >= '0' && c <= '9':
		return int64(c - '0')
	case c >= 'a' && c <= 'f':
		return int64(c-'a') + 10
	default:
		return int64(c-'A') + 10
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
func isAlnum(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// entityError is Telegram's reason for refusing the HTML, worded (and
// capitalised) as Telegram words it.
type entityError string

func (e entityError) Error() string { return string(e) }

func refusal(format string, args ...any) error { return entityError(fmt.Sprintf(format, args...)) }
