package wechattest

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/cache"
	"github.com/silenceper/wechat/v2/officialaccount"
	"github.com/silenceper/wechat/v2/officialaccount/config"
	"github.com/silenceper/wechat/v2/officialaccount/message"
	"github.com/silenceper/wechat/v2/util"
)

const (
	appID     = "wx1234567890abcdef"
	appSecret = "s3cret"
	token     = "tok3n"
	aesKey    = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

// call posts (or, with body nil, gets) path and decodes the JSON answer.
func call(t *testing.T, s *Server, path string, query url.Values, body any) map[string]any {
	t.Helper()
	method, reader := http.MethodGet, io.Reader(nil)
	if body != nil {
		b, _ := json.Marshal(body)
		method, reader = http.MethodPost, bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.URL()+path+"?"+query.Encode(), reader)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: HTTP %d", path, resp.StatusCode)
	}
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func errcode(m map[string]any) int {
	n, _ := m["errcode"].(float64)
	return int(n)
}

func stableToken(t *testing.T, s *Server, force bool) (string, int) {
	t.Helper()
	m := call(t, s, PathStableToken, nil, map[string]any{"grant_type": "client_credential", "appid": appID, "secret": appSecret, "force_refresh": force})
	tok, _ := m["access_token"].(string)
	if tok == "" {
		t.Fatalf("no token: %v", m)
	}
	return tok, int(m["expires_in"].(float64))
}

func text(tok, openID, content string) (url.Values, map[string]any) {
	return url.Values{"access_token": {tok}}, map[string]any{"touser": openID, "msgtype": "text", "text": map[string]string{"content": content}}
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestTokens(t *testing.T) {
	clk := &testClock{t: time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)}
	s := New(appID, appSecret, WithClock(clk.now))
	defer s.Close()

	for _, c := range []struct {
		body any
		code int
	}{
		{map[string]any{"grant_type": "client_credential", "appid": "wx-other", "secret": appSecret}, CodeInvalidAppID},
		{map[string]any{"grant_type": "client_credential", "appid": appID, "secret": "nope"}, CodeInvalidAppSecret},
		{map[string]any{"grant_type": "password", "appid": appID, "secret": appSecret}, 40002},
	} {
		if m := call(t, s, PathStableToken, nil, c.body); errcode(m) != c.code || !strings.Contains(m["errmsg"].(string), "rid: ") {
			t.Errorf("%v: %v, want %d", c.body, m, c.code)
		}
	}

	// Stable: the same token for everyone until it expires.
	first, ttl := stableToken(t, s, false)
	clk.advance(time.Hour)
	again, left := stableToken(t, s, false)
	if again != first || ttl != 7200 || left != 3600 {
		t.Fatalf("stable token %s (%ds) then %s (%ds)", first, ttl, again, left)
	}
	q, body := text(first, "o1", "hi")
	if m := call(t, s, PathCustomSend, q, body); errcode(m) != 0 {
		t.Fatalf("send: %v", m)
	}
	clk.advance(time.Hour)
	if m := call(t, s, PathCustomSend, q, body); errcode(m) != CodeTokenExpired {
		t.Fatalf("expired token: %v", m)
	}
	second, _ := stableToken(t, s, false)
	if second == first {
		t.Fatal("an expired stable token was handed out again")
	}
	// force_refresh: new token, the old one dies at once.
	third, _ := stableToken(t, s, true)
	q2, _ := text(second, "o1", "hi")
	if m := call(t, s, PathCustomSend, q2, body); third == second || errcode(m) != CodeInvalidCredential {
		t.Fatalf("after force_refresh: %v", m)
	}

	// Classic: a new token each call; the previous works five minutes more.
	classic := func() string {
		m := call(t, s, PathToken, url.Values{"grant_type": {"client_credential"}, "appid": {appID}, "secret": {appSecret}}, nil)
		return m["access_token"].(string)
	}
	c1, c2 := classic(), classic()
	q1, _ := text(c1, "o1", "hi")
	if m := call(t, s, PathCustomSend, q1, body); c1 == c2 || errcode(m) != 0 {
		t.Fatalf("old classic token within the grace: %v", m)
	}
	clk.advance(5 * time.Minute)
	if m := call(t, s, PathCustomSend, q1, body); errcode(m) != CodeTokenExpired {
		t.Fatalf("old classic token after the grace: %v", m)
	}

	if m := call(t, s, PathCustomSend, nil, body); errcode(m) != CodeTokenMissing {
		t.Fatalf("no token: %v", m)
	}
	s.RevokeTokens()
	q3, _ := text(third, "o1", "hi")
	if m := call(t, s, PathCustomSend, q3, body); errcode(m) != CodeInvalidCredential {
		t.Fatalf("revoked: %v", m)
	}
	if got := s.TokenCalls(); got != 9 {
		t.Fatalf("token calls %d", got)
	}
}

func TestSendsAndFaults(t *testing.T) {
	s := New(appID, appSecret)
	defer s.Close()
	tok, _ := stableToken(t, s, false)
	q := url.Values{"access_token": {tok}}

	menu := map[string]any{"touser": "o1", "msgtype": "msgmenu", "msgmenu": map[string]any{
		"head_content": "满意吗？", "tail_content": "欢迎再次光临",
		"list": []map[string]string{{"id": "101", "content": "满意"}, {"id": "102", "content": "不满意"}},
	}}
	if m := call(t, s, PathCustomSend, q, menu); errcode(m) != 0 {
		t.Fatal(m)
	}
	tpl := map[string]any{"touser": "o1", "template_id": "T1", "url": "https://x.example/?a=1&b=2",
		"data": map[string]any{"first": map[string]string{"value": "你好", "color": "#173177"}}}
	m := call(t, s, PathTemplateSend, q, tpl)
	if errcode(m) != 0 || m["msgid"] == nil {
		t.Fatal(m)
	}
	sent := s.Sent("o1")
	if len(sent) != 2 || sent[0].Kind != "msgmenu" || sent[0].HeadContent != "满意吗？" || sent[0].TailContent != "欢迎再次光临" ||
		len(sent[0].Menu) != 2 || sent[0].Menu[1] != (MenuItem{ID: "102", Content: "不满意"}) {
		t.Fatalf("msgmenu %+v", sent)
	}
	if m := sent[1]; m.Kind != "template" || m.TemplateID != "T1" || m.URL != "https://x.example/?a=1&b=2" || m.TemplateData["first"] != "你好" ||
		float64(m.MsgID) != call(t, s, PathTemplateSend, q, tpl)["msgid"].(float64)-1 {
		t.Fatalf("template %+v", m)
	}

	for name, c := range map[string]struct {
		path string
		body any
		code int
	}{
		"empty text":      {PathCustomSend, map[string]any{"touser": "o1", "msgtype": "text", "text": map[string]string{"content": " "}}, CodeEmptyContent},
		"unknown type":    {PathCustomSend, map[string]any{"touser": "o1", "msgtype": "hologram"}, CodeInvalidMsgType},
		"empty menu":      {PathCustomSend, map[string]any{"touser": "o1", "msgtype": "msgmenu", "msgmenu": map[string]any{"list": []any{}}}, CodeDataFormat},
		"item without id": {PathCustomSend, map[string]any{"touser": "o1", "msgtype": "msgmenu", "msgmenu": map[string]any{"list": []map[string]string{{"content": "x"}}}}, CodeDataFormat},
		"no touser":       {PathCustomSend, map[string]any{"msgtype": "text", "text": map[string]string{"content": "x"}}, CodeInvalidOpenID},
		"no template":     {PathTemplateSend, map[string]any{"touser": "o1"}, CodeInvalidTemplateID},
		"not JSON":        {PathCustomSend, "not an object", CodeDataFormat},
	} {
		if m := call(t, s, c.path, q, c.body); errcode(m) != c.code {
			t.Errorf("%s: %v, want %d", name, m, c.code)
		}
	}

	// Faults: per user, once each, in order, before the token check.
	s.FailNext(PathCustomSend, "o2", CodeResponseOutOfTime, "")
	s.FailNext(PathCustomSend, "", CodeSystemBusy, "custom message")
	_, hi := text(tok, "o1", "hi")
	if m := call(t, s, PathCustomSend, q, hi); errcode(m) != CodeSystemBusy || !strings.HasPrefix(m["errmsg"].(string), "custom message rid: ") {
		t.Fatalf("any-user fault: %v", m)
	}
	_, hi2 := text(tok, "o2", "hi")
	if m := call(t, s, PathCustomSend, url.Values{"access_token": {"stale"}}, hi2); errcode(m) != CodeResponseOutOfTime {
		t.Fatalf("o2 fault: %v", m)
	}
	if m := call(t, s, PathCustomSend, q, hi2); errcode(m) != 0 {
		t.Fatalf("faults used up: %v", m)
	}

	s.Unfollow("o3")
	_, hi3 := text(tok, "o3", "hi")
	if m := call(t, s, PathCustomSend, q, hi3); errcode(m) != CodeRequireSubscribe {
		t.Fatalf("unfollowed: %v", m)
	}
	s.Follow("o3")
	if m := call(t, s, PathCustomSend, q, hi3); errcode(m) != 0 {
		t.Fatalf("followed again: %v", m)
	}
	if got := len(s.AllSent()); got != 5 {
		t.Fatalf("%d messages", got)
	}
}

func TestWaitSent(t *testing.T) {
	s := New(appID, appSecret)
	defer s.Close()
	tok, _ := stableToken(t, s, false)
	go func() {
		for range 3 {
			q, body := text(tok, "o1", "hi")
			b, _ := json.Marshal(body)
			resp, err := http.Post(s.URL()+PathCustomSend+"?"+q.Encode(), "application/json", bytes.NewReader(b))
			if err == nil {
				resp.Body.Close()
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if sent, err := s.WaitSent(ctx, "o1", 3); err != nil || len(sent) != 3 {
		t.Fatalf("%d, %v", len(sent), err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if _, err := s.WaitSent(short, "o1", 4); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
}

// TestSDKClientsWorkWithTheFake points the SDK's own senders at the fake
// through its process-global URI modifier (this test binary only).
func TestSDKClientsWorkWithTheFake(t *testing.T) {
	s := New(appID, appSecret)
	defer s.Close()
	util.SetURIModifier(func(uri string) string { return strings.Replace(uri, "https://api.weixin.qq.com", s.URL(), 1) })
	t.Cleanup(func() { util.SetURIModifier(nil) })

	for _, stable := range []bool{true, false} {
		oa := officialaccount.NewOfficialAccount(&config.Config{AppID: appID, AppSecret: appSecret, Cache: cache.NewMemory(), UseStableAK: stable})
		mgr := oa.GetCustomerMessageManager()
		if err := mgr.Send(message.NewCustomerTextMessage("o1", "hello")); err != nil {
			t.Fatal(err)
		}
		menu := &message.CustomerMessage{ToUser: "o1", Msgtype: "msgmenu", Msgmenu: &message.MediaMsgmenu{
			HeadContent: "满意吗？", List: []message.MsgmenuItem{{ID: "101", Content: "满意"}}, TailContent: "谢谢"}}
		if err := mgr.Send(menu); err != nil {
			t.Fatal(err)
		}
		if _, err := oa.GetTemplate().Send(&message.TemplateMessage{ToUser: "o1", TemplateID: "T1",
			Data: map[string]*message.TemplateDataItem{"k": {Value: "v"}}}); err != nil {
			t.Fatal(err)
		}
	}
	sent := s.Sent("o1")
	if len(sent) != 6 || sent[1].Menu[0].ID != "101" || sent[2].TemplateData["k"] != "v" {
		t.Fatalf("sent %+v", sent)
	}
	if s.Calls(PathStableToken) != 1 || s.Calls(PathToken) != 1 {
		t.Fatalf("token calls: stable %d, classic %d", s.Calls(PathStableToken), s.Calls(PathToken))
	}
}

// TestSDKServerAcceptsInbound runs the SDK's own server on the pushes
// Inbound builds, in every mode: independent signatures and encryption
// checked against the SDK's.
func TestSDKServerAcceptsInbound(t *testing.T) {
	for _, mode := range []Mode{Plaintext, Compatible, Safe} {
		t.Run(mode.String(), func(t *testing.T) {
			in := NewInbound(token, appID, aesKey, mode)
			oa := officialaccount.NewOfficialAccount(&config.Config{AppID: appID, AppSecret: appSecret, Token: token, EncodingAESKey: aesKey, Cache: cache.NewMemory()})
			var got []*message.MixMessage
			hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				srv := oa.GetServer(r, w)
				srv.SetMessageHandler(func(m *message.MixMessage) *message.Reply {
					got = append(got, m)
					return nil
				})
				if err := srv.Serve(); err != nil {
					http.Error(w, err.Error(), http.StatusForbidden)
				}
			}))
			defer hook.Close()
			ctx := context.Background()

			text := in.Text("o1", "你好 ]]> 👋")
			pushes := []Request{text, in.MenuTap("o1", "101", "满意"), in.Subscribe("o2", "tok"), in.Scan("o1", "tok2"), in.Unsubscribe("o1")}
			for _, p := range pushes {
				if status, body, err := in.Deliver(ctx, hook.URL, p); err != nil || status != http.StatusOK {
					t.Fatalf("%s: %d %q %v", p.XML, status, body, err)
				}
			}
			if status, _, _ := in.Deliver(ctx, hook.URL, text.With("signature", "bad")); status != http.StatusForbidden {
				t.Fatalf("forged signature: %d", status)
			}
			if mode != Plaintext {
				if status, _, _ := in.Deliver(ctx, hook.URL, text.With("msg_signature", "bad")); status != http.StatusForbidden {
					t.Fatalf("forged msg_signature: %d", status)
				}
			}
			if status, body, _ := in.Deliver(ctx, hook.URL, in.Verify("echo-42")); status != http.StatusOK || body != "echo-42" {
				t.Fatalf("verify: %d %q", status, body)
			}

			if len(got) != len(pushes) {
				t.Fatalf("SDK handled %d of %d", len(got), len(pushes))
			}
			if m := got[0]; m.Content != "你好 ]]> 👋" || m.MsgID != text.MsgID || string(m.FromUserName) != "o1" || m.CreateTime != text.CreateTime {
				t.Errorf("text %+v", m)
			}
			if m := got[1]; m.BizMsgMenuID != 101 || m.Content != "满意" || m.MsgID == text.MsgID {
				t.Errorf("menu tap %+v", m)
			}
			if m := got[2]; m.Event != message.EventSubscribe || m.EventKey != "qrscene_tok" || m.Ticket == "" || m.MsgID != 0 {
				t.Errorf("subscribe %+v", m)
			}
			if m := got[3]; m.Event != message.EventScan || m.EventKey != "tok2" {
				t.Errorf("scan %+v", m)
			}
			if m := got[4]; m.Event != message.EventUnsubscribe || m.EventKey != "" {
				t.Errorf("unsubscribe %+v", m)
			}
		})
	}
}

func TestInboundBodies(t *testing.T) {
	at := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	for _, mode := range []Mode{Plaintext, Compatible, Safe} {
		in := NewInbound(token, appID, aesKey, mode, WithInboundClock(func() time.Time { return at }), WithAccount("gh_abc"))
		r := in.Text("o1", "hi")
		q := r.Query
		if q.Get("signature") != Signature(token, q.Get("timestamp"), q.Get("nonce")) || q.Get("openid") != "o1" || q.Get("timestamp") != "1741942800" {
			t.Errorf("%s: query %v", mode, q)
		}
		var env struct {
			ToUserName, FromUserName, MsgType, Content, Encrypt string
		}
		if err := xml.Unmarshal([]byte(r.Body), &env); err != nil {
			t.Fatalf("%s: %v\n%s", mode, err, r.Body)
		}
		switch mode {
		case Plaintext:
			if r.Body != r.XML || q.Has("encrypt_type") || q.Has("msg_signature") || env.Encrypt != "" {
				t.Errorf("plaintext: %v %s", q, r.Body)
			}
		case Compatible, Safe:
			if q.Get("encrypt_type") != "aes" || q.Get("msg_signature") != Signature(token, q.Get("timestamp"), q.Get("nonce"), env.Encrypt) {
				t.Errorf("%s: query %v", mode, q)
			}
			msg, app, random, err := Decrypt(aesKey, env.Encrypt)
			if err != nil || string(msg) != r.XML || app != appID || len(random) != 16 {
				t.Errorf("%s: decrypt %v %q %q", mode, err, msg, app)
			}
			plainFields := env.FromUserName == "o1" && env.MsgType == "text" && env.Content == "hi"
			if env.ToUserName != "gh_abc" || plainFields != (mode == Compatible) {
				t.Errorf("%s: body %s", mode, r.Body)
			}
		}
		// Restamp signs the same push for another timestamp and nonce, the
		// way WeChat would have (checked with the SDK's signature).
		re := in.Restamp(r, "1", "42")
		if re.Body != r.Body || re.Query.Get("timestamp") != "1" || re.Query.Get("nonce") != "42" ||
			re.Query.Get("signature") != util.Signature(token, "1", "42") {
			t.Errorf("%s: restamped %v", mode, re.Query)
		}
		if mode != Plaintext && re.Query.Get("msg_signature") != util.Signature(token, "1", "42", env.Encrypt) {
			t.Errorf("%s: restamped msg_signature %v", mode, re.Query)
		}
		if r.Query.Get("timestamp") == "1" {
			t.Errorf("%s: Restamp changed the original", mode)
		}
		// Every push gets a fresh nonce and every message a fresh MsgId.
		r2 := in.Text("o1", "hi")
		if r2.MsgID == r.MsgID || r2.Query.Get("nonce") == q.Get("nonce") {
			t.Errorf("%s: repeated MsgId or nonce", mode)
		}
	}
	if r := NewInbound(token, appID, "", Plaintext).Event("o1", "CLICK", "K"); r.MsgID != 0 || !strings.Contains(r.XML, "<EventKey><![CDATA[K]]></EventKey>") {
		t.Errorf("event %+v", r)
	}
	defer func() {
		if recover() == nil {
			t.Error("a malformed EncodingAESKey did not panic")
		}
	}()
	NewInbound(token, appID, "short", Safe)
}

func TestDecryptRejectsDamage(t *testing.T) {
	enc, err := Encrypt(aesKey, appID, []byte("0123456789abcdef"), []byte("<xml/>"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := Decrypt(aesKey, enc); err != nil {
		t.Fatal(err)
	}
	damaged := []byte(enc)
	damaged[len(damaged)-5] ^= 1 // last block: padding goes wrong
	for name, c := range map[string]string{
		"damaged":   string(damaged),
		"not b64":   "%%%",
		"short":     "AAAA",
		"other key": mustEncryptWith(t, "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"),
	} {
		if msg, _, _, err := Decrypt(aesKey, c); err == nil && string(msg) == "<xml/>" {
			t.Errorf("%s: decrypted", name)
		}
	}
	if _, err := Encrypt(aesKey, appID, []byte("short"), nil); err == nil {
		t.Error("a short random prefix was accepted")
	}
}

func mustEncryptWith(t *testing.T, key string) string {
	t.Helper()
	enc, err := Encrypt(key, appID, []byte("0123456789abcdef"), []byte("<xml/>"))
	if err != nil {
		t.Fatal(err)
	}
	return enc
}
