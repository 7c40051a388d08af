package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testenv"
)

// MountBindfs mounts a bindfs FUSE view of a fresh folder on another and
// returns the mount point (empty) and the bindfs server process, whose
// SIGSTOP makes the mount hang as a dead NFS share does (SIGCONT: it
// answers again). The kernel's attribute and entry caches are off, so
// every stat reaches the server. It needs root and bindfs (a skip, or a
// failure under CI=true); the mount is detached and the server ended when
// the test ends.
func MountBindfs(t testing.TB) (string, *os.Process) {
	t.Helper()
	testenv.NeedRoot(t)
	bindfs := testenv.Need(t, "bindfs")
	dir := t.TempDir()
	src, mnt := filepath.Join(dir, "src"), filepath.Join(dir, "mnt")
	for _, d := range []string{src, mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fuse := exec.Command(bindfs, "-f", "-o", "attr_timeout=0,entry_timeout=0", src, mnt)
	if err := fuse.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		fuse.Process.Signal(syscall.SIGCONT)
		exec.Command("umount", "-l", mnt).Run()
		fuse.Process.Kill()
		fuse.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), " "+mnt+" ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bindfs did not mount")
		}
	}
	return mnt, fuse.Process
}
