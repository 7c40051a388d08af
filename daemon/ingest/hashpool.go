package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/daemon/watch"
	"github.com/ingestd/ingestd/internal/safefs"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
)

type job struct {
	v *volume
	e watch.Entry // the settled stat
}

// hashed is a file read and hashed, on its way to the catalog.
type hashed struct {
	j   job
	rec storage.FileRecord
}

// hashPool hashes settled files, at most limit at a time, and catalogs
// them if they did not change while being read.
//
// Two stages (issue 15: a first ingest of many small files keeps both
// cores busy). Hash workers (at most limit goroutines, each taking file
// after file while the queue has any) open, hash and re-stat a file and
// hand it to the catalog stage (toCat, at most maxCataloging waiting), then
// take the next one at once. The catalog stage (catalogers goroutines)
// takes what waits, up to catalogBatch files, and records them with one
// catalog.PutFiles call: one group of changes, one wait for the sync that
// makes them durable; while one cataloger waits for its sync, the other
// commits the next batch, and the workers hash the one after. A file is
// done with (the settler may queue it again) only once it is durable;
// what the watcher saw of it meanwhile (the settler marks it dirty) is
// checked then: the settler's done.
type hashPool struct {
	cat    *catalog.Catalog
	t      *tunables
	ctr    *counters
	paused func() bool
	log    *slog.Logger
	// settled tells the settler a file it handed over is done with (the
	// job as hashed: its stat is what was cataloged, if it was), and
	// hands it back (requeue: its stat now) when it changed since it
	// settled.
	settled func(j job, requeue *watch.Entry)
	// settleFor is the settle time, for a walked file the walk did not
	// stat (watch.Entry.NoStat); nil: 0.
	settleFor func() time.Duration

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []job
	active int // hash workers running (at most limit, each one file at a time)
	limit  int
	// toCat holds hashed files waiting for the catalog stage: a worker
	// waits while maxCataloging do.
	toCat  chan hashed
	closed bool
	wg     sync.WaitGroup // workers and catalogers
	// inFlight counts workers per file (for the log of abandoned ones).
	inFlight map[fileKey]int
	// writeMu and gaveUp fence catalog writes: once the drain gave up on
	// a stuck worker, nothing it does afterwards reaches the catalog.
	writeMu sync.RWMutex
	gaveUp  bool
	// sinceFree counts the files done since the heap was last handed back
	// (DefaultFreeAfter).
	sinceFree int
}

// DefaultFreeAfter (issue 15, memory): when the pool runs dry after at least this
// many files (the end of a first ingest or of a burst), the Go heap the
// burst grew (Badger's table builders, queues) is handed back to the
// kernel at once (debug.FreeOSMemory: one GC) instead of over minutes by
// the background scavenger, so the daemon's steady RSS is its live data.
const DefaultFreeAfter = 10000

func newHashPool(limit int, cat *catalog.Catalog, t *tunables, ctr *counters, paused func() bool, log *slog.Logger) *hashPool {
	h := &hashPool{cat: cat, t: t, ctr: ctr, paused: paused, log: log, limit: limit, inFlight: map[fileKey]int{}, toCat: make(chan hashed, maxCataloging)}
	h.cond = sync.NewCond(&h.mu)
	return h
}

func (h *hashPool) push(j job) {
	h.mu.Lock()
	h.queue = append(h.queue, j)
	h.mu.Unlock()
	h.cond.Broadcast()
}

func (h *hashPool) setLimit(n int) {
	h.mu.Lock()
	h.limit = n
	h.mu.Unlock()
	h.cond.Broadcast()
}

// catalogers is the number of catalog stage goroutines: one commits while
// another waits for its sync.
const catalogers = 2

