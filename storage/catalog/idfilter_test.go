package catalog

import (
	"fmt"
	"testing"
	"time"

	"github.com/ingestd/ingestd/storage"
)

// The id filter never says "no" for a stored id: not for one stored before
// Open (its scan), not for one written since (setAsset), and it says "no"
// to nearly every id never stored once its scan is done.
func TestIDFilter(t *testing.T) {
	c, dir := newCat(t, Options{})
	putMany(t, c, "d", "before ", 3000)
	c.Close()
	c = open(t, dir, Options{})
	waitIDFilter(t, c)
	if _, err := c.PutFile(rec("v", "after", "after", 1, 1)); err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		if !c.ids.mayHave(id(fmt.Sprint("before ", i))) {
			t.Fatalf("stored id %d (before Open) not in the filter", i)
		}
	}
	if !c.ids.mayHave(id("after")) {
		t.Fatal("id stored after Open not in the filter")
	}
	maybe := 0
	for i := range 10000 {
		if c.ids.mayHave(id(fmt.Sprint("never ", i))) {
			maybe++
		}
	}
	if maybe > 100 {
		t.Fatalf("%d of 10000 ids never stored pass the filter", maybe)
	}
	// Sized within its bounds, however large the catalog.
	for _, keys := range []uint64{0, 1 << 20, 1 << 40} {
		if n := uint64(len(newIDFilter(keys).words)) * 64; n < minIDFilterBits || n > maxIDFilterBits {
			t.Errorf("filter for %d keys: %d bits", keys, n)
		}
	}
	// Before its scan the filter says "maybe" to all.
	f := newIDFilter(0)
	if !f.mayHave(id("anything")) {
		t.Fatal("a filter not yet filled said no")
	}
}

// A batch whose content the filter says is new, committed after content
// alike was stored by another writer since the prefetch, or twice in one
// batch, is still cataloged once: the filter's "no" is checked as every
// prefetch answer is.
func TestIDFilterPrefetchRaces(t *testing.T) {
	c, _ := newCat(t, Options{})
	waitIDFilter(t, c)
	recs := []storage.FileRecord{rec("v", "a", "same", 1, 1), rec("v", "b", "same", 1, 2), rec("v", "c", "other", 1, 3)}
	hints := c.prefetch(recs, []int{0, 1, 2})
	for k, h := range hints {
		if h == nil || !h.assetAbsent {
			t.Fatalf("hint %d: %+v", k, h)
		}
	}
	// Another writer stores "other" after the prefetch.
	if _, err := c.PutFile(rec("w", "x", "other", 1, 9)); err != nil {
		t.Fatal(err)
	}
	// The batch commits with the hints of before.
	evs, err := c.write(func(w *txw) error {
		for i := range recs {
			if err := w.putFileHinted(recs[i], hints[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cataloged := 0
	for _, e := range evs {
		if e.Type == storage.EvAssetCataloged {
			cataloged++
		}
	}
	if cataloged != 1 {
		t.Fatalf("%d asset.cataloged events, want 1 (same: once; other: already stored)", cataloged)
	}
	n := 0
	for _, e := range allEvents(t, c) {
		if e.Type == storage.EvAssetCataloged {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d asset.cataloged in the log, want 2", n)
	}
}

func waitIDFilter(t *testing.T, c *Catalog) {
	t.Helper()
	for i := 0; !c.ids.ready.Load(); i++ {
		if i > 1000 {
			t.Fatal("id filter not filled")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
