package wechat

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/bot/wechat/wechattest"
	"github.com/cxbot/cxbot/flows"
)

func TestNewValidatesConfig(t *testing.T) {
	kv := newMemKV(time.Now)
	base := Config{AppID: appID, AppSecret: appSecret, Token: token, DecodeTap: testDecodeTap, Cache: kv, Nonces: kv}
	cases := map[string]func(*Config){
		"AppID":     func(c *Config) { c.AppID = " " },
		"AppSecret": func(c *Config) { c.AppSecret = "" },
		"Token":     func(c *Config) { c.Token = "" },
		"AESKey":    func(c *Config) { c.AESKey = "too-short" },
		"DecodeTap": func(c *Config) { c.DecodeTap = nil },
		"Cache":     func(c *Config) { c.Cache = nil },
		"Nonces":    func(c *Config) { c.Nonces = nil },
	}
	for want, edit := range cases {
		cfg := base
		edit(&cfg)
		_, err := New(cfg, nil)
		if !errors.Is(err, flows.ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
	badBase64 := base
	badBase64.AESKey = strings.Repeat("*", 43)
	if _, err := New(badBase64, nil); !errors.Is(err, flows.ErrInvalid) {
		t.Errorf("AESKey not base64: got %v", err)
	}
	for _, key := range []string{"", aesKey} {
		cfg := base
		cfg.AESKey = key
		if a, err := New(cfg, nil); err != nil || a.Name() != flows.ChannelWeChat {
			t.Fatalf("valid config (AESKey %q): %v", key, err)
		}
	}
}

func buttons(labels ...string) []flows.Button {
	out := make([]flows.Button, len(labels))
	for i, l := range labels {
		out[i] = flows.Button{Label: l, Data: "a:7:q1:" + strings.ToLower(strings.ReplaceAll(l, " ", "-"))}
	}
	return out
}

func TestSendText(t *testing.T) {
	e := setup(t, nil)
	ctx := testCtx(t)
	id, err := e.a.Send(ctx, openID, flows.Message{Text: "谢谢您的反馈！<3 & more"})
	if err != nil || id != 0 {
		t.Fatalf("id %d, err %v", id, err)
	}
	sent := e.fake.Sent(openID)
	if len(sent) != 1 || sent[0].Kind != "text" || sent[0].Text != "谢谢您的反馈！<3 & more" || sent[0].Menu != nil {
		t.Fatalf("sent %+v", sent)
	}
}

func TestSendMenu(t *testing.T) {
	e := setup(t, nil)
	ctx := testCtx(t)

	csat := [][]flows.Button{buttons("1", "2", "3"), buttons("4", "5")}
	if _, err := e.a.Send(ctx, openID, flows.Message{Text: "您对本次服务满意吗？", Keyboard: csat, QuestionID: "q1"}); err != nil {
		t.Fatal(err)
	}
	choice := [][]flows.Button{buttons("Delivery")[:1], buttons("Price")[:1], buttons("Something else")[:1]}
	if _, err := e.a.Send(ctx, openID, flows.Message{Text: "What went wrong?", Keyboard: choice}); err != nil {
		t.Fatal(err)
	}

	sent := e.fake.Sent(openID)
	if len(sent) != 2 {
		t.Fatalf("sent %+v", sent)
	}
	m := sent[0]
	if m.Kind != "msgmenu" || m.HeadContent != "您对本次服务满意吗？" || m.TailContent != "（也可以直接回复数字）" {
		t.Fatalf("msgmenu %+v", m)
	}
	want := []wechattest.MenuItem{{ID: "a:7:q1:1", Content: "1"}, {ID: "a:7:q1:2", Content: "2"}, {ID: "a:7:q1:3", Content: "3"}, {ID: "a:7:q1:4", Content: "4"}, {ID: "a:7:q1:5", Content: "5"}}
	if len(m.Menu) != len(want) {
		t.Fatalf("menu %+v", m.Menu)
	}
	for i := range want {
		if m.Menu[i] != want[i] {
			t.Fatalf("item %d: %+v, want %+v", i, m.Menu[i], want[i])
		}
	}
	if m := sent[1]; m.Kind != "msgmenu" || len(m.Menu) != 3 || m.Menu[2].Content != "Something else" ||
		m.Menu[2].ID != "a:7:q1:something-else" || m.TailContent != "（也可以直接回复选项）" {
		t.Fatalf("choice msgmenu %+v", m)
	}
}

func TestSendFallsBackToText(t *testing.T) {
	e := setup(t, nil)
	ctx := testCtx(t)

	// An NPS keyboard has eleven buttons: too many for a msgmenu.
	nps := [][]flows.Button{buttons("0", "1", "2", "3", "4", "5"), buttons("6", "7", "8", "9", "10")}
	if _, err := e.a.Send(ctx, openID, flows.Message{Text: "您有多大可能向朋友推荐我们？", Keyboard: nps}); err != nil {
		t.Fatal(err)
	}
	if got := e.fake.Calls(wechattest.PathCustomSend); got != 1 {
		t.Fatalf("%d custom sends, want 1 (no msgmenu attempt)", got)
	}
	m := e.fake.Sent(openID)[0]
	if want := "您有多大可能向朋友推荐我们？\n\n0  1  2  3  4  5  6  7  8  9  10\n（请回复数字）"; m.Kind != "text" || m.Text != want {
		t.Fatalf("got %s %q\nwant %q", m.Kind, m.Text, want)
	}

	// WeChat refusing the menu itself: the options go as text.
	e.fake.FailNext(wechattest.PathCustomSend, openID, wechattest.CodeInvalidMsgType, "")
	choice := [][]flows.Button{buttons("Delivery", "Price")}
	if _, err := e.a.Send(ctx, openID, flows.Message{Text: "What went wrong?", Keyboard: choice}); err != nil {
		t.Fatal(err)
	}
	if got := e.fake.Calls(wechattest.PathCustomSend); got != 3 {
		t.Fatalf("%d custom sends, want 3", got)
	}
	m = e.fake.Sent(openID)[1]
	if want := "What went wrong?\n\n1. Delivery\n2. Price\n（请回复选项前的数字）"; m.Kind != "text" || m.Text != want {
		t.Fatalf("got %s %q\nwant %q", m.Kind, m.Text, want)
	}

	// Outside the window the text would fail too: no second try.
	e.fake.FailNext(wechattest.PathCustomSend, openID, wechattest.CodeResponseOutOfTime, "")
	if _, err := e.a.Send(ctx, openID, flows.Message{Text: "q", Keyboard: choice}); !errors.Is(err, ErrOutsideWindow) {
		t.Fatalf("got %v", err)
	}
	if got := e.fake.Calls(wechattest.PathCustomSend); got != 4 {
		t.Fatalf("%d custom sends, want 4", got)
	}
}

func TestSendErrors(t *testing.T) {
	e := setup(t, nil)
	ctx := testCtx(t)
	msg := flows.Message{Text: "hi"}

	cases := []struct {
		code  int
		check func(error) bool
	}{
		{wechattest.CodeResponseOutOfTime, func(err error) bool { return errors.Is(err, ErrOutsideWindow) }},
		{wechattest.CodeCustomerQuota, func(err error) bool { return errors.Is(err, ErrOutsideWindow) }},
		{wechattest.CodeRequireSubscribe, func(err error) bool { return errors.Is(err, bot.ErrBlocked) }},
		{wechattest.CodeInBlacklist, func(err error) bool { return errors.Is(err, bot.ErrBlocked) }},
		{wechattest.CodeAPIQuota, func(err error) bool {
			var rl *bot.RateLimitedError
			return errors.As(err, &rl) && rl.RetryAfter == time.Second
		}},
		{wechattest.CodeAPIFrequency, func(err error) bool {
			var rl *bot.RateLimitedError
			return errors.As(err, &rl) && rl.RetryAfter == time.Second
		}},
		{wechattest.CodeSystemBusy, func(err error) bool { return errors.Is(err, flows.ErrUnavailable) }},
		{wechattest.CodeInvalidOpenID, func(err error) bool { return errors.Is(err, flows.ErrInvalid) }},
	}
	for _, c := range cases {
		e.fake.FailNext(wechattest.PathCustomSend, openID, c.code, "")
		_, err := e.a.Send(ctx, openID, msg)
		var apiErr *APIError
		if !c.check(err) || !errors.As(err, &apiErr) || apiErr.Code != c.code || apiErr.Msg == "" {
			t.Errorf("errcode %d: got %v", c.code, err)
		}
		if err != nil && !strings.Contains(err.Error(), strconv.Itoa(c.code)) {
			t.Errorf("errcode %d: the error does not say it: %v", c.code, err)
		}
	}

	e.fake.Unfollow("o-gone")
	if _, err := e.a.Send(ctx, "o-gone", msg); !errors.Is(err, bot.ErrBlocked) {
		t.Errorf("unfollowed: got %v", err)
	}

	calls := e.fake.Calls(wechattest.PathCustomSend)
	for _, bad := range []struct {
		openID string
		msg    flows.Message
	}{
		{"", msg},
		{openID, flows.Message{Text: "  "}},
		{openID, flows.Message{Text: "q", Keyboard: [][]flows.Button{{{Label: "", Data: "a:1:q:v"}}}}},
		{openID, flows.Message{Text: "q", Keyboard: [][]flows.Button{{{Label: "x", Data: ""}}}}},
	} {
		if _, err := e.a.Send(ctx, bad.openID, bad.msg); !errors.Is(err, flows.ErrInvalid) {
			t.Errorf("Send(%q, %+v): got %v, want ErrInvalid", bad.openID, bad.msg, err)
		}
	}
	if e.fake.Calls(wechattest.PathCustomSend) != calls {
		t.Error("invalid input reached WeChat")
	}

	e.fake.Close()
	_, err := e.a.Send(ctx, openID, msg)
	if !errors.Is(err, flows.ErrUnavailable) {
		t.Errorf("server down: got %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "access_token=") {
		t.Errorf("the error quotes the access token: %v", err)
	}
}

func TestTokenRejectedIsRefreshedAndRetriedOnce(t *testing.T) {
	e := setup(t, nil)
	ctx := testCtx(t)
	if _, err := e.a.Send(ctx, openID, flows.Message{Text: "one"}); err != nil {
		t.Fatal(err)
	}

	// Someone else force-refreshed: the cached token is dead (40001).
	e.fake.RevokeTokens()
	if _, err := e.a.Send(ctx, openID, flows.Message{Text: "two"}); err != nil {
		t.Fatal(err)
	}
	if got := e.fake.TokenCalls(); got != 2 {
		t.Errorf("token calls %d, want 2", got)
	}
	if got := e.fake.Calls(wechattest.PathCustomSend); got != 3 {
		t.Errorf("custom sends %d, want 3 (one, two refused, two again)", got)
	}

	// The token expired at WeChat before the cache noticed (42001).
	e.fake.FailNext(wechattest.PathCustomSend, openID, wechattest.CodeTokenExpired, "")
	if _, err := e.a.Send(ctx, openID, flows.Message{Text: "three"}); err != nil {
		t.Fatal(err)
	}

	// Refused again after the refresh: give up after one retry.
	e.fake.FailNext(wechattest.PathCustomSend, openID, wechattest.CodeInvalidCredential, "")
	e.fake.FailNext(wechattest.PathCustomSend, openID, wechattest.CodeInvalidCredential, "")
	before := e.fake.Calls(wechattest.PathCustomSend)
	_, err := e.a.Send(ctx, openID, flows.Message{Text: "four"})
	if !errors.Is(err, flows.ErrUnavailable) {
		t.Fatalf("got %v", err)
	}
	if got := e.fake.Calls(wechattest.PathCustomSend) - before; got != 2 {
		t.Errorf("%d calls, want 2", got)
	}
	var texts []string
	for _, m := range e.fake.Sent(openID) {
		texts = append(texts, m.Text)
	}
	if strings.Join(texts, ",") != "one,two,three" {
		t.Errorf("sent %v", texts)
	}
}

func TestTokenSharedByReplicasAndRefreshedAfterExpiry(t *testing.T) {
	e := setup(t, nil)
	ctx := testCtx(t)
	replica := e.another(t)

	if _, err := e.a.Send(ctx, openID, flows.Message{Text: "from one replica"}); err != nil {
		t.Fatal(err)
	}
	if err := replica.SendTemplate(ctx, openID, "tpl", "", nil); err != nil {
		t.Fatal(err)
	}
	if got := e.fake.TokenCalls(); got != 1 {
		t.Fatalf("token calls %d, want 1 shared by both replicas", got)
	}

	// Tokens live 2h; the cache lets them go 5 minutes early. WeChat then
	// hands out the same stable token for its last minutes, then a new one.
	e.clock.Advance(115*time.Minute + time.Second)
	if _, err := replica.Send(ctx, openID, flows.Message{Text: "later"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.Send(ctx, openID, flows.Message{Text: "later too"}); err != nil {
		t.Fatal(err)
	}
	if got := e.fake.TokenCalls(); got != 2 {
		t.Fatalf("token calls %d, want 2", got)
	}
	e.clock.Advance(5 * time.Minute)
	if _, err := e.a.Send(ctx, openID, flows.Message{Text: "after the old token died"}); err != nil {
		t.Fatal(err)
	}
	if got, sent := e.fake.TokenCalls(), len(e.fake.Sent(openID)); got != 3 || sent != 5 {
		t.Fatalf("token calls %d, want 3; %d messages, want 5", got, sent)
	}
}

func TestConcurrentSendsFetchOneToken(t *testing.T) {
	e := setup(t, nil)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			_, err := e.a.Send(ctx, openID, flows.Message{Text: "hello " + strconv.Itoa(i)})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, sent := e.fake.TokenCalls(), len(e.fake.Sent(openID)); got != 1 || sent != 20 {
		t.Fatalf("token calls %d, want 1; %d messages", got, sent)
	}
}

func TestTokenExpiryHoldsWhenTheStoreKeepsKeys(t *testing.T) {
	e := setup(t, nil)
	ctx := testCtx(t)
	if _, err := e.a.Send(ctx, openID, flows.Message{Text: "one"}); err != nil {
		t.Fatal(err)
	}
	// A store whose TTLs lag (an embedded Redis without real-time expiry).
	e.kv.mu.Lock()
	for k, v := range e.kv.m {
		v.expires = v.expires.Add(24 * time.Hour)
		e.kv.m[k] = v
	}
	e.kv.mu.Unlock()
	e.clock.Advance(2 * time.Hour)
	if _, err := e.a.Send(ctx, openID, flows.Message{Text: "two"}); err != nil {
		t.Fatal(err)
	}
	if got := e.fake.TokenCalls(); got != 2 {
		t.Fatalf("token calls %d, want 2", got)
	}
	if got := e.fake.Calls(wechattest.PathCustomSend); got != 2 {
		t.Fatalf("custom sends %d, want 2 (the dead token was not tried)", got)
	}
}

func TestTokenErrors(t *testing.T) {
	ctx := testCtx(t)

	e := setup(t, func(c *Config) { c.AppSecret = "wrong" })
	_, err := e.a.Send(ctx, openID, flows.Message{Text: "hi"})
	var apiErr *APIError
	if !errors.Is(err, flows.ErrInvalid) || !errors.As(err, &apiErr) || apiErr.Code != wechattest.CodeInvalidAppSecret {
		t.Fatalf("wrong secret: got %v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("the error quotes the secret: %v", err)
	}

	e = setup(t, nil)
	e.fake.FailNext(wechattest.PathStableToken, "", wechattest.CodeSystemBusy, "")
	if _, err := e.a.Send(ctx, openID, flows.Message{Text: "hi"}); !errors.Is(err, flows.ErrUnavailable) {
		t.Fatalf("token endpoint busy: got %v", err)
	}
	if _, err := e.a.Send(ctx, openID, flows.Message{Text: "hi"}); err != nil {
		t.Fatalf("after the fault: %v", err)
	}

	e.kv.setFail(errBoom)
	if _, err := e.a.Send(ctx, openID, flows.Message{Text: "hi"}); !errors.Is(err, flows.ErrUnavailable) || !errors.Is(err, errBoom) {
		t.Fatalf("cache down: got %v", err)
	}
	if got := e.fake.Calls(wechattest.PathCustomSend); got != 1 {
		t.Fatalf("custom sends %d, want 1", got)
	}
}

func TestSendTemplate(t *testing.T) {
	e := setup(t, nil)
	ctx := testCtx(t)
	data := map[string]string{"first": "请为我们的服务打分", "keyword1": "订单 1001", "remark": "点击参与 & 获得积分"}
	url := "https://cx.example.com/s?t=abc&lang=zh-CN"
	if err := e.a.SendTemplate(ctx, openID, "TPL-survey-1", url, data); err != nil {
		t.Fatal(err)
	}
	sent := e.fake.Sent(openID)
	if len(sent) != 1 {
		t.Fatalf("sent %+v", sent)
	}
	m := sent[0]
	if m.Kind != "template" || m.TemplateID != "TPL-survey-1" || m.URL != url || len(m.TemplateData) != 3 {
		t.Fatalf("template %+v", m)
	}
	for k, v := range data {
		if m.TemplateData[k] != v {
			t.Fatalf("data %q = %q, want %q", k, m.TemplateData[k], v)
		}
	}

	e.fake.FailNext(wechattest.PathTemplateSend, openID, wechattest.CodeRequireSubscribe, "")
	if err := e.a.SendTemplate(ctx, openID, "TPL-survey-1", "", nil); !errors.Is(err, bot.ErrBlocked) {
		t.Errorf("43004: got %v", err)
	}
	e.fake.FailNext(wechattest.PathTemplateSend, "", wechattest.CodeInvalidTemplateID, "")
	if err := e.a.SendTemplate(ctx, openID, "nope", "", nil); !errors.Is(err, flows.ErrInvalid) {
		t.Errorf("40037: got %v", err)
	}
	for _, bad := range [][2]string{{"", "TPL"}, {openID, " "}} {
		if err := e.a.SendTemplate(ctx, bad[0], bad[1], "", nil); !errors.Is(err, flows.ErrInvalid) {
			t.Errorf("SendTemplate(%q, %q): got %v", bad[0], bad[1], err)
		}
	}
	if got := e.fake.Calls(wechattest.PathTemplateSend); got != 3 {
		t.Errorf("template sends %d, want 3", got)
	}
}

func TestNoAgentsChatAndNothingToEdit(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	if err := e.a.NotifyAgents(ctx, "handoff"); !errors.Is(err, flows.ErrUnavailable) {
		t.Errorf("NotifyAgents: got %v", err)
	}
	if err := e.a.CloseQuestion(ctx, openID, 0, "closed"); err != nil {
		t.Errorf("CloseQuestion: %v", err)
	}
	if err := e.a.AnswerTap(ctx, "", "thanks"); err != nil {
		t.Errorf("AnswerTap: %v", err)
	}
	if n := len(e.fake.AllSent()); n != 0 || e.fake.TokenCalls() != 0 {
		t.Errorf("no-ops reached WeChat: %d messages, %d token calls", n, e.fake.TokenCalls())
	}
}
