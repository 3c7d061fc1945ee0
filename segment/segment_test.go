package segment

import (
	"fmt"
	"testing"
)

func TestWords(t *testing.T) {
	s := New()
	for _, tc := range []struct{ text, want string }{
		// Words from the dictionary, not characters or n-grams.
		{"物流太慢了，快递员态度也很差", "[物流 太慢 快递 员 态度 差]"},
		{"The delivery was late, delivery again!", "[delivery late]"},
		{"客服很好 service 5 stars", "[客服 好 service stars]"},
		{"", "[]"},
	} {
		got, err := s.Words(tc.text)
		if err != nil || fmt.Sprint(got) != tc.want {
			t.Errorf("Words(%q) = %q, %v; want %s", tc.text, got, err, tc.want)
		}
	}
}
