package catalog

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/ingestd/ingestd/storage"
)

// prefetchCat is a catalog holding files folders (100 files each) of
// volume "v", committed with PutFiles as a first ingest does.
func prefetchCat(b testing.TB, folders int) *Catalog {
	c, _ := newCat(b, fast)
	for d := range folders {
		recs := make([]storage.FileRecord, 0, 100)
		for f := range 100 {
			recs = append(recs, rec("v", fmt.Sprintf("d%04d/clip%03d.mov", d, f), fmt.Sprintf("clip %d/%d", d, f), 1, uint64(d*100+f)))
		}
		if _, errs := c.PutFiles(recs); errors.Join(errs...) != nil {
			b.Fatal(errs)
		}
	}
	return c
}

// BenchmarkPrefetch is PutFiles' read-ahead of a batch of 256 files
// (issue 15 item 1): "new" files in folders not cataloged yet (a first
// ingest: every key absent), "present" files already cataloged (a rescan
// that found them changed: every location present). Reported per batch;
// compare runs of it, never a fixed time.
func BenchmarkPrefetch(b *testing.B) {
	c := prefetchCat(b, 300)
	batch := func(i int, present bool) []storage.FileRecord {
		recs := make([]storage.FileRecord, 0, 256)
		for f := range 256 {
			d, p := 1000+i*3+f/100, f%100
			if present {
				d = (i*3 + f/100) % 300
			}
			recs = append(recs, rec("v", fmt.Sprintf("d%04d/clip%03d.mov", d, p), fmt.Sprintf("new %d/%d", i, f), 1, 1))
		}
		return recs
	}
	for _, present := range []bool{false, true} {
		name := "new"
		if present {
			name = "present"
		}
		b.Run(name, func(b *testing.B) {
			var recs [][]storage.FileRecord
			for i := range 64 {
				recs = append(recs, batch(i, present))
			}
			at := make([]int, 256)
			for i := range at {
				at[i] = i
			}
			b.ResetTimer()
			for i := range b.N {
				hints := c.prefetch(recs[i%len(recs)], at)
				if hints[0] == nil || hints[0].locAbsent == present {
					b.Fatalf("hint %+v", hints[0])
				}
			}
		})
	}
	// One new file at a time (files arriving one by one while watched).
	b.Run("single", func(b *testing.B) {
		recs := batch(0, false)
		at := []int{0}
		b.ResetTimer()
		for i := range b.N {
			if hints := c.prefetch(recs[i%len(recs):], at); hints[0] == nil || !hints[0].locAbsent {
				b.Fatalf("hint %+v", hints[0])
			}
		}
	})
}

// TestPutFilesPrefetchRemovedLocations: PutFiles' read-ahead of the
// locations (one iterator over the batch's keys in order) finds a removed
// location among new and present ones, in the same run and after a
// restart: a path removed and then added again with other content keeps
// its earlier content in its History and gets the events PutFile, one
// file at a time, gives it.
func TestPutFilesPrefetchRemovedLocations(t *testing.T) {
	// Batches of 2 are read with Get (minSeekBatch), of 5 and 1000 with
	// the iterator.
	for _, chunk := range []int{2, 5, 1000} {
		t.Run(fmt.Sprint("batches of ", chunk), func(t *testing.T) { prefetchRemovedLocations(t, chunk) })
	}
}

func prefetchRemovedLocations(t *testing.T, chunk int) {
	ref, _ := newCat(t, fast)
	c, dir := newCat(t, Options{})
	var path []string
	for i := range 300 {
		path = append(path, fmt.Sprintf("d%d/f%03d", i/100, i))
	}
	content := func(round, i int) string { return fmt.Sprintf("round %d file %d", round, i) }
	// put records each (path, content) with PutFiles in c and PutFile
	// one by one in ref.
	put := func(recs []storage.FileRecord) {
		t.Helper()
		for b := range slices.Chunk(recs, chunk) {
			if _, errs := c.PutFiles(b); errors.Join(errs...) != nil {
				t.Fatal(errs)
			}
		}
		for _, r := range recs {
			if _, err := ref.PutFile(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	remove := func(keep func(i int) bool) {
		t.Helper()
		for i, p := range path {
			if keep(i) {
				continue
			}
			for _, cat := range []*Catalog{c, ref} {
				if _, err := cat.RemoveLocation("v", p, "gone"); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	var recs []storage.FileRecord
	for i, p := range path {
		if i%2 == 0 { // the odd ones are new in round 1
			recs = append(recs, rec("v", p, content(0, i), 1, uint64(i)))
		}
	}
	put(recs)
	remove(func(i int) bool { return i%4 != 0 }) // every fourth removed
	check := func(stage string) {
		t.Helper()
		got, want := strip(allEvents(t, c)), strip(allEvents(t, ref))
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: events\n%v\nwant (PutFile one by one)\n%v", stage, got, want)
		}
		for _, p := range path {
			l, err := c.Location("v", p)
			w, werr := ref.Location("v", p)
			if (err == nil) != (werr == nil) {
				t.Fatalf("%s: %s: %v, want %v", stage, p, err, werr)
			}
			var lh, wh []string
			for _, h := range l.History {
				lh = append(lh, h.AssetID)
			}
			for _, h := range w.History {
				wh = append(wh, h.AssetID)
			}
			if l.AssetID != w.AssetID || l.State != w.State || fmt.Sprint(lh) != fmt.Sprint(wh) {
				t.Fatalf("%s: %s: %s %s history %v, want %s %s history %v", stage, p, l.AssetID, l.State, lh, w.AssetID, w.State, wh)
			}
		}
	}
	// Round 1, one batch: the removed ones come back with other content,
	// between new paths (the odd ones) and present ones left as they are.
	recs = recs[:0]
	for i, p := range path {
		switch {
		case i%4 == 0:
			recs = append(recs, rec("v", p, content(1, i), 2, uint64(1000+i)))
		case i%2 == 1:
			recs = append(recs, rec("v", p, content(1, i), 2, uint64(1000+i)))
		}
	}
	put(recs)
	check("same run")
	if n := len(strip(allEvents(t, c))); n == 0 {
		t.Fatal("no events")
	}
	// Across a restart: removed again, and added again with a third content.
	closeCat(t, c)
	c = open(t, dir, Options{})
	remove(func(i int) bool { return i%4 != 0 })
	recs = recs[:0]
	for i, p := range path {
		if i%4 == 0 || i%3 == 0 {
			recs = append(recs, rec("v", p, content(2, i), 3, uint64(2000+i)))
		}
	}
	put(recs)
	check("after a restart")
	l, err := c.Location("v", path[0])
	if err != nil || len(l.History) != 2 || l.State != storage.LocPresent {
		t.Fatalf("%s after two removals and returns: %+v, %v; want present with two earlier contents", path[0], l, err)
	}
}

func closeCat(t *testing.T, c *Catalog) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}
