package transcode

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ingestd/ingestd/storage"
)

func TestProxyDims(t *testing.T) {
	for _, c := range []struct {
		name       string
		v          storage.Stream
		maxH, w, h int
	}{
		{"hd square", storage.Stream{Width: 1920, Height: 1080, SAR: "1:1"}, 720, 1280, 720},
		{"never upscale", storage.Stream{Width: 320, Height: 180}, 720, 320, 180},
		{"pal 16:15", storage.Stream{Width: 720, Height: 576, SAR: "16:15"}, 720, 768, 576},
		{"hdv 4:3", storage.Stream{Width: 1440, Height: 1080, SAR: "4:3"}, 720, 1280, 720},
		{"rotated portrait", storage.Stream{Width: 1920, Height: 1080, Rotation: 90}, 720, 406, 720},
		{"odd result made even", storage.Stream{Width: 333, Height: 201}, 720, 334, 202},
		{"dci 4k", storage.Stream{Width: 4096, Height: 2160}, 720, 1366, 720},
	} {
		w, h := proxyDims(c.v, c.maxH)
		if w != c.w || h != c.h {
			t.Errorf("%s: %dx%d, want %dx%d", c.name, w, h, c.w, c.h)
		}
	}
}

func TestGOPFrames(t *testing.T) {
	for _, c := range []struct {
		rate string
		sec  float64
		want int
	}{
		{"24000/1001", 1, 23}, {"25/1", 1, 25}, {"30000/1001", 1, 29}, {"50/1", 0.5, 25}, {"60000/1001", 1, 59},
	} {
		if got := gopFrames(c.rate, c.sec); got != c.want {
			t.Errorf("%s %gs: %d, want %d", c.rate, c.sec, got, c.want)
		}
	}
}

func TestAudioMix(t *testing.T) {
	m := &storage.Media{Streams: []storage.Stream{
		{Index: 0, Type: "video"},
		{Index: 1, Type: "audio", Channels: 1},
		{Index: 2, Type: "audio", Channels: 6, Layout: "5.1(side)"},
		{Index: 3, Type: "audio", Channels: 4, Layout: "unknown"},
	}}
	got := audioMix(m)
	for _, want := range []string{"[0:1]pan=stereo|c0=c0|c1=c0[a0]", "[0:2]aformat=channel_layouts=stereo[a1]",
		"[0:3]pan=stereo|c0<c0+c2|c1<c1+c3[a2]", "amix=inputs=3"} {
		if !strings.Contains(got, want) {
			t.Errorf("mix %q lacks %q", got, want)
		}
	}
	if audioMix(&storage.Media{Streams: []storage.Stream{{Type: "video"}}}) != "" {
		t.Error("mix for a silent source")
	}
}

