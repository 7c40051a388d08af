package daemon

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// supStopBuf is a log sink safe for the supervisor's goroutines.
type supStopBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *supStopBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *supStopBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// The drain after a stop is bounded: a service stuck in a call that cannot
// be interrupted (a read on a hung NFS server) is abandoned and named,
// while well-behaved services never wait for the timeout.
func TestSupervisorStopTimeout(t *testing.T) {
	stuck := make(chan struct{})
	defer close(stuck)
	deaf := func(context.Context) error { <-stuck; return nil } // ignores ctx, like read(2)
	polite := func(ctx context.Context) error { <-ctx.Done(); return nil }
	cases := []struct {
		name     string
		services []Service
		maxWait  time.Duration
		logged   string
	}{
		{"stuck service abandoned", []Service{{Name: "polite", Run: polite}, {Name: "hung-read", Run: deaf}}, 3 * time.Second, "hung-read"},
		{"all stop at once", []Service{{Name: "a", Run: polite}, {Name: "b", Run: polite}}, 150 * time.Millisecond, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf supStopBuf
			sup := &Supervisor{Log: slog.New(slog.NewTextHandler(&buf, nil)), StopTimeout: 300 * time.Millisecond}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- sup.Run(ctx, c.services) }()
			time.Sleep(50 * time.Millisecond)
			t0 := time.Now()
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run waited on a stuck service")
			}
			if d := time.Since(t0); d > c.maxWait {
				t.Fatalf("stop took %s, want at most %s", d, c.maxWait)
			}
			out := buf.String()
			if c.logged != "" && (!strings.Contains(out, "services still running after the stop timeout") || !strings.Contains(out, c.logged)) {
				t.Fatalf("log does not name the stuck service:\n%s", out)
			}
			if c.logged == "" && strings.Contains(out, "stop timeout") {
				t.Fatalf("timeout logged without a stuck service:\n%s", out)
			}
		})
	}
}
