package flows

import (
	"strings"
	"testing"
	"time"
)

// YAML syntax errors point at the line to fix, not where yaml.v3's
// enclosing block began.
func TestYAMLSyntaxErrorsAtTheRightLine(t *testing.T) {
	head := "id: x\ndefault_language: en\nquestions:\n  - id: a\n    kind: nps\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"unclosed brace", head + "    prompt: {en: \"hi\"\n  - id: b\n", "s.yaml:6: invalid YAML: did not find expected ',' or '}'"},
		{"bad indent", head + "   prompt: {en: hi}\n", "s.yaml:6: invalid YAML: did not find expected '-' indicator"},
		{"tab", head + "    prompt:\n\ten: hi\n", "s.yaml:7: invalid YAML: found character that cannot start any token"},
		{"dash without space", head + "    prompt: {en: hi}\n  -id: b\n", "s.yaml:7: invalid YAML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSurvey("s.yaml", []byte(tc.yaml))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// A language in some prompts but not all is an error naming the question.
func TestLanguageMissingInOneQuestion(t *testing.T) {
	y := "id: x\ndefault_language: zh-CN\nquestions:\n" +
		"  - id: a\n    kind: nps\n    prompt: {zh-CN: 推荐吗, en: Recommend us}\n" +
		"  - id: b\n    kind: text\n    prompt:\n      zh-CN: 为什么\n"
	_, err := ParseSurvey("s.yaml", []byte(y))
	want := `s.yaml:9: question "b": prompt: missing the en text that other questions have`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

func TestZeroOccurredAtIsNamed(t *testing.T) {
	var v EventValidator
	for _, at := range []string{"0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z"} {
		_, err := v.Validate(EventInput{ID: "e", CustomerRef: "C", Touchpoint: "purchase", OccurredAt: at, TelegramChatID: "1"}, time.Now())
		if err == nil || !strings.Contains(err.Error(), "is before 2000-01-01") {
			t.Fatalf("%s: err = %v", at, err)
		}
	}
}
