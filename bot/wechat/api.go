package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/silenceper/wechat/v2/credential"
	"github.com/silenceper/wechat/v2/officialaccount/message"
	"github.com/silenceper/wechat/v2/util"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/flows"
)

// The API paths cxbot calls, under Config.APIURL.
const (
	pathStableToken  = "/cgi-bin/stable_token"
	pathCustomSend   = "/cgi-bin/message/custom/send"
	pathTemplateSend = "/cgi-bin/message/template/send"
)

// maxAnswer bounds what is read of an API answer.
const maxAnswer = 1 << 20

// APIError is an answer with a non-zero errcode. Send and SendTemplate wrap
// it (errors.As) together with the sentinel its code maps to.
type APIError struct {
	Path string // e.g. /cgi-bin/message/custom/send
	Code int    // errcode
	Msg  string // errmsg
}

func (e *APIError) Error() string {
	return fmt.Sprintf("errcode %d: %s", e.Code, e.Msg)
}

func (a *Adapter) sendCustom(ctx context.Context, m *message.CustomerMessage) error {
	return a.call(ctx, pathCustomSend, m.ToUser, m, nil)
}

// call posts body as JSON to path with the access token and decodes a
// successful answer into out (when not nil). When WeChat says the token is
// invalid or expired (40001, 40014, 42001), the cached token is dropped and
// the call made once more with a fresh one.
func (a *Adapter) call(ctx context.Context, path, openID string, body, out any) error {
	where := "wechat " + strings.TrimPrefix(path, "/cgi-bin/")
	if openID != "" {
		where += " to " + openID
	}
	payload, err := encodeJSON(body)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", where, flows.ErrInvalid, err)
	}
	for attempt := 1; ; attempt++ {
		token, err := a.accessToken(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		raw, code, msg, err := a.post(ctx, path+"?access_token="+url.QueryEscape(token), payload)
		if err != nil {
			return fmt.Errorf("%s: %w: %w", where, flows.ErrUnavailable, err)
		}
		if tokenRejected(code) && attempt == 1 {
			a.log.Info("wechat rejected the cached access token, fetching a new one", "errcode", code)
			if err := a.dropToken(ctx, token); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			continue
		}
		if code != 0 {
			return apiError(where, &APIError{Path: path, Code: code, Msg: msg})
		}
		if out != nil {
			if err := json.Unmarshal(raw, out); err != nil {
				return fmt.Errorf("%s: %w: malformed answer: %w", where, flows.ErrUnavailable, err)
			}
		}
		return nil
	}
}

func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep "&" in template URLs and "<" in texts as they are
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// post sends one request and returns the answer with its errcode and errmsg.
// Errors are transport failures only (network, HTTP status, unreadable
// answer); an errcode is not one.
func (a *Adapter) post(ctx context.Context, pathAndQuery string, payload []byte) (raw []byte, code int, msg string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.baseURL+pathAndQuery, bytes.NewReader(payload))
	if err != nil {
		return nil, 0, "", redact(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, 0, "", redact(err)
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, 0, "", fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, "", fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var answer util.CommonError
	if err := json.Unmarshal(raw, &answer); err != nil {
		return nil, 0, "", fmt.Errorf("malformed answer: %w", err)
	}
	return raw, int(answer.ErrCode), answer.ErrMsg, nil
}

// redact removes the query (which carries the access token) from the URL an
// http.Client error quotes, so that logging the error leaks no credential.
func redact(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		if u, perr := url.Parse(uerr.URL); perr == nil && u.RawQuery != "" {
			u.RawQuery = "…"
			c := *uerr
			c.URL = u.String()
			return &c
		}
	}
	return err
}

func tokenRejected(code int) bool {
	return code == 40001 || code == 40014 || code == 42001
}

// apiError maps a WeChat errcode into cxbot's vocabulary, wrapping e too:
//   - 45015 (outside the 48-hour window) → ErrOutsideWindow
//   - 45047 (the user's message quota is used) → bot.ErrQuotaSpent and ErrOutsideWindow
//   - 43004, 43019 (does not follow the account, blacklisted) → bot.ErrBlocked
//   - 45009, 45011 (API quota or frequency limit) → *bot.RateLimitedError (1s)
//   - -1 (system busy) and a token still rejected after a refresh → flows.ErrUnavailable
//   - any other code → flows.ErrInvalid: WeChat refused the request itself
//     (bad openid, content, template…), and sending it again cannot help
func apiError(where string, e *APIError) error {
	switch e.Code {
	case 45015:
		return fmt.Errorf("%s: %w: %w", where, ErrOutsideWindow, e)
	case 45047:
		return fmt.Errorf("%s: %w: %w: %w", where, bot.ErrQuotaSpent, ErrOutsideWindow, e)
	case 43004, 43019:
		return fmt.Errorf("%s: %w: %w", where, bot.ErrBlocked, e)
	case 45009, 45011:
		return fmt.Errorf("%s: %w: %w", where, &bot.RateLimitedError{RetryAfter: time.Second}, e)
	case -1, 40001, 40014, 42001:
		return fmt.Errorf("%s: %w: %w", where, flows.ErrUnavailable, e)
	default:
		return fmt.Errorf("%s: %w: %w", where, flows.ErrInvalid, e)
	}
}

