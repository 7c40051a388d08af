package ingest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
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

// TestTouchWalkBound: the bound holds with several walkers (a rescan's)
// queueing at once while the hash pool finishes files and hands some back
// as changed. It failed when touchWalk checked the bound and queued the
// file in two steps (walkers passed it together), and when a file handed
// back left the pending count before it came back (a waiting walk took
// its place first).
func TestTouchWalkBound(t *testing.T) {
	const walkers, perWalker, bound = 8, 300, 16
	s := newSettler(&tunables{maxPending: bound}, &counters{}, live{
		settle: func() time.Duration { return 0 },
		paused: func() bool { return false },
	}, testutil.Logger(t))
	jobs := make(chan job, walkers*perWalker)
	s.toHash = func(j job) { jobs <- j }
	v := &volume{name: "v", quit: make(chan struct{})}
	done := make(chan struct{})
	var handedBack atomic.Int64
	go func() {
		defer close(done)
		n := 0
		for j := range jobs {
			runtime.Gosched()
			// Every third file changed while hashed: handed back, it
			// settles again (due at once: settle 0) and comes back.
			if n++; n%3 == 0 {
				e := watch.Entry{Rel: j.e.Rel, Size: 1}
				handedBack.Add(1)
				s.done(j, &e)
				s.mu.Lock()
				p := s.m[fileKey{"v", j.e.Rel}]
				s.mu.Unlock()
				if p == nil {
					t.Errorf("%s handed back: not settling again", j.e.Rel)
					continue
				}
				s.check(p) // due: stat fails (no such volume root), forgotten
				continue
			}
			s.done(j, nil)
		}
	}()
	var wg sync.WaitGroup
	for w := range walkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWalker {
				if !s.touchWalk(context.Background(), v.quit, v, watch.Entry{Rel: fmt.Sprintf("w%d/f%d", w, i), NoStat: true}, func() {}) {
					t.Error("touchWalk gave up")
					return
				}
			}
		}()
	}
	wg.Wait()
	testutil.WaitFor(t, waitLong, "every file done", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.pendingLocked() == 0
	})
	close(jobs)
	<-done
	s.mu.Lock()
	peak := s.peak
	s.mu.Unlock()
	if peak > bound {
		t.Fatalf("%d files pending at once with %d walkers, bound %d", peak, walkers, bound)
	}
	if peak < bound || handedBack.Load() == 0 {
		t.Fatalf("peak %d, %d handed back: the bound or the hand-back was not exercised", peak, handedBack.Load())
	}
}
