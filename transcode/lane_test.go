package transcode

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
)

// Other stages' FFmpeg work (RunOnLane) takes its turn on the CPU lane:
// with proxy.cpu_jobs 1, a second lane job waits while the first runs, is
// counted as queued then running in the lane's status (not listed as an
// asset), gets the stage's FFmpeg and stall watchdog, a job cancelled
// before its turn never runs, and a queued one ends when the stage stops.
func TestRunOnLaneTakesTurns(t *testing.T) {
	tools := needFFmpeg(t)
	cat := catalogtest.Open(t, filepath.Join(t.TempDir(), "catalog"))
	s, stop := startService(t, Config{GPU: GPUOff, CPUJobs: 1, StallTimeout: 7 * time.Second}, tools, t.TempDir(), cat)
	defer stop()
	ctx := context.Background()

	started, release := make(chan *Runner, 1), make(chan struct{})
	errA := make(chan error, 1)
	go func() {
		errA <- s.RunOnLane(ctx, "a", func(ctx context.Context, r *Runner) error { started <- r; <-release; return nil })
	}()
	var r *Runner
	select {
	case r = <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("lane job a never started")
	}
	if r.FFmpeg != tools.FFmpeg || r.Stall != 7*time.Second {
		t.Fatalf("runner %+v, want the stage's ffmpeg and stall timeout", r)
	}
	if err := s.RunOnLane(ctx, "a", func(context.Context, *Runner) error { return nil }); !errors.Is(err, ErrLaneJobQueued) {
		t.Fatalf("same name again: %v", err)
	}
	ranB := make(chan bool, 1)
	errB := make(chan error, 1)
	go func() {
		errB <- s.RunOnLane(ctx, "b", func(context.Context, *Runner) error { ranB <- true; return errors.New("b's result") })
	}()
	cctx, cancel := context.WithCancel(ctx)
	ranC := make(chan bool, 1)
	errC := make(chan error, 1)
	go func() {
		errC <- s.RunOnLane(cctx, "c", func(context.Context, *Runner) error { ranC <- true; return nil })
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := s.Status()
		if len(st.Lanes) == 1 && st.Lanes[0].Running == 1 && st.Lanes[0].Queued == 2 {
			if len(st.Running) != 0 {
				t.Fatalf("lane jobs listed as running assets: %+v", st.Running)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status while a runs and b, c wait: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-ranB:
		t.Fatal("b ran while a held the only cpu worker")
	default:
	}
	cancel()
	if err := <-errC; !errors.Is(err, context.Canceled) {
		t.Fatalf("c cancelled before its turn: %v", err)
	}
	close(release)
	if err := <-errA; err != nil {
		t.Fatal(err)
	}
	if err := <-errB; err == nil || err.Error() != "b's result" {
		t.Fatalf("b: %v, want its own result", err)
	}
	select {
	case <-ranC:
		t.Fatal("c ran after it was cancelled")
	case <-time.After(200 * time.Millisecond):
	}

	// A job still queued when the stage stops ends with ErrNotRunning.
	hold, holdRelease := make(chan struct{}), make(chan struct{})
	go s.RunOnLane(ctx, "hold", func(ctx context.Context, _ *Runner) error {
		close(hold)
		select {
		case <-holdRelease:
		case <-ctx.Done():
		}
		return ctx.Err()
	})
	<-hold
	errD := make(chan error, 1)
	go func() { errD <- s.RunOnLane(ctx, "d", func(context.Context, *Runner) error { return nil }) }()
	for s.Status().Lanes[0].Queued != 1 {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	close(holdRelease)
	select {
	case err := <-errD:
		if !errors.Is(err, ErrNotRunning) {
			t.Fatalf("queued job at stop: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("queued lane job left waiting after the stage stopped")
	}
}
