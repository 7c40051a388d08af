package ingest

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/watch"
	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/storage"
)

// Same bytes at two paths are one asset with two locations; the hashes are
// those of HashFile.
func TestDuplicatesAreOneAsset(t *testing.T) {
	root := t.TempDir()
	testutil.WriteFile(t, filepath.Join(root, "a.mov"), "same bytes")
	h := start(t, "", Config{Volumes: []Volume{{"v", root}}})
	testutil.WriteFile(t, filepath.Join(root, "sub/b.mov"), "same bytes")
	testutil.WriteFile(t, filepath.Join(root, "c.wav"), "other bytes")
	a := h.waitPresent("v", "a.mov")
	b := h.waitPresent("v", "sub/b.mov")
	c := h.waitPresent("v", "c.wav")
	want, _, _ := HashFile(filepath.Join(root, "a.mov"))
	if a.AssetID != want.BLAKE3 || b.AssetID != a.AssetID || c.AssetID == a.AssetID {
		t.Fatalf("asset ids: a=%s b=%s c=%s want a=b=%s != c", a.AssetID, b.AssetID, c.AssetID, want.BLAKE3)
	}
	doc, err := h.cat.Asset(a.AssetID)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Locations) != 2 || doc.Hashes != want {
		t.Fatalf("asset doc: %+v", doc)
	}
	h.idle()
	if n := h.count(storage.EvAssetCataloged); n != 2 {
		t.Errorf("asset.cataloged events: %d, want 2", n)
	}
	if n := h.count(storage.EvLocationAdded); n != 3 {
		t.Errorf("location.added events: %d, want 3", n)
	}
	if st := h.volStatus("v"); !st.Online || st.WatchMode != "inotify" || st.Files != 3 || st.Watches != 2 {
		t.Errorf("status: %+v", st)
	}
}

// A file growing in small steps for much longer than settle is never
// cataloged while it grows, and is cataloged whole once it stops.
func TestSlowWriterNotCatalogedEarly(t *testing.T) {
	root := t.TempDir()
	h := start(t, "", Config{Volumes: []Volume{{"v", root}}})
	p := filepath.Join(root, "growing.mxf")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	h.growThenWhole(f, "growing.mxf", 8*testSettle, testSettle/4)
	h.idle()
	if n := h.count(storage.EvLocationAdded) + h.count(storage.EvLocationChanged); n != 1 {
		t.Errorf("%d location events, want exactly 1 (the complete file)", n)
	}
}

// A file renamed keeps its asset: old path removed, new path added, no
// second asset.cataloged. Then delete, rewrite in place, and directory
// rename.
func TestRenameDeleteRewrite(t *testing.T) {
	root := t.TempDir()
	testutil.WriteFile(t, filepath.Join(root, "a.mov"), "clip A")
	testutil.WriteFile(t, filepath.Join(root, "b.mov"), "clip B")
	testutil.WriteFile(t, filepath.Join(root, "c.mov"), "clip C v1")
	testutil.WriteFile(t, filepath.Join(root, "dir/x/d.mov"), "clip D")
	h := start(t, "", Config{Volumes: []Volume{{"v", root}}})
	a := h.waitPresent("v", "a.mov")
	h.waitPresent("v", "b.mov")
	c1 := h.waitPresent("v", "c.mov")
	d := h.waitPresent("v", "dir/x/d.mov")

	t.Run("rename", func(t *testing.T) {
		if err := os.Rename(filepath.Join(root, "a.mov"), filepath.Join(root, "renamed.mov")); err != nil {
			t.Fatal(err)
		}
		n := h.waitPresent("v", "renamed.mov")
		h.waitGone("v", "a.mov")
		if n.AssetID != a.AssetID {
			t.Errorf("renamed file has asset %s, want %s", n.AssetID, a.AssetID)
		}
	})
	t.Run("delete", func(t *testing.T) {
		os.Remove(filepath.Join(root, "b.mov"))
		h.waitGone("v", "b.mov")
		l, err := h.cat.Location("v", "b.mov")
		if err != nil || l.State != storage.LocRemoved {
			t.Fatalf("b.mov: %+v %v", l, err)
		}
	})
	t.Run("rewrite in place", func(t *testing.T) {
		testutil.WriteFile(t, filepath.Join(root, "c.mov"), "clip C version 2")
		var c2 storage.Location
		testutil.WaitFor(t, waitLong, "c.mov rewritten", func() bool {
			c2, _ = h.present("v", "c.mov")
			return c2.AssetID != c1.AssetID
		})
		if len(c2.History) != 1 || c2.History[0].AssetID != c1.AssetID {
			t.Errorf("history %+v, want the old asset %s", c2.History, c1.AssetID)
		}
	})
	t.Run("directory rename", func(t *testing.T) {
		if err := os.Rename(filepath.Join(root, "dir"), filepath.Join(root, "moved")); err != nil {
			t.Fatal(err)
		}
		n := h.waitPresent("v", "moved/x/d.mov")
		h.waitGone("v", "dir/x/d.mov")
		if n.AssetID != d.AssetID {
			t.Errorf("asset changed on move")
		}
		// The moved tree is watched under its new name.
		testutil.WriteFile(t, filepath.Join(root, "moved/x/e.mov"), "clip E")
		h.waitPresent("v", "moved/x/e.mov")
	})
	h.idle()
	if n := h.count(storage.EvAssetCataloged); n != 6 {
		t.Errorf("asset.cataloged: %d, want 6 (A B C1 D C2 E)", n)
	}
}

