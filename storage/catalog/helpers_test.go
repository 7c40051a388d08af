package catalog

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zeebo/blake3"
	"github.com/zeebo/xxh3"

	"github.com/ingestd/ingestd/storage"
)

// fast turns off fsync for tests that write thousands of records; every
// other test runs with the production setting (sync on).
var fast = Options{NoSyncWrites: true}

func open(t testing.TB, dir string, opts Options) *Catalog {
	t.Helper()
	c, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newCat(t testing.TB, opts Options) (*Catalog, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "catalog")
	return open(t, dir, opts), dir
}

// hashes returns the real digests of content.
func hashes(content string) storage.Hashes {
	b := blake3.Sum256([]byte(content))
	x := xxh3.Hash128([]byte(content)).Bytes()
	return storage.Hashes{BLAKE3: hex.EncodeToString(b[:]), XXH128: hex.EncodeToString(x[:])}
}

func id(content string) string { return hashes(content).BLAKE3 }

// rec describes content at volume/path with a stat derived from mtime and
// inode, as ingest would report it.
func rec(volume, path, content string, mtime int64, inode uint64) storage.FileRecord {
	return storage.FileRecord{
		Volume: volume, Path: path, Size: int64(len(content)),
		MTime: time.Unix(1_700_000_000+mtime, 123456789), Inode: inode, Dev: 42,
		Hashes: hashes(content),
	}
}

func types(evs []storage.Event) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func allEvents(t testing.TB, c *Catalog) []storage.Event {
	t.Helper()
	evs, err := c.Events(0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestMain(m *testing.M) {
	if dir := os.Getenv("CATALOG_CRASH_DIR"); dir != "" {
		crashHelper(dir) // never returns
	}
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}
