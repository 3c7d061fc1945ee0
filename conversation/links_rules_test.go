package conversation_test

import (
	"strings"
	"testing"

	"github.com/cxbot/cxbot/flows"
)

// TestDeepLinkRules: a token is opaque, works once (the first chat that
// opens it is linked; a second chat is told the link is invalid and
// changes nothing; the first chat may open it again), expires, and links
// every chat only when the business asked for reuse.
func TestDeepLinkRules(t *testing.T) {
	h := newHarness(t)
	last := func(chat string) string {
		t.Helper()
		texts := h.tg.texts(chat)
		if len(texts) == 0 {
			t.Fatalf("chat %s got no answer", chat)
		}
		return texts[len(texts)-1]
	}
	linkedTo := func(chat string) string {
		t.Helper()
		id, ok := h.records.identity(tg, chat)
		if !ok {
			return ""
		}
		for _, ref := range []string{"VIP-1", "VIP-2", "FAMILY-1"} {
			if h.records.hasCustomer(ref) && h.records.customer(ref).ID == id.CustomerID {
				return ref
			}
		}
		return "?"
	}

	token, err := h.links.Token("VIP-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(token) != 32 || token == "VklQLTE" || containsAny(token, "VIP", "VklQ") {
		t.Fatalf("token %q is not opaque", token)
	}
	h.mustSay("42", "/start "+token)
	if last("42") != flows.SystemText("linked", "en") || linkedTo("42") != "VIP-1" {
		t.Fatalf("first chat: %q, linked to %q", last("42"), linkedTo("42"))
	}
	// A second chat: refused, and the customer stays with the first chat.
	h.mustSay("666", "/start "+token)
	if last("666") != flows.SystemText("invalid_link", "en") || linkedTo("666") != "" {
		t.Fatalf("second chat: %q, linked to %q", last("666"), linkedTo("666"))
	}
	h.logged("rejected deep link", "already used by another chat")
	// The first chat again: still linked.
	h.mustSay("42", "/start "+token)
	if last("42") != flows.SystemText("linked", "en") || linkedTo("42") != "VIP-1" {
		t.Fatalf("first chat again: %q", last("42"))
	}

	// Expiry (default 7 days).
	late, _ := h.links.Token("VIP-2")
	h.clock.Advance(flows.DefaultLinkTTL)
	h.mustSay("43", "/start "+late)
	if last("43") != flows.SystemText("invalid_link", "en") || linkedTo("43") != "" {
		t.Fatalf("expired token: %q, linked to %q", last("43"), linkedTo("43"))
	}
	h.logged("rejected deep link", "expired")

	// Reusable: every chat that opens it before it expires.
	shared, err := h.links.links.Issue(h.ctx, "FAMILY-1", true)
	if err != nil || !shared.Reusable || !shared.ExpiresAt.Equal(h.clock.Now().Add(flows.DefaultLinkTTL)) {
		t.Fatalf("reusable: %+v %v", shared, err)
	}
	for _, chat := range []string{"50", "51"} {
		h.mustSay(chat, "/start "+shared.Token)
		if linkedTo(chat) != "FAMILY-1" {
			t.Fatalf("reusable token, chat %s linked to %q", chat, linkedTo(chat))
		}
	}

	// Garbage, the old readable format, another length: refused, nothing linked.
	for i, bad := range []string{"VklQLTE", "VklQLTEAAAAAAAAAAAAAAAA", "x" + token, "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"} {
		chat := "7" + string(rune('0'+i))
		h.mustSay(chat, "/start "+bad)
		if last(chat) != flows.SystemText("invalid_link", "en") || linkedTo(chat) != "" {
			t.Errorf("token %q: %q, linked to %q", bad, last(chat), linkedTo(chat))
		}
	}
	// And no token for a reference that could never be stored.
	for _, ref := range []string{"", "C-\x00", string(make([]byte, 201))} {
		if _, err := h.links.Token(ref); err == nil {
			t.Errorf("token issued for %q", ref)
		}
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
