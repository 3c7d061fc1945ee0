package change

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestWaitForWakesOnNotify(t *testing.T) {
	var s Signal
	var n atomic.Int32
	done := make(chan error)
	go func() { done <- s.WaitFor(context.Background(), func() bool { return n.Load() == 3 }) }()
	for range 3 {
		n.Add(1)
		s.Notify()
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitFor missed the notifications")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.WaitFor(ctx, func() bool { return false }); err != context.DeadlineExceeded {
		t.Fatalf("want the context's error, got %v", err)
	}
}
