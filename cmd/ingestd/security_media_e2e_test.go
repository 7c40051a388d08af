package main_test

// Issue 10, items 3 and 13 (media): files on a volume are untrusted, and
// FFmpeg follows what a file says. A playlist or list dropped in a watch
// folder must never become a proxy of a file outside every volume, an
// image2 pattern name is one literal file, and proxy errors served by the
// API name no absolute server path.

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/storage"
)

// secMediaDoc is the part of an asset document these tests read.
type secMediaDoc struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	Media *struct {
		Container string  `json:"container"`
		Duration  float64 `json:"duration"`
		Streams   []struct {
			Type   string `json:"type"`
			Width  int    `json:"width"`
			Height int    `json:"height"`
		} `json:"streams"`
	} `json:"media"`
	Proxy *struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Width  int    `json:"width"`
		Height int    `json:"height"`
	} `json:"proxy"`
}

// secMediaAsset GETs /v1/assets/{id} and returns the raw body and the doc.
func secMediaAsset(t *testing.T, e *env, id string) ([]byte, secMediaDoc) {
	t.Helper()
	code, body := e.get("/v1/assets/"+id, e.token)
	if code != http.StatusOK {
		t.Fatalf("GET asset %s: %d %s", id, code, body)
	}
	var d secMediaDoc
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatalf("asset %s: %v: %s", id, err, body)
	}
	return body, d
}

// secMediaProbed: every path is cataloged and its asset was probed (an
// asset.updated "probed: …" or a proxy.failed for it).
func secMediaProbed(paths ...string) func([]storage.Event) bool {
	return func(evs []storage.Event) bool {
		for _, p := range paths {
			id := assetOf(evs, p)
			if id == "" {
				return false
			}
			done := false
			for _, ev := range evs {
				if ev.AssetID == id && (ev.Type == storage.EvProxyFailed || ev.Type == storage.EvAssetUpdated && strings.HasPrefix(ev.Detail, "probed: ")) {
					done = true
					break
				}
			}
			if !done {
				return false
			}
		}
		return true
	}
}

