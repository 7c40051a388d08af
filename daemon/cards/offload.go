package cards

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/ingestd/ingestd/daemon/cards/ascmhl"
	"github.com/ingestd/ingestd/daemon/cards/internal/safefs"
	"github.com/zeebo/blake3"
	"github.com/zeebo/xxh3"
	"golang.org/x/sys/unix"
)

// Offload outcomes (Result.Status).
const (
	StatusOffloaded = "offloaded" // every file copied, re-read and matched; safe to eject
	StatusFailed    = "failed"    // see Result.FailedPath and Result.Reason
)

// Sentinel causes of a failed offload, checked with errors.Is.
var (
	ErrSourceGone = errors.New("card removed during offload")
	ErrNoSpace    = errors.New("destination full")
	ErrMismatch   = errors.New("destination differs from card")
	ErrReadSource = errors.New("read error on card")
	ErrHistory    = errors.New("card does not match its ascmhl history")
	// ErrDestTampered: something at the destination is not what the
	// offload made or may follow: a symlink (at a folder, a partial or a
	// final name, ascmhl/), a FIFO or device, or a verified file replaced
	// or changed before the card was sealed. Nothing is written through it.
	ErrDestTampered = errors.New("destination tampered with")
)

// MaxStateSize caps the progress file read back on resume.
const MaxStateSize = 256 << 20

// StateName is the progress file kept in the destination folder while an
// offload is incomplete; PartialSuffix marks a file still being copied.
// Neither is ever left behind by a successful offload.
const (
	StateName     = ".ingestd-offload.json"
	PartialSuffix = ".ingestd-partial"
)

// Options tune an offload. The zero value copies with xxh128 in the MHL.
type Options struct {
	// MHLFormats are the ASC MHL hash formats to record; xxh128 when empty.
	// Formats of an existing card history are always added.
	MHLFormats []ascmhl.Format
	Creator    ascmhl.Creator // tool name defaults to "ingestd"
	BufferSize int            // read size, default 1 MiB (4 in flight)
	Logger     *slog.Logger
	Progress   func(Progress)
	Now        func() time.Time

	// TrustResumed skips re-hashing the destination copy of files an
	// earlier run verified (size and mtime still match on both sides). By
	// default their xxh128 is re-read from the destination and compared
	// with the recorded one; a file that differs is copied again.
	TrustResumed bool

	// DestRoot is the trusted folder dst lies in (the volume root; default
	// the parent of dst). Every folder and file from there down is created
	// and opened without following symlinks: one found fails the offload
	// with ErrDestTampered.
	DestRoot string

	// SourceReader wraps each card file as it is read (rate limit; fault
	// injection in tests). The file was opened without following symlinks
	// or blocking, and is a regular file on the card's filesystem.
	SourceReader func(rel string, f *os.File) io.ReadCloser
	// AfterCopy (tests) runs after a file was written and synced and before
	// it is re-read for verification.
	AfterCopy func(rel, dstPath string)
}

// Progress is reported after each file.
type Progress struct {
	File       string
	FilesDone  int
	FilesTotal int
	BytesDone  int64
	BytesTotal int64
}

// FileResult is one offloaded file.
type FileResult struct {
	Path    string                   `json:"path"` // slash-separated, relative to the card root
	Size    int64                    `json:"size"`
	ModTime time.Time                `json:"mtime"`
	BLAKE3  string                   `json:"blake3"`
	XXH128  string                   `json:"xxh128"`
	MHL     map[ascmhl.Format]string `json:"mhl"`
	Resumed bool                     `json:"-"` // verified by an earlier run, not copied again
}

// Skipped is an entry on the card that was not copied: a symlink (never
// followed), a FIFO, socket or device, or a filesystem mounted on the card.
type Skipped struct {
	Path   string `json:"path"` // slash-separated, relative to the card root
	Reason string `json:"reason"`
}

