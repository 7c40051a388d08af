package cardsvc

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
)

// Three 1 s GoPro-like chapters cut with the same parameters and a closed
// GOP (like transcode's proxies) concatenate into one clip proxy whose frame
// count is the sum of theirs and whose timecode is the first chapter's; the
// clip proxy is served with Range.
func TestConcatProxiesChapters(t *testing.T) {
	ffmpeg, ffprobe := testenv.Need(t, "ffmpeg"), testenv.Need(t, "ffprobe")
	ctx := context.Background()
	parts := makeChapters(t, ffmpeg, t.TempDir())
	id := clipID("card", "GX0042")
	state := t.TempDir()
	dst := ClipProxyPath(state, id)
	frames, err := CutClipProxy(ctx, ffmpeg, ffprobe, ClipSources{Video: parts}, dst)
	if err != nil {
		t.Fatal(err)
	}
	if frames != 75 {
		t.Fatalf("frames = %d, want 75", frames)
	}
	n, err := countFrames(ctx, ffprobe, dst)
	if err != nil || n != 75 {
		t.Fatalf("clip proxy frames = %d, %v", n, err)
	}
	out, err := exec.Command(ffprobe, "-v", "error", "-show_entries", "format=duration:stream_tags=timecode:format_tags=timecode", "-of", "default=nw=1", dst).Output()
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if !strings.Contains(s, "timecode=01:00:00:00") {
		t.Errorf("timecode not the first chapter's: %s", s)
	}
	var dur float64
	for _, l := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(l, "duration="); ok {
			fmt.Sscan(v, &dur)
		}
	}
	if dur < 3-0.04 || dur > 3+0.04+0.05 { // one frame; aac priming may add a few ms
		t.Errorf("duration = %v, want 3 s within a frame", dur)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dst), ".proxy.tmp.mp4")); !os.IsNotExist(err) {
		t.Errorf("temp file left: %v", err)
	}

	srv := httptest.NewServer(ClipProxyHandler(state))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/v1/clips/"+id+"/proxy", nil)
	req.Header.Set("Range", "bytes=0-99")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || len(b) != 100 || resp.Header.Get("ETag") == "" {
		t.Fatalf("range: %d, %d bytes, etag %q", resp.StatusCode, len(b), resp.Header.Get("ETag"))
	}
	req, _ = http.NewRequest("GET", srv.URL+"/v1/clips/"+id+"/proxy", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
	resp, err = http.Get(srv.URL + "/v1/clips/" + clipID("card", "other") + "/proxy")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing clip proxy: %d", resp.StatusCode)
	}
}

// makeChapters cuts three 1 s chapters GX010042..GX030042 with the same
// parameters, a closed 1 s GOP and timecodes 01:00:00:00, 01:00:01:00, ...
func makeChapters(t *testing.T, ffmpeg, dir string) []string {
	t.Helper()
	var parts []string
	for i := 1; i <= 3; i++ {
		p := filepath.Join(dir, fmt.Sprintf("GX%02d0042.mp4", i))
		tc := fmt.Sprintf("01:00:%02d:00", i-1)
		out, err := exec.Command(ffmpeg, "-hide_banner", "-nostdin", "-y",
			"-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=1",
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1",
			"-c:v", "libx264", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
			"-c:a", "aac", "-shortest", "-timecode", tc, p).CombinedOutput()
		if err != nil {
			t.Fatalf("ffmpeg: %v: %s", err, out)
		}
		parts = append(parts, p)
	}
	return parts
}

// A clip whose video parts all have a ready proxy gets its whole-clip proxy
// when the last part's proxy.ready is consumed; the clip record and the
// clip.proxy_ready event say so.
func TestMaybeClipProxy(t *testing.T) {
	ffmpeg, ffprobe := testenv.Need(t, "ffmpeg"), testenv.Need(t, "ffprobe")
	cat := catalogtest.Open(t, t.TempDir())
	vol, state := t.TempDir(), t.TempDir()
	chapters := makeChapters(t, ffmpeg, t.TempDir())
	doc := ClipDoc{ID: clipID("card", "GX0042"), Name: "GX0042", Volume: "v"}
	var ids []string
	for _, c := range chapters {
		data, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		rel := "DCIM/100GOPRO/" + filepath.Base(c)
		id := catalogtest.PutFile(t, cat, "v", vol, rel, data)
		ids = append(ids, id)
		doc.Parts = append(doc.Parts, ClipPart{Role: "video", Path: rel, AssetID: id})
	}
	doc.Parts = append(doc.Parts, ClipPart{Role: "sidecar", Path: "DCIM/100GOPRO/GX010042.THM", AssetID: "x"})
	if err := cat.PutClip(doc); err != nil {
		t.Fatal(err)
	}
	s := &Service{cat: cat, log: slogDiscard()}
	if err := s.indexClipParts(doc); err != nil {
		t.Fatal(err)
	}
	s.SetClipProxy(state, ffmpeg, ffprobe, "", true)
	ready := func(i int) {
		data, _ := os.ReadFile(chapters[i])
		out := storage.OutputPath(state, ids[i], "proxy.mp4")
		os.MkdirAll(filepath.Dir(out), 0o755)
		os.WriteFile(out, data, 0o644)
		cat.UpdateAsset(ids[i], "", "", func(a *storage.Asset) error {
			a.Proxy = &storage.ProxyInfo{Status: "ready"}
			return nil
		})
	}
	ready(0)
	ready(1)
	s.maybeClipProxy(context.Background(), ids[1])
	if _, err := os.Stat(ClipProxyPath(state, doc.ID)); err == nil {
		t.Fatal("clip proxy cut before all parts were ready")
	}
	ready(2)
	s.maybeClipProxy(context.Background(), ids[2])
	got, err := cat.Clip(doc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Proxy == nil || got.Proxy.Status != "ready" || got.Proxy.Frames != 75 || got.Proxy.Bytes == 0 {
		t.Fatalf("clip proxy record: %+v", got.Proxy)
	}
	evs, _ := cat.Events(0, 1000)
	n := 0
	for _, ev := range evs {
		if ev.Type == EvClipProxyReady && ev.Path == doc.ID {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d clip.proxy_ready events, want 1", n)
	}
}
