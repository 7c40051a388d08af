package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/storage"
)

// perf15Wrappers writes ffmpeg and ffprobe scripts that log each
// invocation (tool name, then its arguments, tab-separated, one line) and
// exec the real binary; it returns the scripts' directory and the log.
func perf15Wrappers(t *testing.T) (dir, log string) {
	t.Helper()
	dir = t.TempDir()
	log = filepath.Join(dir, "calls.log")
	for _, name := range []string{"ffmpeg", "ffprobe"} {
		real := testenv.Need(t, name)
		// One printf per call (one write(2) on an O_APPEND file), so
		// overlapping runs never interleave their lines.
		script := fmt.Sprintf("#!/bin/sh\nline=%s\nfor a in \"$@\"; do line=\"$line$(printf '\\t%%s' \"$a\")\"; done\nprintf '%%s\\n' \"$line\" >>'%s'\nexec '%s' \"$@\"\n",
			name, log, real)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir, log
}

// perf15Reads counts the logged runs of tool whose input is path and
// that are not the analysis' loudness pass (a filter graph with ebur128).
func perf15Reads(t *testing.T, log, tool, path string) int {
	t.Helper()
	n := 0
	for _, f := range perf15Lines(t, log) {
		if f[0] == tool && slices.Contains(f[1:], "file:"+path) && !slices.ContainsFunc(f[1:], isLoudness) {
			n++
		}
	}
	return n
}

// perf15LoudnessRuns returns the logged FFmpeg loudness passes of the
// analysis of asset id: it reads the master through a link of fixed name
// ("master") in its work folder beside the asset's outputs.
func perf15LoudnessRuns(t *testing.T, log, id string) [][]string {
	t.Helper()
	var runs [][]string
	for _, f := range perf15Lines(t, log) {
		if f[0] != "ffmpeg" || !slices.ContainsFunc(f[1:], isLoudness) {
			continue
		}
		if slices.ContainsFunc(f[1:], func(a string) bool {
			return strings.HasPrefix(a, "file:") && strings.Contains(a, id) && strings.HasSuffix(a, "/master")
		}) {
			runs = append(runs, f)
		}
	}
	return runs
}

// perf15Lines is the wrappers' log, one line a call, split at tabs.
func perf15Lines(t *testing.T, log string) [][]string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		lines = append(lines, strings.Split(line, "\t"))
	}
	return lines
}

func isLoudness(arg string) bool { return strings.Contains(arg, "ebur128") }

// Issue 15 item 7, one decode per asset: the real daemon, with ffmpeg and
// ffprobe behind logging wrappers (real binaries underneath), reads a
// video master with ONE FFmpeg run that makes the proxy, poster,
// filmstrip and waveform, and an audio master with one run for proxy.m4a
// and the waveform; every output is served and valid. The analysis stage
// reads each master once more, audio only (-vn: loudness is measured on
// the master's own layout), and decodes no video of it.
func TestPerf15OneDecodePerAsset(t *testing.T) {
	wrappers, log := perf15Wrappers(t)
	e := newEnv(t, "perf15-token", "ffmpeg: "+filepath.Join(wrappers, "ffmpeg")+"\nffprobe: "+filepath.Join(wrappers, "ffprobe")+
		"\nproxy:\n  gpu: off\n  filmstrip_tiles: 5\n")
	e.start()
	src := t.TempDir()
	clip := makeClip(t, src, "A001_C001.mov", 2, 440, false)
	e.dropFile(clip, "day 1/A001_C001.mov")
	sound := filepath.Join(src, "sound.wav")
	if out, err := exec.Command(testenv.Need(t, "ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "sine=f=1000:sample_rate=48000:d=2", "-c:a", "pcm_s24le", sound).CombinedOutput(); err != nil {
		t.Fatalf("make sound.wav: %v\n%s", err, out)
	}
	e.dropFile(sound, "day 1/sound.wav")
	evs := e.waitFeed(mediaTimeout, "both files cataloged", hasPaths(storage.EvLocationAdded, "day 1/A001_C001.mov", "day 1/sound.wav"))
	clipID, soundID := assetOf(evs, "day 1/A001_C001.mov"), assetOf(evs, "day 1/sound.wav")
	e.waitFeed(mediaTimeout, "proxy.ready for both", hasAssetEvent(storage.EvProxyReady, &clipID, &soundID))
	// Wait for the analysis too, so that every read of a master is logged.
	e.waitFeed(mediaTimeout, "analysis.ready for both", hasAssetEvent(storage.EvAnalysisReady, &clipID, &soundID))

	for _, c := range []struct {
		rel, id string
		outputs []string
	}{
		{"day 1/A001_C001.mov", clipID, []string{"proxy.mp4", "poster.jpg", "filmstrip.jpg", "waveform.json"}},
		{"day 1/sound.wav", soundID, []string{"proxy.m4a", "waveform.json"}},
	} {
		master := filepath.Join(e.watch, c.rel)
		if n := perf15Reads(t, log, "ffmpeg", master); n != 1 {
			t.Errorf("%s: decoded by %d FFmpeg runs, want 1 (one decode for every output)", c.rel, n)
		}
		if runs := perf15LoudnessRuns(t, log, c.id); len(runs) != 1 || !slices.Contains(runs[0], "-vn") {
			t.Errorf("%s: analysis loudness runs on the master %q, want one, audio only (-vn)", c.rel, runs)
		}
		if n := perf15Reads(t, log, "ffprobe", master); n != 1 {
			t.Errorf("%s: probed %d times, want 1", c.rel, n)
		}
		doc, err := e.client().Asset(t.Context(), c.id)
		if err != nil {
			t.Fatal(err)
		}
		if doc.Proxy == nil || doc.Proxy.Status != "ready" || !slices.Equal(doc.Proxy.Outputs, c.outputs) {
			t.Fatalf("%s: proxy %+v, want ready with outputs %v", c.rel, doc.Proxy, c.outputs)
		}
	}

	// The poster and filmstrip are whole JPEGs of the proxy's size and
	// tiles; the waveform has peaks.
	for _, tc := range []struct {
		what string
		w, h int
	}{{"poster", 320, 180}, {"filmstrip", 5 * 160, 90}} {
		resp, body := e.rawGet("/v1/assets/"+clipID+"/"+tc.what, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", tc.what, resp.StatusCode)
		}
		img, err := jpeg.Decode(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", tc.what, err)
		}
		if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
			t.Errorf("%s is %dx%d, want %dx%d", tc.what, b.Dx(), b.Dy(), tc.w, tc.h)
		}
	}
	for _, id := range []string{clipID, soundID} {
		resp, body := e.rawGet("/v1/assets/"+id+"/waveform", nil)
		var w struct {
			SampleRate int     `json:"sample_rate"`
			Channels   int     `json:"channels"`
			Length     int     `json:"length"`
			Peaks      []int16 `json:"peaks"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(body, &w) != nil || w.SampleRate != 48000 || w.Channels != 2 ||
			w.Length == 0 || len(w.Peaks) != 4*w.Length || slices.Max(w.Peaks) < 1000 {
			t.Errorf("waveform of %s: %d %.200s", id, resp.StatusCode, body)
		}
	}
}
