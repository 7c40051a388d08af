package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ingestd/ingestd/daemon/watch"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
)

// volume is one configured root and its loop: identity checks, watcher,
// reconcile walks, removals.
type volume struct {
	d       volumeDeps
	name    string
	root    string
	initial bool // counts towards Ready
	log     *slog.Logger

	firstOnce sync.Once // firstDone, once: after the first check, or when the first walk waits on the hash pool

	online   atomic.Bool
	vmu      sync.Mutex
	inflight *verifyCall // the identity check running now, shared by all callers
	index    locIndex
	indexed  bool // index loaded (volume loop only)
	quit     chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	rescanReq  chan struct{}
	checkReq   chan struct{}
	goneReq    chan struct{}
	limitReq   chan error
	rewatchReq chan struct{}

	mu       sync.Mutex
	st       VolumeStatus
	gone     map[string]bool
	w        *watch.Watcher
	wcancel  context.CancelFunc
	wdone    chan struct{}
	walkMode bool // inotify limit hit: walk only

	walkBeat atomic.Int64 // unix nanos of the running walk's last answer from the filesystem
}

// volumeDeps is what a volume uses of the rest of the pipeline.
type volumeDeps struct {
	cat       *catalog.Catalog
	settle    *settler // new and changed files go there; removed ones are dropped there
	cfg       live
	ctr       *counters
	t         *tunables
	firstDone func() // counts the volume towards the pipeline's Ready
	log       *slog.Logger
}

func newVolume(d volumeDeps, vc Volume, initial bool) *volume {
	return &volume{
		d: d, name: vc.Name, root: strings.TrimSuffix(vc.Path, "/"), initial: initial,
		log:  d.log.With("volume", vc.Name),
		quit: make(chan struct{}), done: make(chan struct{}),
		rescanReq: make(chan struct{}, 1), checkReq: make(chan struct{}, 1),
		goneReq: make(chan struct{}, 1), limitReq: make(chan error, 1), rewatchReq: make(chan struct{}, 1),
		st:    VolumeStatus{Name: vc.Name, Path: vc.Path, Reason: "not checked yet", WatchMode: "none"},
		gone:  map[string]bool{},
		index: locIndex{},
	}
}

func (v *volume) isOnline() bool { return v.online.Load() }

func (v *volume) stopped() bool {
	select {
	case <-v.quit:
		return true
	default:
		return false
	}
}

// stop ends the loop and waits for it. Only for volumes whose run was
// started (startVolumeLocked does both).
func (v *volume) stop() {
	v.stopOnce.Do(func() { close(v.quit) })
	<-v.done
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (v *volume) requestRescan() { signal(v.rescanReq) }

func (v *volume) status() VolumeStatus {
	v.mu.Lock()
	st := v.st
	if v.w != nil {
		st.Watches = v.w.Watches()
	}
	v.mu.Unlock()
	if st.Scanning {
		if d := time.Since(time.Unix(0, v.walkBeat.Load())); d >= v.d.t.walkStall {
			st.Stalled = d.Truncate(time.Second)
		}
	}
	st.Files, st.Bytes = v.index.stats()
	return st
}

// markFirst counts this volume towards the pipeline's Ready, once. It is
// called when the first check (and its first walk) is done, or earlier,
// when that first walk has to wait for the hash pool (touchWalk): the
// first walk of a large tree is throttled to the hashing speed, and the
// daemon must not wait for a million files to be hashed before it
// reports ready (systemd's start timeout); the walk goes on meanwhile.
func (v *volume) markFirst() {
	if v.initial {
		v.firstOnce.Do(v.d.firstDone)
	}
}

func (v *volume) run(ctx context.Context) {
	defer close(v.done)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-v.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	defer v.stopWatcher()

	v.loadIndex()
	v.check(ctx)
	v.markFirst()
	tick := time.NewTicker(v.d.t.checkEvery)
	defer tick.Stop()
	rescan := time.NewTimer(v.d.cfg.rescan(v.walkMode))
	defer rescan.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			v.d.ctr.progress.Add(1)
			if !v.indexed {
				v.loadIndex()
			}
			v.check(ctx)
		case <-v.checkReq:
			v.check(ctx)
		case <-v.rescanReq:
			if v.isOnline() {
				v.reconcile(ctx)
			}
			rescan.Reset(v.d.cfg.rescan(v.walkMode))
		case <-rescan.C:
			if cameOnline := v.check(ctx); !cameOnline && v.isOnline() {
				v.reconcile(ctx) // (a volume coming online was just walked)
			}
			rescan.Reset(v.d.cfg.rescan(v.walkMode))
		case <-v.goneReq:
			v.removeGone(ctx)
		case err := <-v.limitReq:
			v.enterWalkMode(err)
			rescan.Reset(v.d.cfg.rescan(v.walkMode))
		case <-v.rewatchReq:
			if v.walkMode && v.isOnline() { // a reload: maybe the limit was raised
				v.startWatcher(ctx)
				v.reconcile(ctx)
				rescan.Reset(v.d.cfg.rescan(v.walkMode))
			}
		}
	}
}

