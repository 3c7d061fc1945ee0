package redisstore

import (
	"errors"
	"testing"
	"time"

	"github.com/cxbot/cxbot/flows"
)

// ForgetChat removes the chat's state and window, and no other chat's.
func TestForgetChat(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, r *Store) {
		ctx := testCtx(t)
		ch := flows.ChannelTelegram
		for _, chat := range []string{"100", "200"} {
			turn, err := r.Begin(ctx, ch, chat, "u-1", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.End(ctx, turn, flows.TurnEnd{Change: flows.SaveState, State: fullState(), StateTTL: time.Hour,
				SeenTTL: time.Hour, WindowTTL: time.Hour}); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.ForgetChat(ctx, ch, "100"); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := r.LoadState(ctx, ch, "100"); err != nil || ok {
			t.Errorf("state after ForgetChat: ok %v, err %v", ok, err)
		}
		if open, err := r.WindowOpen(ctx, ch, "100"); err != nil || open {
			t.Errorf("window after ForgetChat: open %v, err %v", open, err)
		}
		if _, ok, err := r.LoadState(ctx, ch, "200"); err != nil || !ok {
			t.Errorf("another chat's state: ok %v, err %v", ok, err)
		}
		if err := r.ForgetChat(ctx, ch, ""); !errors.Is(err, flows.ErrInvalid) {
			t.Errorf("ForgetChat(empty) = %v, want ErrInvalid", err)
		}
	})
}
