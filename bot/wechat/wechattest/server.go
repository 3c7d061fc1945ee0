// Package wechattest is a fake WeChat Official Account platform for tests.
//
// Server speaks the JSON API a developer server calls on api.weixin.qq.com,
// as far as cxbot uses it: access tokens (/cgi-bin/token and
// /cgi-bin/stable_token), customer-service messages (text and msgmenu) and
// template messages. It records what was sent, checks the access token on
// every call, and fails on demand with WeChat's errcodes.
//
// Inbound builds what WeChat posts to a developer server (messages and
// events, in plaintext, compatible or safe mode) with the signatures and
// AES encryption of WeChat's documentation, implemented here independently
// of cxbot and of the SDK (see crypto.go).
//
// It is faithful where cxbot depends on WeChat's behaviour: errors come as
// HTTP 200 with an errcode; a stable token is the same for every caller until
// it expires or is force-refreshed; a token from /cgi-bin/token replaces the
// previous one, which keeps working for five minutes; a stale token gets
// 40001 and an expired one 42001; an unfollowed user gets 43004. On demand
// it is an account that may not send menus (WithUnverifiedAccount: msgmenu
// answers 40200) and counts each user's customer-service quota
// (WithCustomerQuota: 45047 beyond it; see quota.go).
package wechattest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/cxbot/cxbot/internal/change"
)

// The API paths the fake serves.
const (
	PathToken        = "/cgi-bin/token"
	PathStableToken  = "/cgi-bin/stable_token"
	PathCustomSend   = "/cgi-bin/message/custom/send"
	PathTemplateSend = "/cgi-bin/message/template/send"
)

// WeChat errcodes the fake answers with (FailNext accepts any code).
const (
	CodeSystemBusy        = -1
	CodeInvalidCredential = 40001 // access_token invalid or not the latest
	CodeInvalidOpenID     = 40003
	CodeInvalidMsgType    = 40008
	CodeInvalidAppID      = 40013
	CodeInvalidTemplateID = 40037
	CodeInvalidAppSecret  = 40125
	CodeTokenMissing      = 41001
	CodeTokenExpired      = 42001
	CodeRequireSubscribe  = 43004 // the user does not follow the account
	CodeInBlacklist       = 43019
	CodeEmptyContent      = 44004
	CodeAPIQuota          = 45009 // daily API quota reached
	CodeAPIFrequency      = 45011 // calling too often
	CodeResponseOutOfTime = 45015 // outside the 48-hour customer-service window
	CodeCustomerQuota     = 45047 // out of customer-service message quota
	CodeDataFormat        = 47001
)

// defaultTokenTTL is the lifetime of WeChat's access tokens.
const defaultTokenTTL = 7200 * time.Second

// errmsgs are WeChat's own messages for the codes above.
var errmsgs = map[int]string{
	CodeSystemBusy:        "system error",
	CodeInvalidCredential: "invalid credential, access_token is invalid or not latest",
	CodeInvalidOpenID:     "invalid openid",
	CodeInvalidMsgType:    "invalid message type",
	CodeInvalidAppID:      "invalid appid",
	CodeInvalidTemplateID: "invalid template_id",
	CodeInvalidAppSecret:  "invalid appsecret",
	CodeTokenMissing:      "access_token missing",
	CodeTokenExpired:      "access_token expired",
	CodeRequireSubscribe:  "require subscribe",
	CodeInBlacklist:       "user in blacklist",
	CodeEmptyContent:      "empty content",
	CodeAPIQuota:          "reach max api daily quota limit",
	CodeAPIFrequency:      "api freq out of limit",
	CodeResponseOutOfTime: "response out of time limit or subscription is canceled",
	CodeCustomerQuota:     "out of response count limit",
	CodeDataFormat:        "data format error",
}

// Server is a fake WeChat API. All methods are safe for concurrent use.
type Server struct {
	appID, appSecret string
	tokenTTL         time.Duration
	now              func() time.Time
	http             *httptest.Server

	mu      sync.Mutex
	changed change.Signal // wakes long polls and WaitFor on every state change

	tokens      map[string]time.Time // every access token issued → when it stops working
	stable      string               // the current stable token ("" = none)
	classic     string               // the current /cgi-bin/token token
	tokenSerial int
	tokenCalls  int
	calls       map[string]int // by path, failed calls included
	faults      []fault
	sent        []SentMessage
	unfollowed  map[string]bool
	nextMsgID   int64
	unverified  bool               // msgmenu answers 40200
	quota       map[string][]grant // by openid; nil = not counted
}

