package daemon

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
)

// BenchmarkBackupRestore measures `ingestd backup` / `restore`'s work
// (catalog.Backup, catalog.Restore) on a catalog of 20,000 files.
func BenchmarkBackupRestore(b *testing.B) {
	const n = 20000
	dir := b.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cat, err := catalog.Open(filepath.Join(dir, "catalog"), catalog.Options{NoSyncWrites: true, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	defer cat.Close()
	for i := range n {
		sum := sha256.Sum256(fmt.Appendf(nil, "file %d", i))
		id := hex.EncodeToString(sum[:])
		if _, err := cat.PutFile(storage.FileRecord{Volume: "footage", Path: fmt.Sprintf("day%d/A%05d.mov", i%10, i), Size: int64(i) * 1000,
			MTime: time.Unix(1700000000+int64(i), 0), Inode: uint64(i), Dev: 1, Hashes: storage.Hashes{BLAKE3: id, XXH128: id[:32]}}); err != nil {
			b.Fatal(err)
		}
	}
	var buf bytes.Buffer
	b.Run("backup", func(b *testing.B) {
		for b.Loop() {
			buf.Reset()
			if err := cat.Backup(&buf); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(buf.Len()), "stream-bytes")
		b.ReportMetric(float64(n), "files")
	})
	b.Run("restore", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if err := catalog.Restore(filepath.Join(b.TempDir(), fmt.Sprint(i)), bytes.NewReader(buf.Bytes())); err != nil {
				b.Fatal(err)
			}
		}
	})
}
