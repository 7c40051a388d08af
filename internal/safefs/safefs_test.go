package safefs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/internal/testutil"
)

// Both resolvers (openat2, and the per-component walk used without it)
// refuse symlinks anywhere in a name, "..", and absolute names, and
// OpenRegular refuses FIFOs without blocking.
func TestResolvers(t *testing.T) {
	bothResolvers(t, func(t *testing.T, walk bool) {
		root := t.TempDir()
		outside := t.TempDir()
		os.WriteFile(filepath.Join(outside, "f"), []byte("outside"), 0o644)
		os.MkdirAll(filepath.Join(root, "a/b"), 0o755)
		os.WriteFile(filepath.Join(root, "a/b/f"), []byte("inside"), 0o644)
		os.Symlink(outside, filepath.Join(root, "a/out"))
		os.Symlink("b", filepath.Join(root, "a/in"))
		os.Symlink(filepath.Join(outside, "f"), filepath.Join(root, "a/b/link"))
		syscall.Mkfifo(filepath.Join(root, "a/fifo"), 0o644)
		d, err := OpenRoot(root, true)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if b, err := d.ReadFile("a/b/f", 100); err != nil || string(b) != "inside" {
			t.Fatalf("plain read: %q %v", b, err)
		}
		if _, err := d.ReadFile("a/b/f", 3); !errors.Is(err, ErrTooLarge) {
			t.Errorf("cap: %v", err)
		}
		for _, tc := range []struct {
			rel  string
			want error
		}{
			{"a/out/f", ErrSymlink},
			{"a/in/f", ErrSymlink},
			{"a/b/link", ErrSymlink},
			{"a/fifo", ErrNotRegular},
			{"../x", ErrBadName},
			{"/etc/passwd", ErrBadName},
			{"a/b/../../../x", ErrBadName},
		} {
			if _, err := d.ReadFile(tc.rel, 100); !errors.Is(err, tc.want) {
				t.Errorf("ReadFile(%s): %v, want %v", tc.rel, err, tc.want)
			}
		}
		if _, err := d.MkdirAll("a/out/new", 0o755); !errors.Is(err, ErrSymlink) {
			t.Errorf("MkdirAll through a symlink: %v", err)
		}
		if _, err := os.Stat(filepath.Join(outside, "new")); err == nil {
			t.Error("folder created outside")
		}
		if _, err := d.OpenFile("a/b/link", os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644); !errors.Is(err, ErrSymlink) {
			t.Errorf("create over a symlink: %v", err)
		}
		if err := d.WriteFileAtomic("a/b/link", []byte("x"), 0o644); !errors.Is(err, ErrNotRegular) {
			t.Errorf("atomic write over a symlink: %v", err)
		}
		if b, _ := os.ReadFile(filepath.Join(outside, "f")); string(b) != "outside" {
			t.Fatalf("outside file written: %q", b)
		}
		if err := d.WriteFileAtomic("a/b/new", []byte("x"), 0o644); err != nil {
			t.Errorf("atomic write: %v", err)
		}
		sub, err := d.MkdirAll("x/y/z", 0o755)
		if err != nil {
			t.Fatal(err)
		}
		sub.Close()
		if st, err := d.Lstat("a/out"); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFLNK {
			t.Errorf("lstat symlink: %v", err)
		}
	})
}

// TestOpenRegularStatsFirst: a FIFO, device, directory or symlink already
// at the name is refused from its stat, never opened (opening some devices
// has side effects); a regular file is opened once, blocking again, with
// the open descriptor's stat.
func TestOpenRegularStatsFirst(t *testing.T) {
	root := t.TempDir()
	mk := func(rel string) string { return filepath.Join(root, rel) }
	testutil.Must(t, os.WriteFile(mk("plain"), []byte("hello"), 0o644))
	testutil.Must(t, syscall.Mkfifo(mk("fifo"), 0o644))
	testutil.Must(t, os.Mkdir(mk("dir"), 0o755))
	testutil.Must(t, os.Symlink("plain", mk("link")))
	if err := unix.Mknod(mk("null"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))); err != nil {
		t.Logf("mknod: %v (not root?)", err)
	}
	d, opened := countingRoot(t, root)
	for rel, want := range map[string]error{"fifo": ErrNotRegular, "dir": ErrNotRegular, "null": ErrNotRegular, "link": ErrSymlink} {
		if _, err := os.Lstat(mk(rel)); err != nil {
			continue // no device without root
		}
		f, st, err := d.OpenRegular(rel)
		if f != nil || !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", rel, err, want)
		}
		if want == ErrNotRegular && st.Mode&unix.S_IFMT == unix.S_IFREG {
			t.Errorf("%s: the returned stat does not say its type", rel)
		}
		if opened[rel] != 0 {
			t.Errorf("%s: opened %d times, want never", rel, opened[rel])
		}
	}
	f, st, err := d.OpenRegular("plain")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var fst unix.Stat_t
	testutil.Must(t, unix.Fstat(int(f.Fd()), &fst))
	if opened["plain"] != 1 || st.Ino != fst.Ino || st.Size != 5 {
		t.Errorf("plain: opened %d times, stat %+v, descriptor's %+v", opened["plain"], st, fst)
	}
	if fl, _ := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0); fl&unix.O_NONBLOCK != 0 || fl&unix.O_NOATIME == 0 {
		t.Errorf("plain: flags %#x, want blocking and O_NOATIME (we own it)", fl)
	}
}