func TestVideoPlanRules(t *testing.T) {
	cfg := Config{}
	cfg.SetDefaults()
	m := &storage.Media{Container: "mov", Duration: 2, Timecode: "01:00:00;00", Streams: []storage.Stream{
		{Index: 0, Type: "video", Codec: "h264", Width: 1920, Height: 1080, FrameRate: "30000/1001", FieldOrder: "tt", HDR: "pq", BitDepth: 10},
		{Index: 1, Type: "audio", Channels: 2, Layout: "stereo"},
	}}
	pl, err := videoPlan(cfg, Capabilities{}, m, "in.mov", "out.mp4", LaneCPU)
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Join(pl.Args, " ")
	for _, want := range []string{"-fps_mode passthrough", "-g 29 -keyint_min 29", "-sc_threshold 0", "-flags +cgop", "-bf 0",
		"-profile:v high", "-pix_fmt yuv420p", "-movflags +faststart", "-timecode 01:00:00;00", "-ar 48000 -ac 2",
		"bwdif=mode=send_frame", "tonemap=hable", "zscale=tin=smpte2084", "-color_trc bt709", "scale=1280:720"} {
		if !strings.Contains(args, want) {
			t.Errorf("args lack %q:\n%s", want, args)
		}
	}
	if strings.Contains(args, " -r ") || strings.Contains(args, "-vsync") {
		t.Errorf("args use -r or -vsync: %s", args)
	}
	caps := Capabilities{CUDA: true, ScaleCUDA: true, NVDEC: map[string]bool{"h264": true, "hevc10": true}}
	m.Streams[0].BitDepth = 8
	m.Streams[0].HDR = ""
	if !gpuOK(caps, m.Streams[0]) {
		t.Error("8-bit h264 not taken by NVDEC")
	}
	gp, _ := videoPlan(cfg, caps, m, "in.mov", "out.mp4", LaneGPU)
	ga := strings.Join(gp.Args, " ")
	for _, want := range []string{"-hwaccel cuda -hwaccel_output_format cuda", "yadif_cuda=mode=send_frame", "scale_cuda=1280:720", "hwdownload", "-c:v libx264"} {
		if !strings.Contains(ga, want) {
			t.Errorf("gpu args lack %q:\n%s", want, ga)
		}
	}
	caps.NVENC = true
	gp, _ = videoPlan(cfg, caps, m, "in.mov", "out.mp4", LaneGPU)
	if ga := strings.Join(gp.Args, " "); !strings.Contains(ga, "-c:v h264_nvenc") || strings.Contains(ga, "hwdownload") || !strings.Contains(ga, "-bf 0") {
		t.Errorf("nvenc args: %s", ga)
	}
	for _, c := range []struct {
		name string
		v    storage.Stream
	}{
		{"prores", storage.Stream{Codec: "prores", Width: 1920, Height: 1080}},
		{"dnxhd", storage.Stream{Codec: "dnxhd", Width: 1920, Height: 1080}},
		{"h264 too wide", storage.Stream{Codec: "h264", Width: 5120, Height: 2700}},
		{"rotated", storage.Stream{Codec: "h264", Width: 1920, Height: 1080, Rotation: 90}},
		{"10-bit hevc without a trial", storage.Stream{Codec: "h264", BitDepth: 10, Width: 1920, Height: 1080}},
	} {
		if gpuOK(caps, c.v) {
			t.Errorf("%s: sent to the gpu", c.name)
		}
	}
}

