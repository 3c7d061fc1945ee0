package sqlstore

import (
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// A chat that said stop stays stopped when an event later links it to
// another customer reference; /start from that chat clears it again.
func TestSQLConsentFollowsTheChat(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		anon, err := db.UpsertCustomer(ctx, "telegram:77", "en")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.LinkIdentity(ctx, flows.Identity{CustomerID: anon.ID, Channel: flows.ChannelTelegram, ExternalID: "77"}); err != nil {
			t.Fatal(err)
		}
		if err := db.OptOut(ctx, anon.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := db.MarkUnreachable(ctx, anon.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SaveEvents(ctx, []flows.Event{{ID: "e1", CustomerRef: "REAL-1", Touchpoint: "purchase", OccurredAt: time.Now(), TelegramChatID: "77"}}); err != nil {
			t.Fatal(err)
		}
		ident, owner, err := db.IdentityByExternal(ctx, flows.ChannelTelegram, "77")
		if err != nil || owner.Ref != "REAL-1" {
			t.Fatalf("chat owner %+v, %v", owner, err)
		}
		if ok, why := flows.Reachable(owner, ident); ok || why != "opted_out" {
			t.Fatalf("relinked chat is reachable (%v %q): %+v", ok, why, ident)
		}
		if err := db.OptIn(ctx, owner.ID); err != nil {
			t.Fatal(err)
		}
		if err := db.ClearUnreachable(ctx, owner.ID); err != nil {
			t.Fatal(err)
		}
		ident, owner, _ = db.IdentityByExternal(ctx, flows.ChannelTelegram, "77")
		if ok, why := flows.Reachable(owner, ident); !ok {
			t.Fatalf("after opting in again: %q %+v", why, ident)
		}
		wantErrIs(t, "OptOut(missing)", db.OptOut(ctx, 99999, time.Now()), flows.ErrNotFound)
	})
}
