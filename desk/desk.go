// Package desk is the handoff desk: it tells agents about unhappy
// customers, lets registered agents claim each case, relays messages both
// ways between the agents' chat (Telegram) and the customer's chat
// (Telegram or WeChat), closes cases with an outcome, asks the customer
// afterwards whether it was fixed, and keeps cases from waiting unseen
// (reminders, escalation to supervisors). The same moves are offered to the
// API, so a dashboard or another helpdesk can work the desk too.
package desk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/flows"
)

// Records is the SQL side of the desk.
type Records interface {
	AgentByTelegramUser(ctx context.Context, userID int64) (flows.Agent, error)
	Agent(ctx context.Context, id int64) (flows.Agent, error)
	Handoff(ctx context.Context, id int64) (flows.Handoff, error)
	QueryHandoffs(ctx context.Context, q flows.HandoffQuery) ([]flows.Handoff, error)
	NoticePosted(ctx context.Context, id int64, chatID string, messageID int, at time.Time) (flows.Handoff, error)
	ClaimHandoff(ctx context.Context, id int64, agent flows.Agent, at time.Time) (flows.Handoff, bool, error)
	SetHandoffTopic(ctx context.Context, id int64, topicID int) error
	ResolveHandoff(ctx context.Context, id int64, r flows.Resolution) (flows.Handoff, bool, error)
	ReopenHandoff(ctx context.Context, id int64, at time.Time) (flows.Handoff, bool, error)
	CaseForChat(ctx context.Context, ch flows.Channel, externalID string) (flows.Handoff, error)
	CaseByAgentMessage(ctx context.Context, chatID string, messageID int) (flows.Handoff, error)
	CaseByTopic(ctx context.Context, chatID string, topicID int) (flows.Handoff, error)
	AddCaseMessage(ctx context.Context, m flows.CaseMessage) (flows.CaseMessage, error)
	CaseMessages(ctx context.Context, handoffID int64) ([]flows.CaseMessage, error)
	UnclaimedCases(ctx context.Context, limit int) ([]flows.Handoff, error)
	MarkCaseReminded(ctx context.Context, id int64, at time.Time) (bool, error)
	MarkEscalated(ctx context.Context, id int64, at time.Time) (bool, error)
	FollowUpsDue(ctx context.Context, resolvedBefore time.Time, limit int) ([]flows.Handoff, error)
	MarkFollowUpSent(ctx context.Context, id int64, at time.Time) (bool, error)
	ClearFollowUpSent(ctx context.Context, id int64) error
	RecordRecovery(ctx context.Context, responseID int64, score int, at time.Time) (flows.Handoff, bool, error)
	CustomerScores(ctx context.Context, customerID, exceptResponse int64, limit int) ([]flows.PastScore, error)
	CustomerCases(ctx context.Context, customerID, except int64) ([]flows.Handoff, error)
	Answers(ctx context.Context, responseID int64) ([]flows.Answer, error)
	// HandoffNotice reads a response's handoff with what its notice shows
	// (history: how many earlier scores).
	HandoffNotice(ctx context.Context, responseID int64, history int) (flows.Handoff, flows.NoticeFacts, error)
	Response(ctx context.Context, id int64) (flows.Response, error)
	Customer(ctx context.Context, id int64) (flows.Customer, error)
	MarkUnreachable(ctx context.Context, customerID int64, at time.Time) error
}

// AgentChat is the agents' side of a chat platform (Telegram groups).
type AgentChat interface {
	PostHTML(ctx context.Context, chatID string, p flows.Post) (int, error)
	EditHTML(ctx context.Context, chatID string, messageID int, html string, buttons [][]flows.Button) error
	IsForum(ctx context.Context, chatID string) (bool, error)
	CreateTopic(ctx context.Context, chatID, name string) (int, error)
	AnswerTap(ctx context.Context, tapID, notice string) error
}

// PhotoSender is a customer channel that can send photos.
type PhotoSender interface {
	SendPhoto(ctx context.Context, chatID, photoID, caption string) (int, error)
}

// Turns deduplicates and orders the agents' chat updates (the Redis turns
// customer chats use).
type Turns interface {
	Begin(ctx context.Context, ch flows.Channel, chatID, updateID string, leaseTTL time.Duration) (flows.Turn, error)
	End(ctx context.Context, t flows.Turn, e flows.TurnEnd) error
	Release(ctx context.Context, t flows.Turn) error
	WindowOpen(ctx context.Context, ch flows.Channel, chatID string) (bool, error)
}

// Config wires a Service. Zero durations take the defaults noted.
type Config struct {
	Records  Records
	Turns    Turns
	Chat     AgentChat     // nil: no agents' chat (the API works the desk)
	Channels []bot.Channel // the customers' channels
	Logger   *slog.Logger
	Now      func() time.Time

	AgentChatID      string        // where notices go unless a route says otherwise
	SupervisorChatID string        // escalations; "" = none
	Routes           []flows.Route // by event attribute
	Language         string        // agents' language: zh-CN (default) or en
	WeChatTemplate   string        // named to agents when only a template can reach a WeChat customer

	ClaimSLA      time.Duration      // default 15m: an unclaimed case is announced again
	EscalateAfter time.Duration      // default 60m: then it goes to the supervisors
	Hours         flows.WorkingHours // SLA clocks run only then (zero value: always)
	FollowUpDelay time.Duration      // default 24h after resolution: "did we fix it?"
	ReopenWindow  time.Duration      // default 7 days: a customer writing then reopens the case
	DedupeTTL     time.Duration      // default 7 days
	// QuietUntil, when set, says until when a customer must not get a
	// message they did not ask for (zero: not quiet now); the follow-up
	// question waits for it.
	QuietUntil func(ctx context.Context, customerRef, timezone string, now time.Time) (time.Time, error)
}

// Service is the desk use case.
type Service struct {
	cfg      Config
	records  Records
	turns    Turns
	chat     AgentChat
	channels map[flows.Channel]bot.Channel
	log      *slog.Logger
	now      func() time.Time
	lang     string
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Records == nil || cfg.Turns == nil {
		return nil, errors.New("desk: Records and Turns are required")
	}
	if cfg.Language == "" {
		cfg.Language = "zh-CN"
	}
	if !ValidLanguage(cfg.Language) {
		return nil, fmt.Errorf("desk: agents' language %q: %w: want zh-CN or en", cfg.Language, flows.ErrInvalid)
	}
	cfg.ClaimSLA = orDefault(cfg.ClaimSLA, 15*time.Minute)
	cfg.EscalateAfter = orDefault(cfg.EscalateAfter, time.Hour)
	cfg.FollowUpDelay = orDefault(cfg.FollowUpDelay, 24*time.Hour)
	cfg.ReopenWindow = orDefault(cfg.ReopenWindow, 7*24*time.Hour)
	cfg.DedupeTTL = orDefault(cfg.DedupeTTL, 7*24*time.Hour)
	if cfg.Hours.Location == nil {
		cfg.Hours = flows.AlwaysOpen()
	}
	s := &Service{cfg: cfg, records: cfg.Records, turns: cfg.Turns, chat: cfg.Chat, channels: map[flows.Channel]bot.Channel{},
		log: cfg.Logger, now: cfg.Now, lang: cfg.Language}
	for _, ch := range cfg.Channels {
		s.channels[ch.Name()] = ch
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// callTimeout bounds each platform call the desk makes.
const callTimeout = 10 * time.Second

func call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, callTimeout)
}
