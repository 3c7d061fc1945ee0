package sqlstore

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// Deep-link tokens round-trip through SQL, by hash only, and of chats
// racing to use a fresh token exactly one is recorded.
func TestSQLLinkTokens(t *testing.T) {
	eachSQL(t, func(t *testing.T, db *DB) {
		ctx := sqlTestCtx(t)
		now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		token, rec, err := flows.NewLinkToken("VIP-1", false, time.Hour, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateLinkToken(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateLinkToken(ctx, rec); !errors.Is(err, flows.ErrConflict) {
			t.Fatalf("same token twice: %v, want ErrConflict", err)
		}
		got, err := db.LinkToken(ctx, flows.LinkTokenHash(token))
		if err != nil || got.CustomerRef != "VIP-1" || got.Reusable || !got.ExpiresAt.Equal(now.Add(time.Hour)) || got.UsedAt != nil {
			t.Fatalf("LinkToken = %+v, %v", got, err)
		}
		var stored int64
		if err := db.conn(ctx).Raw("SELECT count(*) FROM link_tokens WHERE token_hash = ?", token).Scan(&stored).Error; err != nil || stored != 0 {
			t.Fatalf("the token itself is stored (%d rows, %v)", stored, err)
		}
		if _, err := db.LinkToken(ctx, flows.LinkTokenHash("nope")); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("unknown hash: %v", err)
		}

		var firsts atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				first, err := db.RecordLinkTokenUse(ctx, rec.Hash, flows.ChannelTelegram, string(rune('1'+i)), now.Add(time.Minute))
				if err != nil {
					t.Error(err)
				}
				if first {
					firsts.Add(1)
				}
			})
		}
		wg.Wait()
		if firsts.Load() != 1 {
			t.Fatalf("%d chats recorded as first, want 1", firsts.Load())
		}
		got, err = db.LinkToken(ctx, rec.Hash)
		if err != nil || got.UsedAt == nil || got.UsedChannel != flows.ChannelTelegram || got.UsedChatID == "" {
			t.Fatalf("after use: %+v, %v", got, err)
		}
		if err := got.CheckUse(flows.ChannelTelegram, got.UsedChatID, now.Add(2*time.Minute)); err != nil {
			t.Errorf("the first chat again: %v", err)
		}
		if err := got.CheckUse(flows.ChannelTelegram, "other", now.Add(2*time.Minute)); !errors.Is(err, flows.ErrLinkUsed) {
			t.Errorf("another chat: %v", err)
		}
	})
}
