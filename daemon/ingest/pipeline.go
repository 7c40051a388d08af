// Package ingest is the front of ingestd's spine: for every configured
// volume it keeps the volume's identity checked (online/offline), watches
// it with inotify and walks it at start and every rescan (the walk is the
// source of truth), lets new and changed files settle, hashes them
// (BLAKE3-256 + xxh128 in one read, a bounded pool) and records them in the
// catalog; files gone from a verifiably online volume are removed there.
//
// It owns reading the volumes (through daemon/watch) and the decisions
// above. It must not touch Badger except through storage/catalog, run
// FFmpeg, or talk to the network; HashReader and HashFile are reusable by
// camera-card offload and fixity checks.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ingestd/ingestd/daemon/watch"
	"github.com/ingestd/ingestd/storage/catalog"
)

// Volume is a configured root to ingest.
type Volume struct{ Name, Path string }

// Config is the pipeline's configuration.
type Config struct {
	Volumes []Volume
	// Settle is how long size and mtime must stay unchanged before a file
	// is hashed (default 5s). Rescan is the period of the reconcile walk
	// (default 5m; a volume in walk mode is walked at least every minute).
	Settle, Rescan time.Duration
	// Ignore globs are added to the built-in rules (see watch.Ignore).
	Ignore []string
	// HashWorkers bounds the files hashed at once (default min(4, GOMAXPROCS)).
	HashWorkers int
	// StateDir is unused: nothing is written on the volumes but the marker.
	StateDir string
}

func (c Config) withDefaults() Config {
	if c.Settle <= 0 {
		c.Settle = 5 * time.Second
	}
	if c.Rescan <= 0 {
		c.Rescan = 5 * time.Minute
	}
	if c.HashWorkers <= 0 {
		c.HashWorkers = min(4, runtime.GOMAXPROCS(0))
	}
	return c
}

func (c Config) validate() error {
	seen := map[string]bool{}
	paths := map[string]string{}
	for _, v := range c.Volumes {
		if v.Name == "" || v.Path == "" {
			return fmt.Errorf("volume %q: name and path are required", v.Name)
		}
		if seen[v.Name] {
			return fmt.Errorf("volume %q: duplicate name", v.Name)
		}
		seen[v.Name] = true
		p := filepath.Clean(v.Path)
		if other, dup := paths[p]; dup {
			return fmt.Errorf("volume %q: path %s is also volume %q", v.Name, v.Path, other)
		}
		paths[p] = v.Name
	}
	if _, err := watch.NewIgnore(c.Ignore); err != nil {
		return err
	}
	return nil
}

// Status is a snapshot of the pipeline for /v1/status.
type Status struct {
	Volumes     []VolumeStatus
	Queues      Queues
	BytesHashed uint64
	FilesSeen   uint64 // files queued to settle (new or changed)
	FilesHashed uint64 // files read and hashed (unchanged files are only stat'ed)
	// FilesRejected counts settled files that were no regular file when
	// opened for hashing (swapped for a FIFO, link, device): not read.
	FilesRejected uint64
	// Paused is why hashing and cataloging are paused (e.g. the state
	// dir is below its free-space floor); "" while running.
	Paused string
}

// Queues are the files waiting in each stage.
type Queues struct {
	Settling int // waiting for size and mtime to stay unchanged
	Hashing  int // settled, queued for or in the hash pool
}

// VolumeStatus is one volume's state.
type VolumeStatus struct {
	Name, Path       string
	Online           bool
	Reason           string // why offline, or a note (e.g. walk mode cause)
	WatchMode        string // "inotify" | "walk" | "none" (offline: nothing watched)
	Watches          int
	Files, Bytes     int64 // present locations in the catalog
	LastScan         time.Time
	LastScanDuration time.Duration
	Scanning         bool
	// Stalled is how long the running walk has had no answer from the
	// filesystem, once that is longer than the stall limit (a hung NFS or
	// SMB mount: the walk goes on when the server answers again); else 0.
	Stalled time.Duration
}

