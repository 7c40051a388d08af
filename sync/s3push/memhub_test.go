package s3push

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/sync/hubstore"
)

// countingStore counts the calls that start or carry an upload.
type countingStore struct {
	hubstore.Store
	mu    sync.Mutex
	parts int
	mpus  int
}

func (c *countingStore) UploadPart(ctx context.Context, key, id string, n int32, body io.ReadSeeker, size int64, crc string) (hubstore.Part, error) {
	c.mu.Lock()
	c.parts++
	c.mu.Unlock()
	return c.Store.UploadPart(ctx, key, id, n, body, size, crc)
}

func (c *countingStore) CreateUpload(ctx context.Context, key string, o hubstore.PutOptions) (string, error) {
	c.mu.Lock()
	c.mpus++
	c.mu.Unlock()
	return c.Store.CreateUpload(ctx, key, o)
}

// The pusher over the in-memory store (hubstore.MemHub) instead of MinIO:
// a multipart upload interrupted before a restart (two parts on the hub,
// one recorded in the catalog) is resumed and only the missing part is sent;
// an outage keeps the backlog and reports it, and recovery drains it.
func TestPushOverMemHub(t *testing.T) {
	hub := hubstore.NewMemHub("mem", "secret")
	hub.CreateBucket(testBucket)
	cnt := &countingStore{Store: hub.Store(testBucket, "mem", "secret")}
	openStore = func(hubstore.S3Config) (hubstore.Store, error) { return cnt, nil }
	t.Cleanup(func() { openStore = func(c hubstore.S3Config) (hubstore.Store, error) { return hubstore.NewS3(c) } })
	dir := t.TempDir()
	e := &env{t: t, stateDir: dir, catDir: dir + "/catalog"}
	e.cat = catalogtest.Open(t, e.catDir)
	cfg := Config{Endpoint: "http://hub.invalid", Bucket: testBucket, Prefix: "edge", PathStyle: true,
		PartSize: MinPartSize, MultipartThreshold: MinPartSize, RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond}
	cfg.SetDefaults()

	// The state a kill -9 leaves: parts 1 and 2 on the hub, only part 1
	// recorded.
	data := randBytes(2*MinPartSize+4321, 21)
	id := e.asset("mem/C001.mov", nil)
	key := keyFor(id, "proxy.mp4")
	b3, crc, _, _ := localSums(bytes.NewReader(data))
	ctx := context.Background()
	upID, err := cnt.Store.CreateUpload(ctx, key, hubstore.PutOptions{ContentType: "video/mp4", Metadata: map[string]string{metaBLAKE3: b3}})
	if err != nil {
		t.Fatal(err)
	}
	st := mpuState{Key: key, UploadID: upID, Size: int64(len(data)), BLAKE3: b3, CRC32C: hubstore.EncodeCRC32C(crc), PartSize: MinPartSize, Parts: map[int32]partInfo{}}
	for n := int32(1); n <= 2; n++ {
		b := data[int(n-1)*MinPartSize : int(n)*MinPartSize]
		p, err := cnt.Store.UploadPart(ctx, key, upID, n, bytes.NewReader(b), int64(len(b)), hubstore.CRC32C(b))
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			st.Parts[1] = partInfo{ETag: p.ETag, CRC32C: p.CRC32C, Size: p.Size}
		}
	}
	if err := e.cat.PutState(multipartPfx+key, st); err != nil {
		t.Fatal(err)
	}
	e.ready(id, map[string][]byte{"proxy.mp4": data, "poster.jpg": randBytes(3000, 22)})

	p := e.pusher(cfg)
	testutil.Start(t, "pusher", p.Run)
	testutil.WaitFor(t, 30*time.Second, "resumed asset synced", func() bool { return e.pushed(id, "proxy.mp4", "poster.jpg") })
	cnt.mu.Lock()
	parts, mpus := cnt.parts, cnt.mpus
	cnt.mu.Unlock()
	if parts != 1 || mpus != 0 {
		t.Errorf("resume sent %d parts and started %d uploads; want 1 part (part 3) and no new upload", parts, mpus)
	}
	rc, err := cnt.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	equalBytes(t, key, got, data)
	if oi, err := cnt.Stat(ctx, key); err != nil || oi.Metadata[metaBLAKE3] != b3 || oi.ContentType != "video/mp4" {
		t.Errorf("resumed object: %+v, %v", oi, err)
	}
	if n := hub.Uploads(testBucket); n != 0 {
		t.Errorf("%d multipart uploads left open", n)
	}

	hub.Down()
	down := time.Now()
	id2 := e.asset("mem/C002.mov", map[string][]byte{"proxy.mp4": randBytes(70000, 23)})
	testutil.WaitFor(t, 30*time.Second, "the outage in status", func() bool {
		s := p.Status()
		return s.BacklogAssets == 1 && s.LastErrorAt.After(down) && !s.RetryAt.IsZero()
	})
	if s := p.Status(); !strings.Contains(s.LastError, "unreachable") || !s.LastSuccess.Before(down) {
		t.Errorf("status during the outage: last_error %q, last_success %s", s.LastError, s.LastSuccess)
	}
	hub.Up()
	testutil.WaitFor(t, 30*time.Second, "backlog drained after the outage", func() bool {
		return e.pushed(id2, "proxy.mp4") && p.Status().BacklogAssets == 0
	})
	var keys []string
	if err := cnt.List(ctx, "edge/", func(oi hubstore.ObjectInfo) error { keys = append(keys, oi.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []string{keyFor(id, "asset.json"), keyFor(id, "poster.jpg"), keyFor(id, "proxy.mp4"), keyFor(id2, "asset.json"), keyFor(id2, "proxy.mp4")}
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Errorf("hub holds %q, want %q", keys, want)
	}
}

// raceStore runs hook (once) while the first asset.json is being put, and
// records the catalog's last seq when each put of proxy.mp4 completed.
type raceStore struct {
	hubstore.Store
	cat       interface{ LastSeq() uint64 }
	once      sync.Once
	hook      func()
	mu        sync.Mutex
	proxySeqs []uint64
}

func (r *raceStore) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, o hubstore.PutOptions) (hubstore.PutResult, error) {
	if strings.HasSuffix(key, "/asset.json") {
		r.once.Do(r.hook)
	}
	res, err := r.Store.Put(ctx, key, body, size, o)
	if err == nil && strings.HasSuffix(key, "/proxy.mp4") {
		r.mu.Lock()
		r.proxySeqs = append(r.proxySeqs, r.cat.LastSeq())
		r.mu.Unlock()
	}
	return res, err
}

