package catalog

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ingestd/ingestd/storage"
)

// Many writers, one follower reading the log the way the feed does: every
// event that ends up in the log must have been seen by the follower, in seq
// order. If seq N+1 ever became visible before N, the follower would move
// past N and the final log would hold an event it never saw.
func TestConcurrentWritersAreSeenInOrder(t *testing.T) {
	c, _ := newCat(t, fast)
	const writers, perWriter = 8, 150

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen []uint64
	followerDone := make(chan error, 1)
	go func() {
		var after uint64
		for {
			evs, err := c.Events(after, 7)
			if err != nil {
				followerDone <- err
				return
			}
			for _, e := range evs {
				if e.Seq <= after {
					followerDone <- fmt.Errorf("seq %d after %d", e.Seq, after)
					return
				}
				seen = append(seen, e.Seq)
				after = e.Seq
			}
			if len(evs) == 0 {
				// Once the writers are done (ctx cancelled), an empty
				// read means the follower has drained the log.
				if ctx.Err() != nil {
					followerDone <- nil
					return
				}
				c.Wait(ctx, after)
			}
		}
	}()

	var wg sync.WaitGroup
	returned := make([][]uint64, writers)
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				var evs []storage.Event
				var err error
				switch i % 4 {
				case 0:
					evs, err = c.PutFile(rec(fmt.Sprint("vol", w), fmt.Sprint("f", i), fmt.Sprint(w, "/", i), 1, uint64(i)))
				case 1: // same content elsewhere: location.added only
					evs, err = c.PutFile(rec("shared", fmt.Sprint(w, "/", i), fmt.Sprint(w, "/", i-1), 1, uint64(i)))
				case 2:
					var e storage.Event
					e, err = c.AppendEvent(storage.Event{Type: "test"})
					evs = []storage.Event{e}
				default:
					// Every write goes through write(); this one keeps its
					// transaction open a while after numbering its event,
					// which widens the window in which a later number
					// could become visible first if writes were not
					// serialised.
					evs, err = c.write(func(w *txw) error {
						if err := w.emit(storage.Event{Type: "slow"}); err != nil {
							return err
						}
						time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
						return nil
					})
				}
				if err != nil {
					errs <- err
					return
				}
				for j, e := range evs {
					if j > 0 && e.Seq <= evs[j-1].Seq {
						errs <- fmt.Errorf("events of one change out of order: %v", seqOf(evs))
						return
					}
					returned[w] = append(returned[w], e.Seq)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// All writes are done: let the follower drain the log and stop.
	cancel()
	if err := <-followerDone; err != nil {
		t.Fatal(err)
	}

	log := seqOf(allEvents(t, c))
	if len(log) != len(seen) {
		t.Fatalf("follower saw %d events, log has %d", len(seen), len(log))
	}
	for i := range log {
		if log[i] != seen[i] {
			t.Fatalf("follower missed seq %d (saw %d at position %d)", log[i], seen[i], i)
		}
		if i > 0 && log[i] <= log[i-1] {
			t.Fatalf("log not strictly increasing at %d", i)
		}
	}
	inLog := map[uint64]bool{}
	for _, s := range log {
		inLog[s] = true
	}
	total := 0
	for _, r := range returned {
		total += len(r)
		for _, s := range r {
			if !inLog[s] {
				t.Fatalf("returned seq %d is not in the log", s)
			}
		}
	}
	if total != len(log) {
		t.Fatalf("writers got %d events back, log has %d", total, len(log))
	}
}

// TestCrashKeepsAcknowledgedWrites kills a process that writes with the
// production options (sync on) and checks that every change it
// acknowledged survived, that numbers are not reused, and that re-reporting
// the same files writes nothing.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) { testCrash(t, 4) }

// TestCrashKeepsAcknowledgedWritesManyWriters is the same with 32 writers
// mixing PutFile, AppendEvent and PutState, so most changes are
// acknowledged by a sync shared with others, and a follower reading the
// log as the feed does: every event it saw must have survived too. (A
// SIGKILL keeps the page cache, so this checks what the protocol
// acknowledges and publishes; TestGroupCommitAcknowledgesAndPublishesOnlyAfterSync
// checks that neither happens before the sync.)
func TestCrashKeepsAcknowledgedWritesManyWriters(t *testing.T) { testCrash(t, 32) }

// TestCrashKeepsAcknowledgedWritesBatched is the same with 256 writers,
// as many as the ingest pipeline lets wait for the catalog: changes are
// committed in batches of up to maxBatch, so the kill lands among
// transactions of many changes each.
func TestCrashKeepsAcknowledgedWritesBatched(t *testing.T) { testCrash(t, 256) }

// TestCrashKeepsAcknowledgedWritesPutFiles is the same with the ingest
// pipeline's catalog stage: two writers, each handing PutFiles groups of
// 256 files (one group committing while the other waits for its sync).
func TestCrashKeepsAcknowledgedWritesPutFiles(t *testing.T) {
	testCrash(t, 2, "CATALOG_CRASH_GROUP=256")
}

func testCrash(t *testing.T, writers int, env ...string) {
	dir := filepath.Join(t.TempDir(), "cat")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "CATALOG_CRASH_DIR="+dir, fmt.Sprint("CATALOG_CRASH_WRITERS=", writers))
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked, seen := map[uint64]bool{}, map[uint64]bool{}
	var ackedFiles []int
	var ackedStates []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "ACK": // ACK file seq...
			n, _ := strconv.Atoi(f[1])
			ackedFiles = append(ackedFiles, n)
			for _, s := range f[2:] {
				seq, _ := strconv.ParseUint(s, 10, 64)
				acked[seq] = true
			}
		case "EVENT": // EVENT seq
			seq, _ := strconv.ParseUint(f[1], 10, 64)
			acked[seq] = true
		case "STATE": // STATE key
			ackedStates = append(ackedStates, f[1])
		case "SEEN": // SEEN seq, from the follower
			seq, _ := strconv.ParseUint(f[1], 10, 64)
			seen[seq] = true
		}
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper was not killed: %v", err)
	}
	t.Logf("helper acknowledged %d files, %d states (%d events), follower saw %d events before SIGKILL",
		len(ackedFiles), len(ackedStates), len(acked), len(seen))
	if len(ackedFiles) < 10 {
		t.Fatalf("helper acknowledged only %d files", len(ackedFiles))
	}

	c := open(t, dir, Options{})
	logged := map[uint64]bool{}
	log := allEvents(t, c)
	added := map[string]int{}
	for i, e := range log {
		logged[e.Seq] = true
		// seq is contiguous: a crash leaves no hole, so a hub can tell
		// a lost event by a missing number.
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d of the log has seq %d: the seq after the crash is not 1..%d without holes", i+1, e.Seq, len(log))
		}
		if e.Type == storage.EvLocationAdded {
			added[e.Path]++
		}
	}
	for p, n := range added {
		if n != 1 {
			t.Fatalf("%s: %d location.added in the log, want 1", p, n)
		}
	}
	for _, n := range ackedFiles {
		if p := crashRec(n).Path; added[p] != 1 {
			t.Fatalf("acknowledged file %s: %d location.added in the log, want 1", p, added[p])
		}
	}
	for s := range acked {
		if !logged[s] {
			t.Fatalf("acknowledged event %d lost in the crash", s)
		}
	}
	for s := range seen {
		if !logged[s] {
			t.Fatalf("event %d seen by the follower lost in the crash", s)
		}
	}
	for _, k := range ackedStates {
		var v int
		if err := c.GetState(k, &v); err != nil {
			t.Fatalf("acknowledged state %s lost in the crash: %v", k, err)
		}
	}
	for _, n := range ackedFiles {
		if evs, err := c.PutFile(crashRec(n)); err != nil || len(evs) != 0 {
			t.Fatalf("file %d re-reported after crash: events %v, %v", n, types(evs), err)
		}
	}
	last := c.LastSeq()
	if last != uint64(len(log)) {
		t.Fatalf("LastSeq %d after the crash, log has %d events", last, len(log))
	}
	e, err := c.AppendEvent(storage.Event{Type: "after-crash"})
	if err != nil || e.Seq != last+1 {
		t.Fatalf("seq after crash %d, want %d (last %d), %v", e.Seq, last+1, last, err)
	}
}