// A file that changed while it was hashed is not cataloged; it settles
// again and is cataloged with its final content.
func TestChangedWhileHashingIsDiscarded(t *testing.T) {
	root := t.TempDir()
	h := start(t, "", Config{Volumes: []Volume{{"v", root}}})
	p := filepath.Join(root, "f.mov")
	testutil.WriteFile(t, p, "first")
	e, _, _ := watch.Stat(root, "f.mov")
	testutil.WriteFile(t, p, "second, longer") // changes after the "settled" stat
	h.p.mu.Lock()
	v := h.p.vols["v"]
	h.p.mu.Unlock()
	h.p.settle.mu.Lock()
	delete(h.p.settle.m, fileKey{"v", "f.mov"})
	h.p.settle.busy[fileKey{"v", "f.mov"}] = nil
	h.p.settle.mu.Unlock()
	h.p.hashes.work(t.Context(), job{v: v, e: e})
	if _, ok := h.present("v", "f.mov"); ok {
		t.Fatal("cataloged a result for content that changed while hashing")
	}
	l := h.waitPresent("v", "f.mov")
	if l.Size != int64(len("second, longer")) {
		t.Fatalf("cataloged size %d", l.Size)
	}
}

// Stop, reopen the catalog, start again: unchanged files are only stat'ed
// (nothing hashed), no events are written; files added or changed while
// stopped are found.
func TestRestartNoRehashNoDuplicates(t *testing.T) {
	root := t.TempDir()
	state := t.TempDir()
	for i, name := range []string{"a.mov", "b.mov", "sub/c.mov", "sub/deep/d.mov"} {
		testutil.WriteFile(t, filepath.Join(root, name), strings.Repeat("x", i+1))
	}
	h := start(t, state, Config{Volumes: []Volume{{"v", root}}})
	h.waitPresent("v", "sub/deep/d.mov")
	h.idle()
	if got := h.p.Status().FilesHashed; got != 4 {
		t.Fatalf("first run hashed %d files, want 4", got)
	}
	h.stop()
	seq := h.cat.LastSeq()

	h2 := start(t, state, Config{Volumes: []Volume{{"v", root}}})
	h2.idle()
	if got := h2.p.Status().FilesHashed; got != 0 {
		t.Errorf("restart re-hashed %d unchanged files", got)
	}
	if got := h2.cat.LastSeq(); got != seq {
		t.Errorf("restart wrote events: last seq %d -> %d: %+v", seq, got, h2.events()[len(h2.events())-1])
	}
	h2.stop()

	testutil.WriteFile(t, filepath.Join(root, "new.mov"), "new while stopped")
	testutil.WriteFile(t, filepath.Join(root, "a.mov"), "changed while stopped")
	os.Remove(filepath.Join(root, "b.mov"))
	h3 := start(t, state, Config{Volumes: []Volume{{"v", root}}})
	h3.waitPresent("v", "new.mov")
	h3.waitGone("v", "b.mov")
	h3.idle()
	if got := h3.p.Status().FilesHashed; got != 2 {
		t.Errorf("third run hashed %d files, want 2 (new + changed)", got)
	}
}

