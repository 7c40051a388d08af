package diskguard

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/internal/testenv"
)

func TestParseFloor(t *testing.T) {
	cases := []struct {
		in      string
		bytes   uint64
		percent float64
		err     string
	}{
		{in: "2GiB", bytes: 2 << 30},
		{in: "500MB", bytes: 500e6},
		{in: "1.5G", bytes: 3 << 29},
		{in: "64 MiB", bytes: 64 << 20},
		{in: "1073741824", bytes: 1 << 30},
		{in: "10k", bytes: 10 << 10},
		{in: "0", bytes: 0},
		{in: "5%", percent: 5},
		{in: "0.5 %", percent: 0.5},
		{in: "", err: "empty"},
		{in: "lots", err: "invalid size"},
		{in: "-1GiB", err: "invalid size"},
		{in: "100%", err: "invalid percentage"},
		{in: "-3%", err: "invalid percentage"},
		{in: "1e30TiB", err: "too large"},
	}
	for _, c := range cases {
		f, err := ParseFloor(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseFloor(%q) = %+v, %v; want error %q", c.in, f, err, c.err)
			}
			continue
		}
		if err != nil || f.Bytes != c.bytes || f.Percent != c.percent {
			t.Errorf("ParseFloor(%q) = %+v, %v; want %d bytes %v%%", c.in, f, err, c.bytes, c.percent)
		}
	}
}

func TestConfigValidateNamesKey(t *testing.T) {
	for _, c := range []struct {
		cfg Config
		err string
	}{
		{Config{MinFree: "2GiB"}, ""},
		{Config{MinFree: "3%"}, ""},
		{Config{MinFree: "plenty"}, "disk.min_free: invalid size"},
		{Config{MinFree: "150%"}, "disk.min_free: invalid percentage"},
	} {
		err := c.cfg.Validate()
		if (c.err == "") != (err == nil) || err != nil && !strings.HasPrefix(err.Error(), c.err) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.err)
		}
	}
	var d Config
	d.SetDefaults()
	if d.MinFree != DefaultMinFree || d.Validate() != nil {
		t.Errorf("defaults %+v", d)
	}
}

func TestFloorOfAndLow(t *testing.T) {
	cases := []struct {
		floor        Floor
		total, free  uint64
		wasLow, want bool
	}{
		{Floor{Bytes: 100}, 1000, 99, false, true},
		{Floor{Bytes: 100}, 1000, 100, false, false},
		{Floor{Bytes: 100}, 1000, 104, true, true}, // hysteresis: needs 105
		{Floor{Bytes: 100}, 1000, 105, true, false},
		{Floor{Percent: 10}, 1000, 99, false, true},
		{Floor{Percent: 10}, 1000, 100, false, false},
		{Floor{Bytes: 0}, 1000, 0, false, false}, // off
		{Floor{Percent: 0.5}, 1001, 5, false, true},
	}
	for _, c := range cases {
		if got := Low(c.free, c.floor.Of(c.total), c.wasLow); got != c.want {
			t.Errorf("%+v total %d free %d wasLow %v: low %v, want %v", c.floor, c.total, c.free, c.wasLow, got, c.want)
		}
	}
}

