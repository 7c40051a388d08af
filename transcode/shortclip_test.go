package transcode

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
)

// TestShortClipsGetEveryOutput: a clip of one frame, or of fewer frames
// than filmstrip tiles, gets its proxy, poster and filmstrip (the poster
// time and the tile times are held to the last frame: before, a one-frame
// clip failed with "poster.jpg.tmp: no such file").
func TestShortClipsGetEveryOutput(t *testing.T) {
	tools := needFFmpeg(t)
	dir := t.TempDir()
	clips := map[string]int{"one_frame.mp4": 1, "three_frames.mov": 3, "twelve_frames.mp4": 12}
	for name, frames := range clips {
		out, err := exec.Command(tools.FFmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
			"-frames:v", fmt.Sprint(frames), "-c:v", "libx264", "-pix_fmt", "yuv420p", filepath.Join(dir, name)).CombinedOutput()
		if err != nil {
			t.Fatalf("make %s: %v %s", name, err, out)
		}
	}
	tools.Volumes = map[string]string{"nas": dir}
	cat := catalogtest.Open(t, t.TempDir())
	stateDir := t.TempDir()
	ids := map[string]string{}
	for name := range clips {
		ids[name] = catalogFile(t, cat, "nas", dir, name)
	}
	startService(t, Config{CPUJobs: 1}, tools, stateDir, cat)
	for name, frames := range clips {
		t.Run(name, func(t *testing.T) {
			doc := waitAsset(t, cat, ids[name], 2*time.Minute, func(d storage.AssetDoc) bool {
				return d.Proxy != nil && (d.Proxy.Status == StatusReady || d.Proxy.Status == StatusFailed)
			})
			if doc.Proxy.Status != StatusReady {
				t.Fatalf("%d-frame clip: proxy %s: %s", frames, doc.Proxy.Status, doc.Proxy.Error)
			}
			out := func(n string) string { return storage.OutputPath(stateDir, doc.ID, n) }
			checkJPEG(t, out(OutPoster), 320, 240)
			checkJPEG(t, out(OutFilmstrip), 0, 90)
		})
	}
}

// TestLastPick: no pick later than half a millisecond before the last
// frame's start; unknown frame counts set no limit.
func TestLastPick(t *testing.T) {
	for _, tc := range []struct {
		dur    float64
		frames int64
		want   float64
		ok     bool
	}{
		{0.04, 1, 0, true},
		{0.12, 3, 0.0795, true},
		{10, 250, 9.9595, true},
		{10, 0, 0, false},
		{0, 5, 0, false},
	} {
		got, ok := lastPick(tc.dur, tc.frames)
		if ok != tc.ok || (got-tc.want) > 1e-9 || (tc.want-got) > 1e-9 {
			t.Errorf("lastPick(%g, %d) = %g, %v; want %g, %v", tc.dur, tc.frames, got, ok, tc.want, tc.ok)
		}
	}
}
