package main_test

// End to end through the transcode stage: a real clip dropped into the
// watch folder is cataloged, probed and cut into proxies by the real binary
// with the real FFmpeg; the outputs are served with Range and ETag.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/storage"
)

// makeClip writes a short H.264/AAC MOV from lavfi sources with a start
// timecode (in a temp dir, so that the watch folder only ever sees the
// finished file) and returns its path. freq makes the content unique.
func makeClip(t *testing.T, dir, name string, seconds, freq int, faststart bool) string {
	t.Helper()
	ff := testenv.Need(t, "ffmpeg")
	out := filepath.Join(dir, name)
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=" + strconv.Itoa(seconds),
		"-f", "lavfi", "-i", "sine=f=" + strconv.Itoa(freq) + ":sample_rate=48000:d=" + strconv.Itoa(seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25",
		"-c:a", "aac", "-b:a", "96k", "-timecode", "01:00:00:00", "-shortest"}
	if faststart {
		args = append(args, "-movflags", "+faststart")
	}
	if out, err := exec.Command(ff, append(args, out)...).CombinedOutput(); err != nil {
		t.Fatalf("make clip %s: %v\n%s", name, err, out)
	}
	return out
}

// countFrames is ffprobe's count of decoded video frames.
func countFrames(t *testing.T, path string) int64 {
	t.Helper()
	fp := testenv.Need(t, "ffprobe")
	out, err := exec.Command(fp, "-v", "error", "-select_streams", "v:0", "-count_frames",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(strings.Split(string(out), "\n")[0]), 10, 64)
	if err != nil {
		t.Fatalf("ffprobe frames of %s: %q", path, out)
	}
	return n
}

