// Package catalogtest opens real Badger catalogs for tests: one way, with
// the test's logger (testutil.Logger), no fsync per commit, closed when the
// test ends; and counting a log's events.
//
// It owns only that; tests of storage/catalog itself cannot import it (an
// import cycle) and open their catalog directly.
package catalogtest

import (
	"testing"

	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
)

// Open opens (or creates) the catalog in dir and closes it when the test
// ends. Closing it earlier is fine (Close is idempotent): a test that
// reopens the same dir, as after a crash, calls Open again.
func Open(t testing.TB, dir string) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.Open(dir, catalog.Options{NoSyncWrites: true, Logger: testutil.Logger(t)})
	if err != nil {
		t.Fatalf("open catalog in %s: %v", dir, err)
	}
	t.Cleanup(func() { cat.Close() })
	return cat
}

// CountEvents counts the events of type typ for asset id in the log.
func CountEvents(t testing.TB, cat interface {
	Events(after uint64, limit int) ([]storage.Event, error)
}, typ, id string) int {
	t.Helper()
	evs, err := cat.Events(0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Type == typ && e.AssetID == id {
			n++
		}
	}
	return n
}
