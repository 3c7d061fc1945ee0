// Package telegram is cxbot's Telegram channel. It sends through
// github.com/go-telegram/bot and receives updates with its own webhook handler
// and long-poll loop, because both must acknowledge an update only once the
// conversation layer has made its effect durable (the SDK's receivers
// acknowledge first). SDK types never leave this package.
package telegram

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	tgbot "github.com/go-telegram/bot"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/flows"
)

// WebhookPath is where RegisterWebhook tells Telegram to post updates, under
// Config.PublicURL; mount WebhookHandler there.
const WebhookPath = "/telegram/webhook"

const defaultAPIURL = "https://api.telegram.org"

// allowedUpdates are the update kinds cxbot asks Telegram for.
var allowedUpdates = []string{"message", "callback_query", "my_chat_member"}

// Config configures the adapter.
type Config struct {
	Token         string
	APIURL        string        // "" = https://api.telegram.org ; fake server URL in tests
	WebhookSecret string        // required in webhook mode; 1–256 of A-Z a-z 0-9 _ -
	PublicURL     string        // webhook mode when set: setWebhook(PublicURL+WebhookPath, secret_token)
	AgentChatID   int64         // 0 = no agent chat (NotifyAgents then logs only and returns nil)
	PollTimeout   time.Duration // long-poll timeout, default 30s
	HTTPClient    *http.Client  // optional; its Timeout must exceed PollTimeout when polling
	// DecodeTap turns callback data back into a Tap. Required. When it fails
	// (stale or forged data), the update carries a zero Tap, which the
	// conversation layer treats as a tap on a question no longer asked.
	DecodeTap func(string) (flows.Tap, error)
	Now       func() time.Time // optional clock, stamps taps (Telegram gives them no date)
	// PaidBroadcast sends broadcast messages (invitations, reminders) with
	// allow_paid_broadcast, for rates above 30/s; Telegram charges Stars.
	PaidBroadcast bool
}

// Handler is what the adapter feeds updates to (the conversation layer implements it).
// It returns nil only once the update's effect is durable.
type Handler interface {
	HandleUpdate(ctx context.Context, u flows.Update) error
}

// DeskHandler is a Handler that also works the agents' desk: messages and
// taps in group chats go to HandleDeskUpdate, with HandleUpdate's contract
// (nil only once durable; errors acknowledged as for HandleUpdate). A
// Handler that is no DeskHandler never sees group updates.
type DeskHandler interface {
	HandleDeskUpdate(ctx context.Context, u flows.DeskUpdate) error
}

// Adapter is the Telegram bot.Channel, webhook handler and poller.
type Adapter struct {
	cfg     Config
	log     *slog.Logger
	api     *tgbot.Bot
	baseURL string       // API base URL, no trailing slash
	http    *http.Client // for getUpdates
	calls   *http.Client // for the other calls, the SDK's and callJSON's
	now     func() time.Time

	forumMu sync.Mutex
	forums  map[int64]bool // IsForum's answers, by chat
}

var _ bot.Channel = (*Adapter)(nil)

// New checks cfg and builds the adapter. It makes no network call.
func New(cfg Config, logger *slog.Logger) (*Adapter, error) {
	switch {
	case strings.TrimSpace(cfg.Token) == "":
		return nil, fmt.Errorf("telegram: Token is required: %w", flows.ErrInvalid)
	case cfg.DecodeTap == nil:
		return nil, fmt.Errorf("telegram: DecodeTap is required: %w", flows.ErrInvalid)
	case cfg.PublicURL != "" && cfg.WebhookSecret == "":
		return nil, fmt.Errorf("telegram: WebhookSecret is required when PublicURL is set: %w", flows.ErrInvalid)
	case cfg.WebhookSecret != "" && !validSecret(cfg.WebhookSecret):
		return nil, fmt.Errorf("telegram: WebhookSecret must be 1 to 256 characters of A-Z, a-z, 0-9, _ and -: %w", flows.ErrInvalid)
	case cfg.PollTimeout < 0:
		return nil, fmt.Errorf("telegram: PollTimeout must not be negative: %w", flows.ErrInvalid)
	}
	if cfg.PollTimeout == 0 {
		cfg.PollTimeout = 30 * time.Second
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &Adapter{
		cfg:     cfg,
		log:     logger.With("channel", string(flows.ChannelTelegram)),
		baseURL: strings.TrimRight(cfg.APIURL, "/"),
		http:    cfg.HTTPClient,
		now:     cfg.Now,
		forums:  map[int64]bool{},
	}
	if a.baseURL == "" {
		a.baseURL = defaultAPIURL
	}
	if a.http == nil {
		a.http = &http.Client{} // each getUpdates call carries its own deadline
	}
	if a.now == nil {
		a.now = time.Now
	}

	opts := []tgbot.Option{
		tgbot.WithServerURL(a.baseURL),
		tgbot.WithSkipGetMe(),
		tgbot.WithErrorsHandler(func(err error) { a.log.Error("telegram sdk error", "err", err) }),
	}
	client := cfg.HTTPClient
	if client == nil {
		client = apiClient()
	}
	a.calls = client
	opts = append(opts, tgbot.WithHTTPClient(cfg.PollTimeout, client))
	api, err := tgbot.New(cfg.Token, opts...)
	if err != nil {
		return nil, fmt.Errorf("telegram: %w", err)
	}
	a.api = api
	return a, nil
}

// apiClient is the HTTP client for Bot API calls when the caller gives none.
// Go's default transport keeps 2 idle connections per host, so under
// concurrency most calls would open a new connection (a TLS handshake in
// production); every call carries its own deadline through its context.
func apiClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 128
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{Transport: t}
}

