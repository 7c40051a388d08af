package cards

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/internal/testutil"
)

// loopSectorsRead is what the kernel counts as read from the card's loop
// device (512-byte sectors, /sys/block/loopN/stat).
func loopSectorsRead(t *testing.T, mnt string) int64 {
	t.Helper()
	out, err := exec.Command("findmnt", "-n", "-o", "SOURCE", mnt).Output()
	if err != nil {
		t.Fatalf("findmnt %s: %v", mnt, err)
	}
	dev := filepath.Base(strings.TrimSpace(string(out)))
	data, err := os.ReadFile(filepath.Join("/sys/block", dev, "stat"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(data))
	n, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		t.Fatalf("%s stat %q: %v", dev, data, err)
	}
	return n
}

// dropCardCache syncs the card and drops its files' pages: what is read
// next comes from the card's device.
func dropCardCache(t *testing.T, dir string) {
	t.Helper()
	testutil.Run(t, "sync", "-f", dir)
	evictFiles(dir)
}

// evictFiles drops the cached pages of every regular file below dir (clean
// pages only: sync first when they may be dirty).
func evictFiles(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if f, err := os.Open(p); err == nil {
				unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
				f.Close()
			}
		}
		return nil
	})
}

// tmpfsDestPair returns folders named name on two tmpfs mounts of their own.
func tmpfsDestPair(t *testing.T, name string) (string, string) {
	t.Helper()
	return filepath.Join(testutil.MountTmpfs(t, "64m"), name), filepath.Join(testutil.MountTmpfs(t, "64m"), name)
}

