package ingest

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/daemon/watch"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/storage"
)

func fill(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for n, c := range files {
		testutil.WriteFile(t, filepath.Join(root, n), c)
	}
}

func (h *harness) waitOnline(name string, online bool) VolumeStatus {
	h.t.Helper()
	var st VolumeStatus
	testutil.WaitFor(h.t, waitLong, "volume "+name+" online="+map[bool]string{true: "true", false: "false"}[online], func() bool {
		st = h.volStatus(name)
		return st.Online == online
	})
	return st
}

// pause lets several identity checks and a rescan request pass.
func (h *harness) pause(name string) {
	h.rescan(name)
	time.Sleep(10 * h.p.checkEvery)
}

func (h *harness) assertNothingRemoved(files map[string]string) {
	h.t.Helper()
	if n := h.count(storage.EvLocationRemoved); n != 0 {
		h.t.Fatalf("%d location.removed events while the volume was offline", n)
	}
	for n := range files {
		if _, ok := h.present("v", n); !ok {
			h.t.Fatalf("%s no longer present", n)
		}
	}
}

// A tmpfs volume unmounted goes offline (root back on the parent's
// device, marker gone) and nothing is removed; mounted and refilled (marker
// included) it comes back online, and only then a file really missing is
// removed.
func TestTmpfsUnmountOfflineAndBack(t *testing.T) {
	root := filepath.Join(t.TempDir(), "vol")
	os.Mkdir(root, 0o755)
	mount(t, root, "-t", "tmpfs", "-o", "size=16m", "tmpfs")
	files := map[string]string{"a.mov": "A", "day1/b.mov": "B", "day1/c.wav": "C"}
	fill(t, root, files)
	h := start(t, "", Config{Volumes: []Volume{{"v", root}}})
	for n := range files {
		h.waitPresent("v", n)
	}
	marker, err := os.ReadFile(filepath.Join(root, watch.MarkerName))
	if err != nil {
		t.Fatalf("marker not written: %v", err)
	}

	umount(t, root)
	st := h.waitOnline("v", false)
	if !strings.Contains(st.Reason, "not mounted") {
		t.Errorf("offline reason %q, want it to say not mounted", st.Reason)
	}
	h.pause("v")
	h.assertNothingRemoved(files)
	if n := h.count(storage.EvVolumeOffline); n != 1 {
		t.Errorf("volume.offline events: %d, want 1", n)
	}

	mount(t, root, "-t", "tmpfs", "-o", "size=16m", "tmpfs")
	testutil.WriteFile(t, filepath.Join(root, watch.MarkerName), string(marker))
	fill(t, root, map[string]string{"a.mov": "A", "day1/b.mov": "B"}) // c.wav really gone now
	h.waitOnline("v", true)
	h.waitGone("v", "day1/c.wav")
	h.waitPresent("v", "a.mov")
	h.waitPresent("v", "day1/b.mov")
	// The catalog records the first adoption without an event; the
	// return is one volume.online.
	if n := h.count(storage.EvVolumeOnline); n != 1 {
		t.Errorf("volume.online events: %d, want 1", n)
	}
	if n := h.count(storage.EvLocationRemoved); n != 1 {
		t.Errorf("location.removed events: %d, want 1 (c.wav)", n)
	}
}

func ext4Image(t *testing.T, path string) {
	t.Helper()
	testenv.Need(t, "mkfs.ext4")
	testenv.Need(t, "truncate")
	testutil.Run(t, "truncate", "-s", "64M", path)
	testutil.Run(t, "mkfs.ext4", "-q", "-F", path)
}

// An ext4 loop image unmounted goes offline and nothing is removed;
// another file system mounted in its place (no marker) stays offline as
// "replaced"; the original mounted again is online and its unchanged files
// are not read again.
func TestExt4LoopUnmountReplaceRemount(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "vol")
	os.Mkdir(root, 0o755)
	img, other := filepath.Join(dir, "a.img"), filepath.Join(dir, "b.img")
	ext4Image(t, img)
	ext4Image(t, other)
	mount(t, root, "-o", "loop", img)
	files := map[string]string{"clip1.mov": "one", "card/clip2.mov": "two", "card/sub/clip3.mov": "three"}
	fill(t, root, files)
	h := start(t, "", Config{Volumes: []Volume{{"v", root}}})
	for n := range files {
		h.waitPresent("v", n)
	}
	h.idle()
	hashed := h.p.Status().FilesHashed

	umount(t, root)
	h.waitOnline("v", false)
	h.pause("v")
	h.assertNothingRemoved(files)

	mount(t, root, "-o", "loop", other)
	fill(t, root, map[string]string{"intruder.mov": "not ours"})
	testutil.WaitFor(t, waitLong, "replaced mount reported", func() bool {
		return strings.Contains(h.volStatus("v").Reason, "marker")
	})
	h.pause("v")
	if h.volStatus("v").Online {
		t.Fatal("a different file system at the root was taken as the volume")
	}
	h.assertNothingRemoved(files)
	if _, ok := h.present("v", "intruder.mov"); ok {
		t.Fatal("cataloged a file of the replacing file system")
	}
	umount(t, root)

	mount(t, root, "-o", "loop", img)
	h.waitOnline("v", true)
	h.idle()
	h.assertNothingRemoved(files)
	if got := h.p.Status().FilesHashed; got != hashed {
		t.Errorf("remount re-hashed %d unchanged files", got-hashed)
	}
	os.Remove(filepath.Join(root, "card/clip2.mov"))
	h.waitGone("v", "card/clip2.mov")
}

