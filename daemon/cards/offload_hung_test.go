package cards

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil"
)

// TestOffloadRereadHungMountKeepsDaemonAlive: a destination's server stops
// answering (a bindfs FUSE mount, its server SIGSTOPped) while a copy is
// re-read. The re-read must wait in a system call, not in a page fault of
// a mapping: a thread blocked in a fault keeps its P, and a garbage
// collection (which stops the world) would wait for it, freezing every
// goroutine of the daemon for as long as the share hangs. The server is
// resumed after 3 s by another process (this one may be the frozen one);
// meanwhile a collection must complete, and the offload then finishes
// with both copies verified.
func TestOffloadRereadHungMountKeepsDaemonAlive(t *testing.T) {
	nas, fuse := testutil.MountBindfs(t)
	card := t.TempDir()
	// Large enough that its re-read through FUSE is well under way when
	// the server stops.
	writeTree(t, card, map[string]string{"CLIP/C0001.MP4": "rand:100000000"})
	const hang = 3 * time.Second
	stopped := make(chan struct{})
	var once sync.Once
	var resume *exec.Cmd
	opts := Options{Logger: slog.New(slog.DiscardHandler), AfterCopy: func(rel, partial string) {
		if !strings.HasPrefix(partial, nas) {
			return
		}
		once.Do(func() {
			resume = exec.Command("sh", "-c", fmt.Sprintf("sleep %d; kill -CONT %d", int(hang.Seconds()), fuse.Pid))
			if err := resume.Start(); err != nil {
				t.Error(err)
				return
			}
			go func() {
				// The re-read starts once AfterCopy returns: stop the
				// server while its pages are being fetched.
				time.Sleep(30 * time.Millisecond)
				if err := fuse.Signal(syscall.SIGSTOP); err != nil {
					t.Error(err)
				}
				close(stopped)
			}()
		})
	}}
	local := filepath.Join(t.TempDir(), "LOCAL")
	remote := filepath.Join(nas, "NAS")
	type result struct {
		res Result
		err error
	}
	done := make(chan result, 1)
	t0 := time.Now()
	go func() {
		res, err := OffloadMulti(context.Background(), card, []Destination{{Name: "local", Dir: local}, {Name: "nas", Dir: remote}}, opts)
		done <- result{res, err}
	}()
	select {
	case <-stopped:
	case r := <-done:
		t.Fatalf("offload ended before the share hung: %v", r.err)
	}
	time.Sleep(300 * time.Millisecond)
	g0 := time.Now()
	runtime.GC() // stops the world
	gc := time.Since(g0)
	r := <-done
	took := time.Since(t0)
	if resume != nil {
		resume.Wait()
	}
	if r.err != nil {
		t.Fatalf("offload: %v", r.err)
	}
	if v := r.res.Verified(); len(v) != 2 {
		t.Fatalf("verified destinations: %+v", r.res.Dests)
	}
	checkVerifiedCopy(t, card, local)
	checkVerifiedCopy(t, card, remote)
	// The hang was felt (the re-read waited for the server) ...
	if took < hang-500*time.Millisecond {
		t.Fatalf("offload took %s: the re-read never waited for the stopped server (%s)", took, hang)
	}
	// ... by the re-read alone.
	if gc > hang/3 {
		t.Fatalf("a garbage collection took %s while the share hung: the re-read blocked the world", gc)
	}
}