// check verifies the volume's identity and handles transitions. It
// reports whether the volume came online (and was walked) in this call.
func (v *volume) check(ctx context.Context) bool {
	rec, err := v.d.cat.Volume(v.name)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		v.log.Error("read volume record", "err", err)
		return false
	}
	if errors.Is(err, storage.ErrNotFound) {
		rec = storage.Volume{Name: v.name, Path: v.root}
	}
	dev, reason := v.verify(rec)
	adopted := false
	if reason != "" && dev != 0 && v.mayAdopt(rec, reason) {
		marker, adev, note, aerr := watch.Adopt(v.root)
		if aerr != nil {
			reason = aerr.Error()
		} else {
			v.log.Info("volume adopted", "path", v.root, "identity", note)
			rec.Marker, dev, reason, adopted = marker, adev, "", true
		}
	}
	if reason != "" {
		v.goOffline(rec, reason)
		return false
	}
	return v.goOnline(ctx, rec, dev, adopted)
}

// mayAdopt: a volume never adopted, or one whose marker is missing while
// the catalog holds no present file of it (nothing to protect), gets a
// (new) marker. A volume with files and a missing or foreign marker stays
// offline until the admin restores the marker (watch.WriteMarker).
func (v *volume) mayAdopt(rec storage.Volume, reason string) bool {
	if rec.Marker == "" {
		return true
	}
	if strings.HasPrefix(reason, "root") || strings.HasPrefix(reason, "not mounted") {
		return false
	}
	if v.indexed { // the volume loop's copy of the catalog: no scan per tick
		files, _ := v.index.stats()
		return files == 0
	}
	files, _, err := v.d.cat.VolumeStats(v.name)
	return err == nil && files == 0
}

func (v *volume) goOffline(rec storage.Volume, reason string) {
	wasOnline := v.online.Swap(false)
	v.stopWatcher()
	v.d.settle.dropVolume(v.name)
	v.mu.Lock()
	changed := v.st.Reason != reason || wasOnline
	v.st.Online, v.st.Reason, v.st.WatchMode, v.st.Scanning = false, reason, "none", false
	v.mu.Unlock()
	if wasOnline || rec.Online || (rec.Reason != reason && rec.Marker != "") {
		rec.Online, rec.Reason, rec.Changed = false, reason, time.Now().UTC()
		if rec.Path == "" {
			rec.Path = v.root
		}
		if _, err := v.d.cat.SetVolume(rec); err != nil {
			v.log.Error("record volume offline", "err", err)
		}
	}
	if changed {
		v.log.Warn("volume offline; nothing is removed while offline", "path", v.root, "reason", reason)
	}
}

// goOnline records the identity if it changed, starts watching and walks
// when the volume was not online in this process.
func (v *volume) goOnline(ctx context.Context, rec storage.Volume, dev uint64, adopted bool) bool {
	if v.online.Load() {
		if rec.Dev == dev && !adopted {
			return false
		}
		remounted := rec.Dev != dev
		rec.Dev = dev
		if _, err := v.d.cat.SetVolume(rec); err != nil {
			v.log.Error("record volume identity", "err", err)
		}
		if !remounted {
			return false
		}
		// New device: unmounted and mounted again (or another file
		// system adopted) between two checks. The old mount's watches
		// are gone: watch and walk again.
		v.log.Info("volume remounted", "path", v.root)
		v.startWatcher(ctx)
		v.reconcile(ctx)
		return true
	}
	if !rec.Online || rec.Dev != dev || rec.Path != v.root || rec.Reason != "" {
		rec.Online, rec.Dev, rec.Path, rec.Reason, rec.Changed = true, dev, v.root, "", time.Now().UTC()
		if _, err := v.d.cat.SetVolume(rec); err != nil {
			v.log.Error("record volume online", "err", err)
			return false
		}
	}
	v.online.Store(true)
	v.mu.Lock()
	v.st.Online, v.st.Reason = true, ""
	v.mu.Unlock()
	v.log.Info("volume online", "path", v.root)
	v.startWatcher(ctx)
	v.reconcile(ctx)
	return true
}