type fault struct {
	path    string
	openID  string // "" = any
	errcode int
	errmsg  string
}

// Option configures a Server.
type Option func(*Server)

// WithClock sets the clock that issues and expires access tokens.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithTokenTTL sets the lifetime of the access tokens issued (default 2h, as WeChat's).
func WithTokenTTL(d time.Duration) Option { return func(s *Server) { s.tokenTTL = d } }

// New starts a fake WeChat API for the official account appID whose secret
// is appSecret. Close it when done.
func New(appID, appSecret string, opts ...Option) *Server {
	s := NewHandler(appID, appSecret, opts...)
	s.http = httptest.NewServer(s)
	return s
}

// NewHandler returns the fake without starting an HTTP server, for mounting
// it on a listener of your own (URL then returns "").
func NewHandler(appID, appSecret string, opts ...Option) *Server {
	s := &Server{
		appID:      appID,
		appSecret:  appSecret,
		tokenTTL:   defaultTokenTTL,
		now:        time.Now,
		tokens:     map[string]time.Time{},
		calls:      map[string]int{},
		unfollowed: map[string]bool{},
		nextMsgID:  2_147_483_000,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// URL is the base URL to give a client in place of https://api.weixin.qq.com.
func (s *Server) URL() string {
	if s.http == nil {
		return ""
	}
	return s.http.URL
}

// Close shuts the HTTP server down.
func (s *Server) Close() {
	if s.http != nil {
		s.http.Close()
	}
}

// FailNext makes the next call of path (one of the Path constants) for
// openID ("" = any user; token calls have none) answer errcode with errmsg
// (WeChat's own message when ""). Faults queue up and are used once each,
// in order. A fault is answered before the access token is checked.
func (s *Server) FailNext(path, openID string, errcode int, errmsg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{path, openID, errcode, errmsg})
}

// Unfollow makes every later message to openID fail with 43004, as when the
// user unsubscribed from the account. It does not build the unsubscribe
// event: use Inbound.Unsubscribe for that.
func (s *Server) Unfollow(openID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unfollowed[openID] = true
	s.notifyLocked()
}

// Follow undoes Unfollow.
func (s *Server) Follow(openID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.unfollowed, openID)
	s.notifyLocked()
}

// RevokeTokens invalidates every access token issued so far, as when another
// party force-refreshed them: calls with one get 40001, and the next token
// request gets a new token.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
	s.stable, s.classic = "", ""
	s.notifyLocked()
}

// notifyLocked wakes everything waiting for a change (WaitFor).
func (s *Server) notifyLocked() {
	s.changed.Notify()
}

type route struct {
	method string
	handle func(*Server, *http.Request) (any, *apiError)
}

// routes are the API calls the fake knows, by path.
var routes = map[string]route{
	PathToken:        {http.MethodGet, (*Server).token},
	PathStableToken:  {http.MethodPost, (*Server).stableToken},
	PathCustomSend:   {http.MethodPost, (*Server).customSend},
	PathTemplateSend: {http.MethodPost, (*Server).templateSend},
}

// ServeHTTP routes the API paths.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, ok := routes[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != rt.method {
		w.Header().Set("Allow", rt.method)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	s.mu.Lock()
	s.calls[r.URL.Path]++
	if r.URL.Path == PathToken || r.URL.Path == PathStableToken {
		s.tokenCalls++
	}
	s.notifyLocked()
	s.mu.Unlock()

	result, e := rt.handle(s, r)
	if e != nil {
		writeJSON(w, map[string]any{"errcode": e.code, "errmsg": e.msg + " rid: " + rid()})
		return
	}
	writeJSON(w, result)
}

// apiError is an errcode answer. WeChat sends those with HTTP 200.
type apiError struct {
	code int
	msg  string
}

func errorFor(code int) *apiError {
	msg, ok := errmsgs[code]
	if !ok {
		msg = fmt.Sprintf("error %d", code)
	}
	return &apiError{code, msg}
}

// takeFault removes and returns the first fault queued for path and openID.
func (s *Server) takeFault(path, openID string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.path == path && (f.openID == "" || f.openID == openID) {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			e := errorFor(f.errcode)
			if f.errmsg != "" {
				e.msg = f.errmsg
			}
			return e
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// rid is the request id WeChat appends to every errmsg.
func rid() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:4]) + "-" + hex.EncodeToString(b[4:])
}
