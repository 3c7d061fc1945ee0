package conversation

import (
	"context"
	"strings"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// InboundLimiter admits events under a limit shared by every replica
// (cxbot's Redis GCRA limiter implements it).
type InboundLimiter interface {
	Allow(ctx context.Context, key string, l flows.Limit) (allowed bool, retryAfter time.Duration, err error)
}

// InboundLimit bounds the updates one chat may send, all replicas together.
//
// An update over the limit is acknowledged and dropped, not refused: the
// platforms retry what is not answered 2xx (Telegram for up to a day,
// WeChat three times), so a 429 would multiply a flood instead of
// stopping it. The chat is logged once per window (across replicas) and
// each dropped update counted (Dropped). Opt-outs (stop words, a WeChat
// unsubscribe, a blocked bot) are never dropped: consent always wins.
type InboundLimit struct {
	Limiter InboundLimiter
	Limit   flows.Limit            // zero Count: no limit
	Dropped func(ch flows.Channel) // nil: not counted
}

// overInbound reports whether u is over its chat's inbound limit (and so
// must be acknowledged without being applied). A limiter that fails lets
// the update through (logged): Redis down fails the turn anyway.
func (s *Service) overInbound(ctx context.Context, u flows.Update) bool {
	l := s.inbound
	if l.Limiter == nil || l.Limit.Count == 0 || u.Blocked || isOptOut(strings.TrimSpace(u.Text)) {
		return false
	}
	key := "inbound:" + string(u.Channel) + ":" + u.ChatID
	ok, _, err := l.Limiter.Allow(ctx, key, l.Limit)
	if err != nil {
		s.log.Warn("inbound chat limiter unavailable, update let through", "channel", u.Channel, "chat", flows.LogValue(u.ChatID), "err", err)
		return false
	}
	if ok {
		return false
	}
	if l.Dropped != nil {
		l.Dropped(u.Channel)
	}
	// One log line per chat and window, whichever replica drops.
	if first, _, err := l.Limiter.Allow(ctx, key+":logged", flows.Limit{Count: 1, Per: l.Limit.Per}); err == nil && first {
		s.log.Warn("chat over its inbound limit: updates acknowledged and dropped until it slows down",
			"channel", u.Channel, "chat", flows.LogValue(u.ChatID), "limit", l.Limit.Count, "per", l.Limit.Per)
	}
	return true
}