func (v *volume) startWatcher(ctx context.Context) {
	v.stopWatcher()
	v.mu.Lock()
	v.walkMode = false
	v.st.WatchMode = "inotify"
	v.mu.Unlock()
	w, err := watch.NewWatcher(v.root, v.d.cfg.ignores(), v.log)
	if err != nil {
		v.enterWalkMode(err)
		return
	}
	if v.d.t.addFunc != nil {
		w.SetAddFunc(v.d.t.addFunc)
	}
	wctx, cancel := context.WithCancel(ctx)
	wdone := make(chan struct{})
	v.mu.Lock()
	v.w, v.wcancel, v.wdone = w, cancel, wdone
	v.mu.Unlock()
	go func() {
		defer close(wdone)
		w.Run(wctx, watch.Handler{
			Changed: func(e watch.Entry) {
				if v.isOnline() {
					v.d.settle.touch(v, e, true)
				}
			},
			Gone: func(rel string) {
				v.d.settle.drop(v, rel)
				v.noteGone(rel)
			},
			DirGone: func(rel string) {
				v.d.settle.dirtyUnder(v, rel)
				v.requestRescan()
			},
			Overflow: func() {
				v.d.settle.dirtyUnder(v, "")
				v.requestRescan()
			},
			RootGone: func() { signal(v.checkReq) },
			Limit: func(err error) {
				select {
				case v.limitReq <- err:
				default:
				}
			},
		})
	}()
}

func (v *volume) stopWatcher() {
	v.mu.Lock()
	w, cancel, wdone := v.w, v.wcancel, v.wdone
	v.w, v.wcancel, v.wdone = nil, nil, nil
	v.mu.Unlock()
	if w == nil {
		return
	}
	cancel()
	w.Close()
	<-wdone
}

// enterWalkMode drops inotify for this volume: it is walked every rescan
// (at most walkModeEvery apart) instead. Never fatal.
func (v *volume) enterWalkMode(err error) {
	v.stopWatcher()
	v.mu.Lock()
	already := v.walkMode
	v.walkMode = true
	v.st.WatchMode = "walk"
	v.st.Reason = "walk mode: " + err.Error()
	v.mu.Unlock()
	if !already {
		v.log.Warn("cannot watch volume with inotify; walking it instead", "err", err,
			"hint", "raise fs.inotify.max_user_watches / max_user_instances")
	}
}

// walkWorkers is how many directories a rescan lists at once
// (watch.WalkFuncs.Workers): an unchanged 1M-file tree on 2 cores took
// 1.3-1.75x `find` with one, 1.15-1.23 s with two, 0.97-1.07 s with three
// or four (`find` 1.37-1.43 s; docs/scale.md, session 8). More than the
// cores: a walker waits on the index's lock or a slow directory while
// another lists; on a network filesystem each waits on round trips.
var walkWorkers = max(4, min(8, runtime.GOMAXPROCS(0)))

