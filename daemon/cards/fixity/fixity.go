// Package fixity owns the fixity check: re-reading the masters the catalog
// lists on a volume (every volume, not only card offloads) and comparing
// their BLAKE3 with the cataloged asset id, on a schedule (fixity.interval)
// and on demand (POST /v1/verify, whose JSON-lines answer is Line). It
// records location.corrupt events and reports its Status in the cards
// section of /v1/status.
//
// It must not touch what it checks: files are opened read-only without
// following links or blocking (daemon/watch.OpenRegular), read at a low IO
// priority, and never rewritten; the catalog gets events only (no location
// or asset is changed here; ingest re-catalogs a changed file).
package fixity

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/daemon/watch"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
)

// Line is one JSON line of POST /v1/verify.
type Line = wire.VerifyLine

// Status is the fixity part of the cards status section (the API's typed
// document, package daemon/api/wire).
type Status = wire.FixityStatus

// ErrBusy is returned when a check is already running.
var ErrBusy = errors.New("a fixity check is already running")

// Checker re-reads masters and compares them with the catalog.
type Checker struct {
	cfg  cards.FixityConfig
	cat  *catalog.Catalog
	vols map[string]string
	log  *slog.Logger

	run sync.Mutex
	mu  sync.Mutex
	st  Status
}

// Volume is a configured volume the checker may read: its name and root.
type Volume struct{ Name, Path string }

// New builds the checker over the configured volumes.
func New(cfg cards.FixityConfig, vols []Volume, cat *catalog.Catalog, log *slog.Logger) *Checker {
	if log == nil {
		log = slog.Default()
	}
	f := &Checker{cfg: cfg, cat: cat, vols: map[string]string{}, log: log.With("component", "fixity")}
	for _, v := range vols {
		f.vols[v.Name] = v.Path
	}
	return f
}

// Status is a snapshot of the checker's state.
func (f *Checker) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

// Run is the scheduled walk (a service); without an interval it only
// waits for ctx.
func (f *Checker) Run(ctx context.Context) error {
	if f.cfg.Interval <= 0 {
		<-ctx.Done()
		return nil
	}
	for {
		next := time.Now().Add(f.cfg.Interval)
		f.mu.Lock()
		f.st.NextRun = next
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(next)):
		}
		vols := f.cfg.Volumes
		if len(vols) == 0 {
			for n := range f.vols {
				vols = append(vols, n)
			}
		}
		for _, v := range vols {
			sum, err := f.Check(ctx, v, "", "schedule", nil)
			if errors.Is(err, ErrBusy) {
				continue
			}
			if err != nil && ctx.Err() == nil {
				f.log.Warn("scheduled fixity check", "volume", v, "err", err)
			}
			f.log.Info("scheduled fixity check", "volume", v, "files", sum.Files, "corrupt", sum.Corrupt, "missing", sum.Missing)
		}
	}
}

// Check re-reads every present location of volume (below prefix, a
// slash-separated path relative to the volume, "" for all), compares its
// BLAKE3 with the cataloged asset id and records location.corrupt for each
// mismatch. Files whose size or mtime changed since they were cataloged
// are reported as changed (the pipeline re-catalogs them), not corrupt.
// emit receives every line (may be nil). The reading thread runs at idle
// IO priority for the schedule and best-effort lowest otherwise.
func (f *Checker) Check(ctx context.Context, volume, prefix, trigger string, emit func(Line)) (Line, error) {
	sum := Line{Type: "done", Volume: volume}
	root, ok := f.vols[volume]
	if !ok {
		return sum, fmt.Errorf("no volume named %q", volume)
	}
	if !f.run.TryLock() {
		return sum, ErrBusy
	}
	defer f.run.Unlock()
	if emit == nil {
		emit = func(Line) {}
	}
	prefix = strings.Trim(filepath.ToSlash(prefix), "/")
	var locs []storage.Location
	var total int64
	err := f.cat.WalkLocations(volume, func(l storage.Location) error {
		if prefix == "" || l.Path == prefix || strings.HasPrefix(l.Path, prefix+"/") {
			locs = append(locs, l)
			total += l.Size
		}
		return nil
	})
	if err != nil {
		return sum, err
	}
	start := time.Now()
	f.mu.Lock()
	f.st = Status{Running: true, Trigger: trigger, FilesTotal: len(locs), BytesTotal: total, LastStart: start, NextRun: f.st.NextRun,
		LastEnd: f.st.LastEnd, LastFiles: f.st.LastFiles, LastCorrupt: f.st.LastCorrupt, LastMissing: f.st.LastMissing}
	f.mu.Unlock()
	emit(Line{Type: "start", Volume: volume, Path: prefix, Files: len(locs), Bytes: total})
	sum.Files, sum.Bytes = len(locs), total

	lines := make(chan Line, 64)
	go func() {
		defer close(lines)
		runtime.LockOSThread() // ioprio applies to this thread only; it exits with the goroutine
		class := ioprioClassBE<<ioprioClassShift | 7
		if trigger == "schedule" {
			class = ioprioClassIdle << ioprioClassShift
		}
		if err := setIOPrio(class); err != nil {
			f.log.Debug("ioprio_set", "err", err)
		}
		buf := make([]byte, 1<<20)
		for _, l := range locs {
			if ctx.Err() != nil {
				return
			}
			select {
			case lines <- f.checkOne(root, l, buf):
			case <-ctx.Done(): // the consumer left (stop): do not block on it
				return
			}
		}
	}()
	last := time.Time{}
	var done int
	var doneBytes int64
	for {
		ln, ok := recvLine(ctx, lines)
		if !ok {
			break
		}
		done++
		doneBytes += ln.Bytes
		switch ln.Type {
		case "ok":
			sum.OK++
		case "corrupt":
			sum.Corrupt++
			if _, err := f.cat.AppendEvent(storage.Event{Type: storage.EvLocationCorrupt, AssetID: ln.AssetID, Volume: volume, Path: ln.Path,
				Detail: "fixity: read blake3 " + ln.Got + ", cataloged " + ln.AssetID}); err != nil {
				f.log.Error("record location.corrupt", "path", ln.Path, "err", err)
			}
			f.log.Error("fixity mismatch", "volume", volume, "path", ln.Path, "asset", ln.AssetID, "got", ln.Got)
		case "missing":
			sum.Missing++
		case "changed":
			sum.Changed++
		default:
			sum.Errors++
		}
		if ln.Type != "ok" {
			ln.Bytes = 0
			emit(ln)
		}
		f.mu.Lock()
		f.st.FilesDone, f.st.BytesDone = done, doneBytes
		f.mu.Unlock()
		if time.Since(last) > 200*time.Millisecond || done == len(locs) {
			last = time.Now()
			emit(Line{Type: "progress", Volume: volume, Path: ln.Path, Files: len(locs), Bytes: total, FilesDone: done, BytesDone: doneBytes})
		}
	}
	sum.FilesDone, sum.BytesDone = done, doneBytes
	f.mu.Lock()
	f.st.Running, f.st.LastEnd, f.st.LastFiles, f.st.LastCorrupt, f.st.LastMissing = false, time.Now(), done, sum.Corrupt, sum.Missing
	f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return sum, err
	}
	f.log.Info("fixity check done", "volume", volume, "path", prefix, "files", done, "corrupt", sum.Corrupt,
		"missing", sum.Missing, "changed", sum.Changed, "errors", sum.Errors, "seconds", time.Since(start).Seconds())
	emit(sum)
	return sum, nil
}

