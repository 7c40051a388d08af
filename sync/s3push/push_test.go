package s3push

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/storage"
)

// Every asset's objects land in the bucket byte-identical, asset.json is the
// catalog's document, masters never leave, and asset.synced is recorded.
func TestPushAllObjects(t *testing.T) {
	e := newEnv(t)
	cnt := countRequests(t)
	mp4 := realMP4(t)
	big := randBytes(40<<20+12345, 1) // multipart: 3 parts of 16 MiB
	assets := map[string]map[string][]byte{}
	a1 := e.asset("A001/C001.mov", map[string][]byte{"proxy.mp4": mp4, "poster.jpg": randBytes(20000, 2), "filmstrip.jpg": randBytes(50000, 3)})
	assets[a1] = map[string][]byte{"proxy.mp4": mp4, "poster.jpg": randBytes(20000, 2), "filmstrip.jpg": randBytes(50000, 3)}
	a2 := e.asset("A001/C002.mov", map[string][]byte{"proxy.mp4": big, "waveform.json": []byte(`{"peaks":[1,2,3]}`)})
	assets[a2] = map[string][]byte{"proxy.mp4": big, "waveform.json": []byte(`{"peaks":[1,2,3]}`)}
	a3 := e.asset("audio/take1.wav", map[string][]byte{"proxy.m4a": randBytes(7000, 4), "waveform.json": []byte(`[0]`)})
	assets[a3] = map[string][]byte{"proxy.m4a": randBytes(7000, 4), "waveform.json": []byte(`[0]`)}
	a4 := e.asset("docs/notes.txt", nil) // no proxy: only asset.json
	assets[a4] = map[string][]byte{}

	t0 := time.Now()
	p := e.pusher(e.config())
	stop := testutil.Start(t, "pusher", p.Run)
	testutil.WaitFor(t, 60*time.Second, "all assets synced", func() bool {
		for id, outs := range assets {
			if !e.synced(id, t0) || !e.pushed(id, names(outs)...) {
				return false
			}
		}
		return p.Status().BacklogAssets == 0
	})
	stop()

	c := e.srv.Client()
	var want []string
	for id, outs := range assets {
		for name, b := range outs {
			key := keyFor(id, name)
			want = append(want, key)
			got, meta := getObject(t, c, key)
			equalBytes(t, key, got, b)
			if meta["blake3"] == "" {
				t.Errorf("%s: no blake3 metadata", key)
			}
		}
		key := keyFor(id, "asset.json")
		want = append(want, key)
		got, _ := getObject(t, c, key)
		var doc storage.AssetDoc
		if err := json.Unmarshal(got, &doc); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		cur, _ := e.cat.Asset(id)
		if doc.ID != id || len(doc.Locations) != 1 || doc.Locations[0].Path != cur.Locations[0].Path {
			t.Errorf("%s: uploaded doc %+v does not match the catalog's %+v", key, doc, cur)
		}
		if doc.Sync == nil || doc.Sync.Status != "synced" || !doc.Sync.At.Equal(cur.Sync.At) {
			t.Errorf("%s: sync block %+v, catalog has %+v", key, doc.Sync, cur.Sync)
		}
	}
	got := listKeys(t, c)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("bucket keys:\n got %q\nwant %q", got, want)
	}
	for _, k := range got {
		if strings.Contains(k, ".mov") || strings.Contains(k, ".wav") || strings.Contains(k, ".txt") {
			t.Errorf("a master reached the bucket: %s", k)
		}
	}
	if n := cnt.get("CreateMultipartUpload"); n != 1 {
		t.Errorf("CreateMultipartUpload: %d requests, want 1 (only the 40 MiB proxy)", n)
	}
	if n := cnt.get("UploadPart"); n != 3 {
		t.Errorf("UploadPart: %d requests, want 3", n)
	}
	evs, _ := e.cat.Events(0, 1000)
	synced := map[string]int{}
	for _, ev := range evs {
		if ev.Type == storage.EvAssetSynced {
			synced[ev.AssetID]++
		}
	}
	for id := range assets {
		if synced[id] != 1 {
			t.Errorf("asset %s: %d asset.synced events, want 1", id, synced[id])
		}
	}

	// A restart pushes nothing again: the cursor is persisted and our own
	// asset.synced events are not changes.
	puts := cnt.get("PutObject") + cnt.get("UploadPart")
	p2 := e.pusher(e.config())
	stop2 := testutil.Start(t, "pusher", p2.Run)
	time.Sleep(2 * time.Second)
	if n := cnt.get("PutObject") + cnt.get("UploadPart"); n != puts {
		t.Errorf("restart re-sent %d objects/parts (%s)", n-puts, cnt)
	}

	// A new location of a1 rewrites its asset.json only.
	t1 := time.Now()
	if _, err := e.cat.PutFile(storage.FileRecord{Volume: "nas", Path: "backup/C001.mov", Size: 1000, MTime: time.Now(), Inode: 99, Dev: 1,
		Hashes: storage.Hashes{BLAKE3: a1, XXH128: a1[:32]}}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "a1 synced again", func() bool { return e.synced(a1, t1) })
	stop2()
	if n := cnt.get("PutObject") + cnt.get("UploadPart"); n != puts+1 {
		t.Errorf("a location change sent %d objects, want 1 (asset.json) (%s)", n-puts, cnt)
	}
	b, _ := getObject(t, c, keyFor(a1, "asset.json"))
	var doc storage.AssetDoc
	_ = json.Unmarshal(b, &doc)
	if len(doc.Locations) != 2 {
		t.Errorf("asset.json after new location has %d locations, want 2", len(doc.Locations))
	}
}

