// Package backoff is the one jittered exponential backoff of the daemon's
// clients of the hub (the S3 store's retries and the pusher's queue, the
// webhook, the reference hub consumer sync/hubfeed) and a context-aware
// sleep, so that a fleet of appliances never retries in lockstep.
//
// It owns only arithmetic on durations and a timer; it must not import any
// package of the daemon.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Jitter is lo doubled n times, capped at hi, then drawn uniformly from
// [d/2, d]: n = 0 waits about lo, each further retry twice as long, up to hi.
func Jitter(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 0; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + rand.N(d/2+1)
}

// Sleep waits d or until ctx is done; it reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