// secMediaFFmpeg runs ffmpeg quietly or fails the test.
func secMediaFFmpeg(t *testing.T, args ...string) {
	t.Helper()
	ff := testenv.Need(t, "ffmpeg")
	if b, err := exec.Command(ff, append([]string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %q: %v\n%s", args, err, b)
	}
}

func secMediaHLS(ref string) []byte {
	return []byte("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:3.0,\n" + ref + "\n#EXT-X-ENDLIST\n")
}

func TestSecurity3PlaylistRefused(t *testing.T) {
	testenv.Need(t, "ffprobe")
	e := newEnv(t, "sec3-token", "proxy:\n  gpu: off\n  filmstrip_tiles: 4\n")
	// The outside file: real media in a folder beside the watch folder,
	// outside every volume.
	outsideDir := filepath.Join(e.dir, "outside")
	if err := os.Mkdir(outsideDir, 0o755); err != nil {
		t.Fatal(err)
	}
	outside := makeClip(t, outsideDir, "outside.mp4", 3, 523, true)
	outsideID := refHashes(t, outside).BLAKE3
	e.start()

	// (a) HLS playlists naming the outside file: absolute path, file://
	// URL, relative path; (b) the same HLS named .mp4; (c) ffconcat lists
	// named .mp4 and .txt.
	concat := []byte("ffconcat version 1.0\nfile '" + outside + "'\n")
	refused := map[string]string{ // path -> detected format
		"evil.m3u8":          "hls",
		"drop/evil_url.m3u8": "hls",
		"drop/evil_rel.m3u8": "hls",
		"evil.mp4":           "hls",
		"list.mp4":           "concat",
		"list.txt":           "concat",
	}
	files := map[string][]byte{
		"evil.m3u8":          secMediaHLS(outside),
		"drop/evil_url.m3u8": secMediaHLS("file://" + outside),
		"drop/evil_rel.m3u8": secMediaHLS("../../outside/outside.mp4"),
		"evil.mp4":           secMediaHLS(outside),
		"list.mp4":           concat,
		"list.txt":           concat,
	}
	for rel, data := range files {
		e.writeFile(rel, data)
	}
	// (d) An image2 pattern name beside the frames it would expand to: a
	// 32x24 PNG named frame%03d.png next to three 64x48 frames.
	src := t.TempDir()
	for _, n := range []string{"frame001.png", "frame002.png", "frame003.png"} {
		secMediaFFmpeg(t, "-f", "lavfi", "-i", "testsrc2=s=64x48", "-frames:v", "1", "-update", "1", filepath.Join(src, n))
		e.dropFile(filepath.Join(src, n), "seq/"+n)
	}
	pattern := filepath.Join(src, "pattern.png")
	secMediaFFmpeg(t, "-f", "lavfi", "-i", "testsrc2=s=32x24", "-frames:v", "1", "-update", "1", pattern)
	e.dropFile(pattern, "seq/frame%03d.png")

	all := []string{"seq/frame%03d.png", "seq/frame001.png"}
	for rel := range refused {
		all = append(all, rel)
	}
	e.waitFeed(mediaTimeout, "playlists, lists and frames probed", secMediaProbed(all...))

	// The queue goes on: a real clip dropped after them gets its proxy. Its
	// name is literal too (a leading '-', a ':' and a '%').
	after := makeClip(t, src, "after.mov", 1, 880, false)
	e.dropFile(after, "-late: take %d.mov")
	var afterID, patternID string
	evs := e.waitFeed(mediaTimeout, "proxy.ready for the clip dropped after and the pattern-named still", func(evs []storage.Event) bool {
		afterID, patternID = assetOf(evs, "-late: take %d.mov"), assetOf(evs, "seq/frame%03d.png")
		return hasAssetEvent(storage.EvProxyReady, &afterID, &patternID)(evs)
	})

	feed := dumpEvents(evs)
	if strings.Contains(feed, outsideID) {
		t.Errorf("the outside file's hash is in the feed:\n%s", feed)
	}
	for rel, format := range refused {
		id := assetOf(evs, rel)
		body, d := secMediaAsset(t, e, id)
		t.Logf("%s: %s", rel, body)
		if id == outsideID {
			t.Errorf("%s: cataloged as the outside file's content", rel)
		}
		if d.Kind != "other" {
			t.Errorf("%s: kind %q, want other", rel, d.Kind)
		}
		if d.Media == nil || d.Media.Container != format || d.Media.Duration != 0 || len(d.Media.Streams) != 0 {
			t.Errorf("%s: media %+v, want container %q only (what it is, nothing read through it)", rel, d.Media, format)
		}
		if d.Proxy == nil || d.Proxy.Status != "unsupported" || !strings.Contains(d.Proxy.Error, "refused") || !strings.Contains(d.Proxy.Error, format) {
			t.Errorf("%s: proxy %+v, want unsupported with a reason naming %s", rel, d.Proxy, format)
		}
		if strings.Contains(string(body), outsideID) || strings.Contains(string(body), outside) {
			t.Errorf("%s: the asset names the outside file: %s", rel, body)
		}
		for _, ev := range evs {
			if ev.AssetID == id && ev.Type == storage.EvProxyReady {
				t.Errorf("%s: proxy.ready event %+v", rel, ev)
			}
		}
		for _, route := range []string{"proxy", "poster", "filmstrip", "waveform"} {
			if code, b := e.get("/v1/assets/"+id+"/"+route, e.token); code != http.StatusNotFound {
				t.Errorf("%s: GET %s: %d (%d bytes), want 404", rel, route, code, len(b))
			}
		}
		if _, err := os.Stat(filepath.Dir(storage.OutputPath(e.state, id, "proxy.mp4"))); !os.IsNotExist(err) {
			t.Errorf("%s: an output folder exists for it: %v", rel, err)
		}
	}

	// The pattern-named PNG is its own 32x24 image, not the 3-frame
	// sequence of its neighbours.
	_, d := secMediaAsset(t, e, patternID)
	if d.Kind != "image" || d.Media == nil || len(d.Media.Streams) != 1 || d.Media.Streams[0].Width != 32 || d.Media.Streams[0].Height != 24 {
		t.Errorf("frame%%03d.png: kind %q media %+v, want the literal 32x24 image", d.Kind, d.Media)
	}
	if d.Proxy == nil || d.Proxy.Status != "ready" || d.Proxy.Width != 32 || d.Proxy.Height != 24 {
		t.Errorf("frame%%03d.png: proxy %+v, want a 32x24 proxy of itself", d.Proxy)
	}
	if _, d := secMediaAsset(t, e, afterID); d.Kind != "video" || d.Proxy == nil || d.Proxy.Status != "ready" {
		t.Errorf("clip dropped after: kind %q proxy %+v, want a ready video proxy", d.Kind, d.Proxy)
	}
	if code, b := e.get("/v1/assets/"+afterID+"/proxy", e.token); code != http.StatusOK || len(b) == 0 {
		t.Errorf("GET proxy of the clip dropped after: %d, %d bytes", code, len(b))
	}
	e.stop()
}

// secAbsPath finds an absolute path in a served message.
var secAbsPath = regexp.MustCompile(`(^|[\s'"(\[=:,])/[A-Za-z0-9._-]`)

func TestSecurity13ProxyErrorPaths(t *testing.T) {
	testenv.Need(t, "ffprobe")
	e := newEnv(t, "sec13-token", "proxy:\n  gpu: off\n  filmstrip_tiles: 4\n")
	e.start()
	src := t.TempDir()
	// Garbage named .mov: ffprobe fails at probe. A truncated clip with
	// its moov first: ffprobe reads it, FFmpeg fails at the cut.
	e.writeFile("day 1/garbage.mov", []byte(strings.Repeat("not a movie at all\n", 200)))
	broken := makeClip(t, src, "broken.mov", 4, 660, true)
	data, err := os.ReadFile(broken)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(broken, data[:len(data)*2/5], 0o644); err != nil {
		t.Fatal(err)
	}
	e.dropFile(broken, "day 1/broken.mov")
	var garbageID, brokenID string
	evs := e.waitFeed(mediaTimeout, "proxy.failed for both", func(evs []storage.Event) bool {
		garbageID, brokenID = assetOf(evs, "day 1/garbage.mov"), assetOf(evs, "day 1/broken.mov")
		return hasAssetEvent(storage.EvProxyFailed, &garbageID, &brokenID)(evs)
	})
	secret := []string{e.state, e.watch, e.dir, src, os.TempDir() + "/"}
	check := func(what, msg string) {
		t.Helper()
		if strings.TrimSpace(msg) == "" {
			t.Errorf("%s: empty error", what)
		}
		for _, s := range secret {
			if strings.Contains(msg, s) {
				t.Errorf("%s names the server path %s: %q", what, s, msg)
			}
		}
		if m := secAbsPath.FindString(msg); m != "" {
			t.Errorf("%s holds an absolute path (%q): %q", what, m, msg)
		}
	}
	for name, id := range map[string]string{"garbage.mov": garbageID, "broken.mov": brokenID} {
		_, d := secMediaAsset(t, e, id)
		if d.Proxy == nil || d.Proxy.Status != "failed" {
			t.Fatalf("%s: proxy %+v, want failed", name, d.Proxy)
		}
		check(name+" proxy.error", d.Proxy.Error)
		// A probe error still names the file, relative to its volume.
		if name == "garbage.mov" && !strings.Contains(d.Proxy.Error, "footage/day 1/"+name) {
			t.Errorf("%s: proxy.error %q does not name footage/day 1/%s", name, d.Proxy.Error, name)
		}
		for _, ev := range evs {
			if ev.AssetID == id && ev.Type == storage.EvProxyFailed {
				check(name+" proxy.failed detail", ev.Detail)
			}
		}
	}
	// The proxy section of /v1/status serves no absolute path either.
	code, body := e.get("/v1/status", e.token)
	if code != http.StatusOK {
		t.Fatalf("status: %d %s", code, body)
	}
	var st struct {
		Proxy json.RawMessage `json:"proxy"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	for _, s := range secret {
		if strings.Contains(string(st.Proxy), s) {
			t.Errorf("status proxy section names %s: %s", s, st.Proxy)
		}
	}
	// The local log keeps the full detail.
	if !strings.Contains(e.stderr.String(), filepath.Join(e.watch, "day 1", "garbage.mov")) {
		t.Errorf("the daemon log lost the full path of the failed master")
	}
	e.stop()
}
