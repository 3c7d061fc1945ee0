// Package wechat is cxbot's WeChat Official Account (公众号) channel.
//
// Inbound, its own webhook handler checks WeChat's signatures, decrypts
// (github.com/silenceper/wechat/v2's util.Signature and util.DecryptMsg) and
// hands the update to the conversation layer before answering, because
// WeChat's retries must stop only once the update's effect is durable; the
// SDK's server.Serve answers first and leaves a forged request an empty 200.
//
// Outbound, it calls the three JSON endpoints it needs (stable access token,
// customer-service send, template send) with net/http, encoding the SDK's
// message types. The SDK's own senders and token handles go through
// util.DefaultHTTPClient and util.SetURIModifier, which are process-global
// (pointing one adapter at a test server would point every WeChat client in
// the process there), take no context, and report errcodes only as text.
// The access token lives in Config.Cache, shared by all replicas.
//
// WeChat has no editable messages, no callback queries and no agents' chat:
// CloseQuestion and AnswerTap do nothing and NotifyAgents refuses (agents
// hear of WeChat handoffs through another channel). SDK types never leave
// this package.
package wechat

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/silenceper/wechat/v2/officialaccount/message"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/flows"
)

// WebhookPath is where cxbot mounts WebhookHandler; the account's server URL
// (服务器地址) in WeChat's developer settings is the public URL plus this.
const WebhookPath = "/wechat"

const defaultAPIURL = "https://api.weixin.qq.com"

// ErrOutsideWindow means WeChat refused a customer-service message because
// the user has not written to the account in the last 48 hours (45015), or
// the messages allowed since then are used up (45047, which comes wrapped
// with bot.ErrQuotaSpent too). Only a template message (SendTemplate) can
// reach them now.
var ErrOutsideWindow = bot.ErrOutsideWindow

// Config configures the adapter.
type Config struct {
	AppID     string // the account's AppID (wx…)
	AppSecret string
	Token     string // the server token (令牌) set in the developer settings
	// AESKey is the EncodingAESKey (43 characters) for compatible and safe
	// mode. Empty: only plaintext messages are accepted (and the plain
	// fields of compatible-mode ones). Set: only encrypted messages are.
	AESKey string
	APIURL string // "" = https://api.weixin.qq.com ; the fake's URL in tests
	// DecodeTap turns a msgmenu option id back into a Tap. Required. When it
	// fails (stale or forged id), the update carries a zero Tap, which the
	// conversation layer treats as a tap on a question no longer asked.
	DecodeTap func(string) (flows.Tap, error)
	Cache     KV // shared access-token cache (Redis in production). Required.
	// Nonces remembers the nonces of accepted pushes for 10 minutes, shared
	// by all replicas (Redis in production), so a replayed push is refused.
	// Required.
	Nonces NonceStore
	// Quota counts the customer-service messages WeChat still allows each
	// user, shared by all replicas (Redis in production), so a send beyond
	// it fails with bot.ErrQuotaSpent before reaching WeChat. nil: not
	// counted (WeChat's own 45047 still maps to bot.ErrQuotaSpent).
	Quota      QuotaCounter
	HTTPClient *http.Client // optional; default has a 10s timeout
	Now        func() time.Time
}

// KV is the small key-value store the access token is cached in, shared by
// all replicas (cxbot's Redis implements it).
type KV interface {
	// GetString returns the value of key, and false when there is none.
	GetString(ctx context.Context, key string) (string, bool, error)
	SetString(ctx context.Context, key, value string, ttl time.Duration) error
	Delete(ctx context.Context, key string) error
}

// Handler is what the adapter feeds updates to (the conversation layer
// implements it). It returns nil only once the update's effect is durable.
type Handler interface {
	HandleUpdate(ctx context.Context, u flows.Update) error
}

// Adapter is the WeChat bot.Channel and webhook handler.
type Adapter struct {
	cfg     Config
	log     *slog.Logger
	baseURL string // API base URL, no trailing slash
	http    *http.Client
	now     func() time.Time

	tokenMu sync.Mutex // one token request at a time from this process
	// noMenuUntil (unix ns) is when to try a msgmenu again after WeChat
	// said the account may not send them (40200); see menus.go.
	noMenuUntil atomic.Int64
}

var _ bot.Channel = (*Adapter)(nil)

