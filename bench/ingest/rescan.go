package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/ingestd/ingestd/daemon/ingest"
	"github.com/ingestd/ingestd/daemon/watch"
	"github.com/ingestd/ingestd/storage/catalog"
)

func mktree(dir string, n int) error {
	for i := 0; i < n; i++ {
		d := filepath.Join(dir, fmt.Sprintf("d%03d", i/10000), fmt.Sprintf("e%03d", i/100%100))
		if i%100 == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("clip%06d.mov", i)), []byte(fmt.Sprintf("clip %d\n", i)), 0o644); err != nil {
			return err
		}
	}
	return nil
}

type run struct {
	cat    *catalog.Catalog
	p      *ingest.Pipeline
	cancel context.CancelFunc
	done   chan error
}

// startRun runs the pipeline over dir with its catalog in state; durable
// syncs every catalog write as the daemon does (group commit), otherwise
// the catalog runs with NoSyncWrites.
func startRun(state, dir string, settle, rescan time.Duration, durable bool) (*run, error) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cat, err := catalog.Open(state, catalog.Options{NoSyncWrites: !durable, Logger: log})
	if err != nil {
		return nil, err
	}
	p, err := ingest.New(ingest.Config{
		Volumes: []ingest.Volume{{Name: "bench", Path: dir}},
		Settle:  settle, Rescan: rescan,
	}, cat, log)
	if err != nil {
		cat.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{cat: cat, p: p, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	<-p.Ready()
	return r, nil
}

func (r *run) stop() error {
	r.cancel()
	err := <-r.done
	if cerr := r.cat.Close(); err == nil {
		err = cerr
	}
	return err
}

// rescan catalogs dir once (printing the initial ingest rate), restarts
// the pipeline on the unchanged tree (time to Ready: catalog index load +
// first walk) and lets it rescan `trials` times (walk + compare against
// the in-memory index), printing the files hashed (must stay 0); then a
// bare watch.Walk for reference. Output lines: "ingest FILES SECONDS",
// "restart FILES READY_SECONDS SCAN_SECONDS HASHED",
// "rescan FILES SECONDS HASHED", "walk FILES SECONDS".
func rescan(dir string, trials int) error {
	state, err := os.MkdirTemp("", "ingest-bench-state")
	if s := os.Getenv("INGEST_BENCH_STATE"); s != "" {
		state = s
	}
	if err != nil {
		return err
	}
	if os.Getenv("INGEST_BENCH_STATE") == "" {
		defer os.RemoveAll(state)
	}
	// The initial ingest is durable, like the daemon's (every catalog
	// write synced, concurrent writers sharing syncs); INGEST_BENCH_NOSYNC=1
	// measures it without syncs.
	t0 := time.Now()
	r, err := startRun(state, dir, 10*time.Millisecond, time.Hour, os.Getenv("INGEST_BENCH_NOSYNC") != "1")
	if err != nil {
		return err
	}
	var files int64
	for {
		st := r.p.Status()
		v := st.Volumes[0]
		if st.Queues.Settling == 0 && st.Queues.Hashing == 0 && v.Files > 0 && !v.Scanning {
			time.Sleep(100 * time.Millisecond)
			if st2 := r.p.Status(); st2.Queues.Settling == 0 && st2.Queues.Hashing == 0 {
				f, _, err := r.cat.VolumeStats("bench")
				if err != nil {
					return err
				}
				files = f
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Printf("ingest %d %.6f\n", files, time.Since(t0).Seconds())
	if err := r.stop(); err != nil {
		return err
	}
	t1 := time.Now()
	r, err = startRun(state, dir, 10*time.Millisecond, time.Second, false)
	if err != nil {
		return err
	}
	st := r.p.Status()
	v := st.Volumes[0]
	fmt.Printf("restart %d %.6f %.6f %d\n", v.Files, time.Since(t1).Seconds(), v.LastScanDuration.Seconds(), st.FilesHashed)
	last := v.LastScan
	for i := 0; i < trials; {
		time.Sleep(20 * time.Millisecond)
		st := r.p.Status()
		v := st.Volumes[0]
		if v.LastScan.Equal(last) {
			continue
		}
		last = v.LastScan
		i++
		fmt.Printf("rescan %d %.6f %d\n", v.Files, v.LastScanDuration.Seconds(), st.FilesHashed)
	}
	if err := r.stop(); err != nil {
		return err
	}
	for range trials {
		n := 0
		t := time.Now()
		if err := watch.Walk(dir, "", nil, watch.WalkFuncs{File: func(watch.Entry) { n++ }}); err != nil {
			return err
		}
		fmt.Printf("walk %d %.6f\n", n, time.Since(t).Seconds())
	}
	return nil
}