func TestMoovFirst(t *testing.T) {
	dir := t.TempDir()
	box := func(typ string, n int) []byte {
		b := make([]byte, n)
		b[0], b[1], b[2], b[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
		copy(b[4:], typ)
		return b
	}
	for _, c := range []struct {
		name  string
		boxes [][]byte
		want  bool
	}{
		{"faststart", [][]byte{box("ftyp", 16), box("moov", 40), box("mdat", 100)}, true},
		{"moov at end", [][]byte{box("ftyp", 16), box("free", 8), box("mdat", 100), box("moov", 40)}, false},
	} {
		p := filepath.Join(dir, c.name)
		var b []byte
		for _, x := range c.boxes {
			b = append(b, x...)
		}
		os.WriteFile(p, b, 0o644)
		if got, err := moovFirst(p); err != nil || got != c.want {
			t.Errorf("%s: %v %v, want %v", c.name, got, err, c.want)
		}
	}
}

func TestPeakWriter(t *testing.T) {
	pw := newPeakWriter(48000, 2, 2)
	// frames: (1,-1) (5,-7) | (-3,2) — written in odd pieces.
	pcm := []byte{1, 0, 0xff, 0xff, 5, 0, 0xf9, 0xff, 0xfd, 0xff, 2, 0}
	pw.Write(pcm[:3])
	pw.Write(pcm[3:7])
	pw.Write(pcm[7:])
	w := pw.Result()
	want := []int16{1, 5, -7, -1, -3, -3, 2, 2}
	if w.Length != 2 || len(w.Peaks) != len(want) {
		t.Fatalf("waveform %+v", w)
	}
	for i := range want {
		if w.Peaks[i] != want[i] {
			t.Fatalf("peaks %v, want %v", w.Peaks, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	var ok Config
	ok.SetDefaults()
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if *ok.Enabled != true || !*ok.SourceAudio || ok.MaxHeight != 720 || ok.GOPSeconds != 1 || ok.ImageMaxEdge != 2048 || ok.StallTimeout != 2*time.Minute {
		t.Fatalf("defaults %+v", ok)
	}
	for _, c := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.GPU = "cuda" }, "proxy.gpu: must be auto, off or require"},
		{func(c *Config) { c.GOPSeconds = 2 }, "proxy.gop_seconds:"},
		{func(c *Config) { c.MaxHeight = 5 }, "proxy.max_height:"},
		{func(c *Config) { c.VideoBitrate = "fast" }, "proxy.video_bitrate:"},
		{func(c *Config) { c.PosterAt = 1.5 }, "proxy.poster_at:"},
		{func(c *Config) { c.CPUJobs = -1 }, "proxy.cpu_jobs:"},
		{func(c *Config) { c.StallTimeout = time.Millisecond }, "proxy.stall_timeout:"},
		{func(c *Config) { c.FilmstripTiles = 500 }, "proxy.filmstrip_tiles:"},
	} {
		cfg := ok
		c.mod(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err %v, want %q", err, c.want)
		}
	}
}

func TestConfigYAML(t *testing.T) {
	src := "enabled: false\ngpu: require\nmax_height: 540\nvideo_bitrate: 2500k\ngop_seconds: 0.5\nfilmstrip_tiles: 8\nposter_at: 0.25\nimage_max_edge: 1024\ncpu_jobs: 2\ngpu_jobs: 4\nnvenc_sessions: 5\nstall_timeout: 90s\nsource_audio: false\n"
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if *c.Enabled || c.GPU != GPURequire || c.MaxHeight != 540 || c.GOPSeconds != 0.5 || c.StallTimeout != 90*time.Second || c.NVENCSessions != 5 || c.Preset != "veryfast" || *c.SourceAudio || c.sourceAudio() {
		t.Fatalf("decoded %+v", c)
	}
}

func TestGPUNotFor422(t *testing.T) {
	caps := Capabilities{CUDA: true, ScaleCUDA: true, NVDEC: map[string]bool{"h264": true}}
	if gpuOK(caps, storage.Stream{Codec: "h264", PixFmt: "yuv422p", Width: 1920, Height: 1080}) {
		t.Error("4:2:2 H.264 sent to NVDEC")
	}
	if !gpuOK(caps, storage.Stream{Codec: "h264", PixFmt: "yuv420p", Width: 1920, Height: 1080}) {
		t.Error("4:2:0 H.264 not sent to NVDEC")
	}
}

// TestSourceAudioPlan: which source audio tracks follow the mix, how each
// is cut from the graph, and the per-track encoder arguments, on both lanes.
func TestSourceAudioPlan(t *testing.T) {
	video := storage.Stream{Index: 0, Type: "video", Codec: "h264", PixFmt: "yuv420p", Width: 1920, Height: 1080, FrameRate: "25/1"}
	a := func(idx, ch int, layout string) storage.Stream {
		return storage.Stream{Index: idx, Type: "audio", Channels: ch, Layout: layout, Duration: 2}
	}
	type track struct {
		title    string
		channels int
		bitrate  string
		filter   string // the chain feeding the track, "" for the mix
	}
	mix := track{"", 2, "160k", ""}
	namedMix := track{"Mix", 2, "160k", ""}
	off := false
	for _, c := range []struct {
		name    string
		streams []storage.Stream
		off     bool
		want    []track
	}{
		{"none", nil, false, nil},
		{"mono", []storage.Stream{a(1, 1, "mono")}, false, []track{mix}},
		{"stereo", []storage.Stream{a(1, 2, "stereo")}, false, []track{mix}},
		{"stereo no layout", []storage.Stream{a(1, 2, "unknown")}, false, []track{mix}},
		{"5.1", []storage.Stream{a(1, 6, "5.1(side)")}, false, []track{namedMix,
			{"A1 (stream 1)", 6, "384k", "[0:1]aformat=channel_layouts=5.1,aresample=48000[s1]"}}},
		{"7.1", []storage.Stream{a(1, 8, "7.1")}, false, []track{namedMix,
			{"A1 (stream 1)", 8, "512k", "[0:1]aformat=channel_layouts=7.1,aresample=48000[s1]"}}},
		{"discrete 4ch", []storage.Stream{a(1, 4, "unknown")}, false, []track{namedMix,
			{"A1 (stream 1 ch 1)", 1, "96k", "[0:1]pan=mono|c0=c0,aresample=48000[s1]"},
			{"A2 (stream 1 ch 2)", 1, "96k", "[0:1]pan=mono|c0=c1,aresample=48000[s2]"},
			{"A3 (stream 1 ch 3)", 1, "96k", "[0:1]pan=mono|c0=c2,aresample=48000[s3]"},
			{"A4 (stream 1 ch 4)", 1, "96k", "[0:1]pan=mono|c0=c3,aresample=48000[s4]"}}},
		{"quad is not an AAC layout: split", []storage.Stream{a(1, 4, "quad")}, false, []track{namedMix,
			{"A1 (stream 1 ch 1)", 1, "96k", "[0:1]pan=mono|c0=c0,aresample=48000[s1]"},
			{"A2 (stream 1 ch 2)", 1, "96k", "[0:1]pan=mono|c0=c1,aresample=48000[s2]"},
			{"A3 (stream 1 ch 3)", 1, "96k", "[0:1]pan=mono|c0=c2,aresample=48000[s3]"},
			{"A4 (stream 1 ch 4)", 1, "96k", "[0:1]pan=mono|c0=c3,aresample=48000[s4]"}}},
		{"2 streams: mono and stereo", []storage.Stream{a(1, 1, "unknown"), a(3, 2, "stereo")}, false, []track{namedMix,
			{"A1 (stream 1)", 1, "96k", "[0:1]pan=mono|c0=c0,aresample=48000[s1]"},
			{"A2 (stream 2)", 2, "160k", "[0:3]pan=stereo|c0=c0|c1=c1,aresample=48000[s2]"}}},
		{"source_audio off: 4 mono streams", []storage.Stream{a(1, 1, ""), a(2, 1, ""), a(3, 1, ""), a(4, 1, "")}, true, []track{mix}},
		{"source_audio off: 5.1", []storage.Stream{a(1, 6, "5.1")}, true, []track{mix}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{}
			if c.off {
				cfg.SourceAudio = &off
			}
			cfg.SetDefaults()
			m := &storage.Media{Container: "mov", Duration: 2, Streams: append([]storage.Stream{video}, c.streams...)}
			caps := Capabilities{CUDA: true, ScaleCUDA: true, NVDEC: map[string]bool{"h264": true}}
			cpu, err := videoPlan(cfg, caps, m, "in.mov", "out.mp4", LaneCPU)
			if err != nil {
				t.Fatal(err)
			}
			gpu, err := videoPlan(cfg, caps, m, "in.mov", "out.mp4", LaneGPU)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(audioArgs(cpu.Args), audioArgs(gpu.Args)) || fmt.Sprint(cpu.Audio) != fmt.Sprint(gpu.Audio) {
				t.Errorf("lanes differ in audio:\ncpu %q\ngpu %q", audioArgs(cpu.Args), audioArgs(gpu.Args))
			}
			for _, pl := range []plan{cpu, gpu} {
				args := strings.Join(pl.Args, " ")
				if len(pl.Audio) != len(c.want) {
					t.Fatalf("%s: %d tracks %+v, want %d", pl.Lane, len(pl.Audio), pl.Audio, len(c.want))
				}
				maps := argValues(pl.Args, "-map")
				if len(maps) != 1+len(c.want) {
					t.Errorf("%s: maps %v, want video and %d audio", pl.Lane, maps, len(c.want))
				}
				for i, w := range c.want {
					g := pl.Audio[i]
					if g.Title != w.title || g.Channels != w.channels || g.Bitrate != w.bitrate {
						t.Errorf("%s: track %d %+v, want %+v", pl.Lane, i, g, w)
					}
					if i == 0 {
						if maps[1] != "[aout]" || g.Stream != -1 {
							t.Errorf("%s: first audio map %s stream %d, want the mix", pl.Lane, maps[1], g.Stream)
						}
						continue
					}
					graph := argValues(pl.Args, "-filter_complex")[0]
					if !strings.Contains(graph, ";"+w.filter) {
						t.Errorf("%s: graph lacks %q:\n%s", pl.Lane, w.filter, graph)
					}
					n := strconv.Itoa(i)
					for _, want := range []string{"-map [s" + n + "]", "-b:a:" + n + " " + w.bitrate, "-ac:a:" + n + " " + strconv.Itoa(w.channels),
						"-metadata:s:a:" + n + " handler_name=" + w.title} {
						if !strings.Contains(args, want) {
							t.Errorf("%s: args lack %q:\n%s", pl.Lane, want, args)
						}
					}
					if g.Duration != 2 {
						t.Errorf("%s: track %d source duration %g", pl.Lane, i, g.Duration)
					}
				}
				switch {
				case len(c.want) == 1:
					// Exactly the single-mix arguments of before.
					if !strings.Contains(args, "-c:a aac -b:a 160k -ar 48000 -ac 2") || strings.Contains(args, "handler_name") || strings.Contains(args, "[s1]") {
						t.Errorf("%s: single mix args changed:\n%s", pl.Lane, args)
					}
				case len(c.want) > 1:
					if !strings.Contains(args, "-c:a aac -ar 48000 -b:a:0 160k -ac:a:0 2 -metadata:s:a:0 handler_name=Mix") {
						t.Errorf("%s: mix args:\n%s", pl.Lane, args)
					}
				default:
					if strings.Contains(args, "-c:a") || strings.Contains(args, "[aout]") {
						t.Errorf("%s: audio args for a silent source:\n%s", pl.Lane, args)
					}
				}
			}
		})
	}
}