// Result describes an offload, complete or not.
type Result struct {
	Status      string       `json:"status"`
	Src         string       `json:"src"`
	Dst         string       `json:"dst"`
	Layout      Layout       `json:"layout"`
	Files       []FileResult `json:"files"`
	Bytes       int64        `json:"bytes"`        // total size of the card's files
	Copied      int64        `json:"copied"`       // bytes copied by this run
	Resumed     int          `json:"resumed"`      // files skipped as already verified
	CardHistory bool         `json:"card_history"` // the card carried an ascmhl/ history, verified and continued
	Skipped     []Skipped    `json:"skipped,omitempty"`
	Generation  string       `json:"generation,omitempty"`
	FailedPath  string       `json:"failed_path,omitempty"`
	Reason      string       `json:"reason,omitempty"`
	Started     time.Time    `json:"started"`
	Finished    time.Time    `json:"finished"`
}

// state is the progress file: every file verified so far, keyed by path.
type state struct {
	Version int                    `json:"version"`
	Src     string                 `json:"src"`
	Files   map[string]*FileResult `json:"files"`
}

type srcFile struct {
	rel   string
	size  int64
	mtime time.Time
	mode  fs.FileMode
}

// Offload copies the whole card at src into dst (created if needed),
// preserving its structure and modification times. Each file is hashed
// while it is read from the card (xxh128 and BLAKE3, plus the MHL formats,
// in one pass), written under a partial name, synced, dropped from the page
// cache and re-read from the destination; only a file whose re-read matches
// is renamed into place. When every file matched, an ASC MHL generation is
// written into dst/ascmhl (continuing the card's own history if it has
// one, after checking the card against it) and the result is offloaded.
//
// Any failure (a mismatch, a read error, the card pulled, a full
// destination) stops the offload: the Result says which file and why, the
// error wraps one of the Err sentinels, nothing is presented as complete,
// and the progress file lets a later call resume without copying verified
// files again.
func Offload(ctx context.Context, src, dst string, opts Options) (Result, error) {
	o := &offloader{opts: opts, src: absPath(src), dst: absPath(dst)}
	o.defaults()
	res, err := o.run(ctx)
	res.Finished = o.opts.Now()
	res.Skipped = o.skipped
	if err != nil {
		res.Status = StatusFailed
		if res.Reason == "" {
			res.Reason = err.Error()
		}
		o.log.Warn("card offload failed", "src", o.src, "dst", o.dst, "file", res.FailedPath, "reason", res.Reason)
		return res, err
	}
	res.Status = StatusOffloaded
	o.log.Info("card offloaded", "src", o.src, "dst", o.dst, "files", len(res.Files), "bytes", res.Bytes,
		"copied", res.Copied, "resumed", res.Resumed, "generation", res.Generation)
	return res, nil
}

type offloader struct {
	opts     Options
	log      *slog.Logger
	src, dst string
	srcDev   uint64
	srcDir   *safefs.Dir // the card root, held open
	dstDir   *safefs.Dir // the destination folder, held open
	state    *state
	dirty    int
	lastSave time.Time
	buf      []byte
	skipped  []Skipped
	verified map[string]fileID // each destination file as verified (checkFinal)
}

// errSkip marks a card entry that is not copied (Skipped).
type errSkip struct{ reason string }

func (e errSkip) Error() string { return e.reason }

func (o *offloader) defaults() {
	if o.opts.Logger == nil {
		o.opts.Logger = slog.Default()
	}
	o.log = o.opts.Logger.With("component", "cards")
	if o.opts.Now == nil {
		o.opts.Now = time.Now
	}
	if o.opts.BufferSize <= 0 {
		o.opts.BufferSize = 1 << 20
	}
	if o.opts.SourceReader == nil {
		o.opts.SourceReader = func(_ string, f *os.File) io.ReadCloser { return f }
	}
	o.verified = map[string]fileID{}
	if len(o.opts.MHLFormats) == 0 {
		o.opts.MHLFormats = []ascmhl.Format{ascmhl.DefaultFormat}
	}
	if o.opts.Creator.ToolName == "" {
		o.opts.Creator.ToolName = "ingestd"
	}
	if o.opts.Creator.HostName == "" {
		o.opts.Creator.HostName, _ = os.Hostname()
	}
	o.buf = make([]byte, o.opts.BufferSize)
}

func (o *offloader) fail(res *Result, rel string, err error) (Result, error) {
	res.FailedPath = rel
	res.Reason = err.Error()
	o.saveState(true)
	return *res, err
}