func validSecret(s string) bool {
	if len(s) > 256 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Name is flows.ChannelTelegram.
func (a *Adapter) Name() flows.Channel { return flows.ChannelTelegram }

// Send posts m to chatID with its keyboard as inline buttons whose
// callback_data is the button's Data.
func (a *Adapter) Send(ctx context.Context, chatID string, m flows.Message) (int, error) {
	id, err := parseChatID(chatID)
	if err != nil {
		return 0, err
	}
	if strings.TrimSpace(m.Text) == "" {
		return 0, fmt.Errorf("telegram sendMessage to %s: empty text: %w", chatID, flows.ErrInvalid)
	}
	params := &tgbot.SendMessageParams{ChatID: id, Text: m.Text, AllowPaidBroadcast: m.Broadcast && a.cfg.PaidBroadcast}
	keyboard, err := inlineKeyboard(m.Keyboard)
	if err != nil {
		return 0, fmt.Errorf("telegram sendMessage to %s: %w", chatID, err)
	}
	if keyboard != nil { // a nil *InlineKeyboardMarkup would still be sent, as "null"
		params.ReplyMarkup = keyboard
	}
	msg, err := a.sendMessage(ctx, params)
	if err != nil {
		return 0, apiError("sendMessage", chatID, err)
	}
	return msg.ID, nil
}

// CloseQuestion replaces the prompt's text and removes its keyboard
// (editMessageText without reply_markup). With an empty text only the
// keyboard goes. Editing a message that is already so counts as success, so
// a redelivered update can close the same question again.
func (a *Adapter) CloseQuestion(ctx context.Context, chatID string, messageID int, text string) error {
	id, err := parseChatID(chatID)
	if err != nil {
		return err
	}
	if messageID <= 0 {
		return fmt.Errorf("telegram: message id %d: %w", messageID, flows.ErrInvalid)
	}
	method := "editMessageText"
	if text == "" {
		method = "editMessageReplyMarkup"
		err = a.editMessageReplyMarkup(ctx, &tgbot.EditMessageReplyMarkupParams{ChatID: id, MessageID: messageID})
	} else {
		err = a.editMessageText(ctx, &tgbot.EditMessageTextParams{ChatID: id, MessageID: messageID, Text: text})
	}
	if err != nil && !isBadRequest(err, "message is not modified") {
		return apiError(method, chatID, err)
	}
	return nil
}

// AnswerTap answers a callback query, with notice as a toast when not empty.
// Inside a webhook call the answer rides on the webhook's reply instead of a
// call of its own (it then reaches Telegram when the update is handled).
// A query too old to answer counts as success: there is no spinner left to stop.
func (a *Adapter) AnswerTap(ctx context.Context, tapID, notice string) error {
	if tapID == "" {
		return fmt.Errorf("telegram answerCallbackQuery: empty callback query id: %w", flows.ErrInvalid)
	}
	if reply := webhookReplyFrom(ctx); reply != nil &&
		reply.take(answerCallbackMethod{Method: "answerCallbackQuery", CallbackQueryID: tapID, Text: notice}) {
		return nil // goes back to Telegram in the webhook's answer
	}
	err := a.answerCallbackQuery(ctx, &tgbot.AnswerCallbackQueryParams{CallbackQueryID: tapID, Text: notice})
	if err != nil {
		if isBadRequest(err, "query is too old") {
			a.log.Debug("callback query expired before it was answered", "tap_id", tapID)
			return nil
		}
		return apiError("answerCallbackQuery", "", err)
	}
	return nil
}

// maxAgentText keeps handoff notices (which quote the customer) under
// Telegram's 4096 UTF-16 unit limit.
const maxAgentText = 4000

// NotifyAgents posts text to the agent chat, or only logs it when there is none.
func (a *Adapter) NotifyAgents(ctx context.Context, text string) error {
	if a.cfg.AgentChatID == 0 {
		a.log.Info("no telegram agent chat configured, handoff notice not sent", "text", text)
		return nil
	}
	chatID := strconv.FormatInt(a.cfg.AgentChatID, 10)
	if u := utf16.Encode([]rune(text)); len(u) > maxAgentText {
		text = string(utf16.Decode(u[:maxAgentText-1])) + "…"
	}
	_, err := a.sendMessage(ctx, &tgbot.SendMessageParams{ChatID: a.cfg.AgentChatID, Text: text})
	if err != nil {
		return apiError("sendMessage", chatID, err)
	}
	return nil
}

// RegisterWebhook asks Telegram to post updates to PublicURL+WebhookPath with
// the secret token.
func (a *Adapter) RegisterWebhook(ctx context.Context) error {
	if a.cfg.PublicURL == "" {
		return fmt.Errorf("telegram setWebhook: PublicURL is not set: %w", flows.ErrInvalid)
	}
	url := strings.TrimRight(a.cfg.PublicURL, "/") + WebhookPath
	ok, err := a.api.SetWebhook(ctx, &tgbot.SetWebhookParams{
		URL:            url,
		SecretToken:    a.cfg.WebhookSecret,
		AllowedUpdates: allowedUpdates,
	})
	if err != nil {
		return apiError("setWebhook", "", err)
	}
	if !ok {
		return fmt.Errorf("telegram setWebhook: refused: %w", flows.ErrUnavailable)
	}
	a.log.Info("telegram webhook registered", "url", url)
	return nil
}

// DeleteWebhook removes the webhook so that getUpdates works; pending updates
// are kept.
func (a *Adapter) DeleteWebhook(ctx context.Context) error {
	if _, err := a.api.DeleteWebhook(ctx, &tgbot.DeleteWebhookParams{}); err != nil {
		return apiError("deleteWebhook", "", err)
	}
	return nil
}

func parseChatID(chatID string) (int64, error) {
	id, err := strconv.ParseInt(chatID, 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("telegram: chat id %q is not a number: %w", chatID, flows.ErrInvalid)
	}
	return id, nil
}

// inlineMarkup is an inline keyboard as cxbot sends it. The SDK's
// models.InlineKeyboardButton cannot be used: its CopyText field is a struct,
// so every button would go out with "copy_text":{"text":""} beside
// callback_data, and the Bot API wants exactly one optional field per button.
// SendMessageParams.ReplyMarkup takes any JSON value, so this type marshals
// only what cxbot sets.
type inlineMarkup struct {
	InlineKeyboard [][]callbackButton `json:"inline_keyboard"`
}

type callbackButton struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data"`
}

