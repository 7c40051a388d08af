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
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/zeebo/xxh3"
	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/daemon/cards/ascmhl"
	"github.com/ingestd/ingestd/internal/safefs"
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
	// ErrReservedName: a card file has a name ingestd keeps for its own
	// files in a destination (ReservedName): it could be neither copied
	// faithfully nor listed in the ASC MHL.
	ErrReservedName = errors.New("card file has a name ingestd reserves for its own files")
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

// partialRel is where rel is written until it is verified: rel plus
// PartialSuffix or, when that name would pass the 255-byte limit of one
// name (cards carry files whose names use all 255 bytes), the name cut
// short on a character boundary plus a hash of the whole name, so two long
// names never share a partial file.
func partialRel(rel string) string {
	dir, base := path.Split(rel)
	if len(base)+len(PartialSuffix) <= 255 {
		return rel + PartialSuffix
	}
	tag := fmt.Sprintf("~%016x", xxh3.HashString(base))
	keep := 255 - len(PartialSuffix) - len(tag)
	for keep > 0 && !utf8.RuneStart(base[keep]) {
		keep--
	}
	return dir + base[:keep] + tag + PartialSuffix
}

// Options tune an offload. The zero value copies with xxh128 in the MHL.
type Options struct {
	// MHLFormats are the ASC MHL hash formats to record; xxh128 when empty.
	// Formats of an existing card history are always added.
	MHLFormats []ascmhl.Format
	Creator    ascmhl.Creator // tool name defaults to "ingestd"
	BufferSize int            // read size, default 256 KiB
	Logger     *slog.Logger   // used as given (the caller names the component); default slog's, component=cards
	// Progress is called after each file and about every ProgressEvery
	// while the card is read (from another goroutine than the caller's).
	Progress      func(Progress)
	ProgressEvery time.Duration // default 500ms
	Now           func() time.Time

	// QueueBlocks is how many read buffers a destination may fall behind
	// the card (default 16: 4 MiB with the default BufferSize). A
	// destination that stays that far behind for StallTimeout (default
	// 10s) while another destination keeps up is dropped from the card
	// pass (DestResult.Dropped, ErrFellBehind): the others go on at card
	// speed. A single destination is never dropped for being slow.
	QueueBlocks  int
	StallTimeout time.Duration
	// HangTimeout: a destination whose filesystem does not answer a
	// statfs for this long during the pass (a hung NFS or SMB share, a
	// FUSE server that stopped) is left behind, failed with
	// ErrNotResponding, and the pass ends without waiting for it (default
	// 30s). A slow disk that answers is waited for.
	HangTimeout time.Duration

	// TrustResumed skips re-hashing the destination copy of files an
	// earlier run verified (size and mtime still match on both sides). By
	// default their xxh128 is re-read from the destination and compared
	// with the recorded one; a file that differs is copied again.
	TrustResumed bool

	// DestRoot is the trusted folder dst lies in for Offload (the volume
	// root; default the parent of dst); OffloadMulti uses each
	// Destination.Root. Every folder and file from there down is created
	// and opened without following symlinks: one found fails that
	// destination with ErrDestTampered.
	DestRoot string

	// FromCopy says the source is a verified copy this daemon wrote (a
	// destination filled from it), not a card: its own progress file,
	// partial files and report files there are not the card's (not
	// copied, or copied as reports). On a card, a file with one of those
	// names fails the card before anything is copied (ErrReservedName).
	FromCopy bool

	// SourceReader wraps each card file as it is read (rate limit; fault
	// injection in tests). The file was opened without following symlinks
	// or blocking, and is a regular file on the card's filesystem.
	SourceReader func(rel string, f *os.File) io.ReadCloser
	// DestWriter (tests: fault injection, a slow destination) wraps each
	// partial file as it is written at destination name.
	DestWriter func(name, rel string, w io.Writer) io.Writer
	// AfterCopy (tests) runs after a file was written and synced and before
	// it is re-read for verification (once per destination).
	AfterCopy func(rel, dstPath string)
}

// Progress is reported after each file and periodically while reading.
type Progress struct {
	File string // the last file read from the card
	// FilesDone and BytesDone are verified at every destination still in
	// the pass (re-read and matched, or by an earlier run).
	FilesDone  int
	FilesTotal int
	BytesDone  int64
	BytesTotal int64
	BytesRead  int64          // card bytes read so far (files resumed everywhere count as read)
	Dests      []DestProgress // one per destination, in order
}

// DestProgress is where one destination stands.
type DestProgress struct {
	Name  string
	Dst   string
	State string // DestCopying, DestVerifying, DestVerified, DestFailed
	// BytesWritten counts bytes written at the destination by this run
	// plus files resumed; BytesVerified bytes re-read from it and matched
	// (or verified by an earlier run).
	BytesWritten  int64
	BytesVerified int64
	BytesTotal    int64
	FilesVerified int
	// Error and FailedPath say why a failed destination failed, as soon
	// as it did (the pass may go on with the others).
	Error      string
	FailedPath string
}

// Destination is one place a card is copied to.
type Destination struct {
	Name string // how results and logs name it (a volume name); default Dir
	Dir  string // the folder the card is copied into (created)
	// Root is the trusted folder Dir lies in (the volume root; default the
	// parent of Dir, created). Nothing from there down is followed through
	// a symlink.
	Root string
	// Formats are the ASC MHL hash formats of this destination's history
	// (empty: Options.MHLFormats). The card is read once and hashed in
	// every destination's formats.
	Formats []ascmhl.Format
}

// Destination states (DestResult.State, DestProgress.State).
const (
	DestCopying   = "copying"
	DestVerifying = "verifying" // the card is read; re-reads and the ASC MHL generation are being finished
	DestVerified  = "verified"  // every file re-read and matched, MHL generation written and synced
	DestFailed    = "failed"    // see Reason; with Dropped it fell behind the card
	// DestPending is never set by this package: the daemon shows a failed
	// destination that will be filled from a verified one as pending.
	DestPending = "pending"
)

// ErrFellBehind: a destination stayed Options.QueueBlocks behind the card
// for Options.StallTimeout while another one kept up; it was dropped from
// the card pass, to be filled from a verified copy.
var ErrFellBehind = errors.New("destination fell behind the card")