// run starts a worker whenever files wait and fewer than limit run (a
// worker goes on with the next file itself, and ends when none waits), and
// runs the catalog stage. On cancel it stops taking jobs, lets running
// ones abort their read, and waits for them at most the pipeline's stop
// grace: a worker stuck in a read(2) that never returns (a hung NFS
// server) cannot be interrupted, so it is abandoned and can no longer
// write to the catalog.
func (h *hashPool) run(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		h.mu.Lock()
		h.closed = true
		h.mu.Unlock()
		h.cond.Broadcast()
	})
	defer stop()
	for range catalogers {
		h.wg.Go(func() { h.catalogLoop(ctx) })
	}
	for {
		h.mu.Lock()
		for !h.closed && (len(h.queue) == 0 || h.active >= h.limit || h.paused()) {
			h.cond.Wait()
		}
		if h.closed {
			h.mu.Unlock()
			break
		}
		j := h.popLocked()
		h.active++
		h.mu.Unlock()
		h.wg.Go(func() { h.worker(ctx, j) })
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		// A worker's last file may have gone into toCat as the catalogers
		// ended: given up like the others.
		for {
			select {
			case it := <-h.toCat:
				h.finish(it.j, nil)
				continue
			default:
			}
			break
		}
	case <-time.After(h.t.stopGrace):
		h.writeMu.Lock()
		h.gaveUp = true
		h.writeMu.Unlock()
		h.mu.Lock()
		var stuck []string
		for k := range h.inFlight {
			stuck = append(stuck, k.vol+":"+k.rel)
		}
		h.mu.Unlock()
		h.log.Error("hash workers blocked in a read past the stop grace; abandoned (their files are hashed again after the restart)",
			"grace", h.t.stopGrace, "files", stuck)
	}
}

// popLocked takes the next job off the queue (h.mu held).
func (h *hashPool) popLocked() job {
	j := h.queue[0]
	h.queue[0] = job{}
	h.queue = h.queue[1:]
	h.inFlight[fileKey{j.v.name, j.e.Rel}]++
	return j
}

// worker hashes j, then the next queued file, and so on; it ends when no
// file waits, the pool is closed or paused, or it is over the limit.
func (h *hashPool) worker(ctx context.Context, j job) {
	var roots rootCache
	defer roots.close()
	for {
		if it, ok := h.hash(ctx, j, &roots); ok {
			select {
			case h.toCat <- it:
			case <-ctx.Done():
				h.finish(j, nil)
			}
		}
		h.mu.Lock()
		if h.closed || len(h.queue) == 0 || h.active > h.limit || h.paused() {
			h.active--
			h.mu.Unlock()
			h.cond.Broadcast()
			return
		}
		j = h.popLocked()
		h.mu.Unlock()
	}
}

// catalogLoop is one cataloger: it takes the hashed files waiting, up to
// catalogBatch, and records them together. On cancel the files still
// waiting are given up (hashed again after a restart).
func (h *hashPool) catalogLoop(ctx context.Context) {
	batch := make([]hashed, 0, catalogBatch)
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case it := <-h.toCat:
					h.finish(it.j, nil)
				default:
					return
				}
			}
		case it := <-h.toCat:
			batch = append(batch[:0], it)
		}
	more:
		for len(batch) < catalogBatch {
			select {
			case it := <-h.toCat:
				batch = append(batch, it)
			default:
				break more
			}
		}
		h.catalog(ctx, batch)
		clear(batch)
	}
}

// finish is the end of a file's way through the pool: the settler may
// queue it again (requeue: at once, it changed), and the heap is handed
// back when the pool ran dry after a burst (DefaultFreeAfter).
func (h *hashPool) finish(j job, requeue *watch.Entry) {
	k := fileKey{j.v.name, j.e.Rel}
	h.settled(j, requeue)
	h.ctr.progress.Add(1)
	h.mu.Lock()
	if h.inFlight[k]--; h.inFlight[k] <= 0 {
		delete(h.inFlight, k)
	}
	h.sinceFree++
	release := h.sinceFree >= h.t.freeAfter && len(h.queue) == 0 && len(h.inFlight) == 0
	if release {
		h.sinceFree = 0
	}
	h.mu.Unlock()
	if release {
		debug.FreeOSMemory()
		h.ctr.heapReleases.Add(1)
	}
}

// wake re-checks the wait condition (a pause ended).
func (h *hashPool) wake() {
	h.mu.Lock() // a waiter between its check and Wait holds mu: no lost wakeup
	h.cond.Broadcast()
	h.mu.Unlock()
}

// ctxReader reads the descriptor fd until ctx ends.
type ctxReader struct {
	ctx context.Context
	fd  int
}