// TestOpenRegularSwapAfterStat: the name is replaced by a FIFO or a symlink
// between the stat and the open; the O_NONBLOCK|O_NOFOLLOW open and the
// fstat of its descriptor refuse it without blocking.
func TestOpenRegularSwapAfterStat(t *testing.T) {
	for kind, want := range map[string]error{"fifo": ErrNotRegular, "symlink": ErrSymlink} {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			p := filepath.Join(root, "clip.mov")
			testutil.Must(t, os.WriteFile(p, []byte("data"), 0o644))
			old := openat2
			t.Cleanup(func() { openat2 = old })
			openat2 = func(dirfd int, rel string, how *unix.OpenHow) (int, error) {
				if rel == "clip.mov" {
					testutil.Must(t, os.Remove(p))
					if kind == "fifo" {
						testutil.Must(t, syscall.Mkfifo(p, 0o644))
					} else {
						testutil.Must(t, os.Symlink("/dev/zero", p))
					}
					openat2 = old
				}
				return old(dirfd, rel, how)
			}
			d, err := OpenRoot(root, false)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			done := make(chan error, 1)
			go func() {
				f, _, err := d.OpenRegular("clip.mov")
				if f != nil {
					f.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, want) {
					t.Fatalf("err %v, want %v", err, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("OpenRegular blocked on the swapped-in file")
			}
		})
	}
}

// TestWriteFileAtomicVia: the data lands under the name through the given
// temporary name (none left), an old file is replaced whole, a stale
// temporary from a crash is replaced, and a symlink at the name is refused
// with its target untouched.
func TestWriteFileAtomicVia(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(t.TempDir(), "target")
	testutil.Must(t, os.WriteFile(outside, []byte("outside"), 0o644))
	testutil.Must(t, os.Symlink(outside, filepath.Join(root, "link.json")))
	testutil.Must(t, os.WriteFile(filepath.Join(root, "r.json.partial"), []byte("stale"), 0o644))
	d, err := OpenRoot(root, true)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, body := range []string{"old, longer", "new"} {
		if err := d.WriteFileAtomicVia("r.json", ".partial", []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(root, "r.json")); string(b) != body {
			t.Fatalf("r.json %q, want %q", b, body)
		}
	}
	if _, err := os.Lstat(filepath.Join(root, "r.json.partial")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary left: %v", err)
	}
	if err := d.WriteFileAtomicVia("link.json", ".partial", []byte("x"), 0o644); !errors.Is(err, ErrNotRegular) {
		t.Errorf("over a symlink: %v", err)
	}
	if b, _ := os.ReadFile(outside); string(b) != "outside" {
		t.Errorf("symlink target written: %q", b)
	}
}