func crashRec(n int) storage.FileRecord {
	return rec("v", fmt.Sprintf("clip%04d.mov", n), fmt.Sprint("content ", n), 1, uint64(n))
}

// crashHelper is the process testCrash kills (run from TestMain when
// CATALOG_CRASH_DIR is set): CATALOG_CRASH_WRITERS writers write files
// (with 8 writers or more, also events and state), printing each
// acknowledged change; with 8 writers or more a follower prints every
// event it reads; with CATALOG_CRASH_GROUP=N each writer writes files
// only, N at a time with PutFiles. It SIGKILLs itself while writes are in
// flight.
func crashHelper(dir string) {
	c, err := Open(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	writers, _ := strconv.Atoi(os.Getenv("CATALOG_CRASH_WRITERS"))
	writers = max(writers, 1)
	mixed := writers >= 8
	var mu sync.Mutex
	var said atomic.Int64
	say := func(format string, a ...any) {
		mu.Lock()
		fmt.Printf(format, a...)
		mu.Unlock()
		said.Add(1)
	}
	if group, _ := strconv.Atoi(os.Getenv("CATALOG_CRASH_GROUP")); group > 1 {
		// Writer w writes files w, w+writers, ... in PutFiles groups.
		step := writers
		for w := range step {
			go func() {
				for n := w; ; {
					var recs []storage.FileRecord
					var ns []int
					for range group {
						recs, ns = append(recs, crashRec(n)), append(ns, n)
						n += step
					}
					evs, errs := c.PutFiles(recs)
					for i, err := range errs {
						if err != nil {
							return
						}
						say("ACK %d %s\n", ns[i], strings.Trim(fmt.Sprint(seqOf(evs[i])), "[]"))
					}
				}
			}()
		}
		writers = 0 // no other writers
	}
	for w := range writers {
		go func() {
			for n := w; ; n += writers {
				switch {
				case mixed && n%8 == 6:
					e, err := c.AppendEvent(storage.Event{Type: "crash"})
					if err != nil {
						return
					}
					say("EVENT %d\n", e.Seq)
				case mixed && n%8 == 7:
					k := fmt.Sprint("crash/", n)
					if err := c.PutState(k, n); err != nil {
						return
					}
					say("STATE %s\n", k)
				default:
					evs, err := c.PutFile(crashRec(n))
					if err != nil {
						return
					}
					say("ACK %d %s\n", n, strings.Trim(fmt.Sprint(seqOf(evs)), "[]"))
				}
			}
		}()
	}
	if mixed {
		go func() {
			var after uint64
			for {
				evs, err := c.Events(after, 50)
				if err != nil {
					return
				}
				for _, e := range evs {
					say("SEEN %d\n", e.Seq)
					after = e.Seq
				}
				if len(evs) == 0 && c.Wait(context.Background(), after) != nil {
					return
				}
			}
		}()
	}
	// Kill after 300 ms, or later on a slow box (-race, a loaded CI
	// machine) once at least 50 changes were acknowledged, at most 10 s.
	time.Sleep(300 * time.Millisecond)
	for deadline := time.Now().Add(10 * time.Second); said.Load() < 50 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	os.Stdout.Sync()
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}