// New checks cfg and builds the adapter. It makes no network call.
func New(cfg Config, logger *slog.Logger) (*Adapter, error) {
	invalid := func(format string, args ...any) (*Adapter, error) {
		return nil, fmt.Errorf("wechat: "+format+": %w", append(args, flows.ErrInvalid)...)
	}
	switch {
	case strings.TrimSpace(cfg.AppID) == "":
		return invalid("AppID is required")
	case strings.TrimSpace(cfg.AppSecret) == "":
		return invalid("AppSecret is required")
	case strings.TrimSpace(cfg.Token) == "":
		return invalid("Token is required")
	case cfg.AESKey != "" && !validAESKey(cfg.AESKey):
		return invalid("AESKey must be the 43-character EncodingAESKey")
	case cfg.DecodeTap == nil:
		return invalid("DecodeTap is required")
	case cfg.Cache == nil:
		return invalid("Cache is required (the access token is shared by all replicas)")
	case cfg.Nonces == nil:
		return invalid("Nonces is required (replayed pushes are refused by every replica)")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &Adapter{
		cfg:     cfg,
		log:     logger.With("channel", string(flows.ChannelWeChat)),
		baseURL: strings.TrimRight(cfg.APIURL, "/"),
		http:    cfg.HTTPClient,
		now:     cfg.Now,
	}
	if a.baseURL == "" {
		a.baseURL = defaultAPIURL
	}
	if a.http == nil {
		a.http = &http.Client{Timeout: 10 * time.Second}
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a, nil
}

func validAESKey(k string) bool {
	if len(k) != 43 {
		return false
	}
	key, err := base64.StdEncoding.DecodeString(k + "=")
	return err == nil && len(key) == 32
}

// Name is flows.ChannelWeChat.
func (a *Adapter) Name() flows.Channel { return flows.ChannelWeChat }

// maxMenuItems is the most options sent as a msgmenu; a keyboard with more
// (an NPS scale has 11) goes as text listing them.
const maxMenuItems = 10

// Send delivers m to openID as a customer-service message, which WeChat
// accepts only within 48 hours of the user's last message (ErrOutsideWindow
// otherwise). Without a keyboard it is plain text. With one it is a msgmenu:
// m.Text, then one tappable option per button (id = Button.Data, content =
// label), then a hint that typing works too. When there are more than ten
// buttons, or WeChat refuses the menu, the options are listed in a text
// message instead; after a 40200 (an account that may not send menus) every
// keyboard goes as text for a day (menus.go). Each send uses one message of
// the user's quota (quota.go): none left is bot.ErrQuotaSpent, wrapped with
// ErrOutsideWindow. WeChat gives sent messages no id: Send returns 0.
func (a *Adapter) Send(ctx context.Context, openID string, m flows.Message) (int, error) {
	if strings.TrimSpace(openID) == "" {
		return 0, fmt.Errorf("wechat: empty openid: %w", flows.ErrInvalid)
	}
	if strings.TrimSpace(m.Text) == "" {
		return 0, fmt.Errorf("wechat custom send to %s: empty text: %w", openID, flows.ErrInvalid)
	}
	var buttons []flows.Button
	for _, row := range m.Keyboard {
		for _, b := range row {
			switch {
			case strings.TrimSpace(b.Label) == "":
				return 0, fmt.Errorf("wechat custom send to %s: button without a label: %w", openID, flows.ErrInvalid)
			case b.Data == "":
				return 0, fmt.Errorf("wechat custom send to %s: button %q without data: %w", openID, b.Label, flows.ErrInvalid)
			}
			buttons = append(buttons, b)
		}
	}
	if err := a.takeQuota(ctx, openID); err != nil {
		return 0, err
	}
	err := a.sendKinds(ctx, openID, m.Text, buttons)
	a.quotaRefused(ctx, openID, err)
	return 0, err
}

// sendKinds sends text alone, as a msgmenu, or as a typed prompt (the
// options listed in the text) when the menu is too long or refused.
func (a *Adapter) sendKinds(ctx context.Context, openID, text string, buttons []flows.Button) error {
	if len(buttons) == 0 {
		return a.sendCustom(ctx, message.NewCustomerTextMessage(openID, text))
	}
	if len(buttons) <= maxMenuItems && !a.menusRefused(ctx) {
		err := a.sendCustom(ctx, menuMessage(openID, text, buttons))
		if !errors.Is(err, flows.ErrInvalid) {
			return err
		}
		if !a.menuRefusal(ctx, err) {
			a.log.Warn("wechat refused a msgmenu message, sending its options as text", "chat_id", openID, "err", err)
		}
	}
	return a.sendCustom(ctx, message.NewCustomerTextMessage(openID, optionsText(text, buttons)))
}

// Hints for msgmenu messages and the text fallback. They are in Chinese,
// WeChat's language; survey texts come in the customer's.
const (
	hintMenuDigits  = "（也可以直接回复数字）"
	hintMenuOptions = "（也可以直接回复选项）"
	hintTextDigits  = "（请回复数字）"
	hintTextOptions = "（请回复选项前的数字）"
)

func menuMessage(openID, text string, buttons []flows.Button) *message.CustomerMessage {
	menu := &message.MediaMsgmenu{HeadContent: text, TailContent: hintMenuOptions}
	if numeric(buttons) {
		menu.TailContent = hintMenuDigits
	}
	for _, b := range buttons {
		menu.List = append(menu.List, message.MsgmenuItem{ID: b.Data, Content: b.Label})
	}
	return &message.CustomerMessage{ToUser: openID, Msgtype: "msgmenu", Msgmenu: menu}
}

// optionsText lists the buttons under text so the customer can type an
// answer: scale labels (numbers) as they are, other options numbered from 1,
// the numbers flows.Question.ParseChoice reads.
func optionsText(text string, buttons []flows.Button) string {
	var b strings.Builder
	b.WriteString(text)
	b.WriteString("\n\n")
	if numeric(buttons) {
		for i, btn := range buttons {
			if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(btn.Label)
		}
		b.WriteString("\n" + hintTextDigits)
		return b.String()
	}
	for i, btn := range buttons {
		fmt.Fprintf(&b, "%d. %s\n", i+1, btn.Label)
	}
	b.WriteString(hintTextOptions)
	return b.String()
}

// numeric reports whether every label is a number (a scale question).
func numeric(buttons []flows.Button) bool {
	for _, b := range buttons {
		if _, err := strconv.Atoi(b.Label); err != nil {
			return false
		}
	}
	return true
}

// SendTemplate sends a template message (模板消息), which reaches a follower
// outside the 48-hour window. data maps the template's keys to their values;
// url ("" = none) is opened when the message is tapped.
func (a *Adapter) SendTemplate(ctx context.Context, openID, templateID, url string, data map[string]string) error {
	switch {
	case strings.TrimSpace(openID) == "":
		return fmt.Errorf("wechat: empty openid: %w", flows.ErrInvalid)
	case strings.TrimSpace(templateID) == "":
		return fmt.Errorf("wechat template send to %s: empty template id: %w", openID, flows.ErrInvalid)
	}
	msg := templateMessage{ToUser: openID, TemplateID: templateID, URL: url, Data: map[string]templateValue{}}
	for k, v := range data {
		msg.Data[k] = templateValue{Value: v}
	}
	var answer struct {
		MsgID int64 `json:"msgid"`
	}
	if err := a.call(ctx, pathTemplateSend, openID, msg, &answer); err != nil {
		return err
	}
	a.log.Debug("wechat template message sent", "chat_id", openID, "template_id", templateID, "msg_id", answer.MsgID)
	return nil
}

// templateMessage is the body of a template send. The SDK's
// message.TemplateMessage always encodes an empty "miniprogram" object,
// which is not what an account without a mini program should send.
type templateMessage struct {
	ToUser     string                   `json:"touser"`
	TemplateID string                   `json:"template_id"`
	URL        string                   `json:"url,omitempty"`
	Data       map[string]templateValue `json:"data"`
}

type templateValue struct {
	Value string `json:"value"`
}

// CloseQuestion does nothing: WeChat messages cannot be edited, and a msgmenu
// option tapped again is answered as a stale tap by the conversation layer.
func (a *Adapter) CloseQuestion(context.Context, string, int, string) error { return nil }

// AnswerTap does nothing: a msgmenu tap arrives as an ordinary text message,
// with nothing to acknowledge.
func (a *Adapter) AnswerTap(context.Context, string, string) error { return nil }

// NotifyAgents refuses with flows.ErrUnavailable: WeChat has no agents' chat.
// Agents hear of a WeChat customer's handoff through another channel (the
// Telegram agents' chat or the dashboard); the caller picks that channel.
func (a *Adapter) NotifyAgents(context.Context, string) error {
	return fmt.Errorf("wechat: no agents' chat on WeChat, notify agents through another channel: %w", flows.ErrUnavailable)
}

// Preview is a message as WeChat shows it: a msgmenu (text, tappable
// options, a hint) or plain text, the options listed in it when there are
// more than ten.
type Preview struct {
	Kind    string   `json:"kind"` // "menu" or "text"
	Text    string   `json:"text"`
	Options []string `json:"options"`
	Tail    string   `json:"tail,omitempty"`
}

// Render shows m as Send would send it to an account that may send menus
// (one that may not gets the text form, as for more than ten options).
func Render(m flows.Message) Preview {
	var buttons []flows.Button
	for _, row := range m.Keyboard {
		buttons = append(buttons, row...)
	}
	switch {
	case len(buttons) == 0:
		return Preview{Kind: "text", Text: m.Text, Options: []string{}}
	case len(buttons) <= maxMenuItems:
		menu := menuMessage("", m.Text, buttons).Msgmenu
		p := Preview{Kind: "menu", Text: menu.HeadContent, Tail: menu.TailContent, Options: []string{}}
		for _, item := range menu.List {
			p.Options = append(p.Options, item.Content)
		}
		return p
	}
	return Preview{Kind: "text", Text: optionsText(m.Text, buttons), Options: []string{}}
}
