package fixity

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
)

// A cataloged master swapped for a FIFO, a link to /dev/zero, a link to a
// directory outside the volume or another file: the fixity check never
// blocks, never reads what is not the regular file, and says what it found.
func TestFixitySwappedMasters(t *testing.T) {
	outside := t.TempDir()
	cases := []struct {
		name, want, detail string
		swap               func(t *testing.T, root, rel string)
	}{
		{"fifo", "missing", "replaced by a fifo", func(t *testing.T, root, rel string) {
			p := filepath.Join(root, rel)
			os.Remove(p)
			if err := unix.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"symlink to /dev/zero", "missing", "replaced by a symlink", func(t *testing.T, root, rel string) {
			p := filepath.Join(root, rel)
			os.Remove(p)
			if err := os.Symlink("/dev/zero", p); err != nil {
				t.Fatal(err)
			}
		}},
		{"directory swapped for a link out", "missing", "replaced by a symlink", func(t *testing.T, root, rel string) {
			d := filepath.Join(root, filepath.Dir(rel))
			// Same name, same size and mtime outside: only the link betrays it.
			data, _ := os.ReadFile(filepath.Join(root, rel))
			fi, _ := os.Stat(filepath.Join(root, rel))
			os.MkdirAll(filepath.Join(outside, filepath.Dir(rel)), 0o755)
			op := filepath.Join(outside, rel)
			os.WriteFile(op, data, 0o644)
			os.Chtimes(op, fi.ModTime(), fi.ModTime())
			os.RemoveAll(d)
			if err := os.Symlink(filepath.Join(outside, filepath.Dir(rel)), d); err != nil {
				t.Fatal(err)
			}
		}},
		{"other file, same size and mtime", "changed", "replaced by another file", func(t *testing.T, root, rel string) {
			p := filepath.Join(root, rel)
			fi, _ := os.Stat(p)
			data, _ := os.ReadFile(p)
			os.WriteFile(p+".new", data, 0o644)
			os.Chtimes(p+".new", fi.ModTime(), fi.ModTime())
			os.Rename(p+".new", p)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cat := catalogtest.Open(t, t.TempDir())
			root := t.TempDir()
			catalogtest.PutFile(t, cat, "v", root, "keep/ok.mov", []byte("intact"))
			rel := "d/master.mov"
			p := filepath.Join(root, rel)
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, []byte("master bytes"), 0o644)
			fi, _ := os.Stat(p)
			var st unix.Stat_t
			unix.Stat(p, &st)
			if _, err := cat.PutFile(storage.FileRecord{Volume: "v", Path: rel, Size: fi.Size(), MTime: fi.ModTime(), Inode: st.Ino,
				Hashes: storage.Hashes{BLAKE3: strings.Repeat("a", 64), XXH128: strings.Repeat("0", 32)}}); err != nil {
				t.Fatal(err)
			}
			c.swap(t, root, rel)
			fx := New(cards.FixityConfig{}, []Volume{{Name: "v", Path: root}}, cat, nil)
			var lines []Line
			type res struct {
				sum Line
				err error
			}
			done := make(chan res, 1)
			go func() {
				s, err := fx.Check(context.Background(), "v", "", "api", func(l Line) { lines = append(lines, l) })
				done <- res{s, err}
			}()
			var r res
			select {
			case r = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("fixity check hung on the swapped master")
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			var got *Line
			for i := range lines {
				if lines[i].Path == rel && lines[i].Type != "progress" {
					got = &lines[i]
				}
			}
			if got == nil || got.Type != c.want || !strings.Contains(got.Detail, c.detail) {
				t.Fatalf("line for %s: %+v, want %s %q", rel, got, c.want, c.detail)
			}
			if r.sum.OK != 1 || r.sum.BytesDone > 64 {
				t.Fatalf("summary %+v: the intact file must verify, nothing else be read", r.sum)
			}
		})
	}
}

// A stop does not wait for the file being read: Check returns at once
// when ctx is cancelled even if the reading goroutine is stuck.
func TestFixityRecvLineStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	lines := make(chan Line) // nobody ever sends: a read stuck in the kernel
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	done := make(chan bool, 1)
	go func() { _, ok := recvLine(ctx, lines); done <- ok }()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("recvLine returned a line from nowhere")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("recvLine waited on a stuck reader after the stop")
	}
}
