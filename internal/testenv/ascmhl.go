package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// ASCMHLEnv overrides where the ASC's reference ascmhl tool's runner is.
const ASCMHLEnv = "INGESTD_ASCMHL_RUN"

// ASCMHL returns the runner of the ASC's reference ascmhl tool
// (../shared/tools/ascmhl/run beside the repository, or $INGESTD_ASCMHL_RUN),
// or skips (fails under CI) when it is not there. The runner installs its
// Python dependencies with apt-get on first use.
func ASCMHL(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(ASCMHLEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			SkipOrFail(t, "reference ascmhl runner %s=%s: %v", ASCMHLEnv, p, err)
		}
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			SkipOrFail(t, "reference ascmhl: repository root (go.mod) not found above the test's folder")
			return ""
		}
		dir = parent
	}
	p := filepath.Join(filepath.Dir(dir), "shared", "tools", "ascmhl", "run")
	if _, err := os.Stat(p); err != nil {
		SkipOrFail(t, "reference ascmhl tool not found at %s (set %s): %v", p, ASCMHLEnv, err)
	}
	return p
}

// RunASCMHL runs the reference tool (ASCMHL) as `run TOOL ARGS...` (tool
// is ascmhl or ascmhl-debug; paths in args must be absolute: the runner
// changes directory) and returns its combined output and error.
func RunASCMHL(t testing.TB, runner, tool string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(runner, append([]string{tool}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	return out.String(), err
}
