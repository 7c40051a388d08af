package catalog

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/table"
	"golang.org/x/sys/unix"
)

// Memory (issue 15). Badger memory-maps every table, memtable log and
// value-log file (MAP_SHARED) and reads and writes them through the map, so
// every block a read touches stays resident. (Tables it writes, and the
// tables a compaction reads, are let go by Badger itself: the patch in
// third_party/badger, PATCHES.md; before it, a compaction's new tables
// were most of the RSS at a million files, and out of the trim's reach.) Those pages are file pages the
// kernel could reclaim, but they count in the process's RSS (RssFile, or
// RssShmem on tmpfs) until it does, so with a million cataloged files the
// daemon's RSS grew past a gigabyte on an idle box. trimMapped hands them
// back: it advises the kernel (MADV_DONTNEED) that the pages of the tables
// in the LSM tree are not needed by this process: they leave the RSS
// (only the page table entries go; the data stays in the file, a dirty
// page stays dirty in the page cache: nothing is lost), and a later read
// faults the page in again.
//
// Only where the mapping cannot go away meanwhile: the list of mappings
// is read from /proc/self/maps, and Badger may unmap a file (a table
// deleted after a compaction) and the Go runtime map anonymous memory at
// the same address before the advice lands, and DONTNEED on private
// anonymous memory discards it (zero pages: corruption). So trimMapped
// first pins the tables: a Badger iterator holds a reference on every
// table in the LSM tree when it is made (and on the memtables and
// value-log files), and a table is unmapped only when its last reference
// goes. A table in the tree both before and after the iterator was made
// was in it when it was made (a table leaves the tree once and never comes
// back), so it stays mapped until the iterator is closed: its mapping gets
// DONTNEED, but for its index at its end (block offsets and bloom filter:
// every lookup reads it, and so does Badger's Tables(), which the pin calls;
// dropped, it faulted back in at once, a good part of the trim's cost at a
// million files), as does the DISCARD file (mapped from Open to Close).
// Every other mapping (a memtable's log, at most two of 2 x memtable size;
// the value log, unused; a table a flush or compaction is writing, in the
// tree once it is done) is left alone. They used to get MADV_PAGEOUT,
// which is safe whatever is mapped at the address by then, but reclaims
// page by page (and tmpfs pages without swap only leave the RSS, they
// cannot go): at a million files it took 13 s of the first ingest's 61 s
// of CPU, held single trims for up to 1.4 s while compactions faulted
// tables in, and without it the peak RSS was no higher (docs/scale.md).
const (
	trimEvery = 500 * time.Millisecond
	// trimCheck is how often runTrim looks at the process's resident
	// file pages (/proc/self/statm: one small read), and trimAbove how many
	// may be resident before it trims at once, between trimEvery ticks: a
	// compaction at a million files reads and writes hundreds of MB of
	// mapped tables within a second.
	trimCheck = 20 * time.Millisecond
	// trimMinGap spaces trims when what stays resident is above trimAbove
	// anyway (pages the kernel cannot take back at that moment). At a
	// million files a compaction faulted in ~50 MB within 300 ms, so with
	// 200 ms here (and a 50 ms check) the mapped files peaked at 220 MB;
	// see docs/scale.md for the figures with this setting.
	trimMinGap = 50 * time.Millisecond
)

// trimAbove is the resident file pages above which runTrim and long reads
// trim between trimEvery ticks, once they are also trimGrow above what the
// trimmer's last trim left resident: what no trim takes back (the binary's
// text, the tables' indexes: ~40 MB at 1M files) made every check trim at
// once, every trimMinGap, ~11% of a core on an idle daemon (session 8).
// Atomic: tests change it while a catalog's trim loop runs.
var trimAbove = newInt64(40 << 20)

func newInt64(v int64) *atomic.Int64 {
	var a atomic.Int64
	a.Store(v)
	return &a
}

// trimGrow: see trimAbove.
const trimGrow = 8 << 20

// runTrim runs trimMapped every trimEvery, and sooner when more than
// trimAbove of file pages are resident, until the catalog closes.
func (c *Catalog) runTrim() {
	t := time.NewTicker(trimCheck)
	defer t.Stop()
	tr := trimmer{c: c, gap: trimMinGap, every: trimEvery}
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		if !tr.check() {
			return
		}
	}
}

// trimmer decides when to trim for one caller: runTrim, or a long read.
type trimmer struct {
	c     *Catalog
	gap   time.Duration // at least this long between trims
	every time.Duration // trim after this long whatever is resident (0: never)
	last  time.Time
	left  int64 // resident file pages (bytes) right after the last trim
	statm [128]byte
	n     int // records read (readers)
}

// check trims the mapped files if every has passed since this trimmer's
// last trim, or gap has and more than trimAbove of file pages are
// resident, trimGrow more than its last trim left. It returns false once
// the catalog is closed.
func (t *trimmer) check() bool {
	since := time.Since(t.last)
	if since < t.gap || (t.every == 0 || since < t.every) && residentShared(t.statm[:])*pageSize < max(trimAbove.Load(), t.left+trimGrow) {
		return true
	}
	c := t.c
	c.trimMu.Lock()
	defer c.trimMu.Unlock()
	if c.trimOff {
		return false
	}
	_, _ = c.trimMapped()
	c.trims.Add(1)
	t.last = time.Now()
	t.left = residentShared(t.statm[:]) * pageSize
	return true
}

