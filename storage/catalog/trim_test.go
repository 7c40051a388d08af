package catalog

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/table"

	"github.com/ingestd/ingestd/storage"
)

// mappedRSS is the resident size (KiB) of this process's mappings of files
// under dir, from /proc/self/smaps, and how many such mappings there are.
func mappedRSS(t *testing.T, dir string) (kb, maps int) {
	t.Helper()
	return mappedRSSOf(t, dir, "")
}

// mappedRSSOf is mappedRSS of the files whose names end in suffix.
func mappedRSSOf(t *testing.T, dir, suffix string) (kb, maps int) {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = len(fields) >= 6 && strings.HasPrefix(fields[5], dir+"/") && strings.HasSuffix(fields[5], suffix)
			if in {
				maps++
			}
			continue
		}
		if in && len(fields) >= 2 && fields[0] == "Rss:" {
			n, _ := strconv.Atoi(fields[1])
			kb += n
		}
	}
	return kb, maps
}

// putMany catalogs n files v:<dir>/NNNNNN.mov with contents <content>N,
// 500 to a transaction.
func putMany(t *testing.T, c *Catalog, dir, content string, n int) {
	t.Helper()
	for lo := 0; lo < n; lo += 500 {
		if _, err := c.write(func(w *txw) error {
			for i := lo; i < min(lo+500, n); i++ {
				if err := w.putFile(rec("v", fmt.Sprintf("%s/%06d.mov", dir, i), fmt.Sprint(content, i), 1, uint64(i))); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTrimMapped (issue 15, memory): Badger's memory-mapped tables and
// logs are resident after a catalog wrote and read them; trimMapped hands
// their pages back (they leave the process's RSS), the catalog reads the
// same records afterwards, and the catalog's own trim loop does the same
// every trimEvery.
func TestTrimMapped(t *testing.T) {
	c, dir := newCat(t, Options{NoSyncWrites: true, KeepMapped: true})
	const n = 20000
	putMany(t, c, "d", "content ", n)
	// Reopened: Close flushed the memtables, so no flush writes a table
	// (not in the tree yet: no DONTNEED) between the measures.
	c.Close()
	c = open(t, dir, Options{NoSyncWrites: true, KeepMapped: true})
	if err := c.db.Flatten(1); err != nil {
		t.Fatal(err)
	}
	// The tables read through their maps.
	if err := c.WalkLocations("v", func(storage.Location) error { return nil }); err != nil {
		t.Fatal(err)
	}
	before, maps := mappedRSS(t, dir)
	if maps == 0 || before < 1024 {
		t.Fatalf("catalog files mapped: %d mappings, %d KiB resident; want some resident to trim", maps, before)
	}
	advised, err := c.trimMapped()
	if err != nil {
		t.Fatal(err)
	}
	after, _ := mappedRSS(t, dir)
	t.Logf("%d mappings of catalog files: %d KiB resident before the trim, %d KiB after (%d advised)", maps, before, after, advised)
	if advised == 0 || after > before/4 {
		t.Fatalf("after the trim %d KiB of %d stay resident (%d mappings advised)", after, before, advised)
	}
	for _, i := range []int{0, n / 2, n - 1} {
		loc, err := c.Location("v", fmt.Sprintf("d/%06d.mov", i))
		if err != nil || loc.AssetID != id(fmt.Sprint("content ", i)) || loc.State != storage.LocPresent {
			t.Fatalf("location %d after the trim: %+v, %v", i, loc, err)
		}
	}

	// The loop: a catalog opened without KeepMapped trims by itself.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = open(t, dir, Options{NoSyncWrites: true})
	if err := c.WalkLocations("v", func(storage.Location) error { return nil }); err != nil { // read every table
		t.Fatal(err)
	}
	// A trim by the loop after the walk.
	walked := c.trims.Load()
	deadline := time.Now().Add(4*trimEvery + 10*time.Second)
	for c.trims.Load() < walked+2 { // +2: the one running during the walk's end may have read the maps before
		if time.Now().After(deadline) {
			t.Fatalf("%d trims %v after open: the trim loop does not run", c.trims.Load(), 4*trimEvery+10*time.Second)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if kb, _ := mappedRSS(t, dir); kb > before/4 {
		t.Fatalf("%d KiB of the catalog's files resident after the loop's trims (%d before the first trim)", kb, before)
	}
}

// TestReadTrimmer (issue 15, memory): a long read (Assets, Events) trims
// the mapped files every trimReadsEvery records when more than trimAbove
// of them are resident, not only when runTrim's check comes round: a page
// of assets whose records lie all over the files faulted in up to 64 KiB
// per record read.
func TestReadTrimmer(t *testing.T) {
	c, dir := newCat(t, Options{NoSyncWrites: true, KeepMapped: true})
	if c.readTrimmer() != nil {
		t.Fatal("a catalog with KeepMapped has a read trimmer")
	}
	const n = 20000
	putMany(t, c, "d", "content ", n)
	// Reopened: the records are in tables (Close flushed the memtables),
	// and the memtable logs, which no trim touches, are empty.
	c.Close()
	c = open(t, dir, Options{NoSyncWrites: true, KeepMapped: true})
	if err := c.db.Flatten(1); err != nil {
		t.Fatal(err)
	}
	defer func(v int64) { trimAbove.Store(v) }(trimAbove.Load())
	trimAbove.Store(512 << 10)

	fault := func() int {
		t.Helper()
		if _, err := c.trimMapped(); err != nil {
			t.Fatal(err)
		}
		if err := c.WalkLocations("v", func(storage.Location) error { return nil }); err != nil {
			t.Fatal(err)
		}
		kb, _ := mappedRSS(t, dir)
		if kb < 2*int(trimAbove.Load()>>10) {
			t.Fatalf("%d KiB of the catalog's files resident after reading every location; want more than trimAbove (%d KiB)", kb, trimAbove.Load()>>10)
		}
		return kb
	}
	before := fault()
	tr := &trimmer{c: c, gap: trimReadsGap}
	trims := c.trims.Load()
	for range trimReadsEvery - 1 {
		tr.read()
	}
	if got := c.trims.Load(); got != trims {
		t.Fatalf("trimmed after %d records; want every %d", trimReadsEvery-1, trimReadsEvery)
	}
	tr.read()
	if got := c.trims.Load(); got != trims+1 {
		t.Fatalf("%d trims after %d records with %d KiB resident; want 1", got-trims, trimReadsEvery, before)
	}
	if kb, _ := mappedRSS(t, dir); kb > before/4 {
		t.Fatalf("%d KiB of %d resident after the read trimmer's trim", kb, before)
	}
	// Below trimAbove it leaves the files alone.
	trimAbove.Store(1 << 40)
	time.Sleep(trimReadsGap)
	for range trimReadsEvery {
		tr.read()
	}
	if got := c.trims.Load(); got != trims+1 {
		t.Fatalf("trimmed with less than trimAbove resident")
	}
	// Records read through Assets and Events (with their read trimmers)
	// still decode while trims run between them.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = open(t, dir, fast)
	trimAbove.Store(1 << 20)
	docs, err := c.Assets("", n)
	if err != nil || len(docs) != n {
		t.Fatalf("%d assets, %v", len(docs), err)
	}
	if evs, err := c.Events(0, 2*n); err != nil || len(evs) != 2*n {
		t.Fatalf("%d events, %v", len(evs), err)
	}
}

// TestTrimPinnedTables (issue 15): trimMapped gives the tables it pinned
// MADV_DONTNEED (cheap: no page-by-page reclaim) and leaves every other
// mapping alone: the tables' pages leave the RSS, the memtable logs' do
// not, and every record still reads.
func TestTrimPinnedTables(t *testing.T) {
	c, dir := newCat(t, Options{NoSyncWrites: true, KeepMapped: true})
	const n = 20000
	putMany(t, c, "d", "content ", n)
	// Reopened, the catalog starts on an empty memtable (Close flushed the
	// last one), so the records below fill none and no flush can take a
	// memtable log away between the measures.
	c.Close()
	c = open(t, dir, Options{NoSyncWrites: true, KeepMapped: true})
	if err := c.db.Flatten(1); err != nil {
		t.Fatal(err)
	}
	// Records written after the flatten stay in the memtable (its log).
	for i := range 2000 {
		if _, err := c.PutFile(rec("w", fmt.Sprintf("e/%06d.mov", i), fmt.Sprint("more ", i), 1, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	// Every table read in full, its last blocks before the index too.
	if err := c.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := it.Item().Value(func([]byte) error { return nil }); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sst, _ := mappedRSSOf(t, dir, ".sst")
	mem, _ := mappedRSSOf(t, dir, ".mem")
	if sst < 1024 || mem < 256 {
		t.Fatalf("%d KiB of tables and %d KiB of memtable logs resident; want some of both to trim", sst, mem)
	}
	if _, err := c.trimMapped(); err != nil {
		t.Fatal(err)
	}
	sstAfter, _ := mappedRSSOf(t, dir, ".sst")
	memAfter, _ := mappedRSSOf(t, dir, ".mem")
	t.Logf("%d tables %d -> %d KiB, memtable logs %d -> %d KiB", len(c.db.Tables()), sst, sstAfter, mem, memAfter)
	if sstAfter > sst/4 {
		t.Fatalf("%d KiB of %d of the pinned tables resident after the trim", sstAfter, sst)
	}
	// Their indexes (block offsets, bloom filters) stay: every lookup
	// reads them.
	var index int
	for _, ti := range c.db.Tables() {
		index += int(ti.IndexSz)
	}
	if index == 0 || sstAfter < index/2/1024 {
		t.Fatalf("%d KiB of the tables resident after the trim; their indexes are %d KiB", sstAfter, index/1024)
	}
	// And little more than them: the page each index starts in, its length
	// and checksum (at most 16 KiB a table). A tail of 64 KiB a table kept
	// ~55 MB more resident at 1M files.
	if tables := len(c.db.Tables()); sstAfter > index/1024+16*tables {
		t.Fatalf("%d KiB of %d tables resident after the trim; their indexes are %d KiB", sstAfter, tables, index/1024)
	}
	if memAfter < mem*3/4 {
		t.Fatalf("memtable logs %d -> %d KiB: not pinned, so not to be advised", mem, memAfter)
	}
	for _, i := range []int{0, n / 2, n - 1} {
		loc, err := c.Location("v", fmt.Sprintf("d/%06d.mov", i))
		if err != nil || loc.AssetID != id(fmt.Sprint("content ", i)) || loc.State != storage.LocPresent {
			t.Fatalf("location %d after the trim: %+v, %v", i, loc, err)
		}
	}
	if loc, err := c.Location("w", "e/001999.mov"); err != nil || loc.AssetID != id("more 1999") {
		t.Fatalf("memtable record after the trim: %+v, %v", loc, err)
	}
}

// TestTrimPinHoldsTables: what makes MADV_DONTNEED safe in trimMapped. A
// table pinTables pinned stays on disk and mapped while a compaction
// replaces it, and goes once the pin is released.
func TestTrimPinHoldsTables(t *testing.T) {
	c, dir := newCat(t, Options{NoSyncWrites: true, KeepMapped: true})
	putMany(t, c, "a", "a", 8000)
	// More until a's memtable is flushed to a table.
	for i := 0; len(c.db.Tables()) == 0; i++ {
		if i == 50 {
			t.Fatal("no memtable flushed after 400,000 more files")
		}
		putMany(t, c, fmt.Sprint("b", i), fmt.Sprint("b", i), 8000)
		time.Sleep(10 * time.Millisecond)
	}
	c.trimMu.Lock()
	pinned, it := c.pinTables()
	c.trimMu.Unlock()
	if it == nil || len(pinned) == 0 {
		t.Fatalf("pin %v: no tables", pinned)
	}
	old := make([]string, 0, len(pinned))
	for name := range pinned {
		old = append(old, name)
	}
	inTree := func(name string) bool {
		for _, ti := range c.db.Tables() {
			if table.IDToFilename(ti.ID) == name {
				return true
			}
		}
		return false
	}
	mapped := func(name string) bool {
		b, err := os.ReadFile("/proc/self/maps")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Contains(string(b), dir+"/"+name+"\n")
	}
	// Dropping a prefix rewrites the tables that hold it.
	if err := c.db.DropPrefix(locKey("v", "a/000000.mov")); err != nil {
		t.Fatal(err)
	}
	var gone string
	for _, name := range old {
		if !inTree(name) {
			gone = name
			break
		}
	}
	if gone == "" {
		t.Fatalf("no compaction replaced the pinned tables %v", old)
	}
	if _, err := os.Stat(filepath.Join(dir, gone)); err != nil || !mapped(gone) {
		t.Fatalf("pinned table %s out of the tree: on disk %v, mapped %v", gone, err == nil, mapped(gone))
	}
	it.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := os.Stat(filepath.Join(dir, gone))
		if errors.Is(err, os.ErrNotExist) && !mapped(gone) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("table %s still there (stat %v) 10s after the pin was released", gone, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNewTablesLeaveRSS (issue 15, memory): a table Badger writes (a
// memtable flush here; a compaction's outputs are written the same way)
// leaves the process's RSS as soon as it is written, with no trim
// (KeepMapped): third_party/badger's patch (PATCHES.md; the compaction's
// reads are covered by TestReleasePages there). Unpatched, every new table
// was resident in full until the trim, which cannot reach a compaction's
// outputs before the compaction ends: at a million files they were most of
// the daemon's peak RSS.
func TestNewTablesLeaveRSS(t *testing.T) {
	c, _ := newCat(t, Options{NoSyncWrites: true, KeepMapped: true})
	// Flushes: 60000 files write ~30 MB into 8 MiB memtables.
	putMany(t, c, "d", "content ", 60000)
	var onDisk int64
	for _, ti := range c.db.Tables() {
		onDisk += int64(ti.OnDiskSize)
	}
	kb, maps := mappedRSSOf(t, c.dir, ".sst")
	t.Logf("%d tables mapped, %d KiB resident of %d KiB", maps, kb, onDisk>>10)
	if maps < 2 || onDisk < 8<<20 {
		t.Fatalf("%d tables mapped, %d bytes of tables: want several MiB of flushed tables", maps, onDisk)
	}
	// What stays is each table's index, read back by OpenTable (~3%), and
	// the blocks the writes' own lookups read (~20%); unpatched, 100%.
	if int64(kb)<<10 > onDisk/2 {
		t.Fatalf("%d KiB of %d KiB of new tables resident", kb, onDisk>>10)
	}
	loc, err := c.Location("v", "d/012345.mov")
	if err != nil || loc.AssetID != id("content 12345") {
		t.Fatalf("location: %+v, %v", loc, err)
	}
}
