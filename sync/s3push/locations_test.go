package s3push

import (
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/storage"
)

// bucketDoc reads an asset's asset.json from the bucket, raw and decoded.
func (e *env) bucketDoc(t *testing.T, id string) (storage.AssetDoc, map[string]any) {
	t.Helper()
	b, _ := getObject(t, e.srv.Client(), keyFor(id, "asset.json"))
	var doc storage.AssetDoc
	var raw map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("asset.json of %s: %v\n%s", id, err, b)
	}
	_ = json.Unmarshal(b, &raw)
	return doc, raw
}

// When other content takes over a path, or the file is deleted, the asset
// that lost the location gets a fresh asset.json listing it as removed: the
// hub must not believe content is where it no longer is. A name that is not
// UTF-8 reaches the bucket with its exact bytes in path_b64.
func TestPushLocationsLeftBehind(t *testing.T) {
	e := newEnv(t)
	const path = "A001/caf\xe9.mov"
	x := e.asset(path, nil)
	t0 := time.Now()
	p := e.pusher(e.config())
	testutil.Start(t, "pusher", p.Run)
	testutil.WaitFor(t, 30*time.Second, "x synced", func() bool { return e.synced(x, t0) })
	doc, raw := e.bucketDoc(t, x)
	if len(doc.Locations) != 1 || doc.Locations[0].State != storage.LocPresent || doc.Locations[0].Path != path {
		t.Fatalf("first asset.json locations %+v", doc.Locations)
	}
	loc0 := raw["locations"].([]any)[0].(map[string]any)
	if b64, _ := loc0["path_b64"].(string); b64 != base64.StdEncoding.EncodeToString([]byte(path)) {
		t.Fatalf("asset.json path_b64 %q for %q", b64, path)
	}

	// Overwritten with other content: x's asset.json says removed, replaced by y.
	t1 := time.Now()
	y := "f" + x[1:]
	if y == x {
		y = "e" + x[1:]
	}
	if _, err := e.cat.PutFile(storage.FileRecord{Volume: "nas", Path: path, Size: 2000, MTime: time.Now(), Inode: 7, Dev: 1,
		Hashes: storage.Hashes{BLAKE3: y, XXH128: y[:32]}}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "x and y synced", func() bool { return e.synced(x, t1) && e.synced(y, t1) })
	doc, _ = e.bucketDoc(t, x)
	if len(doc.Locations) != 1 || doc.Locations[0].State != storage.LocRemoved || doc.Locations[0].ReplacedBy != y ||
		doc.Locations[0].Removed.IsZero() || doc.Locations[0].Path != path {
		t.Fatalf("x's asset.json after the overwrite: %+v", doc.Locations)
	}
	doc, _ = e.bucketDoc(t, y)
	if len(doc.Locations) != 1 || doc.Locations[0].State != storage.LocPresent || doc.Locations[0].Path != path {
		t.Fatalf("y's asset.json: %+v", doc.Locations)
	}

	// Deleted: y's asset.json says removed.
	t2 := time.Now()
	if _, err := e.cat.RemoveLocation("nas", path, "deleted"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "y synced after removal", func() bool { return e.synced(y, t2) })
	doc, _ = e.bucketDoc(t, y)
	if len(doc.Locations) != 1 || doc.Locations[0].State != storage.LocRemoved || doc.Locations[0].ReplacedBy != "" || doc.Locations[0].Removed.IsZero() {
		t.Fatalf("y's asset.json after deletion: %+v", doc.Locations)
	}
}