// audioArgs returns the audio part of a plan's arguments: the audio chains
// of the filter graph, the audio maps and every -c:a/-b:a/-ac/-ar/-metadata
// option with its value.
func audioArgs(args []string) []string {
	var out []string
	for i := 0; i+1 < len(args); i++ {
		switch a := args[i]; {
		case a == "-filter_complex":
			chains := strings.Split(args[i+1], ";")
			out = append(out, chains[1:]...) // chain 0 is the video
		case a == "-map" && args[i+1] != "[vout]",
			strings.HasPrefix(a, "-c:a"), strings.HasPrefix(a, "-b:a"), strings.HasPrefix(a, "-ac"),
			a == "-ar", strings.HasPrefix(a, "-metadata:s:a"):
			out = append(out, a, args[i+1])
		}
	}
	return out
}

// argValues returns the value after each occurrence of flag.
func argValues(args []string, flag string) []string {
	var out []string
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			out = append(out, args[i+1])
		}
	}
	return out
}

// TestAudioProxyPlanUnchanged: the M4A proxy of an audio asset stays one
// stereo mix, however many streams and channels the source has.
func TestAudioProxyPlanUnchanged(t *testing.T) {
	cfg := Config{}
	cfg.SetDefaults()
	m := &storage.Media{Container: "wav", Streams: []storage.Stream{
		{Index: 0, Type: "audio", Channels: 6, Layout: "5.1"},
		{Index: 1, Type: "audio", Channels: 4, Layout: "unknown"},
	}}
	pl, err := audioPlan(cfg, m, "in.wav", "out.m4a")
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Join(pl.Args, " ")
	if maps := argValues(pl.Args, "-map"); len(maps) != 1 || maps[0] != "[aout]" || len(pl.Audio) != 0 ||
		!strings.Contains(args, "-c:a aac -b:a 160k -ar 48000 -ac 2") || strings.Contains(args, "[s1]") || pl.Profile != "aac-lc-48k-stereo" {
		t.Errorf("audio proxy plan: %s", args)
	}
}
