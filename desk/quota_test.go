package desk_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/desk"
	"github.com/cxbot/cxbot/flows"
)

// Within the window but past WeChat's message quota, an agent's relay is
// refused with ErrQuotaSpent (not the window's message), said in the
// agents' chat, and stored as not delivered.
func TestRelayBeyondWeChatQuota(t *testing.T) {
	f := newFixture(t)
	h := f.detractor(flows.ChannelWeChat, "o-wx-q", "物流太慢")
	f.tap(11, h, flows.DeskTap{Action: flows.ActClaim, HandoffID: h.ID})
	if err := f.redis.End(f.ctx, mustBegin(t, f, "o-wx-q"), flows.TurnEnd{WindowTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	f.wx.mu.Lock()
	f.wx.fail = fmt.Errorf("wechat custom send to o-wx-q: %w: %w", bot.ErrQuotaSpent, bot.ErrOutsideWindow)
	f.wx.mu.Unlock()

	f.update(flows.DeskUpdate{UserID: "11", MessageID: 95, ReplyToMessageID: h.NoticeMessageID, Text: "您好"})
	posts, _, _ := f.chat.snapshot()
	last := posts[len(posts)-1]
	if !strings.Contains(last.HTML, "until they write again") || strings.Contains(last.HTML, "48 hours since") {
		t.Fatalf("agents were told %q, want the quota's message", last.HTML)
	}
	m, err := f.svc.ReplyAs(f.ctx, h.ID, f.anna.ID, "API reply")
	if !errors.Is(err, desk.ErrQuotaSpent) || !errors.Is(err, flows.ErrConflict) || m.Delivered || m.ID == 0 {
		t.Fatalf("ReplyAs = %+v, %v; want a stored, undelivered message and ErrQuotaSpent", m, err)
	}
	if len(f.wx.messages()) != 0 {
		t.Fatalf("WeChat customer got %+v", f.wx.messages())
	}
}