// tmpfs16m mounts a 16 MiB tmpfs on a temporary folder (root).
func tmpfs16m(t *testing.T) string {
	t.Helper()
	testenv.NeedRoot(t)
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", dir).CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, "mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// A real tmpfs filled past the floor: the guard goes low (callback, Wait
// blocks, status) and back to ok when the filler is deleted.
func TestGuardTmpfs(t *testing.T) {
	dir := tmpfs16m(t)
	g, err := New(Config{MinFree: "6MiB"}, []Path{{Name: "state_dir", Path: dir}, {Name: "state_dir", Path: "/dup"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var changes []PathStatus
	g.OnChange(func(p PathStatus) { mu.Lock(); changes = append(changes, p); mu.Unlock() })
	g.Check()
	st := g.Status()
	if st.Low || len(st.Paths) != 1 || st.Paths[0].TotalBytes != 16<<20 || st.Paths[0].MinFreeBytes != 6<<20 {
		t.Fatalf("empty tmpfs: %+v", st)
	}
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 12<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	g.Check()
	if st := g.Status(); !st.Low || !st.Paths[0].Low || st.Paths[0].FreeBytes >= 6<<20 {
		t.Fatalf("filled tmpfs not low: %+v", st)
	}
	if low := g.LowPaths("state_dir"); len(low) != 1 {
		t.Fatalf("LowPaths %v", low)
	}
	if low := g.LowPaths("offload:x"); len(low) != 0 {
		t.Fatalf("LowPaths of another path %v", low)
	}
	waited := make(chan error, 1)
	go func() { waited <- g.Wait(context.Background(), "state_dir") }()
	select {
	case err := <-waited:
		t.Fatalf("Wait returned %v while low", err)
	case <-time.After(100 * time.Millisecond):
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Wait(ctx); err == nil {
		t.Fatal("Wait with a done ctx while low returned nil")
	}
	os.Remove(filler)
	g.Check()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return once space came back")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(changes) != 2 || !changes[0].Low || changes[1].Low || changes[0].Name != "state_dir" {
		t.Fatalf("changes %+v, want low then ok", changes)
	}
}

// A statfs that never answers (a hung NFS offload destination, injected)
// does not block Check, keeps the last state and is reported.
func TestGuardHungStatfs(t *testing.T) {
	g, err := New(Config{MinFree: "1GiB"}, []Path{{Name: "offload:nas", Path: "/mnt/nas"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g.timeout = 50 * time.Millisecond
	block := make(chan struct{})
	defer close(block)
	g.statfs = func(string, *unix.Statfs_t) error { <-block; return nil }
	for range 3 {
		done := make(chan struct{})
		go func() { g.Check(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Check blocked on a hung statfs")
		}
	}
	st := g.Status()
	if st.Low || st.Paths[0].Error == "" {
		t.Fatalf("status %+v, want an error and no change", st)
	}
}

// A report-only path (a watched volume ingest only reads) has its free
// space reported but no floor: filled to the brim it is never low, fires
// no change and never holds a writer.
func TestGuardReportOnly(t *testing.T) {
	testenv.NeedRoot(t)
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir).CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, "mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	g, err := New(Config{MinFree: "6MiB"}, []Path{{Name: "volume:nas", Path: dir, ReportOnly: true}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fired := 0
	g.OnChange(func(PathStatus) { fired++ })
	if err := os.WriteFile(filepath.Join(dir, "filler"), make([]byte, 7<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	g.Check()
	st := g.Status()
	if len(st.Paths) != 1 {
		t.Fatalf("paths %+v", st.Paths)
	}
	p := st.Paths[0]
	if p.TotalBytes != 8<<20 || p.FreeBytes >= 2<<20 || p.FreeBytes == 0 {
		t.Errorf("free %d of %d, want the tmpfs's real figures (under 2 MiB of 8 MiB)", p.FreeBytes, p.TotalBytes)
	}
	if st.Low || p.Low || p.MinFreeBytes != 0 || fired != 0 || len(g.LowPaths()) != 0 {
		t.Errorf("report-only path went low: %+v (fired %d)", st, fired)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := g.Wait(ctx); err != nil {
		t.Errorf("Wait held by a report-only path: %v", err)
	}
}

// TestGuardSetPaths: a reload's new list of paths (SetPaths) adds a volume
// (checked and reported at the next Check, with no floor when report-only),
// keeps the state of a path that stays, and a low path removed from the
// list no longer holds a Wait. Real tmpfs mounts, real statfs.
func TestGuardSetPaths(t *testing.T) {
	testenv.NeedRoot(t)
	mount := func(size string) string {
		dir := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
			testenv.SkipOrFail(t, "mount tmpfs: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
		return dir
	}
	state, full, added := mount("16m"), mount("8m"), mount("4m")
	if err := os.WriteFile(filepath.Join(full, "filler"), make([]byte, 7<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{MinFree: "4MiB"}, []Path{{Name: "state_dir", Path: state}, {Name: "offload:cards", Path: full}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g.Check()
	if low := g.LowPaths(); len(low) != 1 || low[0] != "offload:cards" {
		t.Fatalf("low paths %v, want offload:cards", low)
	}
	waited := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		waited <- g.Wait(ctx)
	}()
	before := g.Status().Paths[0]
	g.SetPaths([]Path{{Name: "state_dir", Path: state}, {Name: "volume:new", Path: added, ReportOnly: true}})
	if err := <-waited; err != nil {
		t.Errorf("Wait still held by a removed low path: %v", err)
	}
	st := g.Status()
	if len(st.Paths) != 2 || st.Paths[0] != before || st.Paths[1].Name != "volume:new" || st.Paths[1].FreeBytes != 0 {
		t.Fatalf("after SetPaths: %+v (state_dir was %+v)", st.Paths, before)
	}
	g.Check()
	st = g.Status()
	if p := st.Paths[1]; p.Path != added || p.TotalBytes != 4<<20 || p.FreeBytes == 0 || p.MinFreeBytes != 0 || p.Low {
		t.Errorf("added volume %+v, want the 4 MiB tmpfs's figures and no floor", p)
	}
	if st.Low || len(g.LowPaths()) != 0 {
		t.Errorf("still low after the low path was removed: %+v", st)
	}
}

// TestCheckOpen: the start-time floor is min(disk.min_free, OpenMinFree)
// and the error names the state dir and the floor.
func TestCheckOpen(t *testing.T) {
	dir := tmpfs16m(t)
	if err := CheckOpen(dir, Config{MinFree: "8MiB"}); err != nil {
		t.Fatalf("16 MiB free, 8 MiB floor: %v", err)
	}
	// A floor above OpenMinFree is capped: 16 MiB free is below 64 MiB.
	err := CheckOpen(dir, Config{MinFree: "1GiB"})
	if err == nil || !strings.Contains(err.Error(), "state_dir "+dir+": ") || !strings.Contains(err.Error(), "below the 67108864 needed") {
		t.Fatalf("16 MiB free, 1 GiB floor: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fill"), make([]byte, 12<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CheckOpen(dir, Config{MinFree: "8MiB"}); err == nil || !strings.Contains(err.Error(), "below the 8388608 needed") {
		t.Fatalf("4 MiB free, 8 MiB floor: %v", err)
	}
	if err := CheckOpen(dir, Config{MinFree: "10%"}); err != nil {
		t.Fatalf("4 MiB free, 10%% floor (1.6 MiB): %v", err)
	}
}
