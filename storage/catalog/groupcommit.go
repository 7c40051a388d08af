package catalog

// The group commit: how a change becomes a transaction, a commit ticket, a
// sync and published events (see Catalog).

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/zeebo/xxh3"

	"github.com/ingestd/ingestd/storage"
)

// maxBatch caps the changes committed in one transaction, and maxBatchBytes
// the bytes they write (keys and values; Badger refuses a transaction above
// 15% of the memtable, 1.2 MiB with 8 MiB memtables, with ErrTxnTooBig), so
// a batch stays well inside one memtable and its commit takes a few
// milliseconds.
const (
	maxBatch      = 256
	maxBatchBytes = 1 << 20
)

// Catalog is an open Badger catalog. It is safe for concurrent use.
//
// Commit protocol (group commit). Badger runs with SyncWrites off and the
// catalog syncs itself, so that concurrent writers share one fsync instead
// of paying one each:
//
//  1. Commit (batched). write queues its change and either finds it
//     committed by another writer or becomes the committer (c.token):
//     the committer takes the changes queued so far (up to maxBatch and
//     maxBatchBytes) and runs them one after the other in ONE read-write
//     transaction, each seeing the ones before it, then commits it (into
//     Badger's memtable and its write-ahead log, not yet synced). While
//     one batch commits, the next one queues up, so many concurrent
//     writers (the ingest pipeline's catalog stage) pay one transaction
//     and one sync between them. Transactions commit one at a time and
//     strictly in seq order. Event numbers are assigned inside the
//     transaction that records the change, from the last committed seq,
//     and the last one is stored in the same transaction (m/last_seq):
//     seq is contiguous, and a crash leaves no hole (a batch that was
//     committed but not synced can be lost by a power cut as a whole;
//     its numbers were never published, and are given to the next
//     changes). A change whose fn fails is discarded alone: the
//     transaction is thrown away and the changes before it in the batch
//     are run again without it (a change that would make the transaction
//     too big, ErrTxnTooBig, starts the next one), so it never fails or
//     rolls back another writer's change. A committed batch that wrote
//     something takes the next commit ticket; c.head records the last
//     ticket and the highest event seq committed so far. The token is
//     then released so the next batch can commit while this one waits.
//  2. Sync. The writer waits in syncTo until a sync that started after
//     its commit has completed. When no sync is running it leads one: it
//     reads c.head, syncs Badger's logs (syncLogs), and on success marks
//     every ticket up to head durable, publishes the events up to head's
//     seq and wakes the other waiters. Writers that committed while a sync
//     was running are covered together by the next one, whose leader
//     first waits briefly for the writers the last sync released to
//     commit again (gather), so that writers in a loop keep sharing syncs.
//     A change that wrote nothing (PutFile of an unchanged file) waits
//     only for the changes committed before it, which it may have read.
//  3. Publish. Readers of the event log only see published events:
//     LastSeq, Wait and the notify channel follow c.last, and Events (and
//     so Consume) stops at c.last although later events may already be in
//     Badger. c.last moves forward only, over a committed and synced
//     prefix, so an event is never seen before it is durable and events
//     appear strictly in seq order.
//
// Other reads (Location, Asset, GetState, ...) may see a change whose
// writer is still waiting for its sync. A write made after such a read
// commits after that change, so the sync that acknowledges it covers the
// change it read as well.
//
// A failed sync is sticky: the writers it covered and every later write
// get the error, and no further event is published, until the catalog is
// reopened (after a failed fsync the kernel may have dropped the dirty
// pages, so a later successful sync would prove nothing). With
// Options.NoSyncWrites nothing is synced and write publishes its events
// under c.mu right after the commit. Close stops new commits, runs a last
// sync that releases the writers still waiting, then closes Badger.
type Catalog struct {
	dir  string
	db   *badger.DB
	log  *slog.Logger
	opts Options
	ids  *idFilter // content ids stored, for the prefetch (idfilter.go)

	mu     sync.Mutex // guards closed and queue
	closed bool
	queue  []*commitReq  // changes waiting for a committer
	token  chan struct{} // capacity 1, held by the committer: serialises transactions and seq allocation
	recent recentWrites  // asset and location keys the last commits wrote (token held)
	// afterPrefetch, when set, runs between PutFiles' prefetch and its
	// queueing (tests: a change committed in between).
	afterPrefetch func()
	head          atomic.Pointer[commitMark] // last committed change; stored by the committer

	syncMu  sync.Mutex
	syncEnd *sync.Cond    // on syncMu; broadcast when a sync ends
	syncing bool          // a leader is syncing
	synced  uint64        // highest ticket a completed sync covered
	syncErr error         // sticky sync failure
	broken  chan struct{} // closed when syncErr is set
	// The last sync, for gather: how long it took, when it ended, how
	// many changes it released and the head ticket then.
	lastDur      time.Duration
	lastEnd      time.Time
	lastReleased uint64
	lastEndHead  uint64
	committed    chan struct{} // poked (buffer 1) by each commit, for gather
	// syncFn syncs Badger's logs (syncLogs; tests replace it). Only the
	// sync leader calls it, so logSynced needs no lock.
	syncFn    func() error
	logSynced [len(logExts)]int // per log kind, newest file id at the last sync
	syncs     atomic.Uint64     // syncs run (for tests and benchmarks)
	rotated   atomic.Uint64     // rotated log files fsynced by syncLogs

	last     atomic.Uint64 // highest published (committed and durable) event seq
	notifyMu sync.Mutex
	notify   chan struct{} // closed and replaced each time c.last moves
	done     chan struct{} // closed by Close

	closeOnce sync.Once
	closeErr  error

	identMu    sync.Mutex // guards ident, identSaved and writes of the identity file
	ident      Identity   // the identity (LastSeq unused); zero without Options.IdentityFile
	identSaved uint64     // LastSeq last written to the identity file

	trimMu  sync.Mutex     // held while trimMapped runs (trim.go)
	trimOff bool           // set by Close
	trims   atomic.Uint64  // trims run by runTrim (tests)
	pinTxn  *badger.Txn    // read transaction trimMapped pins tables with (trim.go; on trimMu)
	pins    sync.WaitGroup // the goroutine renewing pinTxn (Close waits)
}

