package conversation_test

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxbot/cxbot/conversation"
	"github.com/cxbot/cxbot/flows"
	"github.com/cxbot/cxbot/store/redisstore"
)

// A chat over its inbound limit (the real Redis GCRA limiter, shared by
// replicas) has its extra updates acknowledged (nil: the platform does
// not retry) without effect, counted, and logged once; another chat and
// an opt-out still get through.
func TestInboundChatLimitDropsTheExcess(t *testing.T) {
	ctx := context.Background()
	r, err := redisstore.Open(ctx, os.Getenv("CXBOT_TEST_REDIS_URL"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	limiter := r.WithPrefix("cx-inbound-" + rand.Text()[:10] + ":")
	var dropped atomic.Int64
	h := newHarness(t, func(c *conversation.Config) {
		c.Inbound = conversation.InboundLimit{Limiter: limiter, Limit: flows.Limit{Count: 3, Per: time.Hour, Burst: 3},
			Dropped: func(ch flows.Channel) {
				if ch == flows.ChannelTelegram {
					dropped.Add(1)
				}
			}}
	})
	h.invite("7001", "C-1")
	for i := 0; i < 6; i++ {
		if err := h.say("7001", "hello"); err != nil {
			t.Fatalf("update %d over the limit = %v, want nil (acknowledged)", i, err)
		}
	}
	if got := dropped.Load(); got != 3 {
		t.Errorf("dropped = %d, want 3", got)
	}
	replies := len(h.tg.sent("7001"))
	if err := h.say("7001", "more"); err != nil {
		t.Fatal(err)
	}
	if n := len(h.tg.sent("7001")); n != replies {
		t.Errorf("a dropped update was answered: %d messages, was %d", n, replies)
	}
	if n := strings.Count(h.logs.String(), "over its inbound limit"); n != 1 {
		t.Errorf("logged %d times, want once per window", n)
	}
	// Another chat has its own budget; an opt-out is never dropped.
	h.invite("7002", "C-2")
	h.mustSay("7002", "hello")
	if dropped.Load() != 4 { // the three, and "more"
		t.Errorf("dropped = %d after another chat's update, want 4", dropped.Load())
	}
	// A second replica (its own service, the same Redis) sees the same budget.
	other := newHarness(t, func(c *conversation.Config) { c.Inbound = h.cfg.Inbound })
	if err := other.say("7001", "hello"); err != nil {
		t.Fatal(err)
	}
	if dropped.Load() != 5 || len(other.tg.sent("7001")) != 0 {
		t.Errorf("the other replica applied an update of a chat over its limit: dropped %d, sent %d", dropped.Load(), len(other.tg.sent("7001")))
	}
	h.mustSay("7001", "/stop")
	if got := h.tg.texts("7001"); !strings.Contains(got[len(got)-1], flows.SystemText("stopped", "en")) {
		t.Errorf("stop over the limit was not applied: last reply %q", got[len(got)-1])
	}
}
