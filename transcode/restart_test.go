package transcode

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
)

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// processesWithArgs lists the pids whose command line is exactly args
// (read from /proc: no pgrep, which a fresh machine may lack).
func processesWithArgs(t *testing.T, args ...string) []string {
	t.Helper()
	want := strings.Join(args, "\x00") + "\x00"
	cmdlines, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil || len(cmdlines) == 0 {
		t.Fatalf("list processes: %v (%d found)", err, len(cmdlines))
	}
	var pids []string
	for _, p := range cmdlines {
		if b, err := os.ReadFile(p); err == nil && string(b) == want {
			pids = append(pids, filepath.Base(filepath.Dir(p)))
		}
	}
	return pids
}

func jobKeys(t *testing.T, c Catalog) []string {
	t.Helper()
	var keys []string
	if err := c.ListState(jobPrefix, func(k string, _ []byte) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestRestartRequeuesJob: a job interrupted by shutdown stays persisted and
// runs on the next start; it completes exactly once, and a stale job record
// for a finished asset does not run it again.
func TestRestartRequeuesJob(t *testing.T) {
	dir, _ := zoo(t)
	tools := needFFmpeg(t)
	vol := t.TempDir()
	copyFile(t, filepath.Join(dir, "avchd.mts"), filepath.Join(vol, "DCIM", "clip.mts"))
	tools.Volumes = map[string]string{"card": vol}

	// Fault injection: an ffmpeg that hangs on the proxy encode (as a long
	// job would) and is the real one for everything else.
	// Its sleep has a duration no other test's has (tests of other
	// packages run at the same time and hang their own stand-ins), so
	// that pgrep finds only this one.
	hang := filepath.Join(t.TempDir(), "ffmpeg")
	sleepArg := fmt.Sprintf("300.%09d", time.Now().Nanosecond())
	script := "#!/bin/sh\ncase \"$*\" in *proxy.mp4.tmp*) exec sleep " + sleepArg + ";; esac\nexec " + tools.FFmpeg + " \"$@\"\n"
	if err := os.WriteFile(hang, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	catDir := filepath.Join(t.TempDir(), "catalog")
	state := t.TempDir()
	cat := catalogtest.Open(t, catDir)
	id := catalogFile(t, cat, "card", vol, "DCIM/clip.mts")
	cfg := Config{GPU: GPUOff}

	hungTools := tools
	hungTools.FFmpeg = hang
	s1, stop1 := startService(t, cfg, hungTools, state, cat)
	deadline := time.Now().Add(time.Minute)
	for {
		st := s1.Status()
		if len(st.Running) == 1 && st.Running[0].AssetID == id && st.Running[0].Encoder == "libx264" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job never ran: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop1()
	if keys := jobKeys(t, cat); len(keys) != 1 || !strings.HasSuffix(keys[0], id) {
		t.Fatalf("after shutdown job records %v, want the interrupted job", keys)
	}
	doc, _ := cat.Asset(id)
	if doc.Proxy == nil || doc.Proxy.Status != StatusQueued || catalogtest.CountEvents(t, cat, storage.EvProxyReady, id) != 0 {
		t.Fatalf("after shutdown proxy %+v, want queued and no proxy.ready", doc.Proxy)
	}
	if pids := processesWithArgs(t, "sleep", sleepArg); len(pids) > 0 {
		t.Fatalf("hung ffmpeg stand-in survived shutdown: pids %v", pids)
	}

	// Restart with the real FFmpeg: the job runs and completes once.
	_, stop2 := startService(t, cfg, tools, state, cat)
	doc = waitAsset(t, cat, id, 2*time.Minute, finalStatus)
	stop2()
	if doc.Proxy.Status != StatusReady || catalogtest.CountEvents(t, cat, storage.EvProxyReady, id) != 1 || len(jobKeys(t, cat)) != 0 {
		t.Fatalf("after restart proxy %+v, %d ready events, jobs %v", doc.Proxy, catalogtest.CountEvents(t, cat, storage.EvProxyReady, id), jobKeys(t, cat))
	}
	proxy := storage.OutputPath(state, id, OutProxyVideo)
	before, err := os.Stat(proxy)
	if err != nil {
		t.Fatal(err)
	}

	// A crash between recording the result and deleting the job record
	// leaves a stale record: the next start must not cut the proxy again.
	if err := cat.PutState(jobPrefix+id, job{ID: id, Queued: time.Now()}); err != nil {
		t.Fatal(err)
	}
	_, stop3 := startService(t, cfg, tools, state, cat)
	for i := 0; i < 200 && len(jobKeys(t, cat)) > 0; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	stop3()
	after, _ := os.Stat(proxy)
	if len(jobKeys(t, cat)) != 0 || catalogtest.CountEvents(t, cat, storage.EvProxyReady, id) != 1 || !after.ModTime().Equal(before.ModTime()) {
		t.Fatalf("stale job ran again: jobs %v, %d ready events, proxy rewritten %v", jobKeys(t, cat),
			catalogtest.CountEvents(t, cat, storage.EvProxyReady, id), !after.ModTime().Equal(before.ModTime()))
	}
}

// TestGPUFailureRetriesOnCPU: a job whose GPU pipeline fails is retried on
// the CPU, and the GPU stays enabled for later jobs. The failure is injected
// with an ffmpeg stand-in that refuses -hwaccel (as a broken driver would),
// so the test means the same on machines with and without a GPU.
func TestGPUFailureRetriesOnCPU(t *testing.T) {
	dir, _ := zoo(t)
	tools := needFFmpeg(t)
	tools.Volumes = map[string]string{"nas": dir}
	broken := filepath.Join(t.TempDir(), "ffmpeg")
	script := "#!/bin/sh\ncase \"$*\" in *-hwaccel*) echo 'cuda: CUDA_ERROR_NO_DEVICE (injected)' >&2; exit 1;; esac\nexec " + tools.FFmpeg + " \"$@\"\n"
	if err := os.WriteFile(broken, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	tools.FFmpeg = broken
	cat := catalogtest.Open(t, filepath.Join(t.TempDir(), "catalog"))
	id := catalogFile(t, cat, "nas", dir, "avchd.mts")
	s, err := New(Config{GPU: GPUAuto}, tools, t.TempDir(), cat, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	s.caps = Capabilities{CUDA: true, ScaleCUDA: true, NVDEC: map[string]bool{"h264": true}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.consider(ctx, id); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); len(st.Lanes) != 2 || st.Lanes[0].Name != LaneGPU || st.Lanes[0].Queued != 1 {
		t.Fatalf("status %+v, want the job queued on the gpu lane", st)
	}
	j := s.next(ctx, LaneGPU)
	if j == nil || j.ID != id {
		t.Fatalf("job not on the gpu lane")
	}
	s.runJob(ctx, j, LaneGPU)
	st := s.Status()
	if st.Queued != 1 || st.Lanes[1].Name != LaneCPU || st.Lanes[1].Queued != 1 {
		t.Fatalf("after gpu failure status %+v, want the job queued on cpu", st)
	}
	if !s.caps.GPU() {
		t.Fatal("gpu disabled after one job's failure")
	}
	j = s.next(ctx, LaneCPU)
	if j == nil || j.ID != id || !j.ForceCPU {
		t.Fatalf("cpu lane got %+v", j)
	}
	s.runJob(ctx, j, LaneCPU)
	doc, _ := cat.Asset(id)
	if doc.Proxy == nil || doc.Proxy.Status != StatusReady || doc.Proxy.Lane != LaneCPU {
		t.Fatalf("proxy %+v, want ready on cpu", doc.Proxy)
	}
	// A later job still goes to the GPU lane.
	if err := s.Retry(id); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.Lanes[0].Name != LaneGPU || st.Lanes[0].Queued != 1 {
		t.Fatalf("later job status %+v, want it on the gpu lane", st)
	}
}

// TestRetry re-runs a failed asset on request, and only then.
func TestRetry(t *testing.T) {
	dir, _ := zoo(t)
	tools := needFFmpeg(t)
	tools.Volumes = map[string]string{"nas": dir}
	cat := catalogtest.Open(t, filepath.Join(t.TempDir(), "catalog"))
	id := catalogFile(t, cat, "nas", dir, "truncated.mov")
	vol2 := t.TempDir()
	tools.Volumes["nas2"] = vol2
	s, _ := startService(t, Config{GPU: GPUOff}, tools, t.TempDir(), cat)
	waitAsset(t, cat, id, time.Minute, finalStatus)
	if n := catalogtest.CountEvents(t, cat, storage.EvProxyFailed, id); n != 1 {
		t.Fatalf("%d proxy.failed events, want 1", n)
	}
	// The same content seen at another path is not retried (only a content
	// change, which is a new asset, or Retry runs it again).
	copyFile(t, filepath.Join(dir, "truncated.mov"), filepath.Join(vol2, "copy.mov"))
	if id2 := catalogFile(t, cat, "nas2", vol2, "copy.mov"); id2 != id {
		t.Fatal("copy has another id")
	}
	if err := s.Retry(strings.Repeat("0", 64)); err == nil {
		t.Fatal("retry of an unknown asset succeeded")
	}
	if err := s.Retry(id); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for catalogtest.CountEvents(t, cat, storage.EvProxyFailed, id) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("retry did not run")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if n := catalogtest.CountEvents(t, cat, storage.EvProxyFailed, id); n != 2 {
		t.Fatalf("%d proxy.failed events, want 2 (first run and the retry)", n)
	}
}

// TestOfflineMasterParksJob: an asset whose master cannot be read is not
// failed: it is probed once its volume comes back (volume.online), and a
// queued job whose master vanished is parked and resumes later.
func TestOfflineMasterParksJob(t *testing.T) {
	dir, _ := zoo(t)
	tools := needFFmpeg(t)
	vol := t.TempDir()
	clip := filepath.Join(vol, "A.mts")
	hidden := filepath.Join(t.TempDir(), "A.mts")
	copyFile(t, filepath.Join(dir, "avchd.mts"), clip)
	tools.Volumes = map[string]string{"card": vol}
	cat := catalogtest.Open(t, filepath.Join(t.TempDir(), "catalog"))
	id := catalogFile(t, cat, "card", vol, "A.mts")
	if err := os.Rename(clip, hidden); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()

	// 1. Unreadable at catalog time: not probed, not failed.
	_, stop := startService(t, Config{GPU: GPUOff}, tools, state, cat)
	time.Sleep(2 * time.Second)
	if doc, _ := cat.Asset(id); doc.Kind != "" || doc.Proxy != nil {
		t.Fatalf("unreadable master: asset %+v, want untouched", doc.Asset)
	}
	if err := os.Rename(hidden, clip); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.AppendEvent(storage.Event{Type: storage.EvVolumeOnline, Volume: "card"}); err != nil {
		t.Fatal(err)
	}
	doc := waitAsset(t, cat, id, time.Minute, finalStatus)
	stop()
	if doc.Proxy.Status != StatusReady {
		t.Fatalf("after volume.online proxy %+v", doc.Proxy)
	}

	// 2. Master vanishes between queueing and running: job parked.
	s, err := New(Config{GPU: GPUOff}, tools, t.TempDir(), cat, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Retry(id); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(clip, hidden); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s.runJob(ctx, s.next(ctx, LaneCPU), LaneCPU)
	doc, _ = cat.Asset(id)
	if doc.Proxy.Status != StatusQueued || len(jobKeys(t, cat)) != 1 || catalogtest.CountEvents(t, cat, storage.EvProxyFailed, id) != 0 {
		t.Fatalf("vanished master: proxy %+v jobs %v, want parked (queued, record kept, no failure)", doc.Proxy, jobKeys(t, cat))
	}
	if st := s.Status(); st.Queued != 0 || len(st.Running) != 0 {
		t.Fatalf("parked job still in memory: %+v", st)
	}
	if err := os.Rename(hidden, clip); err != nil {
		t.Fatal(err)
	}
	s.unpark(id)
	s.runJob(ctx, s.next(ctx, LaneCPU), LaneCPU)
	if doc, _ = cat.Asset(id); doc.Proxy.Status != StatusReady || len(jobKeys(t, cat)) != 0 {
		t.Fatalf("after unpark proxy %+v jobs %v", doc.Proxy, jobKeys(t, cat))
	}
}
