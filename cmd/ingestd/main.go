// Command ingestd is the edge ingest daemon and its CLI. Everything lives in
// package daemon; main only maps the result to an exit status:
// 0 ok, 1 runtime error, 2 usage or config error.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/ingestd/ingestd/daemon"
	"github.com/ingestd/ingestd/daemon/config"
)

func main() {
	err := daemon.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	var usage *daemon.UsageError
	var bad *config.Error
	switch {
	case err == nil:
		os.Exit(0)
	case errors.As(err, &usage), errors.As(err, &bad):
		fmt.Fprintln(os.Stderr, "ingestd:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "ingestd:", err)
		os.Exit(1)
	}
}