// commitReq is one change on its way through commit: queued by its
// writer, run and committed by whichever writer holds the token, which
// then sets the result and closes done.
type commitReq struct {
	fn     func(w *txw) error
	evs    []storage.Event
	ticket uint64
	err    error
	done   chan struct{}
}

func (r *commitReq) finish(evs []storage.Event, ticket uint64, err error) {
	r.evs, r.ticket, r.err = evs, ticket, err
	close(r.done)
}

// commitMark is the position of the last committed change: its commit
// ticket (changes that wrote something, counted from 1 since Open) and the
// highest event seq committed so far.
type commitMark struct {
	ticket uint64
	seq    uint64
}

// txw is the write side of one transaction: records plus the events they
// produce, committed together.
type txw struct {
	c      *Catalog
	txn    *wtxn
	now    time.Time
	seq    *uint64 // the batch's last assigned event seq
	events []storage.Event
}

// wtxn is the Badger transaction a change runs in. It shadows Set, SetEntry
// and Delete to count writes: a change that wrote nothing takes no commit
// ticket (see Catalog), so a restart re-reporting unchanged files costs no
// sync.
// It also adds up the bytes written, to bound a batch (maxBatchBytes).
// It also records the asset and location keys written (recentWrites).
type wtxn struct {
	*badger.Txn
	writes  int
	bytes   int
	written map[uint64]struct{} // asset and location keys written (keyHash)
	// The transaction's events, written as one e/ value at commit
	// (flushEvents; record.go).
	events eventBlock
	// The run of events of one asset this transaction is indexing
	// (indexEvent).
	runID          string
	runFirst, runN uint64
}

// addEvent adds e to the transaction's event block.
func (t *wtxn) addEvent(e *storage.Event) error {
	before := len(t.events.body)
	if err := t.events.add(e); err != nil {
		return err
	}
	t.writes++
	t.bytes += len(t.events.body) - before
	return nil
}

// flushEvents sets the transaction's event block (if any) under the key of
// its first event; called once, right before the commit.
func (t *wtxn) flushEvents() error {
	if t.events.n == 0 {
		return nil
	}
	return t.Txn.Set(eventKey(t.events.first), t.events.value())
}

func (t *wtxn) Set(key, val []byte) error {
	t.writes++
	t.bytes += len(key) + len(val)
	t.track(key)
	return t.Txn.Set(key, val)
}

