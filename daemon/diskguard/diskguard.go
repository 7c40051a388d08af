// Package diskguard watches the free space of the filesystems ingestd
// writes to (the state dir with the Badger catalog and derived media, and
// the card offload destination volumes) and says when one falls below the
// configured floor (`disk.min_free`), so that the writers pause before
// the disk is full: Badger mmaps its files, and a full filesystem under an
// mmap is a SIGBUS, not an error. Space coming back ends the pause by
// itself. The other watched volumes are only reported (Path.ReportOnly:
// no floor, never low), for the status and the console.
//
// It owns the `disk:` config section, the statfs polling and the low/ok
// decision with its hysteresis. It must not write anything: the daemon
// turns its transitions into events, status, metrics and pauses, and the
// stages block on Wait before a job that would write.
package diskguard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultMinFree is the floor when disk.min_free is not set.
const DefaultMinFree = "2GiB"

// DefaultInterval is how often free space is checked.
const DefaultInterval = 5 * time.Second

// Config is the `disk:` section.
type Config struct {
	// MinFree is the free-space floor of every guarded filesystem: a size
	// ("2GiB", "500MB", "1073741824" bytes) or a percentage of the
	// filesystem ("5%"). Below it ingest, transcode and card offload pause;
	// they resume once free space is back above the floor plus 5% of it.
	MinFree string `yaml:"min_free"`
}

// SetDefaults fills MinFree.
func (c *Config) SetDefaults() {
	if c.MinFree == "" {
		c.MinFree = DefaultMinFree
	}
}

// Validate checks MinFree; the error names the key.
func (c Config) Validate() error {
	if _, err := ParseFloor(c.MinFree); err != nil {
		return fmt.Errorf("disk.min_free: %w", err)
	}
	return nil
}

// Floor is a parsed min_free: Bytes, or Percent of the filesystem size.
type Floor struct {
	Bytes   uint64
	Percent float64 // 0 < Percent < 100 when set
}

// Of is the floor in bytes on a filesystem of total bytes.
func (f Floor) Of(total uint64) uint64 {
	if f.Percent > 0 {
		return uint64(math.Ceil(float64(total) * f.Percent / 100))
	}
	return f.Bytes
}

func (f Floor) String() string {
	if f.Percent > 0 {
		return strconv.FormatFloat(f.Percent, 'f', -1, 64) + "%"
	}
	return strconv.FormatUint(f.Bytes, 10) + " bytes"
}

var units = []struct {
	suffix string
	mult   uint64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

// ParseFloor parses a min_free value: "2GiB", "500MB", "1.5G",
// "1073741824", or "5%". Zero ("0", "0%") turns the guard off.
func ParseFloor(s string) (Floor, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return Floor{}, errors.New("empty (want a size like 2GiB or a percentage like 5%)")
	}
	if p, ok := strings.CutSuffix(t, "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(v) || v < 0 || v >= 100 {
			return Floor{}, fmt.Errorf("invalid percentage %q (want 0%% to under 100%%)", s)
		}
		return Floor{Percent: v}, nil
	}
	mult := uint64(1)
	num := t
	for _, u := range units {
		if n, ok := strings.CutSuffix(t, u.suffix); ok {
			mult, num = u.mult, strings.TrimSpace(n)
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return Floor{}, fmt.Errorf("invalid size %q (want e.g. 2GiB, 500MB, 5%%)", s)
	}
	b := v * float64(mult)
	if b >= math.MaxUint64/2 {
		return Floor{}, fmt.Errorf("size %q too large", s)
	}
	return Floor{Bytes: uint64(b)}, nil
}

// Path is one guarded filesystem, by the directory ingestd writes in.
type Path struct {
	Name string // "state_dir", "offload:<volume>", "volume:<volume>"
	Path string
	// ReportOnly paths (the watched volumes ingestd only reads) have their
	// free space checked and reported like the others, but no floor: they
	// are never low and never pause anything.
	ReportOnly bool
}

