package wechattest

import (
	"context"
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Mode is the message encryption mode set in the official account's
// developer settings (消息加解密方式).
type Mode int

const (
	// Plaintext (明文模式): the body is the message XML.
	Plaintext Mode = iota
	// Compatible (兼容模式): the body holds the message's plain fields and its
	// Encrypt element; the query has encrypt_type=aes and msg_signature.
	Compatible
	// Safe (安全模式): the body holds ToUserName and Encrypt only.
	Safe
)

func (m Mode) String() string {
	switch m {
	case Plaintext:
		return "plaintext"
	case Compatible:
		return "compatible"
	case Safe:
		return "safe"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Inbound builds the requests WeChat sends to a developer server: messages
// and events a user triggers, and the URL verification. Each is signed with
// the account's token and, in compatible and safe mode, encrypted with its
// EncodingAESKey. Safe for concurrent use.
type Inbound struct {
	token, appID, aesKey string
	mode                 Mode
	account              string // ToUserName: the account's original id
	now                  func() time.Time
	client               *http.Client
	platform             *Server // grants quota there (WithPlatform); nil = none

	mu        sync.Mutex
	nextMsgID int64
}

// InboundOption configures an Inbound.
type InboundOption func(*Inbound)

// WithInboundClock sets the clock that stamps CreateTime and timestamp.
func WithInboundClock(now func() time.Time) InboundOption {
	return func(s *Inbound) { s.now = now }
}

// WithAccount sets the official account's original id (gh_…), the messages'
// ToUserName.
func WithAccount(originalID string) InboundOption {
	return func(s *Inbound) { s.account = originalID }
}

// NewInbound makes a builder for the account appID configured with token and
// encodingAESKey (ignored in Plaintext mode). It panics on a malformed
// EncodingAESKey outside Plaintext mode, as a test cannot go on without it.
func NewInbound(token, appID, encodingAESKey string, mode Mode, opts ...InboundOption) *Inbound {
	if mode != Plaintext {
		if _, err := AESKey(encodingAESKey); err != nil {
			panic(err)
		}
	}
	n, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		panic(err)
	}
	s := &Inbound{
		token:     token,
		appID:     appID,
		aesKey:    encodingAESKey,
		mode:      mode,
		account:   "gh_cxbot0fake0",
		now:       time.Now,
		client:    &http.Client{Timeout: 30 * time.Second},
		nextMsgID: n.Int64() + 1<<61, // 19 digits, like WeChat's
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Mode is the builder's encryption mode.
func (s *Inbound) Mode() Mode { return s.mode }

// Request is one call WeChat makes to the developer server.
type Request struct {
	Method string     // POST for messages and events, GET for the URL verification
	Query  url.Values // signature, timestamp, nonce, openid; encrypt_type and msg_signature when encrypted
	Body   string     // what WeChat posts ("" for GET)

	XML        string // the message itself: the body in plaintext mode, what Encrypt decrypts to otherwise
	OpenID     string // the sender
	MsgID      int64  // 0 for events, which have none
	CreateTime int64

	encrypt string // the Encrypt element, "" in plaintext mode
}

// With returns a copy of r whose query parameter key is value, or without
// key when value is "" (for forging and omitting signatures).
func (r Request) With(key, value string) Request {
	q := url.Values{}
	for k, v := range r.Query {
		q[k] = append([]string(nil), v...)
	}
	if value == "" {
		q.Del(key)
	} else {
		q.Set(key, value)
	}
	r.Query = q
	return r
}

// WithBody returns a copy of r posting body instead (the signatures stay).
func (r Request) WithBody(body string) Request {
	r.Body = body
	return r
}

// Restamp returns r signed again with timestamp and nonce, as a genuine
// push stamped then would be (msg_signature too, when encrypted): for
// pushes with a stale timestamp, and for replays that reuse another
// push's timestamp and nonce.
func (s *Inbound) Restamp(r Request, timestamp, nonce string) Request {
	r = r.With("timestamp", timestamp).With("nonce", nonce).With("signature", Signature(s.token, timestamp, nonce))
	if r.encrypt != "" {
		r = r.With("msg_signature", Signature(s.token, timestamp, nonce, r.encrypt))
	}
	return r
}

// Text is the user typing content.
func (s *Inbound) Text(openID, content string) Request {
	return s.message(openID, "text", func(b *xmlWriter) {
		b.cdata("Content", content)
	})
}

// MenuTap is the user tapping an option of a msgmenu message: WeChat sends
// the option's content as a text message carrying its id in bizmsgmenuid.
func (s *Inbound) MenuTap(openID, menuID, content string) Request {
	return s.message(openID, "text", func(b *xmlWriter) {
		b.cdata("Content", content)
		b.plain("bizmsgmenuid", menuID)
	})
}

// Image is the user sending a picture.
func (s *Inbound) Image(openID, mediaID string) Request {
	return s.message(openID, "image", func(b *xmlWriter) {
		b.cdata("PicUrl", "http://mmbiz.qpic.cn/fake/"+mediaID+"/0")
		b.cdata("MediaId", mediaID)
	})
}

// Subscribe is the user following the account; with sceneToken ≠ "" they
// did so by scanning a parametric QR code (EventKey qrscene_<token>).
func (s *Inbound) Subscribe(openID, sceneToken string) Request {
	if sceneToken == "" {
		return s.Event(openID, "subscribe", "")
	}
	return s.event(openID, "subscribe", "qrscene_"+sceneToken, "gQFfake"+sceneToken)
}

// Unsubscribe is the user unfollowing the account. Call Server.Unfollow as
// well to make later messages to them fail with 43004.
func (s *Inbound) Unsubscribe(openID string) Request {
	return s.Event(openID, "unsubscribe", "")
}

// Scan is a user who already follows the account scanning a parametric QR
// code: event SCAN whose EventKey is the scene token itself.
func (s *Inbound) Scan(openID, sceneToken string) Request {
	return s.event(openID, "SCAN", sceneToken, "gQFfake"+sceneToken)
}

// Event is any event push, e.g. Event(openID, "CLICK", "menu_key").
func (s *Inbound) Event(openID, event, eventKey string) Request {
	return s.event(openID, event, eventKey, "")
}

func (s *Inbound) event(openID, event, eventKey, ticket string) Request {
	if s.platform != nil && (event == "subscribe" || event == "SCAN") {
		s.platform.UserFollowed(openID)
	}
	now := s.now().Unix()
	b := s.header(openID, "event", now)
	b.cdata("Event", event)
	if eventKey != "" { // WeChat's documented subscribe and unsubscribe events have none
		b.cdata("EventKey", eventKey)
	}
	if ticket != "" {
		b.cdata("Ticket", ticket)
	}
	b.WriteString("</xml>")
	r := s.seal(b.String(), openID)
	r.CreateTime = now
	return r
}

// Raw signs (and encrypts, by mode) msgXML as it is, for shapes the other
// builders do not make, malformed ones included. In compatible mode the
// Encrypt element goes before the last </xml>.
func (s *Inbound) Raw(msgXML string) Request {
	return s.seal(msgXML, "")
}

// Verify is the GET WeChat sends to check the server URL; the server must
// answer echostr. (Official accounts send echostr unencrypted in every mode.)
func (s *Inbound) Verify(echostr string) Request {
	ts, nonce := s.stamp()
	q := url.Values{}
	q.Set("signature", Signature(s.token, ts, nonce))
	q.Set("timestamp", ts)
	q.Set("nonce", nonce)
	q.Set("echostr", echostr)
	return Request{Method: http.MethodGet, Query: q}
}

func (s *Inbound) message(openID, msgType string, fields func(*xmlWriter)) Request {
	if s.platform != nil {
		s.platform.UserWrote(openID)
	}
	s.mu.Lock()
	s.nextMsgID++
	id := s.nextMsgID
	s.mu.Unlock()
	now := s.now().Unix()
	b := s.header(openID, msgType, now)
	fields(b)
	b.plain("MsgId", strconv.FormatInt(id, 10))
	b.WriteString("</xml>")
	r := s.seal(b.String(), openID)
	r.MsgID, r.CreateTime = id, now
	return r
}

func (s *Inbound) header(openID, msgType string, createTime int64) *xmlWriter {
	b := &xmlWriter{}
	b.WriteString("<xml>")
	b.cdata("ToUserName", s.account)
	b.cdata("FromUserName", openID)
	b.plain("CreateTime", strconv.FormatInt(createTime, 10))
	b.cdata("MsgType", msgType)
	return b
}

// seal wraps a message as the mode wants it, with its query.
func (s *Inbound) seal(msgXML, openID string) Request {
	ts, nonce := s.stamp()
	q := url.Values{}
	q.Set("signature", Signature(s.token, ts, nonce))
	q.Set("timestamp", ts)
	q.Set("nonce", nonce)
	if openID != "" {
		q.Set("openid", openID)
	}
	r := Request{Method: http.MethodPost, Query: q, Body: msgXML, XML: msgXML, OpenID: openID}
	if s.mode == Plaintext {
		return r
	}

	random := make([]byte, 16)
	for i := range random { // WeChat's random prefix is 16 letters and digits
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alnum))))
		random[i] = alnum[n.Int64()]
	}
	enc, err := Encrypt(s.aesKey, s.appID, random, []byte(msgXML))
	if err != nil {
		panic(err) // the key was checked by NewInbound
	}
	q.Set("encrypt_type", "aes")
	q.Set("msg_signature", Signature(s.token, ts, nonce, enc))
	r.encrypt = enc

	encrypt := &xmlWriter{}
	encrypt.cdata("Encrypt", enc)
	if s.mode == Safe {
		env := &xmlWriter{}
		env.WriteString("<xml>")
		env.cdata("ToUserName", s.account)
		env.WriteString(encrypt.String() + "</xml>")
		r.Body = env.String()
	} else if i := strings.LastIndex(msgXML, "</xml>"); i >= 0 {
		r.Body = msgXML[:i] + encrypt.String() + msgXML[i:]
	} else {
		r.Body = msgXML + encrypt.String()
	}
	return r
}

