// Command ingest is the harness bench/ingest.sh runs: it times the ingest
// engineer's hot paths on files and trees the script prepares, so the script
// can print them next to reference tools (b3sum, xxhsum, find) run on the
// same data in the same run. It reads only what it is given.
//
//	go run ./bench/ingest hash FILE...        one HashFile per file, serially
//	go run ./bench/ingest hashpool N FILE...  the same files through N workers
//	go run ./bench/ingest mktree DIR N        N small files in DIR (100 per directory)
//	go run ./bench/ingest ingest DIR STATE N  first durable ingest of DIR (N files) into a new
//	                                          catalog in STATE (real pipeline, real catalog), with
//	                                          this process's peak and steady RSS
//	go run ./bench/ingest rescan DIR STATE [TRIALS]
//	                                          restart on that catalog and time rescans of the
//	                                          unchanged tree, page the assets; peak and final RSS
package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/ingestd/ingestd/daemon/ingest"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: ingest hash FILE... | hashpool N FILE... | mktree DIR N | ingest DIR STATE N | rescan DIR STATE [TRIALS]")
		os.Exit(2)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(150 << 20) // as cmd/ingestd does
	}
	var err error
	switch os.Args[1] {
	case "hash":
		err = hashFiles(1, os.Args[2:])
	case "mktree":
		n, _ := strconv.Atoi(os.Args[3])
		err = mktree(os.Args[2], n)
	case "ingest":
		if len(os.Args) < 5 {
			err = fmt.Errorf("usage: ingest DIR STATE N")
			break
		}
		n, _ := strconv.ParseInt(os.Args[4], 10, 64)
		err = firstIngest(os.Args[2], os.Args[3], n)
	case "rescan":
		if len(os.Args) < 4 {
			err = fmt.Errorf("usage: rescan DIR STATE [TRIALS]")
			break
		}
		trials := 3
		if len(os.Args) > 4 {
			trials, _ = strconv.Atoi(os.Args[4])
		}
		err = rescan(os.Args[2], os.Args[3], trials)
	case "hashpool":
		n, _ := strconv.Atoi(os.Args[2])
		err = hashFiles(n, os.Args[3:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingest bench:", err)
		os.Exit(1)
	}
}

// hashFiles prints "BYTES SECONDS".
func hashFiles(workers int, files []string) error {
	if workers < 1 {
		workers = 1
	}
	start := time.Now()
	var mu sync.Mutex
	var total int64
	var firstErr error
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range jobs {
				_, n, err := ingest.HashFile(f)
				mu.Lock()
				total += n
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	for _, f := range files {
		jobs <- f
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	fmt.Printf("%d %.6f\n", total, time.Since(start).Seconds())
	return nil
}
