package catalog

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4/options"
)

// A catalog whose tables were written with Snappy (the setting before
// tables went uncompressed) opens and reads with the current options, and
// takes new writes; its old tables keep their compression.
func TestSnappyCatalogStillReads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cat")
	tableCompression = options.Snappy
	c, err := Open(dir, fast)
	if err != nil {
		tableCompression = options.None
		t.Fatal(err)
	}
	const n = 3000
	for i := range n {
		if _, err := c.PutFile(rec("v", fmt.Sprint("old/", i), fmt.Sprint("old ", i), 1, uint64(i))); err != nil {
			tableCompression = options.None
			t.Fatal(err)
		}
	}
	err = c.Close() // flushes the memtable into a (Snappy) table
	tableCompression = options.None
	if err != nil {
		t.Fatal(err)
	}

	c = open(t, dir, Options{})
	snappy := 0
	for _, tbl := range c.db.Tables() {
		if tbl.OnDiskSize < tbl.UncompressedSize*9/10 {
			snappy++
		}
	}
	if snappy == 0 {
		t.Fatal("no Snappy table in the old catalog: the test checks nothing")
	}
	for i := range n {
		loc, err := c.Location("v", fmt.Sprint("old/", i))
		if err != nil || loc.AssetID != id(fmt.Sprint("old ", i)) {
			t.Fatalf("old record %d: %+v %v", i, loc, err)
		}
	}
	if _, err := c.PutFile(rec("v", "new", "new", 1, 1)); err != nil {
		t.Fatal(err)
	}
	files, _, err := c.VolumeStats("v")
	if err != nil || files != n+1 {
		t.Fatalf("%d files, %v", files, err)
	}
	if evs := allEvents(t, c); len(evs) != 2*(n+1) {
		t.Fatalf("%d events, want %d", len(evs), 2*(n+1))
	}
}

// A new catalog writes its tables uncompressed (no block cache needed).
func TestTablesUncompressed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cat")
	c := open(t, dir, fast)
	for i := range 3000 {
		if _, err := c.PutFile(rec("v", fmt.Sprint(i), fmt.Sprint(i), 1, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = open(t, dir, fast)
	tables := c.db.Tables()
	if len(tables) == 0 {
		t.Fatal("no table after close")
	}
	for _, tbl := range tables {
		if tbl.OnDiskSize < tbl.UncompressedSize*9/10 {
			t.Fatalf("table %d compressed: %d bytes on disk, %d uncompressed", tbl.ID, tbl.OnDiskSize, tbl.UncompressedSize)
		}
	}
}
