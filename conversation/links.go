package conversation

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"unicode/utf8"

	"github.com/cxbot/cxbot/flows"
)

// Deep-link tokens let a business link a chat to its own customer reference:
// the customer opens t.me/<bot>?start=<token> and Telegram sends "/start <token>".
// Telegram allows 64 characters from [A-Za-z0-9_-], which base64url fits.
const (
	linkMACLen      = 16 // base64url characters of the truncated HMAC-SHA256
	maxLinkTokenLen = 64
)

// LinkSigner makes and checks deep-link tokens with an HMAC secret.
type LinkSigner struct {
	secret []byte
}

// NewLinkSigner returns a signer; the secret must be kept stable across
// restarts and replicas or earlier links stop working.
func NewLinkSigner(secret []byte) LinkSigner {
	return LinkSigner{secret: secret}
}

// Token signs a customer reference.
func (s LinkSigner) Token(customerRef string) (string, error) {
	if customerRef == "" || !utf8.ValidString(customerRef) {
		return "", fmt.Errorf("%w: customer_ref must be non-empty UTF-8", flows.ErrInvalid)
	}
	token := base64.RawURLEncoding.EncodeToString([]byte(customerRef)) + s.mac(customerRef)
	if len(token) > maxLinkTokenLen {
		return "", fmt.Errorf("%w: customer_ref %q is too long for a Telegram deep link (at most 36 bytes)", flows.ErrInvalid, customerRef)
	}
	return token, nil
}

// CustomerRef checks a token and returns the reference it carries.
func (s LinkSigner) CustomerRef(token string) (string, error) {
	if len(token) <= linkMACLen || len(token) > maxLinkTokenLen {
		return "", fmt.Errorf("%w: link token has the wrong length", flows.ErrInvalid)
	}
	encoded, mac := token[:len(token)-linkMACLen], token[len(token)-linkMACLen:]
	ref, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil {
		return "", fmt.Errorf("%w: link token is not base64url", flows.ErrInvalid)
	}
	if !hmac.Equal([]byte(mac), []byte(s.mac(string(ref)))) {
		return "", fmt.Errorf("%w: link token signature does not match", flows.ErrInvalid)
	}
	return string(ref), nil
}

func (s LinkSigner) mac(ref string) string {
	h := hmac.New(sha256.New, s.secret)
	h.Write([]byte(ref))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))[:linkMACLen]
}
