package transcode

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
)

// toolLog wraps the real ffmpeg and ffprobe in shell scripts that append
// each invocation's arguments (tab-separated, one line each) to a log and
// exec the real binary: what ingestd runs, counted.
type toolLog struct {
	Tools Tools  // FFmpeg and FFprobe are the wrappers
	path  string // the log
}

func newToolLog(t testing.TB, real Tools) *toolLog {
	t.Helper()
	dir := t.TempDir()
	l := &toolLog{Tools: real, path: filepath.Join(dir, "calls.log")}
	wrap := func(name, bin string) string {
		p := filepath.Join(dir, name)
		// The line is built first and appended with one printf (one
		// write(2) on an O_APPEND file): probes and FFmpeg runs that
		// overlap must not interleave their lines.
		script := fmt.Sprintf("#!/bin/sh\nline=%s\nfor a in \"$@\"; do line=\"$line$(printf '\\t%%s' \"$a\")\"; done\nprintf '%%s\\n' \"$line\" >>'%s'\nexec '%s' \"$@\"\n",
			name, l.path, bin)
		if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	l.Tools.FFmpeg = wrap("ffmpeg", real.FFmpeg)
	l.Tools.FFprobe = wrap("ffprobe", real.FFprobe)
	return l
}

// calls returns the logged invocations of tool (ffmpeg | ffprobe) that
// name path as an input (-i file:<path>).
func (l *toolLog) calls(t testing.TB, tool, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(l.path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out [][]string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 2 || f[0] != tool {
			continue
		}
		args := f[1:]
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-i" && args[i+1] == literal(path) {
				out = append(out, args)
				break
			}
		}
	}
	return out
}

// outputsOf returns the outputs of an FFmpeg argument list: pipe:1 and
// the absolute paths (ingestd's own files) that are not an input.
func outputsOf(args []string) []string {
	var out []string
	for i, a := range args {
		if a == "pipe:1" || strings.HasPrefix(a, "/") && i > 0 && args[i-1] != "-i" {
			out = append(out, filepath.Base(a))
		}
	}
	return out
}

// Each proxy job reads and decodes its master with ONE FFmpeg run that
// writes every output (proxy, poster, filmstrip, waveform PCM on stdout),
// and every output is still there and valid. Real FFmpeg behind a logging
// wrapper; fails if any output is made by a second decode of the master.
func TestJobDecodesMasterOnce(t *testing.T) {
	real := needFFmpeg(t)
	dir, _ := zoo(t)
	tl := newToolLog(t, real)
	tools := tl.Tools
	tools.Volumes = map[string]string{"nas": dir}
	cat := catalogtest.Open(t, t.TempDir())
	stateDir := t.TempDir()
	// Timecode + 4 discrete channels (source tracks), MPEG-TS (no stored
	// frame count, interlaced), HLG (tone map), rotation, VFR, audio only.
	names := []string{"prores_tc_4ch.mov", "avchd.mts", "hevc10_hlg.mp4", "h264_rot90_df.mp4", "h264_vfr.mp4", "bext_tc.wav"}
	ids := map[string]string{}
	for _, n := range names {
		ids[n] = catalogFile(t, cat, "nas", dir, n)
	}
	startService(t, Config{CPUJobs: 1}, tools, stateDir, cat)
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			c := clipByName(t, n)
			doc := waitAsset(t, cat, ids[n], 3*time.Minute, finalStatus)
			if doc.Proxy == nil || doc.Proxy.Status != StatusReady {
				t.Fatalf("proxy %+v, want ready", doc.Proxy)
			}
			master := filepath.Join(dir, n)
			decodes := tl.calls(t, "ffmpeg", master)
			if len(decodes) != 1 {
				t.Fatalf("master read by %d FFmpeg runs, want 1: %q", len(decodes), decodes)
			}
			outs := outputsOf(decodes[0])
			want := []string{OutProxyVideo + ".tmp", OutPoster + ".tmp", OutFilmstrip + ".tmp"}
			wantDocOuts := []string{OutProxyVideo, OutPoster, OutFilmstrip}
			if c.Kind == KindAudio {
				want, wantDocOuts = []string{OutProxyAudio + ".tmp"}, []string{OutProxyAudio}
			}
			if c.Audio > 0 {
				want = append(want, "pipe:1")
				wantDocOuts = append(wantDocOuts, OutWaveform)
			}
			if !slices.Equal(outs, want) {
				t.Errorf("the one FFmpeg run writes %q, want %q", outs, want)
			}
			if !slices.Equal(doc.Proxy.Outputs, wantDocOuts) {
				t.Errorf("outputs %q, want %q", doc.Proxy.Outputs, wantDocOuts)
			}
			// ffprobe reads the master to probe it, and to count its
			// packets where the container stores no frame count: never
			// more than twice.
			if probes := tl.calls(t, "ffprobe", master); len(probes) < 1 || len(probes) > 2 {
				t.Errorf("master probed %d times, want 1 or 2: %q", len(probes), probes)
			}
			out := func(name string) string { return storage.OutputPath(stateDir, doc.ID, name) }
			if c.Kind == KindAudio {
				checkAudioProxy(t, doc, out(OutProxyAudio))
			} else {
				checkVideoProxy(t, c, doc, out(OutProxyVideo))
				checkJPEG(t, out(OutPoster), c.ProxyW, c.ProxyH)
				checkJPEG(t, out(OutFilmstrip), 0, 90)
				checkLastTile(t, out(OutFilmstrip), 10)
			}
			if c.Audio > 0 {
				checkWaveform(t, out(OutWaveform))
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out("x")), "*.tmp")); len(left) > 0 {
				t.Errorf("temp files left: %v", left)
			}
		})
	}
}