// docs/api.md: asset.synced means all the asset's objects are in the
// bucket. The asset changed (its proxy became ready) while the pusher was
// putting the asset.json of the version before: it recorded asset.synced
// for the asset as it now is, after proxy.ready in the feed, with the
// proxy not in the bucket yet (a hub fetching it on that event got a 404)
// until the next round. An asset.synced that follows proxy.ready must come
// after the proxy's put, and the bucket's last asset.json lists the proxy.
func TestSyncedNotRecordedForAChangedAsset(t *testing.T) {
	hub := hubstore.NewMemHub("mem", "secret")
	hub.CreateBucket(testBucket)
	dir := t.TempDir()
	e := &env{t: t, stateDir: dir, catDir: dir + "/catalog"}
	e.cat = catalogtest.Open(t, e.catDir)
	id := e.asset("mem/R001.mov", nil) // cataloged, no proxy yet
	rs := &raceStore{Store: hub.Store(testBucket, "mem", "secret"), cat: e.cat}
	rs.hook = func() { e.ready(id, map[string][]byte{"proxy.mp4": randBytes(9000, 31)}) }
	useStore(t, func(string) hubstore.Store { return rs })
	p := e.pusher(memConfig(testBucket, "edge"))
	testutil.Start(t, "pusher", p.Run)
	testutil.WaitFor(t, 30*time.Second, "asset pushed with its proxy", func() bool { return e.pushed(id, "proxy.mp4") && p.Status().BacklogAssets == 0 })

	evs, err := e.cat.Events(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	rs.mu.Lock()
	proxySeqs := slices.Clone(rs.proxySeqs)
	rs.mu.Unlock()
	var ready uint64
	for _, ev := range evs {
		switch {
		case ev.AssetID != id:
		case ev.Type == "proxy.ready":
			ready = ev.Seq
		case ev.Type == "asset.synced" && ready != 0:
			if len(proxySeqs) == 0 || proxySeqs[0] >= ev.Seq {
				t.Errorf("asset.synced (seq %d) after proxy.ready (seq %d) was recorded before proxy.mp4 was in the bucket (put done at last seq %v)", ev.Seq, ready, proxySeqs)
			}
		}
	}
	if ready == 0 {
		t.Fatal("no proxy.ready in the feed")
	}
	rc, err := rs.Get(context.Background(), keyFor(id, "asset.json"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Contains(b, []byte(`"proxy.mp4"`)) || !bytes.Contains(b, []byte(`"synced"`)) {
		t.Errorf("the bucket's asset.json does not list the proxy: %s", b)
	}
}

// An item or asset id from the event log becomes a bucket key and a folder
// under state_dir (path.Join and filepath.Join clean ".."): an event whose
// id is not the hex an id is (a bug elsewhere, a tampered catalog) puts
// nothing outside <prefix>/<appliance>/ and reads nothing outside
// state_dir; the ids after it are pushed as usual.
func TestHostileItemIDsStayInThePrefix(t *testing.T) {
	hub := hubstore.NewMemHub("mem", "secret")
	hub.CreateBucket(testBucket)
	store := hub.Store(testBucket, "mem", "secret")
	useStore(t, func(string) hubstore.Store { return store })
	dir := t.TempDir()
	e := &env{t: t, stateDir: filepath.Join(dir, "state"), catDir: filepath.Join(dir, "catalog")}
	e.cat = catalogtest.Open(t, e.catDir)
	// What a traversal would read: files outside state_dir.
	for _, rel := range []string{"loot/proxy.mp4", "loot/report.json", "loot/report.html", "loot/poster.jpg"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rel), []byte("secret outside state_dir"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, ev := range []storage.Event{
		{Type: EvClipProxyReady, Volume: "nas", Path: "../../loot"},
		{Type: EvCardReportReady, Volume: "nas", Path: "../../loot"},
		{Type: EvSequenceProxyReady, Volume: "nas", Path: "../../../../../loot"},
		{Type: EvCardReportReady, Volume: "nas", Path: strings.Repeat("A", 32)},
		{Type: storage.EvAssetUpdated, AssetID: "../../../../loot", Detail: "x"},
	} {
		if _, err := e.cat.AppendEvent(ev); err != nil {
			t.Fatal(err)
		}
	}
	id := e.asset("mem/OK001.mov", map[string][]byte{"proxy.mp4": randBytes(5000, 41)})
	p := e.pusher(memConfig(testBucket, "edge"))
	testutil.Start(t, "pusher", p.Run)
	testutil.WaitFor(t, 30*time.Second, "the valid asset pushed", func() bool { return e.pushed(id, "proxy.mp4") && p.Status().BacklogAssets == 0 })
	var keys []string
	if err := store.List(context.Background(), "", func(oi hubstore.ObjectInfo) error { keys = append(keys, oi.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []string{keyFor(id, "asset.json"), keyFor(id, "proxy.mp4")}
	slices.Sort(keys)
	if !slices.Equal(keys, want) {
		t.Errorf("bucket holds %q, want only %q", keys, want)
	}
}

// A restart with another destination (hub.s3.bucket here; endpoint, prefix
// and appliance_id alike) pushes every asset and item again to the new
// place: before, the push state said "synced" and the new bucket never got
// the assets that did not change again. Objects already at the new place
// are not sent twice.
func TestNewDestinationGetsEverything(t *testing.T) {
	hub := hubstore.NewMemHub("mem", "secret")
	hub.CreateBucket("hub-a")
	hub.CreateBucket("hub-b")
	useStore(t, func(bucket string) hubstore.Store { return hub.Store(bucket, "mem", "secret") })
	dir := t.TempDir()
	e := &env{t: t, stateDir: dir, catDir: dir + "/catalog"}
	e.cat = catalogtest.Open(t, e.catDir)
	keys := func(bucket string) []string {
		var ks []string
		if err := hub.Store(bucket, "mem", "secret").List(context.Background(), "", func(oi hubstore.ObjectInfo) error { ks = append(ks, oi.Key); return nil }); err != nil {
			t.Fatal(err)
		}
		slices.Sort(ks)
		return ks
	}
	id := e.asset("mem/D001.mov", map[string][]byte{"proxy.mp4": randBytes(7000, 51)})
	p := e.pusher(memConfig("hub-a", "edge"))
	stop := testutil.Start(t, "pusher a", p.Run)
	testutil.WaitFor(t, 30*time.Second, "pushed to hub-a", func() bool { return e.pushed(id, "proxy.mp4") && p.Status().BacklogAssets == 0 })
	stop()

	// Restart against hub-b: the asset, unchanged since, goes there too.
	p = e.pusher(memConfig("hub-b", "edge"))
	stop = testutil.Start(t, "pusher b", p.Run)
	want := []string{keyFor(id, "asset.json"), keyFor(id, "proxy.mp4")}
	testutil.WaitFor(t, 30*time.Second, "the unchanged asset pushed to the new bucket", func() bool { return slices.Equal(keys("hub-b"), want) })
	stop()

	// Restart against hub-b again: nothing is sent again.
	before := hub.Uploads("hub-b")
	puts := len(keys("hub-b"))
	p = e.pusher(memConfig("hub-b", "edge"))
	stop = testutil.Start(t, "pusher b again", p.Run)
	time.Sleep(500 * time.Millisecond)
	stop()
	if s := p.Status(); s.BytesUploaded != 0 || hub.Uploads("hub-b") != before || len(keys("hub-b")) != puts {
		t.Errorf("a restart with the same destination sent %d bytes", s.BytesUploaded)
	}
}

// useStore makes New open st(bucket) instead of S3 for the rest of the test.
func useStore(t *testing.T, st func(bucket string) hubstore.Store) {
	openStore = func(c hubstore.S3Config) (hubstore.Store, error) { return st(c.Bucket), nil }
	t.Cleanup(func() { openStore = func(c hubstore.S3Config) (hubstore.Store, error) { return hubstore.NewS3(c) } })
}

// memConfig is a pusher's config for an in-memory hub (useStore), with
// short retries.
func memConfig(bucket, prefix string) Config {
	c := Config{Endpoint: "http://hub.invalid", Bucket: bucket, Prefix: prefix, PathStyle: true,
		RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond}
	c.SetDefaults()
	return c
}
