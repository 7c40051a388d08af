package hubstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Window is one time-of-day bandwidth rule (the yaml of hub.s3.bandwidth).
type Window struct {
	From string `yaml:"from"` // HH:MM, local time
	To   string `yaml:"to"`   // HH:MM; To < From crosses midnight; To == From is all day
	Rate string `yaml:"rate"` // "20MiB/s", "500KiB/s", "80Mbit/s", "unlimited"
}

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

// ParseSchedule validates windows; errors begin with the field they are
// about ("bandwidth[1].rate: ...").
func ParseSchedule(ws []Window) (Schedule, error) {
	var s Schedule
	for i, w := range ws {
		key := fmt.Sprintf("bandwidth[%d]", i)
		from, err := parseClock(w.From)
		if err != nil {
			return s, fmt.Errorf("%s.from: invalid time %q: %v", key, w.From, err)
		}
		to, err := parseClock(w.To)
		if err != nil {
			return s, fmt.Errorf("%s.to: invalid time %q: %v", key, w.To, err)
		}
		r, err := ParseRate(w.Rate)
		if err != nil {
			return s, fmt.Errorf("%s.rate: %v", key, err)
		}
		s.rules = append(s.rules, rule{from: from, to: to, rate: r, text: w.Rate})
	}
	return s, nil
}

// Rule is one parsed window.
type Rule struct {
	From, To int     // minutes since local midnight
	Rate     float64 // bytes/s, 0 = unlimited
	Text     string  // the rate as written
}

// Rules are the parsed windows, in order.
func (s Schedule) Rules() []Rule {
	rs := make([]Rule, len(s.rules))
	for i, r := range s.rules {
		rs[i] = Rule{From: r.from, To: r.to, Rate: r.rate, Text: r.text}
	}
	return rs
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

// Chunk is the largest single limiter reservation; reads are cut to it. At a
// rate r a connection may sit idle Chunk/r between two reads.
const Chunk = 64 << 10

const chunk = Chunk

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

// Limit returns st with every byte of Put and UploadPart bodies taken from
// lim, a token bucket shared by all uploads through it (and any other store
// wrapped with the same lim). Bytes a retry sends again are charged again:
// they cross the link again. Other calls pass through.
func Limit(st Store, lim *Limiter) Store { return &limited{Store: st, lim: lim} }

type limited struct {
	Store
	lim *Limiter
}

func (l *limited) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, o PutOptions) (PutResult, error) {
	return l.Store.Put(ctx, key, &limitedReader{ctx: ctx, r: body, lim: l.lim}, size, o)
}

func (l *limited) UploadPart(ctx context.Context, key, uploadID string, n int32, body io.ReadSeeker, size int64, crc string) (Part, error) {
	return l.Store.UploadPart(ctx, key, uploadID, n, &limitedReader{ctx: ctx, r: body, lim: l.lim}, size, crc)
}

// limitedReader is a seekable body that takes every byte it returns from
// the shared limiter. Seeking is free.
type limitedReader struct {
	ctx context.Context
	r   io.ReadSeeker
	lim *Limiter
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
	}
	return n, err
}

func (l *limitedReader) Seek(off int64, whence int) (int64, error) { return l.r.Seek(off, whence) }

// RateString shows a rate in bytes/s as status does: "unlimited" or
// "20.0MiB/s".
func RateString(r float64) string {
	if r == 0 || math.IsInf(r, 1) {
		return "unlimited"
	}
	return fmt.Sprintf("%.1fMiB/s", r/(1<<20))
}

// ParseRate parses "20MiB/s", "500 KiB/s", "10MB/s", "80Mbit/s", "1048576"
// (bytes per second), or "unlimited" (0).
func ParseRate(s string) (float64, error) {
	t := strings.TrimSpace(strings.ToLower(s))
	if t == "unlimited" || t == "0" {
		return 0, nil
	}
	t = strings.TrimSuffix(strings.TrimSuffix(t, "/s"), "ps")
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("invalid rate %q", s)
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"kb": 1e3, "mb": 1e6, "gb": 1e9,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
		"k": 1 << 10, "m": 1 << 20, "g": 1 << 30,
		"kbit": 1e3 / 8, "mbit": 1e6 / 8, "gbit": 1e9 / 8,
	}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("invalid rate %q: unknown unit %q", s, unit)
	}
	return v * mult, nil
}

// clock is minutes since local midnight.
func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || (hh == 24 && mm != 0) {
		return 0, errors.New("want HH:MM")
	}
	return hh*60 + mm, nil
}