// The job plan's one run: the scaled frames split into the proxy, a poster
// branch and a filmstrip branch (downloaded from the GPU first when the
// frames stay there for NVENC), the mix split into the AAC encoder and the
// waveform PCM on stdout; the proxy part is the bare proxy command.
func TestVideoJobPlan(t *testing.T) {
	cfg := Config{}
	cfg.SetDefaults()
	media := func(audio bool) *storage.Media {
		m := &storage.Media{Container: "mov", Duration: 4, Streams: []storage.Stream{
			{Index: 0, Type: "video", Codec: "h264", Width: 1920, Height: 1080, FrameRate: "25/1", PixFmt: "yuv420p", BitDepth: 8, Duration: 4}}}
		if audio {
			m.Streams = append(m.Streams, storage.Stream{Index: 1, Type: "audio", Codec: "pcm_s16le", Channels: 2, Layout: "stereo", SampleRate: 48000})
		}
		return m
	}
	nvenc := Capabilities{CUDA: true, ScaleCUDA: true, NVENC: true, NVDEC: map[string]bool{"h264": true}}
	noNVENC := Capabilities{CUDA: true, ScaleCUDA: true, NVDEC: map[string]bool{"h264": true}}
	d := derived{Poster: "/s/poster.jpg.tmp", PosterAt: 0.4, Filmstrip: "/s/filmstrip.jpg.tmp", Duration: 4, Tiles: 10, TileHeight: 90, PCM: true}
	cases := []struct {
		name     string
		caps     Capabilities
		lane     string
		audio    bool
		download bool // branches start with hwdownload
	}{
		{"cpu with audio", Capabilities{}, LaneCPU, true, false},
		{"cpu silent", Capabilities{}, LaneCPU, false, false},
		{"gpu nvenc", nvenc, LaneGPU, true, true},
		{"gpu libx264", noNVENC, LaneGPU, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dd := d
			dd.PCM = c.audio
			pl, err := videoJobPlan(cfg, c.caps, media(c.audio), "/v/a.mov", "/s/proxy.mp4.tmp", c.lane, dd)
			if err != nil {
				t.Fatal(err)
			}
			bare, err := videoPlan(cfg, c.caps, media(c.audio), "/v/a.mov", "/s/proxy.mp4.tmp", c.lane)
			if err != nil {
				t.Fatal(err)
			}
			graph := pl.Args[slices.Index(pl.Args, "-filter_complex")+1]
			if n := strings.Count(strings.Join(pl.Args, " "), " -i "); n != 1 {
				t.Errorf("%d inputs, want 1", n)
			}
			if !strings.Contains(graph, ",split=3[vout][poster0][film0];") {
				t.Errorf("no 3-way split of the scaled frames: %s", graph)
			}
			if !strings.Contains(graph, "select='gte(t\\,0.400)*eq(selected_n\\,0)'") {
				t.Errorf("poster not the first frame at 0.400 s: %s", graph)
			}
			if !strings.Contains(graph, "select='gte(t\\,(selected_n+0.5)*0.400000)*lt(selected_n\\,10)',scale=-2:90,setsar=1,tile=10x1") {
				t.Errorf("filmstrip not 10 tiles 0.4 s apart, 90 px high: %s", graph)
			}
			if got := strings.Count(graph, "hwdownload,format=nv12,setpts"); c.download && got != 2 || !c.download && got != 0 {
				t.Errorf("%d branches download from the GPU, want download=%v: %s", got, c.download, graph)
			}
			if c.audio != strings.Contains(graph, "asplit=2[aout][wave]") {
				t.Errorf("audio %v, mix split for the waveform: %s", c.audio, graph)
			}
			outs := outputsOf(pl.Args)
			want := []string{"proxy.mp4.tmp", "poster.jpg.tmp", "filmstrip.jpg.tmp"}
			if c.audio {
				want = append(want, "pipe:1")
			}
			if !slices.Equal(outs, want) {
				t.Errorf("outputs %q, want %q", outs, want)
			}
			// Up to the proxy file, the same command as the bare proxy
			// apart from the filter graph.
			n := slices.Index(pl.Args, "/s/proxy.mp4.tmp")
			a, b := slices.Clone(pl.Args[:n+1]), slices.Clone(bare.Args)
			a[slices.Index(a, "-filter_complex")+1], b[slices.Index(b, "-filter_complex")+1] = "", ""
			if !slices.Equal(a, b) {
				t.Errorf("proxy part differs from the bare proxy:\n%q\n%q", a, b)
			}
		})
	}
}

