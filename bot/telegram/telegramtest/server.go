// Package telegramtest is a fake Telegram Bot API server for tests. It speaks
// HTTP like api.telegram.org does (POST /bot<token>/<method>, multipart, form
// or JSON bodies, {"ok":…} envelopes), records what the bot sent, queues
// updates for getUpdates, delivers them to webhooks, and fails on demand.
//
// It is faithful where cxbot depends on Telegram's behaviour: getUpdates offset
// confirmation and long polling, 409 for a second poller or an active webhook,
// 403 for a blocked chat, 429 with retry_after, "message is not modified" on an
// edit that changes nothing, the 64-byte limit of callback_data; for the
// agents' desk: groups and forum supergroups (getChat, createForumTopic,
// message_thread_id, replies), parse_mode HTML parsed as TDLib does (see
// parseHTML), photos by file_id. It is not a full Bot API: only the methods
// cxbot uses exist (see the methods table).
package telegramtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cxbot/cxbot/internal/change"
)

// Server is a fake Bot API. All methods are safe for concurrent use.
type Server struct {
	token   string
	maxWait time.Duration
	now     func() time.Time
	http    *httptest.Server
	client  *http.Client

	mu      sync.Mutex
	changed change.Signal // wakes long polls and WaitFor on every state change

	nextUpdateID   int64
	nextCallbackID int64
	queue          []Update // not yet confirmed, update_id ascending
	offset         int64    // highest offset a getUpdates call confirmed
	polling        bool     // a getUpdates call is in flight

	lastMessageID map[int64]int // per chat; shared by the bot's and the user's messages
	sent          []*SentMessage
	byChat        map[int64][]*SentMessage // the same messages by chat, so a lookup is not a scan of all
	answers       []CallbackAnswer
	edits         []Edit
	callbackIDs   map[string]bool // issued by TapUpdate
	calls         map[string]int  // by lower-case method name
	faults        []fault
	faulted       []time.Time // when each FailNext fault was served
	blocked       map[int64]bool
	forums        map[int64]bool    // supergroups that are forums (MakeForum)
	noTopics      map[int64]bool    // forums where the bot may not create topics (DenyTopics)
	topics        map[int64][]Topic // by chat, oldest first
	threadOf      map[msgKey]int    // a message's forum topic (or reply thread in a plain supergroup)
	files         map[string]bool   // file_ids Telegram knows (photos in updates, uploads)
	nextUpload    int

	webhookURL, webhookSecret string
	webhookAnswers            int // methods carried out from webhook answers
	allowedUpdates            []string
}

type fault struct {
	method     string // lower case
	chatID     int64  // 0 = any
	code       int
	retryAfter int
	stall      time.Duration // with code 0: answer normally, this much later
}

// Option configures a Server.
type Option func(*Server)

// WithMaxPollWait caps how long a getUpdates call waits for updates, whatever
// timeout the client asks for (default 1s, so tests never hang on a long poll).
func WithMaxPollWait(d time.Duration) Option { return func(s *Server) { s.maxWait = d } }

// WithClock sets the clock used for message and update dates.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// New starts a fake Bot API server that accepts requests for token only.
// Close it when done.
func New(token string, opts ...Option) *Server {
	s := NewHandler(token, opts...)
	s.http = httptest.NewServer(s)
	return s
}

// NewHandler returns the fake without starting an HTTP server, for mounting it
// on a listener of your own (URL then returns "").
func NewHandler(token string, opts ...Option) *Server {
	s := &Server{
		token:         token,
		maxWait:       time.Second,
		now:           time.Now,
		client:        &http.Client{Timeout: 30 * time.Second},
		nextUpdateID:  1000,
		lastMessageID: map[int64]int{},
		byChat:        map[int64][]*SentMessage{},
		callbackIDs:   map[string]bool{},
		calls:         map[string]int{},
		blocked:       map[int64]bool{},
		forums:        map[int64]bool{},
		noTopics:      map[int64]bool{},
		topics:        map[int64][]Topic{},
		threadOf:      map[msgKey]int{},
		files:         map[string]bool{},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// URL is the base URL to give a client (bot.WithServerURL, Config.APIURL).
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

// FailNext makes the next call of method (for chatID, or any chat when 0) fail
// with code: 429 carries parameters.retry_after, 403 says the bot was blocked.
// Faults queue up and are used once each, in order.
func (s *Server) FailNext(method string, chatID int64, code, retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{method: strings.ToLower(method), chatID: chatID, code: code, retryAfter: retryAfter})
}

// StallNext makes the next call of method (for chatID, or any chat when 0)
// take d before it is carried out and answered, as a slow or congested Bot
// API would; the call then succeeds. It queues with FailNext's faults.
func (s *Server) StallNext(method string, chatID int64, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{method: strings.ToLower(method), chatID: chatID, stall: d})
}

// Block makes every later message or edit to chatID fail with 403, as when the
// user blocked the bot. It does not enqueue the my_chat_member update: use
// BlockedUpdate for that.
func (s *Server) Block(chatID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocked[chatID] = true
	s.notifyLocked()
}

// Unblock undoes Block.
func (s *Server) Unblock(chatID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.blocked, chatID)
	s.notifyLocked()
}

// notifyLocked wakes everything waiting for a change (long polls, WaitFor).
func (s *Server) notifyLocked() {
	s.changed.Notify()
}

