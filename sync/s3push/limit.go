package s3push

import (
	"context"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Schedule is a parsed bandwidth schedule: the first window containing the
// time of day gives the rate; outside all windows uploads are unlimited.
type Schedule struct {
	rules []rule
}

type rule struct {
	from, to int     // minutes since midnight
	rate     float64 // bytes/s, 0 = unlimited
	text     string
}

// ParseSchedule validates windows; errors name hub.s3.bandwidth[i].
func ParseSchedule(ws []Window) (Schedule, error) {
	var s Schedule
	for i, w := range ws {
		key := fmt.Sprintf("bandwidth[%d]", i)
		from, err := parseClock(w.From)
		if err != nil {
			return s, keyErr(key+".from", "invalid time %q: %v", w.From, err)
		}
		to, err := parseClock(w.To)
		if err != nil {
			return s, keyErr(key+".to", "invalid time %q: %v", w.To, err)
		}
		r, err := ParseRate(w.Rate)
		if err != nil {
			return s, keyErr(key+".rate", "%v", err)
		}
		s.rules = append(s.rules, rule{from: from, to: to, rate: r, text: w.Rate})
	}
	return s, nil
}

// RateAt returns the limit in bytes/s at t (0 = unlimited).
func (s Schedule) RateAt(t time.Time) float64 {
	m := t.Hour()*60 + t.Minute()
	for _, r := range s.rules {
		if inWindow(m, r.from, r.to) {
			return r.rate
		}
	}
	return 0
}

func inWindow(m, from, to int) bool {
	switch {
	case from == to:
		return true
	case from < to:
		return m >= from && m < to
	default: // crosses midnight
		return m >= from || m < to
	}
}

// chunk is the largest single limiter reservation; reads are cut to it.
const chunk = 64 << 10

// Limiter is a token bucket shared by all concurrent uploads whose rate
// follows a Schedule. It counts every byte it lets through.
type Limiter struct {
	sched Schedule
	now   func() time.Time

	mu      sync.Mutex
	lim     *rate.Limiter
	current float64

	granted atomic.Int64
}

// NewLimiter returns a limiter following s; now defaults to time.Now.
func NewLimiter(s Schedule, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	l := &Limiter{sched: s, now: now, lim: rate.NewLimiter(rate.Inf, chunk)}
	l.update()
	return l
}

// burst for a rate: a tenth of a second's worth, at least one chunk.
func burstFor(r float64) int { return max(chunk, int(r/10)) }

// update applies the schedule's rate for now; it returns the limiter and
// whether it is unlimited.
func (l *Limiter) update() (*rate.Limiter, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.sched.RateAt(l.now())
	if r != l.current {
		l.current = r
		if r == 0 {
			l.lim.SetLimit(rate.Inf)
		} else {
			l.lim.SetBurst(burstFor(r))
			l.lim.SetLimit(rate.Limit(r))
		}
	}
	return l.lim, l.current == 0
}

// SetSchedule replaces the schedule; the new rate applies at once, to the
// uploads in flight too (they take every chunk from this limiter).
func (l *Limiter) SetSchedule(s Schedule) {
	l.mu.Lock()
	l.sched = s
	l.mu.Unlock()
	l.update()
}

// Rate is the current limit in bytes/s (0 = unlimited).
func (l *Limiter) Rate() float64 {
	l.update()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.current
}

// Burst is the current bucket size in bytes.
func (l *Limiter) Burst() int { lim, _ := l.update(); return lim.Burst() }

// Granted is the total number of bytes let through since creation.
func (l *Limiter) Granted() int64 { return l.granted.Load() }

// WaitN blocks until n bytes may be sent.
func (l *Limiter) WaitN(ctx context.Context, n int) error {
	for n > 0 {
		k := min(n, chunk)
		lim, unlimited := l.update()
		if !unlimited {
			if err := lim.WaitN(ctx, k); err != nil {
				return err
			}
		}
		l.granted.Add(int64(k))
		n -= k
	}
	return nil
}

// progress counts the bytes of one upload for Status.
type progress struct {
	key     string
	total   int64
	done    atomic.Int64
	started time.Time
}

// limitedReader is a seekable body that takes every byte it returns from
// the shared limiter. Seeking (the SDK rewinds on retry) is free; the bytes
// sent again are charged again, as they cross the link again.
type limitedReader struct {
	ctx  context.Context
	r    io.ReadSeeker
	lim  *Limiter
	prog *progress
	read int64 // bytes counted in prog since the last rewind
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if len(p) > chunk {
		p = p[:chunk]
	}
	n, err := l.r.Read(p)
	if n > 0 {
		if werr := l.lim.WaitN(l.ctx, n); werr != nil {
			return 0, werr
		}
		if l.prog != nil {
			l.prog.done.Add(int64(n))
			l.read += int64(n)
		}
	}
	return n, err
}

func (l *limitedReader) Seek(off int64, whence int) (int64, error) {
	if off == 0 && whence == io.SeekStart && l.prog != nil && l.read > 0 {
		l.prog.done.Add(-l.read) // a retry sends the body again
		l.read = 0
	}
	return l.r.Seek(off, whence)
}

func rateString(r float64) string {
	if r == 0 || math.IsInf(r, 1) {
		return "unlimited"
	}
	return fmt.Sprintf("%.1fMiB/s", r/(1<<20))
}
