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
		if !exists(filepath.Join(dir, "hold-all")) {
			return
		}
		base := gateName(dir, vol, rel)
		_ = os.WriteFile(base+".settled", nil, 0o644)
		waitMarker(ctx, func() bool {
			if exists(base + ".hang") {
				select {} // like a read(2) that never returns
			}
			return exists(base + ".go")
		})
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
		if !exists(filepath.Join(dir, "hold-catalog")) {
			return
		}
		for _, it := range batch {
			base := gateName(dir, it.j.v.name, it.j.e.Rel)
			_ = os.WriteFile(base+".hashed", nil, 0o644)
			if !waitMarker(ctx, func() bool { return exists(base + ".record") }) {
				return
			}
		}
	}
}

// gateName is DIR/<name> of a file (see HashGateEnv).
func gateName(dir, vol, rel string) string {
	return filepath.Join(dir, vol+"%"+strings.ReplaceAll(rel, "/", "%"))
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// waitMarker polls done every 10ms until it holds (true) or ctx ends.
func waitMarker(ctx context.Context, done func() bool) bool {
	for !done() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
	return true
}
