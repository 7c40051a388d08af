package doctor

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/internal/testenv"
)

// The disk floor finding on a real 16 MiB tmpfs state dir.
func TestCheckDiskFloor(t *testing.T) {
	testenv.NeedRoot(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if out, err := exec.Command("mkdir", "-p", state).CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", state).CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, "mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", state).Run() })
	for _, tc := range []struct {
		minFree string
		level   Level
		msg     string
	}{
		{"1MiB", OK, "state_dir " + state + ": 16.0 MiB free"},
		{"10MiB", Warn, "close to the floor"},
		{"20MiB", Fail, "below the floor, the daemon pauses ingest, transcode and card offload"},
		{"50%", OK, "(8.0 MiB)"},
		{"90%", Warn, "close to the floor"},
		{"lots", Fail, "disk.min_free: invalid size"},
	} {
		cfg := &config.Config{StateDir: state}
		cfg.Disk.MinFree = tc.minFree
		fs := checkDiskFloor(cfg)
		if len(fs) != 1 || fs[0].Level != tc.level || !strings.Contains(fs[0].Message, tc.msg) || fs[0].Check != "disk floor" {
			t.Errorf("min_free %s: %+v, want %s %q", tc.minFree, fs, tc.level, tc.msg)
		}
		if tc.level != OK && fs[0].Fix == "" {
			t.Errorf("min_free %s: no fix", tc.minFree)
		}
	}
}
