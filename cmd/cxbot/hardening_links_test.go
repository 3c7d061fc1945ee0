package main

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// TestDeepLinkTokensAreOpaqueSingleUseAndInSQL, on each stack: a token says
// nothing about the customer, the first chat that opens it is linked, a
// second chat is refused and changes nothing, and a replica with an empty
// Redis (another key prefix) still knows the token, since it lives in SQL.
func TestDeepLinkTokensAreOpaqueSingleUseAndInSQL(t *testing.T) {
	for _, st := range stacks(t) {
		t.Run(st.name, func(t *testing.T) {
			dbURL := st.databaseURL(t)
			a := start(t, st, options{webhook: true, dbURL: dbURL})
			var link struct {
				Token     string    `json:"token"`
				ExpiresAt time.Time `json:"expires_at"`
				Reusable  bool      `json:"reusable"`
			}
			if code := a.api("POST", "/api/v1/links", map[string]string{"customer_ref": "VIP-1"}, &link); code != http.StatusCreated {
				t.Fatalf("links: %d", code)
			}
			if raw, _ := base64.RawURLEncoding.DecodeString(link.Token); strings.Contains(string(raw), "VIP") || strings.Contains(link.Token, "VklQ") {
				t.Fatalf("token %q carries the reference", link.Token)
			}
			if d := time.Until(link.ExpiresAt); d < 167*time.Hour || d > 169*time.Hour || link.Reusable {
				t.Fatalf("expires in %v, reusable %v; want 7 days, single use", d, link.Reusable)
			}
			// Another replica, same database, an empty Redis of its own.
			b := start(t, st, options{webhook: true, dbURL: dbURL, tg: a.tg})
			b.say(8001, "/start "+link.Token, "en")
			if got := b.waitSent(8001, 1)[0].Text; got != flows.SystemText("linked", "en") {
				t.Fatalf("first chat: %q", got)
			}
			a.say(8002, "/start "+link.Token, "en")
			if got := a.waitSent(8002, 1)[0].Text; got != flows.SystemText("invalid_link", "en") {
				t.Fatalf("second chat: %q, want invalid_link", got)
			}
			_, owner, err := a.app.db.IdentityByExternal(context.Background(), flows.ChannelTelegram, "8001")
			if err != nil || owner.Ref != "VIP-1" {
				t.Fatalf("first chat linked to %+v %v", owner, err)
			}
			if _, c, err := a.app.db.IdentityByExternal(context.Background(), flows.ChannelTelegram, "8002"); err == nil && c.Ref == "VIP-1" {
				t.Fatal("the second chat was linked to VIP-1")
			}
		})
	}
}
