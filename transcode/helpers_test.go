package transcode

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zeebo/blake3"
	"github.com/zeebo/xxh3"

	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
	"github.com/ingestd/ingestd/testdata/media"
)

// The catalog is what the lead wires in.
var _ Catalog = (*catalog.Catalog)(nil)

func TestMain(m *testing.M) {
	code := m.Run()
	if zr != nil {
		os.RemoveAll(zr.stateDir)
		os.RemoveAll(zr.catDir)
	}
	os.Exit(code)
}

// needFFmpeg skips (or, under CI=true, fails) when FFmpeg is absent.
func needFFmpeg(t testing.TB) Tools {
	t.Helper()
	tools, err := Tools{}.withDefaults()
	if err != nil {
		testenv.SkipOrFail(t, "ffmpeg/ffprobe not installed: %v", err)
	}
	return tools
}

var (
	zooOnce  sync.Once
	zooDir   string
	zooClips []media.Clip
	zooErr   error
)

// zoo generates the media zoo once per test binary into
// testdata/media/.cache (ignored by git) and returns its directory.
func zoo(t testing.TB) (string, []media.Clip) {
	t.Helper()
	tools := needFFmpeg(t)
	zooOnce.Do(func() {
		cache, err := filepath.Abs("../testdata/media/.cache")
		if err != nil {
			zooErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		zooClips, zooErr = media.Generate(ctx, tools.FFmpeg, cache)
		zooDir = media.Dir(cache)
	})
	if zooErr != nil {
		t.Fatalf("generate zoo: %v", zooErr)
	}
	return zooDir, zooClips
}

func clipByName(t testing.TB, name string) media.Clip {
	t.Helper()
	_, clips := zoo(t)
	for _, c := range clips {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no clip %s", name)
	return media.Clip{}
}

// catalogFile hashes a real file and records it as ingest would.
func catalogFile(t testing.TB, c *catalog.Catalog, volume, root, rel string) string {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	st := fi.Sys().(*syscall.Stat_t)
	sum := blake3.Sum256(b)
	x := xxh3.Hash128(b).Bytes()
	id := hex.EncodeToString(sum[:])
	_, err = c.PutFile(storage.FileRecord{Volume: volume, Path: rel, Size: fi.Size(), MTime: fi.ModTime(),
		Inode: st.Ino, Dev: uint64(st.Dev), Hashes: storage.Hashes{BLAKE3: id, XXH128: hex.EncodeToString(x[:])}})
	if err != nil {
		t.Fatalf("put file %s: %v", rel, err)
	}
	return id
}

// startService runs a Service until the returned stop func is called.
func startService(t testing.TB, cfg Config, tools Tools, stateDir string, c Catalog) (*Service, func()) {
	t.Helper()
	s, err := New(cfg, tools, stateDir, c, testutil.Logger(t))
	if err != nil {
		t.Fatalf("new service: %v", err)
	}
	return s, testutil.Start(t, "transcode service", s.Run)
}

// waitAsset polls until cond holds for the asset or the deadline passes.
func waitAsset(t testing.TB, c Catalog, id string, d time.Duration, cond func(storage.AssetDoc) bool) storage.AssetDoc {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		doc, err := c.Asset(id)
		if err == nil && cond(doc) {
			return doc
		}
		if time.Now().After(deadline) {
			b, _ := json.Marshal(doc)
			t.Fatalf("asset %s: condition not met within %s: %s", id, d, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func finalStatus(doc storage.AssetDoc) bool {
	return doc.Kind != "" && (doc.Proxy == nil && doc.Kind == KindOther || terminal(doc.Proxy))
}

// probeJSON runs ffprobe independently of the code under test.
type probeOut struct {
	Streams []map[string]any `json:"streams"`
	Format  map[string]any   `json:"format"`
	Packets []map[string]any `json:"packets"`
}

func ffprobeJSON(t testing.TB, path string, args ...string) probeOut {
	t.Helper()
	full := append([]string{"-v", "error", "-print_format", "json"}, args...)
	out, err := exec.Command("ffprobe", append(full, path)...).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probeOut
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func str(m map[string]any, k string) string {
	switch v := m[k].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func num(m map[string]any, k string) float64 {
	f, _ := strconv.ParseFloat(str(m, k), 64)
	return f
}

func tag(m map[string]any, k string) string {
	tags, _ := m["tags"].(map[string]any)
	return str(tags, k)
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

func execOutput(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}

func execStdout(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).Output()
}

type response struct {
	*http.Response
	body []byte
}

func do(t testing.TB, method, url string, hdr map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp, b}
}
