package ingest

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ingestd/ingestd/daemon/watch"
)

type fileKey struct{ vol, rel string }

type pend struct {
	v   *volume
	e   watch.Entry
	due time.Time
	// recheck: e is the stat the hash pool read the file with, and an
	// event (or a walk) saw the path while it was busy; check compares
	// the path with e instead of settling it (see settler).
	recheck bool
}

// settler holds files until their size and mtime stayed unchanged for the
// settle time, then hands them to the hash pool. Every event re-arms a
// file's timer; a check that finds a different size, mtime or inode
// re-arms it too, so a slow writer is never cataloged early.
//
// Memory (issue 15): a walk never queues more than the pipeline's
// maxPending files at once (settling plus handed to the hash pool and not
// cataloged yet): touchWalk blocks the walk until files are done, so the
// first walk of a tree of a million files holds a few thousand of them,
// not all. A walked file is due once its ctime is settle old (nothing
// about it changed for the settle time: the same fact a timer started at
// discovery proves, only learned from the inode), so a first ingest of
// old files is not slowed to maxPending files per settle period.
//
// Busy files (handed to the hash pool: queued, being hashed, or hashed
// and waiting for the catalog stage) are not queued again, but nothing
// seen of them meanwhile is lost: an event (written, created, removed,
// moved away, its directory removed or moved, events lost to a queue
// overflow) or a walk that finds a busy path marks it dirty, and when the
// hash pool is done with it (cataloged or not) a dirty path is checked
// again from scratch (a pend with recheck, due at once): unchanged since
// the stat it was hashed with -> forgotten (one stat, no second hash);
// changed -> settled again (the settle time, like any change: a file
// rewritten continuously is not hashed in a loop); gone -> handed to its
// volume's removal (noteGone), which now finds it cataloged and removes
// it. The dirty mark lives in the busy entry and goes with it.
type settler struct {
	t   *tunables
	ctr *counters
	cfg live
	log *slog.Logger
	// toHash hands a settled file to the hash pool (its push).
	toHash func(job)

	mu sync.Mutex
	m  map[fileKey]*pend
	// busy holds the files handed to the hash pool, not done yet; the
	// value is nil, or the volume that saw the path change meanwhile
	// (dirty: checked again when done).
	busy map[fileKey]*volume
	// space is signalled whenever a file leaves (done, dropped): a walk
	// blocked in touchWalk re-checks the bound.
	space chan struct{}
	// peak is the most files ever pending at once (tests).
	peak int
}

func newSettler(t *tunables, ctr *counters, cfg live, log *slog.Logger) *settler {
	return &settler{t: t, ctr: ctr, cfg: cfg, log: log, m: map[fileKey]*pend{}, busy: map[fileKey]*volume{}, space: make(chan struct{}, 1)}
}

// DefaultMaxPending bounds the files a walk keeps queued at once.
const DefaultMaxPending = 4096

func (s *settler) freed() {
	select {
	case s.space <- struct{}{}:
	default:
	}
}

// pendingLocked is what the bound counts.
func (s *settler) pendingLocked() int { return len(s.m) + len(s.busy) }

// touchWalk queues a file a walk found, first waiting while maxPending
// files are pending (backpressure: the walk pauses until the hash pool
// catches up). It does not wait while hashing is paused (nothing would
// drain) and returns false at once when ctx or quit ends the wait.
// progress is called whenever a file left meanwhile.
func (s *settler) touchWalk(ctx context.Context, quit <-chan struct{}, v *volume, e watch.Entry, progress func()) bool {
	limit := s.t.maxPending
	k := fileKey{v.name, e.Rel}
	for {
		due := walkDue(e, s.cfg.settle())
		// The bound is checked and the file queued in one step: several
		// walkers (a rescan's) never pass it together. A file pending
		// already is touched at once: it adds nothing.
		s.mu.Lock()
		_, settling := s.m[k]
		_, busy := s.busy[k]
		if limit <= 0 || settling || busy || s.pendingLocked() < limit || s.cfg.paused() {
			s.touchLocked(v, e, false, due)
			s.mu.Unlock()
			return true
		}
		s.mu.Unlock()
		v.markFirst() // throttled: the volume is up and ingesting (Ready)
		select {
		case <-ctx.Done():
			return false
		case <-quit:
			return false
		case <-s.space:
			progress()
		case <-time.After(250 * time.Millisecond): // a pause may have begun
		}
	}
}