func (o *offloader) run(ctx context.Context) (Result, error) {
	res := Result{Src: o.src, Dst: o.dst, Started: o.opts.Now()}
	srcDir, err := safefs.OpenRoot(o.src, true)
	if err != nil {
		return o.fail(&res, "", fmt.Errorf("card %s: %w: %w", o.src, ErrSourceGone, err))
	}
	defer srcDir.Close()
	o.srcDir, o.srcDev = srcDir, srcDir.Dev()
	if o.dst == o.src || strings.HasPrefix(o.dst, o.src+string(filepath.Separator)) {
		return o.fail(&res, "", fmt.Errorf("offload %s: destination %s is on the card", o.src, o.dst))
	}
	anchor := o.opts.DestRoot
	if anchor == "" {
		// Standalone use: the caller's own folder, made as before.
		anchor = filepath.Dir(o.dst)
		if err := os.MkdirAll(anchor, 0o755); err != nil {
			return o.fail(&res, "", o.dstErr(err, "create "+anchor))
		}
	}
	anchor = absPath(anchor)
	dstRel, err := filepath.Rel(anchor, o.dst)
	if err != nil || dstRel == "." || dstRel == ".." || strings.HasPrefix(dstRel, ".."+string(filepath.Separator)) {
		return o.fail(&res, "", fmt.Errorf("offload %s: destination %s is not below %s", o.src, o.dst, anchor))
	}
	layout, err := Detect(o.src)
	if err != nil {
		return o.fail(&res, "", err)
	}
	res.Layout = layout

	// The card's own history, verified as we read, continued on success.
	cardHist, err := ascmhl.OpenDir(srcDir)
	if err != nil {
		return o.fail(&res, ascmhl.FolderName, fmt.Errorf("%w: %w", ErrHistory, err))
	}
	res.CardHistory = len(cardHist.Generations) > 0
	formats := ascmhl.SortFormats(append(append([]ascmhl.Format(nil), o.opts.MHLFormats...), cardHist.OriginalFormats()...))

	files, dirs, err := o.list()
	if err != nil {
		return o.fail(&res, "", err)
	}
	for _, f := range files {
		res.Bytes += f.size
	}
	root, err := safefs.OpenRoot(anchor, false)
	if err != nil {
		return o.fail(&res, "", o.dstErr(err, "open "+anchor))
	}
	o.dstDir, err = root.MkdirAll(filepath.ToSlash(dstRel), 0o755)
	root.Close()
	if err != nil {
		return o.fail(&res, "", o.dstErr(err, "create "+o.dst))
	}
	defer o.dstDir.Close()
	o.loadState()

	prog := Progress{FilesTotal: len(files), BytesTotal: res.Bytes}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return o.fail(&res, f.rel, err)
		}
		var check func(*FileResult) error
		if res.CardHistory {
			check = func(fr *FileResult) error { return checkAgainst(cardHist, fr) }
		}
		fr, resumed, err := o.file(ctx, f, formats, check)
		var skip errSkip
		if errors.As(err, &skip) {
			o.skip(f.rel, skip.reason)
			prog.FilesTotal--
			prog.BytesTotal -= f.size
			res.Bytes -= f.size
			continue
		}
		if err != nil {
			return o.fail(&res, f.rel, err)
		}
		if resumed {
			res.Resumed++
		} else {
			res.Copied += f.size
		}
		res.Files = append(res.Files, *fr)
		prog.File, prog.FilesDone, prog.BytesDone = f.rel, prog.FilesDone+1, prog.BytesDone+f.size
		if o.opts.Progress != nil {
			o.opts.Progress(prog)
		}
	}
	if res.CardHistory {
		seen := map[string]bool{}
		for _, f := range files {
			seen[f.rel] = true
		}
		var missing []string
		for p := range cardHist.Files() {
			if !seen[p] && !ascmhl.Ignored(cardHist.IgnorePatterns(), p, false) {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			return o.fail(&res, missing[0], fmt.Errorf("%w: %d file(s) of the history missing on the card, first %s", ErrHistory, len(missing), missing[0]))
		}
	}
	// Directory times last: creating files inside changed them.
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		o.dstDir.Chtimes(d.rel, d.mtime, d.mtime)
	}
	// Before the card is declared safe: every file at its final name is
	// still the regular file that was verified (same inode, size, mtime).
	for _, fr := range res.Files {
		if err := o.checkFinal(fr); err != nil {
			return o.fail(&res, fr.Path, err)
		}
	}
	gen, err := o.writeMHL(ctx, cardHist, &res, dirs, formats)
	if err != nil {
		return o.fail(&res, ascmhl.FolderName, err)
	}
	res.Generation = gen
	if err := o.dstDir.Remove(StateName); err != nil {
		o.log.Warn("remove offload state", "path", filepath.Join(o.dst, StateName), "err", err)
	}
	o.dstDir.Sync()
	return res, nil
}

