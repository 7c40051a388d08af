package catalog

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/storage"
)

// TestOpenCatalogOfOlderVersion: testdata/catalog-v0 is a catalog the
// daemon of b4225c0 (the last version to store records as JSON, one event
// per key) wrote: files a.txt (later rewritten), sub/b.txt, sub/c.txt
// (later deleted) and a Latin-1 name, and the probe stage's asset.updated
// events. This version reads every record of it, and goes on: the next
// event is seq 19, and a rewritten location keeps its history.
func TestOpenCatalogOfOlderVersion(t *testing.T) {
	dir := testutil.CopyTree(t, filepath.Join("testdata", "catalog-v0"))
	c := open(t, filepath.Join(dir, "catalog"), Options{IdentityFile: filepath.Join(dir, "catalog-identity.json")})
	if got := c.LastSeq(); got != 18 {
		t.Fatalf("last seq %d, want 18", got)
	}
	evs, err := c.Events(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"appliance.started", "asset.cataloged", "location.added", "asset.cataloged", "location.added",
		"asset.cataloged", "location.added", "asset.cataloged", "location.added", "asset.updated", "asset.updated",
		"asset.updated", "asset.updated", "location.removed", "asset.cataloged", "location.changed", "asset.updated",
		"asset.updated"}
	if got := types(evs); !slices.Equal(got, want) {
		t.Fatalf("events %v", got)
	}
	for i, e := range evs {
		if e.Seq != uint64(i+1) || e.Time.IsZero() {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	latin := "caf\xe9.txt"
	if evs[3].Path != latin {
		t.Fatalf("non-UTF-8 name read back as %q", evs[3].Path)
	}
	// From the middle of the log, as a hub's cursor reads it.
	if tail, err := c.Events(13, 2); err != nil || len(tail) != 2 || tail[0].Seq != 14 || tail[0].Path != "sub/c.txt" {
		t.Fatalf("events after 13: %+v %v", tail, err)
	}
	a, err := c.Location("v", "a.txt")
	if err != nil || a.State != storage.LocPresent || len(a.History) != 1 || a.AssetID != evs[14].AssetID {
		t.Fatalf("a.txt %+v %v", a, err)
	}
	gone, err := c.Location("v", "sub/c.txt")
	if err != nil || gone.State != storage.LocRemoved {
		t.Fatalf("sub/c.txt %+v %v", gone, err)
	}
	doc, err := c.Asset(evs[3].AssetID)
	if err != nil || len(doc.Locations) != 1 || doc.Locations[0].Path != latin || doc.Hashes.XXH128 == "" || doc.Kind == "" {
		t.Fatalf("asset of %q: %+v %v", latin, doc, err)
	}
	old, err := c.Asset(evs[1].AssetID) // a.txt's first content, now only in its history
	if err != nil || len(old.Locations) != 1 || old.Locations[0].State != storage.LocRemoved || old.Locations[0].ReplacedBy != a.AssetID {
		t.Fatalf("replaced asset %+v %v", old, err)
	}
	aev, err := c.AssetEvents(a.AssetID, 0, 10, false)
	if err != nil || len(aev) < 2 || aev[0].Type != storage.EvAssetCataloged || aev[1].Type != storage.EvLocationChanged {
		t.Fatalf("asset events of a.txt %+v %v", aev, err)
	}
	page, err := c.Assets("", 100)
	if err != nil || len(page) != 5 {
		t.Fatalf("%d assets, %v", len(page), err)
	}
	if files, _, err := c.VolumeStats("v"); err != nil || files != 3 {
		t.Fatalf("volume stats %d files, %v", files, err)
	}
	// Going on: contiguous seq, and the old location's history kept.
	r := rec("v", "a.txt", "alpha again", 9, a.Inode)
	got, err := c.PutFile(r)
	if err != nil || len(got) == 0 || got[0].Seq != 19 {
		t.Fatalf("next change %+v %v", got, err)
	}
	if a2, err := c.Location("v", "a.txt"); err != nil || len(a2.History) != 2 {
		t.Fatalf("a.txt after the rewrite %+v %v", a2, err)
	}
}
