package wechat

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/silenceper/wechat/v2/officialaccount/message"

	"github.com/cxbot/cxbot/bot"
)

// WeChat limits customer-service messages per user: each message from the
// user allows 5 sends within 48 hours; a follow, a QR-code scan or a menu
// click allows 3 within a minute; beyond that a send answers 45047. cxbot
// counts conservatively in one counter per user: a new grant replaces a
// smaller or shorter one and never adds to it, so the adapter may stop
// before WeChat would, never after. WeChat has the last word: its 45047
// empties the counter.
const (
	messageGrant    = 5
	messageGrantTTL = 48 * time.Hour
	eventGrant      = 3
	eventGrantTTL   = time.Minute
)

// QuotaCounter counts, per user, the customer-service messages WeChat still
// allows, shared by all replicas (cxbot's Redis implements it).
type QuotaCounter interface {
	// GrantQuota lets key send n messages for ttl, unless it already may
	// send at least n for at least as long.
	GrantQuota(ctx context.Context, key string, n int, ttl time.Duration) error
	// TakeQuota uses one message of key's quota; false when none is left.
	TakeQuota(ctx context.Context, key string) (bool, error)
	// DropQuota empties key's quota.
	DropQuota(ctx context.Context, key string) error
}

func (a *Adapter) quotaKey(openID string) string {
	return "wechat:quota:" + a.cfg.AppID + ":" + openID
}

// grantQuota records the quota a push from the user grants. A failure is
// logged, not returned: the update must still be handled, and the sends it
// causes then fail closed (ErrQuotaSpent) rather than flood WeChat.
func (a *Adapter) grantQuota(ctx context.Context, w wireMessage) {
	if a.cfg.Quota == nil || w.FromUserName == "" {
		return
	}
	n, ttl := messageGrant, messageGrantTTL
	if message.MsgType(w.MsgType) == message.MsgTypeEvent {
		switch message.EventType(w.Event) {
		case message.EventSubscribe, message.EventScan, message.EventClick:
			n, ttl = eventGrant, eventGrantTTL
		default:
			return // unsubscribe and the rest grant nothing
		}
	}
	if err := a.cfg.Quota.GrantQuota(ctx, a.quotaKey(w.FromUserName), n, ttl); err != nil {
		a.log.Warn("could not record the wechat customer-service quota", "chat_id", w.FromUserName, "err", err)
	}
}

// takeQuota uses one message of openID's quota, or says it is spent. When
// the counter cannot be read, the message goes anyway: WeChat answers 45047
// if it must.
func (a *Adapter) takeQuota(ctx context.Context, openID string) error {
	if a.cfg.Quota == nil {
		return nil
	}
	ok, err := a.cfg.Quota.TakeQuota(ctx, a.quotaKey(openID))
	if err != nil {
		a.log.Warn("could not read the wechat customer-service quota, sending anyway", "chat_id", openID, "err", err)
		return nil
	}
	if !ok {
		a.log.Warn("wechat customer-service quota spent: message not sent until the customer writes again", "chat_id", openID)
		return fmt.Errorf("wechat custom send to %s: %w: %w", openID, bot.ErrQuotaSpent, ErrOutsideWindow)
	}
	return nil
}

// quotaRefused empties openID's counter when WeChat said the quota is spent
// (the counter thought otherwise: another sender, or a lost grant).
func (a *Adapter) quotaRefused(ctx context.Context, openID string, err error) {
	if !errors.Is(err, bot.ErrQuotaSpent) {
		return
	}
	a.log.Warn("wechat customer-service quota spent (errcode 45047): message not sent until the customer writes again", "chat_id", openID)
	if a.cfg.Quota == nil {
		return
	}
	if derr := a.cfg.Quota.DropQuota(ctx, a.quotaKey(openID)); derr != nil {
		a.log.Warn("could not record the spent wechat quota", "chat_id", openID, "err", derr)
	}
}