// TestOffloadDestHungMidPassLeftBehind: a destination share that stops
// answering during the card pass (bindfs SIGSTOPped while a copy is
// re-read, and left stopped) does not hold the pass: within HangTimeout
// it is failed with ErrNotResponding and dropped, the other destination is
// verified with its ASC MHL, and OffloadMulti returns while the share
// still hangs. Once it answers again, a second pass verifies the copy
// there (what was left behind touches no name once it returns).
func TestOffloadDestHungMidPassLeftBehind(t *testing.T) {
	nas, fuse := testutil.MountBindfs(t)
	card := t.TempDir()
	writeTree(t, card, map[string]string{
		"CLIP/C0001.MP4": "rand:20000000",
		"CLIP/C0002.MP4": "rand:3000000",
		"CLIP/C0003.MP4": "rand:3000000",
	})
	var once sync.Once
	var stopped atomic.Bool
	opts := Options{Logger: slog.New(slog.DiscardHandler), HangTimeout: time.Second, AfterCopy: func(rel, partial string) {
		if strings.HasPrefix(partial, nas) {
			once.Do(func() {
				if err := fuse.Signal(syscall.SIGSTOP); err != nil {
					t.Error(err)
				}
				stopped.Store(true)
			})
		}
	}}
	defer func() {
		if stopped.Load() {
			fuse.Signal(syscall.SIGCONT)
		}
	}()
	local := filepath.Join(t.TempDir(), "LOCAL")
	remote := filepath.Join(nas, "NAS")
	done := make(chan struct{})
	var res Result
	var err error
	go func() {
		defer close(done)
		res, err = OffloadMulti(context.Background(), card, []Destination{{Name: "local", Dir: local}, {Name: "nas", Dir: remote}}, opts)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		fuse.Signal(syscall.SIGCONT)
		stopped.Store(false)
		<-done
		t.Fatalf("the pass waited for the hung share until it answered again")
	}
	if !stopped.Load() {
		t.Fatal("the share was never stopped")
	}
	if err == nil {
		t.Fatal("no error with a destination left behind")
	}
	if len(res.Dests) != 2 {
		t.Fatalf("dests: %+v", res.Dests)
	}
	l, n := res.Dests[0], res.Dests[1]
	if l.State != DestVerified || l.Generation == "" {
		t.Fatalf("local destination: %+v", l)
	}
	if n.State != DestFailed || !n.Dropped || !errors.Is(n.Err, ErrNotResponding) || !strings.Contains(n.Reason, "did not answer") {
		t.Fatalf("hung destination: %+v", n)
	}
	if len(res.Files) != 3 {
		t.Fatalf("files: %d", len(res.Files))
	}
	checkVerifiedCopy(t, card, local)

	// The share answers again: the next pass (the daemon's fill) starts
	// over what was left behind and verifies the copy.
	fuse.Signal(syscall.SIGCONT)
	stopped.Store(false)
	res2, err := OffloadMulti(context.Background(), card, []Destination{{Name: "nas", Dir: remote}}, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("offload again once the share answers: %v", err)
	}
	if res2.Dests[0].State != DestVerified {
		t.Fatalf("second pass: %+v", res2.Dests[0])
	}
	checkVerifiedCopy(t, card, remote)
}

// TestOffloadDestHungInResumeCheckLeftBehind: a pass resuming an earlier
// one re-reads the files that run verified; the share stops answering
// right before that (bindfs SIGSTOPped once the file before is read). The
// resume check runs on the pass's own goroutine's behalf, so it must be
// left behind too: the pass ends with the local copy verified, the share
// failed with ErrNotResponding.
func TestOffloadDestHungInResumeCheckLeftBehind(t *testing.T) {
	nas, fuse := testutil.MountBindfs(t)
	card := t.TempDir()
	writeTree(t, card, map[string]string{
		"CLIP/B.MP4": "rand:2000000",
		"CLIP/C.MP4": "rand:2000000",
	})
	remote := filepath.Join(nas, "NAS")
	quiet := slog.New(slog.DiscardHandler)
	// Pass 1, to the share only: B is verified there, C's read fails: the
	// pass fails and keeps its progress file for a resume.
	_, err := OffloadMulti(context.Background(), card, []Destination{{Name: "nas", Dir: remote}}, Options{Logger: quiet,
		SourceReader: func(rel string, f *os.File) io.ReadCloser {
			if strings.HasSuffix(rel, "C.MP4") {
				return &failingReader{r: f, after: 1000}
			}
			return f
		}})
	if !errors.Is(err, ErrReadSource) {
		t.Fatalf("first pass: %v", err)
	}
	if _, err := os.Stat(filepath.Join(remote, StateName)); err != nil {
		t.Fatalf("no progress file kept: %v", err)
	}
	// Pass 2: A (new, read first) then B, which the share holds verified.
	if err := os.Remove(filepath.Join(card, "CLIP", "C.MP4")); err != nil {
		t.Fatal(err)
	}
	writeTree(t, card, map[string]string{"CLIP/A.MP4": "rand:2000000"})
	var stopped atomic.Bool
	defer func() {
		if stopped.Load() {
			fuse.Signal(syscall.SIGCONT)
		}
	}()
	local := filepath.Join(t.TempDir(), "LOCAL")
	done := make(chan struct{})
	var res Result
	go func() {
		defer close(done)
		res, err = OffloadMulti(context.Background(), card, []Destination{{Name: "local", Dir: local}, {Name: "nas", Dir: remote}},
			Options{Logger: quiet, HangTimeout: time.Second, SourceReader: func(rel string, f *os.File) io.ReadCloser {
				if strings.HasSuffix(rel, "A.MP4") {
					return stopAtEOF{f, func() {
						if stopped.CompareAndSwap(false, true) {
							fuse.Signal(syscall.SIGSTOP)
						}
					}}
				}
				return f
			}})
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		fuse.Signal(syscall.SIGCONT)
		stopped.Store(false)
		<-done
		t.Fatal("the pass waited for the hung share's resume check until it answered again")
	}
	if !stopped.Load() {
		t.Fatal("the share was never stopped")
	}
	if len(res.Dests) != 2 || res.Dests[0].State != DestVerified || res.Dests[1].State != DestFailed || !errors.Is(res.Dests[1].Err, ErrNotResponding) {
		t.Fatalf("result: %v %+v", err, res.Dests)
	}
	checkVerifiedCopy(t, card, local)
}