func (o *offloader) skip(rel, reason string) {
	o.log.Warn("card entry not copied", "path", filepath.Join(o.src, filepath.FromSlash(rel)), "reason", reason)
	o.skipped = append(o.skipped, Skipped{Path: rel, Reason: reason})
}

// fileID is a verified destination file as lstat saw it at its final
// name: any write, truncation, chmod or utimes since changes its ctime.
type fileID struct {
	ino   uint64
	ctime unix.Timespec
}

// checkFinal makes sure the file at fr's final name is the very regular
// file verified earlier in this run (same inode), unchanged since (same
// ctime, size and mtime): the hash verified then is still its hash.
func (o *offloader) checkFinal(fr FileResult) error {
	st, err := o.dstDir.Lstat(fr.Path)
	if err != nil {
		return o.dstErr(err, "check "+fr.Path)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return fmt.Errorf("check %s: %w: it is a %s now", fr.Path, ErrDestTampered, safefs.TypeName(st.Mode))
	case st.Ino != o.verified[fr.Path].ino:
		return fmt.Errorf("check %s: %w: replaced after it was verified", fr.Path, ErrDestTampered)
	case st.Size != fr.Size || !time.Unix(st.Mtim.Unix()).Equal(fr.ModTime) || st.Ctim != o.verified[fr.Path].ctime:
		return fmt.Errorf("check %s: %w: changed after it was verified", fr.Path, ErrDestTampered)
	}
	return nil
}

// list walks the card: files and directories in path order, the card's
// ascmhl/ folder excluded (it is carried over separately).
func (o *offloader) list() ([]srcFile, []srcFile, error) {
	var files, dirs []srcFile
	err := filepath.WalkDir(o.src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return o.srcErr(err, "list "+p)
		}
		rel, _ := filepath.Rel(o.src, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() && rel == ascmhl.FolderName {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return o.srcErr(err, "stat "+p)
		}
		switch {
		case d.IsDir():
			if st, ok := info.Sys().(*syscall.Stat_t); ok && uint64(st.Dev) != o.srcDev {
				o.skip(rel, "another filesystem mounted on the card: not copied")
				return filepath.SkipDir
			}
			dirs = append(dirs, srcFile{rel: rel, mtime: info.ModTime(), mode: info.Mode()})
		case d.Type().IsRegular():
			if strings.HasSuffix(rel, PartialSuffix) || rel == StateName {
				return nil
			}
			files = append(files, srcFile{rel: rel, size: info.Size(), mtime: info.ModTime(), mode: info.Mode()})
		default:
			o.skip(rel, skipReason(info.Mode()))
		}
		return nil
	})
	return files, dirs, err
}

