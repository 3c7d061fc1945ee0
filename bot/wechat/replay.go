package wechat

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"
)

// pushMaxSkew is how far a push's timestamp may be from this replica's
// clock. In plaintext mode the signature covers only the timestamp and the
// nonce, so without a bound one signed query would be good for ever, with
// any body.
const pushMaxSkew = 5 * time.Minute

// nonceTTL keeps a nonce for as long as its timestamp can still be
// accepted: up to pushMaxSkew in the future, plus pushMaxSkew after that.
const nonceTTL = 2 * pushMaxSkew

// maxNonceLen bounds the nonce (WeChat's are ten digits) before it goes
// into a Redis key.
const maxNonceLen = 64

// NonceStore remembers the nonces of accepted pushes, shared by all
// replicas (cxbot's Redis implements it with SET NX and a TTL).
type NonceStore interface {
	// FirstUse stores value under key for ttl unless key holds a value
	// already; it returns the value key holds and whether this call stored it.
	FirstUse(ctx context.Context, key, value string, ttl time.Duration) (stored string, first bool, err error)
}

// freshTimestamp checks that the push's timestamp is a Unix time within
// pushMaxSkew of now. The answer to a stale one is 403, like a forged
// signature: it is a replay or a badly wrong clock, and retrying is useless.
func (a *Adapter) freshTimestamp(ts string) bool {
	if len(ts) > 12 {
		return false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	skew := a.now().Sub(time.Unix(sec, 0))
	return skew <= pushMaxSkew && skew >= -pushMaxSkew
}

// claimNonce records the push's nonce, bound to a digest of its body, and
// answers whether it may go on (status 0) or what to answer instead. The
// same nonce with the same body is WeChat retrying a push it got no answer
// to (after a 5xx or a timeout): it goes on, and the update's dedupe makes
// it harmless. The same nonce with another body is a replayed signature
// with a forged body: 403, nothing applied. When the store is down the
// answer is 500, so WeChat retries.
func (a *Adapter) claimNonce(ctx context.Context, ts, nonce string, body []byte, remote string) (status int, problem string) {
	if len(nonce) > maxNonceLen || !utf8.ValidString(nonce) {
		return http.StatusForbidden, "malformed nonce"
	}
	sum := sha256.Sum256(body)
	digest := hex.EncodeToString(sum[:])
	key := "wechat:nonce:" + a.cfg.AppID + ":" + ts + ":" + nonce
	stored, first, err := a.cfg.Nonces.FirstUse(ctx, key, digest, nonceTTL)
	switch {
	case err != nil:
		a.log.Warn("wechat webhook: cannot record the nonce, WeChat will retry", "err", err)
		return http.StatusInternalServerError, "temporarily unavailable"
	case first || stored == digest:
		return 0, ""
	default:
		a.log.Warn("wechat webhook: replayed nonce with another body", "remote_addr", remote, "timestamp", ts)
		return http.StatusForbidden, "replayed nonce"
	}
}
