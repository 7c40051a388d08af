package safefs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Both resolvers (openat2, and the per-component walk used without it)
// refuse symlinks anywhere in a name, "..", and absolute names, and
// OpenRegular refuses FIFOs without blocking.
func TestResolvers(t *testing.T) {
	for _, walk := range []bool{false, true} {
		name := "openat2"
		if walk {
			name = "walk"
		}
		t.Run(name, func(t *testing.T) {
			noOpenat2.Store(walk)
			defer noOpenat2.Store(false)
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
}
