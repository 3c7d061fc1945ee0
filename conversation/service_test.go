package conversation_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cxbot/cxbot/bot"
	"github.com/cxbot/cxbot/conversation"
	"github.com/cxbot/cxbot/flows"
)

// rateLimited answers the first n sends with a 429.
func rateLimited(retryAfter time.Duration, n int) func(chCall) error {
	var mu sync.Mutex
	return func(c chCall) error {
		mu.Lock()
		defer mu.Unlock()
		if c.Op != "Send" || n == 0 {
			return nil
		}
		n--
		return &bot.RateLimitedError{RetryAfter: retryAfter}
	}
}

func TestReplyRateLimited(t *testing.T) {
	t.Run("a short retry_after is waited out", func(t *testing.T) {
		h := newHarness(t)
		h.tg.Fail = rateLimited(10*time.Millisecond, 1)
		if err := h.say("42", "/help"); err != nil {
			t.Fatalf("HandleUpdate = %v", err)
		}
		if got := h.tg.texts("42"); len(got) != 1 {
			t.Errorf("sent %q, want the help once", got)
		}
	})
	for _, tc := range []struct {
		name       string
		retryAfter time.Duration
		times      int
	}{
		{"a long retry_after gives the update back", 5 * time.Second, 1},
		{"a second 429 gives the update back", 10 * time.Millisecond, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.invite("42", "C-1")
			h.tg.Fail = rateLimited(tc.retryAfter, tc.times)
			start := time.Now()
			err := h.say("42", "7")
			var limited *bot.RateLimitedError
			if !errors.Is(err, flows.ErrUnavailable) || !errors.As(err, &limited) {
				t.Fatalf("HandleUpdate = %v, want ErrUnavailable with the 429", err)
			}
			if time.Since(start) > time.Second {
				t.Errorf("waited %s for a 429 it gives back", time.Since(start))
			}
			if st := h.mustState(tg, "42"); st.QuestionID != "nps" {
				t.Errorf("state moved to %q", st.QuestionID)
			}
		})
	}
	t.Run("the request ends while waiting", func(t *testing.T) {
		h := newHarness(t)
		h.tg.Fail = rateLimited(time.Second, 1)
		ctx, cancel := context.WithTimeout(h.ctx, 20*time.Millisecond)
		defer cancel()
		err := h.svc.HandleUpdate(ctx, flows.Update{Channel: tg, UpdateID: "1", ChatID: "42", Text: "/help"})
		if !errors.Is(err, flows.ErrUnavailable) {
			t.Errorf("HandleUpdate = %v, want ErrUnavailable", err)
		}
	})
}

// A step renews its lease while it runs; when the lease cannot be
// renewed, the step's calls are cancelled and the update given back.
func TestLeaseRenewal(t *testing.T) {
	slowSend := func(d time.Duration) func(chCall) error {
		return func(c chCall) error {
			if c.Op != "Send" {
				return nil
			}
			select {
			case <-time.After(d):
				return nil
			case <-c.Ctx.Done():
				return context.Cause(c.Ctx)
			}
		}
	}
	short := func(c *conversation.Config) { c.LeaseTTL = 30 * time.Millisecond }
	t.Run("renewed", func(t *testing.T) {
		h := newHarness(t, short)
		h.invite("42", "C-1")
		// A slow database, three leases long (platform calls are bounded
		// by half a lease, so they cannot be what takes so long).
		h.records.Fail = func(method string) error {
			if method == "ApplyStep" {
				time.Sleep(100 * time.Millisecond)
			}
			return nil
		}
		if err := h.say("42", "7"); err != nil {
			t.Fatal(err)
		}
		if n := h.states.count("Extend"); n == 0 {
			t.Error("a step three leases long never renewed its lease")
		}
		if st := h.mustState(tg, "42"); st.QuestionID != "make_it_10" {
			t.Errorf("state at %q", st.QuestionID)
		}
	})
	t.Run("lost", func(t *testing.T) {
		h := newHarness(t, short)
		h.invite("42", "C-1")
		h.tg.Fail = slowSend(2 * time.Second)
		h.states.Fail = failOn("Extend", errTransient, -1)
		start := time.Now()
		err := h.say("42", "7")
		if !errors.Is(err, flows.ErrUnavailable) {
			t.Fatalf("HandleUpdate = %v, want ErrUnavailable", err)
		}
		if time.Since(start) > time.Second {
			t.Errorf("the step ran on for %s without its lease", time.Since(start))
		}
		h.logged("chat lease not renewed")
		if st := h.mustState(tg, "42"); st.QuestionID != "nps" {
			t.Errorf("state moved to %q", st.QuestionID)
		}
	})
}

func TestSendTimeoutBoundsEachCall(t *testing.T) {
	h := newHarness(t, func(c *conversation.Config) { c.SendTimeout = 20 * time.Millisecond })
	h.tg.Fail = func(c chCall) error {
		if c.Op != "Send" {
			return nil
		}
		<-c.Ctx.Done()
		return c.Ctx.Err()
	}
	start := time.Now()
	if err := h.say("42", "/help"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("HandleUpdate = %v, want the send's deadline", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("a hanging send held the step for %s", time.Since(start))
	}
}

// A reply the platform holds back for long gives the update back (503) and
// leaves the answered keyboard in place: until the redelivery the customer
// still has the question to tap, not a closed prompt with nothing after it.
func TestLongRateLimitKeepsTheKeyboard(t *testing.T) {
	h := newHarness(t)
	h.invite("42", "C-1")
	h.tg.Fail = func(c chCall) error {
		if c.Op == "Send" {
			return &bot.RateLimitedError{RetryAfter: time.Minute}
		}
		return nil
	}
	tap := h.tap("42", "7")
	if err := h.svc.HandleUpdate(h.ctx, tap); !errors.Is(err, flows.ErrUnavailable) {
		t.Fatalf("HandleUpdate = %v, want ErrUnavailable", err)
	}
	if closed := h.tg.succeeded("CloseQuestion"); len(closed) != 0 {
		t.Errorf("closed %+v although nothing followed", closed)
	}
	h.tg.Fail = nil
	if err := h.svc.HandleUpdate(h.ctx, tap); err != nil { // the platform redelivers
		t.Fatal(err)
	}
	if closed := h.tg.succeeded("CloseQuestion"); len(closed) != 1 {
		t.Errorf("after the redelivery: closed %+v, want the answered prompt", closed)
	}
}