// file copies and verifies one file, or recognises it as verified by an
// earlier run (same size and mtime on the card and at the destination).
func (o *offloader) file(ctx context.Context, f srcFile, formats []ascmhl.Format, check func(*FileResult) error) (*FileResult, bool, error) {
	dstPath := filepath.Join(o.dst, filepath.FromSlash(f.rel))
	if prev, ok := o.state.Files[f.rel]; ok && prev.Size == f.size && prev.ModTime.Equal(f.mtime) && hasFormats(prev, formats) {
		st, err := o.dstDir.Lstat(f.rel)
		if err == nil && st.Mode&unix.S_IFMT != unix.S_IFREG {
			return nil, false, fmt.Errorf("resume %s: %w: %s is a %s", f.rel, ErrDestTampered, dstPath, safefs.TypeName(st.Mode))
		}
		if err == nil && st.Size == f.size && time.Unix(st.Mtim.Unix()).Equal(f.mtime) && o.stillVerified(f.rel, prev) {
			r := *prev
			r.Resumed = true
			if check != nil {
				if err := check(&r); err != nil {
					return nil, false, err
				}
			}
			return &r, true, nil
		}
	}
	if dir := path.Dir(f.rel); dir != "." {
		sub, err := o.dstDir.MkdirAll(dir, 0o755)
		if err != nil {
			return nil, false, o.dstErr(err, "create "+filepath.Dir(dstPath))
		}
		sub.Close()
	}
	fr, err := o.copy(ctx, f, dstPath, formats, check)
	if err != nil {
		return nil, false, err
	}
	o.state.Files[f.rel] = fr
	o.dirty++
	o.saveState(false)
	return fr, false, nil
}

func (o *offloader) stillVerified(rel string, prev *FileResult) bool {
	f, st, err := o.dstDir.OpenRegular(rel)
	if err != nil {
		o.log.Warn("offloaded file unreadable; copying it again", "path", filepath.Join(o.dst, rel), "err", err)
		return false
	}
	defer f.Close()
	if !o.opts.TrustResumed {
		got, err := rereadXXH128(f, o.buf)
		if err != nil || got != prev.XXH128 {
			o.log.Warn("offloaded file changed since it was verified; copying it again", "path", filepath.Join(o.dst, rel), "err", err)
			return false
		}
	}
	var after unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &after); err != nil || after.Ctim != st.Ctim {
		o.log.Warn("offloaded file changed while it was re-read; copying it again", "path", filepath.Join(o.dst, rel), "err", err)
		return false
	}
	o.verified[rel] = fileID{st.Ino, st.Ctim}
	return true
}

func hasFormats(fr *FileResult, formats []ascmhl.Format) bool {
	for _, f := range formats {
		if _, ok := fr.MHL[f]; !ok {
			return false
		}
	}
	return fr.XXH128 != "" && fr.BLAKE3 != ""
}