// readTrimmer is the trimmer of a long read (a scan of every location of
// a volume, a page of assets or events): it calls read() after each record.
// A read faults in mapped pages faster than runTrim's check sees them: up
// to 64 KiB of a mapped file per record (the kernel maps the neighbouring
// pages of a fault too), and a page of assets in id order reads records
// spread over every table (their locations are keyed by path).
// It is nil (and read a no-op) with Options.KeepMapped.
func (c *Catalog) readTrimmer() *trimmer {
	if c.opts.KeepMapped {
		return nil
	}
	return &trimmer{c: c, gap: trimReadsGap}
}

// read counts a record; every trimReadsEvery records it trims if more than
// trimAbove of file pages are resident (and trimReadsGap has passed).
func (t *trimmer) read() {
	if t == nil {
		return
	}
	if t.n++; t.n%trimReadsEvery == 0 {
		t.check()
	}
}

const (
	trimReadsEvery = 128
	trimReadsGap   = 10 * time.Millisecond
)

var pageSize = int64(os.Getpagesize())

// residentShared is the process's resident file-backed and shared pages
// (the third field of /proc/self/statm; 0 when it cannot be read).
func residentShared(buf []byte) int64 {
	f, err := os.Open("/proc/self/statm")
	if err != nil {
		return 0
	}
	n, _ := f.Read(buf)
	f.Close()
	fields := strings.Fields(string(buf[:max(n, 0)]))
	if len(fields) < 3 {
		return 0
	}
	v, _ := strconv.ParseInt(fields[2], 10, 64)
	return v
}

// trimMapped advises away the resident pages of the pinned tables' (and the
// DISCARD file's) mappings under the catalog directory and returns how
// many mappings it advised. Errors of single mappings (ENOMEM) are
// ignored. The caller holds trimMu with trimOff false, or has Badger open
// otherwise (tests): the pin needs an open DB.
func (c *Catalog) trimMapped() (int, error) {
	pinned, it := c.pinTables()
	if it != nil {
		defer it.Close()
	}
	pinned[discardFile] = 0
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	prefix := []byte(c.dir + "/")
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		// start-end perms offset dev inode path
		line := sc.Bytes()
		i := bytes.Index(line, prefix)
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(line[:i]))
		if len(fields) < 5 || len(fields[1]) < 4 || fields[1][3] != 's' {
			continue // only shared file mappings
		}
		start, end, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		lo, err1 := strconv.ParseUint(start, 16, 64)
		hi, err2 := strconv.ParseUint(end, 16, 64)
		if err1 != nil || err2 != nil || hi <= lo {
			continue
		}
		keep, ok := pinned[string(line[i+len(prefix):])]
		if !ok {
			continue // may be unmapped meanwhile
		}
		// A table's index (block offsets and bloom filter) at its end
		// stays: every lookup and Tables() reads it.
		hi = lo + uint64(max(int64(hi-lo)-keep, 0)/pageSize*pageSize)
		if hi <= lo {
			continue
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(lo), uintptr(hi-lo), unix.MADV_DONTNEED); errno == 0 {
			n++
		}
	}
	return n, sc.Err()
}

// pinTables pins the tables in Badger's LSM tree (see trimMapped) until
// the iterator it returns is closed, and returns the file names of those
// pinned, each with how many bytes at its end trimMapped leaves resident
// (none, and a nil iterator, before renewPin made pinTxn). The pin
// is an iterator of pinTxn: making a read transaction waits for the
// commits in flight, and while Badger stalls writes (too many level-0
// tables) that is until a compaction is done, the very time its tables
// pile up in the RSS; an iterator of a transaction made earlier waits for
// nothing. Without renewPin (Options.KeepMapped: tests call trimMapped
// directly) the transaction is made here. The caller holds trimMu (or has
// no trim loop).
func (c *Catalog) pinTables() (map[string]int64, *badger.Iterator) {
	if c.pinTxn == nil {
		if !c.opts.KeepMapped {
			return map[string]int64{}, nil
		}
		c.pinTxn = c.db.NewTransaction(false)
	}
	before := c.db.Tables()
	it := c.pinTxn.NewIterator(badger.IteratorOptions{}) // references every table; reads nothing until a seek
	in := make(map[uint64]bool, len(before))
	for _, t := range before {
		in[t.ID] = true
	}
	pinned := make(map[string]int64, len(before)+1)
	for _, t := range c.db.Tables() {
		if in[t.ID] {
			pinned[table.IDToFilename(t.ID)] = int64(t.IndexSz) + tableTail
		}
	}
	return pinned, it
}

// tableTail is what trimMapped leaves resident at the end of a pinned
// table beyond its index: the index's length and checksum after it, and
// the page the index starts in. No more: the index stays mapped, so a
// lookup never faults in it (a fault would map the 64 KiB around it). At
// 1M files (~900 tables) a tail of 64 KiB kept ~55 MB more resident than
// this (docs/scale.md, session 8).
const tableTail = 8 << 10

// pinRenew is how often renewPin replaces pinTxn: an open read
// transaction holds back Badger's discarding of overwritten versions.
const pinRenew = time.Second

// renewPin makes a new pinTxn every pinRenew (waiting for the commits in
// flight as long as it takes: the trims go on with the old one) until the
// catalog closes.
func (c *Catalog) renewPin() {
	defer c.pins.Done()
	t := time.NewTicker(pinRenew)
	defer t.Stop()
	for {
		txn := c.db.NewTransaction(false)
		c.trimMu.Lock()
		if c.trimOff {
			c.trimMu.Unlock()
			txn.Discard()
			return
		}
		old := c.pinTxn
		c.pinTxn = txn
		c.trimMu.Unlock()
		if old != nil {
			old.Discard()
		}
		select {
		case <-c.done:
			return
		case <-t.C:
		}
	}
}

// discardFile is Badger's discard-statistics file (discard.go in Badger),
// mapped from Open to Close.
const discardFile = "DISCARD"
