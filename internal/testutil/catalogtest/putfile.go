package catalogtest

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/zeebo/blake3"
	"github.com/zeebo/xxh3"

	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
)

// PutFile writes data to rel (slash-separated) under root and catalogs it
// on volume as ingest would (BLAKE3 asset id, xxh128, size and mtime read
// back from the file); it returns the asset id.
func PutFile(t testing.TB, cat *catalog.Catalog, volume, root, rel string, data []byte) string {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := blake3.Sum256(data)
	x := xxh3.Hash128(data).Bytes()
	id := hex.EncodeToString(sum[:])
	if _, err := cat.PutFile(storage.FileRecord{Volume: volume, Path: rel, Size: fi.Size(), MTime: fi.ModTime(),
		Hashes: storage.Hashes{BLAKE3: id, XXH128: hex.EncodeToString(x[:])}}); err != nil {
		t.Fatalf("catalog %s: %v", rel, err)
	}
	return id
}
