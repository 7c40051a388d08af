package main

import (
	"context"
	"io"

	"github.com/ingestd/ingestd/daemon"
)

// cmdRun is `ingestd run [-config FILE]`: the daemon in the foreground
// until SIGTERM/SIGINT (daemon.Run).
func cmdRun(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	path := fs.String("config", "", "config file (default: embedded defaults: ./watch, ./state, 127.0.0.1:8470)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("run: unexpected argument %q", fs.Arg(0))
	}
	return daemon.Run(ctx, *path, stderr)
}
