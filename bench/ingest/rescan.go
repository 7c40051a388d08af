package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
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
	cat, err := catalog.Open(state, catalog.Options{NoSyncWrites: !durable, Logger: log, KeepMapped: os.Getenv("INGEST_BENCH_KEEPMAPPED") == "1"})
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

// memKB returns this process's VmHWM (peak RSS), VmRSS and RssAnon (the
// part of VmRSS that is not mapped files: Badger maps its tables and logs,
// which on tmpfs count as resident) in KiB.
func memKB() (hwm, rss, anon int64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmHWM":
			hwm = n
		case "VmRSS":
			rss = n
		case "RssAnon":
			anon = n
		}
	}
	return hwm, rss, anon
}

// cpuSeconds is this process's CPU time so far (user + system).
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// startProfile starts a CPU profile into $INGEST_BENCH_CPUPROFILE when set.
func startProfile() (stop func(), err error) {
	prof := os.Getenv("INGEST_BENCH_CPUPROFILE")
	if prof == "" {
		return func() {}, nil
	}
	f, err := os.Create(prof)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// heapProfile writes a heap profile into $INGEST_BENCH_MEMPROFILE when set.
func heapProfile() {
	if prof := os.Getenv("INGEST_BENCH_MEMPROFILE"); prof != "" {
		if f, err := os.Create(prof); err == nil {
			pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}
}

// firstIngest catalogs dir into a new catalog in state, durable like the
// daemon (every catalog write synced before it is acknowledged;
// INGEST_BENCH_NOSYNC=1 turns syncing off), and returns once want files
// are cataloged and nothing is queued. Output line: "ingest FILES SECONDS
// CPU_SECONDS PEAK_RSS_KB RSS_KB ANON_KB IDLE_RSS_KB IDLE_ANON_KB" (the process's
// VmHWM, VmRSS and RssAnon at the end, and VmRSS and RssAnon after IDLE
// seconds with the pipeline still running, $INGEST_BENCH_IDLE, default 3).
func firstIngest(dir, state string, want int64) error {
	stopProf, err := startProfile()
	if err != nil {
		return err
	}
	t0, cpu0 := time.Now(), cpuSeconds()
	r, err := startRun(state, dir, 10*time.Millisecond, time.Hour, os.Getenv("INGEST_BENCH_NOSYNC") != "1")
	if err != nil {
		return err
	}
	for {
		st := r.p.Status()
		// Status counts from the pipeline's index; the catalog's own count
		// (a scan of every location) only once that says done.
		if v := st.Volumes[0]; st.Queues.Settling == 0 && st.Queues.Hashing == 0 && !v.Scanning && v.Files >= want {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	secs, cpu := time.Since(t0).Seconds(), cpuSeconds()-cpu0
	stopProf()
	// The catalog's own count: every file is in it (and durable: a file
	// leaves the hashing queue only once its catalog write is synced).
	files, _, err := r.cat.VolumeStats("bench")
	if err != nil {
		return err
	}
	if files < want {
		return fmt.Errorf("the pipeline is idle with %d files cataloged, want %d", files, want)
	}
	hwm, rss, anon := memKB()
	heapProfile()
	idle := 3
	if s := os.Getenv("INGEST_BENCH_IDLE"); s != "" {
		idle, _ = strconv.Atoi(s)
	}
	time.Sleep(time.Duration(idle) * time.Second)
	_, idleRSS, idleAnon := memKB()
	fmt.Printf("ingest %d %.6f %.3f %d %d %d %d %d\n", files, secs, cpu, hwm, rss, anon, idleRSS, idleAnon)
	return r.stop()
}

// rescan restarts the pipeline on the catalog in state (made by
// firstIngest) over the unchanged tree dir, in a process of its own: time
// to Ready (catalog index load + first walk), then `trials` rescans (walk
// + compare against the in-memory index), printing the files hashed (must
// stay 0); then pages every asset through the catalog as the API does
// (/v1/assets), then a bare watch.Walk for reference. Output lines:
// "restart FILES READY_SECONDS SCAN_SECONDS HASHED", "rescan FILES
// SECONDS HASHED", "page ASSETS SECONDS", "walk FILES SECONDS", "rss
// PEAK_RSS_KB RSS_KB ANON_KB" (VmHWM, VmRSS, RssAnon of this process at
// the end).
func rescan(dir, state string, trials int) error {
	t1 := time.Now()
	r, err := startRun(state, dir, 10*time.Millisecond, time.Second, false)
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
	if prof := os.Getenv("INGEST_BENCH_PAGEPROFILE"); prof != "" {
		f, err := os.Create(prof)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	t2 := time.Now()
	assets, after := 0, ""
	var costs []time.Duration // each page's time: the first, middle and last are printed
	for {
		tp := time.Now()
		page, err := r.cat.Assets(after, 1000)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		costs = append(costs, time.Since(tp))
		assets += len(page)
		after = page[len(page)-1].ID
	}
	fmt.Printf("page %d %.6f\n", assets, time.Since(t2).Seconds())
	if n := len(costs); n > 0 {
		// The median of 10 pages at the start, the middle and the end.
		med := func(from int) float64 {
			from = max(0, min(from, n-10))
			w := slices.Clone(costs[from:min(n, from+10)])
			slices.Sort(w)
			return w[len(w)/2].Seconds()
		}
		fmt.Printf("pagecost %d %.6f %.6f %.6f\n", n, med(0), med(n/2-5), med(n-10))
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
	hwm, rss, anon := memKB()
	fmt.Printf("rss %d %d %d\n", hwm, rss, anon)
	return nil
}
