package ingest

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/daemon/watch"
	"github.com/ingestd/ingestd/internal/testutil"
)

// gate holds hash workers before they open a file until the test releases
// that file (the swap happens in between: deterministic).
type gate struct {
	mu      sync.Mutex
	hold    map[string]bool          // files held; others pass at once
	settled map[string]chan struct{} // closed by the test to release
	seen    chan string
	hang    map[string]chan struct{} // block until closed, ignoring ctx (stuck read)
}

func newGate(hold ...string) *gate {
	g := &gate{hold: map[string]bool{}, settled: map[string]chan struct{}{}, seen: make(chan string, 64), hang: map[string]chan struct{}{}}
	for _, r := range hold {
		g.hold[r] = true
	}
	return g
}

func (g *gate) hook(ctx context.Context, vol, rel string) {
	g.mu.Lock()
	if !g.hold[rel] {
		g.mu.Unlock()
		return
	}
	ch, ok := g.settled[rel]
	if !ok {
		ch = make(chan struct{})
		g.settled[rel] = ch
	}
	hang := g.hang[rel]
	g.mu.Unlock()
	g.seen <- rel
	if hang != nil {
		<-hang // like read(2) on a hung NFS server: deaf to ctx
	}
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

func (g *gate) release(rel string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ch, ok := g.settled[rel]; ok {
		select {
		case <-ch:
		default:
			close(ch)
		}
		return
	}
	ch := make(chan struct{})
	close(ch)
	g.settled[rel] = ch
}

func (g *gate) waitSeen(t *testing.T, rel string) {
	t.Helper()
	deadline := time.After(waitLong)
	for {
		select {
		case r := <-g.seen:
			if r == rel {
				return
			}
		case <-deadline:
			t.Fatalf("%s never reached the hash worker", rel)
		}
	}
}

// A settled file swapped for a FIFO, a link to /dev/zero, a device or
// another regular file between settle and hash: the worker never blocks
// nor reads a non-regular file, the replaced regular file is settled and
// cataloged as its new content, and the pipeline keeps ingesting.
func TestSwapBetweenSettleAndHash(t *testing.T) {
	cases := []struct {
		name    string
		swap    func(t *testing.T, p string)
		catalog string // content expected in the catalog; "" = not cataloged
		reject  bool
	}{
		{"fifo", func(t *testing.T, p string) { testutil.Must(t, unix.Mkfifo(p, 0o644)) }, "", true},
		{"symlink to /dev/zero", func(t *testing.T, p string) { testutil.Must(t, os.Symlink("/dev/zero", p)) }, "", true},
		{"char device", func(t *testing.T, p string) {
			if err := unix.Mknod(p, unix.S_IFCHR|0o644, int(unix.Mkdev(1, 5))); err != nil { // /dev/zero's numbers
				t.Skipf("mknod needs root: %v", err)
			}
		}, "", true},
		{"other regular file", func(t *testing.T, p string) { testutil.Must(t, os.WriteFile(p, []byte("replacement!"), 0o644)) }, "replacement!", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			g := newGate("clip.mov")
			h := start(t, "", Config{Volumes: []Volume{{"v", root}}, HashWorkers: 1}, func(p *Pipeline) { p.beforeHash = g.hook })
			p := filepath.Join(root, "clip.mov")
			testutil.WriteFile(t, p, "original bytes")
			g.waitSeen(t, "clip.mov")
			// Swapped by a rename over the settled name, as an attacker would.
			c.swap(t, p+".swap")
			testutil.Must(t, os.Rename(p+".swap", p))
			done := make(chan struct{})
			go func() {
				defer close(done)
				g.release("clip.mov")
				// Another file still ingests after the swapped one.
				testutil.WriteFile(t, filepath.Join(root, "next.mov"), "next")
				h.waitPresent("v", "next.mov")
			}()
			select {
			case <-done:
			case <-time.After(2 * waitLong):
				t.Fatal("pipeline wedged after the swap")
			}
			if c.catalog != "" {
				g.release("clip.mov")
				l := h.waitPresent("v", "clip.mov")
				if l.Size != int64(len(c.catalog)) {
					t.Fatalf("cataloged size %d, want the replacement's %d", l.Size, len(c.catalog))
				}
			} else {
				h.idle()
				if l, ok := h.present("v", "clip.mov"); ok {
					t.Fatalf("swapped-in %s cataloged: %+v", c.name, l)
				}
			}
			st := h.p.Status()
			if got := st.FilesRejected > 0; got != c.reject {
				t.Fatalf("FilesRejected %d, want rejected=%v", st.FilesRejected, c.reject)
			}
			// Nothing was read from a device: bytes hashed are just the files'.
			if st.BytesHashed > 1<<10 {
				t.Fatalf("hashed %d bytes: something read past the files", st.BytesHashed)
			}
		})
	}
}

