package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/ingestd/ingestd/daemon/watch"
	"github.com/ingestd/ingestd/internal/testutil"
)

// BenchmarkHashSmallFiles is the hash workers' path for one small file
// (issue 15 item 1: a first ingest of many small files): open below the
// held volume root without following links, read, BLAKE3+xxh128, re-stat.
// No catalog: hash only. Reported per file; compare runs of it (go test
// -bench HashSmallFiles -count 5), never a fixed time.
func BenchmarkHashSmallFiles(b *testing.B) {
	root := b.TempDir()
	const n = 2000
	var jobs []job
	v := &volume{name: "v", root: root, quit: make(chan struct{})}
	v.online.Store(true)
	for i := range n {
		rel := fmt.Sprintf("d%02d/clip%05d.mov", i/100, i)
		testutil.WriteFile(b, filepath.Join(root, rel), fmt.Sprintf("clip %d\n", i))
		e, ok, err := watch.Stat(root, rel)
		if err != nil || !ok {
			b.Fatal(err)
		}
		jobs = append(jobs, job{v: v, e: e})
	}
	h := newHashPool(1, nil, &tunables{}, &counters{}, func() bool { return false }, slog.New(slog.DiscardHandler))
	h.settled = func(job, *watch.Entry) {}
	var roots rootCache
	defer roots.close()
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		if _, ok := h.hash(ctx, jobs[i%n], &roots); !ok {
			b.Fatal("not hashed")
		}
	}
}