// Writes the watcher cannot see (behind a FUSE view, the way NAS writes by
// other hosts arrive) are found by the reconcile walk, deletions too.
func TestUnseenWritesFoundByRescan(t *testing.T) {
	testenv.Need(t, "bindfs")
	backing, view := t.TempDir(), t.TempDir()
	testutil.WriteFile(t, filepath.Join(backing, "before.mov"), "before")
	mount(t, view, "-t", "fuse.bindfs", backing) // mount(8) helper for bindfs
	h := start(t, "", Config{Volumes: []Volume{{"v", view}}, Rescan: 400 * time.Millisecond})
	h.waitPresent("v", "before.mov")
	testutil.WriteFile(t, filepath.Join(backing, "nas/written-by-nas.mov"), "behind the view")
	l := h.waitPresent("v", "nas/written-by-nas.mov")
	if l.Size != int64(len("behind the view")) {
		t.Errorf("size %d", l.Size)
	}
	os.Remove(filepath.Join(backing, "before.mov"))
	h.waitGone("v", "before.mov")
}

// A root that does not exist is offline (nothing adopted); once created it
// is adopted and ingested.
func TestMissingRootThenCreated(t *testing.T) {
	root := filepath.Join(t.TempDir(), "later")
	h := start(t, "", Config{Volumes: []Volume{{"v", root}}})
	if st := h.volStatus("v"); st.Online || !strings.Contains(st.Reason, "root missing") {
		t.Fatalf("status %+v", st)
	}
	testutil.WriteFile(t, filepath.Join(root, "x.mov"), "x")
	h.waitOnline("v", true)
	h.waitPresent("v", "x.mov")
}

// Deleting the marker of a volume with files takes it offline (emptied or
// replaced), nothing removed; writing it back brings it online.
func TestMarkerRemovedGoesOffline(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{"a.mov": "a", "b.mov": "b"}
	fill(t, root, files)
	h := start(t, "", Config{Volumes: []Volume{{"v", root}}})
	for n := range files {
		h.waitPresent("v", n)
	}
	id, err := watch.ReadMarker(root)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(root, watch.MarkerName))
	os.Remove(filepath.Join(root, "a.mov"))
	h.waitOnline("v", false)
	h.pause("v")
	if n := h.count(storage.EvLocationRemoved); n != 0 {
		t.Fatalf("removed %d locations of a volume without its marker", n)
	}
	if err := watch.WriteMarker(root, id); err != nil {
		t.Fatal(err)
	}
	h.waitOnline("v", true)
	h.waitGone("v", "a.mov")
	if _, ok := h.present("v", "b.mov"); !ok {
		t.Fatal("b.mov lost")
	}
}

