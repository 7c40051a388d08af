package backoff

import (
	"context"
	"testing"
	"time"
)

func TestJitter(t *testing.T) {
	for _, tc := range []struct {
		n      int
		lo, hi time.Duration // the range of the draw
	}{
		{0, 50 * time.Millisecond, 100 * time.Millisecond},
		{1, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 400 * time.Millisecond, 800 * time.Millisecond},
		{10, time.Second, 2 * time.Second}, // capped at hi
	} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := Jitter(100*time.Millisecond, 2*time.Second, tc.n)
			if d < tc.lo || d > tc.hi {
				t.Fatalf("n=%d: %s outside [%s, %s]", tc.n, d, tc.lo, tc.hi)
			}
			seen[d] = true
		}
		if len(seen) < 100 {
			t.Errorf("n=%d: only %d distinct waits in 200 draws: no jitter", tc.n, len(seen))
		}
	}
}

func TestSleep(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Error("Sleep with a live context reported cancellation")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	t0 := time.Now()
	if Sleep(ctx, time.Hour) || time.Since(t0) > 10*time.Second {
		t.Error("Sleep did not return at once on a cancelled context")
	}
}