func (t *wtxn) SetEntry(e *badger.Entry) error {
	t.writes++
	t.bytes += len(e.Key) + len(e.Value)
	t.track(e.Key)
	return t.Txn.SetEntry(e)
}

func (t *wtxn) Delete(key []byte) error {
	t.writes++
	t.bytes += len(key)
	t.track(key)
	return t.Txn.Delete(key)
}

// track records key when it is one a prefetch may have read (see
// fileHint).
func (t *wtxn) track(key []byte) {
	if s := string(key[:min(2, len(key))]); s != pfxAsset && s != pfxLocation {
		return
	}
	if t.written == nil {
		t.written = map[uint64]struct{}{}
	}
	t.written[keyHash(key)] = struct{}{}
}

// recentWrites remembers which asset and location keys the last
// recentBatches transactions that wrote any committed, and at which
// ticket, so that a change can rely on what it read before it was queued
// (PutFiles' prefetch, fileHint): a key it found absent in a snapshot
// covering every commit up to ticket T is absent still unless a commit
// after T wrote it. Only the committer (holding the token) uses it.
type recentWrites struct {
	last    map[uint64]uint64 // keyHash -> ticket of the last commit that wrote it
	batches []recentBatch     // oldest first
	evicted uint64            // highest ticket forgotten
}

// keyHash is the 64-bit hash recentWrites keeps of a key: two keys with one
// hash only ever make a key look written when it was not (it is read
// again), never the other way round.
func keyHash(key []byte) uint64 { return xxh3.Hash(key) }

type recentBatch struct {
	ticket uint64
	keys   []uint64
}

const recentBatches = 8

func (r *recentWrites) add(ticket uint64, keys map[uint64]struct{}) {
	if len(keys) == 0 {
		return
	}
	if r.last == nil {
		r.last = map[uint64]uint64{}
	}
	b := recentBatch{ticket: ticket, keys: make([]uint64, 0, len(keys))}
	for k := range keys {
		r.last[k] = ticket
		b.keys = append(b.keys, k)
	}
	if len(r.batches) == recentBatches {
		old := r.batches[0]
		for _, k := range old.keys {
			if r.last[k] == old.ticket {
				delete(r.last, k)
			}
		}
		r.evicted = old.ticket
		r.batches = append(r.batches[:0], r.batches[1:]...)
	}
	r.batches = append(r.batches, b)
}

// unchangedSince reports whether no commit after ticket wrote key; false
// when commits after ticket may have been forgotten.
func (r *recentWrites) unchangedSince(key []byte, ticket uint64) bool {
	if ticket < r.evicted {
		return false
	}
	t, ok := r.last[keyHash(key)]
	return !ok || t <= ticket
}

// fileHint is what PutFiles' prefetch read of a file's location and asset
// keys, outside the token (in parallel with the committer), in a snapshot
// that covered every commit up to ticket: a key found absent there need
// not be read again in the transaction when neither the transaction nor a
// commit after ticket wrote it (absentNow). A nil hint reads both.
type fileHint struct {
	ticket                 uint64
	locAbsent, assetAbsent bool
}

// absentNow reports whether key, absent in the hint's snapshot (absent),
// is known to be absent in this transaction without reading it.
func (w *txw) absentNow(key []byte, absent bool, h *fileHint) bool {
	if h == nil || !absent {
		return false
	}
	if _, wrote := w.txn.written[keyHash(key)]; wrote {
		return false
	}
	return w.c.recent.unchangedSince(key, h.ticket)
}

// emit numbers e (the next seq after every committed event and the ones
// before it in this transaction), stamps its time and stores it, its key in
// the per-asset event index (when it names an asset) and the new last seq
// (m/last_seq), in the transaction.
func (w *txw) emit(e storage.Event) error {
	seq := *w.seq + 1
	e.Seq = seq
	if e.Time.IsZero() {
		e.Time = w.now
	}
	if err := w.txn.addEvent(&e); err != nil {
		return fmt.Errorf("encode event %s: %w", e.Type, err)
	}
	if e.AssetID != "" && checkID(e.AssetID) == nil {
		if err := w.txn.indexEvent(e.AssetID, seq); err != nil {
			return err
		}
	}
	var last [8]byte
	binary.BigEndian.PutUint64(last[:], seq)
	if err := w.txn.Set([]byte(keyLastSeq), last[:]); err != nil {
		return err
	}
	*w.seq = seq
	w.events = append(w.events, e)
	return nil
}

