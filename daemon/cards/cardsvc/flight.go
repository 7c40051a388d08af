package cardsvc

import (
	"sync"
	"time"
)

// flight runs a check that may block in the kernel (a stat on a mount
// that does not answer) at most once at a time per key, however many
// callers ask, and lets each caller wait for it only until its own
// deadline. A check that never returns thus holds one goroutine, not one
// per caller; a caller that gave up gets the answer on a later call once
// the check returns. The zero value is ready to use.
type flight[T any] struct {
	mu    sync.Mutex
	calls map[string]*flightCall[T]
}

type flightCall[T any] struct {
	done chan struct{}
	v    T
}

// do runs check for key (or joins the run in progress) and returns its
// result, or false for answered when it did not return by deadline.
func (f *flight[T]) do(key string, deadline time.Time, check func() T) (v T, answered bool) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]*flightCall[T]{}
	}
	c := f.calls[key]
	if c == nil {
		c = &flightCall[T]{done: make(chan struct{})}
		f.calls[key] = c
		go func() {
			r := check()
			f.mu.Lock()
			c.v = r
			delete(f.calls, key)
			f.mu.Unlock()
			close(c.done)
		}()
	}
	f.mu.Unlock()
	select {
	case <-c.done:
		return c.v, true
	default:
	}
	t := time.NewTimer(max(time.Until(deadline), 0))
	defer t.Stop()
	select {
	case <-c.done:
		return c.v, true
	case <-t.C:
		return v, false
	}
}