// TestOpenRegularFdIn: files of one folder are opened through the folder
// held in the cache (resolved once, not per file), with the same refusals
// as OpenRegular (a symlinked folder, a symlink, a FIFO: never opened),
// and the descriptor left O_NONBLOCK; a folder renamed away and replaced
// while held is found stale (Reused) and a Reset opens the new one.
func TestOpenRegularFdIn(t *testing.T) {
	bothResolvers(t, func(t *testing.T, walk bool) {
		root := t.TempDir()
		outside := t.TempDir()
		mk := func(rel string) string { return filepath.Join(root, rel) }
		testutil.Must(t, os.MkdirAll(mk("a/b"), 0o755))
		for _, f := range []string{"a/b/1", "a/b/2", "a/b/3", "top"} {
			testutil.Must(t, os.WriteFile(mk(f), []byte(f), 0o644))
		}
		testutil.Must(t, os.WriteFile(filepath.Join(outside, "1"), []byte("outside"), 0o644))
		testutil.Must(t, os.Symlink(outside, mk("a/out")))
		testutil.Must(t, os.Symlink("1", mk("a/b/link")))
		testutil.Must(t, syscall.Mkfifo(mk("a/b/fifo"), 0o644))
		d, opened := countingRoot(t, root)
		var c FolderCache
		defer c.Reset()
		read := func(rel string) (string, bool) {
			t.Helper()
			fd, st, err := d.OpenRegularFdIn(&c, rel)
			if err != nil {
				t.Fatalf("%s: %v", rel, err)
			}
			defer unix.Close(fd)
			if fl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); fl&unix.O_NONBLOCK == 0 || fl&unix.O_NOATIME == 0 {
				t.Errorf("%s: flags %#x, want O_NONBLOCK left and O_NOATIME", rel, fl)
			}
			b := make([]byte, 64)
			n, err := unix.Read(fd, b)
			if err != nil || int64(n) != st.Size {
				t.Fatalf("%s: read %d, %v; size %d", rel, n, err, st.Size)
			}
			return string(b[:n]), c.Reused()
		}
		for i, rel := range []string{"a/b/1", "a/b/2", "a/b/3"} {
			if got, reused := read(rel); got != rel || reused != (i > 0) {
				t.Errorf("%s: %q reused %v", rel, got, reused)
			}
		}
		if !walk && opened["a/b"] != 1 {
			t.Errorf("folder a/b resolved %d times for three files, want once", opened["a/b"])
		}
		if got, _ := read("top"); got != "top" {
			t.Errorf("top: %q", got)
		}
		before := opened["1"]
		for rel, want := range map[string]error{"a/out/1": ErrSymlink, "a/b/link": ErrSymlink, "a/b/fifo": ErrNotRegular, "../x": ErrBadName, "a/../../x": ErrBadName} {
			fd, _, err := d.OpenRegularFdIn(&c, rel)
			if fd >= 0 || !errors.Is(err, want) {
				t.Errorf("%s: fd %d, %v, want %v", rel, fd, err, want)
			}
		}
		if opened["fifo"]+opened["link"] != 0 || opened["1"] != before {
			t.Errorf("refused files opened: %v", opened)
		}
		// The held folder renamed away, a new one in its place.
		if got, _ := read("a/b/1"); got != "a/b/1" {
			t.Fatal(got)
		}
		testutil.Must(t, os.Rename(mk("a/b"), mk("a/old")))
		testutil.Must(t, os.Mkdir(mk("a/b"), 0o755))
		testutil.Must(t, os.WriteFile(mk("a/b/new"), []byte("new"), 0o644))
		if fd, _, err := d.OpenRegularFdIn(&c, "a/b/new"); fd >= 0 || !errors.Is(err, os.ErrNotExist) || !c.Reused() {
			t.Errorf("stale folder: fd %d, %v, reused %v; want not found in the held folder", fd, err, c.Reused())
		}
		c.Reset()
		if got, reused := read("a/b/new"); got != "new" || reused {
			t.Errorf("after Reset: %q reused %v", got, reused)
		}
	})
}

// countingRoot opens root and counts, by name, the opens openat2 is asked
// for until the test ends (the Dir is closed then too).
func countingRoot(t *testing.T, root string) (*Dir, map[string]int) {
	t.Helper()
	opened := map[string]int{}
	old := openat2
	t.Cleanup(func() { openat2 = old })
	openat2 = func(dirfd int, rel string, how *unix.OpenHow) (int, error) {
		opened[rel]++
		return old(dirfd, rel, how)
	}
	d, err := OpenRoot(root, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, opened
}

// bothResolvers runs f as a subtest with openat2 ("openat2") and with the
// component walk used without it ("walk").
func bothResolvers(t *testing.T, f func(t *testing.T, walk bool)) {
	for _, walk := range []bool{false, true} {
		name := "openat2"
		if walk {
			name = "walk"
		}
		t.Run(name, func(t *testing.T) {
			noOpenat2.Store(walk)
			defer noOpenat2.Store(false)
			f(t, walk)
		})
	}
}
