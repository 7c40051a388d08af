package s3push

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
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
