package telegram

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/cxbot/cxbot/flows"
)

// startPoll runs a.Poll until the returned stop is called; stop reports
// Poll's result.
func startPoll(t *testing.T, a *Adapter, h Handler) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Poll(ctx, h) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func TestPollHandlesInOrderAndRetriesAFailedUpdate(t *testing.T) {
	a, fake := setup(t, nil)
	ctx := testCtx(t)
	u1, u2, u3 := fake.TextUpdate(42, "one", "en"), fake.TextUpdate(42, "two", "en"), fake.TextUpdate(43, "three", "en")
	fake.Enqueue(u1, u2, u3)

	// For every call, the offset Telegram had confirmed by then: it must never
	// have passed the update being handled.
	var mu sync.Mutex
	confirmedAt := map[string][]int64{}
	rec := newRecorder()
	rec.fail = func(u flows.Update, attempt int) error {
		mu.Lock()
		confirmedAt[u.UpdateID] = append(confirmedAt[u.UpdateID], fake.Offset())
		mu.Unlock()
		if u.UpdateID == id(u2) && attempt == 0 {
			return errors.New("database hiccup")
		}
		return nil
	}
	stop := startPoll(t, a, rec)
	handled := rec.waitHandled(t, ctx, 3)
	if err := stop(); err != nil {
		t.Fatalf("Poll returned %v", err)
	}

	calls, _ := rec.snapshot()
	want := id(u1) + "," + id(u2) + "," + id(u2) + "," + id(u3)
	if ids(calls) != want {
		t.Fatalf("calls %s, want %s", ids(calls), want)
	}
	if ids(handled) != id(u1)+","+id(u2)+","+id(u3) {
		t.Fatalf("handled %s", ids(handled))
	}
	for updateID, offsets := range confirmedAt {
		n, _ := strconv.ParseInt(updateID, 10, 64)
		for _, off := range offsets {
			if off > n {
				t.Errorf("update %s handled while Telegram's confirmed offset was already %d", updateID, off)
			}
		}
	}
	if fake.Offset() != u3.UpdateID+1 || fake.Pending() != 0 {
		t.Fatalf("after shutdown: offset %d pending %d, want %d and 0", fake.Offset(), fake.Pending(), u3.UpdateID+1)
	}
	if handled[0].Text != "one" || handled[2].ChatID != "43" {
		t.Fatalf("conversion: %+v", handled)
	}
}

func TestPollSkipsInvalidUpdates(t *testing.T) {
	a, fake := setup(t, nil)
	ctx := testCtx(t)
	u1, u2 := fake.TextUpdate(42, "poison", ""), fake.TextUpdate(42, "fine", "")
	fake.Enqueue(u1, u2)
	rec := newRecorder()
	rec.fail = func(u flows.Update, _ int) error {
		if u.UpdateID == id(u1) {
			return fmt.Errorf("unusable: %w", flows.ErrInvalid)
		}
		return nil
	}
	stop := startPoll(t, a, rec)
	rec.waitHandled(t, ctx, 1)
	_ = stop()
	if calls, _ := rec.snapshot(); ids(calls) != id(u1)+","+id(u2) {
		t.Fatalf("calls %s: an ErrInvalid update must be skipped, not retried", ids(calls))
	}
}

func TestPollWaitsOutConflicts(t *testing.T) {
	a, fake := setup(t, func(c *Config) { c.PublicURL = "https://cx.example.com" })
	ctx := testCtx(t)
	if err := a.RegisterWebhook(ctx); err != nil {
		t.Fatal(err)
	}
	tap := fake.TapUpdate(42, 1, "7|q1|9")
	blocked := fake.BlockedUpdate(42)
	fake.Enqueue(tap, blocked)
	fake.FailNext("getUpdates", 0, http.StatusConflict, 0) // another poller, first

	rec := newRecorder()
	startPoll(t, a, rec)
	// While the webhook is set, getUpdates answers 409 and nothing is handled.
	if err := fake.WaitFor(ctx, func() bool { return fake.Calls("getUpdates") >= 3 }); err != nil {
		t.Fatal(err)
	}
	if calls, _ := rec.snapshot(); len(calls) != 0 {
		t.Fatalf("handled %v despite the conflict", ids(calls))
	}
	if err := a.DeleteWebhook(ctx); err != nil {
		t.Fatal(err)
	}
	handled := rec.waitHandled(t, ctx, 2)
	if got := handled[0]; got.Tap == nil || *got.Tap != (flows.Tap{ResponseID: 7, QuestionID: "q1", Value: "9"}) ||
		got.TapID != tap.CallbackQuery.ID || got.MessageID != 1 || got.ChatID != "42" {
		t.Fatalf("tap: %+v", got)
	}
	if got := handled[1]; !got.Blocked || got.ChatID != "42" {
		t.Fatalf("blocked: %+v", got)
	}
}

func TestPollReturnsWhenContextIsDone(t *testing.T) {
	a, _ := setup(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.Poll(ctx, newRecorder()); err != nil {
		t.Fatalf("Poll: %v", err)
	}
}
