package transcode

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
)

// childFFmpeg returns the pids of this process's ffmpeg children.
func childFFmpeg(t *testing.T) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var pids []int
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.Contains(s[:i], "(ffmpeg") {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			pid, _ := strconv.Atoi(strings.Fields(s)[0])
			pids = append(pids, pid)
		}
	}
	return pids
}

func laneSlots(st Status, lane string) int {
	for _, l := range st.Lanes {
		if l.Name == lane {
			return l.Slots
		}
	}
	return -1
}

func (s *Service) workerCount(lane string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.workers[lane]
}

func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// Reload resizes the CPU lane both ways, rejects an invalid config without
// a change, and output settings apply to the next job.
func TestServiceReload(t *testing.T) {
	dir, _ := zoo(t)
	tools := needFFmpeg(t)
	tools.Volumes = map[string]string{"nas": dir}
	cat := catalogtest.Open(t, t.TempDir())
	cfg := Config{CPUJobs: 1, GPU: GPUOff}
	s, _ := startService(t, cfg, tools, t.TempDir(), cat)
	waitCond(t, "one cpu worker", func() bool { return s.workerCount(LaneCPU) == 1 })

	up := cfg
	up.CPUJobs, up.StallTimeout, up.MaxHeight = 3, 45*time.Second, 360
	off := false
	up.SourceAudio = &off
	if err := s.Reload(up); err != nil {
		t.Fatal(err)
	}
	waitCond(t, "three cpu workers", func() bool { return s.workerCount(LaneCPU) == 3 })
	if n := laneSlots(s.Status(), LaneCPU); n != 3 {
		t.Fatalf("status cpu slots %d, want 3", n)
	}
	if c := s.config(); c.StallTimeout != 45*time.Second || c.MaxHeight != 360 || c.sourceAudio() {
		t.Fatalf("config after reload: %+v", c)
	}

	bad := up
	bad.CPUJobs, bad.MaxHeight = 0, 99999
	bad.Preset = "slow" // valid, but the whole config is rejected
	on := true
	bad.SourceAudio = &on
	if err := s.Reload(bad); err == nil {
		t.Fatal("invalid config accepted")
	}
	if c := s.config(); c.CPUJobs != 3 || c.MaxHeight != 360 || c.Preset != "veryfast" || c.sourceAudio() {
		t.Fatalf("rejected reload changed the config: %+v", c)
	}

	down := up
	down.CPUJobs = 1
	if err := s.Reload(down); err != nil {
		t.Fatal(err)
	}
	waitCond(t, "idle workers above the new size exit", func() bool { return s.workerCount(LaneCPU) == 1 })
	if n := laneSlots(s.Status(), LaneCPU); n != 1 {
		t.Fatalf("status cpu slots %d, want 1", n)
	}

	// A job started after the reload uses max_height 360 (default 720: this
	// clip's proxy would be 1280x720).
	id := catalogFile(t, cat, "nas", dir, "anamorphic_hdv.mov")
	doc := waitAsset(t, cat, id, 2*time.Minute, finalStatus)
	if doc.Proxy == nil || doc.Proxy.Status != StatusReady || doc.Proxy.Height != 360 {
		t.Fatalf("proxy after reload: %+v", doc.Proxy)
	}
}

func TestRestartKeys(t *testing.T) {
	a := Config{CPUJobs: 1}
	b := Config{CPUJobs: 4, MaxHeight: 480, StallTimeout: time.Minute}
	if ks := RestartKeys(a, b); len(ks) != 0 {
		t.Fatalf("live keys reported: %v", ks)
	}
	f := false
	b.GPU, b.Enabled = GPUOff, &f
	if ks := RestartKeys(a, b); len(ks) != 2 {
		t.Fatalf("restart keys %v", ks)
	}
}

// A job running during a reload finishes with the settings it started
// with; the next job gets the new ones.
func TestReloadKeepsRunningJobSettings(t *testing.T) {
	dir, _ := zoo(t)
	tools := needFFmpeg(t)
	tools.Volumes = map[string]string{"nas": dir}
	cat := catalogtest.Open(t, t.TempDir())
	cfg := Config{CPUJobs: 1, GPU: GPUOff, FilmstripTiles: 60}
	s, _ := startService(t, cfg, tools, t.TempDir(), cat)
	id := catalogFile(t, cat, "nas", dir, "anamorphic_hdv.mov")
	// Hold the job's FFmpeg (SIGSTOP) across the reload so the job is
	// surely still running when the settings change, then let it go on.
	var held []int
	waitCond(t, "job's ffmpeg running", func() bool {
		if len(s.Status().Running) != 1 {
			return false
		}
		held = childFFmpeg(t)
		return len(held) > 0
	})
	for _, pid := range held {
		syscall.Kill(pid, syscall.SIGSTOP)
	}
	nc := cfg
	nc.MaxHeight = 144
	err := s.Reload(nc)
	running := len(s.Status().Running)
	for _, pid := range held {
		syscall.Kill(pid, syscall.SIGCONT)
	}
	if err != nil {
		t.Fatal(err)
	}
	if running != 1 {
		t.Fatalf("%d jobs running across the reload, want the held one", running)
	}
	doc := waitAsset(t, cat, id, 2*time.Minute, finalStatus)
	if doc.Proxy == nil || doc.Proxy.Status != StatusReady || doc.Proxy.Height != 720 {
		t.Fatalf("running job's proxy after a reload: %+v, want height 720", doc.Proxy)
	}
	id2 := catalogFile(t, cat, "nas", dir, "h264_vfr.mp4")
	doc = waitAsset(t, cat, id2, 2*time.Minute, finalStatus)
	if doc.Proxy == nil || doc.Proxy.Height != 144 {
		t.Fatalf("next job: %+v, want height 144 (default would be 180)", doc.Proxy)
	}
}
