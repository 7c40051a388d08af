// Package slots is a counting semaphore whose size can change while it is
// held, for limits that SIGHUP applies live (upload concurrency, transcode
// lanes, NVENC sessions). Shrinking never interrupts a holder: new
// acquirers wait until fewer than the new size are held.
//
// It owns nothing but its counters; it must not know what the slots guard.
package slots

import (
	"context"
	"sync"
)

// Slots is the semaphore. The zero value is not usable: call New.
type Slots struct {
	mu   sync.Mutex
	size int
	held int
	wake chan struct{} // closed and replaced on every release and resize
}

// New returns a semaphore of n slots.
func New(n int) *Slots { return &Slots{size: n, wake: make(chan struct{})} }

// Acquire takes a slot, waiting until one is free or ctx is done.
func (s *Slots) Acquire(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.held < s.size {
			s.held++
			s.mu.Unlock()
			return nil
		}
		w := s.wake
		s.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Release gives back a slot taken by Acquire.
func (s *Slots) Release() { s.set(func() { s.held-- }) }

// Resize changes the number of slots; holders above the new size keep
// theirs until they release them.
func (s *Slots) Resize(n int) { s.set(func() { s.size = n }) }

// Counts returns the size and the number of slots held.
func (s *Slots) Counts() (size, held int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size, s.held
}

func (s *Slots) set(f func()) {
	s.mu.Lock()
	f()
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}
