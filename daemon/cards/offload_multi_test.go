package cards

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/cards/ascmhl"
	"github.com/ingestd/ingestd/internal/testutil"
)

// multiCard is a loop-mounted ext4 card with a few MiB of clips.
func multiCard(t *testing.T) *ext4Card {
	t.Helper()
	card := newExt4Card(t, "64m", "MULTI")
	writeTree(t, card.Dir, map[string]string{
		"DCIM/100GOPRO/GX010001.MP4": "rand:3000000",
		"DCIM/100GOPRO/GX010002.MP4": "rand:3000000",
		"DCIM/100GOPRO/GX010003.MP4": "rand:2000000",
		"DCIM/100GOPRO/GX010004.MP4": "rand:1000",
		"MISC/version.txt":           "v1",
	})
	return card
}

func mhlGenerations(t *testing.T, dst string) []string {
	t.Helper()
	h, err := ascmhl.Open(dst)
	if err != nil {
		t.Fatalf("open history of %s: %v", dst, err)
	}
	var out []string
	for _, g := range h.Generations {
		out = append(out, g.FileName)
	}
	return out
}

func checkVerifiedCopy(t *testing.T, card, dst string) {
	t.Helper()
	sameTree(t, card, dst)
	noLeftovers(t, dst)
	if rep, err := ascmhl.Verify(context.Background(), dst); err != nil || !rep.OK() {
		t.Fatalf("ascmhl verify %s: %v %s", dst, err, rep)
	}
	refVerify(t, dst)
}