// copy writes one file under a partial name, re-reads it, runs check (the
// card's own history) and only then renames it into place.
func (o *offloader) copy(ctx context.Context, f srcFile, dstPath string, formats []ascmhl.Format, check func(*FileResult) error) (*FileResult, error) {
	// The card root is held open: a card unmounted (even lazily) since is
	// noticed here, by its mount point no longer being that filesystem.
	if o.sourceGone() {
		return nil, fmt.Errorf("open %s: %w", f.rel, ErrSourceGone)
	}
	inf, _, err := o.srcDir.OpenRegular(f.rel)
	switch {
	case errors.Is(err, safefs.ErrSymlink) || errors.Is(err, safefs.ErrNotRegular) || errors.Is(err, safefs.ErrOtherDevice):
		return nil, errSkip{fmt.Sprintf("not copied: %v", errors.Unwrap(err))}
	case err != nil:
		return nil, o.srcErr(err, "open "+f.rel)
	}
	in := o.opts.SourceReader(f.rel, inf)
	defer in.Close()
	partial := dstPath + PartialSuffix
	partRel := f.rel + PartialSuffix
	// A partial file left by an interrupted run is started over; anything
	// else at that name (a symlink, a FIFO) is not ours to touch.
	if err := o.expectRegular(partRel); err != nil {
		return nil, err
	}
	if err := o.dstDir.Remove(partRel); err != nil {
		return nil, o.dstErr(err, "remove "+partial)
	}
	out, err := o.dstDir.OpenFile(partRel, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return nil, o.dstErr(err, "create "+partial)
	}
	remove := func() { o.dstDir.Remove(partRel) }
	cleanup := func() { out.Close(); remove() }

	b3 := blake3.New()
	x128 := xxh3.New128()
	// Sinks: the file, BLAKE3, then the xxHash family together (fast), then
	// each slower MHL format on its own goroutine.
	fast := []io.Writer{x128}
	sinks := []io.Writer{out, b3}
	mhl := map[ascmhl.Format]hash.Hash{}
	for _, fm := range formats {
		if fm == ascmhl.XXH128 {
			continue // same digest as x128
		}
		h, err := ascmhl.NewHash(fm)
		if err != nil {
			cleanup()
			return nil, err
		}
		mhl[fm] = h
		if fm == ascmhl.XXH64 || fm == ascmhl.XXH3 {
			fast = append(fast, h)
		} else {
			sinks = append(sinks, h)
		}
	}
	sinks = append(sinks, io.MultiWriter(fast...))
	p := newPipe(o.opts.BufferSize, 4, sinks...)
	var n int64
	var rerr error
	for {
		if err := ctx.Err(); err != nil {
			rerr = err
			break
		}
		if err := p.err(0); err != nil {
			break
		}
		buf := p.buffer()
		k, err := io.ReadFull(in, buf)
		if k > 0 {
			p.submit(k)
			n += int64(k)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			rerr = err
			break
		}
	}
	p.close()
	if err := p.err(0); err != nil {
		cleanup()
		return nil, o.dstErr(err, "write "+partial)
	}
	if rerr != nil {
		cleanup()
		if ctx.Err() != nil {
			return nil, rerr
		}
		return nil, o.srcErr(rerr, "read "+f.rel)
	}
	if n != f.size {
		cleanup()
		return nil, o.srcErr(fmt.Errorf("read %d bytes, card listed %d", n, f.size), "read "+f.rel)
	}
	if err := out.Sync(); err != nil {
		cleanup()
		return nil, o.dstErr(err, "sync "+partial)
	}
	var ost unix.Stat_t
	if err := unix.Fstat(int(out.Fd()), &ost); err != nil {
		cleanup()
		return nil, o.dstErr(err, "stat "+partial)
	}
	fr := &FileResult{
		Path: f.rel, Size: f.size, ModTime: f.mtime,
		BLAKE3: hex.EncodeToString(b3.Sum(nil)), XXH128: hex.EncodeToString(x128.Sum(nil)),
		MHL: map[ascmhl.Format]string{},
	}
	for fm, h := range mhl {
		fr.MHL[fm] = ascmhl.Encode(fm, h.Sum(nil))
	}
	if containsFormat(formats, ascmhl.XXH128) {
		fr.MHL[ascmhl.XXH128] = fr.XXH128
	}
	if o.opts.AfterCopy != nil {
		o.opts.AfterCopy(f.rel, partial)
	}
	// Re-read through the same descriptor, from the disk (the written
	// pages are dropped first): no name is looked up again.
	got, err := rereadXXH128(out, o.buf)
	if cerr := out.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		remove()
		return nil, o.dstErr(err, "re-read "+partial)
	}
	if got != fr.XXH128 {
		remove()
		return nil, fmt.Errorf("%w: %s: xxh128 on card %s, at destination %s", ErrMismatch, f.rel, fr.XXH128, got)
	}
	if check != nil {
		if err := check(fr); err != nil {
			remove()
			return nil, err
		}
	}
	if err := o.dstDir.Chtimes(partRel, f.mtime, f.mtime); err != nil {
		remove()
		return nil, o.dstErr(err, "set times "+partial)
	}
	// Only an earlier copy (a regular file) may be replaced at the final name.
	if err := o.expectRegular(f.rel); err != nil {
		remove()
		return nil, err
	}
	if err := o.dstDir.Rename(partRel, f.rel); err != nil {
		remove()
		return nil, o.dstErr(err, "rename "+partial)
	}
	if dir, _, err := o.parentDir(f.rel); err == nil {
		dir.Sync()
		if dir != o.dstDir {
			dir.Close()
		}
	}
	st, err := o.dstDir.Lstat(f.rel)
	if err != nil {
		return nil, o.dstErr(err, "check "+dstPath)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Ino != ost.Ino {
		return nil, fmt.Errorf("check %s: %w: replaced right after it was renamed into place", dstPath, ErrDestTampered)
	}
	o.verified[f.rel] = fileID{st.Ino, st.Ctim}
	return fr, nil
}

