package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingestd/ingestd/storage/catalog"
)

func TestSupervisor(t *testing.T) {
	boom := errors.New("boom")
	blocker := func(stopped *atomic.Bool) func(context.Context) error {
		return func(ctx context.Context) error {
			<-ctx.Done()
			stopped.Store(true)
			return ctx.Err()
		}
	}
	t.Run("fatal error stops the others and is returned", func(t *testing.T) {
		var stopped atomic.Bool
		sup := &Supervisor{}
		err := sup.Run(context.Background(), []Service{
			{Name: "wait", Run: blocker(&stopped)},
			{Name: "bad", Run: func(context.Context) error { return boom }},
		})
		if !errors.Is(err, boom) || err.Error() != "service bad: boom" {
			t.Fatalf("got %v", err)
		}
		if !stopped.Load() {
			t.Error("the other service was not cancelled and drained")
		}
	})
	t.Run("a full state disk restarts any service", func(t *testing.T) {
		var runs atomic.Int32
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		sup := &Supervisor{MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}
		err := sup.Run(ctx, []Service{{Name: "writer", Run: func(context.Context) error {
			if runs.Add(1) == 3 {
				cancel()
				return nil
			}
			return fmt.Errorf("update asset x: %w", catalog.ErrNoSpace)
		}}})
		if err != nil || runs.Load() != 3 {
			t.Fatalf("err %v after %d runs, want nil after 3", err, runs.Load())
		}
	})
	t.Run("restartable service restarts with backoff", func(t *testing.T) {
		var runs atomic.Int32
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		sup := &Supervisor{MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}
		err := sup.Run(ctx, []Service{{Name: "flaky", Restart: true, Run: func(context.Context) error {
			if runs.Add(1) == 3 {
				cancel()
			}
			return boom
		}}})
		if err != nil {
			t.Fatalf("restartable failure stopped the daemon: %v", err)
		}
		if runs.Load() < 3 {
			t.Errorf("ran %d times, want 3", runs.Load())
		}
	})
	t.Run("panic becomes an error", func(t *testing.T) {
		err := (&Supervisor{}).Run(context.Background(), []Service{{Name: "p", Run: func(context.Context) error { panic("oops") }}})
		if err == nil || err.Error() != "service p: panic: oops" {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("cancel returns nil after all stop", func(t *testing.T) {
		var a, b atomic.Bool
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			done <- (&Supervisor{}).Run(ctx, []Service{{Name: "a", Run: blocker(&a)}, {Name: "b", Run: blocker(&b)}, {Name: "short", Run: func(context.Context) error { return nil }}})
		}()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !a.Load() || !b.Load() {
			t.Error("Run returned before services stopped")
		}
	})
}
