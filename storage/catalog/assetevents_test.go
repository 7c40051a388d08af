package catalog

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/ingestd/ingestd/storage"
)

// assetEventsFixture writes events of several assets interleaved (cataloged,
// added, moved, updated, a location replaced) and returns, per asset id, the
// events of the whole log that name it, in seq order: what AssetEvents
// must return.
func assetEventsFixture(t *testing.T, c *Catalog) map[string][]storage.Event {
	t.Helper()
	for i := range 12 {
		content := fmt.Sprint("content ", i%4) // 4 assets, 3 paths each
		if _, err := c.PutFile(rec("v", fmt.Sprint("p/", i), content, 1, uint64(i))); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if _, err := c.UpdateAsset(id(content), "asset.synced", fmt.Sprint("round ", i), func(*storage.Asset) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.AppendEvent(storage.Event{Type: "appliance.started"}); err != nil { // names no asset
			t.Fatal(err)
		}
	}
	// p/5 gets other content: location.changed for the new one,
	// asset.updated for the old one.
	if _, err := c.PutFile(rec("v", "p/5", "content new", 2, 5)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RemoveLocation("v", "p/6", "deleted"); err != nil {
		t.Fatal(err)
	}
	want := map[string][]storage.Event{}
	for _, e := range allEvents(t, c) {
		if e.AssetID != "" {
			want[e.AssetID] = append(want[e.AssetID], e)
		}
	}
	if len(want) != 5 {
		t.Fatalf("fixture: %d assets with events, want 5", len(want))
	}
	return want
}

// pageAssetEvents pages AssetEvents with its cursor, limit a page.
func pageAssetEvents(t *testing.T, c *Catalog, id string, limit int, newestFirst bool) []storage.Event {
	t.Helper()
	var all []storage.Event
	var cursor uint64
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("paging does not end")
		}
		page, err := c.AssetEvents(id, cursor, limit, newestFirst)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > limit {
			t.Fatalf("page of %d events, limit %d", len(page), limit)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		cursor = page[len(page)-1].Seq
	}
}

// TestAssetEvents: every asset's events, paged oldest first and newest
// first with small pages, are exactly the events of the log that name it,
// in seq order; an unknown asset is ErrNotFound.
func TestAssetEvents(t *testing.T) {
	c, _ := newCat(t, Options{})
	want := assetEventsFixture(t, c)
	for aid, evs := range want {
		for _, limit := range []int{1, 2, 100} {
			got := pageAssetEvents(t, c, aid, limit, false)
			if !reflect.DeepEqual(got, evs) {
				t.Fatalf("asset %s, limit %d, oldest first: got %v, want %v", aid, limit, seqs(got), seqs(evs))
			}
			got = pageAssetEvents(t, c, aid, limit, true)
			if rev := reversed(evs); !reflect.DeepEqual(got, rev) {
				t.Fatalf("asset %s, limit %d, newest first: got %v, want %v", aid, limit, seqs(got), seqs(rev))
			}
		}
		// A cursor in the middle.
		mid := evs[len(evs)/2].Seq
		got, err := c.AssetEvents(aid, mid, 100, false)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, evs[len(evs)/2+1:]) {
			t.Fatalf("asset %s after %d: got %v", aid, mid, seqs(got))
		}
		got, err = c.AssetEvents(aid, mid, 100, true)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, reversed(evs[:len(evs)/2])) {
			t.Fatalf("asset %s before %d: got %v", aid, mid, seqs(got))
		}
	}
	if _, err := c.AssetEvents(id("never cataloged"), 0, 10, false); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown asset: %v, want ErrNotFound", err)
	}
}