// stopAtEOF calls stop when the file has been read to its end.
type stopAtEOF struct {
	f    *os.File
	stop func()
}

func (r stopAtEOF) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	if err == io.EOF {
		r.stop()
	}
	return n, err
}
func (r stopAtEOF) Close() error { return r.f.Close() }

// TestOffloadDestHungInManifestCheckLeftBehind: the card's checksum
// manifest (an .md5, a format not computed while copying) is checked by
// reading the copy back on the first destination, the share; it stops
// answering right after it was sealed. The check must be left behind with
// it and done on the next destination: the pass ends with the local copy
// verified and the manifest checked there, the share failed with
// ErrNotResponding.
func TestOffloadDestHungInManifestCheckLeftBehind(t *testing.T) {
	nas, fuse := testutil.MountBindfs(t)
	card := t.TempDir()
	writeTree(t, card, map[string]string{"CLIP/C0001.MP4": "rand:50000000"})
	data, err := os.ReadFile(filepath.Join(card, "CLIP", "C0001.MP4"))
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, card, map[string]string{"CARD.md5": fmt.Sprintf("%x  CLIP/C0001.MP4\n", md5.Sum(data))})
	var stopped atomic.Bool
	defer func() {
		if stopped.Load() {
			fuse.Signal(syscall.SIGCONT)
		}
	}()
	local := filepath.Join(t.TempDir(), "LOCAL")
	remote := filepath.Join(nas, "NAS")
	opts := Options{Logger: slog.New(slog.DiscardHandler), HangTimeout: time.Second, ProgressEvery: time.Millisecond,
		Progress: func(p Progress) {
			// The share is sealed (its MHL written): what reads it next
			// is the manifest check.
			if len(p.Dests) == 2 && p.Dests[0].State == DestVerified && stopped.CompareAndSwap(false, true) {
				if err := fuse.Signal(syscall.SIGSTOP); err != nil {
					t.Error(err)
				}
			}
		}}
	done := make(chan struct{})
	var res Result
	go func() {
		defer close(done)
		res, err = OffloadMulti(context.Background(), card, []Destination{{Name: "nas", Dir: remote}, {Name: "local", Dir: local}}, opts)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		fuse.Signal(syscall.SIGCONT)
		stopped.Store(false)
		<-done
		t.Fatal("the pass waited for the hung share's manifest check until it answered again")
	}
	if !stopped.Load() {
		t.Fatal("the share was never stopped")
	}
	if len(res.Dests) != 2 || res.Dests[1].State != DestVerified || res.Dests[0].State != DestFailed || !errors.Is(res.Dests[0].Err, ErrNotResponding) {
		t.Fatalf("result: %v %+v", err, res.Dests)
	}
	if len(res.Manifests) != 1 || !res.Manifests[0].OK || res.Manifests[0].Matched != 1 {
		t.Fatalf("manifest checks: %+v", res.Manifests)
	}
	checkVerifiedCopy(t, card, local)
}

