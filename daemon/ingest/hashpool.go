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
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
)

type job struct {
	v *volume
	e watch.Entry // the settled stat
}

// hashPool hashes settled files, at most limit at a time, and catalogs
// them if they did not change while being read.
type hashPool struct {
	cat    *catalog.Catalog
	t      *tunables
	ctr    *counters
	paused func() bool
	log    *slog.Logger
	// settled tells the settler a file it handed over is done with;
	// resettle hands back a file that changed since it settled.
	settled  func(fileKey)
	resettle func(v *volume, e watch.Entry)

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []job
	active int // workers hashing (at most limit)
	limit  int
	// catalog holds a slot per worker that hashed its file and waits for
	// the catalog (toCatalog): at most maxCataloging files at once.
	catalog chan struct{}
	closed  bool
	wg      sync.WaitGroup
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
	h := &hashPool{cat: cat, t: t, ctr: ctr, paused: paused, log: log, limit: limit, inFlight: map[fileKey]int{}, catalog: make(chan struct{}, maxCataloging)}
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

// run starts a goroutine per job while fewer than limit run. On cancel it
// stops taking jobs, lets running ones abort their read, and waits for
// them at most the pipeline's stop grace: a worker stuck in a read(2)
// that never returns (a hung NFS server) cannot be interrupted, so it is
// abandoned and can no longer write to the catalog.
func (h *hashPool) run(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		h.mu.Lock()
		h.closed = true
		h.mu.Unlock()
		h.cond.Broadcast()
	})
	defer stop()
	for {
		h.mu.Lock()
		for !h.closed && (len(h.queue) == 0 || h.active >= h.limit || h.paused()) {
			h.cond.Wait()
		}
		if h.closed {
			h.mu.Unlock()
			break
		}
		j := h.queue[0]
		h.queue[0] = job{}
		h.queue = h.queue[1:]
		h.active++
		h.inFlight[fileKey{j.v.name, j.e.Rel}]++
		h.mu.Unlock()
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			cataloging := h.work(ctx, j)
			h.mu.Lock()
			if cataloging {
				<-h.catalog
			} else {
				h.active--
			}
			k := fileKey{j.v.name, j.e.Rel}
			if h.inFlight[k]--; h.inFlight[k] <= 0 {
				delete(h.inFlight, k)
			}
			h.sinceFree++
			release := h.sinceFree >= h.t.freeAfter && len(h.queue) == 0 && len(h.inFlight) == 0
			if release {
				h.sinceFree = 0
			}
			h.mu.Unlock()
			h.cond.Broadcast()
			if release {
				debug.FreeOSMemory()
				h.ctr.heapReleases.Add(1)
			}
		}()
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
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

// wake re-checks the wait condition (a pause ended).
func (h *hashPool) wake() {
	h.mu.Lock() // a waiter between its check and Wait holds mu: no lost wakeup
	h.cond.Broadcast()
	h.mu.Unlock()
}

type ctxReader struct {
	ctx context.Context
	f   *os.File
}

func (r ctxReader) Read(b []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.f.Read(b)
}

// smallFile is the size below which a file is hashed without HashReader's
// second goroutine.
const smallFile = 64 << 10

// maxCataloging bounds the hashed files waiting for the catalog at once.
// The catalog commits the files waiting together, in one transaction and
// one sync (group commit): a worker gives its hash slot back while its
// file waits (toCatalog), so hashing goes on meanwhile and the catalog
// gets whole batches, not one file per hash worker.
const maxCataloging = 256

// toCatalog moves a worker from hashing to waiting for the catalog: it
// takes a catalog slot (waiting while maxCataloging files wait) and gives
// its hash slot back.
func (h *hashPool) toCatalog() {
	h.catalog <- struct{}{}
	h.mu.Lock()
	h.active--
	h.mu.Unlock()
	h.cond.Broadcast()
}

// work hashes and catalogs one file; cataloging reports that it called
// toCatalog (its hash slot is back already, its catalog slot is not).
func (h *hashPool) work(ctx context.Context, j job) (cataloging bool) {
	k := fileKey{j.v.name, j.e.Rel}
	var requeue *watch.Entry
	defer func() {
		h.settled(k)
		if requeue != nil {
			h.resettle(j.v, *requeue)
		}
		h.ctr.progress.Add(1)
	}()
	if !j.v.isOnline() || j.v.stopped() {
		return
	}
	log := h.log.With("volume", j.v.name, "path", j.e.Rel)
	if h.t.beforeHash != nil {
		h.t.beforeHash(ctx, j.v.name, j.e.Rel)
		if ctx.Err() != nil {
			return
		}
	}
	// Never follow a link, never block in open (a FIFO swapped in since
	// the settle), and read only the file that settled.
	f, cur, err := watch.OpenRegular(j.v.root, j.e.Rel)
	if err != nil {
		var nr *watch.NotRegularError
		switch {
		case errors.As(err, &nr):
			h.ctr.filesRejected.Add(1)
			log.Warn("not a regular file any more; skipped, not read", "kind", nr.Kind, "err", err)
		case !errors.Is(err, os.ErrNotExist):
			log.Warn("cannot open file; retried at next rescan", "err", err)
		}
		return
	}
	if !sameFile(cur, j.e) || cur.Dev != j.e.Dev {
		f.Close()
		log.Debug("replaced or changed since it settled; settling again", "inode", cur.Ino, "settled_inode", j.e.Ino)
		requeue = &cur
		return
	}
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_SEQUENTIAL)
	bp := bufPool.Get().(*[]byte)
	// At most one byte more than settled: a file still growing is not
	// read to its (moving) end, it is settled again.
	buf := *bp
	if j.e.Size < smallFile {
		// Read in one go, hashed on this goroutine: HashReader overlaps
		// reading and BLAKE3 on a second goroutine only with a buffer of
		// 128 KiB or more, which for a small file costs more than it saves.
		buf = buf[:smallFile]
	}
	hs, n, err := HashReader(io.LimitReader(ctxReader{ctx, f}, j.e.Size+1), buf)
	bufPool.Put(bp)
	f.Close()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		log.Warn("cannot read file; retried at next rescan", "err", err)
		return
	}
	h.ctr.bytesHashed.Add(uint64(n))
	h.ctr.filesHashed.Add(1)
	after, ok, err := watch.Stat(j.v.root, j.e.Rel)
	if err != nil || !ok {
		return // gone (the watcher or the next rescan handles removal)
	}
	if !sameFile(after, j.e) || n != j.e.Size {
		log.Debug("changed while hashing; settling again")
		requeue = &after
		return
	}
	if !j.v.isOnline() || j.v.stopped() {
		return
	}
	h.toCatalog()
	cataloging = true
	h.writeMu.RLock()
	defer h.writeMu.RUnlock()
	if h.gaveUp || ctx.Err() != nil {
		return
	}
	_, err = h.cat.PutFile(storage.FileRecord{
		Volume: j.v.name,
		Path:   j.e.Rel,
		Size:   n,
		MTime:  time.Unix(0, j.e.MTime).UTC(),
		Inode:  j.e.Ino,
		Dev:    j.e.Dev,
		Hashes: hs,
	})
	if err != nil {
		log.Error("catalog file; retried at next rescan", "asset", hs.BLAKE3, "err", err)
		return
	}
	j.v.index.put(j.e.Rel, n, j.e.MTime, j.e.Ino)
	log.Debug("cataloged", "asset", hs.BLAKE3, "size", n)
	return
}