// dropFile moves a finished file into the watch folder (one rename).
func (e *env) dropFile(src, rel string) string {
	e.t.Helper()
	dst := filepath.Join(e.watch, rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Rename(src, dst); err != nil {
		e.t.Fatal(err)
	}
	return dst
}

// assetOf returns the asset id cataloged at path (from the feed).
func assetOf(evs []storage.Event, path string) string {
	for _, ev := range evs {
		if ev.Path == path && (ev.Type == storage.EvLocationAdded || ev.Type == storage.EvAssetCataloged) {
			return ev.AssetID
		}
	}
	return ""
}

// hasAssetEvent: every id has an event of typ.
func hasAssetEvent(typ string, ids ...*string) func([]storage.Event) bool {
	return func(evs []storage.Event) bool {
		for _, id := range ids {
			if *id == "" {
				return false
			}
			found := false
			for _, ev := range evs {
				if ev.Type == typ && ev.AssetID == *id {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	}
}

// rawGet does a GET with extra headers and returns the response with its body read.
func (e *env) rawGet(path string, hdr map[string]string) (*http.Response, []byte) {
	e.t.Helper()
	req, _ := newReq("GET", "http://"+e.addr+path, e.token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, b
}

const mediaTimeout = 4 * time.Minute // FFmpeg on 2 shared cores, -race build

func TestMediaProxies(t *testing.T) {
	e := newEnv(t, "media-token", "appliance_id: box1\nproxy:\n  gpu: off\n  filmstrip_tiles: 4\n")
	e.start()
	src := t.TempDir()

	var (
		brokenID, clipID, notesID, soundID, stillID string
		srcFrames                                   int64
		clipBytes, local                            []byte
		evs                                         []storage.Event
		ctx                                         = context.Background()
		c                                           = e.client()
	)
	e.step(t, "catalog, probe and proxies", func(t *testing.T) {
		// A truncated clip first: its moov is at the front (faststart), so
		// ffprobe reads it, but the samples it indexes are missing. Then a
		// good clip and a text file: the queue must go on after the failure.
		broken := makeClip(t, src, "broken.mov", 4, 660, true)
		data, err := os.ReadFile(broken)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(broken, data[:len(data)*2/5], 0o644); err != nil {
			t.Fatal(err)
		}
		e.dropFile(broken, "day 1/broken.mov")
		evs = e.waitFeed(mediaTimeout, "broken.mov cataloged", hasPaths(storage.EvLocationAdded, "day 1/broken.mov"))
		brokenID = assetOf(evs, "day 1/broken.mov")

		clip := makeClip(t, src, "A001_C001.mov", 2, 440, false)
		srcFrames = countFrames(t, clip)
		clipBytes, err = os.ReadFile(clip)
		if err != nil {
			t.Fatal(err)
		}
		e.dropFile(clip, "day 1/A001_C001.mov")
		e.writeFile("notes.txt", []byte("shot list: A001 C001 good take\n"))
		// Sound and stills get their own proxy kinds (proxy.m4a, proxy.jpg).
		ff := testenv.Need(t, "ffmpeg")
		for _, g := range []struct{ name, input, codec string }{
			{"sound.wav", "sine=f=1000:sample_rate=48000:d=2", "pcm_s24le"},
			{"still.png", "testsrc2=s=640x360:d=1", "png"},
		} {
			out := filepath.Join(src, g.name)
			args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", g.input, "-c", g.codec}
			if g.codec == "png" {
				args = append(args, "-frames:v", "1")
			}
			if b, err := exec.Command(ff, append(args, out)...).CombinedOutput(); err != nil {
				t.Fatalf("make %s: %v\n%s", g.name, err, b)
			}
			e.dropFile(out, "day 1/"+g.name)
		}

		evs = e.waitFeed(mediaTimeout, "all files cataloged", hasPaths(storage.EvLocationAdded, "day 1/A001_C001.mov", "notes.txt", "day 1/sound.wav", "day 1/still.png"))
		clipID, notesID = assetOf(evs, "day 1/A001_C001.mov"), assetOf(evs, "notes.txt")
		soundID, stillID = assetOf(evs, "day 1/sound.wav"), assetOf(evs, "day 1/still.png")
		if clipID != refHashes(t, filepath.Join(e.watch, "day 1/A001_C001.mov")).BLAKE3 {
			t.Fatalf("clip asset id %s is not the BLAKE3 of its bytes", clipID)
		}
		evs = e.waitFeed(mediaTimeout, "proxy.ready for the clip, proxy.failed for the truncated clip, notes probed", func(evs []storage.Event) bool {
			return hasAssetEvent(storage.EvProxyReady, &clipID)(evs) && hasAssetEvent(storage.EvProxyFailed, &brokenID)(evs) &&
				hasAssetEvent(storage.EvAssetUpdated, &notesID)(evs) && hasAssetEvent(storage.EvProxyReady, &soundID, &stillID)(evs)
		})

		// Feed: cataloged -> updated (probed) -> proxy.ready, in that order
		// (the analysis stage's events follow proxy.ready; they are checked in
		// analysis_e2e_test.go).
		var ts []string
		for _, ev := range evs {
			if ev.AssetID == clipID && !strings.HasPrefix(ev.Type, "analysis.") && !strings.HasPrefix(ev.Detail, "analysis") {
				ts = append(ts, ev.Type)
			}
		}
		want := []string{storage.EvAssetCataloged, storage.EvLocationAdded, storage.EvAssetUpdated, storage.EvProxyReady}
		if !slices.Equal(ts, want) {
			t.Errorf("clip events %v, want %v", ts, want)
		}
		for _, ev := range evs {
			if ev.AssetID == clipID && ev.Type == storage.EvAssetUpdated && ev.Detail != "probed: video" && !strings.HasPrefix(ev.Detail, "analysis") {
				t.Errorf("asset.updated detail %q, want \"probed: video\"", ev.Detail)
			}
			if ev.AssetID == brokenID && ev.Type == storage.EvProxyFailed && strings.TrimSpace(ev.Detail) == "" {
				t.Errorf("proxy.failed without an error excerpt: %+v", ev)
			}
			if ev.AssetID == notesID && (ev.Type == storage.EvProxyFailed || ev.Type == storage.EvProxyReady) {
				t.Errorf("a text file got a proxy event: %+v", ev)
			}
		}
	})
	e.step(t, "the clip's asset document and local proxy", func(t *testing.T) {
		doc, err := c.Asset(ctx, clipID)
		if err != nil {
			t.Fatal(err)
		}
		if doc.Kind != "video" || doc.Media == nil {
			t.Fatalf("clip kind %q media %v, want video with media", doc.Kind, doc.Media)
		}
		if doc.Media.Timecode != "01:00:00:00" {
			t.Errorf("media timecode %q, want 01:00:00:00", doc.Media.Timecode)
		}
		var vids, auds int
		for _, s := range doc.Media.Streams {
			switch s.Type {
			case "video":
				vids++
				if s.Codec != "h264" || s.Width != 320 || s.Height != 180 || s.FrameRate != "25/1" {
					t.Errorf("video stream %+v, want h264 320x180 25/1", s)
				}
			case "audio":
				auds++
				if s.SampleRate != 48000 {
					t.Errorf("audio stream %+v, want 48 kHz", s)
				}
			}
		}
		if vids != 1 || auds != 1 {
			t.Errorf("streams: %d video, %d audio; want 1 and 1", vids, auds)
		}
		p := doc.Proxy
		if p == nil || p.Status != "ready" || p.Lane != "cpu" {
			t.Fatalf("proxy %+v, want status ready on lane cpu", p)
		}
		if p.Frames != srcFrames {
			t.Errorf("proxy frames %d, source frames %d", p.Frames, srcFrames)
		}
		for _, o := range []string{"proxy.mp4", "poster.jpg", "filmstrip.jpg", "waveform.json"} {
			if !slices.Contains(p.Outputs, o) {
				t.Errorf("proxy outputs %v lack %s", p.Outputs, o)
			}
		}
		proxyFile := storage.OutputPath(e.state, clipID, "proxy.mp4")
		local, err = os.ReadFile(proxyFile)
		if err != nil {
			t.Fatalf("local proxy: %v", err)
		}
		if int64(len(local)) != p.Bytes {
			t.Errorf("proxy bytes %d, file has %d", p.Bytes, len(local))
		}
		if got := countFrames(t, proxyFile); got != srcFrames {
			t.Errorf("proxy file has %d frames, source %d", got, srcFrames)
		}
	})
	e.step(t, "media routes", func(t *testing.T) {
		// The media routes: auth applies, full body, Range 206, ETag 304.
		if code, _ := e.get("/v1/assets/"+clipID+"/proxy", ""); code != http.StatusUnauthorized {
			t.Errorf("proxy without token: %d, want 401", code)
		}
		resp, body := e.rawGet("/v1/assets/"+clipID+"/proxy", nil)
		if resp.StatusCode != 200 || !bytes.Equal(body, local) || resp.Header.Get("Content-Type") != "video/mp4" {
			t.Fatalf("GET proxy: %d %s, %d bytes (local %d)", resp.StatusCode, resp.Header.Get("Content-Type"), len(body), len(local))
		}
		if bytes.Equal(body, clipBytes) {
			t.Fatal("the proxy route served the master")
		}
		etag := resp.Header.Get("ETag")
		resp, body = e.rawGet("/v1/assets/"+clipID+"/proxy", map[string]string{"Range": "bytes=100-1123"})
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, local[100:1124]) ||
			resp.Header.Get("Content-Range") != "bytes 100-1123/"+strconv.Itoa(len(local)) {
			t.Errorf("Range: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Range"), len(body))
		}
		if etag == "" {
			t.Error("no ETag on the proxy")
		} else if resp, _ = e.rawGet("/v1/assets/"+clipID+"/proxy", map[string]string{"If-None-Match": etag}); resp.StatusCode != http.StatusNotModified {
			t.Errorf("If-None-Match: %d, want 304", resp.StatusCode)
		}
		for _, tc := range []struct{ what, file, ctype string }{
			{"poster", "poster.jpg", "image/jpeg"}, {"filmstrip", "filmstrip.jpg", "image/jpeg"}, {"waveform", "waveform.json", "application/json"},
		} {
			want, err := os.ReadFile(storage.OutputPath(e.state, clipID, tc.file))
			if err != nil {
				t.Errorf("local %s: %v", tc.file, err)
				continue
			}
			resp, body := e.rawGet("/v1/assets/"+clipID+"/"+tc.what, nil)
			if resp.StatusCode != 200 || !bytes.Equal(body, want) || resp.Header.Get("Content-Type") != tc.ctype {
				t.Errorf("GET %s: %d %s, %d bytes (local %d)", tc.what, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), len(want))
			}
		}
		for _, tc := range []struct{ id, kind, file, ctype string }{
			{soundID, "audio", "proxy.m4a", "audio/mp4"}, {stillID, "image", "proxy.jpg", "image/jpeg"},
		} {
			d, err := c.Asset(ctx, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if d.Kind != tc.kind || d.Proxy == nil || d.Proxy.Status != "ready" || !slices.Contains(d.Proxy.Outputs, tc.file) {
				t.Errorf("%s asset: kind %q proxy %+v, want ready with %s", tc.kind, d.Kind, d.Proxy, tc.file)
				continue
			}
			want, err := os.ReadFile(storage.OutputPath(e.state, tc.id, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			resp, body := e.rawGet("/v1/assets/"+tc.id+"/proxy", nil)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tc.ctype || !bytes.Equal(body, want) {
				t.Errorf("GET %s proxy: %d %s, %d bytes (local %d)", tc.kind, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), len(want))
			}
		}
		if resp, _ := e.rawGet("/v1/assets/"+notesID+"/proxy", nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("proxy of a text file: %d, want 404", resp.StatusCode)
		}
		if resp, _ := e.rawGet("/v1/assets/"+clipID+"/master", nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("unknown output route: %d, want 404", resp.StatusCode)
		}
	})
	e.step(t, "the text file and the truncated clip", func(t *testing.T) {
		// The text file: cataloged, probed as other, no proxy, no error.
		notes, err := c.Asset(ctx, notesID)
		if err != nil {
			t.Fatal(err)
		}
		if notes.Kind != "other" || notes.Proxy != nil {
			t.Errorf("text file: kind %q proxy %+v, want other without proxy", notes.Kind, notes.Proxy)
		}
		// The truncated clip: failed, with the reason.
		bad, err := c.Asset(ctx, brokenID)
		if err != nil {
			t.Fatal(err)
		}
		if bad.Proxy == nil || bad.Proxy.Status != "failed" || bad.Proxy.Error == "" {
			t.Errorf("truncated clip proxy %+v, want failed with an error", bad.Proxy)
		} else {
			t.Logf("truncated clip: %s", bad.Proxy.Error)
		}
	})
	e.step(t, "status", func(t *testing.T) {
		// Status: the proxy section (API and CLI).
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ps struct {
			Enabled bool             `json:"enabled"`
			Lanes   []map[string]any `json:"lanes"`
			Done    map[string]int   `json:"done"`
			Queued  int              `json:"queued"`
			Running []any            `json:"running"`
		}
		redecodeJSON(t, st.Proxy, &ps)
		if !ps.Enabled || ps.Done["ready"] != 3 || ps.Done["failed"] != 1 || ps.Queued != 0 || len(ps.Running) != 0 ||
			len(ps.Lanes) != 1 || ps.Lanes[0]["name"] != "cpu" {
			t.Errorf("status proxy section: %+v", ps)
		}
		if st.Sync != nil {
			t.Errorf("sync section without a hub: %+v", st.Sync)
		}
		out, _, code := e.cli("status")
		if code != 0 || !strings.Contains(out, "proxy") || !strings.Contains(out, "ready 3") || !strings.Contains(out, "lanes cpu 0/1") {
			t.Errorf("ingestd status (%d):\n%s", code, out)
		}
		out, _, code = e.cli("status", "--json")
		var js api.Status
		if code != 0 || json.Unmarshal([]byte(out), &js) != nil || js.Proxy == nil {
			t.Errorf("ingestd status --json (%d):\n%s", code, out)
		}
	})
	e.step(t, "a restart neither probes nor cuts again", func(t *testing.T) {
		// A restart neither probes nor cuts again.
		e.stop()
		e.start()
		time.Sleep(2 * time.Second)
		after := e.feedAll()
		for _, ev := range after[len(evs):] {
			if ev.Type == storage.EvProxyReady || ev.Type == storage.EvProxyFailed || ev.Type == storage.EvAssetUpdated {
				t.Errorf("after a restart: %+v", ev)
			}
		}
		e.stop()
	})
}

func redecodeJSON(t *testing.T, v any, out any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}
