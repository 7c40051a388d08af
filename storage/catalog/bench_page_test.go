package catalog

import (
	"fmt"
	"testing"
)

// Paging cost from the first page to the last (issue 15 item 3): the API
// pages /v1/assets, /v1/feed and /v1/assets/{id}/events with cursors that
// the catalog turns into one seek each, so a page deep in a catalog of
// 100k assets must cost what the first one does. Each benchmark reads one
// page of 1000 at the start, the middle and the end:
//
//	go test -run '^$' -bench 'Page' -benchtime 20x ./storage/catalog
//
// and the three sub-benchmarks' ns/op side by side are the flatness.

// benchPageCursors returns the after-cursors of the first, middle and last
// pages of 1000 assets of the bench catalog.
func benchPageCursors(b *testing.B, c *Catalog) map[string]string {
	b.Helper()
	var ids []string
	after := ""
	for {
		page, err := c.Assets(after, 1000)
		if err != nil {
			b.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, d := range page {
			ids = append(ids, d.ID)
		}
		after = page[len(page)-1].ID
	}
	if len(ids) < benchLocations {
		b.Fatalf("%d assets, want %d", len(ids), benchLocations)
	}
	return map[string]string{"first": "", "middle": ids[len(ids)/2-1], "last": ids[len(ids)-1001]}
}

// BenchmarkPageAssets: one page of 1000 assets (each with its locations),
// as GET /v1/assets?after=ID&limit=1000 reads it.
func BenchmarkPageAssets(b *testing.B) {
	c := open(b, benchCatalog(b), fast)
	cursors := benchPageCursors(b, c)
	for _, pos := range []string{"first", "middle", "last"} {
		b.Run(pos, func(b *testing.B) {
			for b.Loop() {
				page, err := c.Assets(cursors[pos], 1000)
				if err != nil || len(page) != 1000 {
					b.Fatalf("page at %s: %d assets, %v", pos, len(page), err)
				}
			}
		})
	}
}

// BenchmarkPageFeed: one page of 1000 events, as GET /v1/feed?after=SEQ
// reads it, at the start, the middle and the end of the log.
func BenchmarkPageFeed(b *testing.B) {
	c := open(b, benchCatalog(b), fast)
	last := c.LastSeq()
	for _, pos := range []struct {
		name  string
		after uint64
	}{{"first", 0}, {"middle", last / 2}, {"last", last - 1000}} {
		b.Run(pos.name, func(b *testing.B) {
			for b.Loop() {
				evs, err := c.Events(pos.after, 1000)
				if err != nil || len(evs) != 1000 {
					b.Fatalf("feed after %d: %d events, %v", pos.after, len(evs), err)
				}
			}
		})
	}
}

// BenchmarkPageAssetEvents: one asset's events (GET
// /v1/assets/{id}/events) for an asset cataloged first, in the middle and
// last: one seek in the per-asset index, whatever the asset's place in the
// log.
func BenchmarkPageAssetEvents(b *testing.B) {
	c := open(b, benchCatalog(b), fast)
	for _, pos := range []struct {
		name string
		i    int
	}{{"first", 1}, {"middle", benchLocations / 2}, {"last", benchLocations - 1}} {
		aid := id(fmt.Sprint(pos.i))
		b.Run(pos.name, func(b *testing.B) {
			for b.Loop() {
				evs, err := c.AssetEvents(aid, 0, 100, false)
				if err != nil || len(evs) < 2 {
					b.Fatalf("events of asset %d: %d, %v", pos.i, len(evs), err)
				}
			}
		})
	}
}
