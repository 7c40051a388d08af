package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWriteFile: the new content under the name, the exact mode whatever
// the umask, no temporary file left, and a symlink at the name replaced,
// never written through.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	for i, body := range []string{"first", "second, longer than the first", "3"} {
		if err := WriteFile(p, []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		fi, _ := os.Stat(p)
		if err != nil || string(b) != body || fi.Mode().Perm() != 0o640 {
			t.Fatalf("write %d: %q %v mode %v", i, b, err, fi.Mode())
		}
		onlyNames(t, dir, "state.json")
	}
	target := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(target, []byte("not mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "not mine" {
		t.Fatalf("written through the symlink: %q", b)
	}
	if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("name is not a regular file now: %v %v", fi, err)
	}
	// A relative name in the working directory.
	t.Chdir(dir)
	if err := WriteFile("rel", []byte("r"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "rel")); string(b) != "r" {
		t.Fatalf("relative: %q", b)
	}
}

// TestWriteOrder: the steps happen in the order that makes a power cut
// safe: the data is fsynced before the rename, and the directory after it.
func TestWriteOrder(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cursor.json")
	var steps []string
	oldSync, oldRename := fsync, rename
	t.Cleanup(func() { fsync, rename = oldSync, oldRename })
	fsync = func(f *os.File) error {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if fi.IsDir() {
			steps = append(steps, "sync dir "+f.Name())
		} else {
			b, _ := os.ReadFile(f.Name())
			steps = append(steps, fmt.Sprintf("sync file %q", b))
		}
		return oldSync(f)
	}
	rename = func(from, to string) error {
		if filepath.Dir(from) != dir || !strings.HasPrefix(filepath.Base(from), ".cursor.json.tmp") {
			t.Errorf("temporary %s: want a hidden name in %s", from, dir)
		}
		steps = append(steps, "rename to "+filepath.Base(to))
		return oldRename(from, to)
	}
	if err := WriteFile(p, []byte("v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []string{`sync file "v1"`, "rename to cursor.json", "sync dir " + dir}
	if strings.Join(steps, "|") != strings.Join(want, "|") {
		t.Fatalf("steps %q, want %q", steps, want)
	}
}

// TestWriteFailureKeepsOld: a failing write, fsync or rename leaves the
// old content and no temporary file, and says which file.
func TestWriteFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "identity.json")
	if err := WriteFile(p, []byte("old"), 0o640); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk on fire")
	oldSync, oldRename := fsync, rename
	t.Cleanup(func() { fsync, rename = oldSync, oldRename })
	for name, fail := range map[string]func(){
		"fill":   func() {},
		"fsync":  func() { fsync = func(*os.File) error { return boom } },
		"rename": func() { rename = func(string, string) error { return boom } },
	} {
		fsync, rename = oldSync, oldRename
		fail()
		err := Write(p, 0o640, func(f *os.File) error {
			if _, err := f.Write([]byte("half of the new")); err != nil {
				return err
			}
			if name == "fill" {
				return boom
			}
			return nil
		})
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: err %v, want %v naming %s", name, err, boom, p)
		}
		if b, _ := os.ReadFile(p); string(b) != "old" {
			t.Errorf("%s: file now %q", name, b)
		}
		onlyNames(t, dir, "identity.json")
	}
}

// TestKilledWriterLeavesOldOrNew: a writer killed (SIGKILL) at any moment
// leaves the name holding one whole version, never a partial or mixed
// file. The writer is this test binary re-executed, rewriting the file in
// a loop with versions of different lengths.
func TestKilledWriterLeavesOldOrNew(t *testing.T) {
	if p := os.Getenv("ATOMICFILE_TEST_WRITER"); p != "" {
		for i := 0; ; i++ {
			if err := WriteFile(p, version(i%3), 0o600); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
		}
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "state")
	if err := WriteFile(p, version(2), 0o600); err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for round := 0; round < 20; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriterLeavesOldOrNew$")
		cmd.Env = append(os.Environ(), "ATOMICFILE_TEST_WRITER="+p)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+round*7) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err == nil {
			t.Fatal("writer exited by itself")
		} else if ee := (*exec.ExitError)(nil); errors.As(err, &ee) && ee.ExitCode() == 2 {
			t.Fatalf("writer failed: %v", err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		v := -1
		for i := range 3 {
			if bytes.Equal(b, version(i)) {
				v = i
			}
		}
		if v < 0 {
			t.Fatalf("round %d: %d bytes, not one whole version", round, len(b))
		}
		seen[v] = true
	}
	// Temporary files a kill left behind are hidden and never the name.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != "state" && !strings.HasPrefix(e.Name(), ".state.tmp") {
			t.Errorf("unexpected %s", e.Name())
		}
	}
	t.Logf("versions seen after kills: %v", seen)
}

// version i is 256 KiB·(i+1) of one byte value: a torn or mixed write is
// visible as a wrong length or a foreign byte.
func version(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, 256<<10*(i+1)) }

func onlyNames(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("%s holds %v, want %v", dir, got, names)
	}
}
