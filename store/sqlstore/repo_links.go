package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// linkTokenRow is a deep-link token (migration 0005).
type linkTokenRow struct {
	TokenHash   string `gorm:"primaryKey"`
	CustomerRef string
	Reusable    bool
	CreatedAt   time.Time
	ExpiresAt   time.Time
	UsedAt      *time.Time
	UsedChannel string
	UsedChatID  string `gorm:"column:used_chat_id"`
}

func (linkTokenRow) TableName() string { return "link_tokens" }

func (r linkTokenRow) domain() flows.LinkToken {
	return flows.LinkToken{
		Hash: r.TokenHash, CustomerRef: r.CustomerRef, Reusable: r.Reusable, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt,
		UsedAt: r.UsedAt, UsedChannel: flows.Channel(r.UsedChannel), UsedChatID: r.UsedChatID,
	}
}

// CreateLinkToken stores an issued token.
func (db *DB) CreateLinkToken(ctx context.Context, t flows.LinkToken) error {
	if t.Hash == "" || t.CustomerRef == "" {
		return fmt.Errorf("create link token: %w: hash and customer ref are required", flows.ErrInvalid)
	}
	row := linkTokenRow{TokenHash: t.Hash, CustomerRef: t.CustomerRef, Reusable: t.Reusable,
		CreatedAt: db.at(t.CreatedAt), ExpiresAt: sqlTime(t.ExpiresAt)}
	return sqlErr("create link token", db.conn(ctx).Create(&row).Error)
}

// LinkToken returns the token stored under hash (flows.ErrNotFound if none).
func (db *DB) LinkToken(ctx context.Context, hash string) (flows.LinkToken, error) {
	var row linkTokenRow
	if err := db.conn(ctx).Where("token_hash = ?", hash).Take(&row).Error; err != nil {
		return flows.LinkToken{}, sqlErr("link token", err)
	}
	return row.domain(), nil
}

// RecordLinkTokenUse records the first chat that used a token: it sets
// the use only while none is recorded (so of two chats racing, one wins,
// on any number of replicas) and reports whether this call set it.
func (db *DB) RecordLinkTokenUse(ctx context.Context, hash string, ch flows.Channel, chatID string, at time.Time) (bool, error) {
	res := db.conn(ctx).Model(&linkTokenRow{}).Where("token_hash = ? AND used_at IS NULL", hash).
		Updates(map[string]any{"used_at": db.at(at), "used_channel": string(ch), "used_chat_id": chatID})
	if res.Error != nil {
		return false, sqlErr("record link token use", res.Error)
	}
	return res.RowsAffected == 1, nil
}
