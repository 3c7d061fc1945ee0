package wechat

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/bot/wechat/wechattest"
	"github.com/cxbot/cxbot/flows"
)

// modes pairs an adapter configuration with what WeChat sends in each
// encryption mode the account can be set to.
var modes = []struct {
	name   string
	aesKey string // the adapter's
	mode   wechattest.Mode
}{
	{"plaintext", "", wechattest.Plaintext},
	{"compatible read plain", "", wechattest.Compatible},
	{"compatible decrypted", aesKey, wechattest.Compatible},
	{"safe", aesKey, wechattest.Safe},
}

func inbound(e *env, mode wechattest.Mode) *wechattest.Inbound {
	return wechattest.NewInbound(token, appID, aesKey, mode, wechattest.WithInboundClock(e.clock.Now))
}

func TestWebhookRejectsForgedPushes(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := setup(t, func(c *Config) { c.AESKey = m.aesKey })
			ctx := testCtx(t)
			rec := &recorder{}
			url := webhookServer(t, e.a, rec)
			in := inbound(e, m.mode)
			push := in.Text(openID, "9")

			forged := map[string]wechattest.Request{
				"forged signature":  push.With("signature", wechattest.Signature("other-token", push.Query.Get("timestamp"), push.Query.Get("nonce"))),
				"garbage signature": push.With("signature", "0123456789abcdef0123456789abcdef01234567"),
				"no signature":      push.With("signature", ""),
				"no timestamp":      push.With("timestamp", ""),
				"no nonce":          push.With("nonce", ""),
				"timestamp changed": push.With("timestamp", "1409659813"),
				"other token":       wechattest.NewInbound("other-token", appID, aesKey, m.mode).Text(openID, "9"),
			}
			if m.mode != wechattest.Plaintext {
				enc := push.Query.Get("msg_signature")
				forged["forged msg_signature"] = push.With("msg_signature", strings.Repeat("0", len(enc)))
				forged["no msg_signature"] = push.With("msg_signature", "")
				forged["Encrypt swapped"] = in.Text(openID, "0").With("msg_signature", enc)
			}
			for name, req := range forged {
				status, body, err := in.Deliver(ctx, url, req)
				if err != nil || status != http.StatusForbidden {
					t.Errorf("%s: %d %q %v, want 403", name, status, body, err)
				}
			}
			if calls := rec.snapshot(); len(calls) != 0 {
				t.Fatalf("handler called for forged pushes: %+v", calls)
			}

			status, body, err := in.Deliver(ctx, url, push)
			if err != nil || status != http.StatusOK || body != "success" {
				t.Fatalf("genuine push: %d %q %v", status, body, err)
			}
			if calls := rec.snapshot(); len(calls) != 1 || calls[0].Text != "9" || calls[0].UpdateID != "msg:"+strconv.FormatInt(push.MsgID, 10) {
				t.Fatalf("handler got %+v", calls)
			}
		})
	}
}

func TestWebhookModeMismatch(t *testing.T) {
	ctx := testCtx(t)
	rec := &recorder{}

	secure := setup(t, func(c *Config) { c.AESKey = aesKey })
	url := webhookServer(t, secure.a, rec)
	plain := inbound(secure, wechattest.Plaintext).Text(openID, "hi")
	if status, body, _ := inbound(secure, wechattest.Plaintext).Deliver(ctx, url, plain); status != http.StatusForbidden {
		t.Errorf("plaintext push to an adapter with an AESKey: %d %q", status, body)
	}
	otherApp := wechattest.NewInbound(token, "wx0000000000000000", aesKey, wechattest.Safe, wechattest.WithInboundClock(secure.clock.Now)).Text(openID, "hi")
	if status, body, _ := inbound(secure, wechattest.Safe).Deliver(ctx, url, otherApp); status != http.StatusBadRequest {
		t.Errorf("encrypted for another AppID: %d %q", status, body)
	}
	otherKey := wechattest.NewInbound(token, appID, "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut", wechattest.Safe, wechattest.WithInboundClock(secure.clock.Now)).Text(openID, "hi")
	if status, body, _ := inbound(secure, wechattest.Safe).Deliver(ctx, url, otherKey); status != http.StatusBadRequest {
		t.Errorf("encrypted with another key: %d %q", status, body)
	}

	open := setup(t, nil)
	url = webhookServer(t, open.a, rec)
	safe := inbound(open, wechattest.Safe)
	if status, body, _ := safe.Deliver(ctx, url, safe.Text(openID, "hi")); status != http.StatusBadRequest || !strings.Contains(body, "AESKey") {
		t.Errorf("safe-mode push to an adapter without an AESKey: %d %q", status, body)
	}
	if calls := rec.snapshot(); len(calls) != 0 {
		t.Fatalf("handler called: %+v", calls)
	}
}

