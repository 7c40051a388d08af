package s3push

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
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

func TestConfigValidate(t *testing.T) {
	good := func() Config {
		c := Config{Endpoint: "http://127.0.0.1:9000", Bucket: "studio-hub", Prefix: "edge"}
		c.SetDefaults()
		return c
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"ok", func(c *Config) {}, ""},
		{"no bucket", func(c *Config) { c.Bucket = "" }, "hub.s3.bucket: required"},
		{"bad bucket", func(c *Config) { c.Bucket = "Studio_Hub" }, "hub.s3.bucket: invalid"},
		{"bad endpoint", func(c *Config) { c.Endpoint = "s3.example.com" }, "hub.s3.endpoint: invalid"},
		{"small part", func(c *Config) { c.PartSize = 1 << 20 }, "hub.s3.part_size"},
		{"zero concurrency", func(c *Config) { c.Concurrency = -1 }, "hub.s3.concurrency"},
		{"bad window time", func(c *Config) { c.Bandwidth = []Window{{From: "8am", To: "19:00", Rate: "1MiB/s"}} }, "hub.s3.bandwidth[0].from"},
		{"bad window rate", func(c *Config) {
			c.Bandwidth = []Window{{From: "08:00", To: "19:00", Rate: "1MiB/s"}, {From: "20:00", To: "21:00", Rate: "lots"}}
		}, "hub.s3.bandwidth[1].rate"},
		{"bad prefix", func(c *Config) { c.Prefix = "a/../b" }, "hub.s3.prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.mod(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
	var c Config
	c.SetDefaults()
	if c.PartSize != 16<<20 || c.Concurrency != 4 || c.Region == "" {
		t.Errorf("defaults: %+v", c)
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