// TestAssetEventsBackfill: a catalog written before the index existed (no
// y/ keys, no marker) is indexed by Open, and the index then matches the
// log; new events are indexed as they are written.
func TestAssetEventsBackfill(t *testing.T) {
	c, dir := newCat(t, Options{})
	want := assetEventsFixture(t, c)
	// Make it an old catalog: drop the index and its marker.
	err := c.db.Update(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.PrefetchValues = false
		opt.Prefix = []byte(pfxAssetEvent)
		it := txn.NewIterator(opt)
		var keys [][]byte
		for it.Rewind(); it.ValidForPrefix(opt.Prefix); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		it.Close()
		if len(keys) == 0 {
			return errors.New("no index keys were written")
		}
		for _, k := range append(keys, []byte(keyAssetEvents)) {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for aid := range want {
		if got, err := c.AssetEvents(aid, 0, 100, false); err != nil || len(got) != 0 {
			t.Fatalf("index dropped, asset %s still has %d events (%v)", aid, len(got), err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = open(t, dir, Options{})
	for aid, evs := range want {
		if got := pageAssetEvents(t, c, aid, 3, false); !reflect.DeepEqual(got, evs) {
			t.Fatalf("after backfill, asset %s: got %v, want %v", aid, seqs(got), seqs(evs))
		}
	}
	var some string
	for aid := range want {
		some = aid
		break
	}
	evs, err := c.UpdateAsset(some, "asset.synced", "after backfill", func(*storage.Asset) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.AssetEvents(some, 0, 1, true)
	if err != nil || len(got) != 1 || got[0].Seq != evs[0].Seq {
		t.Fatalf("newest event of %s: %v (%v), want seq %d", some, seqs(got), err, evs[0].Seq)
	}
}

func seqs(evs []storage.Event) []uint64 {
	out := []uint64{}
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

func reversed(evs []storage.Event) []storage.Event {
	out := make([]storage.Event, 0, len(evs))
	for i := len(evs) - 1; i >= 0; i-- {
		out = append(out, evs[i])
	}
	return out
}

// TestAssetEventRuns: consecutive events of one asset in a transaction
// share one y/ key (a run), and every cursor, inside a run or between,
// oldest or newest first, pages exactly the asset's events; a damaged run
// is an error, not a walk through the log.
func TestAssetEventRuns(t *testing.T) {
	c, _ := newCat(t, Options{})
	if _, err := c.write(func(w *txw) error {
		for i, content := range []string{"a", "b", "a", "c", "a"} {
			if err := w.putFile(rec("v", fmt.Sprint("f", i), content, 1, uint64(i))); err != nil {
				return err
			}
		}
		return w.emit(storage.Event{Type: storage.EvAssetUpdated, AssetID: id("a"), Detail: "x"})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutFile(rec("v", "g", "a", 1, 9)); err != nil {
		t.Fatal(err)
	}
	want := map[string][]storage.Event{}
	indexed := 0
	for _, e := range allEvents(t, c) {
		if e.AssetID != "" {
			want[e.AssetID] = append(want[e.AssetID], e)
			indexed++
		}
	}
	keys := 0
	if err := c.db.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.Prefix = []byte(pfxAssetEvent)
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix(opt.Prefix); it.Next() {
			keys++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// a: cataloged+added (a run), added, added+updated (a run), added (g,
	// another transaction); b and c: cataloged+added, a run each.
	if keys != 6 || indexed != 10 {
		t.Fatalf("%d y/ keys for %d indexed events, want 6 for 10", keys, indexed)
	}
	last := c.LastSeq()
	for aid, evs := range want {
		for cursor := uint64(0); cursor <= last+1; cursor++ {
			var asc, desc []storage.Event
			for _, e := range evs {
				if e.Seq > cursor {
					asc = append(asc, e)
				}
			}
			for i := len(evs) - 1; i >= 0; i-- {
				if cursor == 0 || cursor > last || evs[i].Seq < cursor {
					desc = append(desc, evs[i])
				}
			}
			for _, limit := range []int{1, 2, 100} {
				got, err := c.AssetEvents(aid, cursor, limit, false)
				if err != nil || !reflect.DeepEqual(seqs(got), seqs(asc[:min(limit, len(asc))])) {
					t.Fatalf("asset %s after %d limit %d: %v %v, want %v", aid, cursor, limit, seqs(got), err, seqs(asc))
				}
				got, err = c.AssetEvents(aid, cursor, limit, true)
				if err != nil || !reflect.DeepEqual(seqs(got), seqs(desc[:min(limit, len(desc))])) {
					t.Fatalf("asset %s before %d limit %d: %v %v, want %v", aid, cursor, limit, seqs(got), err, seqs(desc))
				}
			}
		}
	}
	// A run claiming far more events than a transaction holds.
	if err := c.db.Update(func(txn *badger.Txn) error {
		return txn.Set(assetEventKey(id("b"), 1), []byte{0xff, 0xff, 0xff, 0x7f})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AssetEvents(id("b"), 0, 100, false); err == nil {
		t.Fatal("a damaged run read without error")
	}
}