// walkDue is when a walked file has settled: its ctime plus the settle
// time, not earlier than now (a ctime in the future: now plus settle). A
// file the walk did not stat (NoStat) is due at once: the hash pool takes
// its stat when it opens it and settles it again unless walkDue of that
// stat is due (hashPool.hash).
func walkDue(e watch.Entry, settle time.Duration) time.Time {
	now := time.Now()
	if e.NoStat {
		return now
	}
	if e.CTime <= 0 || e.CTime > now.UnixNano() {
		return now.Add(settle)
	}
	return time.Unix(0, e.CTime).Add(settle)
}

// touch (re)queues a file. rearm: an event saw it change, restart its
// timer from e; otherwise (a walk found it) keep a pending timer as it is.
func (s *settler) touch(v *volume, e watch.Entry, rearm bool) {
	s.touchAt(v, e, rearm, time.Now().Add(s.cfg.settle()))
}

func (s *settler) touchAt(v *volume, e watch.Entry, rearm bool, due time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.touchLocked(v, e, rearm, due)
}

// touchLocked is touchAt with s.mu held.
func (s *settler) touchLocked(v *volume, e watch.Entry, rearm bool, due time.Time) {
	k := fileKey{v.name, e.Rel}
	if _, ok := s.busy[k]; ok {
		s.busy[k] = v // dirty: checked again when the hash pool is done
		return
	}
	if p, ok := s.m[k]; ok {
		if rearm {
			p.v, p.e, p.due, p.recheck = v, e, due, false
		}
		return
	}
	s.ctr.filesSeen.Add(1)
	if !rearm && !due.After(time.Now()) {
		// A walked file that has already settled (its ctime is settle
		// old; e is the walk's stat, just taken), or that the walk did
		// not stat (NoStat: the hash pool checks its ctime when it opens
		// it): straight to the hash pool, without waiting for the next
		// tick and a second stat.
		s.busy[k] = nil
		s.peak = max(s.peak, s.pendingLocked())
		s.toHash(job{v: v, e: e})
		return
	}
	s.m[k] = &pend{v: v, e: e, due: due}
	s.peak = max(s.peak, s.pendingLocked())
}

// drop forgets a pending file of v: the watcher saw it removed or moved
// away. A busy one is marked dirty instead (checked again when done: it
// may be cataloged after the watcher's removal ran).
func (s *settler) drop(v *volume, rel string) {
	k := fileKey{v.name, rel}
	s.mu.Lock()
	if _, ok := s.busy[k]; ok {
		s.busy[k] = v
	}
	delete(s.m, k)
	s.mu.Unlock()
	s.freed()
}

// dirtyUnder marks every busy file of v under dir ("": all of them)
// dirty: the watcher saw the directory removed or moved away (its files
// get no events of their own), or lost events (a queue overflow); the
// rescan it then requests does not know the files not cataloged yet.
// Files settling need nothing: their check finds them gone or changed.
func (s *settler) dirtyUnder(v *volume, dir string) {
	prefix := dir + "/"
	s.mu.Lock()
	for k := range s.busy {
		if k.vol == v.name && (dir == "" || strings.HasPrefix(k.rel, prefix)) {
			s.busy[k] = v
		}
	}
	s.mu.Unlock()
}

// dropVolume forgets every pending file of a volume (offline, removed).
func (s *settler) dropVolume(vol string) {
	s.mu.Lock()
	for k := range s.m {
		if k.vol == vol {
			delete(s.m, k)
		}
	}
	s.mu.Unlock()
	s.freed()
}

