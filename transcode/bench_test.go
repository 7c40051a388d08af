package transcode

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/daemon/ingest"
	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
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

func medianF(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// cpuTime is the user + system time of this process and its waited-for
// children so far.
func cpuTime(b *testing.B) time.Duration {
	var t time.Duration
	for _, who := range []int{unix.RUSAGE_SELF, unix.RUSAGE_CHILDREN} {
		var ru unix.Rusage
		if err := unix.Getrusage(who, &ru); err != nil {
			b.Fatalf("getrusage: %v", err)
		}
		t += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return t
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

// benchProxyClip is the clip of BenchmarkProxyOverhead and
// BenchmarkMasterReads: 4 s 1080p25 H.264 + stereo PCM with timecode.
func benchProxyClip(b *testing.B, tools Tools) string {
	return benchClip(b, tools, "bench_1080p25_h264.mov",
		"-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25:duration=4", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=4",
		"-map", "0:v", "-map", "1:a", "-ac", "2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le",
		"-timecode", "01:00:00:00", "-f", "mov")
}

// BenchmarkProxyOverhead: the proxy command through the supervised Runner
// (process group, progress pipe, stderr drain, stall watchdog) next to the
// bare FFmpeg command with the same arguments, alternated on the same clip.
// Reports runner/bare (goal ≤ 1.05) and the whole service job (probe-less:
// one FFmpeg run for proxy + poster + filmstrip + waveform, then the
// ffprobe validations) over the bare proxy encode (goal ≤ 1.3).
func BenchmarkProxyOverhead(b *testing.B) {
	tools := needFFmpeg(b)
	clip := benchProxyClip(b, tools)
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
	cat := catalogtest.Open(b, filepath.Join(b.TempDir(), "catalog"))
	tools.Volumes = map[string]string{"nas": vol}
	id := catalogFile(b, cat, "nas", vol, filepath.Base(clip))
	state := b.TempDir()
	s, err := New(Config{GPU: GPUOff}, tools, state, cat, testutil.Logger(b))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := s.consider(ctx, id); err != nil {
		b.Fatal(err)
	}
	doc, _ := cat.Asset(id)

	// Wall time, and CPU time (user + system of the process and its
	// children: FFmpeg, ffprobe), per step. CPU time is what the job costs
	// the machine and moves little when other work shares it; the wall
	// ratio is taken per round from neighbouring runs, in rotating order,
	// so drift on a shared machine cancels.
	var bare, run, jobs []time.Duration
	var jobRatio, cpuRatio []float64
	measure := func(f func()) (wall, cpu time.Duration) {
		c0 := cpuTime(b)
		t0 := time.Now()
		f()
		return time.Since(t0), cpuTime(b) - c0
	}
	bareStep := func() { bareFFmpeg(b, tools.FFmpeg, pl.Args) }
	runnerStep := func() {
		if err := r.Run(ctx, pl.Args, nil, func(Progress) {}); err != nil {
			b.Fatal(err)
		}
	}
	jobStep := func() {
		if _, err := s.cut(ctx, &job{ID: id}, doc, LaneCPU); err != nil {
			b.Fatal(err)
		}
	}
	// Warm the page cache and the binaries once, unmeasured.
	bareStep()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var wall, cpu [3]time.Duration
		steps := []func(){bareStep, runnerStep, jobStep}
		for k := 0; k < 3; k++ {
			n := (i + k) % 3
			wall[n], cpu[n] = measure(steps[n])
		}
		bare, run, jobs = append(bare, wall[0]), append(run, wall[1]), append(jobs, wall[2])
		jobRatio = append(jobRatio, wall[2].Seconds()/wall[0].Seconds())
		cpuRatio = append(cpuRatio, cpu[2].Seconds()/cpu[0].Seconds())
	}
	b.StopTimer()
	mb, mr, mj := median(bare), median(run), median(jobs)
	b.ReportMetric(mb.Seconds(), "bare-s")
	b.ReportMetric(mr.Seconds(), "runner-s")
	b.ReportMetric(mr.Seconds()/mb.Seconds(), "runner/bare")
	b.ReportMetric(mj.Seconds(), "job-s")
	b.ReportMetric(medianF(jobRatio), "job/bare")
	b.ReportMetric(medianF(cpuRatio), "cpu-job/bare")
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

// BenchmarkMasterReads ingests the bench clip through ingestd's own code,
// one fresh volume and catalog per iteration, and counts the times the
// master file is opened, per ingest: by the hash (the ingest pipeline
// alone runs first, until the asset is cataloged), then by ffprobe (probe,
// frame count) and by FFmpeg (transcode) while the transcode service makes
// the proxy. Opens are counted by the kernel (inotify IN_OPEN on the
// volume directory, any process) and split between ffprobe and FFmpeg by
// logging wrappers around the real binaries; both must agree.
func BenchmarkMasterReads(b *testing.B) {
	real := needFFmpeg(b)
	clip := benchProxyClip(b, real)
	data, err := os.ReadFile(clip)
	if err != nil {
		b.Fatal(err)
	}
	sum := blake3.Sum256(data)
	id := hex.EncodeToString(sum[:])
	var hashReads, probeReads, transcodeReads int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		vol := b.TempDir()
		master := filepath.Join(vol, "A001C001.mov")
		if err := os.WriteFile(master, data, 0o644); err != nil {
			b.Fatal(err)
		}
		opens, stopCount := countOpens(b, vol, filepath.Base(master))
		cat := catalogtest.Open(b, filepath.Join(b.TempDir(), "catalog"))
		p, err := ingest.New(ingest.Config{Volumes: []ingest.Volume{{Name: "nas", Path: vol}}, Settle: 200 * time.Millisecond}, cat, testutil.Logger(b))
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		waitAsset(b, cat, id, time.Minute, func(d storage.AssetDoc) bool { return d.Hashes.BLAKE3 == id })
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			b.Fatalf("ingest: %v", err)
		}
		hashed := opens()

		tl := newToolLog(b, real)
		tools := tl.Tools
		tools.Volumes = map[string]string{"nas": vol}
		_, stop := startService(b, Config{GPU: GPUOff}, tools, b.TempDir(), cat)
		doc := waitAsset(b, cat, id, 2*time.Minute, finalStatus)
		stop()
		if doc.Proxy == nil || doc.Proxy.Status != StatusReady {
			b.Fatalf("proxy %+v", doc.Proxy)
		}
		total := stopCount()
		probes, decodes := len(tl.calls(b, "ffprobe", master)), len(tl.calls(b, "ffmpeg", master))
		if total-hashed != probes+decodes {
			b.Fatalf("master opened %d times by the transcode service, but the wrappers saw %d ffprobe + %d ffmpeg runs on it", total-hashed, probes, decodes)
		}
		hashReads += hashed
		probeReads += probes
		transcodeReads += decodes
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(hashReads)/n, "hash-reads")
	b.ReportMetric(float64(probeReads)/n, "probe-reads")
	b.ReportMetric(float64(transcodeReads)/n, "transcode-reads")
}

// countOpens counts IN_OPEN events for name in dir (opens by any process)
// from now: opens returns the count so far, stop ends the count and
// returns the final one.
func countOpens(b *testing.B, dir, name string) (opens func() int, stop func() int) {
	b.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		b.Fatalf("inotify: %v", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_OPEN); err != nil {
		unix.Close(fd)
		b.Fatalf("inotify watch %s: %v", dir, err)
	}
	f := os.NewFile(uintptr(fd), "inotify") // non-blocking: Close ends a pending Read
	var mu sync.Mutex
	n := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			k, err := f.Read(buf)
			if err != nil {
				if !errors.Is(err, os.ErrClosed) && !errors.Is(err, io.EOF) {
					b.Errorf("inotify read: %v", err)
				}
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= k; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				nb := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
				if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
					b.Errorf("inotify queue overflow: opens lost")
				}
				if i := indexZero(nb); ev.Mask&unix.IN_OPEN != 0 && string(nb[:i]) == name {
					mu.Lock()
					n++
					mu.Unlock()
				}
				off += unix.SizeofInotifyEvent + int(ev.Len)
			}
		}
	}()
	// Events are queued by the kernel before open returns; a short pause
	// lets the reader drain them before a count is taken.
	get := func() int {
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		return n
	}
	var once sync.Once
	stopFn := func() int {
		c := get()
		once.Do(func() { f.Close(); <-done })
		return c
	}
	b.Cleanup(func() { stopFn() })
	return get, stopFn
}

func indexZero(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}
