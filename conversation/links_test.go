package conversation

import (
	"errors"
	"strings"
	"testing"

	"github.com/cxbot/cxbot/flows"
)

func TestLinkTokens(t *testing.T) {
	signer := NewLinkSigner([]byte("secret"))
	for _, ref := range []string{"C-1", "客户-42", "a.b@example.com", strings.Repeat("x", 36)} {
		token, err := signer.Token(ref)
		if err != nil {
			t.Fatalf("Token(%q): %v", ref, err)
		}
		if len(token) > 64 || strings.Trim(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
			t.Errorf("token %q does not fit a Telegram deep link", token)
		}
		got, err := signer.CustomerRef(token)
		if err != nil || got != ref {
			t.Errorf("CustomerRef(Token(%q)) = %q, %v", ref, got, err)
		}
		if _, err := NewLinkSigner([]byte("other")).CustomerRef(token); !errors.Is(err, flows.ErrInvalid) {
			t.Errorf("a token signed with another secret was accepted: %v", err)
		}
	}
	token, _ := signer.Token("C-1")
	for _, bad := range []string{"", "short", token[:len(token)-1], "!" + token[1:], token + "x", strings.Repeat("A", 65)} {
		if _, err := signer.CustomerRef(bad); !errors.Is(err, flows.ErrInvalid) {
			t.Errorf("CustomerRef(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := signer.Token(strings.Repeat("x", 37)); !errors.Is(err, flows.ErrInvalid) {
		t.Errorf("a reference too long for a deep link was accepted: %v", err)
	}
	if _, err := signer.Token(""); !errors.Is(err, flows.ErrInvalid) {
		t.Error("an empty reference was accepted")
	}
}

func TestLinkTokenEdges(t *testing.T) {
	signer := NewLinkSigner([]byte("secret"))
	if _, err := signer.Token("C-\xff"); !errors.Is(err, flows.ErrInvalid) {
		t.Errorf("Token of invalid UTF-8 = %v, want ErrInvalid", err)
	}
	// A token of another reference with this token's MAC is refused: the
	// MAC covers the reference, not only the token's shape.
	a, _ := signer.Token("C-1")
	b, _ := signer.Token("C-2")
	swapped := b[:len(b)-linkMACLen] + a[len(a)-linkMACLen:]
	if _, err := signer.CustomerRef(swapped); !errors.Is(err, flows.ErrInvalid) {
		t.Errorf("CustomerRef(C-2 with C-1's MAC) = %v, want ErrInvalid", err)
	}
	// The same secret signs the same reference the same way on every replica.
	if again, _ := NewLinkSigner([]byte("secret")).Token("C-1"); again != a {
		t.Errorf("tokens differ across signers with one secret: %q, %q", a, again)
	}
}
