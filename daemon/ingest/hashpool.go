package ingest

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/ingestd/ingestd/daemon/watch"
	"github.com/ingestd/ingestd/storage"
)

type job struct {
	v *volume
	e watch.Entry // the settled stat
}

// hashPool hashes settled files, at most limit at a time, and catalogs
// them if they did not change while being read.
type hashPool struct {
	p      *Pipeline
	mu     sync.Mutex
	cond   *sync.Cond
	queue  []job
	active int
	limit  int
	closed bool
	wg     sync.WaitGroup
}

func newHashPool(p *Pipeline, limit int) *hashPool {
	h := &hashPool{p: p, limit: limit}
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
// stops taking jobs, lets running ones abort their read, and waits.
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
		for !h.closed && (len(h.queue) == 0 || h.active >= h.limit) {
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
		h.mu.Unlock()
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.work(ctx, j)
			h.mu.Lock()
			h.active--
			h.mu.Unlock()
			h.cond.Broadcast()
		}()
	}
	h.wg.Wait()
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

func (h *hashPool) work(ctx context.Context, j job) {
	p := h.p
	k := fileKey{j.v.name, j.e.Rel}
	var requeue *watch.Entry
	defer func() {
		p.settle.done(k)
		if requeue != nil {
			p.settle.touch(j.v, *requeue, true)
		}
		p.progress.Add(1)
	}()
	if !j.v.isOnline() || j.v.stopped() {
		return
	}
	abs := j.v.abs(j.e.Rel)
	log := p.log.With("volume", j.v.name, "path", j.e.Rel)
	f, err := openForHash(abs)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			log.Warn("cannot open file; retried at next rescan", "err", err)
		}
		return
	}
	bp := bufPool.Get().(*[]byte)
	hs, n, err := HashReader(ctxReader{ctx, f}, *bp)
	bufPool.Put(bp)
	f.Close()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		log.Warn("cannot read file; retried at next rescan", "err", err)
		return
	}
	p.bytesHashed.Add(uint64(n))
	p.filesHashed.Add(1)
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
	_, err = p.cat.PutFile(storage.FileRecord{
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
}