// Pipeline runs volumes -> watch -> settle -> hash -> catalog.
type Pipeline struct {
	cat *catalog.Catalog
	log *slog.Logger

	mu      sync.Mutex
	cfg     Config
	ignore  *watch.Ignore
	vols    map[string]*volume
	runCtx  context.Context
	running bool

	settle *settler
	hashes *hashPool
	volWG  sync.WaitGroup // every volume loop ever started

	pauseReason atomic.Pointer[string]

	ready     chan struct{}
	readyOnce sync.Once
	pendingUp atomic.Int64 // volumes whose first check (and walk) is not done

	counters // shared with the settler, hash pool and volumes
	tunables // fixed settings; tests shorten them after New, before Run
}

// The pipeline's parts (volumes, settler, hash pool) hold no pointer to
// the Pipeline (issue 12 item 8). Each gets, when it is made, exactly what
// it uses: the catalog, the part it hands files on to (volume -> settler:
// touch, touchWalk, drop, dirtyUnder; settler -> hash pool: its toHash func; hash pool
// -> settler: its settled func, which may hand a file back; settler -> volume: noteGone, a
// busy file found gone when done), a live view of the reloadable
// configuration, the shared counters and the fixed tunables.

// counters are the pipeline's progress and ingest counters (Status).
type counters struct {
	progress      atomic.Uint64 // any loop's progress (Progress)
	filesRejected atomic.Uint64 // settled files found to be no regular file at open
	bytesHashed   atomic.Uint64
	filesSeen     atomic.Uint64
	filesHashed   atomic.Uint64
	heapReleases  atomic.Uint64 // heap handed back after a burst (DefaultFreeAfter)
}

// live reads what a Reload or a pause may change while the parts run.
type live struct {
	settle  func() time.Duration
	rescan  func(walkMode bool) time.Duration
	ignores func() *watch.Ignore
	paused  func() bool
}

// tunables are fixed for the pipeline's life (New sets the defaults; tests
// shorten them before Run).
type tunables struct {
	// checkEvery is how often each volume's identity is verified (and an
	// offline volume polled).
	checkEvery time.Duration
	// verifyTimeout bounds one identity check (a hung mount is offline).
	verifyTimeout time.Duration
	// walkModeEvery caps the rescan period of a volume in walk mode.
	walkModeEvery time.Duration
	// addFunc, when set, replaces inotify's Add (fault injection).
	addFunc func(path string) error
	// walkStall is how long a walk may go without an answer from the
	// filesystem before the volume's status says it is stalled.
	walkStall time.Duration
	// walkDirHook, when set, runs for each directory a walk enters (fault
	// injection: a test blocks in it like a hung mount).
	walkDirHook func(rel string)
	// maxPending bounds the files a walk keeps queued at once (see
	// settler.touchWalk).
	maxPending int
	// stopGrace bounds how long Run waits, once cancelled, for its loops
	// and hash workers; a read stuck in the kernel is abandoned after it.
	stopGrace time.Duration
	// beforeHash, when set, runs in a hash worker before the file is
	// opened (fault injection; see testhook.go).
	beforeHash func(ctx context.Context, vol, rel string)
	// beforeCatalog, when set, runs in the catalog stage before a batch
	// of hashed files is recorded (fault injection: tests hold a file
	// there; see testhook.go).
	beforeCatalog func(ctx context.Context, batch []hashed)
	// freeAfter: the hash pool hands the heap back when it runs dry after
	// this many files (DefaultFreeAfter).
	freeAfter int
}

// live is the parts' view of the reloadable configuration.
func (p *Pipeline) live() live {
	return live{settle: p.settleFor, rescan: p.rescanFor, ignores: p.ignores, paused: p.paused}
}

// volumeDeps is what a volume is made with.
func (p *Pipeline) volumeDeps() volumeDeps {
	return volumeDeps{cat: p.cat, settle: p.settle, cfg: p.live(), ctr: &p.counters, t: &p.tunables, firstDone: p.firstDone, log: p.log}
}