// TestOffloadDestHungBeforePassLeftBehind: a share that already hangs when
// the card is read (bindfs SIGSTOPped before the offload starts) is left
// behind when its folder does not open within HangTimeout: the card is
// read to the local destination, verified, and the pass ends while the
// share still hangs.
func TestOffloadDestHungBeforePassLeftBehind(t *testing.T) {
	nas, fuse := testutil.MountBindfs(t)
	card := t.TempDir()
	writeTree(t, card, map[string]string{"CLIP/C0001.MP4": "rand:3000000", "CLIP/C0002.MP4": "rand:1000"})
	local := filepath.Join(t.TempDir(), "LOCAL")
	remote := filepath.Join(nas, "SHOOT", "NAS")
	if err := fuse.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			fuse.Signal(syscall.SIGCONT)
		}
	}()
	done := make(chan struct{})
	var res Result
	var err error
	go func() {
		defer close(done)
		res, err = OffloadMulti(context.Background(), card, []Destination{{Name: "nas", Dir: remote}, {Name: "local", Dir: local}},
			Options{Logger: slog.New(slog.DiscardHandler), HangTimeout: time.Second})
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		fuse.Signal(syscall.SIGCONT)
		stopped = false
		<-done
		t.Fatal("the pass waited for the hung share to open until it answered again")
	}
	if len(res.Dests) != 2 || res.Dests[1].State != DestVerified || res.Dests[0].State != DestFailed || !errors.Is(res.Dests[0].Err, ErrNotResponding) {
		t.Fatalf("result: %v %+v", err, res.Dests)
	}
	checkVerifiedCopy(t, card, local)
}

// TestOffloadDestHungDroppedReaderGoesOn: a share stops answering while
// the card is read (bindfs SIGSTOPped as the third file is read, the
// second verified there but not yet saved in its progress file); its
// queue fills and it is dropped. Dropping it saves its progress file,
// which must not be done on the card reader's goroutine: the local copy is
// finished and verified, and the pass ends once the share is left behind,
// while it still hangs.
func TestOffloadDestHungDroppedReaderGoesOn(t *testing.T) {
	nas, fuse := testutil.MountBindfs(t)
	card := t.TempDir()
	writeTree(t, card, map[string]string{
		"CLIP/A.MP4": "rand:100000",
		"CLIP/B.MP4": "rand:100000",
		"CLIP/C.MP4": "rand:20000000",
	})
	var nasVerified atomic.Int64
	var stopped, failedShown atomic.Bool
	defer func() {
		if stopped.Load() {
			fuse.Signal(syscall.SIGCONT)
		}
	}()
	opts := Options{Logger: slog.New(slog.DiscardHandler), HangTimeout: 2 * time.Second,
		BufferSize: 64 << 10, QueueBlocks: 8, StallTimeout: 200 * time.Millisecond, ProgressEvery: time.Millisecond,
		Progress: func(p Progress) {
			if len(p.Dests) == 2 {
				nasVerified.Store(int64(p.Dests[1].FilesVerified))
				if n := p.Dests[1]; n.State == DestFailed && strings.Contains(n.Error, "behind") && n.FailedPath != "" {
					failedShown.Store(true)
				}
			}
		},
		SourceReader: func(rel string, f *os.File) io.ReadCloser {
			if !strings.HasSuffix(rel, "C.MP4") {
				return f
			}
			// A and B verified at the share, B not yet in its progress
			// file (saved at most every 2 s): then it stops answering.
			for deadline := time.Now().Add(10 * time.Second); nasVerified.Load() < 2 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			if nasVerified.Load() < 2 {
				t.Error("A and B never verified at the share")
			}
			if err := fuse.Signal(syscall.SIGSTOP); err != nil {
				t.Error(err)
			}
			stopped.Store(true)
			return f
		}}
	local := filepath.Join(t.TempDir(), "LOCAL")
	remote := filepath.Join(nas, "NAS")
	done := make(chan struct{})
	var res Result
	var err error
	go func() {
		defer close(done)
		res, err = OffloadMulti(context.Background(), card, []Destination{{Name: "local", Dir: local}, {Name: "nas", Dir: remote}}, opts)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		fuse.Signal(syscall.SIGCONT)
		stopped.Store(false)
		<-done
		t.Fatal("the pass waited for the hung share until it answered again")
	}
	if !stopped.Load() {
		t.Fatal("the share was never stopped")
	}
	if len(res.Dests) != 2 || res.Dests[0].State != DestVerified || res.Dests[1].State != DestFailed || !res.Dests[1].Dropped {
		t.Fatalf("result: %v %+v", err, res.Dests)
	}
	// The status said why while the pass went on.
	if !failedShown.Load() {
		t.Error("progress never gave the dropped destination's error and failed path")
	}
	checkVerifiedCopy(t, card, local)
}