// The card read fetches each card byte from the card's device once for
// two destinations, as the kernel counts it, and neither the card nor a
// copy is ever mapped (cardread.go says why), read or re-read.
func TestOffloadMultiReadsCardOnce(t *testing.T) {
	card := newExt4Card(t, "96m", "ONCE")
	writeTree(t, card.Dir, map[string]string{
		"CLIP/C0001.MP4": "rand:20000000",
		"CLIP/C0002.MP4": "rand:9000000",
		"CLIP/C0003.MP4": "rand:4097",
	})
	a, b := tmpfsDestPair(t, "ONCE")
	dropCardCache(t, card.Dir)
	before := loopSectorsRead(t, card.Dir)
	mapped := watchMappings(t, card.Dir, a, b)
	res, err := OffloadMulti(context.Background(), card.Dir, []Destination{{Name: "a", Dir: a}, {Name: "b", Dir: b}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m := mapped(); len(m) > 0 {
		t.Errorf("files mapped during the pass (%d times), e.g. %s", len(m), m[0])
	}
	read := (loopSectorsRead(t, card.Dir) - before) * 512
	if res.Bytes != 20000000+9000000+4097 {
		t.Fatalf("offloaded %d bytes", res.Bytes)
	}
	// Folders, inodes and readahead past a file's end come on top of the
	// files; a second read of the clips would double it.
	if read < res.Bytes || read > res.Bytes+res.Bytes/4 {
		t.Fatalf("card device read %d bytes for %d bytes of files (want each once)", read, res.Bytes)
	}
	checkVerifiedCopy(t, card.Dir, a)
	checkVerifiedCopy(t, card.Dir, b)
}

// watchMappings reads /proc/self/maps until the returned function is
// called, which returns each mapping seen of a file below one of dirs.
func watchMappings(t *testing.T, dirs ...string) func() []string {
	t.Helper()
	stop := make(chan struct{})
	done := make(chan []string)
	go func() {
		var seen []string
		for {
			data, err := os.ReadFile("/proc/self/maps")
			if err != nil {
				t.Error(err)
			}
			for _, line := range strings.Split(string(data), "\n") {
				for _, d := range dirs {
					if strings.Contains(line, d+"/") {
						seen = append(seen, line)
					}
				}
			}
			select {
			case <-stop:
				done <- seen
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()
	return func() []string {
		close(stop)
		return <-done
	}
}

// A card file truncated while it is copied (as when a card is pulled or
// rewritten) fails the offload with a card read error: no destination
// verified, nothing left at the file's final name.
func TestOffloadCardFileTruncatedMidCopy(t *testing.T) {
	card := newExt4Card(t, "96m", "TRUNC")
	writeTree(t, card.Dir, map[string]string{
		"CLIP/C0001.MP4": "rand:30000000",
		"CLIP/C0002.MP4": "rand:1000",
	})
	victim := filepath.Join(card.Dir, "CLIP", "C0001.MP4")
	a := filepath.Join(testutil.MountTmpfs(t, "64m"), "TRUNC")
	b := filepath.Join(testutil.MountTmpfs(t, "64m"), "TRUNC")
	dropCardCache(t, card.Dir)
	var once atomic.Bool
	res, err := OffloadMulti(context.Background(), card.Dir, []Destination{{Name: "a", Dir: a}, {Name: "b", Dir: b}}, Options{
		DestWriter: func(_, rel string, w io.Writer) io.Writer {
			if rel != "CLIP/C0001.MP4" {
				return w
			}
			return writerFunc(func(p []byte) (int, error) {
				if once.CompareAndSwap(false, true) {
					if err := os.Truncate(victim, 0); err != nil {
						t.Error(err)
					}
				}
				return w.Write(p)
			})
		},
	})
	if err == nil {
		t.Fatalf("offload of a card file truncated mid-copy succeeded: %+v", res)
	}
	if !errors.Is(err, ErrReadSource) && !errors.Is(err, ErrSourceGone) {
		t.Fatalf("error %v, want a card read error", err)
	}
	if res.FailedPath != "CLIP/C0001.MP4" {
		t.Fatalf("failed path %q (%v)", res.FailedPath, err)
	}
	for _, d := range res.Dests {
		if d.State == DestVerified {
			t.Fatalf("destination %s verified from a truncated card file", d.Name)
		}
	}
	for _, dst := range []string{a, b} {
		if _, err := os.Stat(filepath.Join(dst, "CLIP", "C0001.MP4")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s: truncated clip at its final name (%v)", dst, err)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// The card is read ahead into the next file while one ends, but never
// into a file every destination holds as verified by an earlier run: a
// resumed offload reads from the card only what it copies.
func TestOffloadMultiReadaheadSkipsResumedFiles(t *testing.T) {
	card := newExt4Card(t, "96m", "AHEAD")
	writeTree(t, card.Dir, map[string]string{
		"CLIP/C0002.MP4": "rand:24000000",
		"CLIP/C0003.MP4": "rand:3000000",
		"CLIP/C0004.MP4": "rand:1000000",
	})
	a, b := tmpfsDestPair(t, "AHEAD")
	dsts := []Destination{{Name: "a", Dir: a}, {Name: "b", Dir: b}}
	ctx, cancel := context.WithCancel(context.Background())
	// Interrupted once C0002 is verified at both (AfterCopy: each file is
	// verified everywhere before the next is read).
	_, err := OffloadMulti(ctx, card.Dir, dsts, Options{AfterCopy: func(rel, _ string) {
		if rel == "CLIP/C0003.MP4" {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted: %v", err)
	}
	// A file sorted before it: the resumed C0002 is next after a copied one.
	writeTree(t, card.Dir, map[string]string{"CLIP/C0001.MP4": "rand:3000000"})
	dropCardCache(t, card.Dir)
	before := loopSectorsRead(t, card.Dir)
	res, err := OffloadMulti(context.Background(), card.Dir, dsts, Options{})
	if err != nil {
		t.Fatal(err)
	}
	read := (loopSectorsRead(t, card.Dir) - before) * 512
	if res.Dests[0].Resumed < 1 || res.Dests[1].Resumed < 1 || res.Copied < 4000000 || res.Copied > 7000000 {
		t.Fatalf("resume: %+v", res)
	}
	if read < res.Copied || read > res.Copied+8<<20 {
		t.Fatalf("card device read %d bytes to copy %d (the resumed file is 24 MB)", read, res.Copied)
	}
	checkVerifiedCopy(t, card.Dir, a)
	checkVerifiedCopy(t, card.Dir, b)
}

// writeBlocks writes a writer's gathered blocks with one writev, all of
// them in order, however they are cut.
func TestWriteBlocks(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	blocks := func(cuts ...int) []destOp {
		var ops []destOp
		for i := 0; i+1 < len(cuts); i++ {
			ops = append(ops, destOp{kind: opData, blk: &block{b: data[cuts[i]:cuts[i+1]], n: cuts[i+1] - cuts[i]}})
		}
		return ops
	}
	for _, cuts := range [][]int{
		{0, 3 << 20},
		{0, 1, 4097, 1 << 20, 2<<20 + 5, 3 << 20},
		{0, 256 << 10, 512 << 10, 3 << 20},
	} {
		out, err := os.Create(filepath.Join(dir, "copy"))
		if err != nil {
			t.Fatal(err)
		}
		n, err := writeBlocks(out, blocks(cuts...))
		out.Close()
		if err != nil || n != int64(len(data)) {
			t.Fatalf("cuts %v: wrote %d of %d bytes: %v", cuts, n, len(data), err)
		}
		got, err := os.ReadFile(out.Name())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("cuts %v: the copy differs from the blocks written", cuts)
		}
	}
	// A destination that refuses the write: its error, nothing counted
	// as written.
	ro, err := os.Open(filepath.Join(dir, "copy"))
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if n, err := writeBlocks(ro, blocks(0, 1<<20)); err == nil || n != 0 {
		t.Fatalf("write to a read-only descriptor: %d bytes, %v", n, err)
	}
}
