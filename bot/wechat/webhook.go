package wechat

import (
	"context"
	"crypto/subtle"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/silenceper/wechat/v2/officialaccount/message"
	"github.com/silenceper/wechat/v2/util"

	"github.com/cxbot/cxbot/flows"
)

const maxWebhookBody = 1 << 20

// handleTimeout bounds the work on one push. WeChat hangs up after 5 s and
// retries (three times in all); the work is not abandoned when it does, so a
// slow update is applied once and its retries are answered as duplicates.
const handleTimeout = 30 * time.Second

// WebhookHandler receives WeChat's pushes at the account's server URL. It
// answers 200 "success" only once h has handled the update (or cxbot has
// nothing to do with it), so WeChat retries anything that did not become
// durable:
//
//   - GET (URL verification): a valid signature → echostr; otherwise 403
//   - POST: signature, timestamp or nonce wrong or missing → 403, h not
//     called; a timestamp more than 5 minutes from this replica's clock →
//     403; a nonce seen before (by any replica, in the last 10 minutes)
//     with another body → 403 (with the same body it is WeChat's retry and
//     goes on); the nonce store unavailable → 500. Encrypted (encrypt_type=aes): msg_signature wrong or missing →
//     403; Encrypt that does not decrypt for this AppID → 400. With an AESKey
//     configured a plaintext push is refused (403); without one, a
//     compatible-mode push is read from its plain fields and a safe-mode one
//     is refused (400). Body over 1 MiB → 413; malformed XML → 400.
//   - h returns nil → 200 "success" (WeChat takes a plain "success" in every
//     mode: cxbot never replies passively); flows.ErrInvalid → 200 "success"
//     and a log line (a poison push must not be retried); any other error
//     (flows.ErrUnavailable included) → 500, and WeChat retries.
//   - pushes cxbot does not handle (images, voice, menu clicks…) → 200 "success"
//
// In plaintext mode the signature covers the query only, not the body;
// safe mode's msg_signature covers the message too.
func (a *Adapter) WebhookHandler(h Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch r.Method {
		case http.MethodGet:
			a.verifyURL(w, r, q)
			return
		case http.MethodPost:
		default:
			w.Header().Set("Allow", "GET, POST")
			writeText(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		if !a.signed(q) {
			a.log.Warn("wechat webhook: wrong or missing signature", "remote_addr", r.RemoteAddr)
			writeText(w, http.StatusForbidden, "wrong or missing signature")
			return
		}
		if !a.freshTimestamp(q.Get("timestamp")) {
			a.log.Warn("wechat webhook: timestamp outside ±5 minutes", "remote_addr", r.RemoteAddr, "timestamp", clip(q.Get("timestamp")))
			writeText(w, http.StatusForbidden, "stale timestamp")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeText(w, http.StatusRequestEntityTooLarge, "body larger than 1 MiB")
				return
			}
			writeText(w, http.StatusBadRequest, "cannot read body")
			return
		}
		wm, status, problem := a.open(q, body, r.RemoteAddr)
		if status != 0 {
			writeText(w, status, problem)
			return
		}
		if status, problem := a.claimNonce(r.Context(), q.Get("timestamp"), q.Get("nonce"), body, r.RemoteAddr); status != 0 {
			writeText(w, status, problem)
			return
		}

		a.grantQuota(r.Context(), wm)
		u, ok, ignored := a.convert(wm)
		if !ok {
			a.log.Debug("wechat push ignored", "chat_id", wm.FromUserName, "reason", ignored)
			writeText(w, http.StatusOK, "success")
			return
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), handleTimeout)
		defer cancel()
		switch err := h.HandleUpdate(ctx, u); {
		case err == nil:
			writeText(w, http.StatusOK, "success")
		case errors.Is(err, flows.ErrInvalid):
			// Handling it again would fail again; WeChat's retries would only
			// repeat the failure. Acknowledge it and leave the trace here.
			a.log.Error("wechat update rejected and dropped", "update_id", u.UpdateID, "chat_id", u.ChatID, "err", err)
			writeText(w, http.StatusOK, "success")
		default:
			a.log.Warn("wechat update not handled, WeChat will retry", "update_id", u.UpdateID, "chat_id", u.ChatID, "err", err)
			writeText(w, http.StatusInternalServerError, "temporarily unavailable")
		}
	})
}

