package watch

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/storage"
)

func TestIgnoreMatch(t *testing.T) {
	ig, err := NewIgnore([]string{"*.tmp", "/renders/*", "proxy?"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		rel  string
		skip bool
	}{
		{"clip.mov", false},
		{".hidden", true},
		{"a/.DS_Store", true},
		{"._clip.mov", true},
		{MarkerName, true},
		{"Thumbs.db", true},
		{"desktop.ini", true},
		{"x.part", true},
		{"x.partial", true},
		{"x.crdownload", true},
		{"card/A001C003.MXF.ingestd-partial", true},
		{"card/.ingestd-offload.json", true},
		{"@eaDir/a.jpg", true},
		{"share/#recycle/a.mov", true},
		{"#snapshot/a", true},
		{"$RECYCLE.BIN/a", true},
		{"lost+found/a", true},
		{".Trashes/501/a", true},
		{"a.tmp", true},
		{"sub/a.tmp", true},
		{"tmp.mov", false},
		{"renders/a.mov", true},
		{"sub/renders/a.mov", false},
		{"proxy1/a.mov", true},
		{"proxy12/a.mov", false},
		{"part", false},
	}
	for _, c := range cases {
		if got := ig.MatchPath(c.rel); got != c.skip {
			t.Errorf("MatchPath(%q) = %v, want %v", c.rel, got, c.skip)
		}
	}
	if _, err := NewIgnore([]string{"[oops"}); err == nil || !strings.Contains(err.Error(), "[oops") {
		t.Errorf("bad glob: %v", err)
	}
}

func TestWalk(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	testutil.WriteFile(t, filepath.Join(outside, "o.mov"), "o")
	files := []string{"a.mov", "d1/b.mov", "d1/d2/c.mov", "e\u0301.mov", "n\nl.mov", strings.Repeat("x", 255)}
	for _, f := range files {
		testutil.WriteFile(t, filepath.Join(root, f), f)
	}
	testutil.WriteFile(t, filepath.Join(root, ".DS_Store"), "skip")
	testutil.WriteFile(t, filepath.Join(root, "@eaDir/t.jpg"), "skip")
	os.Symlink(outside, filepath.Join(root, "out"))
	os.Symlink("..", filepath.Join(root, "d1/loop"))
	os.Symlink("a.mov", filepath.Join(root, "link.mov"))
	unix.Mkfifo(filepath.Join(root, "fifo"), 0o644)

	var got, dirs []string
	err := Walk(root, "", nil, WalkFuncs{
		Dir: func(rel string) error { dirs = append(dirs, rel); return nil },
		File: func(e Entry) {
			got = append(got, e.Rel)
			fi, _ := os.Lstat(filepath.Join(root, e.Rel))
			st := fi.Sys().(*syscall.Stat_t)
			if e.Size != fi.Size() || e.MTime != fi.ModTime().UnixNano() || e.Ino != st.Ino {
				t.Errorf("%q: entry %+v, stat size %d mtime %d ino %d", e.Rel, e, fi.Size(), fi.ModTime().UnixNano(), st.Ino)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	sort.Strings(files)
	if strings.Join(got, "|") != strings.Join(files, "|") {
		t.Errorf("walk found %q, want %q", got, files)
	}
	sort.Strings(dirs)
	if strings.Join(dirs, "|") != "|d1|d1/d2" {
		t.Errorf("dirs %q", dirs)
	}
	if err := Walk(filepath.Join(root, "missing"), "", nil, WalkFuncs{}); err == nil {
		t.Error("walk of a missing root: want error")
	}
	// NoStat: the same files (no link, FIFO or ignored file), unstat'ed.
	got = got[:0]
	err = Walk(root, "", nil, WalkFuncs{NoStat: true, File: func(e Entry) {
		got = append(got, e.Rel)
		if !e.NoStat || e.Ino != 0 || e.Size != 0 || e.CTime != 0 {
			t.Errorf("%q: entry %+v, want only the name", e.Rel, e)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	if strings.Join(got, "|") != strings.Join(files, "|") {
		t.Errorf("walk without stats found %q, want %q", got, files)
	}
}

func TestVerifyAndAdopt(t *testing.T) {
	root := t.TempDir()
	if _, reason := Verify(filepath.Join(root, "nope"), storage.Volume{Marker: "x"}); !strings.HasPrefix(reason, "root missing") {
		t.Errorf("missing root: %q", reason)
	}
	testutil.WriteFile(t, filepath.Join(root, "file"), "")
	if _, reason := Verify(filepath.Join(root, "file"), storage.Volume{Marker: "x"}); !strings.Contains(reason, "not a directory") {
		t.Errorf("file root: %q", reason)
	}
	vol := filepath.Join(root, "vol")
	os.Mkdir(vol, 0o755)
	marker, dev, note, err := Adopt(vol)
	if err != nil || marker == "" || dev == 0 || note != "marker written" {
		t.Fatalf("adopt: %q %d %q %v", marker, dev, note, err)
	}
	rec := storage.Volume{Marker: marker, Dev: dev}
	if _, reason := Verify(vol, rec); reason != "" {
		t.Errorf("adopted volume offline: %q", reason)
	}
	if m2, _, note, _ := Adopt(vol); m2 != marker || note != "existing marker kept" {
		t.Errorf("re-adopt replaced the marker: %q %q", m2, note)
	}
	if _, reason := Verify(vol, storage.Volume{Marker: "other", Dev: dev}); !strings.HasPrefix(reason, "replaced") {
		t.Errorf("foreign marker: %q", reason)
	}
	os.Remove(filepath.Join(vol, MarkerName))
	if _, reason := Verify(vol, rec); !strings.Contains(reason, "missing") {
		t.Errorf("marker gone: %q", reason)
	}
	// A marker that is a link does not count.
	os.Symlink(filepath.Join(root, "file"), filepath.Join(vol, MarkerName))
	if _, reason := Verify(vol, rec); reason == "" {
		t.Error("a linked marker was accepted")
	}
	os.Remove(filepath.Join(vol, MarkerName))

	// Identity by device and root inode when no marker can be written.
	var st unix.Stat_t
	unix.Stat(vol, &st)
	irec := storage.Volume{Marker: inodeIdentity(uint64(st.Dev), st.Ino), Dev: uint64(st.Dev)}
	if _, reason := Verify(vol, irec); reason != "" {
		t.Errorf("inode identity: %q", reason)
	}
	os.Rename(vol, vol+".old")
	os.Mkdir(vol, 0o755)
	if _, reason := Verify(vol, irec); !strings.HasPrefix(reason, "replaced") {
		t.Errorf("replaced dir with inode identity: %q", reason)
	}
}

// Adopt refuses an empty mount point that fstab lists but that is not
// mounted: the NAS is simply not there yet.
func TestAdoptRefusesUnmountedFstabEntry(t *testing.T) {
	root := t.TempDir()
	mp := filepath.Join(root, "mnt nas")
	os.Mkdir(mp, 0o755)
	fstab := filepath.Join(root, "fstab")
	testutil.WriteFile(t, fstab, "# comment\nnas:/footage "+strings.ReplaceAll(mp, " ", `\040`)+" nfs defaults 0 0\n")
	old := FstabPath
	FstabPath = fstab
	defer func() { FstabPath = old }()
	if _, _, _, err := Adopt(mp); err == nil || !strings.Contains(err.Error(), "not mounted") {
		t.Fatalf("adopt of an unmounted fstab mount point: %v", err)
	}
	if _, err := os.Stat(filepath.Join(mp, MarkerName)); err == nil {
		t.Fatal("marker written into the bare mount point")
	}
}

// New directories are watched and listed at once: files created right
// after mkdir (before a watch could exist) are reported; Chmod is not;
// removals are.
func TestWatcherNewDirectoriesAndRemovals(t *testing.T) {
	root := t.TempDir()
	w, err := NewWatcher(root, nil, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := Walk(root, "", nil, WalkFuncs{Dir: w.AddDir}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	changed, gone := map[string]int{}, map[string]int{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx, Handler{
		Changed: func(e Entry) { mu.Lock(); changed[e.Rel]++; mu.Unlock() },
		Gone:    func(rel string) { mu.Lock(); gone[rel]++; mu.Unlock() },
	})
	testutil.WriteFile(t, filepath.Join(root, "a/b/c/deep.mov"), "x") // MkdirAll then the file, at once
	for i := 0; i < 50; i++ {                                         // a burst on one file
		f, _ := os.OpenFile(filepath.Join(root, "burst.mov"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		f.Write([]byte("y"))
		f.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		ok := changed["a/b/c/deep.mov"] > 0 && changed["burst.mov"] > 0
		mu.Unlock()
		if ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	if changed["a/b/c/deep.mov"] == 0 || changed["burst.mov"] == 0 {
		t.Fatalf("changed %v", changed)
	}
	if n := changed["burst.mov"]; n > 10 {
		t.Errorf("burst of 50 writes reported %d times, want it collapsed", n)
	}
	mu.Unlock()
	if w.Watches() != 4 {
		t.Errorf("watches %d, want 4", w.Watches())
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	before := changed["burst.mov"]
	mu.Unlock()
	os.Chmod(filepath.Join(root, "burst.mov"), 0o600)
	os.Remove(filepath.Join(root, "a/b/c/deep.mov"))
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if gone["a/b/c/deep.mov"] != 1 {
		t.Errorf("gone %v", gone)
	}
	if changed["burst.mov"] != before {
		t.Errorf("chmod was reported as a change")
	}
}

// A kernel queue overflow (events lost while the reader was busy) is
// reported so the caller rescans.
func TestWatcherOverflowReported(t *testing.T) {
	var max int
	if b, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events"); err == nil {
		fmt.Sscan(string(b), &max)
	}
	if max == 0 || max > 100000 {
		t.Skipf("max_queued_events %d: too large to overflow in a test", max)
	}
	root := t.TempDir()
	w, err := NewWatcher(root, nil, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.AddDir("")
	release := make(chan struct{})
	overflow := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	w.window = time.Millisecond
	go w.Run(ctx, Handler{
		Changed:  func(Entry) { once.Do(func() { <-release }) }, // the reader is stuck
		Overflow: func() { overflow <- struct{}{} },
	})
	// More events than the kernel queue and fsnotify's buffer hold.
	for i := 0; i < max+4096+1000; i++ {
		f, err := os.Create(filepath.Join(root, fmt.Sprintf("f%06d", i)))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		if i == 0 {
			time.Sleep(50 * time.Millisecond) // let the first flush block
		}
	}
	close(release)
	select {
	case <-overflow:
	case <-time.After(20 * time.Second):
		t.Fatal("overflow not reported")
	}
}

// TestWalkWorkers: a walk with several workers, or with its files in
// batches (Files), finds what a walk of one does: the same files with the
// same stats, every directory once (before its files), unreadable
// directories reported, links, FIFOs and ignored names left out; an error
// from Dir stops it; the start directory's error is the walk's.
func TestWalkWorkers(t *testing.T) {
	root := t.TempDir()
	var want []string
	for d := range 12 {
		for s := range 3 {
			for f := range 5 {
				p := fmt.Sprintf("d%02d/s%d/f%d.mov", d, s, f)
				testutil.WriteFile(t, filepath.Join(root, p), p)
				want = append(want, p)
			}
		}
	}
	for f := range 300 { // more than one Files batch in one directory
		p := fmt.Sprintf("big/f%03d.mov", f)
		testutil.WriteFile(t, filepath.Join(root, p), p)
		want = append(want, p)
	}
	testutil.WriteFile(t, filepath.Join(root, "d00/.DS_Store"), "skip")
	os.Symlink("..", filepath.Join(root, "d01/loop"))
	unix.Mkfifo(filepath.Join(root, "d02/fifo"), 0o644)
	sort.Strings(want)

	type result struct {
		files, dirs []string
	}
	walk := func(t *testing.T, workers int, batched bool) result {
		var mu sync.Mutex
		var r result
		seenDir := map[string]bool{}
		file := func(e Entry) {
			fi, err := os.Lstat(filepath.Join(root, e.Rel))
			if err != nil || e.Size != fi.Size() || e.Ino != fi.Sys().(*syscall.Stat_t).Ino {
				t.Errorf("%q: entry %+v, stat %v", e.Rel, e, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if dir := filepath.Dir(e.Rel); !seenDir[dir] {
				t.Errorf("%q handed over before Dir(%q)", e.Rel, dir)
			}
			r.files = append(r.files, e.Rel)
		}
		fn := WalkFuncs{
			Workers: workers,
			Dir: func(rel string) error {
				mu.Lock()
				defer mu.Unlock()
				if rel == "" {
					rel = "."
				}
				if seenDir[rel] {
					t.Errorf("Dir(%q) twice", rel)
				}
				seenDir[rel] = true
				r.dirs = append(r.dirs, rel)
				return nil
			},
		}
		if batched {
			fn.Files = func(es []Entry) {
				if len(es) == 0 || len(es) > filesBatch {
					t.Errorf("a batch of %d files", len(es))
				}
				for _, e := range es {
					file(e)
				}
			}
		} else {
			fn.File = file
		}
		if err := Walk(root, "", nil, fn); err != nil {
			t.Fatal(err)
		}
		sort.Strings(r.files)
		sort.Strings(r.dirs)
		return r
	}
	base := walk(t, 1, false)
	if strings.Join(base.files, "|") != strings.Join(want, "|") {
		t.Fatalf("one worker found %d files, want %d", len(base.files), len(want))
	}
	for _, tc := range []struct {
		workers int
		batched bool
	}{{1, true}, {2, false}, {4, false}, {4, true}, {16, true}} {
		t.Run(fmt.Sprintf("workers=%d,batched=%v", tc.workers, tc.batched), func(t *testing.T) {
			for range 5 { // the goroutines interleave differently each time
				got := walk(t, tc.workers, tc.batched)
				if strings.Join(got.files, "|") != strings.Join(base.files, "|") {
					t.Fatalf("found %d files, one worker %d", len(got.files), len(base.files))
				}
				if strings.Join(got.dirs, "|") != strings.Join(base.dirs, "|") {
					t.Fatalf("dirs %q, one worker %q", got.dirs, base.dirs)
				}
			}
		})
	}

	t.Run("a directory that cannot be read", func(t *testing.T) {
		var mu sync.Mutex
		var failed []string
		var n int
		err := Walk(root, "", nil, WalkFuncs{
			Workers: 4,
			Dir: func(rel string) error {
				if rel == "d03" { // listed by the parent, gone when opened
					os.RemoveAll(filepath.Join(root, "d03"))
				}
				return nil
			},
			File: func(Entry) { mu.Lock(); n++; mu.Unlock() },
			DirError: func(rel string, err error) {
				mu.Lock()
				failed = append(failed, rel)
				mu.Unlock()
			},
		})
		if err != nil || len(failed) != 1 || failed[0] != "d03" || n != len(want)-15 {
			t.Fatalf("walk: %v, dir errors %q, %d files (want %d)", err, failed, n, len(want)-15)
		}
	})

	t.Run("Dir's error stops the walk", func(t *testing.T) {
		stop := fmt.Errorf("stop")
		var mu sync.Mutex
		dirs := 0
		err := Walk(root, "", nil, WalkFuncs{
			Workers: 4,
			Dir: func(rel string) error {
				mu.Lock()
				defer mu.Unlock()
				if dirs++; dirs > 5 {
					return stop
				}
				return nil
			},
		})
		if err != stop || dirs > 5+4 {
			t.Fatalf("walk: %v after %d dirs; want the Dir error after 6, and at most a directory more per worker", err, dirs)
		}
	})

	if err := Walk(filepath.Join(root, "missing"), "", nil, WalkFuncs{Workers: 4}); err == nil {
		t.Error("walk of a missing root with 4 workers: want error")
	}
}
