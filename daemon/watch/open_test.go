package watch

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/internal/testutil"
)

// TestOpenRegular: what OpenRegular refuses, and how it names it
// (*NotRegularError kinds ingest and fixity report). Both resolvers
// (openat2 and the walk without it) and a file swapped between the stat
// and the open are tested in internal/safefs, which OpenRegular uses.
func TestOpenRegular(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	mk := func(rel string) string { return filepath.Join(root, rel) }
	if err := os.WriteFile(mk("plain"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(mk("fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Must(t, os.Symlink("/dev/zero", mk("zero")))
	testutil.Must(t, os.Symlink("plain", mk("link-in")))
	testutil.Must(t, os.Mkdir(mk("dir"), 0o755))
	testutil.Must(t, os.WriteFile(mk("dir/f"), []byte("in dir"), 0o644))
	testutil.Must(t, os.Symlink(outside, mk("out")))
	if err := unix.Mknod(mk("null"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))); err != nil {
		t.Logf("mknod: %v (not root?)", err)
	}
	cases := []struct {
		rel      string
		want     string // content; "" for an error
		kind     string // NotRegularError kind
		notExist bool
	}{
		{rel: "plain", want: "hello"},
		{rel: "dir/f", want: "in dir"},
		{rel: "fifo", kind: "fifo"},
		{rel: "zero", kind: "symlink"},
		{rel: "link-in", kind: "symlink"},
		{rel: "dir", kind: "directory"},
		{rel: "null", kind: "char device"},
		{rel: "missing", notExist: true},
		{rel: "out/secret", kind: "symlink"},
		{rel: "dir/../plain", kind: "path leading out of the volume"},
		{rel: "../" + filepath.Base(root) + "/plain", kind: "path leading out of the volume"},
	}
	for _, c := range cases {
		if c.rel == "null" {
			if _, err := os.Lstat(mk("null")); err != nil {
				continue
			}
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			f, e, err := OpenRegular(root, c.rel)
			switch {
			case c.want != "":
				if err != nil {
					t.Errorf("%s: %v", c.rel, err)
					return
				}
				defer f.Close()
				b, _ := io.ReadAll(f)
				if string(b) != c.want || e.Size != int64(len(c.want)) || e.Rel != c.rel {
					t.Errorf("%s: read %q entry %+v", c.rel, b, e)
				}
				var st unix.Stat_t
				testutil.Must(t, unix.Lstat(mk(c.rel), &st))
				if e.Ino != st.Ino || e.Dev != uint64(st.Dev) {
					t.Errorf("%s: entry %+v is not the file's inode %d", c.rel, e, st.Ino)
				}
				fl, _ := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
				if fl&unix.O_NONBLOCK != 0 {
					t.Errorf("%s: still O_NONBLOCK", c.rel)
				}
			case c.notExist:
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s: err %v, want not exist", c.rel, err)
				}
			default:
				var nr *NotRegularError
				if !errors.As(err, &nr) || nr.Kind != c.kind || !errors.Is(err, ErrNotRegular) {
					t.Errorf("%s: err %v, want a %s", c.rel, err, c.kind)
				}
				if f != nil {
					t.Errorf("%s: got a file", c.rel)
				}
			}
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: OpenRegular blocked", c.rel)
		}
	}
}

// TestRootCurrent: a held Root opens files below it and says whether its
// path still names the folder it holds (not once renamed and replaced).
func TestRootCurrent(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "vol")
	testutil.WriteFile(t, filepath.Join(root, "d/f"), "first")
	r, err := OpenRoot(root + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Path() != root || !r.Current() {
		t.Fatalf("fresh root: path %q current %v", r.Path(), r.Current())
	}
	f, e, err := r.OpenRegular("d/f")
	if err != nil || e.Size != 5 {
		t.Fatalf("open below the held root: %+v %v", e, err)
	}
	f.Close()
	testutil.Must(t, os.Rename(root, filepath.Join(parent, "old")))
	testutil.WriteFile(t, filepath.Join(root, "d/f"), "second, another folder")
	if r.Current() {
		t.Fatal("Current after the root was renamed away and replaced")
	}
	r2, err := OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	f, e, err = r2.OpenRegular("d/f")
	if err != nil || e.Size != int64(len("second, another folder")) || !r2.Current() {
		t.Fatalf("reopened root: %+v %v", e, err)
	}
	f.Close()
}
