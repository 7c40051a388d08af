package transcode

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
)

// The camera field belongs to the card service: the probe and the proxy
// replace media but keep the camera's facts where ffprobe found none (make,
// model, start timecode, reel), and never touch the camera field itself.
func TestProbeAndProxyKeepCameraFacts(t *testing.T) {
	dir, _ := zoo(t)
	tools := needFFmpeg(t)
	tools.Volumes = map[string]string{"nas": dir}
	cat := catalogtest.Open(t, filepath.Join(t.TempDir(), "catalog"))
	id := catalogFile(t, cat, "nas", dir, "avchd.mts")
	cam := storage.Camera{Source: "sony_nrt", Manufacturer: "TestCam Works", Model: "TC-1", Serial: "0042",
		StartTimecode: "10:00:00;02", DropFrame: true, ClipName: "C0001"}
	// What the card service does when the clip is cataloged (before the probe).
	if _, err := cat.UpdateAsset(id, storage.EvAssetUpdated, "card origin", func(a *storage.Asset) error {
		c := cam
		a.Camera = &c
		a.Media = c.FillMedia(&storage.Media{})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	check := func(step string) {
		t.Helper()
		d, err := cat.Asset(id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Camera == nil || *d.Camera != cam {
			t.Fatalf("%s: camera field %+v, want %+v", step, d.Camera, cam)
		}
		if d.Media == nil || d.Media.Container == "" || d.Media.Make != "TestCam Works" || d.Media.Model != "TC-1" ||
			d.Media.Timecode != "10:00:00;02" || !d.Media.DropFrame || d.Media.Reel != "C0001" {
			t.Fatalf("%s: media %+v lost the camera's facts", step, d.Media)
		}
	}
	s, err := New(Config{GPU: GPUOff}, tools, t.TempDir(), cat, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.consider(ctx, id); err != nil {
		t.Fatal(err)
	}
	check("after the probe")
	s.runJob(ctx, s.next(ctx, LaneCPU), LaneCPU)
	if d, _ := cat.Asset(id); d.Proxy == nil || d.Proxy.Status != StatusReady {
		t.Fatalf("proxy %+v", d.Proxy)
	}
	check("after the proxy")
}

// A master ffprobe cannot read (random bytes from a camera card) fails its
// probe; its media still carries the camera's facts.
func TestFailedProbeKeepsCameraFacts(t *testing.T) {
	tools := needFFmpeg(t)
	dir := t.TempDir()
	tools.Volumes = map[string]string{"card": dir}
	junk := make([]byte, 64<<10)
	for i := range junk {
		junk[i] = byte(i*131 + i>>7)
	}
	if err := os.WriteFile(filepath.Join(dir, "C0002.MP4"), junk, 0o644); err != nil {
		t.Fatal(err)
	}
	cat := catalogtest.Open(t, filepath.Join(t.TempDir(), "catalog"))
	id := catalogFile(t, cat, "card", dir, "C0002.MP4")
	cam := storage.Camera{Source: "sony_nrt", Manufacturer: "Sony", Model: "ILME-FX3", StartTimecode: "01:00:00:00", ClipName: "C0002"}
	if _, err := cat.UpdateAsset(id, storage.EvAssetUpdated, "card origin", func(a *storage.Asset) error {
		c := cam
		a.Camera = &c
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{GPU: GPUOff}, tools, t.TempDir(), cat, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.consider(ctx, id); err != nil {
		t.Fatal(err)
	}
	d, err := cat.Asset(id)
	if err != nil {
		t.Fatal(err)
	}
	if d.Proxy == nil || d.Proxy.Status == StatusReady || d.Proxy.Status == StatusQueued {
		t.Fatalf("proxy of an unreadable master: %+v", d.Proxy)
	}
	if d.Media == nil || d.Media.Make != "Sony" || d.Media.Model != "ILME-FX3" || d.Media.Timecode != "01:00:00:00" || d.Media.Reel != "C0002" {
		t.Fatalf("media after a failed probe %+v (camera %+v, kind %q, proxy %+v), want the camera's facts", d.Media, d.Camera, d.Kind, d.Proxy)
	}
}