// inlineKeyboard converts buttons, refusing what Telegram would refuse.
func inlineKeyboard(rows [][]flows.Button) (*inlineMarkup, error) {
	var out [][]callbackButton
	for _, row := range rows {
		var r []callbackButton
		for _, b := range row {
			switch {
			case b.Label == "":
				return nil, fmt.Errorf("button without a label: %w", flows.ErrInvalid)
			case b.Data == "" || len(b.Data) > 64:
				return nil, fmt.Errorf("button %q: callback data must be 1 to 64 bytes, got %d: %w", b.Label, len(b.Data), flows.ErrInvalid)
			}
			r = append(r, callbackButton{Text: b.Label, CallbackData: b.Data})
		}
		if len(r) > 0 {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return &inlineMarkup{InlineKeyboard: out}, nil
}

func isBadRequest(err error, description string) bool {
	return errors.Is(err, tgbot.ErrorBadRequest) && strings.Contains(err.Error(), description)
}

// apiError translates an SDK error into cxbot's vocabulary:
//   - 403 (blocked, deactivated, kicked) → bot.ErrBlocked
//   - 429 → *bot.RateLimitedError
//   - 400 (and a group migrated to a supergroup) → flows.ErrInvalid: retrying the same request cannot help
//   - anything else (network, timeouts, 5xx, 401/404 from a bad token or URL) → flows.ErrUnavailable
//
// The SDK error stays wrapped too (errors.Is(err, context.Canceled) holds).
func apiError(method, chatID string, err error) error {
	where := "telegram " + method
	if chatID != "" {
		where += " to " + chatID
	}
	var tooMany *tgbot.TooManyRequestsError
	var migrate *tgbot.MigrateError
	switch {
	case errors.As(err, &tooMany):
		retry := time.Duration(tooMany.RetryAfter) * time.Second
		if retry <= 0 {
			retry = time.Second
		}
		return fmt.Errorf("%s: %w", where, &bot.RateLimitedError{RetryAfter: retry})
	case errors.Is(err, tgbot.ErrorForbidden):
		return fmt.Errorf("%s: %w: %w", where, bot.ErrBlocked, err)
	case errors.Is(err, tgbot.ErrorBadRequest), errors.As(err, &migrate):
		return fmt.Errorf("%s: %w: %w", where, flows.ErrInvalid, err)
	default:
		return fmt.Errorf("%s: %w: %w", where, flows.ErrUnavailable, err)
	}
}

// Preview is a message as Telegram shows it: its text and the labels of its
// inline keyboard, row by row.
type Preview struct {
	Text     string     `json:"text"`
	Keyboard [][]string `json:"keyboard"`
}

// Render shows m as Send would send it, refusing what Send would refuse.
func Render(m flows.Message) (Preview, error) {
	p := Preview{Text: m.Text, Keyboard: [][]string{}}
	keyboard, err := inlineKeyboard(m.Keyboard)
	if err != nil || keyboard == nil {
		return p, err
	}
	for _, row := range keyboard.InlineKeyboard {
		labels := make([]string, 0, len(row))
		for _, b := range row {
			labels = append(labels, b.Text)
		}
		p.Keyboard = append(p.Keyboard, labels)
	}
	return p, nil
}