func TestWebhookURLVerification(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := setup(t, func(c *Config) { c.AESKey = m.aesKey })
			ctx := testCtx(t)
			url := webhookServer(t, e.a, &recorder{})
			in := inbound(e, m.mode)

			req := in.Verify("5838479218127813673")
			if status, body, err := in.Deliver(ctx, url, req); err != nil || status != http.StatusOK || body != "5838479218127813673" {
				t.Fatalf("genuine: %d %q %v", status, body, err)
			}
			for name, bad := range map[string]wechattest.Request{
				"forged":       req.With("signature", strings.Repeat("f", 40)),
				"no signature": req.With("signature", ""),
				"other token":  wechattest.NewInbound("other-token", appID, aesKey, m.mode).Verify("1"),
			} {
				if status, body, _ := in.Deliver(ctx, url, bad); status != http.StatusForbidden || strings.Contains(body, "1") {
					t.Errorf("%s: %d %q, want 403", name, status, body)
				}
			}
			if status, _, _ := in.Deliver(ctx, url, req.With("echostr", "")); status != http.StatusBadRequest {
				t.Errorf("no echostr: %d", status)
			}
		})
	}
}

func TestWebhookRejectsMalformed(t *testing.T) {
	ctx := testCtx(t)
	e := setup(t, nil)
	rec := &recorder{}
	url := webhookServer(t, e.a, rec)
	in := inbound(e, wechattest.Plaintext)

	cases := []struct {
		name   string
		body   string
		status int
		says   string
	}{
		{"not XML", "<xml><MsgType>text", 400, "malformed"},
		{"JSON", `{"MsgType":"text"}`, 400, "malformed"},
		{"no MsgType", "<xml><FromUserName>o1</FromUserName></xml>", 400, "MsgType"},
		{"no sender", "<xml><MsgType>text</MsgType></xml>", 400, "FromUserName"},
		{"CreateTime not a number", "<xml><FromUserName>o1</FromUserName><MsgType>text</MsgType><CreateTime>soon</CreateTime></xml>", 400, "malformed"},
		{"too large", "<xml><Content>" + strings.Repeat("x", 1<<20) + "</Content></xml>", 413, "1 MiB"},
	}
	for _, c := range cases {
		status, body, err := in.Deliver(ctx, url, in.Raw(c.body))
		if err != nil || status != c.status || !strings.Contains(body, c.says) {
			t.Errorf("%s: %d %q %v, want %d mentioning %q", c.name, status, body, err, c.status, c.says)
		}
	}

	secure := setup(t, func(c *Config) { c.AESKey = aesKey })
	url = webhookServer(t, secure.a, rec)
	safe := inbound(secure, wechattest.Safe)
	push := safe.Text(openID, "hi")
	for name, body := range map[string]string{
		"envelope not XML":  "<xml><Encrypt>",
		"no Encrypt":        "<xml><ToUserName>gh</ToUserName></xml>",
		"Encrypt not valid": "<xml><Encrypt><![CDATA[bm90IGEgY2lwaGVydGV4dA==]]></Encrypt></xml>",
	} {
		req := push.WithBody(body)
		if enc := between(body, "<![CDATA[", "]]>"); enc != "" { // signed, so that decryption is what fails
			req = req.With("msg_signature", wechattest.Signature(token, push.Query.Get("timestamp"), push.Query.Get("nonce"), enc))
		}
		if status, resp, _ := safe.Deliver(ctx, url, req); status != http.StatusBadRequest {
			t.Errorf("%s: %d %q, want 400", name, status, resp)
		}
	}
	// A message that decrypts but is not a message.
	bad := safe.Raw("<xml><Content>no sender</Content>")
	if status, resp, _ := safe.Deliver(ctx, url, bad); status != http.StatusBadRequest {
		t.Errorf("decrypted garbage: %d %q", status, resp)
	}

	req, _ := http.NewRequest(http.MethodPut, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, POST" {
		t.Errorf("PUT: %d %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if calls := rec.snapshot(); len(calls) != 0 {
		t.Fatalf("handler called for malformed pushes: %+v", calls)
	}
}

func between(s, open, close string) string {
	_, rest, ok := strings.Cut(s, open)
	if !ok {
		return ""
	}
	inner, _, _ := strings.Cut(rest, close)
	return inner
}

func TestWebhookStatusFollowsHandler(t *testing.T) {
	e := setup(t, func(c *Config) { c.AESKey = aesKey })
	ctx := testCtx(t)
	in := inbound(e, wechattest.Safe)
	cases := []struct {
		err    error
		status int
		body   string
	}{
		{nil, 200, "success"},
		{fmt.Errorf("redis down: %w", flows.ErrUnavailable), 500, ""},
		{fmt.Errorf("survey gone: %w", flows.ErrInvalid), 200, "success"},
		{errBoom, 500, ""},
		{fmt.Errorf("chat busy: %w", flows.ErrConflict), 500, ""},
	}
	for _, c := range cases {
		rec := &recorder{fail: c.err}
		url := webhookServer(t, e.a, rec)
		status, body, err := in.Deliver(ctx, url, in.Text(openID, "hi"))
		if err != nil || status != c.status || (c.body != "" && body != c.body) {
			t.Errorf("handler error %v: %d %q (%v), want %d", c.err, status, body, err, c.status)
		}
		if calls := rec.snapshot(); len(calls) != 1 {
			t.Errorf("handler error %v: %d calls", c.err, len(calls))
		}
	}
}

// slowHandler takes its time and reports whether its context survived.
type slowHandler struct {
	started chan struct{}
	release chan struct{}
	ctxErr  chan error
}

func (h slowHandler) HandleUpdate(ctx context.Context, _ flows.Update) error {
	close(h.started)
	<-h.release
	h.ctxErr <- ctx.Err()
	return nil
}

func TestWebhookFinishesTheWorkWhenWeChatHangsUp(t *testing.T) {
	e := setup(t, nil)
	h := slowHandler{started: make(chan struct{}), release: make(chan struct{}), ctxErr: make(chan error, 1)}
	url := webhookServer(t, e.a, h)
	in := inbound(e, wechattest.Plaintext)

	// WeChat gives up after 5 s; this client after much less.
	ctx, cancel := context.WithCancel(testCtx(t))
	result := make(chan error, 1)
	go func() {
		_, _, err := in.Deliver(ctx, url, in.Text(openID, "slow"))
		result <- err
	}()
	<-h.started
	select {
	case err := <-result:
		t.Fatalf("answered before the handler returned: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	if err := <-result; err == nil {
		t.Fatal("the hung-up delivery succeeded")
	}
	time.Sleep(50 * time.Millisecond) // let the server notice the hang-up
	close(h.release)
	if err := <-h.ctxErr; err != nil {
		t.Fatalf("the handler's context ended with the request: %v", err)
	}
}

func TestWebhookConvertsPushes(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := setup(t, func(c *Config) { c.AESKey = m.aesKey })
			ctx := testCtx(t)
			rec := &recorder{}
			url := webhookServer(t, e.a, rec)
			in := inbound(e, m.mode)
			wc := flows.ChannelWeChat
			at := e.clock.Now().UTC()
			ct := strconv.FormatInt(at.Unix(), 10)
			msgID := func(r wechattest.Request) string { return "msg:" + strconv.FormatInt(r.MsgID, 10) }

			text := in.Text(openID, "物流太慢了")
			fullWidth := in.Text(openID, "９")
			emoji := in.Text(openID, "👍🏻 10分! <b>&amp;</b> ]]> end")
			tap := in.MenuTap(openID, "a:42:nps:9", "9")
			staleTap := in.MenuTap(openID, "123456", "满意")
			subscribe := in.Subscribe("o-new", "")
			subscribeScene := in.Subscribe("o-new", "Lk3-TOKEN_x")
			scan := in.Scan(openID, "Lk3-TOKEN_x")
			unsubscribe := in.Unsubscribe(openID)
			image := in.Image(openID, "media-1")
			cases := []struct {
				name string
				in   wechattest.Request
				want *flows.Update // nil = ignored
			}{
				{"text", text, &flows.Update{Channel: wc, UpdateID: msgID(text), ChatID: openID, UserID: openID, Text: "物流太慢了", ReceivedAt: at}},
				{"full-width digit untouched", fullWidth, &flows.Update{Channel: wc, UpdateID: msgID(fullWidth), ChatID: openID, UserID: openID, Text: "９", ReceivedAt: at}},
				{"emoji and markup", emoji, &flows.Update{Channel: wc, UpdateID: msgID(emoji), ChatID: openID, UserID: openID, Text: "👍🏻 10分! <b>&amp;</b> ]]> end", ReceivedAt: at}},
				{"menu tap", tap, &flows.Update{Channel: wc, UpdateID: msgID(tap), ChatID: openID, UserID: openID, Text: "9",
					Tap: &flows.Tap{ResponseID: 42, QuestionID: "nps", Value: "9"}, ReceivedAt: at}},
				{"undecodable menu id is a zero tap", staleTap, &flows.Update{Channel: wc, UpdateID: msgID(staleTap), ChatID: openID, UserID: openID, Text: "满意",
					Tap: &flows.Tap{}, ReceivedAt: at}},
				{"subscribe", subscribe, &flows.Update{Channel: wc, UpdateID: "evt:o-new:" + ct + ":subscribe", ChatID: "o-new", UserID: "o-new", Text: "/start", ReceivedAt: at}},
				{"subscribe by QR code", subscribeScene, &flows.Update{Channel: wc, UpdateID: "evt:o-new:" + ct + ":subscribe", ChatID: "o-new", UserID: "o-new", Text: "/start Lk3-TOKEN_x", ReceivedAt: at}},
				{"follower scans a QR code", scan, &flows.Update{Channel: wc, UpdateID: "evt:" + openID + ":" + ct + ":scan", ChatID: openID, UserID: openID, Text: "/start Lk3-TOKEN_x", ReceivedAt: at}},
				{"unsubscribe", unsubscribe, &flows.Update{Channel: wc, UpdateID: "evt:" + openID + ":" + ct + ":unsubscribe", ChatID: openID, UserID: openID, Blocked: true, ReceivedAt: at}},
				{"image", image, &flows.Update{Channel: wc, UpdateID: msgID(image), ChatID: openID, UserID: openID, PhotoID: "http://mmbiz.qpic.cn/fake/media-1/0", ReceivedAt: at}},
				{"menu click", in.Event(openID, "CLICK", "V1001_HELP"), nil},
				{"location report", in.Event(openID, "LOCATION", ""), nil},
				{"voice", in.Raw("<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[" + openID + "]]></FromUserName><CreateTime>" + ct +
					"</CreateTime><MsgType><![CDATA[voice]]></MsgType><MediaId><![CDATA[m]]></MediaId><Format><![CDATA[amr]]></Format><MsgId>1</MsgId></xml>"), nil},
			}
			for _, c := range cases {
				before := len(rec.snapshot())
				status, body, err := in.Deliver(ctx, url, c.in)
				if err != nil || status != http.StatusOK || body != "success" {
					t.Errorf("%s: %d %q %v", c.name, status, body, err)
					continue
				}
				calls := rec.snapshot()[before:]
				switch {
				case c.want == nil && len(calls) != 0:
					t.Errorf("%s: handler got %+v, want it ignored", c.name, calls)
				case c.want == nil:
				case len(calls) != 1:
					t.Errorf("%s: %d handler calls", c.name, len(calls))
				default:
					if err := sameUpdate(calls[0], *c.want); err != nil {
						t.Errorf("%s: %v", c.name, err)
					}
				}
			}
		})
	}
}

func TestWebhookRetriesCarryTheSameUpdateID(t *testing.T) {
	e := setup(t, func(c *Config) { c.AESKey = aesKey })
	ctx := testCtx(t)
	rec := &recorder{fail: errBoom}
	url := webhookServer(t, e.a, rec)
	in := inbound(e, wechattest.Safe)

	// WeChat retries a push with the same body; the query is signed anew.
	for _, push := range []wechattest.Request{in.Text(openID, "7"), in.Subscribe(openID, "tok")} {
		for range 3 {
			retry := in.Raw(push.XML)
			if status, _, _ := in.Deliver(ctx, url, retry); status != http.StatusInternalServerError {
				t.Fatalf("status %d", status)
			}
		}
	}
	calls := rec.snapshot()
	if len(calls) != 6 || calls[0].UpdateID != calls[2].UpdateID || calls[3].UpdateID != calls[5].UpdateID || calls[0].UpdateID == calls[3].UpdateID {
		t.Fatalf("update ids %v", calls)
	}
}
