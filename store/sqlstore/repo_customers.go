package sqlstore

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/cxbot/cxbot/flows"
)

// UpsertCustomer returns the customer with this ref, creating it when new.
// A language is recorded when given and none was known yet; a known one is
// kept (the customer or an agent may have chosen it).
func (db *DB) UpsertCustomer(ctx context.Context, ref, language string) (flows.Customer, error) {
	if ref == "" {
		return flows.Customer{}, fmt.Errorf("upsert customer: %w: ref is required", flows.ErrInvalid)
	}
	var out customerRow
	err := db.conn(ctx).Transaction(func(tx *gorm.DB) error {
		now := db.at(time.Time{})
		row := customerRow{Ref: ref, Language: language, CreatedAt: now, UpdatedAt: now}
		res := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "ref"}}, DoNothing: true}).Create(&row)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 && language != "" {
			err := tx.Model(&customerRow{}).Where("ref = ? AND language = ''", ref).
				Updates(map[string]any{"language": language, "updated_at": now}).Error
			if err != nil {
				return err
			}
		}
		return tx.Where("ref = ?", ref).Take(&out).Error
	})
	if err != nil {
		return flows.Customer{}, sqlErr("upsert customer", err)
	}
	return out.domain(), nil
}

// CustomerByRef returns the customer with the business's reference.
func (db *DB) CustomerByRef(ctx context.Context, ref string) (flows.Customer, error) {
	var row customerRow
	if err := db.conn(ctx).Where("ref = ?", ref).Take(&row).Error; err != nil {
		return flows.Customer{}, sqlErr("customer "+ref, err)
	}
	return row.domain(), nil
}

// Customer returns the customer with this id.
func (db *DB) Customer(ctx context.Context, id int64) (flows.Customer, error) {
	var row customerRow
	if err := db.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return flows.Customer{}, sqlErr(fmt.Sprintf("customer %d", id), err)
	}
	return row.domain(), nil
}

// LinkIdentity records that a chat belongs to a customer. A chat has one
// owner: linking it again (another /start link, a merged customer) moves it.
// Username and language are refreshed when given, and LinkedAt is set when
// the chat is linked to a new customer (kept when the owner is unchanged).
func (db *DB) LinkIdentity(ctx context.Context, id flows.Identity) (flows.Identity, error) {
	if id.CustomerID <= 0 || id.Channel == "" || id.ExternalID == "" {
		return flows.Identity{}, fmt.Errorf("link identity: %w: customer, channel and external id are required", flows.ErrInvalid)
	}
	row := identityRow{
		CustomerID: id.CustomerID,
		Channel:    string(id.Channel),
		ExternalID: id.ExternalID,
		Username:   id.Username,
		Language:   id.Language,
		LinkedAt:   db.at(id.LinkedAt),
	}
	keep := func(col string) clause.Assignment {
		return clause.Assignment{
			Column: clause.Column{Name: col},
			Value:  gorm.Expr("CASE WHEN excluded." + col + " = '' THEN channel_identities." + col + " ELSE excluded." + col + " END"),
		}
	}
	upsert := clause.OnConflict{
		Columns: []clause.Column{{Name: "channel"}, {Name: "external_id"}},
		DoUpdates: clause.Set{
			{Column: clause.Column{Name: "linked_at"}, Value: gorm.Expr(
				"CASE WHEN channel_identities.customer_id = excluded.customer_id THEN channel_identities.linked_at ELSE excluded.linked_at END")},
			{Column: clause.Column{Name: "customer_id"}, Value: gorm.Expr("excluded.customer_id")},
			keep("username"),
			keep("language"),
		},
	}
	var out identityRow
	err := db.conn(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Clauses(upsert).Create(&row).Error; err != nil {
			return err
		}
		return tx.Where("channel = ? AND external_id = ?", row.Channel, row.ExternalID).Take(&out).Error
	})
	if err != nil {
		return flows.Identity{}, sqlErr(fmt.Sprintf("link %s chat to customer %d", id.Channel, id.CustomerID), err)
	}
	return out.domain(), nil
}

// IdentityByExternal returns a chat's identity and the customer it belongs to.
func (db *DB) IdentityByExternal(ctx context.Context, ch flows.Channel, externalID string) (flows.Identity, flows.Customer, error) {
	var (
		ident identityRow
		cust  customerRow
	)
	g := db.conn(ctx)
	if err := g.Where("channel = ? AND external_id = ?", string(ch), externalID).Take(&ident).Error; err != nil {
		return flows.Identity{}, flows.Customer{}, sqlErr(fmt.Sprintf("%s chat %s", ch, externalID), err)
	}
	if err := g.Where("id = ?", ident.CustomerID).Take(&cust).Error; err != nil {
		return flows.Identity{}, flows.Customer{}, sqlErr(fmt.Sprintf("customer of %s chat %s", ch, externalID), err)
	}
	return ident.domain(), cust.domain(), nil
}

// OptOut records that the customer asked not to be surveyed. The first
// time is kept: it is the consent record, and repeats must not move it.
func (db *DB) OptOut(ctx context.Context, customerID int64, at time.Time) error {
	return db.updateConsent(ctx, "opt out", customerID, "opted_out_at", db.at(at))
}

// OptIn clears an opt-out; only for a customer who came back by themselves.
func (db *DB) OptIn(ctx context.Context, customerID int64) error {
	return db.updateConsent(ctx, "opt in", customerID, "opted_out_at", nil)
}

// MarkUnreachable records that the platform refused delivery (the bot was
// blocked). The first refusal time is kept.
func (db *DB) MarkUnreachable(ctx context.Context, customerID int64, at time.Time) error {
	return db.updateConsent(ctx, "mark unreachable", customerID, "unreachable_at", db.at(at))
}

// ClearUnreachable is called when the customer writes to the bot again.
func (db *DB) ClearUnreachable(ctx context.Context, customerID int64) error {
	return db.updateConsent(ctx, "clear unreachable", customerID, "unreachable_at", nil)
}

// updateConsent sets (keeping the first time) or clears a consent column on
// the customer and on every chat linked to them, in one transaction: the
// marks on the chats survive a later relink to another customer.
func (db *DB) updateConsent(ctx context.Context, op string, customerID int64, col string, at any) error {
	err := db.conn(ctx).Transaction(func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&customerRow{}).Where("id = ?", customerID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return gorm.ErrRecordNotFound
		}
		customer := tx.Model(&customerRow{}).Where("id = ?", customerID)
		chats := tx.Model(&identityRow{}).Where("customer_id = ?", customerID)
		if at != nil {
			customer, chats = customer.Where(col+" IS NULL"), chats.Where(col+" IS NULL")
		}
		if err := customer.Updates(map[string]any{col: at, "updated_at": db.at(time.Time{})}).Error; err != nil {
			return err
		}
		return chats.Update(col, at).Error
	})
	if err != nil {
		return sqlErr(fmt.Sprintf("%s customer %d", op, customerID), err)
	}
	return nil
}

// mustExist returns ErrNotFound unless the row with this id exists; it
// tells "nothing to change" from "no such row" after an update.
func (db *DB) mustExist(ctx context.Context, op string, model any, id int64) error {
	var n int64
	if err := db.conn(ctx).Model(model).Where("id = ?", id).Count(&n).Error; err != nil {
		return sqlErr(op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, flows.ErrNotFound)
	}
	return nil
}
