package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/storage"
)

// gateSync makes c's syncs block until the returned release is called
// (once; later syncs pass), reporting each sync that starts on started.
// fail, when not nil, is returned instead of syncing.
func gateSync(t *testing.T, c *Catalog, fail error) (started chan struct{}, release func()) {
	t.Helper()
	real := c.syncFn
	gate := make(chan struct{})
	started = make(chan struct{}, 1000)
	c.syncFn = func() error {
		started <- struct{}{}
		<-gate
		if fail != nil {
			return fail
		}
		return real()
	}
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	return started, release
}

// committedEvents counts the events in Badger, published or not.
func committedEvents(t *testing.T, c *Catalog) int {
	t.Helper()
	n := 0
	err := c.db.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.Prefix = []byte(pfxEvent)
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := it.Item().Value(func(b []byte) error {
				k, err := eventCount(b)
				n += int(k)
				return err
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// While a sync is running, writers commit but neither return nor publish
// their events; one more sync then covers all of them. A change whose fn
// fails returns its error at once and affects no other writer.
func TestGroupCommitAcknowledgesAndPublishesOnlyAfterSync(t *testing.T) {
	c, _ := newCat(t, Options{})
	started, release := gateSync(t, c, nil)
	syncs0 := c.syncs.Load()

	type result struct {
		evs []storage.Event
		err error
	}
	const writers = 8
	results := make(chan result, writers+1)
	go func() {
		e, err := c.AppendEvent(storage.Event{Type: "leader"})
		results <- result{[]storage.Event{e}, err}
	}()
	<-started // the first writer leads a sync, held at the gate
	for i := range writers {
		go func() {
			evs, err := c.PutFile(rec("v", fmt.Sprint("f", i), fmt.Sprint("content ", i), 1, uint64(i)))
			results <- result{evs, err}
		}()
	}
	// Each new file is asset.cataloged + location.added.
	testutil.WaitFor(t, 10*time.Second, "commits", func() bool { return committedEvents(t, c) == 1+2*writers })

	boom := errors.New("boom")
	if _, err := c.write(func(w *txw) error {
		if err := w.emit(storage.Event{Type: "doomed"}); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("failing change: %v", err)
	}

	select {
	case r := <-results:
		t.Fatalf("a write returned before its sync: %v %v", types(r.evs), r.err)
	case <-time.After(50 * time.Millisecond):
	}
	if got := c.LastSeq(); got != 0 {
		t.Fatalf("LastSeq %d before any sync completed", got)
	}
	if evs, err := c.Events(0, 100); err != nil || len(evs) != 0 {
		t.Fatalf("Events before the sync: %v %v", types(evs), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.Wait(ctx, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait before the sync: %v", err)
	}

	release()
	var seqs []uint64
	for range writers + 1 {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		seqs = append(seqs, seqOf(r.evs)...)
	}
	if n := c.syncs.Load() - syncs0; n != 2 {
		t.Fatalf("%d syncs for %d writers, want 2 (the leader's, then one for the rest)", n, writers+1)
	}
	log := allEvents(t, c)
	if len(log) != 1+2*writers || len(seqs) != len(log) {
		t.Fatalf("log has %d events, writers got %d back", len(log), len(seqs))
	}
	if c.LastSeq() != log[len(log)-1].Seq {
		t.Fatalf("LastSeq %d, last event %d", c.LastSeq(), log[len(log)-1].Seq)
	}
	for _, e := range log {
		if e.Type == "doomed" {
			t.Fatal("the failed change's event was committed")
		}
	}
	for i := range writers {
		if _, err := c.Location("v", fmt.Sprint("f", i)); err != nil {
			t.Fatal(err)
		}
	}
}

// A change that writes nothing needs no sync of its own, but it does not
// return before the changes it may have read are durable.
func TestUnchangedWriteWaitsOnlyForEarlierChanges(t *testing.T) {
	c, _ := newCat(t, Options{})
	r := rec("v", "a", "a", 1, 1)
	if _, err := c.PutFile(r); err != nil {
		t.Fatal(err)
	}
	syncs := c.syncs.Load()
	if evs, err := c.PutFile(r); err != nil || len(evs) != 0 {
		t.Fatal(types(evs), err)
	}
	if got := c.syncs.Load(); got != syncs {
		t.Fatalf("unchanged PutFile ran %d syncs", got-syncs)
	}

	started, release := gateSync(t, c, nil)
	r2 := rec("v", "b", "b", 1, 2)
	first := make(chan error, 1)
	go func() { _, err := c.PutFile(r2); first <- err }()
	<-started
	// r2 is committed (not durable); re-reporting it reads it unchanged.
	second := make(chan error, 1)
	go func() {
		evs, err := c.PutFile(r2)
		if err == nil && len(evs) != 0 {
			err = fmt.Errorf("events %v", types(evs))
		}
		second <- err
	}()
	select {
	case err := <-second:
		t.Fatalf("unchanged PutFile returned before the change it read was synced: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
}

// A failed sync fails the writers it covered and every later write, and
// publishes nothing.
func TestSyncFailureIsSticky(t *testing.T) {
	c, _ := newCat(t, Options{})
	if _, err := c.AppendEvent(storage.Event{Type: "ok"}); err != nil {
		t.Fatal(err)
	}
	last := c.LastSeq()
	health := make(chan error, 1)
	hctx, hcancel := context.WithCancel(context.Background())
	defer hcancel()
	go func() { health <- c.Health(hctx) }()
	boom := errors.New("disk on fire")
	started, release := gateSync(t, c, boom)
	errs := make(chan error, 4)
	go func() { _, err := c.AppendEvent(storage.Event{Type: "lost"}); errs <- err }()
	<-started
	for range 3 {
		go func() { errs <- c.PutState("k", 1) }()
	}
	release()
	for range 4 {
		if err := <-errs; !errors.Is(err, boom) {
			t.Fatalf("write covered by a failed sync: %v", err)
		}
	}
	if err := c.PutState("later", 1); !errors.Is(err, boom) || !strings.Contains(err.Error(), "reopened") {
		t.Fatalf("write after a failed sync: %v", err)
	}
	if err := <-health; !errors.Is(err, boom) {
		t.Fatalf("Health after a failed sync: %v", err)
	}
	if c.LastSeq() != last {
		t.Fatalf("LastSeq moved from %d to %d after a failed sync", last, c.LastSeq())
	}
	if evs, err := c.Events(last, 10); err != nil || len(evs) != 0 {
		t.Fatalf("events published after a failed sync: %v %v", types(evs), err)
	}
	if err := c.Close(); !errors.Is(err, boom) {
		t.Fatalf("close after a failed sync: %v", err)
	}
}

// Close with writers waiting for a sync: it waits for the running sync,
// syncs what is committed, and every writer returns: nil when its change
// is durable, ErrClosed when it came too late to commit.
func TestCloseReleasesWaitingWriters(t *testing.T) {
	c, dir := newCat(t, Options{})
	started, release := gateSync(t, c, nil)
	const writers = 16
	type result struct {
		e   storage.Event
		err error
	}
	results := make(chan result, writers)
	go func() {
		e, err := c.AppendEvent(storage.Event{Type: "w"})
		results <- result{e, err}
	}()
	<-started
	for range writers - 1 {
		go func() {
			e, err := c.AppendEvent(storage.Event{Type: "w"})
			results <- result{e, err}
		}()
	}
	testutil.WaitFor(t, 10*time.Second, "commits", func() bool { return committedEvents(t, c) >= writers/2 })
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned during a sync: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	var acked []uint64
	for range writers {
		r := <-results
		switch {
		case r.err == nil:
			acked = append(acked, r.e.Seq)
		case !errors.Is(r.err, ErrClosed):
			t.Fatalf("writer during Close: %v", r.err)
		}
	}
	if len(acked) < writers/2 {
		t.Fatalf("only %d of the committed writers acknowledged", len(acked))
	}
	if _, err := c.AppendEvent(storage.Event{Type: "late"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after Close: %v", err)
	}
	c2 := open(t, dir, Options{})
	logged := map[uint64]bool{}
	for _, e := range allEvents(t, c2) {
		logged[e.Seq] = true
	}
	for _, s := range acked {
		if !logged[s] {
			t.Fatalf("acknowledged event %d missing after Close", s)
		}
	}
}

// With NoSyncWrites nothing is synced and events are published at commit.
func TestNoSyncWritesNeverSyncs(t *testing.T) {
	c, _ := newCat(t, fast)
	c.syncFn = func() error { t.Error("synced with NoSyncWrites"); return nil }
	for i := range 10 {
		if _, err := c.PutFile(rec("v", fmt.Sprint(i), fmt.Sprint(i), 1, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(allEvents(t, c)); n != 20 || c.LastSeq() == 0 {
		t.Fatalf("%d events, LastSeq %d", n, c.LastSeq())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n := c.syncs.Load(); n != 0 {
		t.Fatalf("%d syncs", n)
	}
}

// DB.Sync syncs only the active memtable's WAL; a WAL that Badger rotated
// away since the last sync must be fsynced by the catalog itself.
func TestSyncCoversRotatedMemtables(t *testing.T) {
	c, _ := newCat(t, Options{})
	// 40 x 512 KiB (below Badger's value threshold, so in the WAL) fills
	// more than one 16 MiB memtable.
	big := strings.Repeat("x", 512<<10)
	for i := range 40 {
		if err := c.PutState(fmt.Sprint("big/", i), big); err != nil {
			t.Fatal(err)
		}
	}
	if c.rotated.Load() == 0 {
		t.Fatalf("no rotated WAL was fsynced (newest .mem id at the last sync: %d)", c.logSynced[0])
	}
}

// Two writers in a loop share syncs. Without gather their syncs would
// alternate, one writer each: the writer a sync released commits again
// just after the other's sync started.
func TestWritersInALoopShareSyncs(t *testing.T) {
	c, _ := newCat(t, Options{})
	real := c.syncFn
	c.syncFn = func() error {
		time.Sleep(3 * time.Millisecond) // a slow disk
		return real()
	}
	const writers, each = 2, 40
	syncs := c.syncs.Load()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := c.PutFile(rec("v", fmt.Sprint(w, "/", i), fmt.Sprint(w, "/", i), 1, 1)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	n := c.syncs.Load() - syncs
	t.Logf("%d syncs for %d writes", n, writers*each)
	if n > writers*each*5/8 { // about 1/2 with gather, 3/4 without
		t.Fatalf("%d syncs for %d writes: writers do not share syncs", n, writers*each)
	}
}

// PutFiles records each file exactly as PutFile would, one after the other
// (the same events, numbers, records and per-file errors: a bad record or
// an unchanged file fails or writes nothing alone), returns only once its
// changes are durable, and pays one sync for the whole group.
func TestPutFilesIsPutFileInOneGroup(t *testing.T) {
	recs := []storage.FileRecord{
		rec("v", "a", "alpha", 1, 1),
		rec("v", "b", "beta", 1, 2),
		rec("v", "c", "alpha", 1, 3), // content seen just before: no asset.cataloged
		{Volume: "v", Path: "bad\x00name", Hashes: hashes("x")},
		rec("v", "a", "alpha", 1, 1), // unchanged: nothing
		rec("v", "b", "gamma", 2, 2), // replaced within the group
		rec("v", "d", "delta", 1, 4), // after the failures
		{Volume: "v", Path: "e", Hashes: storage.Hashes{BLAKE3: "nope"}},
	}
	one, _ := newCat(t, Options{})
	var wantEvs [][]storage.Event
	var wantErrs []bool
	for _, r := range recs {
		evs, err := one.PutFile(r)
		wantEvs, wantErrs = append(wantEvs, evs), append(wantErrs, err != nil)
	}

	c, _ := newCat(t, Options{})
	started, release := gateSync(t, c, nil)
	syncs0 := c.syncs.Load()
	type result struct {
		evs  [][]storage.Event
		errs []error
	}
	done := make(chan result, 1)
	go func() {
		evs, errs := c.PutFiles(recs)
		done <- result{evs, errs}
	}()
	<-started
	testutil.WaitFor(t, 10*time.Second, "commits", func() bool { return committedEvents(t, c) == len(allEvents(t, one)) })
	select {
	case <-done:
		t.Fatal("PutFiles returned before its sync")
	case <-time.After(50 * time.Millisecond):
	}
	if c.LastSeq() != 0 {
		t.Fatalf("events published before the sync: LastSeq %d", c.LastSeq())
	}
	release()
	r := <-done
	if n := c.syncs.Load() - syncs0; n != 1 {
		t.Fatalf("%d syncs for one PutFiles, want 1", n)
	}
	for i := range recs {
		if (r.errs[i] != nil) != wantErrs[i] {
			t.Fatalf("record %d (%s): err %v, PutFile's failed=%v", i, recs[i].Path, r.errs[i], wantErrs[i])
		}
		if r.errs[i] != nil && !strings.Contains(r.errs[i].Error(), "put file v:"+recs[i].Path) {
			t.Errorf("record %d: error %q does not name the file", i, r.errs[i])
		}
		if got, want := strip(r.evs[i]), strip(wantEvs[i]); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("record %d (%s): events %v, PutFile's %v", i, recs[i].Path, got, want)
		}
	}
	if got, want := strip(allEvents(t, c)), strip(allEvents(t, one)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("log %v\nPutFile's %v", got, want)
	}
	for _, p := range []string{"a", "b", "c", "d"} {
		got, err := c.Location("v", p)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := one.Location("v", p)
		if got.AssetID != want.AssetID || got.Size != want.Size || len(got.History) != len(want.History) {
			t.Errorf("%s: %+v, PutFile's %+v", p, got, want)
		}
	}
}

// strip drops what differs between two catalogs fed the same changes: the
// time.
func strip(evs []storage.Event) []storage.Event {
	out := make([]storage.Event, len(evs))
	for i, e := range evs {
		e.Time = time.Time{}
		out[i] = e
	}
	return out
}

// A failed sync fails every file of a PutFiles that committed (none is
// acknowledged), and the bad record keeps its own error.
func TestPutFilesSyncFailure(t *testing.T) {
	c, _ := newCat(t, Options{})
	boom := errors.New("disk gone")
	_, release := gateSync(t, c, boom)
	release()
	_, errs := c.PutFiles([]storage.FileRecord{rec("v", "a", "a", 1, 1), {Volume: "v", Path: "", Hashes: hashes("b")}, rec("v", "c", "c", 1, 3)})
	if !errors.Is(errs[0], boom) || !errors.Is(errs[2], boom) {
		t.Fatalf("committed files after a failed sync: %v, %v", errs[0], errs[2])
	}
	if errs[1] == nil || errors.Is(errs[1], boom) {
		t.Fatalf("bad record: %v, want its own error", errs[1])
	}
	if c.LastSeq() != 0 {
		t.Fatalf("events published after a failed sync: LastSeq %d", c.LastSeq())
	}
}

// PutFiles' prefetch (fileHint) is only a shortcut: a change committed
// between the prefetch and the group's commit (the same content cataloged
// at another path, a path of the group cataloged with other content, a
// path of the group cataloged twice within it) is seen as PutFile would
// see it, also when more than recentBatches commits came in between and
// the catalog no longer remembers what they wrote.
func TestPutFilesPrefetchSeesLaterCommits(t *testing.T) {
	for _, unrelated := range []int{0, recentBatches + 2} {
		t.Run(fmt.Sprint(unrelated, " unrelated commits after"), func(t *testing.T) {
			recs := []storage.FileRecord{
				rec("v", "a", "alpha", 1, 1),
				rec("v", "b", "beta", 1, 2),
				rec("v", "c", "gamma", 1, 3),
				rec("v", "c", "gamma2", 2, 3),
			}
			between := func(c *Catalog) {
				for _, r := range []storage.FileRecord{
					rec("w", "elsewhere", "alpha", 1, 9), // a's content, cataloged meanwhile
					rec("v", "b", "other", 1, 8),         // b's path, other content
				} {
					if _, err := c.PutFile(r); err != nil {
						t.Fatal(err)
					}
				}
				for i := range unrelated {
					if _, err := c.PutFile(rec("u", fmt.Sprint("f", i), fmt.Sprint("unrelated ", i), 1, uint64(i))); err != nil {
						t.Fatal(err)
					}
				}
			}
			ref, _ := newCat(t, fast)
			between(ref)
			for _, r := range recs {
				if _, err := ref.PutFile(r); err != nil {
					t.Fatal(err)
				}
			}
			c, _ := newCat(t, Options{})
			ran := false
			c.afterPrefetch = func() {
				if !ran {
					ran = true
					between(c)
				}
			}
			if _, errs := c.PutFiles(recs); errors.Join(errs...) != nil {
				t.Fatal(errs)
			}
			if !ran {
				t.Fatal("the hook between prefetch and commit did not run")
			}
			got, want := strip(allEvents(t, c)), strip(allEvents(t, ref))
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("events\n%v\nwant (PutFile after the same commits)\n%v", got, want)
			}
			for _, p := range []string{"a", "b", "c"} {
				l, err := c.Location("v", p)
				if err != nil {
					t.Fatal(err)
				}
				w, _ := ref.Location("v", p)
				if l.AssetID != w.AssetID || len(l.History) != len(w.History) {
					t.Errorf("%s: %+v, want %+v", p, l, w)
				}
			}
		})
	}
}
