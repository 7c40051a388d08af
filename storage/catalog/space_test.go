package catalog

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/storage"
)

// TestNoSpaceRefusedNotCrashed: on a real filesystem (a 128 MiB tmpfs)
// filled by another writer below the catalog's reserve, a change fails
// with ErrNoSpace naming the free space (no SIGBUS under Badger's mapped
// files, nothing written: seq does not move), reads still work, and once
// space is back the next change commits with the next seq.
func TestNoSpaceRefusedNotCrashed(t *testing.T) {
	testenv.NeedRoot(t)
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=128m", "tmpfs", mnt).CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, "mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	c := open(t, filepath.Join(mnt, "catalog"), Options{})
	first, err := c.AppendEvent(storage.Event{Type: storage.EvApplianceStarted, Detail: "before"})
	if err != nil {
		t.Fatal(err)
	}
	// Another writer leaves less than the reserve free.
	filler := filepath.Join(mnt, "filler")
	fill := func() {
		f, err := os.Create(filler)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1<<20)
		for {
			if _, err := f.Write(buf); err != nil {
				break // ENOSPC: the filesystem is full
			}
		}
		f.Close()
	}
	fill()
	for i := range 3 {
		_, err := c.AppendEvent(storage.Event{Type: storage.EvApplianceStarted, Detail: "full"})
		if !errors.Is(err, ErrNoSpace) {
			t.Fatalf("write %d on a full filesystem: %v, want ErrNoSpace", i, err)
		}
	}
	if last := c.LastSeq(); last != first.Seq {
		t.Fatalf("last seq %d after refused writes, want %d", last, first.Seq)
	}
	if evs, err := c.Events(0, 10); err != nil || len(evs) != 1 {
		t.Fatalf("read while full: %v %v", evs, err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	e, err := c.AppendEvent(storage.Event{Type: storage.EvApplianceStarted, Detail: "after"})
	if err != nil || e.Seq != first.Seq+1 {
		t.Fatalf("write after space came back: %+v %v, want seq %d", e, err, first.Seq+1)
	}
	// Closing on a full filesystem (a daemon stopping meanwhile) does not
	// fault in Badger's memtable flush either: the store is left to the
	// process's exit (its lock stays held, so it cannot be reopened in
	// this process; TestStateDirFillsWhileRunning in cmd/ingestd restarts
	// the daemon and finds every event).
	fill()
	if err := c.Close(); err != nil {
		t.Fatalf("close on a full filesystem: %v", err)
	}
}