// New validates cfg and returns a pipeline; nothing runs until Run.
func New(cfg Config, cat *catalog.Catalog, log *slog.Logger) (*Pipeline, error) {
	if cat == nil {
		return nil, errors.New("ingest: nil catalog")
	}
	if log == nil {
		log = slog.Default()
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ig, _ := watch.NewIgnore(cfg.Ignore)
	p := &Pipeline{
		cat: cat, log: log.With("component", "ingest"), cfg: cfg, ignore: ig,
		vols: map[string]*volume{}, ready: make(chan struct{}),
		tunables: tunables{
			checkEvery: 5 * time.Second, walkModeEvery: time.Minute, verifyTimeout: 15 * time.Second,
			walkStall: 30 * time.Second, stopGrace: DefaultStopGrace, maxPending: DefaultMaxPending,
			freeAfter: DefaultFreeAfter,
		},
	}
	p.beforeHash = envHashGate(p.log)
	p.beforeCatalog = envCatalogGate()
	p.settle = newSettler(&p.tunables, &p.counters, p.live(), p.log)
	p.hashes = newHashPool(cfg.HashWorkers, cat, &p.tunables, &p.counters, p.paused, p.log)
	// The two hand files to each other: settled -> hashed; hashed (or
	// changed meanwhile) -> done, or settled again.
	p.settle.toHash = p.hashes.push
	p.hashes.settled = p.settle.done
	p.hashes.settleFor = p.settleFor
	return p, nil
}

func (p *Pipeline) settleFor() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg.Settle
}

func (p *Pipeline) rescanFor(walkMode bool) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if walkMode {
		return min(p.cfg.Rescan, p.walkModeEvery)
	}
	return p.cfg.Rescan
}

func (p *Pipeline) ignores() *watch.Ignore {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ignore
}

// Run runs the pipeline until ctx is cancelled, then stops every loop,
// aborts hashes in flight (they are redone after a restart: nothing half
// done is cataloged) and returns nil. It never touches the catalog after
// returning.
func (p *Pipeline) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.running {
		p.mu.Unlock()
		return errors.New("ingest: already running")
	}
	p.running = true
	p.runCtx = ctx
	vols := p.cfg.Volumes
	p.pendingUp.Store(int64(len(vols)))
	for _, vc := range vols {
		p.startVolumeLocked(vc, true)
	}
	started := p.cfg // read under p.mu: a Reload may swap p.cfg as soon as a volume is ready
	p.mu.Unlock()
	if len(vols) == 0 {
		p.readyOnce.Do(func() { close(p.ready) })
	}
	var wg sync.WaitGroup
	wg.Go(func() { p.settle.run(ctx) })
	wg.Go(func() { p.hashes.run(ctx) })
	p.log.Info("started", "volumes", len(vols), "settle", started.Settle, "rescan", started.Rescan, "hash_workers", started.HashWorkers)
	<-ctx.Done()
	p.mu.Lock()
	var all []*volume
	for _, v := range p.vols {
		all = append(all, v)
	}
	p.mu.Unlock()
	for _, v := range all {
		v.stop()
	}
	drained := make(chan struct{})
	go func() {
		p.volWG.Wait() // also those a concurrent Reload is stopping
		wg.Wait()      // the hash pool gives up on stuck reads after stopGrace
		close(drained)
	}()
	select {
	case <-drained:
		p.log.Info("stopped")
	case <-time.After(p.stopGrace + time.Second):
		// A volume loop stuck in a syscall on a hung mount: abandoned. The
		// catalog refuses writes once the daemon closes it.
		p.log.Error("stopped without waiting for loops blocked on a volume", "grace", p.stopGrace)
	}
	return nil
}

// DefaultStopGrace is how long a stopping pipeline waits for reads in
// flight (well under systemd's TimeoutStopSec=90).
const DefaultStopGrace = 10 * time.Second

// SetPause pauses hashing and cataloging (reason non-empty, shown in
// Status) or resumes them (""). Files keep being watched and settled
// meanwhile; a file being hashed when the pause starts is finished.
func (p *Pipeline) SetPause(reason string) {
	if reason == "" {
		p.pauseReason.Store(nil)
	} else {
		p.pauseReason.Store(&reason)
	}
	p.hashes.wake()
}

func (p *Pipeline) paused() bool { return p.pauseReason.Load() != nil }

func (p *Pipeline) pausedWhy() string {
	if r := p.pauseReason.Load(); r != nil {
		return *r
	}
	return ""
}

