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

// inboundLimit is the limit u is checked against; false when none applies.
func (s *Service) inboundLimit(u flows.Update) (flows.Limit, bool) {
	l := s.inbound
	if l.Limiter == nil || l.Limit.Count == 0 || u.Blocked || isOptOut(strings.TrimSpace(u.Text)) {
		return flows.Limit{}, false
	}
	return l.Limit, true
}

// admitter is a States that checks the chat's inbound limit within Begin's
// round trip (redisstore does), so admitting an update costs no round trip
// of its own.
type admitter interface {
	BeginAdmitted(ctx context.Context, ch flows.Channel, chatID, updateID string, leaseTTL time.Duration, inbound flows.Limit) (flows.Turn, error)
}

// overInbound reports whether u is over its chat's inbound limit (and so
// must be acknowledged without being applied). A limiter that fails lets
// the update through (logged): Redis down fails the turn anyway.
func (s *Service) overInbound(ctx context.Context, u flows.Update) bool {
	l, ok := s.inboundLimit(u)
	if !ok {
		return false
	}
	key := "inbound:" + string(u.Channel) + ":" + u.ChatID
	ok, _, err := s.inbound.Limiter.Allow(ctx, key, l)
	if err != nil {
		s.log.Warn("inbound chat limiter unavailable, update let through", "channel", u.Channel, "chat", flows.LogValue(u.ChatID), "err", err)
		return false
	}
	if ok {
		return false
	}
	s.droppedInbound(ctx, u)
	return true
}

// droppedInbound counts an update dropped over its chat's inbound limit.
func (s *Service) droppedInbound(ctx context.Context, u flows.Update) {
	l := s.inbound
	if l.Dropped != nil {
		l.Dropped(u.Channel)
	}
	// One log line per chat and window, whichever replica drops.
	key := "inbound:" + string(u.Channel) + ":" + u.ChatID
	if first, _, err := l.Limiter.Allow(ctx, key+":logged", flows.Limit{Count: 1, Per: l.Limit.Per}); err == nil && first {
		s.log.Warn("chat over its inbound limit: updates acknowledged and dropped until it slows down",
			"channel", u.Channel, "chat", flows.LogValue(u.ChatID), "limit", l.Limit.Count, "per", l.Limit.Per)
	}
}
