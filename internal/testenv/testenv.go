// Package testenv holds the one rule every test follows when something it
// needs (a tool, root, a mount) is missing: skip on a developer's machine,
// fail under CI=true, where .ci/run has installed everything and a skip
// would hide a missing install step. GPU tests are the exception and skip
// on their own.
//
// It owns only that rule; it must not start servers or make fixtures.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// CI reports whether the tests run under .ci/run (CI=true).
func CI() bool { return os.Getenv("CI") == "true" }

// SkipOrFail skips the test, or fails it under CI.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if CI() {
		t.Fatalf(format+" (CI=true: must not skip; scripts/deps.sh installs it)", args...)
	}
	t.Skipf(format, args...)
}

// Need returns the path of tool, or skips (fails under CI) when it is
// not installed.
func Need(t testing.TB, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		SkipOrFail(t, "%s not installed: %v", tool, err)
	}
	return p
}

// NeedRoot skips (fails under CI) unless the test runs as root, which
// mounts need.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "needs root (mounts)")
	}
}
