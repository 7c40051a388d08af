package cards

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// A card swapped for another at the same mount point between two reads is
// a new mount although the kernel gave it the freed mount ID (it reuses
// IDs at once; a trial saw a second card take over the first one's SAFE
// TO FORMAT): the device number, source, type and root are compared too.
func TestMountWatcherSwapSameID(t *testing.T) {
	info := filepath.Join(t.TempDir(), "mountinfo")
	write := func(line string) {
		if err := os.WriteFile(info+".new", []byte(line+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(info+".new", info); err != nil { // whole, for the reader
			t.Fatal(err)
		}
	}
	const card = "/media/u/EOS_DIGITAL"
	write("41 26 7:4 / " + card + " ro - exfat /dev/loop4 ro")
	var mu sync.Mutex
	var events []string
	w := &MountWatcher{Roots: []string{"/media"}, Mountinfo: info, Interval: 10 * time.Millisecond,
		OnMount:   func(m Mount) { mu.Lock(); events = append(events, "+"+m.Source); mu.Unlock() },
		OnUnmount: func(m Mount) { mu.Lock(); events = append(events, "-"+m.Source); mu.Unlock() },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for _, tc := range []struct{ line, want string }{
		{"41 26 7:4 / " + card + " ro - exfat /dev/loop4 ro", "+/dev/loop4"},                                                // no change
		{"41 26 7:5 / " + card + " ro - exfat /dev/loop5 ro", "+/dev/loop4,-/dev/loop4,+/dev/loop5"},                        // another device
		{"41 26 7:5 / " + card + " ro - vfat /dev/loop5 ro", "+/dev/loop4,-/dev/loop4,+/dev/loop5,-/dev/loop5,+/dev/loop5"}, // reformatted
	} {
		write(tc.line)
		deadline := time.Now().Add(10 * time.Second)
		for {
			time.Sleep(50 * time.Millisecond)
			mu.Lock()
			got := strings.Join(events, ",")
			mu.Unlock()
			if got == tc.want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %q: events %s, want %s", tc.line, got, tc.want)
			}
		}
	}
}

// A card swapped for another at one mount point gives the same mountinfo
// line as the first (mount ID and, for a tmpfs or a FUSE driver, the
// device number reused at once; the same source): the mount's unique ID
// tells them apart. The watcher reads a copy of the mount table written
// before and after the swap, so that the swap is not seen as an unmount
// between two reads; the statx it makes sees the real mounts.
func TestMountWatcherSwapSameLine(t *testing.T) {
	testenv.NeedRoot(t)
	root := t.TempDir()
	info := filepath.Join(t.TempDir(), "mountinfo")
	card := filepath.Join(root, "CARD1")
	os.MkdirAll(card, 0o755)
	line := func() string {
		t.Helper()
		ms, err := ParseMountinfo("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		m, ok := MountFor(ms, card)
		if !ok || m.MountPoint != card {
			t.Fatalf("no mount at %s", card)
		}
		return fmt.Sprintf("%d %d %d:%d / %s rw - %s %s rw", m.ID, 1, m.Major, m.Minor, card, m.FSType, m.Source)
	}
	testutil.Run(t, "mount", "-t", "tmpfs", "-o", "size=1m", "carda", card)
	defer exec.Command("umount", "-l", card).Run()
	first := line()
	if err := os.WriteFile(info, []byte(first+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []string
	w := &MountWatcher{Roots: []string{root}, Mountinfo: info, Interval: 20 * time.Millisecond,
		OnMount:   func(m Mount) { mu.Lock(); events = append(events, "+"+m.Source); mu.Unlock() },
		OnUnmount: func(m Mount) { mu.Lock(); events = append(events, "-"+m.Source); mu.Unlock() },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	got := func() string { mu.Lock(); defer mu.Unlock(); return strings.Join(events, ",") }
	for deadline := time.Now().Add(10 * time.Second); got() != "+carda"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("events %s, want +carda", got())
		}
	}
	testutil.Run(t, "umount", card)
	testutil.Run(t, "mount", "-t", "tmpfs", "-o", "size=1m", "carda", card)
	if second := line(); second != first {
		t.Logf("mountinfo line changed by the swap (%q, then %q): the unique ID is then not the only clue", first, second)
	}
	// Seen as the unmount of the first and the mount of the second (and
	// no more once settled).
	for deadline := time.Now().Add(10 * time.Second); !strings.HasPrefix(got(), "+carda,-carda,+carda"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("card swapped: events %s, want +carda,-carda,+carda", got())
		}
	}
	settled := got()
	time.Sleep(200 * time.Millisecond)
	if g := got(); g != settled || strings.Count(g, "+") != strings.Count(g, "-")+1 {
		t.Fatalf("events after the swap: %s, then %s", settled, g)
	}
}
