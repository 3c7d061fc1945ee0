package main

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/bot/telegram"
	"github.com/cxbot/cxbot/desk"
	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/store/redisstore"
	"github.com/cxbot/cxbot/store/sqlstore"
)

// newDesk wires the handoff desk: agents work cases in the Telegram agents'
// chat when there is one, and through the API always.
func newDesk(cfg config, db *sqlstore.DB, states *redisstore.Store, tg *telegram.Adapter, channels []bot.Channel, log *slog.Logger,
	quietUntil func(ctx context.Context, customerRef, timezone string, now time.Time) (time.Time, error)) (*desk.Service, error) {
	hours, err := flows.ParseWorkingHours(cfg.DeskHours, cfg.DeskTimeZone)
	if err != nil {
		return nil, err
	}
	dc := desk.Config{
		Records: db, Turns: states, Channels: channels, Logger: log,
		Routes: cfg.HandoffRoutes, Language: cfg.AgentLanguage, WeChatTemplate: cfg.WeChatDeskTemplate,
		ClaimSLA: cfg.ClaimSLA, EscalateAfter: cfg.EscalateAfter, Hours: hours,
		FollowUpDelay: cfg.FollowUpDelay, ReopenWindow: cfg.ReopenWindow, QuietUntil: quietUntil,
	}
	if tg != nil {
		dc.Chat = tg
		if cfg.TelegramAgentChat != 0 {
			dc.AgentChatID = strconv.FormatInt(cfg.TelegramAgentChat, 10)
		}
		if cfg.SupervisorChat != 0 {
			dc.SupervisorChatID = strconv.FormatInt(cfg.SupervisorChat, 10)
		}
	}
	return desk.New(dc)
}

// updateRouter hands customers' updates to the conversation layer and the
// agents' chat updates to the desk.
type updateRouter struct {
	conv updateHandler
	desk *desk.Service
}

func (r updateRouter) HandleUpdate(ctx context.Context, u flows.Update) error {
	return r.conv.HandleUpdate(ctx, u)
}

func (r updateRouter) HandleDeskUpdate(ctx context.Context, u flows.DeskUpdate) error {
	return r.desk.HandleDeskUpdate(ctx, u)
}