// validateJPEG decodes a poster or filmstrip whole: a truncated, wrong-size,
// missing or non-JPEG file is refused.
func TestValidateJPEG(t *testing.T) {
	tools := needFFmpeg(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jpg")
	png := filepath.Join(dir, "pic.jpg")
	for _, c := range [][]string{
		{"-f", "lavfi", "-i", "testsrc2=s=320x180:d=1", "-frames:v", "1", "-vf", "format=yuvj420p", "-c:v", "mjpeg", "-q:v", "3", "-f", "image2", "-update", "1", good},
		{"-f", "lavfi", "-i", "testsrc2=s=320x180:d=1", "-frames:v", "1", "-c:v", "png", "-f", "image2", "-update", "1", png},
	} {
		if out, err := execOutput(tools.FFmpeg, append([]string{"-v", "error", "-y"}, c...)...); err != nil {
			t.Fatalf("make test picture: %v: %s", err, out)
		}
	}
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.jpg")
	if err := os.WriteFile(truncated, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		path string
		w, h int
		ok   bool
	}{
		{"good", good, 320, 180, true},
		{"good, height only", good, 0, 180, true},
		{"wrong width", good, 640, 180, false},
		{"wrong height", good, 0, 90, false},
		{"truncated", truncated, 320, 180, false},
		{"png", png, 320, 180, false},
		{"missing", filepath.Join(dir, "none.jpg"), 0, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := validateJPEG(c.path, c.w, c.h); (err == nil) != c.ok {
				t.Errorf("validateJPEG(%s, %d, %d) = %v, want ok=%v", filepath.Base(c.path), c.w, c.h, err, c.ok)
			}
		})
	}
}
