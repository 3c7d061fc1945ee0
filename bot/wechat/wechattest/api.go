package wechattest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// classicGrace is how long a /cgi-bin/token token keeps working after a newer
// one was issued, as WeChat documents.
const classicGrace = 5 * time.Minute

type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

// token is GET /cgi-bin/token?grant_type=client_credential&appid=…&secret=…:
// every call issues a new token; the previous one works five minutes more.
func (s *Server) token(r *http.Request) (any, *apiError) {
	q := r.URL.Query()
	if e := s.takeFault(PathToken, ""); e != nil {
		return nil, e
	}
	if q.Get("grant_type") != "client_credential" {
		return nil, &apiError{40002, "invalid grant_type"}
	}
	if e := s.checkApp(q.Get("appid"), q.Get("secret")); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if old, ok := s.tokens[s.classic]; ok && old.After(now.Add(classicGrace)) {
		s.tokens[s.classic] = now.Add(classicGrace)
	}
	s.classic = s.issueLocked(now)
	s.notifyLocked()
	return tokenAnswer{s.classic, int64(s.tokenTTL / time.Second)}, nil
}

// stableToken is POST /cgi-bin/stable_token: in normal mode every caller gets
// the current token (with its remaining lifetime) until it expires;
// force_refresh issues a new one and the old one stops working at once.
func (s *Server) stableToken(r *http.Request) (any, *apiError) {
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if e := readJSON(r, &req); e != nil {
		return nil, e
	}
	if e := s.takeFault(PathStableToken, ""); e != nil {
		return nil, e
	}
	if req.GrantType != "client_credential" {
		return nil, &apiError{40002, "invalid grant_type"}
	}
	if e := s.checkApp(req.AppID, req.Secret); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	expires, ok := s.tokens[s.stable]
	if req.ForceRefresh || !ok || !now.Before(expires) {
		delete(s.tokens, s.stable)
		s.stable = s.issueLocked(now)
		expires = s.tokens[s.stable]
	}
	s.notifyLocked()
	return tokenAnswer{s.stable, int64(expires.Sub(now) / time.Second)}, nil
}

func (s *Server) checkApp(appID, secret string) *apiError {
	switch {
	case appID != s.appID:
		return errorFor(CodeInvalidAppID)
	case secret != s.appSecret:
		return errorFor(CodeInvalidAppSecret)
	}
	return nil
}

func (s *Server) issueLocked(now time.Time) string {
	s.tokenSerial++
	var b [24]byte
	_, _ = rand.Read(b[:])
	tok := strconv.Itoa(s.tokenSerial) + "_" + hex.EncodeToString(b[:])
	s.tokens[tok] = now.Add(s.tokenTTL)
	return tok
}

// checkToken validates the access_token query parameter.
func (s *Server) checkToken(r *http.Request) *apiError {
	tok := r.URL.Query().Get("access_token")
	if tok == "" {
		return errorFor(CodeTokenMissing)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	expires, ok := s.tokens[tok]
	switch {
	case !ok:
		return errorFor(CodeInvalidCredential)
	case !s.now().Before(expires):
		return errorFor(CodeTokenExpired)
	}
	return nil
}

func readJSON(r *http.Request, v any) *apiError {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || json.Unmarshal(body, v) != nil {
		return errorFor(CodeDataFormat)
	}
	return nil
}

// customSend is POST /cgi-bin/message/custom/send: a customer-service
// message of type text or msgmenu.
func (s *Server) customSend(r *http.Request) (any, *apiError) {
	var req struct {
		ToUser  string `json:"touser"`
		MsgType string `json:"msgtype"`
		Text    *struct {
			Content string `json:"content"`
		} `json:"text"`
		Msgmenu *struct {
			HeadContent string     `json:"head_content"`
			List        []MenuItem `json:"list"`
			TailContent string     `json:"tail_content"`
		} `json:"msgmenu"`
	}
	if e := readJSON(r, &req); e != nil {
		return nil, e
	}
	if e := s.takeFault(PathCustomSend, req.ToUser); e != nil {
		return nil, e
	}
	if e := s.checkToken(r); e != nil {
		return nil, e
	}
	m := SentMessage{Kind: req.MsgType, OpenID: req.ToUser}
	switch req.MsgType {
	case "text":
		if req.Text == nil || strings.TrimSpace(req.Text.Content) == "" {
			return nil, errorFor(CodeEmptyContent)
		}
		m.Text = req.Text.Content
	case "msgmenu":
		if s.unverified {
			return nil, errorFor(CodeMenuUnauthorized)
		}
		if req.Msgmenu == nil || len(req.Msgmenu.List) == 0 {
			return nil, errorFor(CodeDataFormat)
		}
		for _, item := range req.Msgmenu.List {
			if item.ID == "" || item.Content == "" {
				return nil, errorFor(CodeDataFormat)
			}
		}
		m.HeadContent = req.Msgmenu.HeadContent
		m.Menu = req.Msgmenu.List
		m.TailContent = req.Msgmenu.TailContent
	default:
		return nil, errorFor(CodeInvalidMsgType)
	}
	return s.record(m)
}

// templateSend is POST /cgi-bin/message/template/send; it answers the msgid.
func (s *Server) templateSend(r *http.Request) (any, *apiError) {
	var req struct {
		ToUser     string `json:"touser"`
		TemplateID string `json:"template_id"`
		URL        string `json:"url"`
		Data       map[string]struct {
			Value string `json:"value"`
		} `json:"data"`
	}
	if e := readJSON(r, &req); e != nil {
		return nil, e
	}
	if e := s.takeFault(PathTemplateSend, req.ToUser); e != nil {
		return nil, e
	}
	if e := s.checkToken(r); e != nil {
		return nil, e
	}
	if req.TemplateID == "" {
		return nil, errorFor(CodeInvalidTemplateID)
	}
	m := SentMessage{Kind: "template", OpenID: req.ToUser, TemplateID: req.TemplateID, URL: req.URL, TemplateData: map[string]string{}}
	for k, v := range req.Data {
		m.TemplateData[k] = v.Value
	}
	return s.record(m)
}

// record stores a message that passed every check, unless its recipient
// cannot receive it.
func (s *Server) record(m SentMessage) (any, *apiError) {
	if m.OpenID == "" {
		return nil, errorFor(CodeInvalidOpenID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unfollowed[m.OpenID] {
		return nil, errorFor(CodeRequireSubscribe)
	}
	if m.Kind != "template" && !s.spendLocked(m.OpenID) {
		return nil, errorFor(CodeCustomerQuota)
	}
	s.nextMsgID++
	m.MsgID = s.nextMsgID
	m.At = s.now()
	s.sent = append(s.sent, m)
	s.notifyLocked()
	answer := map[string]any{"errcode": 0, "errmsg": "ok"}
	if m.Kind == "template" {
		answer["msgid"] = m.MsgID
	}
	return answer, nil
}
