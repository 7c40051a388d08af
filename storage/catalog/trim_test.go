package catalog

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/storage"
)

// mappedRSS is the resident size (KiB) of this process's mappings of files
// under dir, from /proc/self/smaps, and how many such mappings there are.
func mappedRSS(t *testing.T, dir string) (kb, maps int) {
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
			in = len(fields) >= 6 && strings.HasPrefix(fields[5], dir+"/")
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

// TestTrimMapped (issue 15, memory): Badger's memory-mapped tables and
// logs are resident after a catalog wrote and read them; trimMapped hands
// their pages back (they leave the process's RSS), the catalog reads the
// same records afterwards, and the catalog's own trim loop does the same
// every trimEvery.
func TestTrimMapped(t *testing.T) {
	c, dir := newCat(t, Options{NoSyncWrites: true, KeepMapped: true})
	const n = 20000
	for lo := 0; lo < n; lo += 500 {
		if _, err := c.write(func(w *txw) error {
			for i := lo; i < lo+500; i++ {
				if err := w.putFile(rec("v", fmt.Sprintf("d/%06d.mov", i), fmt.Sprint("content ", i), 1, uint64(i))); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.db.Flatten(1); err != nil { // tables written and read through their maps
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
