package cards

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
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
