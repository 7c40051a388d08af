package transcode

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
)

// SetGate: while the gate is closed (the state dir below disk.min_free)
// no proxy job runs and nothing is written; once it opens the queued job
// runs by itself. A stop while waiting at the gate returns promptly.
func TestGateHoldsJobs(t *testing.T) {
	tools := needFFmpeg(t)
	vol := t.TempDir()
	clip := filepath.Join(vol, "gate.mp4")
	if out, err := exec.Command(tools.FFmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
		"testsrc2=s=160x90:r=25:d=1", "-c:v", "libx264", "-pix_fmt", "yuv420p", clip).CombinedOutput(); err != nil {
		t.Fatalf("make clip: %v %s", err, out)
	}
	tools.Volumes = map[string]string{"nas": vol}
	cat := catalogtest.Open(t, t.TempDir())
	stateDir := t.TempDir()
	svc, err := New(Config{CPUJobs: 1}, tools, stateDir, cat, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	open := make(chan struct{})
	waiting := make(chan struct{}, 16)
	svc.SetGate(func(ctx context.Context) error {
		select {
		case waiting <- struct{}{}:
		default:
		}
		select {
		case <-open:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("service did not stop while a job waited at the gate")
		}
	}()
	id := catalogFile(t, cat, "nas", vol, "gate.mp4")
	select {
	case <-waiting:
	case <-time.After(60 * time.Second):
		t.Fatal("no job reached the gate")
	}
	time.Sleep(500 * time.Millisecond)
	if doc, err := cat.Asset(id); err != nil || doc.Proxy != nil && doc.Proxy.Status == StatusReady {
		t.Fatalf("proxy made while the gate was closed: %+v %v", doc.Proxy, err)
	}
	if m, _ := filepath.Glob(storage.OutputPath(stateDir, id, "*")); len(m) != 0 {
		t.Fatalf("outputs written while the gate was closed: %v", m)
	}
	close(open)
	waitAsset(t, cat, id, 60*time.Second, func(d storage.AssetDoc) bool { return d.Proxy != nil && d.Proxy.Status == StatusReady })
}