// Names are bytes as on disk: spaces, NFC and NFD spellings as two files,
// a newline, a 255-byte name.
func TestWeirdNames(t *testing.T) {
	root := t.TempDir()
	names := []string{
		"with space .mov",
		"caf\u00e9.mov",  // NFC
		"cafe\u0301.mov", // NFD
		"line\nbreak.mov",
		strings.Repeat("n", 251) + ".mov",
		"dir with space/ünï cödé/file.mov",
	}
	for i, n := range names[:3] {
		testutil.WriteFile(t, filepath.Join(root, n), "content "+string(rune('a'+i)))
	}
	h := start(t, "", Config{Volumes: []Volume{{"v", root}}})
	for i, n := range names[3:] {
		testutil.WriteFile(t, filepath.Join(root, n), "later "+string(rune('a'+i)))
	}
	for _, n := range names {
		if l := h.waitPresent("v", n); l.Path != n {
			t.Errorf("path %q stored as %q", n, l.Path)
		}
	}
	if len(names[4]) != 255 {
		t.Fatalf("test name is %d bytes", len(names[4]))
	}
	var paths []string
	h.cat.WalkLocations("v", func(l storage.Location) error { paths = append(paths, l.Path); return nil })
	if len(paths) != len(names) {
		t.Errorf("cataloged %q, want %d paths", paths, len(names))
	}
}

