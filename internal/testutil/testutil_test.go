package testutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fatalTB records Fatalf instead of ending the test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}

func TestWaitFor(t *testing.T) {
	t.Run("returns once the condition holds", func(t *testing.T) {
		var n atomic.Int32
		go func() {
			time.Sleep(30 * time.Millisecond)
			n.Store(1)
		}()
		start := time.Now()
		WaitFor(t, 5*time.Second, "n=1", func() bool { return n.Load() == 1 })
		if el := time.Since(start); el < 30*time.Millisecond || el > 2*time.Second {
			t.Errorf("returned after %s, want just after 30ms", el)
		}
	})
	t.Run("fails after the deadline naming what", func(t *testing.T) {
		f := &fatalTB{TB: t}
		start := time.Now()
		func() {
			defer func() {
				if r := recover(); r != f {
					panic(r)
				}
			}()
			WaitFor(f, 50*time.Millisecond, "never", func() bool { return false })
		}()
		if !strings.Contains(f.msg, "never") || time.Since(start) < 50*time.Millisecond {
			t.Fatalf("WaitFor did not fail after its deadline (msg %q after %s)", f.msg, time.Since(start))
		}
	})
}

func TestLoggerAfterTestEnds(t *testing.T) {
	if os.Getenv(LogEnv) != "" {
		t.Skip(LogEnv + " set: the logger writes to stderr")
	}
	var w *testWriter
	t.Run("inner", func(t *testing.T) {
		w = newTestWriter(t)
		if _, err := w.Write([]byte("during the test\n")); err != nil {
			t.Fatal(err)
		}
	})
	// The inner test has ended: a late line must not panic (t.Log would).
	if !w.done {
		t.Fatal("the logger's cleanup did not mark the test done")
	}
	if n, err := w.Write([]byte("late line\n")); err != nil || n != len("late line\n") {
		t.Fatalf("late write: %d, %v", n, err)
	}
}

func TestRunAndWriteFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a", "b", "f.txt")
	WriteFile(t, p, "hello")
	if out := Run(t, "cat", p); out != "hello" {
		t.Fatalf("cat %s = %q", p, out)
	}
}

func TestStart(t *testing.T) {
	t.Run("stop cancels and waits", func(t *testing.T) {
		var returned atomic.Bool
		stop := Start(t, "svc", func(ctx context.Context) error {
			<-ctx.Done()
			time.Sleep(20 * time.Millisecond)
			returned.Store(true)
			return nil
		})
		stop()
		if !returned.Load() {
			t.Fatal("stop returned before Run did")
		}
		stop() // a second stop is a no-op
	})
	t.Run("Run's error fails the test", func(t *testing.T) {
		f := &errorTB{TB: t}
		Start(f, "svc", func(ctx context.Context) error {
			<-ctx.Done()
			return errors.New("boom")
		})()
		if !strings.Contains(f.msg, "svc: Run: boom") {
			t.Fatalf("error reported as %q", f.msg)
		}
	})
}

// errorTB records Errorf instead of failing the test.
type errorTB struct {
	testing.TB
	msg string
}

func (f *errorTB) Errorf(format string, args ...any) { f.msg = fmt.Sprintf(format, args...) }

func TestEnvInt(t *testing.T) {
	for _, tc := range []struct {
		val  string
		want int
	}{{"", 7}, {"12", 12}, {"0", 7}, {"-3", 7}, {"x", 7}} {
		t.Setenv("TESTUTIL_ENVINT", tc.val)
		if got := EnvInt("TESTUTIL_ENVINT", 7); got != tc.want {
			t.Errorf("EnvInt with %q = %d, want %d", tc.val, got, tc.want)
		}
	}
}