// reconcile walks the tree and compares it with the catalog (through the
// in-memory index): unchanged files (size, mtime, inode) are only stat'ed,
// new or changed ones are queued to settle, and cataloged paths no longer
// on disk are removed, but only if the volume is verifiably online right
// after the walk and the path's directory was read without error.
func (v *volume) reconcile(ctx context.Context) {
	if !v.indexed {
		v.loadIndex()
		if !v.indexed {
			return
		}
	}
	start := time.Now()
	v.walkBeat.Store(start.UnixNano())
	// A walk that hangs in a system call (a hung NFS/SMB server) cannot be
	// interrupted: a monitor says so in the log (and status shows it)
	// until the filesystem answers again.
	var stalled atomic.Bool
	beat := func() {
		v.walkBeat.Store(time.Now().UnixNano())
		if stalled.CompareAndSwap(true, false) {
			v.log.Info("the filesystem answers again; the walk goes on")
		}
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(max(v.d.t.walkStall/4, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				d := time.Since(time.Unix(0, v.walkBeat.Load()))
				if d >= v.d.t.walkStall && stalled.CompareAndSwap(false, true) {
					v.log.Warn("the walk has had no answer from the filesystem; is the mount hung?", "for", d.Truncate(time.Millisecond))
				}
			}
		}
	}()
	v.mu.Lock()
	v.st.Scanning = true
	w := v.w
	v.mu.Unlock()
	defer func() {
		v.mu.Lock()
		v.st.Scanning = false
		v.mu.Unlock()
	}()

	v.index.beginWalk()
	// Nothing of the volume cataloged yet (a first ingest): the walk does
	// not stat the files it finds (Entry.NoStat); the hash pool takes
	// each one's stat from its open descriptor and hashes it once its
	// ctime is settle old, as the walk would have decided (walkDue).
	cataloged, _ := v.index.stats()
	// A rescan (the index loaded) lists walkWorkers directories at once; a
	// first walk, whose files mostly wait for the hash pool, one.
	workers := 1
	if cataloged > 0 {
		workers = walkWorkers
	}
	var failed []string
	var files, dirs, queued atomic.Int64 // the walk's goroutines count them
	var wmu, fmu sync.Mutex              // w (nil once in walk mode); failed
	var aborted atomic.Bool              // a wait for queue space ended by stop or cancel
	werr := watch.Walk(v.root, "", v.d.cfg.ignores(), watch.WalkFuncs{
		Dir: func(rel string) error {
			if aborted.Load() {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return errWalkStopped
			}
			if h := v.d.t.walkDirHook; h != nil {
				h(rel)
			}
			beat()
			if dirs.Add(1)%256 == 0 {
				v.d.ctr.progress.Add(1)
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
			wmu.Lock()
			ww := w
			wmu.Unlock()
			if ww != nil {
				if err := ww.AddDir(rel); err != nil {
					wmu.Lock()
					switch {
					case w == nil:
						// Closed meanwhile: another directory's watch
						// met the limit and the volume is in walk mode.
					case errors.Is(err, watch.ErrLimit):
						v.enterWalkMode(err)
						w = nil
					default:
						v.log.Warn("add watch", "err", err)
					}
					wmu.Unlock()
				}
			}
			return nil
		},
		// A directory's files at a time: looked up together (under the
		// index's read lock, which the other walkers share), then the new
		// or changed ones queued.
		Files: func(es []watch.Entry) {
			files.Add(int64(len(es)))
			beat()
			if aborted.Load() {
				return
			}
			// An unstat'ed file (NoStat: the index was empty when the walk
			// began) is queued without a lookup: the index holds only files
			// cataloged since, which put marked seen by this walk.
			var unchanged []bool
			if cataloged > 0 {
				unchanged = v.index.seenAll(es)
			}
			for i, e := range es {
				if e.NoStat || unchanged == nil || !unchanged[i] {
					// Blocks while the pipeline holds maxPending files: the
					// walk goes on as the hash pool catches up.
					if !v.d.settle.touchWalk(ctx, v.quit, v, e, func() { beat(); v.d.ctr.progress.Add(1) }) {
						aborted.Store(true)
						return
					}
					queued.Add(1)
				}
			}
		},
		DirError: func(rel string, err error) {
			v.log.Warn("cannot read directory; nothing under it is taken as removed", "err", err)
			fmu.Lock()
			failed = append(failed, rel)
			fmu.Unlock()
		},
		NoStat:  cataloged == 0,
		Workers: workers,
	})
	// A walk stopped by a wait for queue space left files not looked up
	// (not marked seen): nothing may be taken as removed.
	if werr == nil && aborted.Load() {
		werr = errWalkStopped
		if ctx.Err() != nil {
			werr = ctx.Err()
		}
	}
	if werr != nil {
		if ctx.Err() == nil && !errors.Is(werr, errWalkStopped) {
			v.log.Warn("reconcile walk failed; checking the volume", "err", werr)
			signal(v.checkReq)
		}
		return
	}
	removed := 0
	if missing := v.index.unseen(); len(missing) > 0 {
		removed = v.removeMissing(ctx, missing, failed)
	}
	dur := time.Since(start)
	v.mu.Lock()
	v.st.LastScan, v.st.LastScanDuration = time.Now().UTC(), dur
	v.mu.Unlock()
	v.log.Info("reconciled", "files", files.Load(), "dirs", dirs.Load(), "queued", queued.Load(), "removed", removed, "took", dur.Round(time.Millisecond))
}

// errWalkStopped ends a walk whose volume is being stopped.
var errWalkStopped = errors.New("walk stopped: the volume is being stopped")

// loadIndex reads the volume's present locations from the catalog once.
func (v *volume) loadIndex() {
	if err := v.index.load(v.d.cat, v.name); err != nil {
		v.log.Error("load catalog index; retrying", "err", err)
		return
	}
	v.indexed = true
}

func under(rel string, dirs []string) bool {
	for _, d := range dirs {
		if d == "" || rel == d || strings.HasPrefix(rel, d+"/") {
			return true
		}
	}
	return false
}

// removeMissing removes cataloged paths the walk did not find, after
// verifying the volume is still the same and online.
func (v *volume) removeMissing(ctx context.Context, missing map[uint64]bool, failed []string) int {
	if !v.verifyNow() {
		return 0
	}
	var paths []string
	err := v.d.cat.WalkLocations(v.name, func(l storage.Location) error {
		if missing[pathKey(l.Path)] {
			paths = append(paths, l.Path)
		}
		return nil
	})
	if err != nil {
		v.log.Error("resolve missing paths", "err", err)
		return 0
	}
	n := 0
	for _, rel := range paths {
		if ctx.Err() != nil || under(rel, failed) {
			continue
		}
		if v.removeIfGone(rel, "missing at rescan") {
			n++
		}
	}
	return n
}

// verifyNow re-checks the identity; a failure takes the volume offline.
func (v *volume) verifyNow() bool {
	rec, err := v.d.cat.Volume(v.name)
	if err != nil {
		v.log.Error("read volume record", "err", err)
		return false
	}
	if _, reason := v.verify(rec); reason != "" {
		v.goOffline(rec, reason)
		return false
	}
	return true
}

// removeIfGone removes the location if the path is really not a regular
// file now (an ignored or re-created file stays).
func (v *volume) removeIfGone(rel, detail string) bool {
	if _, ok, err := watch.Stat(v.root, rel); err != nil || ok {
		return false
	}
	if _, err := v.d.cat.RemoveLocation(v.name, rel, detail); err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			v.log.Error("remove location", "path", rel, "err", err)
		}
		return false
	}
	v.index.del(rel)
	v.log.Debug("location removed", "path", rel, "detail", detail)
	return true
}