// Links are never followed or cataloged: a link to a directory outside the
// volume, a loop, a link to a file.
func TestSymlinksNotFollowed(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	testutil.WriteFile(t, filepath.Join(outside, "secret.mov"), "outside the volume")
	testutil.WriteFile(t, filepath.Join(root, "real/inside.mov"), "inside")
	for link, target := range map[string]string{
		"out":          outside,
		"real/loop":    "..",
		"self":         ".",
		"file-link":    filepath.Join(root, "real/inside.mov"),
		"dangling.mov": "/nonexistent",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	h := start(t, "", Config{Volumes: []Volume{{"v", root}}})
	h.waitPresent("v", "real/inside.mov")
	// A link created while watching is ignored too.
	os.Symlink(outside, filepath.Join(root, "real/out2"))
	testutil.WriteFile(t, filepath.Join(outside, "later.mov"), "later outside")
	h.rescan("v")
	h.idle()
	var paths []string
	h.cat.WalkLocations("v", func(l storage.Location) error { paths = append(paths, l.Path); return nil })
	if len(paths) != 1 || paths[0] != "real/inside.mov" {
		t.Fatalf("cataloged %q, want only real/inside.mov", paths)
	}
	if w := h.volStatus("v").Watches; w != 2 {
		t.Errorf("watches %d, want 2 (root, real)", w)
	}
}

// Built-in ignore rules plus the user's globs, in the walk and the watcher.
func TestIgnoreRules(t *testing.T) {
	root := t.TempDir()
	skipped := []string{
		".hidden.mov", "._clip.mov", ".DS_Store", "Thumbs.db", "desktop.ini", "clip.mov.part",
		"dl.partial", "x.crdownload", "@eaDir/thumb.jpg", "#recycle/old.mov", "#snapshot/s.mov",
		".Trashes/t.mov", ".Spotlight-V100/s", "$RECYCLE.BIN/r.mov", "lost+found/l",
		"user.tmp", "cache/render.mov", "deep/.dotdir/f.mov",
	}
	kept := []string{"clip.mov", "sub/clip2.mov", "tmp.mov", "deep/cache/render.mov"}
	for _, n := range append(append([]string{}, skipped...), kept...) {
		testutil.WriteFile(t, filepath.Join(root, n), "content of "+n)
	}
	h := start(t, "", Config{Volumes: []Volume{{"v", root}}, Ignore: []string{"*.tmp", "cache/*"}})
	for _, n := range skipped {
		testutil.WriteFile(t, filepath.Join(root, "live", n), "live "+n)
	}
	testutil.WriteFile(t, filepath.Join(root, "live/kept.mov"), "kept live")
	for _, n := range kept {
		h.waitPresent("v", n)
	}
	h.waitPresent("v", "live/kept.mov")
	// A glob with a slash is anchored at the volume root: "cache/*" does
	// not match live/cache/render.mov.
	h.waitPresent("v", "live/cache/render.mov")
	h.idle()
	var paths []string
	h.cat.WalkLocations("v", func(l storage.Location) error { paths = append(paths, l.Path); return nil })
	if len(paths) != len(kept)+2 {
		t.Fatalf("cataloged %q", paths)
	}
}

// Hitting the inotify watch limit switches the volume to walk mode
// (status says so); files are still found, by walking.
func TestWatchLimitFallsBackToWalking(t *testing.T) {
	root := t.TempDir()
	testutil.WriteFile(t, filepath.Join(root, "a/one.mov"), "one")
	testutil.WriteFile(t, filepath.Join(root, "b/two.mov"), "two")
	adds := 0
	h := start(t, "", Config{Volumes: []Volume{{"v", root}}, Rescan: 300 * time.Millisecond}, func(p *Pipeline) {
		p.addFunc = func(path string) error {
			if adds++; adds > 1 {
				return &os.SyscallError{Syscall: "inotify_add_watch", Err: errENOSPC}
			}
			return nil
		}
	})
	st := h.volStatus("v")
	if st.WatchMode != "walk" || !st.Online || !strings.Contains(st.Reason, "inotify limit") {
		t.Fatalf("status %+v, want online in walk mode naming the limit", st)
	}
	h.waitPresent("v", "a/one.mov")
	h.waitPresent("v", "b/two.mov")
	testutil.WriteFile(t, filepath.Join(root, "c/three.mov"), "three") // no watch: found by the walk
	h.waitPresent("v", "c/three.mov")

	// The admin raises the limit and reloads: inotify again.
	h.p.mu.Lock()
	h.p.addFunc = nil
	h.p.mu.Unlock()
	if err := h.p.Reload(Config{Volumes: []Volume{{"v", root}}, Settle: testSettle, Rescan: time.Hour}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, waitLong, "inotify mode after reload", func() bool {
		st := h.volStatus("v")
		return st.WatchMode == "inotify" && st.Watches == 4
	})
	testutil.WriteFile(t, filepath.Join(root, "d/four.mov"), "four") // no rescan for an hour: seen by inotify
	h.waitPresent("v", "d/four.mov")
}

// Reload adds and removes volumes without losing the others' work and
// applies the new limits.
func TestReloadVolumes(t *testing.T) {
	ra, rb := t.TempDir(), t.TempDir()
	testutil.WriteFile(t, filepath.Join(ra, "a.mov"), "a")
	testutil.WriteFile(t, filepath.Join(rb, "b.mov"), "b")
	cfg := Config{Volumes: []Volume{{"a", ra}}, Settle: testSettle, Rescan: time.Hour}
	h := start(t, "", cfg)
	h.waitPresent("a", "a.mov")

	cfg.Volumes = append(cfg.Volumes, Volume{"b", rb})
	cfg.HashWorkers = 1
	if err := h.p.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	h.waitPresent("b", "b.mov")
	if n := len(h.p.Status().Volumes); n != 2 {
		t.Fatalf("%d volumes after adding one", n)
	}
	if h.p.hashes.limit != 1 {
		t.Errorf("hash worker limit %d after reload, want 1", h.p.hashes.limit)
	}

	cfg.Volumes = []Volume{{"b", rb}}
	cfg.Settle = 2 * testSettle
	if err := h.p.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if h.p.settleFor() != 2*testSettle {
		t.Errorf("settle not reloaded")
	}
	st := h.p.Status()
	if len(st.Volumes) != 1 || st.Volumes[0].Name != "b" {
		t.Fatalf("volumes after removing a: %+v", st.Volumes)
	}
	testutil.WriteFile(t, filepath.Join(ra, "after.mov"), "not watched any more")
	testutil.WriteFile(t, filepath.Join(rb, "b2.mov"), "b2")
	h.waitPresent("b", "b2.mov")
	h.idle()
	if _, ok := h.present("a", "after.mov"); ok {
		t.Error("a removed volume is still ingested")
	}
	if _, ok := h.present("a", "a.mov"); !ok {
		t.Error("removing a volume from the config removed its catalog entries")
	}
	if err := h.p.Reload(Config{Volumes: []Volume{{"x", ra}, {"x", rb}}}); err == nil {
		t.Error("duplicate volume names accepted")
	}
}

// A file that cannot be read is logged, not cataloged, never fatal, and
// picked up again once readable (by the watcher or the next rescan).
func TestUnreadableFileSkippedThenCataloged(t *testing.T) {
	root := t.TempDir()
	h := start(t, "", Config{Volumes: []Volume{{"v", root}}})
	h.p.mu.Lock()
	v := h.p.vols["v"]
	h.p.mu.Unlock()
	// Opening works, reading fails (EISDIR): the read error path.
	os.Mkdir(filepath.Join(root, "odd.mov"), 0o755)
	h.p.hashes.work(t.Context(), job{v: v, e: watch.Entry{Rel: "odd.mov", Size: 1}})
	if _, ok := h.present("v", "odd.mov"); ok {
		t.Fatal("cataloged an unreadable file")
	}
	os.Remove(filepath.Join(root, "odd.mov"))
	testutil.WriteFile(t, filepath.Join(root, "odd.mov"), "readable now")
	h.rescan("v")
	h.waitPresent("v", "odd.mov")
}

// The first walk of a volume (nothing cataloged) does not stat the files it
// finds; the hash pool takes each one's stat when it opens it. A file that
// settled long ago is cataloged at once, one still being written when the
// walk finds it is not cataloged before it has stayed unchanged for the
// settle time, and then exactly once, whole.
func TestFirstWalkUnstatedFiles(t *testing.T) {
	const settle = 400 * time.Millisecond
	root := t.TempDir()
	testutil.WriteFile(t, filepath.Join(root, "old/clip.mov"), "settled long ago")
	time.Sleep(settle + 100*time.Millisecond)
	p := filepath.Join(root, "new/growing.mxf")
	testutil.WriteFile(t, p, "first bytes")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, "", Config{Volumes: []Volume{{"v", root}}, Settle: settle})
	h.waitPresent("v", "old/clip.mov")
	h.growThenWhole(f, "new/growing.mxf", 4*settle, settle/4)
	h.idle()
	if n := h.count(storage.EvLocationAdded) + h.count(storage.EvLocationChanged); n != 2 {
		t.Errorf("%d location events, want exactly 2 (one per file, complete)", n)
	}
	old, _ := h.present("v", "old/clip.mov")
	ofi, _ := os.Stat(filepath.Join(root, "old/clip.mov"))
	if old.Size != ofi.Size() || old.Inode != ofi.Sys().(*syscall.Stat_t).Ino || !old.MTime.Equal(ofi.ModTime()) {
		t.Errorf("old/clip.mov cataloged with stat %+v, want the file's", old)
	}
}

// growThenWhole appends to f (rel in volume "v") every step for dur,
// failing if rel is cataloged meanwhile, then closes it and waits until
// it is cataloged whole (the size and BLAKE3 of its final bytes).
func (h *harness) growThenWhole(f *os.File, rel string, dur, step time.Duration) {
	t := h.t
	t.Helper()
	for end := time.Now().Add(dur); time.Now().Before(end); time.Sleep(step) {
		if _, err := f.Write([]byte("0123456789")); err != nil {
			t.Fatal(err)
		}
		if _, ok := h.present("v", rel); ok {
			t.Fatalf("%s cataloged while still growing", rel)
		}
	}
	f.Close()
	l := h.waitPresent("v", rel)
	fi, _ := os.Stat(f.Name())
	want, _, _ := HashFile(f.Name())
	if l.Size != fi.Size() || l.AssetID != want.BLAKE3 {
		t.Fatalf("%s cataloged size %d id %s, want %d %s", rel, l.Size, l.AssetID, fi.Size(), want.BLAKE3)
	}
}
