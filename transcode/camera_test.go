package transcode

import (
	"context"
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
