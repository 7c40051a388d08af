package catalog

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Memory (issue 15). Badger memory-maps every table, memtable log and
// value-log file (MAP_SHARED) and reads and writes them through the map: a
// table written by a flush or a compaction is resident in full, and every
// block a read touches stays resident. Those pages are file pages the
// kernel could reclaim, but they count in the process's RSS (RssFile, or
// RssShmem on tmpfs) until it does, so with a million cataloged files the
// daemon's RSS grew past a gigabyte on an idle box. trimMapped hands them
// back: every trimEvery it advises the kernel, for each shared mapping of
// a file in the catalog directory, that the pages are not needed by this
// process (MADV_PAGEOUT, Linux 5.4+): they leave the RSS; the data stays in
// the file (and, for dirty pages, is written back first), and a later read
// faults the page in again.
//
// MADV_PAGEOUT, not MADV_DONTNEED: the list of mappings is read from
// /proc/self/maps, and Badger may unmap a file (a table deleted after a
// compaction) and the Go runtime map anonymous memory at the same address
// before the advice lands. DONTNEED on private anonymous memory discards
// it (zero pages: corruption); PAGEOUT never loses data (anonymous pages
// are swapped out, or stay where there is no swap).
const (
	trimEvery = 500 * time.Millisecond
	// trimCheck is how often runTrim looks at the process's resident
	// file pages (/proc/self/statm: one small read), and trimAbove how many
	// may be resident before it trims at once, between trimEvery ticks: a
	// compaction at a million files reads and writes hundreds of MB of
	// mapped tables within a second.
	trimCheck = 50 * time.Millisecond
	trimAbove = 48 << 20
	// trimMinGap spaces trims when what stays resident is above trimAbove
	// anyway (pages the kernel cannot take back).
	trimMinGap = 200 * time.Millisecond
)

// trimAdvice is the madvise advice trimMapped gives.
var trimAdvice = unix.MADV_PAGEOUT

// runTrim runs trimMapped every trimEvery, and sooner when more than
// trimAbove of file pages are resident, until the catalog closes.
func (c *Catalog) runTrim() {
	t := time.NewTicker(trimCheck)
	defer t.Stop()
	last := time.Now()
	statm := make([]byte, 128)
	page := int64(os.Getpagesize())
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		if since := time.Since(last); since < trimEvery &&
			(since < trimMinGap || residentShared(statm)*page < trimAbove) {
			continue
		}
		c.trimMu.Lock()
		if c.trimOff {
			c.trimMu.Unlock()
			return
		}
		_, _ = c.trimMapped()
		c.trims.Add(1)
		c.trimMu.Unlock()
		last = time.Now()
	}
}

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

// trimMapped advises away the resident pages of every shared mapping of a
// file under the catalog directory and returns how many mappings it
// advised. Errors of single mappings (one unmapped meanwhile: ENOMEM) are
// ignored.
func (c *Catalog) trimMapped() (int, error) {
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
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(lo), uintptr(hi-lo), uintptr(trimAdvice)); errno == 0 {
			n++
		}
	}
	return n, sc.Err()
}
