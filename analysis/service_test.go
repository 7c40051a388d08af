package analysis

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/ingest"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
	gen "github.com/ingestd/ingestd/testdata/analysis"
)

// countEvents counts events of type typ for asset id in the catalog.
func countEvents(t *testing.T, cat *catalog.Catalog, typ, id string) int {
	t.Helper()
	evs, err := cat.Events(0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Type == typ && e.AssetID == id {
			n++
		}
	}
	return n
}

// TestServiceRunsAfterProxyAndAfterRestart: with a real catalog, the stage
// analyses an asset once its proxy is ready (analysis section, outputs,
// analysis.ready, job record gone); a job record left by an interrupted
// run is analysed again at the next start; and no analysis starts while
// the proxy stage reports jobs queued.
func TestServiceRunsAfterProxyAndAfterRestart(t *testing.T) {
	ff := testenv.Need(t, "ffmpeg")
	dir := t.TempDir()
	cat, err := catalog.Open(filepath.Join(dir, "catalog"), catalog.Options{NoSyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	state := filepath.Join(dir, "state")
	src := filepath.Join(dir, "vol", "qc.mov")
	if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := gen.QCClip(context.Background(), ff, src, true); err != nil {
		t.Fatal(err)
	}
	h, size, err := ingest.HashFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.PutFile(storage.FileRecord{Volume: "nas", Path: "qc.mov", Size: size, MTime: time.Now(), Hashes: h}); err != nil {
		t.Fatal(err)
	}
	id := h.BLAKE3
	proxy := storage.OutputPath(state, id, "proxy.mp4")
	if err := os.MkdirAll(filepath.Dir(proxy), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(proxy, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.UpdateAsset(id, storage.EvProxyReady, "", func(a *storage.Asset) error {
		a.Kind = "video"
		a.Media = &storage.Media{Duration: 12, Timecode: gen.Known.Timecode, Streams: []storage.Stream{
			{Type: "video", FrameRate: "25", Width: 320, Height: 240}, {Type: "audio", Channels: 2}}}
		a.Proxy = &storage.ProxyInfo{Status: "ready", Outputs: []string{"proxy.mp4"}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	run := func(busy func() bool, want int) time.Duration {
		t.Helper()
		svc, err := New(Config{}, ff, state, cat, slog.Default())
		if err != nil {
			t.Fatal(err)
		}
		svc.SetProxyBusy(busy)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		t0 := time.Now()
		go func() { done <- svc.Run(ctx) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
		for countEvents(t, cat, storage.EvAnalysisReady, id) < want {
			if time.Since(t0) > time.Minute {
				t.Fatalf("no analysis.ready #%d after a minute", want)
			}
			time.Sleep(100 * time.Millisecond)
		}
		return time.Since(t0)
	}
	run(nil, 1)
	doc, err := cat.Asset(id)
	if err != nil {
		t.Fatal(err)
	}
	if a := doc.Analysis; a == nil || a.Status != StatusReady || a.Verdict != Fail || a.Shots != 4 || a.Loudness == nil {
		t.Fatalf("analysis section = %+v", doc.Analysis)
	}
	for _, n := range []string{OutJSON, OutShots, OutThumb + "/00001.jpg"} {
		if _, err := os.Stat(storage.OutputPath(state, id, n)); err != nil {
			t.Errorf("output %s: %v", n, err)
		}
	}
	var left []string
	_ = cat.ListState(jobPrefix, func(k string, _ []byte) error { left = append(left, k); return nil })
	if len(left) != 0 {
		t.Errorf("job records left: %v", left)
	}
	// An interrupted run left its record: the next start runs it, once the
	// proxy stage has nothing queued (busy for the first 1.5 s).
	if err := cat.PutState(jobPrefix+id, job{ID: id, Queued: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var until atomic.Int64
	until.Store(time.Now().Add(1500 * time.Millisecond).UnixNano())
	took := run(func() bool { return time.Now().UnixNano() < until.Load() }, 2)
	if took < 1500*time.Millisecond {
		t.Errorf("analysis ran after %s while the proxy stage was busy for 1.5 s", took)
	}
}
