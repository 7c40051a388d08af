package cards

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"time"
)

// MountWatcher notices card mounts appearing and disappearing under the
// configured mount roots by polling a mountinfo file (inotify does not
// report mounts). It is a Run(ctx) service; the daemon decides what to do
// with each mount (identify, offload).
type MountWatcher struct {
	Roots     []string      // e.g. /media, /run/media, /mnt/cards
	Mountinfo string        // default /proc/self/mountinfo
	Interval  time.Duration // default 2 s
	Logger    *slog.Logger

	// Called from Run's goroutine, one at a time. Mounts present when Run
	// starts are reported as added too.
	OnMount   func(Mount)
	OnUnmount func(Mount)
}

// Run polls until ctx is cancelled. A mountinfo that cannot be read is
// logged and retried: it is never taken as "every card was removed".
func (w *MountWatcher) Run(ctx context.Context) error {
	info := w.Mountinfo
	if info == "" {
		info = "/proc/self/mountinfo"
	}
	every := w.Interval
	if every <= 0 {
		every = 2 * time.Second
	}
	log := w.Logger // used as given (the caller names the component)
	if log == nil {
		log = slog.Default().With("component", "cards")
	}
	known := map[string]Mount{}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		ms, err := ParseMountinfo(info)
		if err != nil {
			log.Warn("poll mounts", "err", err)
		} else {
			now := map[string]Mount{}
			for _, m := range ms {
				if w.underRoot(m.MountPoint) {
					now[m.MountPoint] = m
				}
			}
			for mp, m := range known {
				if n, ok := now[mp]; !ok || n.ID != m.ID {
					log.Info("card unmounted", "mount", mp, "source", m.Source)
					if w.OnUnmount != nil {
						w.OnUnmount(m)
					}
					delete(known, mp)
				}
			}
			for mp, m := range now {
				if _, ok := known[mp]; !ok {
					known[mp] = m
					log.Info("card mounted", "mount", mp, "source", m.Source, "fstype", m.FSType)
					if w.OnMount != nil {
						w.OnMount(m)
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (w *MountWatcher) underRoot(mp string) bool {
	mp = filepath.Clean(mp)
	for _, r := range w.Roots {
		r = filepath.Clean(r)
		if mp != r && strings.HasPrefix(mp, r+"/") {
			return true
		}
	}
	return false
}
