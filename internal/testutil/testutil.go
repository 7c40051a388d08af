// Package testutil holds the helpers that tests across the tree share, so
// that each exists once: a logger that writes into the test's log, a poll
// loop with a deadline, a service's Run(ctx) until the test ends, running
// a command and mounting a tmpfs or a bindfs FUSE view that can be made to
// hang (bindfs.go), writing a file with its parents, Must,
// and a benchmark's size knob from the environment. Only _test.go files
// import it.
//
// It owns only test scaffolding. It must not decide when a test skips
// (internal/testenv owns that rule, which it calls), start servers
// (internal/miniotest) or open a catalog (catalogtest, a sub-package, so
// that the catalog's own tests can import this one), and it imports no
// package of the daemon.
package testutil

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testenv"
)

// LogEnv names the environment variable that sends every test's logs, at
// debug level, to stderr instead of the test's log (INGESTD_TEST_LOG=1).
const LogEnv = "INGESTD_TEST_LOG"

// Logger returns a logger for the code under test. By default warnings and
// errors go into the test's log (shown when it fails or with -v); lines
// logged after the test has ended (a goroutine still draining) go to
// stderr instead of panicking. With INGESTD_TEST_LOG set, everything from
// debug level up goes to stderr.
func Logger(t testing.TB) *slog.Logger {
	if os.Getenv(LogEnv) != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(newTestWriter(t), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func newTestWriter(t testing.TB) *testWriter {
	w := &testWriter{t: t}
	// Registered when the logger is made, so it runs after the cleanups
	// registered later (which stop what logs).
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return w
}

type testWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return os.Stderr.Write(b)
	}
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// Discard is a logger that drops everything, for code whose log a test
// does not want even on failure (benchmarks).
func Discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// WaitFor polls cond until it holds, failing the test (naming what) when
// it still does not after d. It polls every millisecond at first, then
// backs off to every 20 ms.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for pause := time.Millisecond; !cond(); pause = min(2*pause, 20*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(pause)
	}
}

// Run runs a command and returns its combined output, failing the test
// with that output when it exits non-zero.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// MountTmpfs mounts a tmpfs of the given size (mount's syntax: "64m") on a
// temp dir and returns it; it is lazily detached when the test ends. Where
// mounting is not possible (not root) the test skips, or fails under
// CI=true.
func MountTmpfs(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		testenv.SkipOrFail(t, "mount tmpfs on %s (needs root): %v", dir, err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// WriteFile writes data to path, creating its parent directories.
func WriteFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// CopyTree copies the folder src (a fixture) into a new temporary folder
// and returns the copy's path (<temp>/<base of src>), so a test can write
// into it.
func CopyTree(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	CopyDir(t, src, dst)
	return dst
}

// CopyDir copies the folders and regular files below src into dst
// (created, or merged into), keeping their permission bits; anything else
// (a symlink, a FIFO) is left out.
func CopyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, fi.Mode().Perm())
		case !d.Type().IsRegular():
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// StopTimeout is how long Start's stop waits for Run to return.
const StopTimeout = 30 * time.Second

// Start runs run (a service's Run) on its own goroutine until the returned
// stop is called or the test ends. stop cancels run's context and waits
// up to StopTimeout for it to return; an error it returns, or a run that
// does not return, fails the test naming what. stop may be called more
// than once.
func Start(t testing.TB, what string, run func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s: Run: %v", what, err)
				}
			case <-time.After(StopTimeout):
				t.Errorf("%s did not stop within %s of cancellation", what, StopTimeout)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// Must fails the test at once when err is not nil.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// EnvInt is the positive integer in environment variable name (a
// benchmark's size knob), or def when it is unset or not one.
func EnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