func (r ctxReader) Read(b []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	if len(b) == 0 {
		return 0, nil
	}
	for {
		n, err := unix.Read(r.fd, b)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			// A file whose reads honour O_NONBLOCK (left set by
			// OpenRegularFdIn): blocking from now on.
			if err := unix.SetNonblock(r.fd, false); err != nil {
				return 0, os.NewSyscallError("fcntl", err)
			}
			continue
		case err != nil:
			return 0, os.NewSyscallError("read", err)
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// smallFile is the size below which a file is hashed without HashReader's
// second goroutine.
const smallFile = 64 << 10

// maxCataloging bounds the hashed files waiting for the catalog stage;
// catalogBatch is the most one cataloger records at once (the group
// commit's batch: one transaction).
const (
	maxCataloging = 512
	catalogBatch  = 256
)

// rootCache is a worker's open volume root (watch.Root), kept while the
// worker takes file after file of that volume: no open, stat and close of
// the root per file; and the folder of the last file it opened
// (safefs.FolderCache), kept while files of that folder come. The root is
// checked against the root's path every rootRecheck; both are closed when
// the worker ends (an idle pool holds no descriptor that would keep a
// volume's filesystem from being unmounted).
type rootCache struct {
	v       *volume
	r       *watch.Root
	checked time.Time
	folder  safefs.FolderCache
}

const rootRecheck = time.Second

func (c *rootCache) get(v *volume) (*watch.Root, error) {
	if c.r != nil && c.v == v && time.Since(c.checked) < rootRecheck {
		return c.r, nil
	}
	if c.r != nil && c.v == v && c.r.Current() {
		c.checked = time.Now()
		return c.r, nil
	}
	c.close()
	r, err := watch.OpenRoot(v.root)
	if err != nil {
		return nil, err
	}
	c.v, c.r, c.checked = v, r, time.Now()
	return r, nil
}

func (c *rootCache) close() {
	c.folder.Reset()
	if c.r != nil {
		c.r.Close()
		c.v, c.r = nil, nil
	}
}

// work hashes and catalogs one file, and is done with it when it returns
// (the pool's workers hand the cataloging to the catalog stage instead).
func (h *hashPool) work(ctx context.Context, j job) {
	var roots rootCache
	defer roots.close()
	if it, ok := h.hash(ctx, j, &roots); ok {
		h.catalog(ctx, []hashed{it})
	}
}

// hash reads and hashes one file. ok: it is to be cataloged (and not done
// with yet); otherwise hash is done with it (finish: gone, rejected,
// unreadable, or changed and settling again).
func (h *hashPool) hash(ctx context.Context, j job, roots *rootCache) (it hashed, ok bool) {
	var requeue *watch.Entry
	defer func() {
		if !ok {
			h.finish(j, requeue)
		}
	}()
	if !j.v.isOnline() || j.v.stopped() {
		return
	}
	if h.t.beforeHash != nil {
		h.t.beforeHash(ctx, j.v.name, j.e.Rel)
		if ctx.Err() != nil {
			return
		}
	}
	// Never follow a link, never block in open (a FIFO swapped in since
	// the settle), and read only the file that settled.
	root, err := roots.get(j.v)
	fd := -1
	var cur watch.Entry
	if err == nil {
		fd, cur, err = root.OpenRegularFdIn(&roots.folder, j.e.Rel)
		if (err != nil || !j.e.NoStat && (!sameFile(cur, j.e) || cur.Dev != j.e.Dev)) && roots.folder.Reused() {
			// The folder held since an earlier file may have been
			// renamed or replaced: resolve it again before concluding.
			if err == nil {
				unix.Close(fd)
			}
			roots.folder.Reset()
			fd, cur, err = root.OpenRegularFdIn(&roots.folder, j.e.Rel)
		}
	}
	if err != nil {
		var nr *watch.NotRegularError
		switch {
		case errors.As(err, &nr):
			h.ctr.filesRejected.Add(1)
			h.log.Warn("not a regular file any more; skipped, not read", "volume", j.v.name, "path", j.e.Rel, "kind", nr.Kind, "err", err)
		case !errors.Is(err, os.ErrNotExist):
			h.log.Warn("cannot open file; retried at next rescan", "volume", j.v.name, "path", j.e.Rel, "err", err)
		}
		return
	}
	if j.e.NoStat {
		// Found by a walk that did not stat it (a first ingest): this is
		// its stat, and it is read now if it has settled by its ctime, as
		// the walk would have decided (walkDue); otherwise it settles. A
		// held folder renamed meanwhile is caught by the stat after the
		// read, which is of the path.
		var settle time.Duration
		if h.settleFor != nil {
			settle = h.settleFor()
		}
		if walkDue(cur, settle).After(time.Now()) {
			unix.Close(fd)
			h.debug("found by the walk unsettled; settling", j, "ctime", cur.CTime)
			requeue = &cur
			return
		}
		j.e = cur
	}
	if !sameFile(cur, j.e) || cur.Dev != j.e.Dev {
		unix.Close(fd)
		h.debug("replaced or changed since it settled; settling again", j, "inode", cur.Ino, "settled_inode", j.e.Ino)
		requeue = &cur
		return
	}
	bp := bufPool.Get().(*[]byte)
	buf := *bp
	var hs storage.Hashes
	var n int64
	if j.e.Size < smallFile {
		// Read whole (the settled size) and hashed on this goroutine:
		// HashReader overlaps reading and BLAKE3 on a second goroutine
		// only with a buffer of 128 KiB or more, which for a small file
		// costs more than it saves; read ahead does not matter for one
		// read (no fadvise). A file that grew or shrank since it settled
		// is caught by the stat after (size and mtime), or reads short.
		var k int
		k, err = io.ReadFull(ctxReader{ctx, fd}, buf[:j.e.Size])
		n = int64(k)
		if err == nil {
			hs = HashBytes(buf[:k])
		} else if errors.Is(err, io.ErrUnexpectedEOF) {
			err = nil // shorter than settled: n != size below
		}
	} else {
		_ = unix.Fadvise(fd, 0, 0, unix.FADV_SEQUENTIAL)
		// At most one byte more than settled: a file still growing is not
		// read to its (moving) end, it is settled again.
		hs, n, err = HashReader(io.LimitReader(ctxReader{ctx, fd}, j.e.Size+1), buf)
	}
	bufPool.Put(bp)
	unix.Close(fd)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		h.log.Warn("cannot read file; retried at next rescan", "volume", j.v.name, "path", j.e.Rel, "err", err)
		return
	}
	h.ctr.bytesHashed.Add(uint64(n))
	h.ctr.filesHashed.Add(1)
	after, present, err := watch.Stat(j.v.root, j.e.Rel)
	if err != nil || !present {
		return // gone (the watcher or the next rescan handles removal)
	}
	if !sameFile(after, j.e) || n != j.e.Size {
		h.debug("changed while hashing; settling again", j)
		requeue = &after
		return
	}
	if !j.v.isOnline() || j.v.stopped() {
		return
	}
	return hashed{j: j, rec: storage.FileRecord{
		Volume: j.v.name,
		Path:   j.e.Rel,
		Size:   n,
		MTime:  time.Unix(0, j.e.MTime).UTC(),
		Inode:  j.e.Ino,
		Dev:    j.e.Dev,
		Hashes: hs,
	}}, true
}

// catalog records hashed files (one PutFiles call) and is done with them.
// A file whose volume went offline or is being stopped meanwhile is left
// for the next walk, as is every file once the pool is cancelled or gave
// up on a stuck worker.
func (h *hashPool) catalog(ctx context.Context, batch []hashed) {
	if h.t.beforeCatalog != nil {
		h.t.beforeCatalog(ctx, batch)
	}
	recs := make([]storage.FileRecord, 0, len(batch))
	take := make([]int, 0, len(batch))
	h.writeMu.RLock()
	if !h.gaveUp && ctx.Err() == nil {
		for i, it := range batch {
			if it.j.v.isOnline() && !it.j.v.stopped() {
				recs = append(recs, it.rec)
				take = append(take, i)
			}
		}
	}
	var errs []error
	if len(recs) > 0 {
		_, errs = h.cat.PutFiles(recs)
	}
	h.writeMu.RUnlock()
	dbg := h.log.Enabled(ctx, slog.LevelDebug)
	k := 0
	for i, it := range batch {
		if k < len(take) && take[k] == i {
			if err := errs[k]; err != nil {
				h.log.Error("catalog file; retried at next rescan", "volume", it.j.v.name, "path", it.j.e.Rel, "asset", it.rec.Hashes.BLAKE3, "err", err)
			} else {
				it.j.v.index.put(it.j.e.Rel, it.rec.Size, it.j.e.MTime, it.j.e.Ino)
				if dbg {
					h.debug("cataloged", it.j, "asset", it.rec.Hashes.BLAKE3, "size", it.rec.Size)
				}
			}
			k++
		}
		h.finish(it.j, nil)
	}
}

// debug logs msg about j's file at debug level; args are only built when
// that level is on (a first ingest logs nothing per file).
func (h *hashPool) debug(msg string, j job, args ...any) {
	if !h.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	h.log.Debug(msg, append([]any{"volume", j.v.name, "path", j.e.Rel}, args...)...)
}
