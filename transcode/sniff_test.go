package transcode

import (
	"context"
	"errors"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
)

// sniffCase is one real file written by FFmpeg (args, then the output
// named with ext so the muxer is chosen) that is stored without a media
// extension for the gate test.
type sniffCase struct {
	name string
	ext  string   // FFmpeg's output name, picks the muxer
	args []string // input and codec arguments
	text string   // written as is instead (a text format ffprobe detects)
}

var (
	vsrc = []string{"-f", "lavfi", "-i", "testsrc=size=64x48:rate=25:duration=0.2"}
	asrc = []string{"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=0.3"}
	isrc = []string{"-f", "lavfi", "-i", "testsrc=size=64x48:rate=1:duration=1", "-frames:v", "1"}
)

func joinArgs(a ...[]string) []string {
	var out []string
	for _, x := range a {
		out = append(out, x...)
	}
	return out
}

var sniffMediaCases = []sniffCase{
	{name: "mov", ext: ".mov", args: joinArgs(vsrc, []string{"-c:v", "mpeg4"})},
	{name: "mp4", ext: ".mp4", args: joinArgs(vsrc, []string{"-c:v", "mpeg4"})},
	{name: "m4a", ext: ".m4a", args: joinArgs(asrc, []string{"-c:a", "aac"})},
	{name: "3gp", ext: ".3gp", args: joinArgs(vsrc, []string{"-c:v", "h263", "-s", "128x96"})},
	{name: "mxf", ext: ".mxf", args: joinArgs(vsrc, []string{"-c:v", "mpeg2video"})},
	{name: "mkv", ext: ".mkv", args: joinArgs(vsrc, []string{"-c:v", "mpeg4"})},
	{name: "webm", ext: ".webm", args: joinArgs(vsrc, []string{"-c:v", "libvpx", "-b:v", "100k"})},
	{name: "avi", ext: ".avi", args: joinArgs(vsrc, []string{"-c:v", "mpeg4"})},
	{name: "wav", ext: ".wav", args: asrc},
	{name: "rf64", ext: ".wav", args: joinArgs(asrc, []string{"-rf64", "always"})},
	{name: "aiff", ext: ".aiff", args: asrc},
	{name: "ts", ext: ".ts", args: joinArgs(vsrc, []string{"-c:v", "mpeg2video"})},
	{name: "m2ts", ext: ".m2ts", args: joinArgs(vsrc, []string{"-c:v", "mpeg2video"})},
	{name: "mpg", ext: ".mpg", args: joinArgs(vsrc, []string{"-c:v", "mpeg2video"})},
	{name: "m2v", ext: ".m2v", args: joinArgs(vsrc, []string{"-c:v", "mpeg2video"})},
	{name: "h264", ext: ".h264", args: joinArgs(vsrc, []string{"-c:v", "libx264"})},
	{name: "mp3", ext: ".mp3", args: joinArgs(asrc, []string{"-c:a", "libmp3lame"})},
	{name: "mp3-noid3", ext: ".mp3", args: joinArgs(asrc, []string{"-c:a", "libmp3lame", "-write_xing", "0", "-id3v2_version", "0"})},
	{name: "adts", ext: ".aac", args: joinArgs(asrc, []string{"-c:a", "aac"})},
	{name: "ac3", ext: ".ac3", args: asrc},
	{name: "flac", ext: ".flac", args: asrc},
	{name: "ogg", ext: ".ogg", args: joinArgs(asrc, []string{"-c:a", "libvorbis"})},
	{name: "caf", ext: ".caf", args: asrc},
	{name: "flv", ext: ".flv", args: joinArgs(vsrc, []string{"-c:v", "flv"})},
	{name: "png", ext: ".png", args: isrc},
	{name: "jpg", ext: ".jpg", args: isrc},
	{name: "tif", ext: ".tif", args: isrc},
	{name: "dpx", ext: ".dpx", args: isrc},
	{name: "exr", ext: ".exr", args: joinArgs(isrc, []string{"-pix_fmt", "gbrpf32le"})},
	{name: "gif", ext: ".gif", args: isrc},
	{name: "bmp", ext: ".bmp", args: isrc},
	{name: "webp", ext: ".webp", args: joinArgs(isrc, []string{"-c:v", "libwebp"})},
	// A subtitle sidecar: ffprobe detects it (srt, refused) and the asset
	// records that container, as before the gate.
	{name: "srt-sidecar", ext: ".srt", text: "1\n00:00:00,000 --> 00:00:01,000\nHello\n"},
	{name: "webvtt-sidecar", ext: ".vtt", text: "WEBVTT\n\n00:00.000 --> 00:01.000\nHello\n"},
	{name: "ffconcat-list", ext: ".txt", text: "ffconcat version 1.0\nfile clip.mov\n"},
}

