package main_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCPUProfileEnv: with INGESTD_CPUPROFILE set, `ingestd run` writes a
// CPU profile of the whole run (pprof's gzipped protobuf, of this binary),
// complete once the daemon stopped on SIGTERM; a profile file that cannot
// be created stops the daemon at start with the variable named.
func TestCPUProfileEnv(t *testing.T) {
	e := newEnv(t, "", "")
	prof := filepath.Join(e.dir, "cpu.prof")
	e.extraEnv = []string{"INGESTD_CPUPROFILE=" + prof}
	e.start()
	e.writeFile("clip.mov", bytes.Repeat([]byte("profile me "), 50000))
	e.waitFeed(30*time.Second, "clip.mov cataloged", hasPaths("location.added", "clip.mov"))
	e.stop()
	f, err := os.Open(prof)
	if err != nil {
		t.Fatalf("no profile after SIGTERM: %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("profile is not gzipped (pprof's format): %v", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("profile cut short (not completed at stop): %v", err)
	}
	// The sample types, and the binary among the mappings (function names
	// only appear for what was sampled: a short run may sample little).
	for _, want := range []string{"samples", "cpu", "nanoseconds", binPath} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("profile (%d bytes) does not name %q: not a CPU profile of ingestd", len(raw), want)
		}
	}

	bad := newEnv(t, "", "")
	cmd := exec.Command(binPath, "run", "-config", bad.cfgPath)
	cmd.Env = append(os.Environ(), "INGESTD_CPUPROFILE="+filepath.Join(bad.dir, "missing", "cpu.prof"))
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("daemon ran with an unwritable INGESTD_CPUPROFILE:\n%s", errOut.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(errOut.String(), "INGESTD_CPUPROFILE") {
		t.Fatalf("unwritable profile: exit %d, stderr %q; want exit 1 naming INGESTD_CPUPROFILE", code, errOut.String())
	}
}
