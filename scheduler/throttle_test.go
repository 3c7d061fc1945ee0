package scheduler

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/flows"
)

// recordingLimiter remembers which limiter each wait drew from.
type recordingLimiter struct {
	Limiter // the methods a test does not expect panic on the nil interface
	pause   time.Duration
	waits   []string
	limits  []flows.Limit
}

func (r *recordingLimiter) ChannelPause(context.Context, flows.Channel) (time.Duration, error) {
	return r.pause, nil
}

func (r *recordingLimiter) Wait(_ context.Context, key string, l flows.Limit) error {
	r.waits = append(r.waits, key)
	r.limits = append(r.limits, l)
	return nil
}

func TestAPIThrottleSharesTheDispatchersBudget(t *testing.T) {
	limits := map[flows.Channel]ChannelLimits{
		flows.ChannelTelegram: NewChannelLimits(flows.Limit{Count: 30, Per: time.Second}, flows.Limit{Count: 1, Per: time.Second}),
		flows.ChannelWeChat:   NewChannelLimits(flows.Limit{Count: 20, Per: time.Second}, flows.Limit{Count: 1, Per: time.Second}),
	}
	lim := &recordingLimiter{}
	throttle := APIThrottle(lim, limits)
	for _, ch := range []flows.Channel{flows.ChannelTelegram, flows.ChannelWeChat} {
		if err := throttle(context.Background(), ch); err != nil {
			t.Fatalf("%s: %v", ch, err)
		}
	}
	wantKeys := []string{broadcastKey(flows.ChannelTelegram), broadcastKey(flows.ChannelWeChat)}
	wantLimits := []flows.Limit{limits[flows.ChannelTelegram].Global, limits[flows.ChannelWeChat].Global}
	for i := range wantKeys {
		if i >= len(lim.waits) || lim.waits[i] != wantKeys[i] || lim.limits[i] != wantLimits[i] {
			t.Fatalf("waits %v under %v, want %v under %v", lim.waits, lim.limits, wantKeys, wantLimits)
		}
	}
	if lim.limits[0].Burst != 2 {
		t.Errorf("API invitations wait under burst %d, the dispatchers under 2", lim.limits[0].Burst)
	}
}

func TestAPIThrottleRefusesWhileThePlatformPauses(t *testing.T) {
	lim := &recordingLimiter{pause: 7 * time.Second}
	limits := map[flows.Channel]ChannelLimits{flows.ChannelTelegram: NewChannelLimits(flows.Limit{Count: 30, Per: time.Second}, flows.Limit{})}
	err := APIThrottle(lim, limits)(context.Background(), flows.ChannelTelegram)
	var limited *bot.RateLimitedError
	if !errors.As(err, &limited) || limited.RetryAfter != 7*time.Second {
		t.Fatalf("got %v, want a RateLimitedError with the pause", err)
	}
	if len(lim.waits) != 0 {
		t.Errorf("waited %v although the channel is paused", lim.waits)
	}
}
