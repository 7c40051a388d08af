package transcode

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/storage"
)

// checkInputs fails unless every input of an FFmpeg/ffprobe argument list
// (each -i) is a literal file (file:…) opened with the file protocol only
// and an accepted demuxer: forced with -f, or restricted with
// -format_whitelist when the format is being probed; image2 with
// -pattern_type none.
func checkInputs(t *testing.T, name string, args []string, wantInputs int) {
	t.Helper()
	start, inputs := 0, 0
	for k := 0; k < len(args); k++ {
		if args[k] != "-i" {
			continue
		}
		inputs++
		if k+1 >= len(args) || !strings.HasPrefix(args[k+1], "file:/") {
			t.Errorf("%s: input %d is not a literal absolute file: %q", name, inputs, args)
		}
		opts := args[start:k]
		opt := func(key string) (string, bool) {
			for i := len(opts) - 2; i >= 0; i-- {
				if opts[i] == key {
					return opts[i+1], true
				}
			}
			return "", false
		}
		if v, ok := opt("-protocol_whitelist"); !ok || v != "file" {
			t.Errorf("%s: input %d without -protocol_whitelist file: %q", name, inputs, args)
		}
		wl, hasWL := opt("-format_whitelist")
		if hasWL && wl != formatWhitelist {
			t.Errorf("%s: input %d format whitelist %q", name, inputs, wl)
		}
		f, forced := opt("-f")
		switch {
		case forced && !slices.Contains(AcceptedFormats, f):
			t.Errorf("%s: input %d forced to %q, not an accepted format", name, inputs, f)
		case !forced && !hasWL:
			t.Errorf("%s: input %d neither forced (-f) nor restricted (-format_whitelist): %q", name, inputs, args)
		}
		if pt, ok := opt("-pattern_type"); (f == "image2" || !forced) && (!ok || pt != "none") {
			t.Errorf("%s: input %d may expand an image2 pattern (no -pattern_type none): %q", name, inputs, args)
		}
		start = k + 2
	}
	if inputs != wantInputs {
		t.Errorf("%s: %d inputs, want %d: %q", name, inputs, wantInputs, args)
	}
}

