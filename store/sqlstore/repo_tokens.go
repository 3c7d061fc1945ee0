package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// apiTokenRow is an API token (migration 0011); the secret is not kept.
type apiTokenRow struct {
	ID                  int64 `gorm:"primaryKey"`
	TokenHash           string
	Name                string
	Role                string
	AgentTelegramUserID *int64
	CreatedAt           time.Time
	CreatedBy           string
	LastUsedAt          *time.Time
	RevokedAt           *time.Time
}

func (apiTokenRow) TableName() string { return "api_tokens" }

func (r apiTokenRow) domain() flows.APIToken {
	t := flows.APIToken{ID: r.ID, Hash: r.TokenHash, Name: r.Name, Role: flows.APIRole(r.Role), CreatedAt: r.CreatedAt.UTC(),
		CreatedBy: r.CreatedBy, LastUsedAt: utcPtr(r.LastUsedAt), RevokedAt: utcPtr(r.RevokedAt)}
	if r.AgentTelegramUserID != nil {
		t.AgentTelegramUserID = *r.AgentTelegramUserID
	}
	return t
}

// CreateAPIToken stores a token made by flows.NewAPIToken. A token bound
// to an agent needs that agent registered now (a typo in the id would
// otherwise make a token that can never act).
func (db *DB) CreateAPIToken(ctx context.Context, t flows.APIToken) (flows.APIToken, error) {
	if err := t.Validate(); err != nil {
		return flows.APIToken{}, fmt.Errorf("create API token: %w", err)
	}
	row := apiTokenRow{TokenHash: t.Hash, Name: t.Name, Role: string(t.Role), CreatedAt: db.at(t.CreatedAt), CreatedBy: t.CreatedBy}
	if t.AgentTelegramUserID != 0 {
		if _, err := db.AgentByTelegramUser(ctx, t.AgentTelegramUserID); errors.Is(err, flows.ErrNotFound) {
			return flows.APIToken{}, fmt.Errorf("create API token: %w", flows.NewFieldError("agent_telegram_user_id",
				"%d is not a registered agent: add them first (cxbot agents add, POST /api/v1/agents)", t.AgentTelegramUserID))
		} else if err != nil {
			return flows.APIToken{}, fmt.Errorf("create API token: %w", err)
		}
		row.AgentTelegramUserID = &t.AgentTelegramUserID
	}
	if err := db.conn(ctx).Create(&row).Error; err != nil {
		return flows.APIToken{}, sqlErr("create API token", err)
	}
	return row.domain(), nil
}

// APITokenByHash returns the token whose secret hashes to hash, revoked or
// not (flows.ErrNotFound if none).
func (db *DB) APITokenByHash(ctx context.Context, hash string) (flows.APIToken, error) {
	var row apiTokenRow
	if err := db.conn(ctx).Where("token_hash = ?", hash).Take(&row).Error; err != nil {
		return flows.APIToken{}, sqlErr("API token", err)
	}
	return row.domain(), nil
}

// APITokens lists every token, revoked ones too, newest first.
func (db *DB) APITokens(ctx context.Context) ([]flows.APIToken, error) {
	var rows []apiTokenRow
	if err := db.conn(ctx).Order("id DESC").Find(&rows).Error; err != nil {
		return nil, sqlErr("list API tokens", err)
	}
	out := make([]flows.APIToken, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}

// HasActiveAPITokens reports whether any token is not revoked: with none,
// and no CXBOT_API_TOKEN, the API is off.
func (db *DB) HasActiveAPITokens(ctx context.Context) (bool, error) {
	var n int64
	if err := db.conn(ctx).Model(&apiTokenRow{}).Where("revoked_at IS NULL").Count(&n).Error; err != nil {
		return false, sqlErr("count API tokens", err)
	}
	return n > 0, nil
}

// RevokeAPIToken revokes a token and returns it. Revoking one already
// revoked changes nothing (its revoked_at stays the first one) and says
// so with revokedNow false; an unknown id is flows.ErrNotFound.
func (db *DB) RevokeAPIToken(ctx context.Context, id int64) (t flows.APIToken, revokedNow bool, err error) {
	res := db.conn(ctx).Model(&apiTokenRow{}).Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", db.at(time.Time{}))
	if res.Error != nil {
		return flows.APIToken{}, false, sqlErr(fmt.Sprintf("revoke API token %d", id), res.Error)
	}
	var row apiTokenRow
	if err := db.conn(ctx).Take(&row, id).Error; err != nil {
		return flows.APIToken{}, false, sqlErr(fmt.Sprintf("API token %d", id), err)
	}
	return row.domain(), res.RowsAffected == 1, nil
}

// TouchAPIToken records that a token was used at at, unless a use within
// flows.TokenTouchEvery is recorded already (by any replica): a busy token
// costs one write a minute, not one per call.
func (db *DB) TouchAPIToken(ctx context.Context, id int64, at time.Time) error {
	at = sqlTime(at)
	err := db.conn(ctx).Model(&apiTokenRow{}).
		Where("id = ? AND (last_used_at IS NULL OR last_used_at <= ?)", id, at.Add(-flows.TokenTouchEvery)).
		Update("last_used_at", at).Error
	return sqlErr(fmt.Sprintf("touch API token %d", id), err)
}