// The access token is a stable token (/cgi-bin/stable_token in normal mode):
// WeChat hands every caller the same token until it expires, so replicas
// that fetch at the same moment do not invalidate each other's tokens, and
// no cross-replica lock is needed. The token is cached in Config.Cache as
// "<unix expiry>:<token>" with a TTL, five minutes short of its lifetime;
// the expiry in the value keeps a store whose TTLs lag (an embedded Redis)
// from serving a dead token.

// tokenMargin is how long before its expiry a token is replaced.
const tokenMargin = 5 * time.Minute

func (a *Adapter) tokenKey() string { return "wechat:access_token:" + a.cfg.AppID }

// accessToken returns the cached token or fetches one.
func (a *Adapter) accessToken(ctx context.Context) (string, error) {
	if token, ok, err := a.cachedToken(ctx); err != nil || ok {
		return token, err
	}
	a.tokenMu.Lock()
	defer a.tokenMu.Unlock()
	if token, ok, err := a.cachedToken(ctx); err != nil || ok {
		return token, err // another goroutine fetched it meanwhile
	}
	return a.fetchToken(ctx)
}

func (a *Adapter) cachedToken(ctx context.Context) (string, bool, error) {
	value, ok, err := a.cfg.Cache.GetString(ctx, a.tokenKey())
	if err != nil {
		return "", false, fmt.Errorf("access token cache: %w: %w", flows.ErrUnavailable, err)
	}
	if !ok {
		return "", false, nil
	}
	expiry, token, found := strings.Cut(value, ":")
	unix, err := strconv.ParseInt(expiry, 10, 64)
	if !found || err != nil || token == "" || !a.now().Before(time.Unix(unix, 0)) {
		return "", false, nil
	}
	return token, true, nil
}

func (a *Adapter) fetchToken(ctx context.Context) (string, error) {
	payload, err := encodeJSON(map[string]any{
		"grant_type":    "client_credential",
		"appid":         a.cfg.AppID,
		"secret":        a.cfg.AppSecret,
		"force_refresh": false,
	})
	if err != nil {
		return "", err
	}
	raw, code, msg, err := a.post(ctx, pathStableToken, payload)
	if err != nil {
		return "", fmt.Errorf("access token: %w: %w", flows.ErrUnavailable, err)
	}
	if code != 0 {
		return "", apiError("access token", &APIError{Path: pathStableToken, Code: code, Msg: msg})
	}
	var answer credential.ResAccessToken
	if err := json.Unmarshal(raw, &answer); err != nil || answer.AccessToken == "" || answer.ExpiresIn <= 0 {
		return "", fmt.Errorf("access token: %w: answer without a token", flows.ErrUnavailable)
	}
	life := time.Duration(answer.ExpiresIn) * time.Second
	ttl := life - tokenMargin
	if ttl < life/2 { // a token about to expire: keep it for half its remaining life
		ttl = life / 2
	}
	value := strconv.FormatInt(a.now().Add(ttl).Unix(), 10) + ":" + answer.AccessToken
	if err := a.cfg.Cache.SetString(ctx, a.tokenKey(), value, ttl); err != nil {
		// The token is good; only sharing it failed. The next call fetches
		// again, and gets the same stable token.
		a.log.Warn("could not cache the wechat access token", "err", err)
	}
	a.log.Debug("wechat access token fetched", "expires_in", answer.ExpiresIn)
	return answer.AccessToken, nil
}

// dropToken removes the cached token if it is still the one WeChat
// rejected (another replica may have stored a fresh one meanwhile).
func (a *Adapter) dropToken(ctx context.Context, rejected string) error {
	a.tokenMu.Lock()
	defer a.tokenMu.Unlock()
	token, ok, err := a.cachedToken(ctx)
	if err != nil || !ok || token != rejected {
		return err
	}
	if err := a.cfg.Cache.Delete(ctx, a.tokenKey()); err != nil {
		return fmt.Errorf("access token cache: %w: %w", flows.ErrUnavailable, err)
	}
	return nil
}
