package conversation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// LinkStore keeps issued deep-link tokens (SQL, so links survive a Redis
// that restarts empty).
type LinkStore interface {
	CreateLinkToken(ctx context.Context, t flows.LinkToken) error
	LinkToken(ctx context.Context, hash string) (flows.LinkToken, error)
	RecordLinkTokenUse(ctx context.Context, hash string, ch flows.Channel, chatID string, at time.Time) (bool, error)
}

// Links issues and redeems deep-link tokens (see flows.LinkToken for the
// rules: opaque, expiring, single use unless asked for reuse).
type Links struct {
	store LinkStore
	ttl   time.Duration
	now   func() time.Time
}

// NewLinks returns the deep-link desk; ttl ≤ 0 is flows.DefaultLinkTTL.
func NewLinks(store LinkStore, ttl time.Duration, now func() time.Time) *Links {
	if ttl <= 0 {
		ttl = flows.DefaultLinkTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Links{store: store, ttl: ttl, now: now}
}

// IssuedLink is a token handed to the business.
type IssuedLink struct {
	Token     string
	ExpiresAt time.Time
	Reusable  bool
}

// Issue makes and stores a token for a customer reference. The reference
// is checked as an invitation's would be, so no token is issued for a
// customer that could never be stored.
func (l *Links) Issue(ctx context.Context, customerRef string, reusable bool) (IssuedLink, error) {
	token, rec, err := flows.NewLinkToken(customerRef, reusable, l.ttl, l.now())
	if err != nil {
		return IssuedLink{}, err
	}
	if err := l.store.CreateLinkToken(ctx, rec); err != nil {
		return IssuedLink{}, err
	}
	return IssuedLink{Token: token, ExpiresAt: rec.ExpiresAt, Reusable: reusable}, nil
}

// Redeem returns the customer reference a chat's token links it to, and
// records the chat as the token's first user. A refused token is an error
// for which flows.IsLinkRefusal is true.
func (l *Links) Redeem(ctx context.Context, token string, ch flows.Channel, chatID string) (string, error) {
	if !flows.WellFormedLinkToken(token) {
		return "", flows.ErrLinkUnknown
	}
	hash := flows.LinkTokenHash(token)
	for range 2 { // a second chat may win the race for a fresh token
		t, err := l.store.LinkToken(ctx, hash)
		if errors.Is(err, flows.ErrNotFound) {
			return "", flows.ErrLinkUnknown
		}
		if err != nil {
			return "", err
		}
		now := l.now()
		if err := t.CheckUse(ch, chatID, now); err != nil {
			return "", err
		}
		if t.UsedAt != nil {
			return t.CustomerRef, nil
		}
		first, err := l.store.RecordLinkTokenUse(ctx, hash, ch, chatID, now)
		if err != nil {
			return "", err
		}
		if first {
			return t.CustomerRef, nil
		}
	}
	return "", fmt.Errorf("%w: link token used concurrently", flows.ErrUnavailable)
}
