package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/ingestd/ingestd/daemon"
)

// cmdRun is `ingestd run [-config FILE]`: the daemon in the foreground
// until SIGTERM/SIGINT (daemon.Run). With INGESTD_CPUPROFILE=FILE set, a
// CPU profile of the whole run is written to FILE (created, truncated) and
// completed when the daemon stops: a diagnostic for `go tool pprof`, off
// unless the operator who starts the process asks for it.
func cmdRun(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	path := fs.String("config", "", "config file (default: embedded defaults: ./watch, ./state, 127.0.0.1:8470)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("run: unexpected argument %q", fs.Arg(0))
	}
	if prof := os.Getenv("INGESTD_CPUPROFILE"); prof != "" {
		stop, err := startCPUProfile(prof)
		if err != nil {
			return err
		}
		defer stop()
	}
	return daemon.Run(ctx, *path, stderr)
}

// startCPUProfile starts a CPU profile into path; stop ends and closes it.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("INGESTD_CPUPROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("INGESTD_CPUPROFILE %s: %w", path, err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
