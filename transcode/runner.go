package transcode

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrStalled is the cause when the stall watchdog killed FFmpeg.
var ErrStalled = errors.New("ffmpeg progress stalled")

// Progress is one block of FFmpeg's -progress output.
type Progress struct {
	OutTimeUS int64   // microseconds of output written
	Frame     int64   // frames written
	Speed     float64 // realtime multiple, 0 when unknown
	Done      bool    // progress=end
}

// Runner runs FFmpeg as a supervised subprocess: its own process group,
// killed as a group on cancellation, stderr drained continuously (the tail
// is kept for errors), progress read from a dedicated pipe, and a watchdog
// that kills it when progress stops for Stall.
type Runner struct {
	FFmpeg    string
	Stall     time.Duration // 0: no watchdog
	WaitDelay time.Duration // after a kill, how long to wait for pipes (default 5s)
	Log       *slog.Logger
	// Stderr, when set, also receives all of FFmpeg's stderr as it is
	// written (a streaming parser of filter logs, e.g. analysis).
	Stderr io.Writer
	// Nice, when above 0, lowers FFmpeg's CPU priority by that much right
	// after it starts (background work such as analysis yields to proxies).
	Nice int
}

// RunError is an FFmpeg failure with the tail of its stderr.
type RunError struct {
	Err    error
	Stderr string
}

func (e *RunError) Error() string {
	if e.Stderr == "" {
		return e.Err.Error()
	}
	return e.Err.Error() + ": " + e.Stderr
}
func (e *RunError) Unwrap() error { return e.Err }

// baseArgs are put in front of every FFmpeg command. Progress goes to fd 3
// so that stdout stays free for data (waveform PCM).
var baseArgs = []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-progress", "pipe:3", "-y"}

// Run runs ffmpeg with baseArgs followed by args. stdout receives FFmpeg's
// standard output (nil discards it); onProgress, if set, is called for each
// progress block. It returns nil on exit status 0, the context's cause when
// cancelled (ErrStalled for the watchdog), or a *RunError.
func (r *Runner) Run(ctx context.Context, args []string, stdout io.Writer, onProgress func(Progress)) error {
	_, err := r.RunCapture(ctx, args, stdout, onProgress)
	return err
}

// RunCapture is Run that also returns the tail of FFmpeg's stderr, which
// may hold warnings (decode errors of a damaged file) even on success.
func (r *Runner) RunCapture(ctx context.Context, args []string, stdout io.Writer, onProgress func(Progress)) (string, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	pr, pw, err := os.Pipe()
	if err != nil {
		return "", fmt.Errorf("progress pipe: %w", err)
	}
	defer pr.Close()

	full := append(append([]string{}, baseArgs...), args...)
	cmd := exec.CommandContext(ctx, r.FFmpeg, full...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// Negative pid: the whole process group (FFmpeg and anything it forked).
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = r.WaitDelay
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 5 * time.Second
	}
	cmd.ExtraFiles = []*os.File{pw}
	if stdout != nil {
		cmd.Stdout = stdout
	}
	tail := &tailBuffer{max: 16 << 10}
	cmd.Stderr = tail
	if r.Stderr != nil {
		cmd.Stderr = io.MultiWriter(tail, r.Stderr)
	}

	if err := cmd.Start(); err != nil {
		pw.Close()
		return "", fmt.Errorf("start %s: %w", r.FFmpeg, err)
	}
	pw.Close()
	if r.Nice > 0 {
		// Best effort: threads FFmpeg starts from now on inherit it.
		_ = syscall.Setpriority(syscall.PRIO_PROCESS, cmd.Process.Pid, r.Nice)
	}

	// Watchdog: any progress line resets it; it fires when none came for Stall.
	alive := make(chan struct{}, 1)
	watchDone := make(chan struct{})
	if r.Stall > 0 {
		go func() {
			defer close(watchDone)
			t := time.NewTimer(r.Stall)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-alive:
					if !t.Stop() {
						select {
						case <-t.C:
						default:
						}
					}
					t.Reset(r.Stall)
				case <-t.C:
					if r.Log != nil {
						r.Log.Warn("ffmpeg stalled, killing its process group", "pid", cmd.Process.Pid, "stall", r.Stall)
					}
					cancel(fmt.Errorf("%w: no progress for %s", ErrStalled, r.Stall))
					return
				}
			}
		}()
	} else {
		close(watchDone)
	}

	progDone := make(chan struct{})
	go func() {
		defer close(progDone)
		readProgress(pr, func(p Progress) {
			if onProgress != nil {
				onProgress(p)
			}
		}, func() {
			select {
			case alive <- struct{}{}:
			default:
			}
		})
	}()

	werr := cmd.Wait()
	cause := context.Cause(ctx) // before our own cancel below
	pr.Close()
	<-progDone
	cancel(nil)
	<-watchDone
	stderr := excerpt(tail.String(), 2000)
	switch {
	case werr == nil:
		return stderr, nil
	case errors.Is(cause, ErrStalled):
		return stderr, &RunError{Err: cause, Stderr: stderr}
	case cause != nil:
		return stderr, fmt.Errorf("ffmpeg cancelled: %w", cause)
	}
	return stderr, &RunError{Err: fmt.Errorf("ffmpeg: %w", werr), Stderr: stderr}
}

// readProgress parses key=value lines; each "progress=" line ends a block.
func readProgress(r io.Reader, fn func(Progress), tick func()) {
	sc := bufio.NewScanner(r)
	var p Progress
	for sc.Scan() {
		tick()
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "out_time_us":
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				p.OutTimeUS = n
			}
		case "frame":
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				p.Frame = n
			}
		case "speed":
			if f, err := strconv.ParseFloat(strings.TrimSuffix(v, "x"), 64); err == nil {
				p.Speed = f
			}
		case "progress":
			p.Done = v == "end"
			fn(p)
		}
	}
	// Drain anything left so FFmpeg never blocks on a full pipe.
	_, _ = io.Copy(io.Discard, r)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
