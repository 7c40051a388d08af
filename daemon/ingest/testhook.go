package ingest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// HashGateEnv names an environment variable for end-to-end fault
// injection ONLY (the TestSecurity5 tests of cmd/ingestd set it); never
// set it in production. Its value is a directory DIR. While DIR/hold-all
// exists, a hash worker about to open a settled file creates
// DIR/<name>.settled (name: the volume, "%", the relative path with "/"
// turned into "%") and waits:
//   - until DIR/<name>.go exists (or the daemon stops), so a test can swap
//     the file for a FIFO or a link between settle and hash
//     deterministically;
//   - forever, ignoring cancellation, once DIR/<name>.hang exists: a worker
//     stuck like a read(2) on a hung NFS server, which the drain must
//     abandon after the stop grace.
//
// Without DIR/hold-all the gate lets every file through at once.
//
// While DIR/hold-catalog exists, the catalog stage, about to record a
// batch of hashed files (read and re-stat'ed), creates DIR/<name>.hashed
// for each and waits until DIR/<name>.record exists for every one of
// them (or the daemon stops): a test changes a file after it was read and
// before it is recorded.
const HashGateEnv = "INGESTD_TEST_HASH_GATE"

func envHashGate(log *slog.Logger) func(ctx context.Context, vol, rel string) {
	dir := os.Getenv(HashGateEnv)
	if dir == "" {
		return nil
	}
	log.Warn("test-only hash gate is set: hashing waits for marker files", "env", HashGateEnv, "dir", dir)
	return func(ctx context.Context, vol, rel string) {
		name := vol + "%" + strings.ReplaceAll(rel, "/", "%")
		base := filepath.Join(dir, name)
		if _, err := os.Stat(filepath.Join(dir, "hold-all")); err != nil {
			return
		}
		_ = os.WriteFile(base+".settled", nil, 0o644)
		for {
			if _, err := os.Stat(base + ".hang"); err == nil {
				select {} // like a read(2) that never returns
			}
			if _, err := os.Stat(base + ".go"); err == nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

// envCatalogGate is HashGateEnv's hold of the catalog stage (nil when the
// variable is not set).
func envCatalogGate() func(ctx context.Context, batch []hashed) {
	dir := os.Getenv(HashGateEnv)
	if dir == "" {
		return nil
	}
	return func(ctx context.Context, batch []hashed) {
		if _, err := os.Stat(filepath.Join(dir, "hold-catalog")); err != nil {
			return
		}
		for _, it := range batch {
			base := filepath.Join(dir, it.j.v.name+"%"+strings.ReplaceAll(it.j.e.Rel, "/", "%"))
			_ = os.WriteFile(base+".hashed", nil, 0o644)
			for {
				if _, err := os.Stat(base + ".record"); err == nil {
					break
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}
	}
}
