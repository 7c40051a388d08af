package ingest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/watch"
	"github.com/ingestd/ingestd/internal/testutil"
)

// TestWalkPendingBounded: the first walk of a large tree never holds more
// than maxPending files (settling, queued for or in the hash pool): the
// walk waits for the hash pool instead of queueing the whole tree (issue
// 15: with every file of a 1M tree pending, the first ingest's heap grew by
// hundreds of MB). It fails if the walk goes back to queueing everything,
// or if the hash pool no longer hands the heap back when it runs dry.
func TestWalkPendingBounded(t *testing.T) {
	const dirs, perDir, bound = 200, 100, 200
	root := t.TempDir()
	for d := range dirs {
		dir := filepath.Join(root, fmt.Sprintf("d%03d", d))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := range perDir {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.bin", f)), []byte(fmt.Sprintf("file %d/%d", d, f)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	h := start(t, "", Config{Volumes: []Volume{{Name: "v", Path: root}}, Settle: 50 * time.Millisecond},
		func(p *Pipeline) { p.maxPending, p.freeAfter = bound, 5000 })
	// Ready came while the throttled first walk was still going (a daemon
	// must not wait for a whole first ingest before it reports ready).
	if files, _ := h.p.vols["v"].index.stats(); files >= dirs*perDir {
		t.Errorf("Ready only after all %d files were cataloged: the throttled first walk held it", files)
	}
	// 20,000 files: allow for -race on a loaded machine.
	testutil.WaitFor(t, 4*waitLong, "every file cataloged", func() bool {
		files, _ := h.p.vols["v"].index.stats()
		return files == dirs*perDir
	})
	h.p.settle.mu.Lock()
	peak := h.p.settle.peak
	h.p.settle.mu.Unlock()
	if peak > bound {
		t.Fatalf("%d files pending at once, bound %d: the walk queued past its bound", peak, bound)
	}
	if peak < bound {
		// 20,000 files found far faster than they are hashed: the walk
		// must have reached the bound and waited there.
		t.Fatalf("peak pending %d never reached the bound %d: backpressure not exercised", peak, bound)
	}
	if got := h.p.Status().FilesHashed; got != dirs*perDir {
		t.Fatalf("files hashed %d, want %d", got, dirs*perDir)
	}
	// The pool ran dry at the end of the burst: the heap was handed back,
	// at most once per freeAfter files.
	testutil.WaitFor(t, waitLong, "the heap handed back after the burst", func() bool {
		return h.p.heapReleases.Load() >= 1
	})
	if n := h.p.heapReleases.Load(); n > dirs*perDir/5000 {
		t.Fatalf("heap handed back %d times for %d files, at most one per %d", n, dirs*perDir, 5000)
	}
}

func TestWalkDue(t *testing.T) {
	const settle = 5 * time.Second
	now := time.Now()
	for _, tc := range []struct {
		name     string
		ctime    time.Time
		min, max time.Time
	}{
		{"old file: due at once", now.Add(-time.Hour), now.Add(-time.Hour + settle), now.Add(-time.Hour + settle)},
		{"changed 1s ago: due 4s from now", now.Add(-time.Second), now.Add(4 * time.Second), now.Add(4 * time.Second)},
		{"ctime in the future: settle from now", now.Add(time.Hour), now.Add(settle), now.Add(settle + time.Second)},
		{"no ctime: settle from now", time.Time{}, now.Add(settle), now.Add(settle + time.Second)},
		{"not stat'ed by the walk: at once (the hash pool decides)", time.Time{}, now, now.Add(time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := watch.Entry{Rel: "a", NoStat: strings.HasPrefix(tc.name, "not stat'ed")}
			if !tc.ctime.IsZero() {
				e.CTime = tc.ctime.UnixNano()
			}
			got := walkDue(e, settle)
			if got.Before(tc.min) || got.After(tc.max) {
				t.Fatalf("due %v, want between %v and %v", got.Sub(now), tc.min.Sub(now), tc.max.Sub(now))
			}
		})
	}
}

// TestIdlePoolHoldsNoVolumeDescriptor: hash workers keep the volume's root
// open while file after file comes (no open of the root per file), but an
// idle pool holds no descriptor below any volume: an open one would keep
// its filesystem from being unmounted (umount: target is busy).
func TestIdlePoolHoldsNoVolumeDescriptor(t *testing.T) {
	root := t.TempDir()
	for i := range 300 {
		testutil.WriteFile(t, filepath.Join(root, fmt.Sprintf("d%d/f%03d.bin", i%3, i)), fmt.Sprintf("file %d", i))
	}
	h := start(t, "", Config{Volumes: []Volume{{Name: "v", Path: root}}, Settle: 50 * time.Millisecond, HashWorkers: 2})
	testutil.WaitFor(t, waitLong, "every file cataloged", func() bool {
		files, _ := h.p.vols["v"].index.stats()
		return files == 300
	})
	h.idle()
	held := func() []string {
		var out []string
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if p, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && (p == root || strings.HasPrefix(p, root+"/")) {
				out = append(out, p)
			}
		}
		return out
	}
	// The volume loop's inotify watches are no descriptors of the tree.
	testutil.WaitFor(t, waitLong, "no descriptor below the volume", func() bool { return len(held()) == 0 })
	if n := h.p.Status().FilesHashed; n != 300 {
		t.Fatalf("hashed %d files, want 300", n)
	}
}