func (w *txw) setJSON(key []byte, v any, meta byte) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %q: %w", key, err)
	}
	return w.set(key, b, meta)
}

// setAsset stores a under its id (record.go's binary form).
func (w *txw) setAsset(a storage.Asset) error {
	b, err := encodeAsset(&a)
	if err != nil {
		return fmt.Errorf("encode asset %s: %w", a.ID, err)
	}
	w.c.ids.add(a.ID) // before the commit: see idFilter
	return w.set(assetKey(a.ID), b, 0)
}

// setLocation stores loc under key (its l/ or r/ key; record.go's binary
// form).
func (w *txw) setLocation(key []byte, loc storage.Location, meta byte) error {
	b, err := encodeLocation(&loc)
	if err != nil {
		return fmt.Errorf("encode location %s:%q: %w", loc.Volume, loc.Path, err)
	}
	return w.set(key, b, meta)
}

func (w *txw) set(key, b []byte, meta byte) error {
	e := badger.NewEntry(key, b)
	if meta != 0 {
		e = e.WithMeta(meta)
	}
	return w.txn.SetEntry(e)
}

// write runs fn in one read-write transaction, retrying on conflict, and
// returns the events it emitted once the change is durable (see Catalog for
// the commit protocol).
func (c *Catalog) write(fn func(w *txw) error) ([]storage.Event, error) {
	evs, ticket, err := c.commit(fn)
	if err != nil {
		return nil, err
	}
	if !c.opts.NoSyncWrites {
		if err := c.syncTo(ticket); err != nil {
			return nil, err
		}
	}
	return evs, nil
}

// commit queues fn and returns once it is committed (not yet synced),
// by this writer or by another one that held the token (see Catalog). It
// returns the events fn emitted and the ticket a sync must cover before
// the change may be acknowledged: its batch's ticket, or, when the batch
// wrote nothing, the last one committed before it.
func (c *Catalog) commit(fn func(w *txw) error) ([]storage.Event, uint64, error) {
	req := &commitReq{fn: fn, done: make(chan struct{})}
	if err := c.enqueue(req); err != nil {
		return nil, 0, err
	}
	c.await(req)
	return req.evs, req.ticket, req.err
}

// writeAll is write for several changes of one caller at once: each is
// queued, run, failed and numbered on its own exactly as if it came from
// its own writer, but they are queued together (so they fill batches) and
// the caller waits once, for the sync that covers the last of them. evs[i]
// and errs[i] are fns[i]'s results; a failed sync fails every change that
// committed.
func (c *Catalog) writeAll(fns []func(w *txw) error) (evs [][]storage.Event, errs []error) {
	evs, errs = make([][]storage.Event, len(fns)), make([]error, len(fns))
	reqs := make([]*commitReq, len(fns))
	for i, fn := range fns {
		reqs[i] = &commitReq{fn: fn, done: make(chan struct{})}
	}
	if err := c.enqueue(reqs...); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return evs, errs
	}
	var ticket uint64
	for _, r := range reqs {
		c.await(r)
		if r.err == nil {
			ticket = max(ticket, r.ticket)
		}
	}
	var serr error
	if !c.opts.NoSyncWrites {
		serr = c.syncTo(ticket)
	}
	for i, r := range reqs {
		switch {
		case r.err != nil:
			errs[i] = r.err
		case serr != nil:
			errs[i] = serr
		default:
			evs[i] = r.evs
		}
	}
	return evs, errs
}

// enqueue queues changes for a committer (ErrClosed once Close began).
func (c *Catalog) enqueue(reqs ...*commitReq) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	c.queue = append(c.queue, reqs...)
	return nil
}

// await returns once req is committed or failed, committing the queued
// changes itself whenever the token is free.
func (c *Catalog) await(req *commitReq) {
	for {
		select {
		case <-req.done:
			return
		case c.token <- struct{}{}:
			c.commitQueued()
			<-c.token
		}
	}
}

// commitQueued commits the changes queued so far, up to maxBatch. Called
// with the token held.
func (c *Catalog) commitQueued() {
	c.mu.Lock()
	n := min(len(c.queue), maxBatch)
	batch := make([]*commitReq, n)
	copy(batch, c.queue)
	if n == len(c.queue) {
		c.queue = c.queue[:0]
	} else {
		c.queue = append(c.queue[:0], c.queue[n:]...)
	}
	closed := c.closed
	c.mu.Unlock()
	err := c.failed()
	if closed {
		err = ErrClosed
	}
	if err == nil {
		err = c.checkSpace()
	}
	if err != nil {
		for _, r := range batch {
			r.finish(nil, 0, err)
		}
		return
	}
	for len(batch) > 0 {
		batch = batch[c.commitPrefix(batch):]
	}
}

