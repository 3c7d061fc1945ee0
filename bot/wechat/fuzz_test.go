package wechat

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxbot/cxbot/bot/wechat/wechattest"
	"github.com/cxbot/cxbot/flows"
)

type handlerFunc func(context.Context, flows.Update) error

func (f handlerFunc) HandleUpdate(ctx context.Context, u flows.Update) error { return f(ctx, u) }

// fuzzHook is a webhook on an adapter with the given AESKey ("" =
// plaintext) and a handler that checks what reaches it.
func fuzzHook(f *testing.F, key string) (http.Handler, *wechattest.Inbound) {
	kv := newMemKV(time.Now)
	a, err := New(Config{AppID: appID, AppSecret: appSecret, Token: token, AESKey: key, APIURL: "http://127.0.0.1:1",
		DecodeTap: testDecodeTap, Cache: kv, Nonces: kv}, nil)
	if err != nil {
		f.Fatal(err)
	}
	mode := wechattest.Plaintext
	if key != "" {
		mode = wechattest.Safe
	}
	return a.WebhookHandler(handlerFunc(func(_ context.Context, u flows.Update) error {
		if err := flows.ValidateWeChatOpenID("chat", u.ChatID); err != nil {
			panic("an unbounded sender reached the handler: " + err.Error())
		}
		return nil
	})), wechattest.NewInbound(token, appID, aesKey, mode)
}

var fuzzNonce atomic.Int64

// signedQuery is a fresh, correctly signed query (a new nonce each time).
func signedQuery(extra ...string) url.Values {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce := strconv.FormatInt(1_000_000_000+fuzzNonce.Add(1), 10)
	q := url.Values{}
	q.Set("timestamp", ts)
	q.Set("nonce", nonce)
	q.Set("signature", wechattest.Signature(token, ts, nonce))
	if len(extra) > 0 {
		q.Set("encrypt_type", "aes")
		q.Set("msg_signature", wechattest.Signature(token, ts, nonce, extra[0]))
	}
	return q
}

func serve(h http.Handler, q url.Values, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, WebhookPath+"?"+q.Encode(), strings.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// FuzzWebhookXML: any signed plaintext body gets 200 or 400, never a panic
// or a 5xx.
func FuzzWebhookXML(f *testing.F) {
	hook, in := fuzzHook(f, "")
	for _, r := range []wechattest.Request{in.Text(openID, "９分"), in.MenuTap(openID, "a:1:q:9", "9"), in.Subscribe(openID, "tok"),
		in.Unsubscribe(openID), in.Image(openID, "m"), in.Raw("<xml><MsgType>text</MsgType></xml>")} {
		f.Add(r.Body)
	}
	f.Add("<xml><FromUserName>" + strings.Repeat("o", 200) + "</FromUserName><MsgType>text</MsgType></xml>")
	f.Add("<!DOCTYPE x [<!ENTITY a \"aaaa\">]><xml>&a;</xml>")
	f.Fuzz(func(t *testing.T, body string) {
		rec := serve(hook, signedQuery(), body)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("body %q: %d %s", body, rec.Code, rec.Body)
		}
	})
}

// FuzzWebhookEnvelope: any Encrypt value, correctly signed, is decrypted
// or refused with 400; never a panic or a 5xx.
func FuzzWebhookEnvelope(f *testing.F) {
	hook, in := fuzzHook(f, aesKey)
	for _, r := range []wechattest.Request{in.Text(openID, "9"), in.Subscribe(openID, "")} {
		f.Add(r.Body)
	}
	f.Add("<xml><Encrypt><![CDATA[AAAA]]></Encrypt></xml>")
	f.Add("<xml><Encrypt><![CDATA[" + strings.Repeat("A", 44) + "]]></Encrypt></xml>")
	f.Fuzz(func(t *testing.T, body string) {
		var env struct {
			Encrypt string `xml:"Encrypt"`
		}
		_ = xmlUnmarshal(body, &env)
		rec := serve(hook, signedQuery(env.Encrypt), body)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest && rec.Code != http.StatusForbidden {
			t.Fatalf("body %q: %d %s", body, rec.Code, rec.Body)
		}
	})
}

func xmlUnmarshal(body string, v any) error { return xml.Unmarshal([]byte(body), v) }
