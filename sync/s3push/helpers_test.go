package s3push

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ingestd/ingestd/internal/miniotest"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
)

const testBucket = "studio-hub"
const testApp = "edge-test"

// env is one test's catalog, state dir and MinIO.
type env struct {
	t        testing.TB
	srv      *miniotest.Server
	stateDir string
	catDir   string
	cat      *catalog.Catalog
}

func newEnv(t testing.TB) *env {
	t.Helper()
	srv := miniotest.Start(t)
	srv.SetEnv(t)
	srv.CreateBucket(t, testBucket)
	dir := t.TempDir()
	e := &env{t: t, srv: srv, stateDir: dir, catDir: filepath.Join(dir, "catalog")}
	e.cat = catalogtest.Open(t, e.catDir)
	return e
}

func (e *env) config() Config {
	c := Config{Endpoint: e.srv.Endpoint, Region: miniotest.Region, Bucket: testBucket, Prefix: "edge", PathStyle: true,
		RetryMin: 100 * time.Millisecond, RetryMax: time.Second}
	c.SetDefaults()
	return c
}

func (e *env) pusher(cfg Config) *Pusher {
	e.t.Helper()
	p, err := New(cfg, testApp, e.stateDir, e.cat, testutil.Logger(e.t))
	if err != nil {
		e.t.Fatalf("new pusher: %v", err)
	}
	return p
}

var idSeq = rand.Uint64()

// asset catalogs a master at vol/path and writes the given derived outputs
// (name -> bytes) under state_dir, then marks the proxy ready.
func (e *env) asset(path string, outputs map[string][]byte) string {
	e.t.Helper()
	idSeq++
	sum := sha256.Sum256(fmt.Appendf(nil, "%s-%d-%d", path, idSeq, time.Now().UnixNano()))
	id := hex.EncodeToString(sum[:])
	if _, err := e.cat.PutFile(storage.FileRecord{Volume: "nas", Path: path, Size: 1000, MTime: time.Now().Truncate(time.Second),
		Inode: idSeq, Dev: 1, Hashes: storage.Hashes{BLAKE3: id, XXH128: id[:32]}}); err != nil {
		e.t.Fatalf("put file: %v", err)
	}
	if outputs != nil {
		e.ready(id, outputs)
	}
	return id
}

func (e *env) ready(id string, outputs map[string][]byte) {
	e.t.Helper()
	var names []string
	for name, b := range outputs {
		p := storage.OutputPath(e.stateDir, id, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			e.t.Fatal(err)
		}
		names = append(names, name)
	}
	if _, err := e.cat.UpdateAsset(id, storage.EvProxyReady, "", func(a *storage.Asset) error {
		a.Kind = "video"
		a.Proxy = &storage.ProxyInfo{Status: "ready", Profile: "h264-720p", Lane: "cpu", Outputs: names, At: time.Now().UTC()}
		return nil
	}); err != nil {
		e.t.Fatalf("proxy ready: %v", err)
	}
}

func randBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

var (
	mp4Once  sync.Once
	mp4Bytes []byte
	mp4Err   error
)

// realMP4 is a real small H.264 proxy made by FFmpeg (2 s, 320x180).
func realMP4(t testing.TB) []byte {
	t.Helper()
	mp4Once.Do(func() {
		ff, err := exec.LookPath("ffmpeg")
		if err != nil {
			mp4Err = err
			return
		}
		out := filepath.Join(os.TempDir(), fmt.Sprintf("s3push-test-%d.mp4", os.Getpid()))
		defer os.Remove(out)
		cmd := exec.Command(ff, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=2",
			"-f", "lavfi", "-i", "sine=f=440:d=2", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", "-movflags", "+faststart", out)
		if b, err := cmd.CombinedOutput(); err != nil {
			mp4Err = fmt.Errorf("ffmpeg: %v: %s", err, b)
			return
		}
		mp4Bytes, mp4Err = os.ReadFile(out)
	})
	if mp4Err != nil {
		testenv.SkipOrFail(t, "real mp4: %v", mp4Err)
	}
	return mp4Bytes
}

// synced reports whether the catalog says the asset is synced at or after t0.
func (e *env) synced(id string, after time.Time) bool {
	doc, err := e.cat.Asset(id)
	return err == nil && doc.Sync != nil && doc.Sync.Status == "synced" && !doc.Sync.At.Before(after.Truncate(time.Millisecond))
}

func getObject(t testing.TB, c *s3.Client, key string) ([]byte, map[string]string) {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b, out.Metadata
}

func listKeys(t testing.TB, c *s3.Client) []string {
	t.Helper()
	var keys []string
	pg := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(testBucket)})
	for pg.HasMorePages() {
		out, err := pg.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// counter wraps the S3 HTTP client and counts requests by operation; fail,
// when set, may refuse a request (fault injection).
type counter struct {
	inner s3.HTTPClient
	mu    sync.Mutex
	ops   map[string]int
	fail  func(op string) error
}

func opOf(r *http.Request) string {
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodPut && q.Has("partNumber"):
		return "UploadPart"
	case r.Method == http.MethodPut:
		return "PutObject"
	case r.Method == http.MethodPost && q.Has("uploads"):
		return "CreateMultipartUpload"
	case r.Method == http.MethodPost && q.Has("uploadId"):
		return "CompleteMultipartUpload"
	case r.Method == http.MethodGet && q.Has("uploadId"):
		return "ListParts"
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		return "AbortMultipartUpload"
	}
	return r.Method
}

func (c *counter) Do(r *http.Request) (*http.Response, error) {
	op := opOf(r)
	c.mu.Lock()
	c.ops[op]++
	c.ops["total"]++
	f := c.fail
	c.mu.Unlock()
	if f != nil {
		if err := f(op); err != nil {
			return nil, err
		}
	}
	return c.inner.Do(r)
}

func (c *counter) get(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ops[op]
}

func (c *counter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprint(c.ops)
}

// countRequests installs a counter on the pushers created until cleanup.
func countRequests(t testing.TB) *counter {
	c := &counter{ops: map[string]int{}}
	wrapHTTPClient = func(h s3.HTTPClient) s3.HTTPClient { c.inner = h; return c }
	t.Cleanup(func() { wrapHTTPClient = nil })
	return c
}

func keyFor(id, name string) string {
	return strings.Join([]string{"edge", testApp, "assets", id, name}, "/")
}

func equalBytes(t testing.TB, key string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s: bucket holds %d bytes that differ from the local %d bytes", key, len(got), len(want))
	}
}

// pushed reports whether the pusher's last push of id included all of
// outputs (names) and the asset is marked synced.
func (e *env) pushed(id string, outputs ...string) bool {
	if !e.synced(id, time.Time{}) {
		return false
	}
	var st assetState
	if err := e.cat.GetState(assetPfx+id, &st); err != nil {
		return false
	}
	for _, n := range outputs {
		if st.Objects[n].BLAKE3 == "" {
			return false
		}
	}
	return true
}

func names(m map[string][]byte) []string {
	var s []string
	for k := range m {
		s = append(s, k)
	}
	return s
}