// recvLine is the next line, ok false at the end or once ctx is done: a
// stop never waits on a read stuck in the kernel (a hung mount); the
// reading goroutine is abandoned and records nothing.
func recvLine(ctx context.Context, lines <-chan Line) (Line, bool) {
	select {
	case l, ok := <-lines:
		return l, ok
	case <-ctx.Done():
		return Line{}, false
	}
}

// checkOne re-reads one location. Line.Bytes carries the bytes read.
func (f *Checker) checkOne(root string, l storage.Location, buf []byte) Line {
	ln := Line{Volume: l.Volume, Path: l.Path, AssetID: l.AssetID}
	p := filepath.Join(root, filepath.FromSlash(l.Path))
	// Never follow a link nor block in open: a master swapped for a FIFO or
	// a link (to /dev/zero, out of the volume) is reported, not read.
	fh, cur, err := watch.OpenRegular(root, l.Path)
	var nr *watch.NotRegularError
	switch {
	case errors.As(err, &nr):
		ln.Type, ln.Detail = "missing", fmt.Sprintf("replaced by a %s (not a regular file; not read)", nr.Kind)
		return ln
	case errors.Is(err, os.ErrNotExist):
		ln.Type, ln.Detail = "missing", "file not found"
		return ln
	case err != nil:
		ln.Type, ln.Detail = "error", err.Error()
		return ln
	}
	defer fh.Close()
	mtime := time.Unix(0, cur.MTime)
	if cur.Size != l.Size || !mtime.Equal(l.MTime) {
		ln.Type, ln.Detail = "changed", fmt.Sprintf("size/mtime differ from the catalog (%d %s, cataloged %d %s)",
			cur.Size, mtime.UTC().Format(time.RFC3339Nano), l.Size, l.MTime.UTC().Format(time.RFC3339Nano))
		return ln
	}
	if l.Inode != 0 && cur.Ino != l.Inode {
		ln.Type, ln.Detail = "changed", fmt.Sprintf("replaced by another file (inode %d, cataloged %d)", cur.Ino, l.Inode)
		return ln
	}
	_ = unix.Fadvise(int(fh.Fd()), 0, 0, unix.FADV_SEQUENTIAL)
	h := blake3.New()
	// At most one byte past the cataloged size: a file growing meanwhile
	// is not read to its moving end.
	n, err := io.CopyBuffer(h, io.LimitReader(fh, l.Size+1), buf)
	ln.Bytes = n
	if err != nil {
		ln.Type, ln.Detail = "error", fmt.Sprintf("read %s: %v", p, err)
		return ln
	}
	if n != l.Size {
		ln.Type, ln.Detail = "changed", fmt.Sprintf("read %d bytes, cataloged %d", n, l.Size)
		return ln
	}
	got := hex.EncodeToString(h.Sum(nil))
	if got != l.AssetID {
		ln.Type, ln.Got = "corrupt", got
		return ln
	}
	ln.Type = "ok"
	return ln
}

// ioprio_set(2) constants (linux/ioprio.h).
const (
	ioprioWhoProcess = 1 // with who 0: the calling thread
	ioprioClassShift = 13
	ioprioClassBE    = 2
	ioprioClassIdle  = 3
)

func setIOPrio(prio int) error {
	_, _, errno := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, uintptr(prio))
	if errno != 0 {
		return errno
	}
	return nil
}
