package transcode

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hungFFmpeg starts ffmpeg reading from a FIFO that never gets data: it
// blocks in open() and writes no progress.
func fifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "never.fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	return p
}

func TestRunnerProgressAndSuccess(t *testing.T) {
	tools := needFFmpeg(t)
	r := &Runner{FFmpeg: tools.FFmpeg, Stall: 30 * time.Second}
	var got []Progress
	err := r.Run(t.Context(), []string{"-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=2", "-c:v", "libx264", "-preset", "ultrafast", "-f", "null", "-"}, nil,
		func(p Progress) { got = append(got, p) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || !got[len(got)-1].Done {
		t.Fatalf("no final progress block: %+v", got)
	}
	last := got[len(got)-1]
	if last.Frame != 50 || last.OutTimeUS < 1_900_000 || last.OutTimeUS > 2_100_000 {
		t.Fatalf("last progress %+v, want frame 50 and out_time_us ~2000000", last)
	}
}

func TestRunnerStdoutData(t *testing.T) {
	tools := needFFmpeg(t)
	r := &Runner{FFmpeg: tools.FFmpeg}
	var buf bytes.Buffer
	// 0.5 s of 48 kHz stereo s16le = 96000 bytes on stdout; progress on fd 3 does not mix in.
	err := r.Run(t.Context(), []string{"-f", "lavfi", "-i", "sine=sample_rate=48000:duration=0.5", "-ac", "2", "-f", "s16le", "pipe:1"}, &buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 96000 {
		t.Fatalf("stdout %d bytes, want 96000", buf.Len())
	}
}

func TestRunnerErrorCarriesStderr(t *testing.T) {
	tools := needFFmpeg(t)
	r := &Runner{FFmpeg: tools.FFmpeg}
	err := r.Run(t.Context(), []string{"-i", filepath.Join(t.TempDir(), "missing.mov"), "-f", "null", "-"}, nil, nil)
	var re *RunError
	if !errors.As(err, &re) || !strings.Contains(re.Stderr, "No such file") {
		t.Fatalf("err %v, want RunError with ffmpeg's message", err)
	}
}

func TestRunnerStallWatchdogKillsHungFFmpeg(t *testing.T) {
	tools := needFFmpeg(t)
	r := &Runner{FFmpeg: tools.FFmpeg, Stall: 700 * time.Millisecond, WaitDelay: time.Second}
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background(), []string{"-i", fifo(t), "-f", "null", "-"}, nil, nil) }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrStalled) {
			t.Fatalf("err %v, want ErrStalled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("watchdog did not kill a hung ffmpeg")
	}
}

func TestRunnerCancelKillsProcessGroup(t *testing.T) {
	needFFmpeg(t)
	// A shell in the group forks a child; cancelling must kill both.
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	script := filepath.Join(dir, "ffmpeg")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nsleep 300 &\necho $! > "+pidFile+"\nwait\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := &Runner{FFmpeg: script, WaitDelay: time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, nil, nil, nil) }()
	var child int
	for i := 0; i < 200 && child == 0; i++ {
		time.Sleep(20 * time.Millisecond)
		b, _ := os.ReadFile(pidFile)
		child = atoiOr0(strings.TrimSpace(string(b)))
	}
	if child == 0 {
		t.Fatal("child did not start")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	for i := 0; i < 100; i++ {
		if err := syscall.Kill(child, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		// A zombie until its parent (init) reaps it: check its state.
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(child) + "/stat"); err == nil && strings.Contains(string(b), ") Z ") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(child, syscall.SIGKILL)
	t.Fatalf("grandchild %d survived cancellation: process group not killed", child)
}

func atoiOr0(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}