// verifyURL answers WeChat's server URL check: echostr if signed.
func (a *Adapter) verifyURL(w http.ResponseWriter, r *http.Request, q url.Values) {
	if !a.signed(q) {
		a.log.Warn("wechat URL verification: wrong or missing signature", "remote_addr", r.RemoteAddr)
		writeText(w, http.StatusForbidden, "wrong or missing signature")
		return
	}
	echostr := q.Get("echostr")
	if echostr == "" {
		writeText(w, http.StatusBadRequest, "no echostr")
		return
	}
	writeText(w, http.StatusOK, echostr)
}

// signed checks signature = sha1(sort(token, timestamp, nonce)).
func (a *Adapter) signed(q url.Values) bool {
	sig, ts, nonce := q.Get("signature"), q.Get("timestamp"), q.Get("nonce")
	if sig == "" || ts == "" || nonce == "" {
		return false
	}
	return equal(sig, util.Signature(a.cfg.Token, ts, nonce))
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// open authenticates, decrypts and parses a push. A status ≠ 0 is the answer
// to give instead, with problem as its body.
func (a *Adapter) open(q url.Values, body []byte, remote string) (wm wireMessage, status int, problem string) {
	encrypted := q.Get("encrypt_type") == "aes"
	if !encrypted {
		if a.cfg.AESKey != "" {
			a.log.Warn("wechat webhook: plaintext push refused, an AESKey is configured", "remote_addr", remote)
			return wm, http.StatusForbidden, "encrypted messages required"
		}
		return parse(body)
	}

	msgSig := q.Get("msg_signature")
	if msgSig == "" {
		a.log.Warn("wechat webhook: encrypted push without msg_signature", "remote_addr", remote)
		return wm, http.StatusForbidden, "missing msg_signature"
	}
	var env message.EncryptedXMLMsg
	if err := xml.Unmarshal(body, &env); err != nil || env.EncryptedMsg == "" {
		return wm, http.StatusBadRequest, "malformed encrypted message"
	}
	if !equal(msgSig, util.Signature(a.cfg.Token, q.Get("timestamp"), q.Get("nonce"), env.EncryptedMsg)) {
		a.log.Warn("wechat webhook: wrong msg_signature", "remote_addr", remote)
		return wm, http.StatusForbidden, "wrong msg_signature"
	}
	if a.cfg.AESKey == "" {
		// Compatible mode also carries the message in plain fields; safe
		// mode does not, and nothing can be read without the key.
		if xml.Unmarshal(body, &wm) == nil && wm.MsgType == "" {
			a.log.Error("wechat webhook: safe-mode push, but no AESKey is configured")
			return wm, http.StatusBadRequest, "encrypted message, and no AESKey configured"
		}
		return parse(body)
	}
	_, plain, err := util.DecryptMsg(a.cfg.AppID, env.EncryptedMsg, a.cfg.AESKey)
	if err != nil {
		a.log.Warn("wechat webhook: cannot decrypt push", "remote_addr", remote, "err", err)
		return wm, http.StatusBadRequest, "cannot decrypt message"
	}
	return parse(plain)
}

func parse(data []byte) (wm wireMessage, status int, problem string) {
	if err := xml.Unmarshal(data, &wm); err != nil {
		return wm, http.StatusBadRequest, "malformed message XML: " + err.Error()
	}
	switch {
	case wm.MsgType == "":
		return wm, http.StatusBadRequest, "message without MsgType"
	case wm.FromUserName == "":
		return wm, http.StatusBadRequest, "message without FromUserName"
	}
	if err := flows.ValidateWeChatOpenID("FromUserName", wm.FromUserName); err != nil {
		return wm, http.StatusBadRequest, err.Error()
	}
	return wm, 0, ""
}

// clip bounds a value taken from the request before it reaches a log line.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}

func writeText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text)
}