// PathStatus is one guarded path in Status.
type PathStatus struct {
	Name         string `json:"name"`
	Path         string `json:"path"`
	FreeBytes    uint64 `json:"free_bytes"`
	TotalBytes   uint64 `json:"total_bytes"`
	MinFreeBytes uint64 `json:"min_free_bytes"`
	Low          bool   `json:"low"`
	// Error is why the last check failed (statfs error, no answer); the
	// low state is kept as it was.
	Error string `json:"error,omitempty"`

	reportOnly bool
}

// Status is the `disk` section of /v1/status.
type Status struct {
	MinFree string       `json:"min_free"`
	Low     bool         `json:"low"` // some path is below its floor
	Paths   []PathStatus `json:"paths"`
}

// Guard polls free space. Build with New, Check once, then Run.
type Guard struct {
	floor    Floor
	minFree  string
	log      *slog.Logger
	interval time.Duration
	timeout  time.Duration
	statfs   func(path string, st *unix.Statfs_t) error

	mu       sync.Mutex
	paths    []PathStatus
	inflight map[string]bool // by path name: a statfs still blocked (hung mount)
	changed  chan struct{}
	onChange []func(PathStatus)
}

// New returns a guard over paths (duplicates by name are dropped).
func New(cfg Config, paths []Path, log *slog.Logger) (*Guard, error) {
	cfg.SetDefaults()
	f, err := ParseFloor(cfg.MinFree)
	if err != nil {
		return nil, fmt.Errorf("disk.min_free: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	g := &Guard{floor: f, minFree: cfg.MinFree, log: log.With("component", "diskguard"), interval: DefaultInterval,
		timeout: 10 * time.Second, statfs: unix.Statfs, inflight: map[string]bool{}, changed: make(chan struct{})}
	g.paths = pathList(paths, nil)
	return g, nil
}

// pathList makes the guarded list of paths (duplicates by name dropped),
// each keeping its status from old when it has the same name and
// directory.
func pathList(paths []Path, old []PathStatus) []PathStatus {
	var out []PathStatus
	seen := map[string]bool{}
	for _, p := range paths {
		if p.Path == "" || seen[p.Name] {
			continue
		}
		seen[p.Name] = true
		ps := PathStatus{Name: p.Name, Path: p.Path, reportOnly: p.ReportOnly}
		for _, o := range old {
			if o.Name == p.Name && o.Path == p.Path && o.reportOnly == p.ReportOnly {
				ps = o
			}
		}
		out = append(out, ps)
	}
	return out
}

// SetPaths replaces the guarded paths (a reload that adds or removes
// volumes; duplicates by name are dropped). A path kept with the same name
// and directory keeps its state; a new one is checked at the next Check. A
// removed path no longer holds back a Wait.
func (g *Guard) SetPaths(paths []Path) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.paths = pathList(paths, g.paths)
	close(g.changed) // waiters look again
	g.changed = make(chan struct{})
}

// SetConfig changes the floor (a reload); the next Check applies it.
func (g *Guard) SetConfig(c Config) error {
	c.SetDefaults()
	f, err := ParseFloor(c.MinFree)
	if err != nil {
		return fmt.Errorf("disk.min_free: %w", err)
	}
	g.mu.Lock()
	g.floor, g.minFree = f, c.MinFree
	g.mu.Unlock()
	return nil
}

// OnChange registers fn, called (from Check) with a path's status each
// time it goes low or back to ok.
func (g *Guard) OnChange(fn func(PathStatus)) {
	g.mu.Lock()
	g.onChange = append(g.onChange, fn)
	g.mu.Unlock()
}

