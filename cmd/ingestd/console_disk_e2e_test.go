package main_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testenv"
)

// TestConsoleE2EVolumeAddedByReloadHasFreeSpace (issue 13): a volume added
// to the config and applied by SIGHUP gets its free-space entry in
// /v1/status disk.paths (the console overview's free space) at once, with
// the real figures of its filesystem (a 4 MiB tmpfs), not after a restart;
// a volume removed the same way loses it.
func TestConsoleE2EVolumeAddedByReloadHasFreeSpace(t *testing.T) {
	testenv.NeedRoot(t)
	spare := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", spare).CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, "mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", spare).Run() })
	e := newEnv(t, "", "proxy:\n  enabled: false\n")
	e.start()
	defer e.stop()
	type diskPath struct {
		Name       string `json:"name"`
		Path       string `json:"path"`
		FreeBytes  uint64 `json:"free_bytes"`
		TotalBytes uint64 `json:"total_bytes"`
		MinFree    uint64 `json:"min_free_bytes"`
		Low        bool   `json:"low"`
	}
	paths := func() map[string]diskPath {
		code, body := e.get("/v1/status", "")
		if code != 200 {
			t.Fatalf("/v1/status: %d %s", code, body)
		}
		var doc struct {
			Disk struct {
				Paths []diskPath `json:"paths"`
			} `json:"disk"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("/v1/status: %v", err)
		}
		m := map[string]diskPath{}
		for _, p := range doc.Disk.Paths {
			m[p.Name] = p
		}
		return m
	}
	wait := func(what string, ok func(map[string]diskPath) bool) map[string]diskPath {
		t.Helper()
		var got map[string]diskPath
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if got = paths(); ok(got) {
				return got
			}
		}
		t.Fatalf("%s: disk.paths %+v", what, got)
		return nil
	}
	wait("at start", func(m map[string]diskPath) bool {
		_, spareThere := m["volume:spare"]
		return m["volume:footage"].TotalBytes > 0 && !spareThere
	})
	cfg, err := os.ReadFile(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	added := strings.Replace(string(cfg), "volumes:\n", "volumes:\n  - name: spare\n    path: "+spare+"\n", 1)
	if err := os.WriteFile(e.cfgPath, []byte(added), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.proc.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	got := wait("after SIGHUP adding volume spare", func(m map[string]diskPath) bool { return m["volume:spare"].TotalBytes > 0 })
	p := got["volume:spare"]
	if p.Path != spare || p.TotalBytes != 4<<20 || p.FreeBytes == 0 || p.MinFree != 0 || p.Low {
		t.Errorf("volume:spare %+v, want %s with the 4 MiB tmpfs's figures and no floor", p, spare)
	}
	if got["volume:footage"].TotalBytes == 0 || got["state_dir"].TotalBytes == 0 {
		t.Errorf("the other paths lost their figures: %+v", got)
	}
	t.Logf("volume:spare reported %s after SIGHUP", time.Since(t0).Round(time.Millisecond))
	// And removed again.
	if err := os.WriteFile(e.cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.proc.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	wait("after SIGHUP removing volume spare", func(m map[string]diskPath) bool {
		_, there := m["volume:spare"]
		return !there && m["volume:footage"].TotalBytes > 0
	})
}