// DestResult is the outcome at one destination.
type DestResult struct {
	Name       string `json:"name"`
	Dst        string `json:"dst"`
	State      string `json:"state"`             // DestVerified or DestFailed
	Copied     int64  `json:"copied"`            // bytes written and verified by this run
	Resumed    int    `json:"resumed"`           // files verified by an earlier run
	Dropped    bool   `json:"dropped,omitempty"` // dropped from the card pass (ErrFellBehind or its own failure while others went on)
	Generation string `json:"generation,omitempty"`
	FailedPath string `json:"failed_path,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Err        error  `json:"-"`
	// Where it stood when the pass ended (DestProgress): also for one
	// that failed.
	BytesWritten  int64 `json:"bytes_written"`
	BytesVerified int64 `json:"bytes_verified"`
	FilesVerified int   `json:"files_verified"`
}

// FileResult is one offloaded file.
type FileResult struct {
	Path    string    `json:"path"` // slash-separated, relative to the card root
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
	// BLAKE3 is the content id the catalog gives the file. The card pass
	// does not compute it (source verification needs only xxh128):
	// ContentIDs fills it from a verified copy (contentid.go) once the
	// card no longer needs to be waited for; empty until then.
	BLAKE3  string                   `json:"blake3"`
	XXH128  string                   `json:"xxh128"`
	MHL     map[ascmhl.Format]string `json:"mhl"`
	Resumed bool                     `json:"-"` // verified by an earlier run, not copied again
}

// Skipped is an entry on the card that was not copied: a symlink (never
// followed), a FIFO, socket or device, or a filesystem mounted on the card.
type Skipped = wire.Skipped

// Result describes an offload, complete or not. For OffloadMulti, Dst,
// Generation are those of the first destination; Dests has each one.
type Result struct {
	Status     string       `json:"status"`
	Src        string       `json:"src"`
	Dst        string       `json:"dst"`
	Layout     Layout       `json:"layout"`
	Files      []FileResult `json:"files"`
	Bytes      int64        `json:"bytes"`       // total size of the card's files
	FilesTotal int          `json:"files_total"` // how many files the card has to copy (Files holds them once copied)
	// CardFailed: the pass failed on the card's side (pulled, a read
	// error, its history, a name no MHL can hold), not a destination's.
	CardFailed  bool         `json:"card_failed,omitempty"`
	Copied      int64        `json:"copied"`       // bytes read from the card and copied by this run
	Resumed     int          `json:"resumed"`      // files skipped as already verified (at every destination)
	CardHistory bool         `json:"card_history"` // the card carried an ascmhl/ history, verified and continued
	Skipped     []Skipped    `json:"skipped,omitempty"`
	Generation  string       `json:"generation,omitempty"`
	FailedPath  string       `json:"failed_path,omitempty"`
	Reason      string       `json:"reason,omitempty"`
	Started     time.Time    `json:"started"`
	Finished    time.Time    `json:"finished"`
	Dests       []DestResult `json:"dests"`
	// Manifests are the checksum manifests found on the card (.md5,
	// .xxhash), each checked against the copy (manifest.go).
	Manifests []ManifestCheck `json:"manifests,omitempty"`
}

// Verified returns the destinations verified, in order.
func (r Result) Verified() []DestResult {
	var out []DestResult
	for _, d := range r.Dests {
		if d.State == DestVerified {
			out = append(out, d)
		}
	}
	return out
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
// while it is read from the card (xxh128, plus the MHL formats, in one
// pass; not BLAKE3: FileResult.BLAKE3 is left to ContentIDs), written
// under a partial name, synced, dropped from the page cache and re-read
// from the destination; only a file whose re-read matches is renamed into
// place. When every file matched, an ASC MHL generation is
// written into dst/ascmhl (continuing the card's own history if it has
// one, after checking the card against it) and the result is offloaded.
//
// Any failure (a mismatch, a read error, the card pulled, a full
// destination) stops the offload: the Result says which file and why, the
// error wraps one of the Err sentinels, nothing is presented as complete,
// and the progress file lets a later call resume without copying verified
// files again.
//
// src may also be a verified copy (a cascade): its ascmhl/ history is then
// checked like a card's and carried over, so the new copy's history shows
// card → first copy → this copy.
func Offload(ctx context.Context, src, dst string, opts Options) (Result, error) {
	return OffloadMulti(ctx, src, []Destination{{Dir: dst, Root: opts.DestRoot}}, opts)
}

// OffloadMulti reads the card at src once and writes it to every
// destination in parallel: one goroutine reads (and hashes) the card and
// hands each buffer to a writer goroutine per destination through a
// bounded queue; each destination has its own partial files, re-read
// verification (on its own goroutine), progress file and ASC MHL
// generation. A destination that fails, or falls behind (see
// Options.QueueBlocks), is dropped from the pass and reported in its
// DestResult while the others go on. The error is nil only when every
// destination is verified; a card-side failure (read error, card pulled,
// history mismatch) fails every destination not yet verified.
func OffloadMulti(ctx context.Context, src string, dsts []Destination, opts Options) (Result, error) {
	o := &offloader{opts: opts, src: absPath(src)}
	o.defaults()
	for i, d := range dsts {
		dd := &dest{o: o, Destination: d, idx: i}
		dd.Dir = absPath(d.Dir)
		if dd.Name == "" {
			dd.Name = dd.Dir
		}
		dd.log = o.log.With("dest", dd.Name)
		dd.verified = map[string]fileID{}
		dd.hangWatch = newHangWatch()
		dd.setPhase(DestCopying)
		o.dests = append(o.dests, dd)
	}
	if len(o.dests) > 0 {
		o.dst = o.dests[0].Dir
	}
	res, err := o.run(ctx)
	res.Finished = o.opts.Now()
	res.Skipped = o.skipped
	res.Dests = nil
	var firstErr error
	var firstDest *dest
	for _, d := range o.dests {
		dr := d.result()
		res.Dests = append(res.Dests, dr)
		if dr.Err != nil && firstErr == nil {
			firstErr, firstDest = dr.Err, d
		}
	}
	if len(o.dests) > 0 {
		d0 := res.Dests[0]
		res.Dst, res.Generation = d0.Dst, d0.Generation
	}
	if err == nil && firstErr != nil {
		err = firstErr
		if res.FailedPath == "" && res.Reason == "" {
			res.FailedPath, res.Reason = firstDest.failedPath, firstErr.Error()
		}
	}
	if err == nil && len(o.dests) == 0 {
		err = fmt.Errorf("offload %s: no destination", o.src)
	}
	if err != nil {
		res.Status = StatusFailed
		if res.Reason == "" {
			res.Reason = err.Error()
		}
		if v := len(res.Verified()); v > 0 {
			o.log.Warn("card offloaded to some destinations only: not safe to format", "src", o.src, "dests", len(o.dests), "verified", v,
				"files", len(res.Files), "bytes", res.Bytes, "file", res.FailedPath, "reason", res.Reason)
		} else if errors.Is(err, context.Canceled) {
			// The caller knows why (the card unmounted, the daemon
			// stopping) and says so.
			o.log.Info("card offload cancelled", "src", o.src, "dst", res.Dst, "dests", len(o.dests), "file", res.FailedPath)
		} else {
			o.log.Warn("card offload failed", "src", o.src, "dst", res.Dst, "dests", len(o.dests), "file", res.FailedPath, "reason", res.Reason)
		}
		return res, err
	}
	res.Status = StatusOffloaded
	o.log.Info("card offloaded", "src", o.src, "dst", res.Dst, "dests", len(o.dests), "files", len(res.Files), "bytes", res.Bytes,
		"copied", res.Copied, "resumed", res.Resumed, "generation", res.Generation)
	return res, nil
}

type offloader struct {
	opts    Options
	log     *slog.Logger
	src     string
	dst     string // the first destination's folder
	srcDev  uint64
	srcDir  *safefs.Dir // the card root, held open
	dests   []*dest
	skipped []Skipped
	// dstDir is the first destination still in the pass once they are
	// opened (code that reads back one copy, e.g. manifests, uses it).
	dstDir *safefs.Dir

	pool       chan *block
	nextFile   *srcFile // reader goroutine: the card file after the one read (prefetch)
	readBytes  atomic.Int64
	stallDest  *dest // reader goroutine: who held the card since stallSince
	stallSince time.Time

	progMu sync.Mutex
	prog   Progress
	emitMu sync.Mutex // one Progress call at a time
}

// block is one read buffer, handed to the hashers and every destination
// still in the pass; it goes back to the pool when all are done with it.
// Its buffer is made on first use.
type block struct {
	b    []byte
	n    int
	refs atomic.Int32
	size int // of b
}

func newBlock(size int) *block { return &block{size: size} }

// buffer returns the block's buffer to read into.
func (b *block) buffer() []byte {
	if b.b == nil {
		b.b = make([]byte, b.size)
	}
	return b.b
}

func (o *offloader) defaults() {
	if o.opts.Logger == nil {
		o.opts.Logger = slog.Default().With("component", "cards")
	}
	o.log = o.opts.Logger
	if o.opts.Now == nil {
		o.opts.Now = time.Now
	}
	if o.opts.BufferSize <= 0 {
		o.opts.BufferSize = 256 << 10
	}
	if o.opts.QueueBlocks <= 0 {
		o.opts.QueueBlocks = 16
	}
	if o.opts.StallTimeout <= 0 {
		o.opts.StallTimeout = 10 * time.Second
	}
	if o.opts.HangTimeout <= 0 {
		o.opts.HangTimeout = 30 * time.Second
	}
	if o.opts.ProgressEvery <= 0 {
		o.opts.ProgressEvery = 500 * time.Millisecond
	}
	if len(o.opts.MHLFormats) == 0 {
		o.opts.MHLFormats = []ascmhl.Format{ascmhl.DefaultFormat}
	}
	if o.opts.Creator.ToolName == "" {
		o.opts.Creator.ToolName = "ingestd"
	}
	if o.opts.Creator.HostName == "" {
		o.opts.Creator.HostName, _ = os.Hostname()
	}
	// The pool: a destination may hold QueueBlocks, the hashers a few.
	n := o.opts.QueueBlocks + 4
	o.pool = make(chan *block, n)
	for i := 0; i < n; i++ {
		o.pool <- newBlock(o.opts.BufferSize)
	}
}

// fail records a card-side failure: every destination still in the pass
// fails with it (their progress files are kept for a resume).
func (o *offloader) fail(res *Result, rel string, err error) (Result, error) {
	res.CardFailed = true
	res.FailedPath = rel
	res.Reason = err.Error()
	for _, d := range o.dests {
		if d.phase() != DestVerified {
			d.fail(rel, err)
		}
		d.saveStateAside()
	}
	return *res, err
}

// active are the destinations still in the pass.
func (o *offloader) active() []*dest {
	var out []*dest
	for _, d := range o.dests {
		if !d.out() {
			out = append(out, d)
		}
	}
	return out
}

func (o *offloader) run(ctx context.Context) (Result, error) {
	res := Result{Src: o.src, Dst: o.dst, Started: o.opts.Now()}
	srcDir, err := safefs.OpenRoot(o.src, true)
	if err != nil {
		return o.fail(&res, "", fmt.Errorf("card %s: %w: %w", o.src, ErrSourceGone, err))
	}
	defer srcDir.Close()
	o.srcDir, o.srcDev = srcDir, srcDir.Dev()
	seen := map[string]bool{}
	for _, d := range o.dests {
		if d.Dir == o.src || strings.HasPrefix(d.Dir, o.src+string(filepath.Separator)) {
			return o.fail(&res, "", fmt.Errorf("offload %s: destination %s is on the card", o.src, d.Dir))
		}
		if seen[d.Dir] {
			return o.fail(&res, "", fmt.Errorf("offload %s: destination %s given twice", o.src, d.Dir))
		}
		seen[d.Dir] = true
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
	files, dirs, err := o.list()
	if err != nil {
		return o.fail(&res, "", err)
	}
	// A name no ASC MHL can record fails the card before anything is
	// copied: its history would list a file that is not there.
	for _, f := range append(append([]srcFile(nil), dirs...), files...) {
		if f.rel == "." {
			continue
		}
		if err := ascmhl.CheckPath(f.rel); err != nil {
			return o.fail(&res, f.rel, err)
		}
	}
	if !o.opts.FromCopy {
		for _, f := range files {
			if ReservedName(f.rel) {
				return o.fail(&res, f.rel, fmt.Errorf("%w (%s, *%s, %s, %s): %s; nothing was copied: rename or move it on the card (a card left inserted is looked at again once it changes)",
					ErrReservedName, StateName, PartialSuffix, ReportHTMLName, ReportJSONName, f.rel))
			}
		}
	}
	// Histories of sub-folders (the reference's child histories: an earlier
	// offload's roll folders, a camera's clip folders) are verified too.
	if err := cardHist.LoadNested(nestedHistories(dirs)); err != nil {
		failed := ascmhl.FolderName
		if ne := (*ascmhl.NestedError)(nil); errors.As(err, &ne) {
			failed = path.Join(ne.Rel, ascmhl.FolderName) // that folder's, not the card root's
		}
		return o.fail(&res, failed, fmt.Errorf("%w: %w", ErrHistory, err))
	}
	res.CardHistory = len(cardHist.Generations) > 0 || len(cardHist.Nested) > 0
	// Per-destination formats (Destination.Formats): the card is hashed in
	// all of them; each history is written in its own (else MHLFormats),
	// plus the card's own.
	base := ascmhl.SortFormats(append(append([]ascmhl.Format(nil), o.opts.MHLFormats...), cardHist.Formats()...))
	all := append([]ascmhl.Format(nil), base...)
	for _, d := range o.dests {
		all = append(all, d.Formats...)
	}
	formats := ascmhl.SortFormats(all)
	destFormats := func(d *dest) []ascmhl.Format {
		if len(d.Formats) == 0 {
			return base
		}
		return ascmhl.SortFormats(append(append([]ascmhl.Format(nil), d.Formats...), cardHist.Formats()...))
	}

	res.FilesTotal = len(files)
	for _, f := range files {
		res.Bytes += f.size
	}
	o.openDests(files)
	// The watch runs until every folder is closed (closeDirs waits for
	// what uses a destination, or for it to be left behind).
	stopWatch := o.watchHangs()
	defer stopWatch()
	defer o.closeDirs()
	if len(o.active()) == 0 {
		d := o.dests[0]
		res.FailedPath, res.Reason = d.failedPath, d.err.Error()
		return res, d.err
	}
	o.dstDir = o.active()[0].dir
	for _, d := range o.active() {
		d.ops = make(chan destOp, o.opts.QueueBlocks+16)
		d.vq = make(chan *writtenFile, 8)
		d.bytesTotal = res.Bytes
		d.wg.Add(2)
		d.bg.Add(2)
		go d.writer()
		go d.verifier()
		go func() {
			d.wg.Wait()
			close(d.exited)
		}()
	}
	o.progMu.Lock()
	o.prog = Progress{FilesTotal: len(files), BytesTotal: res.Bytes}
	o.progMu.Unlock()
	stopTick := o.ticker()
	defer stopTick()
	finishPass := func() {
		for _, d := range o.dests {
			d.closeOps()
		}
		for _, d := range o.dests {
			if d.ops != nil {
				d.waitExit()
			}
		}
	}

	var check func(*FileResult) error
	if res.CardHistory {
		check = func(fr *FileResult) error { return checkAgainst(cardHist, fr) }
	}
	// The finisher completes each file in card order (its hashes, the
	// card history check, the end of it handed to the writers) while the
	// reader goes on with the next one.
	fin := o.startFinisher()
	stop := func() (string, error) {
		fin.close()
		finishPass()
		return fin.failure()
	}
	for i, f := range files {
		o.nextFile = nil
		if i+1 < len(files) {
			o.nextFile = &files[i+1]
		}
		if err := ctx.Err(); err != nil {
			stop()
			return o.fail(&res, f.rel, err)
		}
		if rel, err := fin.failure(); err != nil {
			stop()
			return o.fail(&res, rel, err)
		}
		if len(o.active()) == 0 {
			break
		}
		fr, resumed, pf, err := o.file(ctx, f, formats, check)
		if errors.Is(err, errNoDest) {
			break // every destination failed: OffloadMulti reports the first
		}
		if err != nil {
			stop()
			return o.fail(&res, f.rel, err)
		}
		fin.push(finItem{f: f, fr: fr, resumed: resumed, pf: pf})
		if pf != nil && o.opts.AfterCopy != nil {
			// Tests act between two files: each is verified everywhere
			// before the next is read.
			<-pf.done
			for _, d := range pf.need {
				idle := make(chan struct{})
				go func() {
					d.inflight.Wait()
					close(idle)
				}()
				d.waitDone(idle)
			}
		}
	}
	if rel, err := stop(); err != nil {
		return o.fail(&res, rel, err)
	}
	res.Files, res.Copied, res.Resumed = fin.files, fin.copied, fin.resumed
	if len(o.active()) == 0 {
		return res, nil // every destination failed: OffloadMulti reports the first
	}
	if res.CardHistory {
		seen := map[string]bool{}
		for _, f := range files {
			seen[f.rel] = true
		}
		var missing []string
		pats := mergeIgnore(cardHist.IgnorePatterns()) // OS junk is not copied even when the history lists it
		for p := range cardHist.Files() {
			if !seen[p] && !ascmhl.Ignored(pats, p, false) && !ignoredBelow(pats, p) {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			return o.fail(&res, missing[0], fmt.Errorf("%w: %d file(s) of the history missing on the card, first %s", ErrHistory, len(missing), missing[0]))
		}
	}
	// Each destination still in the pass is sealed on its own.
	var sealed []func()
	for _, d := range o.active() {
		d.setPhase(DestVerifying)
		done := make(chan struct{})
		d.bg.Add(1)
		go func() {
			defer d.bg.Done()
			defer close(done)
			d.seal(ctx, cardHist, res.Files, dirs, destFormats(d))
		}()
		sealed = append(sealed, func() { d.waitDone(done) })
	}
	for _, wait := range sealed {
		wait()
	}
	if res.Manifests, err = o.checkManifests(ctx, res.Files); err != nil {
		return o.fail(&res, "", err)
	}
	o.emit()
	return res, nil
}

// checkManifests checks the card's checksum manifests (manifest.go) on the
// first destination still in the pass; one that stops answering meanwhile
// is left behind (hang.go) and the check starts over on the next.
func (o *offloader) checkManifests(ctx context.Context, files []FileResult) ([]ManifestCheck, error) {
	type checked struct {
		mcs []ManifestCheck
		err error
	}
	for _, d := range o.active() {
		done := make(chan checked, 1)
		d.bg.Add(1)
		go func() {
			defer d.bg.Done()
			mcs, err := checkManifests(ctx, o.log, d.dir, d.Dir, files)
			done <- checked{mcs, err}
		}()
		select {
		case c := <-done:
			return c.mcs, c.err
		case <-d.abandoned:
		}
	}
	return nil, nil
}

// ticker emits progress every ProgressEvery until stopped.
func (o *offloader) ticker() func() {
	if o.opts.Progress == nil {
		return func() {}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(o.opts.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				o.emit()
			}
		}
	}()
	return func() { close(stop); <-done }
}

// emit reports progress (card and every destination).
func (o *offloader) emit() {
	if o.opts.Progress == nil {
		return
	}
	o.emitMu.Lock()
	defer o.emitMu.Unlock()
	o.progMu.Lock()
	p := o.prog
	o.progMu.Unlock()
	p.BytesRead = o.readBytes.Load()
	p.Dests = make([]DestProgress, len(o.dests))
	p.FilesDone, p.BytesDone = -1, -1
	for i, d := range o.dests {
		dp := d.progress()
		p.Dests[i] = dp
		if dp.State == DestFailed {
			continue
		}
		if p.FilesDone < 0 || dp.FilesVerified < p.FilesDone {
			p.FilesDone = dp.FilesVerified
		}
		if p.BytesDone < 0 || dp.BytesVerified < p.BytesDone {
			p.BytesDone = dp.BytesVerified
		}
	}
	p.FilesDone, p.BytesDone = max(p.FilesDone, 0), max(p.BytesDone, 0)
	o.opts.Progress(p)
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
		if IsOSJunk(rel, d.IsDir()) { // neither copied nor listed (cardtree.go)
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
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
			if o.opts.FromCopy && (strings.HasSuffix(rel, PartialSuffix) || rel == StateName) {
				return nil // the copy's own (a card's fail the card: run)
			}
			files = append(files, srcFile{rel: rel, size: info.Size(), mtime: info.ModTime(), mode: info.Mode()})
		default:
			o.skip(rel, skipReason(info.Mode()))
		}
		return nil
	})
	return files, dirs, err
}

// file copies and verifies one file to every destination still in the
// pass that does not hold it yet, or recognises it as verified by an
// earlier run everywhere (same size and mtime on the card and at the
// destination, same xxh128 re-read).
func (o *offloader) file(ctx context.Context, f srcFile, formats []ascmhl.Format, check func(*FileResult) error) (*FileResult, bool, *pendingFile, error) {
	var need []*dest
	var prev *FileResult
	act := o.active()
	prevs := make([]*FileResult, len(act))
	errs := make([]error, len(act))
	left := make([]bool, len(act))
	type resumed struct {
		prev *FileResult
		err  error
	}
	res := make([]chan resumed, len(act))
	for i, d := range act {
		res[i] = make(chan resumed, 1)
		d.bg.Add(1)
		go func() {
			defer d.bg.Done()
			prev, err := d.resumable(f, formats)
			res[i] <- resumed{prev, err}
		}()
	}
	for i, d := range act {
		select {
		case r := <-res[i]:
			prevs[i], errs[i] = r.prev, r.err
		case <-d.abandoned:
			left[i] = true // hung in its re-read: left behind (hang.go)
		}
	}
	for i, d := range act {
		switch {
		case left[i]:
		case errs[i] != nil:
			d.fail(f.rel, errs[i])
		case prevs[i] != nil:
			prev = prevs[i]
		default:
			need = append(need, d)
		}
	}
	if len(need) == 0 {
		if prev == nil {
			return nil, false, nil, errNoDest
		}
		r := *prev
		r.Resumed = true
		if check != nil {
			if err := check(&r); err != nil {
				return nil, false, nil, err
			}
		}
		o.readBytes.Add(f.size)
		for i, d := range act {
			if prevs[i] != nil {
				d.resumedFile(f.size)
			}
		}
		return &r, true, nil, nil
	}
	pf, err := o.copy(ctx, f, need, formats, check)
	if err != nil {
		return nil, false, nil, err
	}
	for i, d := range act {
		if prevs[i] != nil {
			d.resumedFile(f.size)
		}
	}
	return nil, false, pf, nil
}

// pendingFile is a card file read to the end whose hashes are still
// being computed; the finisher completes it.
type pendingFile struct {
	f       srcFile
	hs      *hashers
	x128    *xxh3.Hasher128
	mhl     map[ascmhl.Format]hash.Hash
	formats []ascmhl.Format
	need    []*dest
	check   func(*FileResult) error
	done    chan struct{}
}

type finItem struct {
	f       srcFile
	fr      *FileResult // resumed
	resumed bool
	pf      *pendingFile
}

// finisher completes files in card order on its own goroutine.
type finisher struct {
	o       *offloader
	q       chan finItem
	wg      sync.WaitGroup
	once    sync.Once
	mu      sync.Mutex
	err     error
	errPath string
	files   []FileResult
	copied  int64
	resumed int
}

func (o *offloader) startFinisher() *finisher {
	fn := &finisher{o: o, q: make(chan finItem, 8)}
	fn.wg.Add(1)
	go func() {
		defer fn.wg.Done()
		for it := range fn.q {
			fr := it.fr
			if it.pf != nil {
				_, failed := fn.failure()
				var err error
				fr, err = o.finishFile(it.pf, failed != nil)
				close(it.pf.done)
				if err != nil {
					fn.mu.Lock()
					if fn.err == nil {
						fn.err, fn.errPath = err, it.f.rel
					}
					fn.mu.Unlock()
				}
				if fr == nil {
					continue
				}
			}
			fn.mu.Lock()
			fn.files = append(fn.files, *fr)
			if it.resumed {
				fn.resumed++
			} else {
				fn.copied += it.f.size
			}
			fn.mu.Unlock()
			o.progMu.Lock()
			o.prog.File = it.f.rel
			o.progMu.Unlock()
			o.emit()
		}
	}()
	return fn
}

func (fn *finisher) push(it finItem) { fn.q <- it }

// close waits until every file pushed is completed.
func (fn *finisher) close() {
	fn.once.Do(func() { close(fn.q) })
	fn.wg.Wait()
}

func (fn *finisher) failure() (string, error) {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	return fn.errPath, fn.err
}

// finishFile waits for a read file's hashes, checks them against the card
// history and hands the end of the file to its destinations (abandoned
// there when abort or the check fails).
func (o *offloader) finishFile(pf *pendingFile, abort bool) (*FileResult, error) {
	pf.hs.close()
	f := pf.f
	if abort {
		for _, d := range pf.need {
			o.send(d, destOp{kind: opEnd, f: f})
		}
		return nil, nil
	}
	fr := &FileResult{
		Path: f.rel, Size: f.size, ModTime: f.mtime,
		XXH128: hex.EncodeToString(pf.x128.Sum(nil)),
		MHL:    map[ascmhl.Format]string{},
	}
	for fm, h := range pf.mhl {
		fr.MHL[fm] = ascmhl.Encode(fm, h.Sum(nil))
	}
	if containsFormat(pf.formats, ascmhl.XXH128) {
		fr.MHL[ascmhl.XXH128] = fr.XXH128
	}
	if pf.check != nil {
		if err := pf.check(fr); err != nil {
			for _, d := range pf.need {
				o.send(d, destOp{kind: opEnd, f: f})
			}
			return nil, err
		}
	}
	for _, d := range pf.need {
		o.send(d, destOp{kind: opEnd, f: f, fr: fr})
	}
	return fr, nil
}

func hasFormats(fr *FileResult, formats []ascmhl.Format) bool {
	for _, f := range formats {
		if _, ok := fr.MHL[f]; !ok {
			return false
		}
	}
	return fr.XXH128 != ""
}

// getBlock returns a free read buffer. When none is free because one
// destination holds the queue full while another keeps up, and that lasts
// StallTimeout, the slow one is dropped from the pass.
func (o *offloader) getBlock(ctx context.Context) (*block, error) {
	select {
	case b := <-o.pool:
		o.stallDest = nil
		return b, nil
	default:
	}
	tick := max(o.opts.StallTimeout/4, time.Millisecond)
	for {
		o.checkStall()
		t := time.NewTimer(tick)
		select {
		case b := <-o.pool:
			t.Stop()
			return b, nil
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// checkStall runs while the reader waits for a buffer: the destination
// holding most of them, at least half its queue, with another one holding
// at most half as many, is what holds the card; once that has lasted
// StallTimeout it is dropped.
func (o *offloader) checkStall() {
	act := o.active()
	var slow *dest
	for _, d := range act {
		if slow == nil || d.held.Load() > slow.held.Load() {
			slow = d
		}
	}
	keepsUp := false
	for _, d := range act {
		if d != slow && 2*d.held.Load() <= slow.held.Load() {
			keepsUp = true
		}
	}
	if slow == nil || !keepsUp || slow.held.Load() < int32(o.opts.QueueBlocks/2) {
		o.stallDest = nil
		return
	}
	now := time.Now()
	if o.stallDest != slow {
		o.stallDest, o.stallSince = slow, now
		return
	}
	if now.Sub(o.stallSince) >= o.opts.StallTimeout {
		o.drop(slow)
		o.stallDest = nil
	}
}

// release hands a block back once nobody uses it any more.
func (o *offloader) release(b *block) {
	if b.refs.Add(-1) == 0 {
		select {
		case o.pool <- b:
		default: // replaced when a destination was dropped
		}
	}
}

// drop takes a slow destination out of the pass (when another one stays
// in it); fresh buffers replace those it still holds.
func (o *offloader) drop(d *dest) bool {
	if d.out() || len(o.active()) < 2 {
		return false
	}
	held := int(d.held.Load())
	d.fail(d.curRel(), fmt.Errorf("%w: %d MiB behind for %s while another destination kept up: dropped from the card pass",
		ErrFellBehind, int64(o.opts.QueueBlocks)*int64(o.opts.BufferSize)>>20, o.opts.StallTimeout))
	d.mu.Lock()
	d.dropped = true
	d.mu.Unlock()
	d.closeOps()
	for i := 0; i < held; i++ {
		select {
		case o.pool <- newBlock(o.opts.BufferSize):
		default:
		}
	}
	return true
}

// send queues op for destination d; when d's queue stays full for
// StallTimeout and another destination is in the pass, d is dropped.
func (o *offloader) send(d *dest, op destOp) {
	if op.blk != nil {
		d.held.Add(1)
	}
	if op.kind == opOpen {
		d.inflight.Add(1)
	}
	// The reader and the finisher both send; closeOps takes the lock too.
	d.sendMu.Lock()
	if !d.sendable() {
		d.sendMu.Unlock()
		d.doneWith(op)
		return
	}
	select {
	case d.ops <- op:
		d.sendMu.Unlock()
		return
	default:
	}
	if len(o.active()) < 2 {
		select {
		case d.ops <- op:
		case <-d.abandoned:
			d.doneWith(op)
		}
		d.sendMu.Unlock()
		return
	}
	t := time.NewTimer(o.opts.StallTimeout)
	defer t.Stop()
	select {
	case d.ops <- op:
		d.sendMu.Unlock()
	case <-d.abandoned:
		d.sendMu.Unlock()
		d.doneWith(op)
	case <-t.C:
		d.sendMu.Unlock()
		o.drop(d)
		d.doneWith(op)
	}
}

// copy reads one card file once, hashing it, and hands every buffer to
// the destinations in need; their writers write, sync, re-read and rename
// it on their own goroutines.
func (o *offloader) copy(ctx context.Context, f srcFile, need []*dest, formats []ascmhl.Format, check func(*FileResult) error) (*pendingFile, error) {
	// The card root is held open: a card unmounted (even lazily) since is
	// noticed here, by its mount point no longer being that filesystem.
	if o.sourceGone() {
		return nil, fmt.Errorf("open %s: %w", f.rel, ErrSourceGone)
	}
	inf, st, err := o.srcDir.OpenRegular(f.rel)
	switch {
	case errors.Is(err, safefs.ErrSymlink) || errors.Is(err, safefs.ErrNotRegular) || errors.Is(err, safefs.ErrOtherDevice):
		// Listed as a regular file, now something else: the card changed
		// while read, as when a listed file is deleted. Skipping it would
		// leave a listed file with no copy on a card called safe.
		return nil, o.srcErr(fmt.Errorf("the card changed while read: listed as a regular file, now %v", errors.Unwrap(err)), "open "+f.rel)
	case err != nil:
		return nil, o.srcErr(err, "open "+f.rel)
	}
	// The card file is read into the pool's blocks (cardread.go says why
	// not mapped), ahead of the reads, or through a SourceReader (rate
	// limit, tests).
	var in io.Reader
	if o.opts.SourceReader != nil {
		rc := o.opts.SourceReader(f.rel, inf)
		defer rc.Close()
		in = rc
	} else {
		defer inf.Close()
		if st.Size != f.size {
			return nil, o.srcErr(fmt.Errorf("size %d, card listed %d", st.Size, f.size), "read "+f.rel)
		}
		cr := &cardReader{f: inf, size: f.size}
		if next := o.nextFile; next != nil {
			cr.tail = func(n int64) { o.prefetch(*next, n) }
		}
		in = cr
	}

	x128 := xxh3.New128()
	// Hashers: the xxHash family fused on one goroutine (each piece of a
	// block is read from memory once for all of them), then each slower
	// MHL format on its own goroutine. No BLAKE3: the content ids are not
	// needed to verify the copies (ContentIDs, after the pass).
	fast := fused{x128}
	var sinks []io.Writer
	mhl := map[ascmhl.Format]hash.Hash{}
	for _, fm := range formats {
		if fm == ascmhl.XXH128 {
			continue // same digest as x128
		}
		h, err := ascmhl.NewHash(fm)
		if err != nil {
			return nil, err
		}
		mhl[fm] = h
		if fm == ascmhl.XXH64 || fm == ascmhl.XXH3 {
			fast = append(fast, h)
		} else {
			sinks = append(sinks, h)
		}
	}
	sinks = append(sinks, fast)
	hs := newHashers(o, sinks)
	for _, d := range need {
		o.send(d, destOp{kind: opOpen, f: f})
	}
	abort := func() {
		hs.close()
		for _, d := range need {
			o.send(d, destOp{kind: opEnd, f: f})
		}
	}
	var n int64
	var rerr error
	for {
		if err := ctx.Err(); err != nil {
			rerr = err
			break
		}
		var live []*dest
		for _, d := range need {
			if d.sendable() {
				live = append(live, d)
			}
		}
		if len(live) == 0 {
			break // every destination in need dropped out; the caller notices
		}
		blk, err := o.getBlock(ctx)
		if err != nil {
			rerr = err
			break
		}
		k, err := io.ReadFull(in, blk.buffer())
		if k > 0 {
			blk.n = k
			blk.refs.Store(int32(len(hs.sinks) + len(live)))
			hs.submit(blk)
			for _, d := range live {
				o.send(d, destOp{kind: opData, f: f, blk: blk})
			}
			n += int64(k)
			o.readBytes.Add(int64(k))
		} else {
			blk.refs.Store(1)
			o.release(blk)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			rerr = err
			break
		}
	}
	if len(o.active()) == 0 && rerr == nil {
		abort()
		return nil, errNoDest
	}
	if rerr != nil {
		abort()
		if ctx.Err() != nil {
			return nil, rerr
		}
		return nil, o.srcErr(rerr, "read "+f.rel)
	}
	if n != f.size {
		abort()
		return nil, o.srcErr(fmt.Errorf("read %d bytes, card listed %d", n, f.size), "read "+f.rel)
	}
	{
		// A file that changed size while read is an error, and so is
		// one written in place (same size, new modification or change
		// time): the copy would hold neither version.
		var now unix.Stat_t
		if err := unix.Fstat(int(inf.Fd()), &now); err != nil || now.Size != f.size || now.Mtim != st.Mtim || now.Ctim != st.Ctim {
			abort()
			if err == nil && now.Size != f.size {
				err = fmt.Errorf("size changed to %d while read, card listed %d", now.Size, f.size)
			} else if err == nil {
				err = writtenWhileRead(st, now)
			}
			return nil, o.srcErr(err, "read "+f.rel)
		}
	}
	return &pendingFile{f: f, hs: hs, x128: x128, mhl: mhl, formats: formats, need: need, check: check, done: make(chan struct{})}, nil
}

// writtenWhileRead says how a card file of the same size was seen written
// to while read: its modification time moved, or only its change time
// (the time set back, as a tool restoring it does).
func writtenWhileRead(was, now unix.Stat_t) error {
	ts := func(t unix.Timespec) string { return time.Unix(t.Unix()).UTC().Format(time.RFC3339Nano) }
	if now.Mtim != was.Mtim {
		return fmt.Errorf("written to while read (modification time %s, was %s)", ts(now.Mtim), ts(was.Mtim))
	}
	return fmt.Errorf("written to while read (change time %s, was %s; modification time %s, unchanged or set back)", ts(now.Ctim), ts(was.Ctim), ts(now.Mtim))
}

// prefetch asks the card to read the first n bytes of f, the next file,
// while the last windows of the one before are handed out (advisory:
// errors are left to f's own copy). A file that a destination holds as
// verified by an earlier run is not fetched: it may not be read at all.
func (o *offloader) prefetch(f srcFile, n int64) {
	if f.size == 0 || o.opts.SourceReader != nil {
		return
	}
	for _, d := range o.active() {
		d.mu.Lock()
		_, held := d.state.Files[f.rel]
		d.mu.Unlock()
		if held {
			return
		}
	}
	in, _, err := o.srcDir.OpenRegular(f.rel)
	if err != nil {
		return
	}
	willNeed(int(in.Fd()), 0, min(n, f.size))
	in.Close()
}

// errNoDest: every destination left the pass while a file was read.
var errNoDest = errors.New("no destination left")

// hashers run the card-side hash sinks, each on its own goroutine, in order.
type hashers struct {
	o     *offloader
	sinks []chan *block
	wg    sync.WaitGroup
}

func newHashers(o *offloader, ws []io.Writer) *hashers {
	h := &hashers{o: o}
	for _, w := range ws {
		ch := make(chan *block, o.opts.QueueBlocks+4)
		h.sinks = append(h.sinks, ch)
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			for b := range ch {
				w.Write(b.b[:b.n]) // hashes never fail
				o.release(b)
			}
		}()
	}
	return h
}

func (h *hashers) submit(b *block) {
	for _, ch := range h.sinks {
		ch <- b
	}
}

func (h *hashers) close() {
	if h.sinks == nil {
		return
	}
	for _, ch := range h.sinks {
		close(ch)
	}
	h.wg.Wait()
	h.sinks = nil
}

// dest is one destination of a pass.
type dest struct {
	o *offloader
	Destination
	idx int
	log *slog.Logger
	dir *safefs.Dir // the destination folder, held open

	// Buffers of re-reads, made on first use:
	rbuf []byte // resume re-reads (reader goroutine)
	vbuf []byte // verification re-reads (verifier goroutine)

	saveMu     sync.Mutex // one saveState at a time
	mu         sync.Mutex // guards what follows; never held across I/O to the destination
	state      *state
	dirty      int
	lastSave   time.Time
	verified   map[string]fileID // each file as verified (checkFinal)
	err        error
	failedPath string
	dropped    bool
	gone       bool   // out of the pass (failed or dropped)
	ph         string // phase
	generation string
	resumed    int
	cur        string // file being written
	bytesTotal int64
	filesOK    int

	ops      chan destOp
	sendMu   sync.Mutex // one sender at a time; no send after closeOps
	opsOnce  sync.Once
	opsShut  atomic.Bool
	vq       chan *writtenFile
	wg       sync.WaitGroup
	held     atomic.Int32   // blocks queued or in hand
	inflight sync.WaitGroup // files handed to the writer and not yet verified or abandoned
	hangWatch
	written  atomic.Int64
	verBytes atomic.Int64
	copied   atomic.Int64
}

type opKind int

const (
	opOpen opKind = iota
	opData
	opEnd // fr nil: abandon the file
)

type destOp struct {
	kind opKind
	f    srcFile
	blk  *block
	fr   *FileResult
}

// writtenFile is a partial file written and synced, waiting for its re-read.
type writtenFile struct {
	f   srcFile
	out *os.File
	fr  *FileResult
	ino uint64
}

func (d *dest) out() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gone
}

func (d *dest) sendable() bool { return !d.opsShut.Load() && !d.out() }

func (d *dest) closeOps() {
	d.sendMu.Lock()
	defer d.sendMu.Unlock()
	d.opsOnce.Do(func() {
		d.opsShut.Store(true)
		if d.ops != nil {
			close(d.ops)
		}
	})
}

// doneWith releases what op holds without using it.
func (d *dest) doneWith(op destOp) {
	if op.blk != nil {
		d.held.Add(-1)
		d.o.release(op.blk)
	}
	if op.kind == opOpen {
		d.inflight.Done()
	}
}

func (d *dest) phase() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ph
}

func (d *dest) setPhase(p string) {
	d.mu.Lock()
	if !d.gone || p == DestFailed {
		d.ph = p
	}
	d.mu.Unlock()
}

func (d *dest) curRel() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cur
}

// fail takes d out of the pass with err (the first error is kept).
func (d *dest) fail(rel string, err error) {
	d.mu.Lock()
	first := d.err == nil
	if first {
		d.err, d.failedPath = err, rel
	}
	d.gone, d.ph = true, DestFailed
	d.mu.Unlock()
	if first {
		if len(d.o.dests) > 1 && !errors.Is(err, context.Canceled) { // a cancelled pass is logged once, as a whole
			d.log.Warn("destination out of the card pass", "dst", d.Dir, "file", rel, "err", err)
		}
		d.saveStateAside()
	}
}

// saveStateAside writes the progress file off the caller's goroutine (the
// card reader dropping d, the pass failing): a destination whose mount
// hangs then holds that write alone. closeDirs waits for it, or for d to
// be left behind (hang.go).
func (d *dest) saveStateAside() {
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		d.saveState(true)
	}()
}

func (d *dest) resumedFile(size int64) {
	d.written.Add(size)
	d.verBytes.Add(size)
	d.mu.Lock()
	d.resumed++
	d.filesOK++
	d.mu.Unlock()
}

func (d *dest) progress() DestProgress {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := DestProgress{Name: d.Name, Dst: d.Dir, State: d.ph, BytesWritten: d.written.Load(), BytesVerified: d.verBytes.Load(),
		BytesTotal: d.bytesTotal, FilesVerified: d.filesOK}
	if d.ph == DestFailed && d.err != nil {
		p.Error, p.FailedPath = d.err.Error(), d.failedPath
	}
	return p
}

func (d *dest) result() DestResult {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := DestResult{Name: d.Name, Dst: d.Dir, State: d.ph, Copied: d.copied.Load(), Resumed: d.resumed, Dropped: d.dropped,
		Generation: d.generation, FailedPath: d.failedPath, Err: d.err,
		BytesWritten: d.written.Load(), BytesVerified: d.verBytes.Load(), FilesVerified: d.filesOK}
	if d.err != nil {
		r.State, r.Reason = DestFailed, d.err.Error()
	} else if r.State != DestVerified {
		r.State = DestFailed
		r.Err = fmt.Errorf("offload to %s: not finished", d.Dir)
		r.Reason = r.Err.Error()
	}
	return r
}

// openDir creates the destination folder below its root, symlink-safe,
// and opens it; existed says it was there already.
func (d *dest) openDir() (dir *safefs.Dir, existed bool, err error) {
	anchor := d.Root
	if anchor == "" {
		// Standalone use: the caller's own folder, made as before.
		anchor = filepath.Dir(d.Dir)
		if err := os.MkdirAll(anchor, 0o755); err != nil {
			return nil, false, dstErr(err, "create "+anchor)
		}
	}
	anchor = absPath(anchor)
	dstRel, err := filepath.Rel(anchor, d.Dir)
	if err != nil || dstRel == "." || dstRel == ".." || strings.HasPrefix(dstRel, ".."+string(filepath.Separator)) {
		return nil, false, fmt.Errorf("offload %s: destination %s is not below %s", d.o.src, d.Dir, anchor)
	}
	root, err := safefs.OpenRoot(anchor, false)
	if err != nil {
		return nil, false, dstErr(err, "open "+anchor)
	}
	_, serr := root.Lstat(filepath.ToSlash(dstRel))
	dir, err = root.MkdirAll(filepath.ToSlash(dstRel), 0o755)
	root.Close()
	if err != nil {
		return nil, false, dstErr(err, "create "+d.Dir)
	}
	return dir, serr == nil, nil
}

// removeLeftovers removes the partial files an earlier pass left in dir
// for files of this card (regular files only: anything else is for the
// writer's checks to report), before anything is written: a retry on a
// nearly full destination then has their space. Each of the card's folders
// is listed once (not one lookup per file: a NAS answers slowly, and this
// runs within HangTimeout). It returns how many.
func removeLeftovers(dir *safefs.Dir, files []srcFile) int {
	want := map[string]map[string]bool{} // folder -> partial names in it
	for _, f := range files {
		p := partialRel(f.rel)
		d, base := path.Dir(p), path.Base(p)
		if want[d] == nil {
			want[d] = map[string]bool{}
		}
		want[d][base] = true
	}
	n := 0
	for d, names := range want {
		ents, err := dir.ReadDir(d)
		if err != nil {
			continue // not there (yet), or for the writer to report
		}
		for _, e := range ents {
			if names[e.Name()] && e.Type().IsRegular() && dir.Remove(path.Join(d, e.Name())) == nil {
				n++
			}
		}
	}
	return n
}

// resumable returns the earlier run's result for f when the copy at d is
// still the file it verified (nil: copy it), or ErrDestTampered.
func (d *dest) resumable(f srcFile, formats []ascmhl.Format) (*FileResult, error) {
	d.mu.Lock()
	prev, ok := d.state.Files[f.rel]
	d.mu.Unlock()
	if !ok || prev.Size != f.size || !prev.ModTime.Equal(f.mtime) || !hasFormats(prev, formats) {
		return nil, nil
	}
	dstPath := filepath.Join(d.Dir, filepath.FromSlash(f.rel))
	st, err := d.dir.Lstat(f.rel)
	if err == nil && st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("resume %s: %w: %s is a %s", f.rel, ErrDestTampered, dstPath, safefs.TypeName(st.Mode))
	}
	if err == nil && st.Size == f.size && time.Unix(st.Mtim.Unix()).Equal(f.mtime) && d.stillVerified(f.rel, prev) {
		return prev, nil
	}
	return nil, nil
}

func (d *dest) stillVerified(rel string, prev *FileResult) bool {
	f, st, err := d.dir.OpenRegular(rel)
	if err != nil {
		d.log.Warn("offloaded file unreadable; copying it again", "path", filepath.Join(d.Dir, rel), "err", err)
		return false
	}
	defer f.Close()
	if !d.o.opts.TrustResumed {
		got, err := rereadXXH128(f, &d.rbuf)
		if err != nil || got != prev.XXH128 {
			d.log.Warn("offloaded file changed since it was verified; copying it again", "path", filepath.Join(d.Dir, rel), "err", err)
			return false
		}
	}
	var after unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &after); err != nil || after.Ctim != st.Ctim {
		d.log.Warn("offloaded file changed while it was re-read; copying it again", "path", filepath.Join(d.Dir, rel), "err", err)
		return false
	}
	d.mu.Lock()
	d.verified[rel] = fileID{st.Ino, st.Ctim}
	d.mu.Unlock()
	return true
}

// writer writes the files the card pass hands to d, each under its partial
// name, syncs it and queues it for its re-read. A file read to its end
// waits for its hashes (opEnd) while the next one is written already.
func (d *dest) writer() {
	defer d.bg.Done()
	defer d.wg.Done()
	defer close(d.vq)
	type openFile struct {
		f   srcFile
		out *os.File
		w   io.Writer
	}
	open := map[string]*openFile{}
	var cur *openFile
	drop := func(of *openFile) {
		of.out.Close()
		if !d.isAbandoned() { // else a later pass may own that name now
			d.dir.Remove(partialRel(of.f.rel))
		}
		delete(open, of.f.rel)
		if cur == of {
			cur = nil
		}
		d.inflight.Done()
	}
	defer func() {
		for _, of := range open {
			drop(of)
		}
	}()
	var carry *destOp // an op taken from d.ops while a write was gathered
	for {
		var op destOp
		if carry != nil {
			op, carry = *carry, nil
		} else {
			var ok bool
			if op, ok = <-d.ops; !ok {
				break
			}
		}
		switch op.kind {
		case opOpen:
			cur = nil
			if of := open[op.f.rel]; of != nil {
				drop(of) // the same name again: the earlier copy is abandoned
			}
			if d.out() {
				d.inflight.Done()
				continue
			}
			d.mu.Lock()
			d.cur = op.f.rel
			d.mu.Unlock()
			f, err := d.openPartial(op.f)
			if err != nil {
				d.fail(op.f.rel, err)
				d.inflight.Done()
				continue
			}
			cur = &openFile{f: op.f, out: f, w: f}
			if d.o.opts.DestWriter != nil {
				cur.w = d.o.opts.DestWriter(d.Name, op.f.rel, f)
			}
			open[op.f.rel] = cur
		case opData:
			if cur == nil || cur.f.rel != op.f.rel || d.out() {
				d.doneWith(op)
				continue
			}
			// The blocks of this file queued behind this one go in the
			// same system call: fewer, longer writes (each write lets
			// the Go scheduler hand the thread's P on, and get one back
			// after it, which left a CPU idle now and then).
			batch := []destOp{op}
		gather:
			for len(batch) < maxGather {
				select {
				case next, ok := <-d.ops:
					if !ok {
						break gather
					}
					if next.kind == opData && next.f.rel == op.f.rel {
						batch = append(batch, next)
						continue
					}
					carry = &next // handled next
				default:
				}
				break
			}
			n, err := writeBatch(cur.out, cur.w, batch)
			d.written.Add(n)
			if err != nil {
				d.fail(cur.f.rel, dstErr(err, "write "+filepath.Join(d.Dir, filepath.FromSlash(partialRel(cur.f.rel)))))
				drop(cur)
			}
			for _, b := range batch {
				d.doneWith(b)
			}
		case opEnd:
			of := open[op.f.rel]
			if of == nil {
				continue
			}
			if op.fr == nil || d.out() {
				drop(of)
				continue
			}
			partial := filepath.Join(d.Dir, filepath.FromSlash(partialRel(of.f.rel)))
			if err := of.out.Sync(); err != nil {
				d.fail(of.f.rel, dstErr(err, "sync "+partial))
				drop(of)
				continue
			}
			var ost unix.Stat_t
			if err := unix.Fstat(int(of.out.Fd()), &ost); err != nil {
				d.fail(of.f.rel, dstErr(err, "stat "+partial))
				drop(of)
				continue
			}
			delete(open, of.f.rel)
			if cur == of {
				cur = nil
			}
			d.vq <- &writtenFile{f: of.f, out: of.out, fr: op.fr, ino: ost.Ino}
		}
	}
}

// openPartial creates f's partial file (its folders first).
func (d *dest) openPartial(f srcFile) (*os.File, error) {
	dstPath := filepath.Join(d.Dir, filepath.FromSlash(f.rel))
	if dir := path.Dir(f.rel); dir != "." {
		sub, err := d.dir.MkdirAll(dir, 0o755)
		if err != nil {
			return nil, dstErr(err, "create "+filepath.Dir(dstPath))
		}
		sub.Close()
	}
	partRel := partialRel(f.rel)
	partial := filepath.Join(d.Dir, filepath.FromSlash(partRel))
	// A partial file left by an interrupted run is started over; anything
	// else at that name (a symlink, a FIFO) is not ours to touch.
	if err := d.expectRegular(partRel); err != nil {
		return nil, err
	}
	if err := d.dir.Remove(partRel); err != nil {
		return nil, dstErr(err, "remove "+partial)
	}
	out, err := d.dir.OpenFile(partRel, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return nil, dstErr(err, "create "+partial)
	}
	return out, nil
}

// verifier re-reads each written file and renames it into place.
func (d *dest) verifier() {
	defer d.bg.Done()
	defer d.wg.Done()
	for w := range d.vq {
		if d.out() {
			w.out.Close()
			if !d.isAbandoned() {
				d.dir.Remove(partialRel(w.f.rel))
			}
			d.inflight.Done()
			continue
		}
		if err := d.finish(w); err != nil {
			d.fail(w.f.rel, err)
			d.inflight.Done()
			continue
		}
		d.mu.Lock()
		d.state.Files[w.f.rel] = w.fr
		d.dirty++
		d.filesOK++
		d.mu.Unlock()
		d.verBytes.Add(w.f.size)
		d.copied.Add(w.f.size)
		d.saveState(false)
		d.inflight.Done()
	}
}

// finish re-reads a written partial file, compares it with the card's
// xxh128 and only then renames it into place.
func (d *dest) finish(w *writtenFile) error {
	f, fr, out := w.f, w.fr, w.out
	dstPath := filepath.Join(d.Dir, filepath.FromSlash(f.rel))
	partRel := partialRel(f.rel)
	partial := filepath.Join(d.Dir, filepath.FromSlash(partRel))
	remove := func() {
		if !d.isAbandoned() {
			d.dir.Remove(partRel)
		}
	}
	if d.o.opts.AfterCopy != nil {
		d.o.opts.AfterCopy(f.rel, partial)
	}
	// Re-read through the same descriptor, from the disk (the written
	// pages are dropped first): no name is looked up again.
	got, err := rereadXXH128(out, &d.vbuf)
	if cerr := out.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		remove()
		return dstErr(err, "re-read "+partial)
	}
	if got != fr.XXH128 {
		remove()
		read := "on card"
		if d.o.opts.FromCopy {
			read = "read from the verified copy" // the card's, as that copy was verified against it
		}
		return fmt.Errorf("%w: %s: xxh128 %s %s, at destination %s", ErrMismatch, f.rel, read, fr.XXH128, got)
	}
	if d.isAbandoned() {
		// Left behind while it hung: no name is touched any more (the
		// next pass starts this partial file over).
		return fmt.Errorf("%w: %s: left behind", ErrNotResponding, partial)
	}
	if err := d.dir.Chtimes(partRel, f.mtime, f.mtime); err != nil {
		remove()
		return dstErr(err, "set times "+partial)
	}
	// Only an earlier copy (a regular file) may be replaced at the final name.
	if err := d.expectRegular(f.rel); err != nil {
		remove()
		return err
	}
	if err := d.dir.Rename(partRel, f.rel); err != nil {
		remove()
		return dstErr(err, "rename "+partial)
	}
	if dir, _, err := d.parentDir(f.rel); err == nil {
		dir.Sync()
		if dir != d.dir {
			dir.Close()
		}
	}
	st, err := d.dir.Lstat(f.rel)
	if err != nil {
		return dstErr(err, "check "+dstPath)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Ino != w.ino {
		return fmt.Errorf("check %s: %w: replaced right after it was renamed into place", dstPath, ErrDestTampered)
	}
	d.mu.Lock()
	d.verified[f.rel] = fileID{st.Ino, st.Ctim}
	d.mu.Unlock()
	return nil
}

// seal finishes a destination whose files are all verified: folder times,
// a last check of every file, its ASC MHL generation, the progress file
// removed.
func (d *dest) seal(ctx context.Context, cardHist *ascmhl.History, files []FileResult, dirs []srcFile, formats []ascmhl.Format) {
	// Every folder of the card, empty ones too (cardtree.go).
	if err := makeDirs(d.dir, dirs); err != nil {
		d.fail("", err)
		return
	}
	// Directory times last: creating files inside changed them.
	for i := len(dirs) - 1; i >= 0; i-- {
		dd := dirs[i]
		d.dir.Chtimes(dd.rel, dd.mtime, dd.mtime)
	}
	// Before the card is declared safe: every file at its final name is
	// still the regular file that was verified (same inode, size, mtime).
	for _, fr := range files {
		if err := d.checkFinal(fr); err != nil {
			d.fail(fr.Path, err)
			return
		}
	}
	if d.isAbandoned() {
		return // left behind while it hung: no generation, a later pass owns the history
	}
	gen, err := d.writeMHL(ctx, cardHist, files, dirs, formats)
	if err != nil {
		d.fail(ascmhl.FolderName, err)
		return
	}
	if d.isAbandoned() {
		return // its generation is written; the state file is the next pass's
	}
	if err := d.dir.Remove(StateName); err != nil {
		d.log.Warn("remove offload state", "path", filepath.Join(d.Dir, StateName), "err", err)
	}
	if err := d.dir.Sync(); err != nil {
		d.fail("", dstErr(err, "sync "+d.Dir))
		return
	}
	d.mu.Lock()
	d.generation = gen
	d.mu.Unlock()
	d.setPhase(DestVerified)
}

// checkFinal makes sure the file at fr's final name is the very regular
// file verified earlier in this run (same inode), unchanged since (same
// ctime, size and mtime): the hash verified then is still its hash.
func (d *dest) checkFinal(fr FileResult) error {
	st, err := d.dir.Lstat(fr.Path)
	if err != nil {
		return dstErr(err, "check "+fr.Path)
	}
	d.mu.Lock()
	id, ok := d.verified[fr.Path]
	d.mu.Unlock()
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return fmt.Errorf("check %s: %w: it is a %s now", fr.Path, ErrDestTampered, safefs.TypeName(st.Mode))
	case !ok:
		return fmt.Errorf("check %s: not verified at %s", fr.Path, d.Dir)
	case st.Ino != id.ino:
		return fmt.Errorf("check %s: %w: replaced after it was verified", fr.Path, ErrDestTampered)
	case st.Size != fr.Size || !time.Unix(st.Mtim.Unix()).Equal(fr.ModTime) || st.Ctim != id.ctime:
		return fmt.Errorf("check %s: %w: changed after it was verified", fr.Path, ErrDestTampered)
	}
	return nil
}

// expectRegular fails with ErrDestTampered when rel exists at the
// destination as anything but a regular file.
func (d *dest) expectRegular(rel string) error {
	st, err := d.dir.Lstat(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return dstErr(err, "check "+rel)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%w: %s is a %s (not followed, not replaced)", ErrDestTampered, filepath.Join(d.Dir, filepath.FromSlash(rel)), safefs.TypeName(st.Mode))
	}
	return nil
}

func (d *dest) parentDir(rel string) (*safefs.Dir, string, error) {
	dir := path.Dir(rel)
	if dir == "." {
		return d.dir, rel, nil
	}
	sub, err := d.dir.OpenDir(dir)
	return sub, path.Base(rel), err
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

// rereadXXH128 hashes f from its start (hashWhole), after dropping its
// cached pages so the bytes come from the disk.
func rereadXXH128(f *os.File, buf *[]byte) (string, error) {
	unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	h := xxh3.New128()
	if err := hashWhole(f, h, buf); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashWhole writes f from its start to h, read into *buf (made on first
// use; rereadSize). Read, never mapped (cardread.go says why); a read
// that waits for a device or a server is a system call, in which only
// this goroutine waits.
func hashWhole(f *os.File, h io.Writer, buf *[]byte) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_SEQUENTIAL) // a longer readahead
	if *buf == nil {
		*buf = make([]byte, rereadSize)
	}
	_, err := io.CopyBuffer(h, struct{ io.Reader }{f}, *buf)
	return err
}

// rereadSize is the read size of a re-read: small enough that what was
// read is still in the CPU's cache when it is hashed.
const rereadSize = 256 << 10

// checkAgainst compares a file's hashes with the card history's: the first
// value recorded in each format (the card is hashed in all of them).
func checkAgainst(h *ascmhl.History, fr *FileResult) error {
	for _, rec := range h.Recorded(fr.Path) { // none: new since the card was last sealed
		if got, ok := fr.MHL[rec.Format]; !ok || got != rec.Value {
			return fmt.Errorf("%w: %s: %s is %s, history says %s", ErrHistory, fr.Path, rec.Format, got, rec.Value)
		}
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

// dstErr classifies an error at a destination.
func dstErr(err error, what string) error {
	err = trimPathErr(err, what)
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

// trimPathErr drops, from an error of the os package that names the path
// what names already ("sync PATH: …" for "sync PATH"), the repeated path
// (and the operation, when the same): the reason reads "sync PATH:
// input/output error", not "sync PATH: sync PATH: input/output error".
func trimPathErr(err error, what string) error {
	pe, ok := err.(*fs.PathError)
	if !ok || !strings.HasSuffix(what, " "+pe.Path) {
		return err
	}
	if strings.HasPrefix(what, pe.Op+" ") {
		return pe.Err
	}
	return fmt.Errorf("%s: %w", pe.Op, pe.Err)
}

// loadState takes the progress file as read (openDests).
func (d *dest) loadState(data []byte, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.state = &state{Version: 1, Src: d.o.src, Files: map[string]*FileResult{}}
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		d.log.Warn("ignoring unreadable offload state", "path", filepath.Join(d.Dir, StateName), "err", err)
		return
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil || s.Version != 1 || s.Files == nil {
		d.log.Warn("ignoring unreadable offload state", "path", filepath.Join(d.Dir, StateName), "err", err)
		return
	}
	d.state.Files = s.Files
	d.log.Info("resuming card offload", "dst", d.Dir, "verified_files", len(s.Files))
}

// saveState writes the progress file (at most every 2 s unless forced).
func (d *dest) saveState(force bool) {
	// d.mu is not held while the file is written: a destination whose
	// mount hangs would otherwise hold every caller of d.out() (the
	// reader among them) with it. saveMu keeps the saves in order.
	d.saveMu.Lock()
	defer d.saveMu.Unlock()
	if d.isAbandoned() {
		return // a later pass may own the file now
	}
	d.mu.Lock()
	if d.state == nil || d.dir == nil || d.dirty == 0 || (!force && time.Since(d.lastSave) < 2*time.Second) {
		d.mu.Unlock()
		return
	}
	data, err := json.Marshal(d.state)
	saved := d.dirty
	d.mu.Unlock()
	if err == nil {
		err = d.dir.WriteFileAtomic(StateName, data, 0o644)
	}
	if err != nil {
		d.log.Warn("save offload state", "dst", d.Dir, "err", err)
		return
	}
	d.mu.Lock()
	d.dirty -= saved // what changed meanwhile is saved next time
	d.lastSave = time.Now()
	d.mu.Unlock()
}

// writeMHL continues the destination's history (or the card's, carried
// over) with a "transfer" generation of the offloaded files.
func (d *dest) writeMHL(ctx context.Context, cardHist *ascmhl.History, files []FileResult, dirs []srcFile, formats []ascmhl.Format) (string, error) {
	if !ascmhl.ExistsIn(d.dir) && ascmhl.ExistsIn(d.o.srcDir) {
		if err := copyHistory(d.o.srcDir, d.dir); err != nil {
			return "", dstErr(err, "copy card ascmhl history")
		}
	}
	h, err := ascmhl.OpenDir(d.dir)
	if err != nil {
		return "", dstErr(err, "open destination ascmhl history")
	}
	if err := h.LoadNested(nestedHistories(dirs)); err != nil {
		return "", dstErr(err, "open nested ascmhl history")
	}
	formats = ascmhl.SortFormats(append(formats, h.Formats()...))
	tree := ascmhl.Tree{Dirs: map[string]time.Time{}}
	ignore, dropped := generationIgnore(h.IgnorePatterns(), files)
	if len(dropped) > 0 {
		d.log.Warn("ignore patterns of the card's ascmhl history not carried on: they would leave copied files out of the ASC MHL",
			"dst", d.Dir, "patterns", dropped)
	}
	for _, dd := range dirs {
		if dd.rel == "." || !ascmhl.Ignored(ignore, dd.rel, true) {
			tree.Dirs[dd.rel] = dd.mtime
		}
	}
	for _, fr := range files {
		if ascmhl.Ignored(ignore, fr.Path, false) || ignoredBelow(ignore, fr.Path) {
			continue
		}
		hs := map[ascmhl.Format]string{}
		for _, f := range formats {
			v, ok := fr.MHL[f]
			if !ok {
				// a destination history in a format we did not hash
				more, err := d.hashDest(ctx, fr.Path, f)
				if err != nil {
					return "", dstErr(err, "hash "+fr.Path)
				}
				v = more[f]
			}
			hs[f] = v
		}
		tree.Files = append(tree.Files, ascmhl.File{Path: fr.Path, Size: fr.Size, ModTime: fr.ModTime, Hashes: hs})
	}
	gen, fails, err := h.Build(tree, formats, ascmhl.ProcessTransfer, d.o.opts.Creator, d.o.opts.Now())
	if err != nil {
		return "", err
	}
	gen.Ignore = ignore
	if err := h.AddGeneration(gen); err != nil {
		return "", dstErr(err, "write ascmhl generation")
	}
	if len(fails) > 0 {
		return gen.FileName, fmt.Errorf("%w: %s differs from the destination's ascmhl history (%s)", ErrHistory, fails[0].Path, fails[0].Format)
	}
	return gen.FileName, nil
}

// nestedHistories are the folders of dirs that hold an ascmhl/ history of
// their own (ascmhl.History.LoadNested).
func nestedHistories(dirs []srcFile) []string {
	var out []string
	for _, d := range dirs {
		if path.Base(d.rel) == ascmhl.FolderName && d.rel != ascmhl.FolderName {
			out = append(out, path.Dir(d.rel))
		}
	}
	return out
}

// mergeIgnore adds our own transient names to a history's ignore patterns,
// so that a verify during a later partial re-run never trips on them.
// Names of the offload report cardsvc writes next to ascmhl/ in each
// destination once the card is safe (not card content).
const (
	ReportHTMLName = "ingestd-report.html"
	ReportJSONName = "ingestd-report.json"
)

// ReservedName reports whether the card file rel has a name ingestd keeps
// for its own files in a destination: the progress file, a partial file,
// a report. Each is in every generation's ignore patterns (so would be
// left out of the ASC MHL), and the first two are never copied.
func ReservedName(rel string) bool {
	base := path.Base(rel)
	return base == StateName || strings.HasSuffix(base, PartialSuffix) || base == ReportHTMLName || base == ReportJSONName
}

// generationIgnore is the ignore patterns of a new generation: the
// history's (hist), less any that would leave a copied file out of it (a
// camera's or an earlier tool's history may ignore footage, `*.MP4` or a
// whole folder: every file copied is listed, so the MHL vouches for each),
// plus ingestd's own (mergeIgnore). Files of nested histories (below an
// ascmhl/ folder) and ingestd's own files do not count. dropped are the
// patterns left out.
func generationIgnore(hist []string, files []FileResult) (pats, dropped []string) {
	own := mergeIgnore(nil)
	var kept []string
	if len(hist) > maxCarriedPatterns { // a hostile history: bounded work
		dropped = append(dropped, hist[maxCarriedPatterns:]...)
		hist = hist[:maxCarriedPatterns]
	}
	for _, p := range hist {
		one := []string{p}
		drop := false
		for _, fr := range files {
			if inHistoryFolder(fr.Path) || ascmhl.Ignored(own, fr.Path, false) || ignoredBelow(own, fr.Path) {
				continue
			}
			if ascmhl.Ignored(one, fr.Path, false) || ignoredBelow(one, fr.Path) {
				drop = true
				break
			}
		}
		if drop {
			dropped = append(dropped, p)
		} else {
			kept = append(kept, p)
		}
	}
	return mergeIgnore(kept), dropped
}

// maxCarriedPatterns bounds the history patterns a generation carries on
// (each is matched against every copied file).
const maxCarriedPatterns = 64

// inHistoryFolder reports whether rel lies in an ascmhl/ folder (a nested
// history's files, never listed in a generation).
func inHistoryFolder(rel string) bool {
	for _, c := range strings.Split(path.Dir(rel), "/") {
		if c == ascmhl.FolderName {
			return true
		}
	}
	return false
}

func mergeIgnore(pats []string) []string {
	out := append([]string(nil), pats...)
	for _, p := range append([]string{StateName, "*" + PartialSuffix, ReportHTMLName, ReportJSONName}, OSJunk...) {
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

func (d *dest) hashDest(ctx context.Context, rel string, f ascmhl.Format) (map[ascmhl.Format]string, error) {
	fh, _, err := d.dir.OpenRegular(rel)
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
