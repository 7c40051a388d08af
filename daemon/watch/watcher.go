package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"
)

// ErrLimit is returned (wrapped) when the kernel refuses another inotify
// watch (ENOSPC: fs.inotify.max_user_watches) or instance (EMFILE). The
// volume then has to be walked instead of watched.
var ErrLimit = errors.New("inotify limit reached")

// Handler receives a watcher's aggregated notifications. Calls come from
// the watcher's Run goroutine, one at a time. Nil funcs are skipped.
type Handler struct {
	Changed  func(e Entry)    // a regular file was created, written or moved in
	Gone     func(rel string) // a file was removed or moved away
	DirGone  func(rel string) // a watched directory was removed or moved away
	RootGone func()           // the root itself was removed, moved or unmounted
	Overflow func()           // the kernel queue overflowed: events were lost
	Limit    func(err error)  // a watch could not be added (ErrLimit)
}

// Watcher watches one volume's tree with inotify: every directory gets a
// watch, new directories are added and listed right away, bursts of events
// for a path are collapsed over a short window, Chmod is ignored and links
// are never followed.
type Watcher struct {
	root    string
	ig      *Ignore
	log     *slog.Logger
	fs      *fsnotify.Watcher
	window  time.Duration
	mu      sync.Mutex
	dirs    map[string]struct{}
	addFunc func(path string) error
}

// NewWatcher opens an inotify instance for root. Directories are added by
// AddDir (typically from a Walk's Dir func).
func NewWatcher(root string, ig *Ignore, log *slog.Logger) (*Watcher, error) {
	fw, err := fsnotify.NewBufferedWatcher(4096)
	if err != nil {
		if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENOSPC) {
			err = fmt.Errorf("%w: %w", ErrLimit, err)
		}
		return nil, fmt.Errorf("watch %s: %w", root, err)
	}
	w := &Watcher{root: strings.TrimSuffix(root, "/"), ig: ig, log: log, fs: fw,
		window: 100 * time.Millisecond, dirs: map[string]struct{}{}}
	w.addFunc = fw.Add
	return w, nil
}

// SetAddFunc replaces the call that adds a watch (fault injection in
// tests: return unix.ENOSPC to simulate the watch limit).
func (w *Watcher) SetAddFunc(f func(path string) error) { w.addFunc = f }

// AddDir adds a watch for the directory root/rel ("" is the root). It is
// a no-op for a directory already watched. ErrLimit (wrapped) means the
// kernel limit is reached.
func (w *Watcher) AddDir(rel string) error {
	w.mu.Lock()
	_, ok := w.dirs[rel]
	w.mu.Unlock()
	if ok {
		return nil
	}
	p := w.abs(rel)
	if err := w.addFunc(p); err != nil {
		if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EMFILE) {
			return fmt.Errorf("watch %s: %w: %w", p, ErrLimit, err)
		}
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return nil // gone meanwhile
		}
		return fmt.Errorf("watch %s: %w", p, err)
	}
	w.mu.Lock()
	w.dirs[rel] = struct{}{}
	w.mu.Unlock()
	return nil
}

// Watches is the number of directories watched.
func (w *Watcher) Watches() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.dirs)
}

// Close removes every watch and closes the inotify instance.
func (w *Watcher) Close() error { return w.fs.Close() }

func (w *Watcher) abs(rel string) string {
	if rel == "" {
		return w.root
	}
	return w.root + "/" + rel
}

// forgetDir drops rel and everything under it from the watched set (a
// moved directory keeps its inotify watch under the old name otherwise).
// It reports whether rel was a watched directory.
func (w *Watcher) forgetDir(rel string) bool {
	w.mu.Lock()
	_, was := w.dirs[rel]
	var gone []string
	if was {
		prefix := rel + "/"
		for d := range w.dirs {
			if d == rel || strings.HasPrefix(d, prefix) {
				gone = append(gone, d)
				delete(w.dirs, d)
			}
		}
	}
	w.mu.Unlock()
	for _, d := range gone {
		_ = w.fs.Remove(w.abs(d)) // already gone with the directory, mostly
	}
	return was
}

type pending struct{ changed, gone bool }

// Run reads events and errors in one select until ctx is cancelled or the
// watcher is closed, and hands aggregated notifications to h.
func (w *Watcher) Run(ctx context.Context, h Handler) error {
	agg := map[string]*pending{}
	var order []string
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	flush := func() {
		for _, rel := range order {
			p := agg[rel]
			w.dispatch(rel, p, h)
		}
		clear(agg)
		order = order[:0]
		armed = false
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.fs.Events:
			if !ok {
				return nil
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			if ev.Name == w.root {
				if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
					if h.RootGone != nil {
						h.RootGone()
					}
				}
				continue
			}
			rel, ok := strings.CutPrefix(ev.Name, w.root+"/")
			if !ok || w.ig.MatchPath(rel) {
				continue
			}
			p := agg[rel]
			if p == nil {
				p = &pending{}
				agg[rel] = p
				order = append(order, rel)
			}
			if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Write) {
				p.changed = true
			}
			if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
				p.gone = true
			}
			if !armed {
				timer.Reset(w.window)
				armed = true
			}
		case err, ok := <-w.fs.Errors:
			if !ok {
				return nil
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.log.Warn("inotify queue overflowed; rescanning", "root", w.root)
				flush()
				if h.Overflow != nil {
					h.Overflow()
				}
				continue
			}
			if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EMFILE) {
				if h.Limit != nil {
					h.Limit(fmt.Errorf("watch %s: %w: %w", w.root, ErrLimit, err))
				}
				continue
			}
			w.log.Warn("inotify error", "root", w.root, "err", err)
		case <-timer.C:
			flush()
		}
	}
}

// dispatch looks at the path now: whatever the events were, what is on
// disk decides (a created-then-removed file is gone, a removed-then-
// recreated one changed).
func (w *Watcher) dispatch(rel string, p *pending, h Handler) {
	if p.gone && w.forgetDir(rel) {
		if h.DirGone != nil {
			h.DirGone(rel)
		}
	}
	e, isFile, err := Stat(w.root, rel)
	if err != nil {
		w.log.Warn("stat after event", "path", w.abs(rel), "err", err)
		return
	}
	if isFile {
		if h.Changed != nil {
			h.Changed(e)
		}
		return
	}
	if IsDir(w.root, rel) {
		if p.changed {
			w.addTree(rel, h)
		}
		return
	}
	if p.gone && h.Gone != nil {
		h.Gone(rel)
	}
}

// addTree watches a new directory and everything under it, and reports
// the files already there (they may have landed before the watch).
func (w *Watcher) addTree(rel string, h Handler) {
	err := Walk(w.root, rel, w.ig, WalkFuncs{
		Dir: w.AddDir,
		File: func(e Entry) {
			if h.Changed != nil {
				h.Changed(e)
			}
		},
	})
	if err != nil {
		if errors.Is(err, ErrLimit) {
			if h.Limit != nil {
				h.Limit(err)
			}
			return
		}
		w.log.Warn("list new directory", "path", w.abs(rel), "err", err)
	}
}
