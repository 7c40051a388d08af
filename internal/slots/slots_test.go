package slots

import (
	"context"
	"testing"
	"time"
)

// TestResize: shrinking lets holders keep their slots and admits no one
// above the new size; a release or a growth wakes waiters; a cancelled
// context ends a wait.
func TestResize(t *testing.T) {
	s := New(2)
	ctx := context.Background()
	s.Acquire(ctx)
	s.Acquire(ctx)
	s.Resize(1) // both holders keep their slot
	if size, held := s.Counts(); size != 1 || held != 2 {
		t.Fatalf("size %d held %d", size, held)
	}
	got := make(chan struct{})
	go func() { s.Acquire(ctx); close(got) }()
	s.Release() // held 1 = size 1: the waiter still waits
	select {
	case <-got:
		t.Fatal("acquired above the new size")
	case <-time.After(50 * time.Millisecond):
	}
	s.Release()
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not woken by release")
	}
	// Growing wakes waiters at once.
	got2 := make(chan struct{})
	go func() { s.Acquire(ctx); close(got2) }()
	time.Sleep(20 * time.Millisecond)
	s.Resize(2)
	select {
	case <-got2:
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not woken by resize")
	}
	if _, held := s.Counts(); held != 2 {
		t.Fatalf("held %d", held)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Acquire(cctx); err == nil {
		t.Fatal("acquire on a full, cancelled context succeeded")
	}
}