// Every FFmpeg/ffprobe invocation ingestd builds opens its inputs through
// the whitelists.
func TestArgBuildersRestrictInputs(t *testing.T) {
	cfg := Config{}
	cfg.SetDefaults()
	video := func(container string) *storage.Media {
		return &storage.Media{Container: container, Duration: 2, Streams: []storage.Stream{
			{Index: 0, Type: "video", Codec: "h264", Width: 1920, Height: 1080, FrameRate: "25/1", PixFmt: "yuv420p", BitDepth: 8},
			{Index: 1, Type: "audio", Codec: "aac", Channels: 2, Layout: "stereo", SampleRate: 48000},
		}}
	}
	audio := &storage.Media{Container: "wav", Duration: 2, Streams: []storage.Stream{{Index: 0, Type: "audio", Codec: "pcm_s24le", Channels: 6, Layout: "5.1", SampleRate: 48000}}}
	still := func(container string) *storage.Media {
		return &storage.Media{Container: container, Streams: []storage.Stream{{Index: 0, Type: "video", Codec: "png", Width: 4000, Height: 3000}}}
	}
	gpu := Capabilities{CUDA: true, ScaleCUDA: true, NVENC: true, NVDEC: map[string]bool{"h264": true}}
	src, out := "/vol/-odd:name %03d.mov", "/state/media/ab/x/proxy.mp4"
	must := func(p plan, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return p.Args
	}
	jobOuts := derived{Poster: "/state/poster.jpg.tmp", PosterAt: 0.2, Filmstrip: "/state/filmstrip.jpg.tmp",
		Duration: 2, Tiles: 10, TileHeight: 90, PCM: true}
	cases := []struct {
		name   string
		args   []string
		inputs int
	}{
		{"video cpu mov", must(videoPlan(cfg, Capabilities{}, video("mov"), src, out, LaneCPU)), 1},
		{"video cpu mp4", must(videoPlan(cfg, Capabilities{}, video("mp4"), src, out, LaneCPU)), 1},
		{"video cpu mxf", must(videoPlan(cfg, Capabilities{}, video("mxf"), src, out, LaneCPU)), 1},
		{"video cpu mpegts", must(videoPlan(cfg, Capabilities{}, video("mpegts"), src, out, LaneCPU)), 1},
		{"video gpu", must(videoPlan(cfg, gpu, video("matroska"), src, out, LaneGPU)), 1},
		{"audio", must(audioPlan(cfg, audio, src, out)), 1},
		{"image png_pipe", must(imagePlan(cfg, still("png"), src, out)), 1},
		{"image image2", must(imagePlan(cfg, still("image2"), "/vol/frame%03d.png", out)), 1},
		{"image jpeg", must(imagePlan(cfg, still("jpeg"), src, out)), 1},
		// The job's one run: proxy, poster, filmstrip and waveform PCM.
		{"video job cpu", must(videoJobPlan(cfg, Capabilities{}, video("mov"), src, out, LaneCPU, jobOuts)), 1},
		{"video job cpu mpegts", must(videoJobPlan(cfg, Capabilities{}, video("mpegts"), src, out, LaneCPU, jobOuts)), 1},
		{"video job gpu", must(videoJobPlan(cfg, gpu, video("matroska"), src, out, LaneGPU, jobOuts)), 1},
		{"audio job", must(audioJobPlan(cfg, audio, src, out, true)), 1},
		{"waveform pcm", pcmArgs("/state/proxy.m4a"), 1},
		{"probe master", probeInput(src), 1},
		{"own mp4", ownInput(fmtMP4, "/state/proxy.mp4"), 1},
		{"own jpeg", ownInput(fmtJPEG, "/state/poster.jpg"), 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkInputs(t, c.name, c.args, c.inputs)
			if i := slices.Index(c.args, "-i"); i >= 0 && strings.Contains(c.name, "image2") {
				if !slices.Contains(c.args[:i], "-pattern_type") {
					t.Errorf("image2 input without -pattern_type none: %q", c.args)
				}
			}
		})
	}
	// The forced demuxer is the probed one.
	if a := must(videoPlan(cfg, Capabilities{}, video("mxf"), src, out, LaneCPU)); a[slices.Index(a, "-f")+1] != "mxf" {
		t.Errorf("mxf master forced to %q", a[slices.Index(a, "-f")+1])
	}
}

// A master whose container is not accepted never gets an FFmpeg command.
func TestArgBuildersRefuseFormats(t *testing.T) {
	cfg := Config{}
	cfg.SetDefaults()
	for _, f := range []string{"hls", "concat", "dash", "imf", "webm_dash_manifest", "vobsub", "lavfi", "tty", "", "sdp", "image2pipe"} {
		t.Run("format "+f, func(t *testing.T) {
			v := &storage.Media{Container: f, Streams: []storage.Stream{{Index: 0, Type: "video", Codec: "h264", Width: 64, Height: 64, FrameRate: "25/1"}}}
			a := &storage.Media{Container: f, Streams: []storage.Stream{{Index: 0, Type: "audio", Codec: "aac", Channels: 2}}}
			var re *RefusedError
			if _, err := videoPlan(cfg, Capabilities{}, v, "/vol/x.mp4", "/o", LaneCPU); !errors.As(err, &re) || !errors.Is(err, ErrRefused) {
				t.Errorf("videoPlan: %v, want a RefusedError", err)
			}
			if _, err := audioPlan(cfg, a, "/vol/x.mp4", "/o"); !errors.As(err, &re) {
				t.Errorf("audioPlan: %v, want a RefusedError", err)
			}
			if _, err := imagePlan(cfg, v, "/vol/x.png", "/o"); !errors.As(err, &re) {
				t.Errorf("imagePlan: %v, want a RefusedError", err)
			}
			if _, err := countFrames(t.Context(), "/nonexistent/ffprobe", f, "/vol/x.mp4"); !errors.As(err, &re) {
				t.Errorf("countFrames: %v, want a RefusedError before running ffprobe", err)
			}
		})
	}
}