type handlerFunc func(s *Server, r *http.Request, p params) (result any, e *apiError)

// methods are the Bot API methods the fake knows, by lower-case name
// (Telegram matches method names case-insensitively).
var methods = map[string]handlerFunc{
	"getme":                  (*Server).getMe,
	"getupdates":             (*Server).getUpdates,
	"sendmessage":            (*Server).sendMessage,
	"sendphoto":              (*Server).sendPhoto,
	"getchat":                (*Server).getChat,
	"createforumtopic":       (*Server).createForumTopic,
	"answercallbackquery":    (*Server).answerCallbackQuery,
	"editmessagetext":        (*Server).editMessageText,
	"editmessagereplymarkup": (*Server).editMessageReplyMarkup,
	"setwebhook":             (*Server).setWebhook,
	"deletewebhook":          (*Server).deleteWebhook,
	"getwebhookinfo":         (*Server).getWebhookInfo,
}

// ServeHTTP routes /bot<token>/<method>.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	token, method, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || method == "" {
		writeError(w, &apiError{http.StatusNotFound, "Not Found", 0})
		return
	}
	if token != s.token {
		writeError(w, &apiError{http.StatusUnauthorized, "Unauthorized", 0})
		return
	}
	name := strings.ToLower(method)
	handle, ok := methods[name]
	if !ok {
		writeError(w, &apiError{http.StatusNotFound, "Not Found: method not found", 0})
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		writeError(w, &apiError{http.StatusMethodNotAllowed, "Method Not Allowed", 0})
		return
	}

	s.mu.Lock()
	s.calls[name]++
	s.notifyLocked()
	s.mu.Unlock()

	p, err := readParams(r)
	if err != nil {
		writeError(w, &apiError{http.StatusBadRequest, "Bad Request: " + err.Error(), 0})
		return
	}
	e, stall := s.takeFault(name, p)
	if e != nil {
		writeError(w, e)
		return
	}
	time.Sleep(stall) // not cut short when the client gives up: the platform got the call
	result, e := handle(s, r, p)
	if e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": result})
}

func (s *Server) takeFault(method string, p params) (*apiError, time.Duration) {
	chatID, _ := strconv.ParseInt(p["chat_id"], 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.method == method && (f.chatID == 0 || f.chatID == chatID) {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			if f.code == 0 {
				return nil, f.stall
			}
			s.faulted = append(s.faulted, s.now())
			return &apiError{f.code, describe(f.code, f.retryAfter), f.retryAfter}, 0
		}
	}
	return nil, 0
}

func describe(code, retryAfter int) string {
	switch code {
	case http.StatusBadRequest:
		return "Bad Request"
	case http.StatusForbidden:
		return "Forbidden: bot was blocked by the user"
	case http.StatusConflict:
		return "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
	case http.StatusTooManyRequests:
		return fmt.Sprintf("Too Many Requests: retry after %d", retryAfter)
	}
	return http.StatusText(code)
}

// apiError is a Bot API error answer; code is both the HTTP status and error_code.
type apiError struct {
	code       int
	desc       string
	retryAfter int
}

func badRequest(desc string) *apiError {
	return &apiError{http.StatusBadRequest, "Bad Request: " + desc, 0}
}

func writeError(w http.ResponseWriter, e *apiError) {
	body := map[string]any{"ok": false, "error_code": e.code, "description": e.desc}
	if e.retryAfter > 0 {
		body["parameters"] = map[string]int{"retry_after": e.retryAfter}
	}
	writeJSON(w, e.code, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// params are a request's parameters as strings, whatever the encoding:
// JSON-valued parameters (reply_markup, allowed_updates) stay JSON text.
type params map[string]string

func readParams(r *http.Request) (params, error) {
	p := params{}
	for k, v := range r.URL.Query() {
		p[k] = v[0]
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	if err != nil {
		return nil, fmt.Errorf("can't read body: %v", err)
	}
	if len(body) == 0 { // go-telegram/bot sends an empty multipart body for no parameters
		return p, nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "multipart/form-data":
		if err := r.ParseMultipartForm(10 << 20); err != nil {
			return nil, fmt.Errorf("can't parse multipart body: %v", err)
		}
		for k, v := range r.MultipartForm.Value {
			p[k] = v[0]
		}
		for k, files := range r.MultipartForm.File { // uploads: "@name" holds the file name
			p["@"+k] = "file:" + files[0].Filename
		}
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return nil, fmt.Errorf("can't parse form body: %v", err)
		}
		for k, v := range r.PostForm {
			p[k] = v[0]
		}
	case "application/json":
		var m map[string]json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			return nil, fmt.Errorf("can't parse JSON object")
		}
		for k, raw := range m {
			var str string
			if json.Unmarshal(raw, &str) == nil {
				p[k] = str
			} else {
				p[k] = string(raw)
			}
		}
	}
	return p, nil
}

func (p params) int64(name string) (int64, bool) {
	n, err := strconv.ParseInt(p[name], 10, 64)
	return n, err == nil
}

func (p params) int(name string, def int) int {
	if n, err := strconv.Atoi(p[name]); err == nil {
		return n
	}
	return def
}

func (p params) bool(name string) bool {
	b, _ := strconv.ParseBool(strings.ToLower(p[name]))
	return b
}
