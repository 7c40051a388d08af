package cards

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/internal/testutil"
)

// Real tmpfs mounts under a mount root, seen through /proc/self/mountinfo.
func TestMountWatcher(t *testing.T) {
	testenv.NeedRoot(t)
	root := t.TempDir()
	other := t.TempDir()
	var mu sync.Mutex
	var added, removed []string
	w := &MountWatcher{Roots: []string{root}, Interval: 20 * time.Millisecond,
		OnMount:   func(m Mount) { mu.Lock(); added = append(added, m.MountPoint); mu.Unlock() },
		OnUnmount: func(m Mount) { mu.Lock(); removed = append(removed, m.MountPoint); mu.Unlock() },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			ok := cond()
			mu.Unlock()
			if ok {
				return
			}
		}
		t.Fatalf("timed out waiting for %s (added %v removed %v)", what, added, removed)
	}
	card := filepath.Join(root, "CARD1")
	os.MkdirAll(card, 0o755)
	testutil.Run(t, "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", card)
	testutil.Run(t, "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", other) // not under a root
	defer exec.Command("umount", "-l", other).Run()
	wait("mount", func() bool { return len(added) == 1 && added[0] == card })
	testutil.Run(t, "umount", card)
	wait("unmount", func() bool { return len(removed) == 1 && removed[0] == card })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(added) != 1 {
		t.Fatalf("mount outside the roots reported: %v", added)
	}
}

// An unreadable mountinfo is not "all cards removed".
func TestMountWatcherUnreadable(t *testing.T) {
	info := filepath.Join(t.TempDir(), "mountinfo")
	os.WriteFile(info, []byte("50 22 8:17 / /media/u/CARD rw - exfat /dev/sdb1 rw\n"), 0o644)
	var mu sync.Mutex
	added, removed := 0, 0
	w := &MountWatcher{Roots: []string{"/media"}, Mountinfo: info, Interval: 10 * time.Millisecond,
		OnMount:   func(Mount) { mu.Lock(); added++; mu.Unlock() },
		OnUnmount: func(Mount) { mu.Lock(); removed++; mu.Unlock() },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	time.Sleep(100 * time.Millisecond)
	os.Remove(info)
	time.Sleep(100 * time.Millisecond)
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if added != 1 || removed != 0 {
		t.Fatalf("added %d removed %d", added, removed)
	}
}