func (p *Pipeline) startVolumeLocked(vc Volume, initial bool) {
	v := newVolume(p.volumeDeps(), vc, initial)
	p.vols[vc.Name] = v
	p.volWG.Go(func() { v.run(p.runCtx) })
}

// firstDone is called once per initial volume when its first check (and,
// if online, its first reconcile walk) is done.
func (p *Pipeline) firstDone() {
	if p.pendingUp.Add(-1) == 0 {
		p.readyOnce.Do(func() { close(p.ready) })
	}
}

// Ready is closed once every volume configured at Run has been checked
// and, if online, watched and walked once (the first reconcile finished:
// every directory has its watch and new or changed files are queued), or
// its first walk is throttled by the hash pool (a first ingest of a large
// tree: the walk goes on at hashing speed after Ready). An offline volume
// counts as ready; it is polled until it comes back.
func (p *Pipeline) Ready() <-chan struct{} { return p.ready }

// Progress increases whenever a loop makes progress: settle ticks, volume
// checks, walked directories and hashed files. A wedged loop stops it.
func (p *Pipeline) Progress() uint64 { return p.progress.Load() }

// Status returns a snapshot, volumes sorted by name.
func (p *Pipeline) Status() Status {
	p.mu.Lock()
	vols := make([]*volume, 0, len(p.vols))
	for _, v := range p.vols {
		vols = append(vols, v)
	}
	if !p.running {
		for _, vc := range p.cfg.Volumes {
			if _, ok := p.vols[vc.Name]; !ok {
				vols = append(vols, newVolume(p.volumeDeps(), vc, false))
			}
		}
	}
	p.mu.Unlock()
	st := Status{
		BytesHashed:   p.bytesHashed.Load(),
		FilesSeen:     p.filesSeen.Load(),
		FilesHashed:   p.filesHashed.Load(),
		FilesRejected: p.filesRejected.Load(),
		Paused:        p.pausedWhy(),
	}
	st.Queues.Settling, st.Queues.Hashing = p.settle.counts()
	for _, v := range vols {
		st.Volumes = append(st.Volumes, v.status())
	}
	sort.Slice(st.Volumes, func(i, j int) bool { return st.Volumes[i].Name < st.Volumes[j].Name })
	return st
}

// Reload applies a new config without losing work: volumes added are
// started, volumes removed are stopped (their catalog entries stay),
// a volume whose path changed is restarted, and settle, rescan and the
// hash worker limit take effect at once. Changed ignore rules restart the
// volume loops (a walk, no events for unchanged files). A volume in walk
// mode tries inotify again (the admin may have raised the watch limit).
func (p *Pipeline) Reload(cfg Config) error {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	ig, _ := watch.NewIgnore(cfg.Ignore)
	p.mu.Lock()
	old := p.cfg
	p.cfg, p.ignore = cfg, ig
	p.hashes.setLimit(cfg.HashWorkers)
	if !p.running || p.runCtx.Err() != nil {
		p.mu.Unlock()
		return nil
	}
	ignoreChanged := fmt.Sprint(old.Ignore) != fmt.Sprint(cfg.Ignore)
	want := map[string]Volume{}
	for _, vc := range cfg.Volumes {
		want[vc.Name] = vc
	}
	var stop []*volume
	for name, v := range p.vols {
		vc, keep := want[name]
		if !keep || vc.Path != v.root || ignoreChanged {
			stop = append(stop, v)
			delete(p.vols, name)
		}
	}
	p.mu.Unlock()
	for _, v := range stop {
		v.stop()
		p.settle.dropVolume(v.name)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.runCtx.Err() != nil {
		return nil
	}
	for _, vc := range cfg.Volumes {
		if v, ok := p.vols[vc.Name]; ok {
			signal(v.rewatchReq) // a volume in walk mode tries inotify again
		} else {
			p.startVolumeLocked(vc, false)
		}
	}
	p.log.Info("reloaded", "volumes", len(cfg.Volumes), "settle", cfg.Settle, "rescan", cfg.Rescan, "hash_workers", cfg.HashWorkers)
	return nil
}
