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

	"github.com/ingestd/ingestd/daemon"
)

func main() {
	err := daemon.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingestd:", err)
	}
	os.Exit(daemon.ExitStatus(err))
}