// noteGone queues rel for removeGone: the watcher saw it removed or moved
// away, or the settler found it so when it checked a file that was busy
// in the hash pool at the time (settler.done).
func (v *volume) noteGone(rel string) {
	v.mu.Lock()
	v.gone[rel] = true
	v.mu.Unlock()
	signal(v.goneReq)
}

// removeGone handles files the watcher saw removed or moved away.
func (v *volume) removeGone(ctx context.Context) {
	v.mu.Lock()
	batch := v.gone
	v.gone = map[string]bool{}
	v.mu.Unlock()
	if len(batch) == 0 || !v.isOnline() {
		return
	}
	var cataloged []string
	for rel := range batch {
		l, err := v.d.cat.Location(v.name, rel)
		if err == nil && (l.State == storage.LocPresent || l.State == "") {
			cataloged = append(cataloged, rel)
		}
	}
	if len(cataloged) == 0 || !v.verifyNow() {
		return
	}
	for _, rel := range cataloged {
		if ctx.Err() != nil {
			return
		}
		v.removeIfGone(rel, "deleted or moved away")
	}
	v.d.ctr.progress.Add(1)
}

// verifyCall is one identity check; callers that arrive while it runs wait
// for its result instead of starting another (or reporting a false
// "not responding" because one is already running).
type verifyCall struct {
	done   chan struct{}
	dev    uint64
	reason string
}

// verify runs watch.Verify within p.verifyTimeout: a hung NFS/SMB mount
// must not hang the volume loop, and counts as offline. While a check is
// still running (or blocked in the kernel), no new one is started: later
// callers share its result.
func (v *volume) verify(rec storage.Volume) (dev uint64, reason string) {
	v.vmu.Lock()
	c := v.inflight
	if c == nil {
		c = &verifyCall{done: make(chan struct{})}
		v.inflight = c
		go func() {
			d, r := watch.Verify(v.root, rec)
			v.vmu.Lock()
			c.dev, c.reason = d, r
			v.inflight = nil
			v.vmu.Unlock()
			close(c.done)
		}()
	}
	v.vmu.Unlock()
	t := time.NewTimer(v.d.t.verifyTimeout)
	defer t.Stop()
	select {
	case <-c.done:
		return c.dev, c.reason
	case <-t.C:
		return 0, fmt.Sprintf("not responding: %s did not answer within %s", v.root, v.d.t.verifyTimeout)
	}
}