// A derived file that cannot be read fails that asset (sync.status failed,
// an asset.updated event saying why) without blocking the queue or looping;
// the next change to the asset retries it.
func TestMissingOutputFailsAsset(t *testing.T) {
	e := newEnv(t)
	bad := e.asset("x/C001.mov", map[string][]byte{"poster.jpg": randBytes(1000, 1)})
	if err := os.Remove(storage.OutputPath(e.stateDir, bad, "poster.jpg")); err != nil {
		t.Fatal(err)
	}
	good := e.asset("x/C002.mov", map[string][]byte{"poster.jpg": randBytes(1000, 2)})
	p := e.pusher(e.config())
	stop := testutil.Start(t, "pusher", p.Run)
	failed := func() bool {
		doc, err := e.cat.Asset(bad)
		return err == nil && doc.Sync != nil && doc.Sync.Status == "failed"
	}
	testutil.WaitFor(t, 30*time.Second, "bad asset failed, good asset synced", func() bool {
		return failed() && e.pushed(good, "poster.jpg") && p.Status().BacklogAssets == 0
	})
	doc, _ := e.cat.Asset(bad)
	if !strings.Contains(doc.Sync.Error, "poster.jpg") {
		t.Errorf("sync.error %q does not name the file", doc.Sync.Error)
	}
	// Served to the hub (asset document, feed): no absolute server path,
	// like proxy.error; the file is named relative to state_dir.
	all, _ := e.cat.Events(0, 1000)
	for _, ev := range all {
		if ev.AssetID == bad && strings.Contains(ev.Detail, e.stateDir) {
			t.Errorf("event detail %q names the state dir", ev.Detail)
		}
	}
	if strings.Contains(doc.Sync.Error, e.stateDir) || !strings.Contains(doc.Sync.Error, "state_dir/media/") {
		t.Errorf("sync.error %q: want the file relative to state_dir, no absolute path", doc.Sync.Error)
	}
	if !strings.Contains(p.Status().LastError, "poster.jpg") {
		t.Errorf("status last_error %q", p.Status().LastError)
	}
	last := e.cat.LastSeq()
	time.Sleep(1500 * time.Millisecond)
	if e.cat.LastSeq() != last {
		t.Errorf("events keep coming after a permanent failure (%d -> %d): a loop", last, e.cat.LastSeq())
	}
	evs, _ := e.cat.Events(0, 1000)
	n := 0
	for _, ev := range evs {
		if ev.AssetID == bad && ev.Type == storage.EvAssetUpdated && strings.HasPrefix(ev.Detail, "sync failed: ") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d 'sync failed' events, want 1", n)
	}
	// The transcoder writes the file again and re-announces the proxy.
	e.ready(bad, map[string][]byte{"poster.jpg": randBytes(1000, 3)})
	testutil.WaitFor(t, 30*time.Second, "bad asset synced after the fix", func() bool { return e.pushed(bad, "poster.jpg") })
	stop()
}
