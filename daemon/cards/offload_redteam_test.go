package cards

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/cards/ascmhl"
	"github.com/ingestd/ingestd/internal/safefs"
	"github.com/ingestd/ingestd/internal/testutil"
)

// A destination on a read-only volume (a write-protected shuttle drive)
// fails on its own with a reason naming it, the other is verified, and
// nothing there is presented as verified (no history).
func TestOffloadMultiDestinationReadOnly(t *testing.T) {
	card := multiCard(t)
	a := filepath.Join(testutil.MountTmpfs(t, "32m"), "MULTI")
	roVol := testutil.MountTmpfs(t, "32m")
	testutil.Run(t, "mount", "-o", "remount,ro", roVol)
	t.Cleanup(func() { testutil.Run(t, "mount", "-o", "remount,rw", roVol) })
	b := filepath.Join(roVol, "MULTI")
	res, err := OffloadMulti(context.Background(), card.Dir, []Destination{{Name: "raid", Dir: a}, {Name: "shuttle", Dir: b, Root: roVol}}, Options{})
	if err == nil {
		t.Fatal("offload to a read-only destination succeeded")
	}
	if res.Status != StatusFailed || res.Dests[0].State != DestVerified || res.Dests[1].State != DestFailed ||
		!strings.Contains(res.Dests[1].Reason, "read-only") {
		t.Fatalf("status %s, dests %+v", res.Status, res.Dests)
	}
	checkVerifiedCopy(t, card.Dir, a)
	if ascmhl.Exists(b) {
		t.Fatal("the read-only destination has an ascmhl history")
	}
}

// procReadBytes is this process' rchar (bytes read by syscalls).
func procReadBytes(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("no /proc/self/io: %v", err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "rchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no rchar in /proc/self/io")
	return 0
}

// A card carrying many manifests that list the same files in a format not
// computed while copying (md5 here) has each copy read back once per
// format, not once per manifest (a hostile card with 256 manifests made
// the check read the whole card 256 times); every manifest still checks.
func TestCheckManifestsReadsEachCopyOnce(t *testing.T) {
	dst := t.TempDir()
	big := make([]byte, 8<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	sum := md5.Sum(big)
	line := hex.EncodeToString(sum[:]) + "  CLIP/A001C001.MXF\n"
	files := []FileResult{{Path: "CLIP/A001C001.MXF", Size: int64(len(big)), XXH128: "x", MHL: map[ascmhl.Format]string{}}}
	tree := map[string]string{"CLIP/A001C001.MXF": string(big)}
	const n = 20
	for i := 0; i < n; i++ {
		m := fmt.Sprintf("m%02d.md5", i)
		tree[m] = line
		files = append(files, FileResult{Path: m, MHL: map[ascmhl.Format]string{}})
	}
	ctWriteTree(t, dst, tree, nil)
	dir, err := safefs.OpenRoot(dst, true)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	before := procReadBytes(t)
	checks, err := checkManifests(context.Background(), slog.New(slog.DiscardHandler), dir, dst, files)
	read := procReadBytes(t) - before
	if err != nil || len(checks) != n {
		t.Fatalf("%d checks, %v", len(checks), err)
	}
	for _, c := range checks {
		if !c.OK || c.Matched != 1 {
			t.Errorf("%s: %+v", c.File, c)
		}
	}
	if read > 3*int64(len(big)) {
		t.Errorf("%d manifests listing one %d-byte file read %d bytes", n, len(big), read)
	}
}

// A card file written in place while it is copied (same size, new
// bytes) fails the offload with a card read error naming it: the copy
// would hold a mix of both versions, verified against itself.
func TestOffloadCardFileRewrittenInPlace(t *testing.T) {
	t.Run("mapped", func(t *testing.T) { testRewrittenInPlace(t, nil) })
	t.Run("read (read_mbps)", func(t *testing.T) {
		testRewrittenInPlace(t, func(_ string, f *os.File) io.ReadCloser { return f })
	})
}

func testRewrittenInPlace(t *testing.T, reader func(string, *os.File) io.ReadCloser) {
	src := filepath.Join(t.TempDir(), "card")
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(i)
	}
	ctWriteTree(t, src, map[string]string{"CLIP/A001C001.MXF": string(data), "CLIP/A001C002.MXF": "small"}, nil)
	p := filepath.Join(src, "CLIP/A001C001.MXF")
	var once sync.Once
	res, err := Offload(context.Background(), src, filepath.Join(t.TempDir(), "A001"), Options{
		BufferSize: 64 << 10, QueueBlocks: 8, SourceReader: reader,
		DestWriter: func(_, rel string, w io.Writer) io.Writer {
			if rel == "CLIP/A001C001.MXF" {
				once.Do(func() {
					f, err := os.OpenFile(p, os.O_WRONLY, 0)
					if err != nil {
						t.Error(err)
						return
					}
					time.Sleep(10 * time.Millisecond) // a new mtime on coarse clocks
					if _, err := f.WriteAt(make([]byte, len(data)), 0); err != nil {
						t.Error(err)
					}
					f.Close()
				})
			}
			return w
		},
	})
	if !errors.Is(err, ErrReadSource) || res.Status != StatusFailed || res.FailedPath != "CLIP/A001C001.MXF" || !strings.Contains(res.Reason, "written to while read") {
		t.Fatalf("err %v, status %s, failed %q, reason %q", err, res.Status, res.FailedPath, res.Reason)
	}
}
