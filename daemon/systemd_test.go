package daemon

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// listenNotify points NOTIFY_SOCKET at a unixgram socket and returns the
// datagrams received.
func listenNotify(t *testing.T) <-chan string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", sock)
	ch := make(chan string, 1000)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return ch
}

func collect(ch <-chan string) []string {
	var out []string
	for {
		select {
		case m := <-ch:
			out = append(out, m)
		default:
			return out
		}
	}
}

// TestWatchdogTiedToProgress: pings flow while every probe advances (an
// idle loop advances on its idle ticks) and stop once one probe is stuck.
func TestWatchdogTiedToProgress(t *testing.T) {
	msgs := listenNotify(t)
	var alive, stuck atomic.Uint64
	stuckFrozen := atomic.Bool{}
	wd := &Watchdog{
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Interval: 40 * time.Millisecond, // ping every 20ms
		Stall:    100 * time.Millisecond,
		Probes: []Probe{
			{Name: "alive", Count: func() uint64 { return alive.Add(1) }},
			{Name: "stuck", Count: func() uint64 {
				if stuckFrozen.Load() {
					return stuck.Load()
				}
				return stuck.Add(1)
			}},
		},
		Status: func() string { return "watching 1 volumes, 0 files, 0 queued" },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- wd.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitFor := func(what string, cond func([]string) bool) []string {
		t.Helper()
		var all []string
		deadline := time.After(20 * time.Second)
		for !cond(all) {
			select {
			case m := <-msgs:
				all = append(all, m)
			case <-deadline:
				t.Fatalf("%s: got %q", what, all)
			}
		}
		return all
	}
	count := func(all []string, s string) int {
		n := 0
		for _, m := range all {
			n += strings.Count(m, s)
		}
		return n
	}
	all := waitFor("pings while progressing", func(a []string) bool { return count(a, "WATCHDOG=1") >= 3 })
	if count(all, "STATUS=watching 1 volumes") != 1 {
		t.Errorf("STATUS sent %d times, want once (only on change): %q", count(all, "STATUS="), all)
	}
	stuckFrozen.Store(true)
	// After the stall window no ping may arrive: drain what was in flight,
	// then require silence across several ping periods.
	time.Sleep(300 * time.Millisecond)
	collect(msgs)
	time.Sleep(300 * time.Millisecond)
	if late := collect(msgs); count(late, "WATCHDOG=1") > 0 {
		t.Errorf("pinged while a loop was stuck: %q", late)
	}
	stuckFrozen.Store(false)
	waitFor("pings resume", func(a []string) bool { return count(a, "WATCHDOG=1") >= 1 })
}

func TestHumanBytes(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {3<<20 + 17, "3.0 MiB"}, {5 << 40, "5.0 TiB"}} {
		if got := HumanBytes(tc.n); got != tc.want {
			t.Errorf("HumanBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// TestStartTimeoutExtended: before READY=1, a start that progresses (the
// first reconcile walk of a large tree) extends systemd's start timeout on
// every tick; a stuck one does not, and nothing is extended once ready.
func TestStartTimeoutExtended(t *testing.T) {
	msgs := listenNotify(t)
	var progress atomic.Uint64
	var frozen, ready atomic.Bool
	wd := &Watchdog{
		Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		StatusEvery: 20 * time.Millisecond,
		Stall:       100 * time.Millisecond,
		StartExtend: 90 * time.Second,
		Probes: []Probe{{Name: "ingest", Count: func() uint64 {
			if frozen.Load() {
				return progress.Load()
			}
			return progress.Add(1)
		}}},
		Ready: ready.Load,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- wd.Run(ctx) }()
	defer func() { cancel(); <-done }()
	const ext = "EXTEND_TIMEOUT_USEC=90000000"
	n := 0
	for deadline := time.After(20 * time.Second); n < 3; {
		select {
		case m := <-msgs:
			if m == ext {
				n++
			}
		case <-deadline:
			t.Fatalf("got %d %s while starting, want 3", n, ext)
		}
	}
	quiet := func(what string) {
		t.Helper()
		time.Sleep(300 * time.Millisecond) // past the stall window
		collect(msgs)
		time.Sleep(300 * time.Millisecond)
		for _, m := range collect(msgs) {
			if strings.Contains(m, "EXTEND_TIMEOUT_USEC") {
				t.Errorf("%s: %q", what, m)
			}
		}
	}
	frozen.Store(true)
	quiet("extended while the start made no progress")
	frozen.Store(false)
	ready.Store(true)
	quiet("extended after READY=1")
}