// commitPrefix runs reqs in one transaction and commits them, or the
// longest prefix that fits (maxBatchBytes, ErrTxnTooBig), and finishes
// every change it settled: committed, or failed alone when its fn failed
// (the others are run again without it). It returns how many changes it
// settled, at least one. Called with the token held.
func (c *Catalog) commitPrefix(reqs []*commitReq) int {
	for attempt := 0; ; attempt++ {
		head := c.head.Load()
		seq := head.seq
		txn := &wtxn{Txn: c.db.NewTransaction(true)}
		now := time.Now().UTC()
		n, failed, ferr := 0, -1, error(nil)
		for i, r := range reqs {
			w := &txw{c: c, txn: txn, now: now, seq: &seq}
			if err := r.fn(w); err != nil {
				failed, ferr = i, err
				break
			}
			r.evs = w.events
			n = i + 1
			if txn.bytes >= maxBatchBytes {
				break
			}
		}
		if failed < 0 {
			if err := txn.flushEvents(); err != nil {
				// Too big with its events after all: as if its last
				// change had failed so.
				failed, ferr = n-1, err
			}
		}
		if failed >= 0 {
			txn.Discard()
			if failed == 0 {
				reqs[0].finish(nil, 0, ferr)
				return 1
			}
			// Commit the changes before it without it.
			for done := 0; done < failed; {
				done += c.commitPrefix(reqs[done:failed])
			}
			if errors.Is(ferr, badger.ErrTxnTooBig) {
				return failed // it starts the next transaction
			}
			reqs[failed].finish(nil, 0, ferr)
			return failed + 1
		}
		if txn.writes == 0 {
			// Nothing written, so no events either: what these changes
			// read was committed before, by the batch of head.ticket.
			txn.Discard()
			for _, r := range reqs[:n] {
				r.finish(r.evs, head.ticket, nil)
			}
			return n
		}
		err := txn.Commit()
		if errors.Is(err, badger.ErrConflict) && attempt < 16 {
			continue
		}
		if err != nil {
			for _, r := range reqs[:n] {
				r.finish(nil, 0, err)
			}
			return n
		}
		next := &commitMark{ticket: head.ticket + 1, seq: seq}
		c.recent.add(next.ticket, txn.written)
		c.head.Store(next)
		if c.opts.NoSyncWrites {
			c.publish(next.seq)
		}
		select {
		case c.committed <- struct{}{}:
		default:
		}
		for _, r := range reqs[:n] {
			r.finish(r.evs, next.ticket, nil)
		}
		return n
	}
}

// Health blocks until ctx ends (nil) or a sync fails (the sticky error).
// After a failed fsync the kernel may have dropped the dirty pages, so the
// catalog refuses writes until it is reopened; a daemon runs Health as a
// service that is not restarted, so the failure stops the process and its
// service manager starts it again, reopening the catalog from what is on
// disk, instead of running on with every write failing.
func (c *Catalog) Health(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-c.broken:
		return c.failed()
	}
}

// failed returns the sticky sync error, if a sync failed.
func (c *Catalog) failed() error {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	return c.syncErr
}

// syncTo returns once a sync covering ticket has completed: at once if one
// has, after the running sync if that covers it, or after leading a sync of
// everything committed so far. It returns the sticky error of a failed sync
// that left ticket uncovered.
func (c *Catalog) syncTo(ticket uint64) error {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	for c.synced < ticket && c.syncErr == nil {
		if c.syncing {
			c.syncEnd.Wait()
			continue
		}
		c.syncing = true
		want := c.lastEndHead + c.lastReleased
		deadline := c.lastEnd.Add(min(c.lastDur/2, maxGather))
		c.syncMu.Unlock()
		c.gather(want, deadline)
		// Lead one sync for every change committed so far; ours is
		// among them, since our commit happened before this load.
		head := c.head.Load()
		start := time.Now()
		err := c.syncFn()
		dur := time.Since(start)
		c.syncs.Add(1)
		c.syncMu.Lock()
		c.syncing = false
		if err != nil {
			c.syncErr = fmt.Errorf("sync catalog %s (writes fail until it is reopened): %w", c.dir, err)
			close(c.broken)
			c.log.Error("catalog sync failed; writes fail until the catalog is reopened", "err", err)
		} else {
			c.lastDur, c.lastEnd = dur, time.Now()
			c.lastReleased, c.lastEndHead = head.ticket-c.synced, c.head.Load().ticket
			c.synced = head.ticket
			c.publish(head.seq)
		}
		c.syncEnd.Broadcast()
	}
	if c.synced >= ticket {
		return nil
	}
	return c.syncErr
}