// A worker stuck in an uninterruptible read must not hold the stop: Run
// returns within the stop grace, and when the read finally returns the
// abandoned worker writes nothing to the catalog.
func TestStopAbandonsStuckRead(t *testing.T) {
	root := t.TempDir()
	g := newGate("stuck.mov")
	unstick := make(chan struct{})
	g.hang["stuck.mov"] = unstick
	h := start(t, "", Config{Volumes: []Volume{{"v", root}}, HashWorkers: 2}, func(p *Pipeline) {
		p.beforeHash = g.hook
		p.stopGrace = 300 * time.Millisecond
	})
	testutil.WriteFile(t, filepath.Join(root, "ok.mov"), "fine")
	h.waitPresent("v", "ok.mov")
	testutil.WriteFile(t, filepath.Join(root, "stuck.mov"), "read late")
	g.waitSeen(t, "stuck.mov")
	before := h.cat.LastSeq()
	t0 := time.Now()
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run waited on the stuck read")
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Fatalf("stop took %s with a 300ms grace", d)
	}
	hp := h.p.hashes
	hp.mu.Lock()
	_, abandoned := hp.inFlight[fileKey{"v", "stuck.mov"}]
	hp.mu.Unlock()
	if !abandoned {
		t.Fatal("the stuck worker is not the one abandoned")
	}
	// The read returns at last: the worker hashes, but must not catalog.
	close(unstick)
	testutil.WaitFor(t, waitLong, "abandoned worker finished", func() bool {
		hp.mu.Lock()
		defer hp.mu.Unlock()
		return hp.active == 0
	})
	if _, ok := h.present("v", "stuck.mov"); ok {
		t.Fatal("an abandoned worker cataloged its file after the stop")
	}
	if got := h.cat.LastSeq(); got != before {
		t.Fatalf("catalog written after the stop: seq %d -> %d", before, got)
	}
	if err := h.cat.Close(); err != nil {
		t.Fatal(err)
	}
}

// SetPause holds hashing and cataloging (files keep settling and wait in
// the hash queue); clearing it resumes by itself and nothing is lost.
func TestPauseHoldsHashing(t *testing.T) {
	root := t.TempDir()
	h := start(t, "", Config{Volumes: []Volume{{"v", root}}})
	h.p.SetPause("state dir below disk.min_free")
	testutil.WriteFile(t, filepath.Join(root, "a.mov"), "dropped while paused")
	testutil.WriteFile(t, filepath.Join(root, "d/b.mov"), "another")
	testutil.WaitFor(t, waitLong, "both files queued to hash", func() bool {
		st := h.p.Status()
		return st.Queues.Hashing == 2 && st.Queues.Settling == 0
	})
	time.Sleep(5 * testSettle)
	st := h.p.Status()
	if st.FilesHashed != 0 || st.Paused != "state dir below disk.min_free" {
		t.Fatalf("while paused: %+v", st)
	}
	for _, rel := range []string{"a.mov", "d/b.mov"} {
		if _, ok := h.present("v", rel); ok {
			t.Fatalf("%s cataloged while paused", rel)
		}
	}
	h.p.SetPause("")
	h.waitPresent("v", "a.mov")
	h.waitPresent("v", "d/b.mov")
	if st := h.p.Status(); st.Paused != "" || st.FilesHashed != 2 {
		t.Fatalf("after resume: %+v", st)
	}
}

// A hash worker keeps the folder of the file it last opened
// (safefs.FolderCache). When that folder is renamed away and another one
// takes its name, the next file settled there is read from the new folder
// (the held one is found stale by its inode and resolved again), not from
// the old one under the same name.
func TestHashHeldFolderReplaced(t *testing.T) {
	root := t.TempDir()
	testutil.WriteFile(t, filepath.Join(root, "d/a"), "first")
	testutil.WriteFile(t, filepath.Join(root, "d/x"), "old x")
	v := &volume{name: "v", root: root, quit: make(chan struct{})}
	v.online.Store(true)
	h := newHashPool(1, nil, &tunables{}, &counters{}, func() bool { return false }, testutil.Logger(t))
	var requeued []string
	h.settled = func(_ job, requeue *watch.Entry) {
		if requeue != nil {
			requeued = append(requeued, requeue.Rel)
		}
	}
	var roots rootCache
	defer roots.close()
	hash := func(rel string) (hashed, bool) {
		t.Helper()
		e, ok, err := watch.Stat(root, rel)
		if err != nil || !ok {
			t.Fatalf("stat %s: %v %v", rel, ok, err)
		}
		return h.hash(context.Background(), job{v: v, e: e}, &roots)
	}
	if it, ok := hash("d/a"); !ok || it.rec.Hashes != HashBytes([]byte("first")) {
		t.Fatalf("d/a: %v %+v", ok, it.rec)
	}
	testutil.Must(t, os.Rename(filepath.Join(root, "d"), filepath.Join(root, "gone")))
	testutil.WriteFile(t, filepath.Join(root, "d/x"), "new x, longer")
	it, ok := hash("d/x")
	if !ok || it.rec.Hashes != HashBytes([]byte("new x, longer")) || it.rec.Size != int64(len("new x, longer")) {
		t.Fatalf("d/x read from the held folder: ok %v %+v (requeued %v)", ok, it.rec, requeued)
	}
	if len(requeued) != 0 {
		t.Fatalf("requeued %v", requeued)
	}
}

// A descriptor whose reads honour O_NONBLOCK (left set by the hash pool's
// open) answering EAGAIN is made blocking and read again, not failed.
func TestCtxReaderClearsNonblock(t *testing.T) {
	var p [2]int
	testutil.Must(t, unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC))
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	go func() {
		time.Sleep(50 * time.Millisecond)
		unix.Write(p[1], []byte("late"))
	}()
	b := make([]byte, 16)
	n, err := ctxReader{context.Background(), p[0]}.Read(b)
	if err != nil || string(b[:n]) != "late" {
		t.Fatalf("read %q, %v", b[:n], err)
	}
}