// The card is read once and lands, verified, in two destinations, each
// with its own ascmhl/ history.
func TestOffloadMultiTwoDestinations(t *testing.T) {
	card := multiCard(t)
	a := filepath.Join(testutil.MountTmpfs(t, "32m"), "2026-02-01", "MULTI")
	b := filepath.Join(testutil.MountTmpfs(t, "32m"), "shuttle", "MULTI")
	var reads atomic.Int64
	var last Progress
	res, err := OffloadMulti(context.Background(), card.Dir, []Destination{{Name: "raid", Dir: a}, {Name: "shuttle", Dir: b}}, Options{
		SourceReader: func(_ string, f *os.File) io.ReadCloser { return &countingReader{f: f, n: &reads} },
		Progress:     func(p Progress) { last = p },
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := reads.Load(); got != res.Bytes {
		t.Fatalf("card bytes read %d, card has %d: read more than once", got, res.Bytes)
	}
	if len(res.Dests) != 2 || res.Dests[0].State != DestVerified || res.Dests[1].State != DestVerified {
		t.Fatalf("dests %+v", res.Dests)
	}
	for _, d := range res.Dests {
		if d.Generation == "" || d.Copied != res.Bytes {
			t.Fatalf("dest %+v (card %d bytes)", d, res.Bytes)
		}
	}
	checkVerifiedCopy(t, card.Dir, a)
	checkVerifiedCopy(t, card.Dir, b)
	if len(mhlGenerations(t, a)) != 1 || len(mhlGenerations(t, b)) != 1 {
		t.Fatalf("generations %v %v", mhlGenerations(t, a), mhlGenerations(t, b))
	}
	if len(last.Dests) != 2 || last.Dests[1].Name != "shuttle" || last.Dests[1].BytesVerified != res.Bytes || last.Dests[1].State != DestVerified {
		t.Fatalf("last progress %+v", last)
	}
}

type countingReader struct {
	f *os.File
	n *atomic.Int64
}

func (r *countingReader) Read(b []byte) (int, error) {
	n, err := r.f.Read(b)
	r.n.Add(int64(n))
	return n, err
}
func (r *countingReader) Close() error { return r.f.Close() }

// One destination is a tmpfs too small for the card: it fails on its own
// (destination full, reported for it) while the other is verified; then it
// is filled from the verified copy, without the card, and verified too.
func TestOffloadMultiOneDestinationFullThenCascade(t *testing.T) {
	card := multiCard(t)
	a := filepath.Join(testutil.MountTmpfs(t, "32m"), "MULTI")
	smallVol := testutil.MountTmpfs(t, "4m")
	b := filepath.Join(smallVol, "MULTI")
	res, err := OffloadMulti(context.Background(), card.Dir, []Destination{{Name: "raid", Dir: a}, {Name: "small", Dir: b}}, Options{})
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("err %v, want the small destination's ErrNoSpace", err)
	}
	if res.Dests[0].State != DestVerified || res.Dests[1].State != DestFailed || !errors.Is(res.Dests[1].Err, ErrNoSpace) ||
		res.Dests[1].FailedPath == "" || !strings.Contains(res.Dests[1].Reason, "destination full") {
		t.Fatalf("dests %+v", res.Dests)
	}
	if res.Status != StatusFailed {
		t.Fatalf("status %s with a destination failed", res.Status)
	}
	checkVerifiedCopy(t, card.Dir, a)
	if ascmhl.Exists(b) {
		t.Fatal("the failed destination has an ascmhl history")
	}

	// The card goes away; the small volume grows; cascade from a.
	card.Pull()
	testutil.Run(t, "mount", "-o", "remount,size=32m", smallVol)
	cres, err := Offload(context.Background(), a, b, Options{DestRoot: smallVol})
	if err != nil {
		t.Fatalf("cascade: %v", err)
	}
	if !cres.CardHistory || cres.Dests[0].State != DestVerified {
		t.Fatalf("cascade result %+v", cres)
	}
	card.Insert()
	checkVerifiedCopy(t, card.Dir, b)
	// b's history: a's generation (card -> a) then its own (a -> b).
	if g := mhlGenerations(t, b); len(g) != 2 {
		t.Fatalf("cascaded history %v", g)
	}
}

// A copy damaged on the verified destination is not passed on: the
// cascade checks every file against that copy's history.
func TestOffloadMultiCascadeChecksSource(t *testing.T) {
	card := multiCard(t)
	a := filepath.Join(testutil.MountTmpfs(t, "32m"), "MULTI")
	if _, err := Offload(context.Background(), card.Dir, a, Options{}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(a, "DCIM/100GOPRO/GX010002.MP4")
	fi, _ := os.Stat(p)
	data, _ := os.ReadFile(p)
	data[1000] ^= 1
	os.WriteFile(p, data, 0o644)
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	vol := testutil.MountTmpfs(t, "32m")
	_, err := Offload(context.Background(), a, filepath.Join(vol, "MULTI"), Options{DestRoot: vol})
	if !errors.Is(err, ErrHistory) {
		t.Fatalf("cascade from a damaged copy: %v", err)
	}
}

type slowWriter struct {
	w     io.Writer
	delay time.Duration
}

func (s slowWriter) Write(b []byte) (int, error) {
	time.Sleep(s.delay)
	return s.w.Write(b)
}

// A destination far slower than the card is dropped from the pass after
// the bounded queue stays full for StallTimeout: the fast one finishes at
// card speed, the slow one is reported (fell behind) and filled later.
func TestOffloadMultiSlowDestinationDropped(t *testing.T) {
	card := multiCard(t)
	a := filepath.Join(testutil.MountTmpfs(t, "32m"), "MULTI")
	vol := testutil.MountTmpfs(t, "32m")
	b := filepath.Join(vol, "MULTI")
	start := time.Now()
	res, err := OffloadMulti(context.Background(), card.Dir, []Destination{{Name: "fast", Dir: a}, {Name: "slow", Dir: b}}, Options{
		BufferSize: 64 << 10, QueueBlocks: 8, StallTimeout: 200 * time.Millisecond,
		DestWriter: func(name, _ string, w io.Writer) io.Writer {
			if name == "slow" {
				return slowWriter{w, 100 * time.Millisecond}
			}
			return w
		},
	})
	took := time.Since(start)
	if !errors.Is(err, ErrFellBehind) {
		t.Fatalf("err %v", err)
	}
	// 9 MB in 64 KiB blocks at 100 ms each would take 14 s at the slow one.
	if took > 6*time.Second {
		t.Fatalf("the slow destination held the card pass: %s", took)
	}
	if res.Dests[0].State != DestVerified || res.Dests[1].State != DestFailed || !res.Dests[1].Dropped {
		t.Fatalf("dests %+v", res.Dests)
	}
	checkVerifiedCopy(t, card.Dir, a)
	if _, err := Offload(context.Background(), a, b, Options{DestRoot: vol}); err != nil {
		t.Fatalf("cascade: %v", err)
	}
	checkVerifiedCopy(t, card.Dir, b)
}

// An offload interrupted mid-way (daemon stopped) resumes at every
// destination: files verified before are not copied again.
func TestOffloadMultiResume(t *testing.T) {
	card := multiCard(t)
	a := filepath.Join(testutil.MountTmpfs(t, "32m"), "MULTI")
	b := filepath.Join(testutil.MountTmpfs(t, "32m"), "MULTI")
	ctx, cancel := context.WithCancel(context.Background())
	dsts := []Destination{{Name: "a", Dir: a}, {Name: "b", Dir: b}}
	_, err := OffloadMulti(ctx, card.Dir, dsts, Options{AfterCopy: func(rel, _ string) {
		if rel == "DCIM/100GOPRO/GX010002.MP4" {
			cancel()
		}
	}, Logger: slog.New(slog.DiscardHandler)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted: %v", err)
	}
	for _, d := range []string{a, b} {
		if _, err := os.Stat(filepath.Join(d, StateName)); err != nil {
			t.Fatalf("no progress file at %s: %v", d, err)
		}
	}
	res, err := OffloadMulti(context.Background(), card.Dir, dsts, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed < 1 || res.Copied >= res.Bytes || res.Dests[0].Resumed < 1 || res.Dests[1].Resumed < 1 {
		t.Fatalf("resume %+v", res)
	}
	checkVerifiedCopy(t, card.Dir, a)
	checkVerifiedCopy(t, card.Dir, b)
}