func TestDemuxer(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"mov,mp4,m4a,3gp,3g2,mj2", "mov"}, {"mp4", "mov"}, {"m4a", "mov"}, {"mov", "mov"},
		{"matroska,webm", "matroska"}, {"webm", "matroska"}, {"mxf", "mxf"}, {"mpegts", "mpegts"},
		{"png_pipe", "png_pipe"}, {"png", "png_pipe"}, {"jpeg", "jpeg_pipe"}, {"tiff", "tiff_pipe"},
		{"image2", "image2"}, {"wav", "wav"}, {"gif", "gif"},
		{"hls", ""}, {"concat", ""}, {"dash", ""}, {"imf", ""}, {"tty", ""}, {"", ""}, {"lavfi", ""},
		{"image2pipe", ""}, {"hls,applehttp", ""},
	} {
		if got := demuxer(c.in); got != c.want {
			t.Errorf("demuxer(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for f := range referenceFormats {
		if slices.Contains(AcceptedFormats, f) {
			t.Errorf("%s is both accepted and a reference format", f)
		}
	}
}

func TestRefusedFrom(t *testing.T) {
	for _, c := range []struct{ stderr, want string }{
		{"[hls @ 0x561d8f8af6c0] Format not on whitelist 'mov,mp4'\nfile:/v/evil.m3u8: Invalid argument\n", "hls"},
		{"[concat @ 0x5576d1ecd6c0] Format not on whitelist 'mov'\n", "concat"},
		{"[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55] moov atom not found\n/v/x.mov: Invalid data found when processing input\n", ""},
		{"", ""},
	} {
		re := refusedFrom(c.stderr)
		got := ""
		if re != nil {
			got = re.Format
		}
		if got != c.want {
			t.Errorf("refusedFrom(%q) = %q, want %q", c.stderr, got, c.want)
		}
	}
}

func TestScrubPaths(t *testing.T) {
	prefixes := map[string]string{"/srv/nas/footage": "footage", "/srv/nas": "nas", "/var/lib/ingestd": "state_dir"}
	for _, c := range []struct{ in, want string }{
		{"ffprobe /srv/nas/footage/day 1/broken.mov: ffprobe cannot read file: exit status 1: file:/srv/nas/footage/day 1/broken.mov: Invalid data found",
			"ffprobe footage/day 1/broken.mov: ffprobe cannot read file: exit status 1: footage/day 1/broken.mov: Invalid data found"},
		{"validate /var/lib/ingestd/media/ab/abcd/proxy.mp4.tmp: 49 frames, source has 50",
			"validate state_dir/media/ab/abcd/proxy.mp4.tmp: 49 frames, source has 50"},
		{"open /srv/nas/other/x.mov: denied", "open nas/other/x.mov: denied"},
		{"[concat @ 0x55] Impossible to open 'file:/tmp/ingestd-detect-123/h264.mp4'", "[concat @ 0x55] Impossible to open 'file:…/h264.mp4'"},
		{"error at /etc/passwd", "error at …/passwd"},
		{"frame rate 24000/1001 (25/1) ratio 1/2", "frame rate 24000/1001 (25/1) ratio 1/2"},
		{"/root/secret/x: boom", "…/x: boom"},
	} {
		got := ScrubPaths(c.in, prefixes)
		if got != c.want {
			t.Errorf("ScrubPaths(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
		if strings.Contains(got, "/srv") || strings.Contains(got, "/var/lib") || strings.Contains(got, "/tmp/") || strings.Contains(got, "/etc/") {
			t.Errorf("absolute path left in %q", got)
		}
	}
}

// Real ffprobe: playlists and lists are detected but never followed,
// image2 pattern names are literal files, odd names are literal files.
func TestProbeRefusesReferences(t *testing.T) {
	tools := needFFmpeg(t)
	outside := t.TempDir()
	outsideClip := filepath.Join(outside, "outside.mp4")
	ff := func(args ...string) {
		t.Helper()
		if b, err := exec.Command(tools.FFmpeg, append([]string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg %q: %v\n%s", args, err, b)
		}
	}
	ff("-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=3", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", outsideClip)
	vol := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(vol, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hls := func(ref string) string {
		return "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:3.0,\n" + ref + "\n#EXT-X-ENDLIST\n"
	}
	rel, _ := filepath.Rel(vol, outsideClip)
	for _, c := range []struct{ name, content, format string }{
		{"evil.m3u8", hls(outsideClip), "hls"},
		{"evil.mp4", hls(outsideClip), "hls"},
		{"url.mov", hls("file://" + outsideClip), "hls"},
		{"rel.m3u8", hls(rel), "hls"},
		{"list.mp4", "ffconcat version 1.0\nfile '" + outsideClip + "'\n", "concat"},
		{"list.txt", "ffconcat version 1.0\nfile '" + rel + "'\n", "concat"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := write(c.name, c.content)
			m, kind, err := Probe(t.Context(), tools.FFprobe, p)
			var re *RefusedError
			if !errors.As(err, &re) || re.Format != c.format || !re.Reference() {
				t.Fatalf("Probe = %+v, %q, %v; want a RefusedError for %s", m, kind, err, c.format)
			}
			if strings.Contains(re.Reason(), outside) || !strings.Contains(re.Reason(), c.format) {
				t.Errorf("reason %q", re.Reason())
			}
		})
	}
	// An image2 pattern name is one literal file, never a sequence.
	for i := 1; i <= 3; i++ {
		ff("-f", "lavfi", "-i", "testsrc2=s=64x48", "-frames:v", "1", "-update", "1", filepath.Join(vol, "frame00"+string(rune('0'+i))+".png"))
	}
	pattern := filepath.Join(vol, "frame%03d.png")
	ff("-f", "lavfi", "-i", "testsrc2=s=32x24", "-frames:v", "1", "-update", "1", "-f", "image2", "-c:v", "png", "file:"+pattern)
	m, kind, err := Probe(t.Context(), tools.FFprobe, pattern)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := videoStream(m); kind != KindImage || !ok || v.Width != 32 || v.Height != 24 {
		t.Fatalf("frame%%03d.png probed as %s %+v, want the literal 32x24 image", kind, m)
	}
	// Its proxy is cut from itself.
	cfg := Config{}
	cfg.SetDefaults()
	pl, err := imagePlan(cfg, m, pattern, filepath.Join(t.TempDir(), "proxy.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if err := (&Runner{FFmpeg: tools.FFmpeg}).Run(t.Context(), pl.Args, nil, nil); err != nil {
		t.Fatalf("image proxy of a pattern-named file: %v", err)
	}
	if err := validateImage(t.Context(), tools.FFprobe, pl.Args[len(pl.Args)-1], 32, 24); err != nil {
		t.Fatal(err)
	}
	// Names with a leading '-' or a ':' are literal files too.
	odd := filepath.Join(vol, "-x:y.mp4")
	if err := os.Link(outsideClip, odd); err != nil {
		t.Fatal(err)
	}
	if m, kind, err := Probe(t.Context(), tools.FFprobe, odd); err != nil || kind != KindVideo || m.Container != "mp4" {
		t.Fatalf("Probe(%s) = %+v, %q, %v", odd, m, kind, err)
	}
	if n, err := countFrames(t.Context(), tools.FFprobe, "mp4", odd); err != nil || n != 75 {
		t.Fatalf("countFrames(%s) = %d, %v; want 75", odd, n, err)
	}
}
