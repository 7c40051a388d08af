package cards

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// MountWatcher notices card mounts appearing and disappearing under the
// configured mount roots by polling a mountinfo file (inotify does not
// report mounts). It is a Run(ctx) service; the daemon decides what to do
// with each mount (identify, offload).
//
// A card swapped for another at the same mount point between two polls is
// a new mount even when its mountinfo line is the same as the old one's
// (the kernel reuses a freed mount ID and device number at once, and the
// source is the reader's device): each mount's never-reused ID (statx
// STATX_MNT_ID_UNIQUE, Linux 6.8+) is compared too, with the device
// number, source, filesystem type and root.
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
	uids := newMountUIDs()
	for {
		ms, err := ParseMountinfo(info)
		if err != nil {
			log.Warn("poll mounts", "err", err)
		} else {
			now := map[string]Mount{}
			for _, m := range ms {
				if w.underRoot(m.MountPoint) {
					m.UniqueID = uids.get(m)
					now[m.MountPoint] = m
				}
			}
			for mp, m := range known {
				if n, ok := now[mp]; !ok || !sameMount(n, m) {
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

// sameMount says whether a and b, seen at one mount point in two reads of
// mountinfo, are one mount.
func sameMount(a, b Mount) bool {
	if a.UniqueID != 0 && b.UniqueID != 0 && a.UniqueID != b.UniqueID {
		return false
	}
	return a.ID == b.ID && a.Major == b.Major && a.Minor == b.Minor && a.Source == b.Source && a.FSType == b.FSType && a.Root == b.Root
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

// mountUIDTimeout bounds the statx of a mount point: a card that does not
// answer (a hung FUSE driver) must not stop the watcher.
const mountUIDTimeout = 2 * time.Second

// mountUIDs reads the unique mount IDs of mount points, each statx on its
// own goroutine with a deadline; one not answered is not asked again until
// it returns.
type mountUIDs struct {
	mu      sync.Mutex
	pending map[string]bool
}

func newMountUIDs() *mountUIDs { return &mountUIDs{pending: map[string]bool{}} }

// get returns the never-reused ID of the mount m (at its mount point, with
// its device number), or 0 when it is not known: a kernel before 6.8, an
// error, no answer in time, or another filesystem there now (unmounted
// since mountinfo was read: the next read says so).
func (u *mountUIDs) get(m Mount) uint64 {
	mp := m.MountPoint
	u.mu.Lock()
	if u.pending[mp] {
		u.mu.Unlock()
		return 0
	}
	u.pending[mp] = true
	u.mu.Unlock()
	ch := make(chan uint64, 1)
	go func() {
		defer func() { u.mu.Lock(); delete(u.pending, mp); u.mu.Unlock() }()
		var st unix.Statx_t
		// DONT_SYNC: the attributes the kernel has (a network or FUSE
		// card is not asked); the mount ID is the kernel's own.
		err := unix.Statx(unix.AT_FDCWD, mp, unix.AT_STATX_DONT_SYNC|unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT, unix.STATX_MNT_ID_UNIQUE, &st)
		if err != nil || st.Mask&unix.STATX_MNT_ID_UNIQUE == 0 || st.Dev_major != m.Major || st.Dev_minor != m.Minor {
			ch <- 0
			return
		}
		ch <- st.Mnt_id
	}()
	t := time.NewTimer(mountUIDTimeout)
	defer t.Stop()
	select {
	case id := <-ch:
		return id
	case <-t.C:
		return 0
	}
}