// expectRegular fails with ErrDestTampered when rel exists at the
// destination as anything but a regular file.
func (o *offloader) expectRegular(rel string) error {
	st, err := o.dstDir.Lstat(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return o.dstErr(err, "check "+rel)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%w: %s is a %s (not followed, not replaced)", ErrDestTampered, filepath.Join(o.dst, filepath.FromSlash(rel)), safefs.TypeName(st.Mode))
	}
	return nil
}

func (o *offloader) parentDir(rel string) (*safefs.Dir, string, error) {
	dir := path.Dir(rel)
	if dir == "." {
		return o.dstDir, rel, nil
	}
	d, err := o.dstDir.OpenDir(dir)
	return d, path.Base(rel), err
}

func skipReason(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symlink on the card: not followed, not copied"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO) on the card: not read, not copied"
	case m&fs.ModeSocket != 0:
		return "socket on the card: not copied"
	case m&fs.ModeDevice != 0:
		return "device node on the card: not read, not copied"
	}
	return "not a regular file: not copied"
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

func containsFormat(fs []ascmhl.Format, f ascmhl.Format) bool {
	for _, x := range fs {
		if x == f {
			return true
		}
	}
	return false
}

// rereadXXH128 hashes f from its start, after dropping its cached pages
// so the bytes come from the disk.
func rereadXXH128(f *os.File, buf []byte) (string, error) {
	unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	h := xxh3.New128()
	if _, err := io.CopyBuffer(h, struct{ io.Reader }{f}, buf); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkAgainst compares a file's hashes with the card history's original.
func checkAgainst(h *ascmhl.History, fr *FileResult) error {
	orig, ok := h.Original(fr.Path)
	if !ok {
		return nil // new since the card was last sealed
	}
	if got := fr.MHL[orig.Format]; got != orig.Value {
		return fmt.Errorf("%w: %s: %s is %s, history says %s", ErrHistory, fr.Path, orig.Format, got, orig.Value)
	}
	return nil
}

// srcErr classifies an error reading the card: when the card is no longer
// mounted where it was (the mount point's device changed or is gone) or the
// device reports it is gone, it is ErrSourceGone; otherwise ErrReadSource.
func (o *offloader) srcErr(err error, what string) error {
	if o.sourceGone() || errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.ENOMEDIUM) {
		return fmt.Errorf("%s: %w: %w", what, ErrSourceGone, err)
	}
	if errors.Is(err, ErrSourceGone) || errors.Is(err, ErrReadSource) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w: %w", what, ErrReadSource, err)
}

func (o *offloader) sourceGone() bool {
	var st unix.Stat_t
	if err := unix.Stat(o.src, &st); err != nil {
		return true
	}
	return o.srcDev != 0 && st.Dev != o.srcDev
}