// Run checks every interval until ctx ends.
func (g *Guard) Run(ctx context.Context) error {
	t := time.NewTicker(g.interval)
	defer t.Stop()
	for {
		g.Check()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Check runs statfs on every path now and applies the floor. A statfs
// that does not answer within the timeout (a hung mount) leaves that
// path's state as it was.
func (g *Guard) Check() {
	g.mu.Lock()
	names := make([]string, len(g.paths))
	for i, p := range g.paths {
		names[i] = p.Name
	}
	g.mu.Unlock()
	for _, n := range names {
		g.checkOne(n)
	}
}

// index is the position of the path named name (-1: none). g.mu is held.
func (g *Guard) index(name string) int {
	return slices.IndexFunc(g.paths, func(p PathStatus) bool { return p.Name == name })
}

type statResult struct {
	st  unix.Statfs_t
	err error
}

func (g *Guard) checkOne(name string) {
	g.mu.Lock()
	i := g.index(name)
	if i < 0 || g.inflight[name] {
		g.mu.Unlock()
		return
	}
	g.inflight[name] = true
	path := g.paths[i].Path
	g.mu.Unlock()
	ch := make(chan statResult, 1)
	go func() {
		var r statResult
		r.err = g.statfs(path, &r.st)
		g.mu.Lock()
		delete(g.inflight, name)
		g.mu.Unlock()
		ch <- r
	}()
	var r statResult
	select {
	case r = <-ch:
	case <-time.After(g.timeout):
		r.err = fmt.Errorf("statfs %s: no answer within %s", path, g.timeout)
	}
	g.mu.Lock()
	// The list may have changed meanwhile (SetPaths): find the path again.
	if i = g.index(name); i < 0 || g.paths[i].Path != path {
		g.mu.Unlock()
		return
	}
	ps := &g.paths[i]
	var fire *PathStatus
	if r.err != nil {
		if ps.Error == "" {
			g.log.Warn("cannot check free space", "name", ps.Name, "path", ps.Path, "err", r.err)
		}
		ps.Error = r.err.Error()
	} else {
		ps.Error = ""
		bs := uint64(r.st.Bsize)
		ps.FreeBytes = r.st.Bavail * bs
		ps.TotalBytes = r.st.Blocks * bs
		ps.MinFreeBytes = g.floor.Of(ps.TotalBytes)
		if ps.reportOnly {
			ps.MinFreeBytes = 0 // no floor: Low is always false
		}
		low := Low(ps.FreeBytes, ps.MinFreeBytes, ps.Low)
		if low != ps.Low {
			ps.Low = low
			c := *ps
			fire = &c
		}
	}
	fns := append([]func(PathStatus){}, g.onChange...)
	if fire != nil {
		close(g.changed)
		g.changed = make(chan struct{})
	}
	g.mu.Unlock()
	if fire != nil {
		if fire.Low {
			g.log.Warn("free space below the floor; pausing writers", "name", fire.Name, "path", fire.Path,
				"free_bytes", fire.FreeBytes, "min_free_bytes", fire.MinFreeBytes)
		} else {
			g.log.Info("free space back above the floor; resuming", "name", fire.Name, "path", fire.Path,
				"free_bytes", fire.FreeBytes, "min_free_bytes", fire.MinFreeBytes)
		}
		for _, fn := range fns {
			fn(*fire)
		}
	}
}

// Low decides the state from free space with hysteresis: a path goes low
// below floor and comes back once free is at least floor plus 5% of it
// (so a path hovering at the floor does not flap). A zero floor is off.
func Low(free, floor uint64, wasLow bool) bool {
	if floor == 0 {
		return false
	}
	if wasLow {
		return free < floor+floor/20
	}
	return free < floor
}

// LowPaths returns the names of the paths (among names; all when none
// given) that are below their floor now.
func (g *Guard) LowPaths(names ...string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var low []string
	for _, p := range g.paths {
		if p.Low && (len(names) == 0 || slices.Contains(names, p.Name)) {
			low = append(low, p.Name)
		}
	}
	return low
}

// Wait blocks while any of the named paths (all when none given) is
// below its floor; it returns ctx's error if ctx ends first.
func (g *Guard) Wait(ctx context.Context, names ...string) error {
	for {
		ch := g.Changed()
		if len(g.LowPaths(names...)) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Changed returns a channel closed at the next change of any path's low
// state (or of the path list). Take it before looking at LowPaths, so that
// no change between the two is missed.
func (g *Guard) Changed() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.changed
}

// Status is a snapshot.
func (g *Guard) Status() Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := Status{MinFree: g.minFree, Paths: append([]PathStatus{}, g.paths...)}
	for _, p := range g.paths {
		st.Low = st.Low || p.Low
	}
	return st
}
