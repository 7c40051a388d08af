package catalog

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/ingestd/ingestd/storage"
)

// Paging through Assets (one pair of index iterators per page, sought to
// each asset) returns for every asset exactly what Asset returns: its
// present and removed locations, none of a neighbour's.
func TestAssetsPagesMatchAsset(t *testing.T) {
	c, _ := newCat(t, fast)
	const n = 40
	for i := range n {
		content := fmt.Sprint("content ", i)
		// Present in one or two places; every third content also left a
		// path (rewritten with other content: an r/ key).
		if _, err := c.PutFile(rec("v", fmt.Sprint("a/", i), content, 1, uint64(i))); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if _, err := c.PutFile(rec("w", fmt.Sprint("b/", i), content, 1, uint64(i))); err != nil {
				t.Fatal(err)
			}
		}
		if i%3 == 0 {
			if _, err := c.PutFile(rec("v", fmt.Sprint("c/", i), content, 1, uint64(i))); err != nil {
				t.Fatal(err)
			}
			if _, err := c.PutFile(rec("v", fmt.Sprint("c/", i), fmt.Sprint("new ", i), 2, uint64(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	var all []storage.AssetDoc
	after := ""
	for {
		page, err := c.Assets(after, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].ID
	}
	if want := n + n/3 + 1; len(all) != want { // the "new" contents too
		t.Fatalf("%d assets paged, want %d", len(all), want)
	}
	removed := 0
	for i, d := range all {
		if i > 0 && d.ID <= all[i-1].ID {
			t.Fatalf("assets out of order at %d", i)
		}
		one, err := c.Asset(d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(one, d) {
			t.Fatalf("asset %s: paged %+v, Asset %+v", d.ID, d.Locations, one.Locations)
		}
		if len(d.Locations) == 0 {
			t.Fatalf("asset %s has no locations", d.ID)
		}
		for _, l := range d.Locations {
			if l.AssetID != d.ID {
				t.Fatalf("asset %s lists a location of %s", d.ID, l.AssetID)
			}
			if l.State == storage.LocRemoved {
				removed++
			}
		}
	}
	if removed != n/3+1 {
		t.Fatalf("%d removed locations listed, want %d", removed, n/3+1)
	}
}
