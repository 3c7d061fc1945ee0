// Package change wakes goroutines waiting for the state of an in-repo fake
// server to change, without polling.
package change

import (
	"context"
	"sync"
)

// Signal is a broadcast: every Notify wakes everyone holding a channel from
// C. The zero value is ready to use.
type Signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// C returns a channel closed by the next Notify. Take it before checking
// the condition you wait for, so a change in between is not missed.
func (s *Signal) C() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Notify wakes every waiter.
func (s *Signal) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
	}
	s.ch = make(chan struct{})
}

// WaitFor returns once cond is true, checking it at once and after every
// Notify, or ctx's error when ctx ends first.
func (s *Signal) WaitFor(ctx context.Context, cond func() bool) error {
	for {
		changed := s.C()
		if cond() {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
