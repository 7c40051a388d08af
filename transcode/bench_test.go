package transcode

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/ingestd/ingestd/storage"
)

// benchClip makes (once, cached) a 4 s 1080p25 H.264 clip with stereo audio
// and timecode: a typical camera-proxy job.
func benchClip(b *testing.B, tools Tools, name string, args ...string) string {
	b.Helper()
	dir, _ := zoo(b)
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	tmp := p + ".tmp"
	full := append([]string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}, args...)
	if out, err := exec.Command(tools.FFmpeg, append(full, tmp)...).CombinedOutput(); err != nil {
		b.Fatalf("make bench clip: %v: %s", err, out)
	}
	if err := os.Rename(tmp, p); err != nil {
		b.Fatal(err)
	}
	return p
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func bareFFmpeg(b *testing.B, ffmpeg string, args []string) time.Duration {
	b.Helper()
	t0 := time.Now()
	cmd := exec.Command(ffmpeg, append([]string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("bare ffmpeg: %v: %s", err, out)
	}
	return time.Since(t0)
}

// BenchmarkProxyOverhead: the proxy command through the supervised Runner
// (process group, progress pipe, stderr drain, stall watchdog) next to the
// bare FFmpeg command with the same arguments, alternated on the same clip.
// Reports runner/bare (goal ≤ 1.05) and the whole service job (probe-less:
// proxy + ffprobe validation + poster + filmstrip + waveform) over bare.
func BenchmarkProxyOverhead(b *testing.B) {
	tools := needFFmpeg(b)
	clip := benchClip(b, tools, "bench_1080p25_h264.mov",
		"-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25:duration=4", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=4",
		"-map", "0:v", "-map", "1:a", "-ac", "2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le",
		"-timecode", "01:00:00:00", "-f", "mov")
	m, _, err := Probe(b.Context(), tools.FFprobe, clip)
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{}
	cfg.SetDefaults()
	out := filepath.Join(b.TempDir(), "proxy.mp4")
	pl, err := videoPlan(cfg, Capabilities{}, m, clip, out, LaneCPU)
	if err != nil {
		b.Fatal(err)
	}
	r := &Runner{FFmpeg: tools.FFmpeg, Stall: cfg.StallTimeout}

	// The service path, for the whole-job figure.
	vol := filepath.Dir(clip)
	cat := openCatalog(b, filepath.Join(b.TempDir(), "catalog"))
	tools.Volumes = map[string]string{"nas": vol}
	id := catalogFile(b, cat, "nas", vol, filepath.Base(clip))
	state := b.TempDir()
	s, err := New(Config{GPU: GPUOff}, tools, state, cat, testLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := s.consider(ctx, id); err != nil {
		b.Fatal(err)
	}
	doc, _ := cat.Asset(id)

	var bare, run, jobs []time.Duration
	b.ResetTimer()
	runner := func() {
		t0 := time.Now()
		if err := r.Run(ctx, pl.Args, nil, func(Progress) {}); err != nil {
			b.Fatal(err)
		}
		run = append(run, time.Since(t0))
	}
	// Warm the page cache and the binaries once, unmeasured.
	bareFFmpeg(b, tools.FFmpeg, pl.Args)
	for i := 0; i < b.N; i++ {
		// Alternate which goes first, so drift on a shared machine cancels.
		if i%2 == 0 {
			bare = append(bare, bareFFmpeg(b, tools.FFmpeg, pl.Args))
			runner()
		} else {
			runner()
			bare = append(bare, bareFFmpeg(b, tools.FFmpeg, pl.Args))
		}
		t0 := time.Now()
		if _, err := s.cut(ctx, &job{ID: id}, doc, LaneCPU); err != nil {
			b.Fatal(err)
		}
		jobs = append(jobs, time.Since(t0))
	}
	b.StopTimer()
	mb, mr, mj := median(bare), median(run), median(jobs)
	b.ReportMetric(mb.Seconds(), "bare-s")
	b.ReportMetric(mr.Seconds(), "runner-s")
	b.ReportMetric(mr.Seconds()/mb.Seconds(), "runner/bare")
	b.ReportMetric(mj.Seconds()/mb.Seconds(), "job/bare")
	if _, err := os.Stat(storage.OutputPath(state, id, OutProxyVideo)); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkGPUvsCPU: the same 4K HEVC 10-bit clip to a 720p proxy on the
// GPU lane (NVDEC + scale_cuda + libx264, or NVENC) and on the CPU lane.
func BenchmarkGPUvsCPU(b *testing.B) {
	tools := needFFmpeg(b)
	caps, err := Detect(b.Context(), tools, GPUAuto)
	if err != nil {
		b.Fatal(err)
	}
	if !caps.GPU() || !caps.NVDEC["hevc10"] {
		b.Skipf("no NVDEC HEVC 10-bit pipeline here (errors: %v): GPU vs CPU not measured", caps.Errors)
	}
	clip := benchClip(b, tools, "bench_2160p25_hevc10.mp4",
		"-f", "lavfi", "-i", "testsrc2=size=3840x2160:rate=25:duration=4", "-vf", "format=yuv420p10le",
		"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-tag:v", "hvc1", "-f", "mp4")
	m, _, err := Probe(b.Context(), tools.FFprobe, clip)
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{}
	cfg.SetDefaults()
	out := filepath.Join(b.TempDir(), "proxy.mp4")
	cpu, _ := videoPlan(cfg, caps, m, clip, out, LaneCPU)
	gpu, _ := videoPlan(cfg, caps, m, clip, out, LaneGPU)
	r := &Runner{FFmpeg: tools.FFmpeg, Stall: cfg.StallTimeout}
	var tc, tg []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := r.Run(b.Context(), cpu.Args, nil, nil); err != nil {
			b.Fatal(err)
		}
		tc = append(tc, time.Since(t0))
		t0 = time.Now()
		if err := r.Run(b.Context(), gpu.Args, nil, nil); err != nil {
			b.Fatal(err)
		}
		tg = append(tg, time.Since(t0))
	}
	b.StopTimer()
	b.ReportMetric(median(tc).Seconds(), "cpu-s")
	b.ReportMetric(median(tg).Seconds(), "gpu-s")
	b.ReportMetric(median(tc).Seconds()/median(tg).Seconds(), "gpu-speedup")
}
