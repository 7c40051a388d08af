package hubstore

import (
	"context"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		err  bool
	}{
		{"20MiB/s", 20 << 20, false},
		{"500 KiB/s", 500 << 10, false},
		{"10MB/s", 10e6, false},
		{"80Mbit/s", 10e6, false},
		{"1.5GiB/s", 1.5 * (1 << 30), false},
		{"1048576", 1 << 20, false},
		{"unlimited", 0, false},
		{"0", 0, false},
		{"fast", 0, true},
		{"-3MiB/s", 0, true},
		{"20 parsecs/s", 0, true},
	} {
		got, err := ParseRate(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v, err=%v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func at(hhmm string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", "2026-11-23 "+hhmm, time.Local)
	if err != nil {
		panic(err)
	}
	return t
}

func TestScheduleRateAt(t *testing.T) {
	s, err := ParseSchedule([]Window{
		{From: "08:00", To: "19:00", Rate: "20MiB/s"},
		{From: "22:30", To: "02:00", Rate: "50MiB/s"}, // crosses midnight
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   string
		want float64
	}{
		{"07:59", 0}, {"08:00", 20 << 20}, {"12:00", 20 << 20}, {"18:59", 20 << 20}, {"19:00", 0},
		{"22:29", 0}, {"22:30", 50 << 20}, {"23:59", 50 << 20}, {"00:00", 50 << 20}, {"01:59", 50 << 20}, {"02:00", 0},
	} {
		if got := s.RateAt(at(tc.at)); got != tc.want {
			t.Errorf("RateAt(%s) = %v, want %v", tc.at, got, tc.want)
		}
	}
	all, _ := ParseSchedule([]Window{{From: "00:00", To: "00:00", Rate: "1MiB/s"}})
	if all.RateAt(at("13:37")) != 1<<20 {
		t.Errorf("from == to must cover the whole day")
	}
	if (Schedule{}).RateAt(at("12:00")) != 0 {
		t.Errorf("no windows must be unlimited")
	}
}

// The limiter follows the schedule as the clock moves, and a token bucket
// shared by concurrent callers never lets through more than burst + rate *
// elapsed (checked on its own accounting, not on wall time).
func TestLimiterScheduleAndAccounting(t *testing.T) {
	sched, _ := ParseSchedule([]Window{{From: "08:00", To: "19:00", Rate: "4MiB/s"}})
	var mu sync.Mutex
	now := at("07:59")
	l := NewLimiter(sched, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	if l.Rate() != 0 {
		t.Fatalf("07:59: rate %v, want unlimited", l.Rate())
	}
	if err := l.WaitN(context.Background(), 64<<20); err != nil { // unlimited: immediate
		t.Fatal(err)
	}
	mu.Lock()
	now = at("08:00")
	mu.Unlock()
	if l.Rate() != 4<<20 {
		t.Fatalf("08:00: rate %v, want 4 MiB/s", l.Rate())
	}
	base := l.Granted()
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l.WaitN(ctx, 32<<10) == nil {
			}
		}()
	}
	wg.Wait()
	el := time.Since(t0).Seconds()
	got := float64(l.Granted() - base)
	limit := float64(l.Burst()) + 4*(1<<20)*el + 64<<10
	if got > limit {
		t.Errorf("4 concurrent callers got %.0f bytes in %.2fs; the bucket allows at most %.0f", got, el, limit)
	}
	if got < 1<<20 {
		t.Errorf("only %.0f bytes granted in %.2fs at 4 MiB/s", got, el)
	}
	mu.Lock()
	now = at("19:00")
	mu.Unlock()
	if l.Rate() != 0 {
		t.Errorf("19:00: rate %v, want unlimited", l.Rate())
	}
}

// SetSchedule changes the shared bucket at once: the next chunk an upload
// in flight takes is charged at the new rate (accounting, not wall time).
func TestLimiterSetSchedule(t *testing.T) {
	noon := at("12:00")
	s1, _ := ParseSchedule([]Window{{From: "08:00", To: "19:00", Rate: "1MiB/s"}})
	l := NewLimiter(s1, func() time.Time { return noon })
	if l.Rate() != 1<<20 || l.Burst() != burstFor(1<<20) {
		t.Fatalf("rate %v burst %d", l.Rate(), l.Burst())
	}
	lim, _ := l.update() // what a reader in flight holds
	s2, _ := ParseSchedule([]Window{{From: "00:00", To: "00:00", Rate: "40MiB/s"}})
	l.SetSchedule(s2)
	if l.Rate() != 40<<20 || lim.Limit() != rate.Limit(40<<20) || lim.Burst() != 4<<20 {
		t.Fatalf("after SetSchedule: rate %v, in-flight limit %v burst %d", l.Rate(), lim.Limit(), lim.Burst())
	}
	// 4 MiB (one burst) pass without waiting at 40 MiB/s.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := l.WaitN(ctx, 4<<20); err != nil {
		t.Fatal(err)
	}
	l.SetSchedule(Schedule{})
	if l.Rate() != 0 || lim.Limit() != rate.Inf {
		t.Fatalf("unlimited: rate %v, limit %v", l.Rate(), lim.Limit())
	}
	if err := l.WaitN(ctx, 64<<20); err != nil {
		t.Fatal(err)
	}
	if g := l.Granted(); g != 68<<20 {
		t.Fatalf("granted %d, want %d", g, 68<<20)
	}
}
