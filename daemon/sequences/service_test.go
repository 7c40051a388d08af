package sequences

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/ingest"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
	gen "github.com/ingestd/ingestd/testdata/sequences"
	"github.com/ingestd/ingestd/transcode"
)

type svcEnv struct {
	t     *testing.T
	cat   *catalog.Catalog
	root  string
	state string
}

// catalogFile records rel as ingest would: real hashes, stat.
func (e *svcEnv) catalogFile(rel string) {
	e.t.Helper()
	p := filepath.Join(e.root, filepath.FromSlash(rel))
	h, size, err := ingest.HashFile(p)
	if err != nil {
		e.t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.cat.PutFile(storage.FileRecord{Volume: "nas", Path: rel, Size: size, MTime: fi.ModTime(), Hashes: h}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *svcEnv) waitRecord(id, what string, cond func(r *Record, found bool) bool) Record {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var r Record
		err := e.cat.GetState(recordKey(id), &r)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			e.t.Fatal(err)
		}
		if cond(&r, err == nil) {
			return r
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s; record %+v proxy %+v", what, r, r.Proxy)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The stage follows the catalog: only cataloged frames count, a frame
// cataloged later re-cuts the proxy after the settle period, a sequence
// that falls below min_frames is removed with its outputs, and a folder
// that resolves outside the volume is never listed.
func TestServiceFollowsCatalog(t *testing.T) {
	ffmpeg := testenv.Need(t, "ffmpeg")
	ffprobe := testenv.Need(t, "ffprobe")
	dir := t.TempDir()
	cat := catalogtest.Open(t, filepath.Join(dir, "catalog"))
	e := &svcEnv{t: t, cat: cat, root: filepath.Join(dir, "vol"), state: filepath.Join(dir, "state")}
	if err := os.MkdirAll(filepath.Join(e.root, "shots/a"), 0o755); err != nil {
		t.Fatal(err)
	}
	var prof transcode.Config
	prof.MaxHeight = 72
	cfg := Config{MinFrames: 3, Settle: 300 * time.Millisecond}
	svc, err := New(cfg, prof, ffmpeg, ffprobe, e.state, []Volume{{Name: "nas", Path: e.root}}, cat, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() { cancel(); <-done }()

	spec := gen.Spec{Base: "a.", Ext: "png", First: 1, Frames: 5}
	files, err := gen.Render(ffmpeg, filepath.Join(e.root, "shots/a"), spec)
	if err != nil {
		t.Fatal(err)
	}
	id := ID("nas", "shots/a", Key{"a.", "png", 4})
	// Frame 5 is on disk but not cataloged (still settling): not counted.
	for _, n := range []int64{1, 2, 3, 4} {
		e.catalogFile("shots/a/" + spec.Name(n))
	}
	r := e.waitRecord(id, "first proxy", func(r *Record, ok bool) bool { return ok && r.Proxy != nil && r.Proxy.Status == ProxyReady })
	if r.Count != 4 || r.Last != 4 || r.Proxy.Frames != 4 || r.Width != 160 || r.FrameRate != "24/1" || r.FrameRateSource != "config" {
		t.Errorf("record %+v proxy %+v", r, r.Proxy)
	}
	e.catalogFile("shots/a/" + spec.Name(5))
	r = e.waitRecord(id, "second proxy", func(r *Record, ok bool) bool {
		return ok && r.Count == 5 && r.Proxy != nil && r.Proxy.Status == ProxyReady && r.Proxy.Frames == 5
	})
	if r.Proxy.Signature != r.Signature {
		t.Errorf("proxy signature %s, record %s", r.Proxy.Signature, r.Signature)
	}
	if _, err := os.Stat(filepath.Join(Dir(e.state, id), OutPoster)); err != nil {
		t.Errorf("poster: %v", err)
	}

	// Three frames go: two left, below min_frames.
	for _, f := range files[2:] {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
		if _, err := cat.RemoveLocation("nas", "shots/a/"+filepath.Base(f), "deleted"); err != nil {
			t.Fatal(err)
		}
	}
	e.waitRecord(id, "removal", func(r *Record, ok bool) bool { return !ok })
	if _, err := os.Stat(Dir(e.state, id)); !os.IsNotExist(err) {
		t.Errorf("outputs left after removal: %v", err)
	}
	evs, err := cat.Events(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, ev := range evs {
		if ev.Path == id {
			count[ev.Type]++
		}
	}
	if count[EvSequenceUpdated] != 2 || count[EvSequenceProxyReady] != 2 || count[EvSequenceRemoved] != 1 {
		t.Errorf("events for the sequence: %v", count)
	}

	// A folder swapped for a symlink to outside the volume is not listed,
	// even though the catalog names paths in it.
	outside := filepath.Join(dir, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := gen.Render(ffmpeg, outside, gen.Spec{Base: "x.", Ext: "png", First: 1, Frames: 3}); err != nil {
		t.Fatal(err)
	}
	// The catalog holds the paths (cataloged before the swap, as far as
	// the stage can tell); the folder is a symlink when it is listed.
	if err := os.Symlink(outside, filepath.Join(e.root, "shots/b")); err != nil {
		t.Fatal(err)
	}
	for n := int64(1); n <= 3; n++ {
		e.catalogFile("shots/b/" + gen.Spec{Base: "x.", Ext: "png"}.Name(n))
	}
	// Control: a real folder cataloged after the symlinked one is grouped,
	// so the stage has looked at both by then.
	ctl := gen.Spec{Base: "c.", Ext: "png", First: 1, Frames: 3}
	if _, err := gen.Render(ffmpeg, filepath.Join(e.root, "shots/a"), ctl); err != nil {
		t.Fatal(err)
	}
	for n := int64(1); n <= 3; n++ {
		e.catalogFile("shots/a/" + ctl.Name(n))
	}
	e.waitRecord(ID("nas", "shots/a", Key{"c.", "png", 4}), "control sequence", func(r *Record, ok bool) bool { return ok })
	var leaked Record
	if err := cat.GetState(recordKey(ID("nas", "shots/b", Key{"x.", "png", 4})), &leaked); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("sequence through a symlinked folder: %+v %v", leaked, err)
	}
}

// While its volume is offline a sequence is kept, even if its folder is
// gone (an unmounted share looks empty); it is rescanned once the volume
// is back.
func TestServiceKeepsOfflineVolume(t *testing.T) {
	ffmpeg := testenv.Need(t, "ffmpeg")
	ffprobe := testenv.Need(t, "ffprobe")
	dir := t.TempDir()
	cat := catalogtest.Open(t, filepath.Join(dir, "catalog"))
	e := &svcEnv{t: t, cat: cat, root: filepath.Join(dir, "vol"), state: filepath.Join(dir, "state")}
	if _, err := cat.SetVolume(storage.Volume{Name: "nas", Path: e.root, Online: true}); err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{Settle: 200 * time.Millisecond}, transcode.Config{}, ffmpeg, ffprobe, e.state, []Volume{{Name: "nas", Path: e.root}}, cat, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() { cancel(); <-done }()
	spec := gen.Spec{Base: "o.", Ext: "jpg", First: 1, Frames: 4}
	if err := os.MkdirAll(filepath.Join(e.root, "f"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := gen.Render(ffmpeg, filepath.Join(e.root, "f"), spec); err != nil {
		t.Fatal(err)
	}
	for n := int64(1); n <= 4; n++ {
		e.catalogFile("f/" + spec.Name(n))
	}
	id := ID("nas", "f", Key{"o.", "jpg", 4})
	e.waitRecord(id, "proxy", func(r *Record, ok bool) bool { return ok && r.Proxy != nil && r.Proxy.Status == ProxyReady })
	if _, err := cat.SetVolume(storage.Volume{Name: "nas", Path: e.root, Online: false, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(e.root, "f")); err != nil {
		t.Fatal(err)
	}
	// One location event marks the folder for a rescan while offline.
	if _, err := cat.RemoveLocation("nas", "f/"+spec.Name(4), "deleted"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	var r Record
	if err := cat.GetState(recordKey(id), &r); err != nil || r.Count != 4 {
		t.Fatalf("sequence of an offline volume changed: %+v %v", r, err)
	}
	if st := svc.Status(); st.Rescans != 1 {
		t.Errorf("status %+v, want the folder still marked", st)
	}
	if _, err := cat.SetVolume(storage.Volume{Name: "nas", Path: e.root, Online: true}); err != nil {
		t.Fatal(err)
	}
	e.waitRecord(id, "removal once online", func(r *Record, ok bool) bool { return !ok })
}