// done: the hash pool is done with j's file (cataloged, or not: gone,
// unreadable, changed and handed back, given up). j.e is the stat it was
// hashed with. requeue, when set, is the file's stat when the hash pool
// found it changed since it settled: it settles again from that stat,
// in the same step (a walk waiting for space never sees the file gone and
// fills its place first). Otherwise a dirty file is checked again (a
// recheck pend, due at once) unless the volume that saw it is offline or
// stopped.
func (s *settler) done(j job, requeue *watch.Entry) {
	k := fileKey{j.v.name, j.e.Rel}
	var due time.Time
	if requeue != nil {
		due = time.Now().Add(s.cfg.settle())
	}
	s.mu.Lock()
	dv := s.busy[k]
	delete(s.busy, k)
	if requeue != nil {
		s.touchLocked(j.v, *requeue, true, due)
	} else if _, settling := s.m[k]; dv != nil && !settling && dv.isOnline() && !dv.stopped() {
		e := j.e
		if dv != j.v || e.NoStat {
			// Seen by another volume of the same name (restarted by a
			// reload), or hashed without a stat: nothing to compare
			// with, so it settles again.
			e = watch.Entry{Rel: j.e.Rel}
		}
		s.m[k] = &pend{v: dv, e: e, due: time.Now(), recheck: true}
	}
	s.mu.Unlock()
	s.freed()
}

func (s *settler) counts() (settling, hashing int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m), len(s.busy)
}

func (s *settler) tick() time.Duration {
	d := s.cfg.settle() / 4
	return min(max(d, 10*time.Millisecond), time.Second)
}

func (s *settler) run(ctx context.Context) {
	t := time.NewTimer(s.tick())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.ctr.progress.Add(1)
		now := time.Now()
		var due []*pend
		s.mu.Lock()
		for _, p := range s.m {
			if !p.due.After(now) {
				due = append(due, p)
			}
		}
		s.mu.Unlock()
		for _, p := range due {
			if ctx.Err() != nil {
				return
			}
			s.check(p)
		}
		t.Reset(s.nextWake())
	}
}

// nextWake is how long the loop may sleep: until the earliest pending file
// is due, so a file is hashed as soon as it has settled (not up to a tick
// later), and at most one tick so progress keeps being reported.
func (s *settler) nextWake() time.Duration {
	d := s.tick()
	now := time.Now()
	s.mu.Lock()
	for _, p := range s.m {
		d = min(d, p.due.Sub(now))
	}
	s.mu.Unlock()
	return max(d, time.Millisecond)
}

// check stats a due file: unchanged since it was armed -> hash it;
// changed -> re-arm; gone or offline -> forget it. A recheck (a dirty
// file the hash pool is done with): unchanged since it was hashed ->
// forget it; changed -> settle it; gone -> its volume removes it.
func (s *settler) check(p *pend) {
	k := fileKey{p.v.name, p.e.Rel}
	if !p.v.isOnline() || p.v.stopped() {
		s.forget(k, p)
		return
	}
	e, ok, err := watch.Stat(p.v.root, p.e.Rel)
	s.mu.Lock()
	cur, still := s.m[k]
	if !still || cur != p {
		s.mu.Unlock()
		return
	}
	if err != nil || !ok {
		recheck := p.recheck
		delete(s.m, k)
		s.mu.Unlock()
		s.freed()
		if err != nil {
			s.log.Warn("stat settling file", "volume", k.vol, "path", k.rel, "err", err)
		} else if recheck {
			// Removed or moved away while it was hashed or cataloged:
			// the watcher's removal found nothing cataloged yet.
			p.v.noteGone(k.rel)
		}
		return
	}
	defer s.mu.Unlock()
	if p.recheck {
		p.recheck = false
		if sameFile(e, p.e) && e.Dev == p.e.Dev {
			delete(s.m, k) // what was hashed is what is there
			s.freed()
			return
		}
		s.ctr.filesSeen.Add(1)
		p.e, p.due = e, time.Now().Add(s.cfg.settle())
		return
	}
	if !sameFile(e, p.e) {
		p.e, p.due = e, time.Now().Add(s.cfg.settle())
		return
	}
	if p.due.After(time.Now()) { // re-armed by an event meanwhile
		return
	}
	delete(s.m, k)
	s.busy[k] = nil
	s.toHash(job{v: p.v, e: e})
}

// forget removes p if it is still k's pend.
func (s *settler) forget(k fileKey, p *pend) {
	s.mu.Lock()
	if s.m[k] == p {
		delete(s.m, k)
	}
	s.mu.Unlock()
	s.freed()
}

func sameFile(a, b watch.Entry) bool {
	return a.Size == b.Size && a.MTime == b.MTime && a.Ino == b.Ino
}