// An identity check that hangs (a dead NFS server) takes the volume
// offline as "not responding" instead of hanging the loop; nothing is
// removed; when it answers again the volume comes back.
func TestHungCheckIsOffline(t *testing.T) {
	root := t.TempDir()
	testutil.WriteFile(t, filepath.Join(root, "a.mov"), "a")
	h := start(t, "", Config{Volumes: []Volume{{"v", root}}}, func(p *Pipeline) { p.verifyTimeout = 300 * time.Millisecond })
	h.waitPresent("v", "a.mov")
	id, _ := watch.ReadMarker(root)
	marker := filepath.Join(root, watch.MarkerName)
	// Swap the marker for a FIFO in one rename, so no check sees it missing.
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil { // opening it for reading blocks
		t.Fatal(err)
	}
	if err := os.Rename(fifo, marker); err != nil {
		t.Fatal(err)
	}
	st := h.waitOnline("v", false)
	if !strings.Contains(st.Reason, "not responding") {
		t.Errorf("reason %q", st.Reason)
	}
	os.Remove(filepath.Join(root, "a.mov"))
	h.pause("v")
	if _, ok := h.present("v", "a.mov"); !ok {
		t.Fatal("removed a file while the volume did not answer")
	}
	// Put the marker back in one rename, so later checks read it, then
	// release the check stuck opening the FIFO (kept under a second
	// name): a non-blocking writer open succeeds while a reader waits and
	// fails with ENXIO once none does. (Releasing first would let a new
	// check open the FIFO after the writer left and hang for good.)
	keep := fifo + ".keep"
	if err := os.Link(marker, keep); err != nil {
		t.Fatal(err)
	}
	if err := watch.WriteMarker(root, id); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		f, err := os.OpenFile(keep, os.O_WRONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			break
		}
		f.Close()
		time.Sleep(10 * time.Millisecond)
	}
	h.waitOnline("v", true)
	h.waitGone("v", "a.mov")
}

// The daemon started before the NAS was mounted: the bare mount point was
// adopted while empty. When the share is mounted over it, the marker is
// "missing", but the catalog holds nothing of the volume, so the share is
// adopted and ingested (with files cataloged it would stay offline).
func TestMountOverEmptyAdoptedMountPoint(t *testing.T) {
	root := filepath.Join(t.TempDir(), "nas")
	os.Mkdir(root, 0o755)
	h := start(t, "", Config{Volumes: []Volume{{"v", root}}})
	if !h.volStatus("v").Online {
		t.Fatal("empty dir not adopted")
	}
	mount(t, root, "-t", "tmpfs", "-o", "size=8m", "tmpfs")
	testutil.WriteFile(t, filepath.Join(root, "shoot/a.mov"), "on the share")
	h.waitPresent("v", "shoot/a.mov")
	if _, err := watch.ReadMarker(root); err != nil {
		t.Fatalf("share not adopted: %v", err)
	}
}

// A volume with nothing cataloged whose marker is deleted gets a new one,
// recorded once (not re-adopted at every check).
func TestEmptyVolumeMarkerReplacedOnce(t *testing.T) {
	root := t.TempDir()
	h := start(t, "", Config{Volumes: []Volume{{"v", root}}})
	os.Remove(filepath.Join(root, watch.MarkerName))
	var id string
	testutil.WaitFor(t, waitLong, "new marker", func() bool {
		var err error
		id, err = watch.ReadMarker(root)
		return err == nil
	})
	h.pause("v")
	rec, err := h.cat.Volume("v")
	if err != nil || rec.Marker != id || !rec.Online {
		t.Fatalf("volume record %+v (%v), want marker %s online", rec, err, id)
	}
	if now, _ := watch.ReadMarker(root); now != id {
		t.Fatalf("marker rewritten again: %s -> %s", id, now)
	}
}

// A walk that gets no answer from the filesystem (a hung NFS or SMB
// server; injected here by blocking the walk in one directory) shows in the
// volume's status as stalled, for how long, until the filesystem answers;
// then the walk finishes and the status clears.
func TestHungWalkShownStalled(t *testing.T) {
	root := t.TempDir()
	testutil.WriteFile(t, filepath.Join(root, "a/one.mov"), "one")
	testutil.WriteFile(t, filepath.Join(root, "stuck/two.mov"), "two")
	release := make(chan struct{})
	var hang atomic.Bool
	h := start(t, "", Config{Volumes: []Volume{{"v", root}}, Rescan: 200 * time.Millisecond}, func(p *Pipeline) {
		p.walkStall = 300 * time.Millisecond
		p.walkDirHook = func(rel string) {
			if strings.HasSuffix(rel, "stuck") && hang.Load() {
				<-release
			}
		}
	})
	h.waitPresent("v", "stuck/two.mov")
	if st := h.volStatus("v"); st.Stalled != 0 {
		t.Fatalf("stalled before any hang: %+v", st)
	}
	hang.Store(true)
	testutil.WaitFor(t, waitLong, "status shows the stalled walk", func() bool {
		st := h.volStatus("v")
		return st.Scanning && st.Stalled >= 300*time.Millisecond
	})
	before := h.volStatus("v").LastScan
	hang.Store(false)
	close(release)
	testutil.WaitFor(t, waitLong, "the walk finishes once the filesystem answers", func() bool {
		st := h.volStatus("v")
		return st.Stalled == 0 && st.LastScan.After(before)
	})
	if _, ok := h.present("v", "a/one.mov"); !ok {
		t.Error("a file was lost across the stalled walk")
	}
}