const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// stamp returns a timestamp and a fresh nonce for a signature.
func (s *Inbound) stamp() (timestamp, nonce string) {
	n, err := rand.Int(rand.Reader, big.NewInt(9_000_000_000))
	if err != nil {
		panic(err)
	}
	return strconv.FormatInt(s.now().Unix(), 10), strconv.FormatInt(n.Int64()+1_000_000_000, 10)
}

// Deliver sends req to the developer server at serverURL (its own query, if
// any, is kept) and returns the HTTP status and the answer's body.
func (s *Inbound) Deliver(ctx context.Context, serverURL string, req Request) (status int, body string, err error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return 0, "", err
	}
	q := u.Query()
	for k, v := range req.Query {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	method := req.Method
	if method == "" {
		method = http.MethodPost
	}
	var reader io.Reader
	if method == http.MethodPost {
		reader = strings.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, method, u.String(), reader)
	if err != nil {
		return 0, "", err
	}
	if reader != nil {
		hr.Header.Set("Content-Type", "text/xml")
	}
	hr.Header.Set("User-Agent", "Mozilla/4.0")
	resp, err := s.client.Do(hr)
	if err != nil {
		return 0, "", fmt.Errorf("wechattest: deliver: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, "", fmt.Errorf("wechattest: read answer: %w", err)
	}
	return resp.StatusCode, string(b), nil
}

// xmlWriter writes WeChat's XML: text in CDATA sections, numbers and ids plain.
type xmlWriter struct{ strings.Builder }

func (b *xmlWriter) cdata(name, value string) {
	// "]]>" cannot appear inside a CDATA section: end it and open another.
	value = strings.ReplaceAll(value, "]]>", "]]]]><![CDATA[>")
	b.WriteString("<" + name + "><![CDATA[" + value + "]]></" + name + ">")
}

func (b *xmlWriter) plain(name, value string) {
	b.WriteString("<" + name + ">")
	_ = xml.EscapeText(b, []byte(value))
	b.WriteString("</" + name + ">")
}
