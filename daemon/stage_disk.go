package daemon

// The disk guard stage: wiring of the free-space guard (daemon/diskguard): the state dir and the
// card destination volumes are checked against disk.min_free; below it, ingest
// (hashing and cataloging), transcode and card offload pause, with an
// event, a status section, metrics and a log line, and they resume by
// themselves once space is back. Badger mmaps its files: a full state dir
// would end in SIGBUS, not in an error.

import (
	"context"
	"fmt"
	"strings"

	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/daemon/cards/cardsvc"
	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/daemon/diskguard"
	"github.com/ingestd/ingestd/daemon/metrics"
	"github.com/ingestd/ingestd/storage"
)

// Guarded path names (the `name` of /v1/status disk.paths[] and of the
// metrics' label).
const (
	diskStateDir      = "state_dir"
	diskOffloadPrefix = "offload:"
	diskVolumePrefix  = "volume:" // a watched volume, reported only
)

func init() {
	registerStage(Stage{Name: "disk", Order: orderDisk, Provision: provisionDisk})
}

// provisionDisk builds the guard, checks once (a daemon started on a full
// disk starts paused), gates the transcode stage on the state dir and
// returns its service, status section, metrics and reload (disk.min_free
// is applied at once).
func provisionDisk(a *App) (*Parts, error) {
	g, err := diskguard.New(a.cfg.Disk, diskPaths(a.cfg), a.log)
	if err != nil {
		return nil, err
	}
	a.st.disk = g
	a.st.diskCards = a.cfg.Cards != nil
	g.OnChange(a.diskChanged)
	g.Check()
	if t := a.st.transcode; t != nil {
		t.SetGate(a.diskGate(diskStateDir))
	}
	return &Parts{
		Services: []Service{{Name: "diskguard", Run: g.Run}},
		Status: func(doc *wire.Status) {
			doc.Disk = diskSection(g.Status(), pausedWriters(g.LowPaths(), a.st.diskCards))
		},
		Metrics: []metrics.Part{metrics.Disk(func() (diskguard.Status, bool) { return g.Status(), true })},
		Reload:  a.reloadDisk,
	}, nil
}

// diskPaths are the paths the guard checks for cfg: the state dir, the
// card destination volumes (with the floor) and every other watched volume
// (reported only).
func diskPaths(cfg *config.Config) []diskguard.Path {
	paths := []diskguard.Path{{Name: diskStateDir, Path: cfg.StateDir}}
	if c := cfg.Cards; c != nil {
		// Every destination volume of the cards (cards.destinations, or
		// offload_to) is guarded: an offload waits for all of them.
		dest := map[string]bool{c.OffloadTo: true}
		for _, d := range c.Destinations {
			dest[d.Volume] = true
		}
		for _, v := range cfg.Volumes {
			if dest[v.Name] {
				paths = append(paths, diskguard.Path{Name: diskOffloadPrefix + v.Name, Path: v.Path}) // absolute: config.Validate
			}
		}
	}
	// Every other watched volume: its free space is reported (status,
	// metrics, the console's overview) but it has no floor: ingest only
	// reads it. A hung mount's statfs is abandoned by the guard.
	guarded := map[string]bool{}
	for _, p := range paths {
		guarded[p.Path] = true
	}
	for _, v := range cfg.Volumes {
		if !guarded[v.Path] { // a card destination is already there, with its floor
			paths = append(paths, diskguard.Path{Name: diskVolumePrefix + v.Name, Path: v.Path, ReportOnly: true})
		}
	}
	return paths
}

// diskGate is what a writer waits on before a job: the named paths (all
// guarded paths when none) above their floor.
func (a *App) diskGate(names ...string) func(ctx context.Context) error {
	g := a.st.disk
	if g == nil {
		return nil
	}
	return func(ctx context.Context) error { return g.Wait(ctx, names...) }
}

// cardsSpace is the card offload's free-space guard (cardsvc.Space): the
// state dir and the destination volumes a pass or a fill writes, each
// named on its own, so that a full volume holds only what writes to it.
func (a *App) cardsSpace() *cardsvc.Space {
	g := a.st.disk
	if g == nil {
		return nil
	}
	return &cardsvc.Space{
		Low: func(volumes []string) []string {
			names := []string{diskStateDir}
			for _, v := range volumes {
				names = append(names, diskOffloadPrefix+v)
			}
			var low []string // the state dir is the guard's first path
			for _, n := range g.LowPaths(names...) {
				if v, ok := strings.CutPrefix(n, diskOffloadPrefix); ok {
					low = append(low, v)
				} else {
					low = append(low, cardsvc.SpaceStateDir)
				}
			}
			return low
		},
		Changed: g.Changed,
	}
}

// pausedWriters names what is paused for the low paths.
func pausedWriters(low []string, cards bool) []string {
	out := []string{} // [] when nothing is paused (never null: docs/api.md)
	state := false
	offload := false
	for _, n := range low {
		if n == diskStateDir {
			state = true
		}
		if strings.HasPrefix(n, diskOffloadPrefix) {
			offload = true
		}
	}
	if state {
		out = append(out, "ingest", "transcode")
	}
	if cards && (state || offload) {
		out = append(out, "cards")
	}
	return out
}

// diskChanged records a path going low or back to ok and (un)pauses the
// ingest pipeline; transcode and cards wait on the guard themselves.
func (a *App) diskChanged(p diskguard.PathStatus) {
	log := a.log.With("component", "daemon")
	low := a.st.disk.LowPaths(diskStateDir)
	if len(low) > 0 {
		a.pipe.SetPause(fmt.Sprintf("state dir below disk.min_free (%s free, floor %s)",
			HumanBytes(int64(p.FreeBytes)), HumanBytes(int64(p.MinFreeBytes))))
	} else {
		a.pipe.SetPause("")
	}
	ev := storage.Event{Type: storage.EvDiskOK}
	what := "resumed"
	if p.Low {
		ev.Type = storage.EvDiskLow
		what = "paused: " + strings.Join(pausedWriters([]string{p.Name}, a.st.diskCards), ", ")
	}
	if v, ok := strings.CutPrefix(p.Name, diskOffloadPrefix); ok {
		ev.Volume = v
	}
	ev.Detail = fmt.Sprintf("%s %s: %s free of %s, floor %s; %s", p.Name, p.Path, HumanBytes(int64(p.FreeBytes)),
		HumanBytes(int64(p.TotalBytes)), HumanBytes(int64(p.MinFreeBytes)), what)
	if a.cat == nil {
		return
	}
	if _, err := a.cat.AppendEvent(ev); err != nil {
		log.Error("record disk event", "type", ev.Type, "path", p.Path, "err", err)
	}
}

// reloadDisk applies a changed disk.min_free at once, and the guarded
// paths follow the volumes a reload adds or removes (a new volume's free
// space is reported at once, not after a restart).
func (a *App) reloadDisk(old, nu *config.Config, r *ReloadReport) error {
	g := a.st.disk
	pc := *nu
	pc.Cards = old.Cards // cards: is restart-only: its destinations stay guarded until a restart
	g.SetPaths(diskPaths(&pc))
	if err := g.SetConfig(nu.Disk); err != nil {
		a.log.Error("disk.min_free not reloaded, keeping the running one", "component", "daemon", "err", err)
		nu.Disk = old.Disk
		return nil
	}
	r.Apply(changedKeys("disk", old.Disk, nu.Disk)...)
	g.Check()
	return nil
}
