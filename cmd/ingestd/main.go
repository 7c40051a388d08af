// Command ingestd is the edge ingest daemon and its CLI. Everything lives in
// package daemon; main only maps the result to an exit status
// (daemon.ExitStatus): 0 ok, 1 runtime error, 64 usage error, 65 catalog
// identity mismatch (the daemon refuses a catalog that is not the one
// state_dir recorded), 78 config error. 2 is left to Go itself (a panic or
// fatal runtime error), so that systemd restarts a crash but not a config
// error.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/ingestd/ingestd/daemon"
)

// memLimit is the Go heap's soft limit unless GOMEMLIMIT says otherwise
// (issue 15: RSS <= 256 MB with 1M cataloged files). The GC works harder
// near it instead of letting the heap double past the live data; Badger's
// mapped tables come on top (file pages the kernel can reclaim).
const memLimit = 200 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memLimit)
	}
	err := daemon.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingestd:", err)
	}
	os.Exit(daemon.ExitStatus(err))
}
