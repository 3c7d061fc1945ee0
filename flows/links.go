package flows

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Deep-link tokens let a business link a chat to its own customer
// reference: the customer opens t.me/<bot>?start=<token> (or scans a WeChat
// QR code with scene <token>) and the chat that sends it is linked. A
// token is 32 random characters from Telegram's deep-link alphabet
// (A-Z a-z 0-9 _ -): it says nothing about the customer, and only its
// SHA-256 is stored, so a copy of the database links no chat.
const (
	linkTokenBytes = 24 // 32 base64url characters
	linkTokenLen   = 32
	// DefaultLinkTTL is how long a token works when the setting is not given.
	DefaultLinkTTL = 7 * 24 * time.Hour
)

// The reasons a token is refused; each wraps ErrInvalid.
var (
	ErrLinkUnknown = fmt.Errorf("%w: link token unknown", ErrInvalid)
	ErrLinkExpired = fmt.Errorf("%w: link token expired", ErrInvalid)
	ErrLinkUsed    = fmt.Errorf("%w: link token already used by another chat", ErrInvalid)
)

// LinkToken is an issued deep link, as stored.
type LinkToken struct {
	Hash        string // LinkTokenHash of the token; the token itself is not kept
	CustomerRef string
	// Reusable tokens link every chat that opens them before they expire
	// (a QR code printed on a receipt, say); single-use ones link the first.
	Reusable  bool
	CreatedAt time.Time
	ExpiresAt time.Time
	// The first chat that used the token; UsedAt is nil until then.
	UsedAt      *time.Time
	UsedChannel Channel
	UsedChatID  string
}

// NewLinkToken makes a token for a customer reference, valid for ttl from
// now. It returns the token to hand out and the record to store.
func NewLinkToken(customerRef string, reusable bool, ttl time.Duration, now time.Time) (string, LinkToken, error) {
	if err := ValidateCustomerRef(customerRef); err != nil {
		return "", LinkToken{}, err
	}
	if ttl <= 0 {
		return "", LinkToken{}, fmt.Errorf("%w: link ttl %s must be positive", ErrInvalid, ttl)
	}
	b := make([]byte, linkTokenBytes)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	token := base64.RawURLEncoding.EncodeToString(b)
	return token, LinkToken{
		Hash: LinkTokenHash(token), CustomerRef: customerRef, Reusable: reusable,
		CreatedAt: now, ExpiresAt: now.Add(ttl),
	}, nil
}

// LinkTokenHash is what a token is stored and looked up by. A value that
// cannot be a token is refused with ErrLinkUnknown before any lookup.
func LinkTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// WellFormedLinkToken reports whether s has a token's shape.
func WellFormedLinkToken(s string) bool {
	if len(s) != linkTokenLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// CheckUse decides whether chat may use the token now:
//   - after ExpiresAt: ErrLinkExpired, whoever asks;
//   - a single-use token already used by another chat: ErrLinkUsed, and
//     that chat stays linked (the link goes to whoever opened it first; a
//     forwarded link cannot take a customer's surveys away from them);
//   - the same chat again (a redelivered /start, the link tapped twice):
//     allowed, it changes nothing;
//   - a reusable token: every chat that opens it is linked.
func (t LinkToken) CheckUse(ch Channel, chatID string, now time.Time) error {
	switch {
	case !now.Before(t.ExpiresAt):
		return ErrLinkExpired
	case t.Reusable || t.UsedAt == nil:
		return nil
	case t.UsedChannel == ch && t.UsedChatID == chatID:
		return nil
	}
	return ErrLinkUsed
}

// IsLinkRefusal reports whether err is one of the reasons a token is refused.
func IsLinkRefusal(err error) bool {
	return errors.Is(err, ErrLinkUnknown) || errors.Is(err, ErrLinkExpired) || errors.Is(err, ErrLinkUsed)
}

// linkTokenKeep is how long an expired deep-link token is kept: a day, so
// logs and support questions about a just-expired link can still find it.
// After that it is deleted; an unknown token gets the same "invalid link"
// answer as an expired one.
const linkTokenKeep = 24 * time.Hour

// LinkTokensPrunableBefore is the expiry before which tokens may be deleted.
func LinkTokensPrunableBefore(now time.Time) time.Time { return now.Add(-linkTokenKeep) }