// nonMedia are files ffprobe answers "Invalid data found" for.
func nonMedia() map[string][]byte {
	rnd := make([]byte, 8192)
	rand.New(rand.NewSource(7)).Read(rnd)
	return map[string][]byte{
		"notes.txt":   []byte("meeting notes\nshot list: 12, 14, 15\n"),
		"meta.json":   []byte(`{"camera":"A","reel":"A001","clips":[1,2,3]}` + "\n"),
		"sidecar.xml": []byte("<?xml version=\"1.0\"?>\n<NonRealTimeMeta><Duration value=\"240\"/></NonRealTimeMeta>\n"),
		"doc.pdf":     []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"),
		"empty":       nil,
		"random.bin":  rnd,
		"README.md":   []byte("# Shoot day 2\n\n<!-- draft -->\nDeliveries go to the NAS.\n"),
	}
}

// writeSniffFiles makes every sniffMediaCases file with the real FFmpeg
// under dir, renamed to <name>.bin (not a media extension), and the
// non-media files; it returns the media names.
func writeSniffFiles(t *testing.T, ffmpeg, dir string) []string {
	t.Helper()
	var names []string
	for _, c := range sniffMediaCases {
		out := filepath.Join(dir, "src-"+c.name+c.ext)
		if c.text != "" {
			if err := os.WriteFile(out, []byte(c.text), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			args := append([]string{"-hide_banner", "-v", "error", "-y"}, c.args...)
			if b, err := exec.Command(ffmpeg, append(args, out)...).CombinedOutput(); err != nil {
				t.Fatalf("ffmpeg %s: %v: %s", c.name, err, b)
			}
		}
		if err := os.Rename(out, filepath.Join(dir, c.name+".bin")); err != nil {
			t.Fatal(err)
		}
		names = append(names, c.name+".bin")
	}
	for n, b := range nonMedia() {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return names
}

// TestSniffMedia: every format FFmpeg writes here is recognised from its
// first bytes alone (named .bin), and no document is.
func TestSniffMedia(t *testing.T) {
	tools := needFFmpeg(t)
	dir := t.TempDir()
	for _, n := range writeSniffFiles(t, tools.FFmpeg, dir) {
		probe, err := worthProbing(dir, n)
		if err != nil || !probe {
			t.Errorf("%s: worthProbing = %v, %v; want true", n, probe, err)
		}
	}
	for n := range nonMedia() {
		probe, err := worthProbing(dir, n)
		if err != nil || probe {
			t.Errorf("%s: worthProbing = %v, %v; want false", n, probe, err)
		}
	}
	// A media extension is probed whatever the content (a corrupt clip
	// is "failed", not "other").
	if err := os.WriteFile(filepath.Join(dir, "broken.MOV"), []byte("not a movie"), 0o644); err != nil {
		t.Fatal(err)
	}
	if probe, _ := worthProbing(dir, "broken.MOV"); !probe {
		t.Error("broken.MOV: not probed despite its media extension")
	}
	// A link is never opened by the sniff (the probe decides, as before).
	if err := os.Symlink(filepath.Join(dir, "notes.txt"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if probe, err := worthProbing(dir, "link"); err == nil || !probe {
		t.Errorf("link: worthProbing = %v, %v; want true with an error", probe, err)
	}
}

// TestProbeGate runs the real Service with an ffprobe that is a wrapper
// around the real one logging each file it is run on: media under a
// non-media name is still probed and classified as ffprobe says; documents
// are cataloged as kind other, without media or proxy, without ffprobe
// ever being started on them.
func TestProbeGate(t *testing.T) {
	tools := needFFmpeg(t)
	dir := t.TempDir()
	mediaNames := writeSniffFiles(t, tools.FFmpeg, dir)

	wrapDir := t.TempDir()
	logPath := filepath.Join(wrapDir, "runs.log")
	wrapper := filepath.Join(wrapDir, "ffprobe")
	script := "#!/bin/sh\nfor a; do last=$a; done\nprintf '%s\\n' \"$last\" >> '" + logPath + "'\nexec '" + tools.FFprobe + "' \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	realProbe := tools.FFprobe
	tools.FFprobe = wrapper
	tools.Volumes = map[string]string{"nas": dir}

	c := catalogtest.Open(t, t.TempDir())
	ids := map[string]string{}
	for _, n := range mediaNames {
		ids[n] = catalogFile(t, c, "nas", dir, n)
	}
	for n := range nonMedia() {
		ids[n] = catalogFile(t, c, "nas", dir, n)
	}
	off := false
	_, stop := startService(t, Config{CPUJobs: 1, Enabled: &off}, tools, t.TempDir(), c)
	docs := map[string]storage.AssetDoc{}
	for n, id := range ids {
		docs[n] = waitAsset(t, c, id, 2*time.Minute, func(d storage.AssetDoc) bool { return d.Kind != "" })
	}
	stop()

	raw, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatalf("ffprobe wrapper never ran: %v", err)
	}
	runs := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		runs[filepath.Base(strings.TrimPrefix(l, "file:"))]++
	}
	ctx := context.Background()
	for _, n := range mediaNames {
		if runs[n] != 1 {
			t.Errorf("%s: ffprobe ran %d times, want 1", n, runs[n])
		}
		m, kind, perr := Probe(ctx, realProbe, filepath.Join(dir, n))
		d := docs[n]
		var refused *RefusedError
		switch {
		case errors.As(perr, &refused):
			if d.Kind != KindOther || d.Media == nil || d.Media.Container != refused.Format {
				t.Errorf("%s: kind %q media %+v, want other with container %q", n, d.Kind, d.Media, refused.Format)
			}
		case perr != nil:
			t.Errorf("%s: ffprobe cannot read it: %v", n, perr)
		case d.Kind != kind || kind == KindOther || d.Media == nil || d.Media.Container != m.Container:
			t.Errorf("%s: kind %q media %+v, want %q container %q", n, d.Kind, d.Media, kind, m.Container)
		}
	}
	for n := range nonMedia() {
		if runs[n] != 0 {
			t.Errorf("%s: ffprobe ran %d times on a document", n, runs[n])
		}
		// What the stage recorded before the gate: ffprobe rejects it as
		// invalid data, so it is other, with no media and no proxy.
		if _, _, perr := Probe(ctx, realProbe, filepath.Join(dir, n)); !errors.Is(perr, ErrProbe) {
			t.Errorf("%s: real ffprobe says %v, want ErrProbe (the gate would change its record)", n, perr)
		}
		if d := docs[n]; d.Kind != KindOther || d.Media != nil || d.Proxy != nil {
			t.Errorf("%s: kind %q media %+v proxy %+v, want other without media or proxy", n, d.Kind, d.Media, d.Proxy)
		}
	}
	if total, want := len(strings.Split(strings.TrimSpace(string(raw)), "\n")), len(mediaNames); total != want {
		t.Errorf("ffprobe ran %d times for %d media files and %d documents, want %d", total, len(mediaNames), len(nonMedia()), want)
	}
}