func (o *offloader) dstErr(err error, what string) error {
	switch {
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%s: %w: %w", what, ErrNoSpace, err)
	case errors.Is(err, ErrDestTampered):
		return fmt.Errorf("%s: %w", what, err)
	case errors.Is(err, safefs.ErrSymlink) || errors.Is(err, safefs.ErrNotRegular) || errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%s: %w: %w", what, ErrDestTampered, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (o *offloader) loadState() {
	o.state = &state{Version: 1, Src: o.src, Files: map[string]*FileResult{}}
	data, err := o.dstDir.ReadFile(StateName, MaxStateSize)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		o.log.Warn("ignoring unreadable offload state", "path", filepath.Join(o.dst, StateName), "err", err)
		return
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil || s.Version != 1 || s.Files == nil {
		o.log.Warn("ignoring unreadable offload state", "path", filepath.Join(o.dst, StateName), "err", err)
		return
	}
	o.state.Files = s.Files
	o.log.Info("resuming card offload", "dst", o.dst, "verified_files", len(s.Files))
}

// saveState writes the progress file (at most every 2 s unless forced).
func (o *offloader) saveState(force bool) {
	if o.state == nil || o.dirty == 0 || (!force && time.Since(o.lastSave) < 2*time.Second) {
		return
	}
	data, err := json.Marshal(o.state)
	if err == nil {
		err = o.dstDir.WriteFileAtomic(StateName, data, 0o644)
	}
	if err != nil {
		o.log.Warn("save offload state", "dst", o.dst, "err", err)
		return
	}
	o.dirty, o.lastSave = 0, time.Now()
}

// writeMHL continues the destination's history (or the card's, carried
// over) with a "transfer" generation of the offloaded files.
func (o *offloader) writeMHL(ctx context.Context, cardHist *ascmhl.History, res *Result, dirs []srcFile, formats []ascmhl.Format) (string, error) {
	if !ascmhl.ExistsIn(o.dstDir) && ascmhl.ExistsIn(o.srcDir) {
		if err := copyHistory(o.srcDir, o.dstDir); err != nil {
			return "", o.dstErr(err, "copy card ascmhl history")
		}
	}
	h, err := ascmhl.OpenDir(o.dstDir)
	if err != nil {
		return "", o.dstErr(err, "open destination ascmhl history")
	}
	formats = ascmhl.SortFormats(append(formats, h.OriginalFormats()...))
	tree := ascmhl.Tree{Dirs: map[string]time.Time{}}
	ignore := mergeIgnore(h.IgnorePatterns())
	for _, d := range dirs {
		if d.rel == "." || !ascmhl.Ignored(ignore, d.rel, true) {
			tree.Dirs[d.rel] = d.mtime
		}
	}
	for _, fr := range res.Files {
		if ascmhl.Ignored(ignore, fr.Path, false) || ignoredBelow(ignore, fr.Path) {
			continue
		}
		hs := map[ascmhl.Format]string{}
		for _, f := range formats {
			v, ok := fr.MHL[f]
			if !ok {
				// a destination history in a format we did not hash
				more, err := o.hashDest(ctx, fr.Path, f)
				if err != nil {
					return "", o.dstErr(err, "hash "+fr.Path)
				}
				v = more[f]
			}
			hs[f] = v
		}
		tree.Files = append(tree.Files, ascmhl.File{Path: fr.Path, Size: fr.Size, ModTime: fr.ModTime, Hashes: hs})
	}
	gen, fails, err := h.Build(tree, formats, ascmhl.ProcessTransfer, o.opts.Creator, o.opts.Now())
	if err != nil {
		return "", err
	}
	gen.Ignore = ignore
	if err := h.AddGeneration(gen); err != nil {
		return "", o.dstErr(err, "write ascmhl generation")
	}
	if len(fails) > 0 {
		return gen.FileName, fmt.Errorf("%w: %s differs from the destination's ascmhl history (%s)", ErrHistory, fails[0].Path, fails[0].Format)
	}
	return gen.FileName, nil
}

// mergeIgnore adds our own transient names to a history's ignore patterns,
// so that a verify during a later partial re-run never trips on them.
func mergeIgnore(pats []string) []string {
	out := append([]string(nil), pats...)
	for _, p := range []string{StateName, "*" + PartialSuffix} {
		if !containsString(out, p) {
			out = append(out, p)
		}
	}
	return out
}

func ignoredBelow(pats []string, rel string) bool {
	for d := path.Dir(rel); d != "." && d != "/"; d = path.Dir(d) {
		if ascmhl.Ignored(pats, d, true) {
			return true
		}
	}
	return false
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (o *offloader) hashDest(ctx context.Context, rel string, f ascmhl.Format) (map[ascmhl.Format]string, error) {
	fh, _, err := o.dstDir.OpenRegular(rel)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return ascmhl.HashReader(ctx, fh, []ascmhl.Format{f})
}

// copyHistory carries the card's ascmhl/ files (regular files only, each
// at most ascmhl.MaxGenerationSize) over to the destination.
func copyHistory(src, dst *safefs.Dir) error {
	ents, err := src.ReadDir(ascmhl.FolderName)
	if err != nil {
		return err
	}
	to, err := dst.MkdirAll(ascmhl.FolderName, 0o755)
	if err != nil {
		return err
	}
	defer to.Close()
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := src.ReadFile(ascmhl.FolderName+"/"+e.Name(), ascmhl.MaxGenerationSize)
		if err != nil {
			return err
		}
		if err := to.WriteFileAtomic(e.Name(), data, 0o644); err != nil {
			return err
		}
	}
	return to.Sync()
}