// maxGather caps how long gather waits.
const maxGather = 2 * time.Millisecond

// gather waits, before a sync, until head reaches ticket want (the writers
// the previous sync released have committed their next change), but no
// later than deadline (half the previous sync's duration after it ended,
// at most maxGather). Without it, writers that write in a loop split into
// cohorts whose syncs alternate: the writers a sync released commit again
// just after the next sync started, so they wait for the one after; two
// writers would never share a sync. A lone writer never waits here (its
// own commit is the one expected), nor does a writer after a pause (the
// deadline has passed); a released writer that is not coming back costs
// the others at most the deadline.
func (c *Catalog) gather(want uint64, deadline time.Time) {
	if c.head.Load().ticket >= want {
		return
	}
	wait := time.Until(deadline)
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for c.head.Load().ticket < want {
		select {
		case <-c.committed:
		case <-t.C:
			return
		}
	}
}

// publish makes the events up to seq visible to readers (c.last, Wait,
// Events). It is called by one goroutine at a time: the sync leader under
// c.syncMu, or with NoSyncWrites the committer holding the token.
func (c *Catalog) publish(seq uint64) {
	if seq <= c.last.Load() {
		return
	}
	c.last.Store(seq)
	c.notifyMu.Lock()
	close(c.notify)
	c.notify = make(chan struct{})
	c.notifyMu.Unlock()
}

// logExts are the suffixes of Badger's log files: memtable write-ahead logs
// (00001.mem) and value-log files (000001.vlog), numbered upwards as
// Badger rotates them.
var logExts = [...]string{".mem", ".vlog"}

// syncLogs makes every change committed so far durable.
//
// DB.Sync (badger v4.9.6, db.go) msyncs the write-ahead log of the ACTIVE
// memtable (db.mt.SyncWAL) and the CURRENT value-log file (vlog.sync).
// Every commit goes to both (values under the value threshold, i.e. all
// catalog records, only to the WAL), so that covers every commit still in
// them. It does not cover a log Badger rotated away since the last sync:
// with SyncWrites off, ensureRoomForWrite moves a full memtable to db.imm
// without syncing its WAL (it stays the only copy until the memtable is
// flushed to a synced L0 table), and logFile.doneWriting closes a full
// value-log file without syncing it. So after DB.Sync syncLogs also fsyncs
// each log file that is no longer the newest of its kind and was not older
// than the newest at the previous sync: exactly the files rotated since
// then. One that is already gone was flushed to a table (Badger syncs
// tables and the manifest before deleting a WAL). Only the sync leader (or
// Open, before any writer) calls it.
func (c *Catalog) syncLogs() error {
	if err := c.db.Sync(); err != nil {
		return err
	}
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return err
	}
	for k, ext := range logExts {
		newest := -1
		var rotated []string
		for _, e := range ents {
			id, ok := logID(e.Name(), ext)
			if !ok {
				continue
			}
			newest = max(newest, id)
			if id >= c.logSynced[k] {
				rotated = append(rotated, e.Name())
			}
		}
		for _, name := range rotated {
			if id, _ := logID(name, ext); id == newest {
				continue // synced by DB.Sync, or newer than this sync
			}
			if err := fsyncFile(filepath.Join(c.dir, name)); err != nil {
				return err
			}
			c.rotated.Add(1)
		}
		if newest >= 0 {
			c.logSynced[k] = newest
		}
	}
	return nil
}

// logID parses Badger's log file name NNNNN<ext>.
func logID(name, ext string) (int, bool) {
	s, ok := strings.CutSuffix(name, ext)
	if !ok {
		return 0, false
	}
	id, err := strconv.Atoi(s)
	return id, err == nil && id >= 0
}

// fsyncFile fsyncs the file at path; a file already removed is no error.
func fsyncFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
