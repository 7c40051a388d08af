package packaging

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestPackages runs test.sh: build the .deb and .rpm, lintian, rpm queries,
// systemd-analyze verify, then install, run, upgrade, remove and purge in a
// debootstrap'ed Debian root, and the rpm's scriptlets in the same root.
// test.sh exits 77 (skip) when not root or a tool is missing; with CI=true
// it installs the tools and never skips.
func TestPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("package test builds packages and a Debian root: not in -short")
	}
	cmd := exec.Command("bash", "test.sh")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 77 {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		t.Skip(lines[len(lines)-1])
	}
	t.Log("\n" + string(out))
	if err != nil {
		t.Fatalf("packaging/test.sh: %v", err)
	}
}
