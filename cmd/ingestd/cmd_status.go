package main

// `ingestd status [--json] [-watch 2s]`: the running daemon's GET
// /v1/status, once (cmdClient) or redrawn every interval.

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	every, rest, ok, err := statusWatch(args)
	if err != nil {
		return err
	}
	if ok {
		return cmdStatusWatch(ctx, every, rest, stdout, stderr)
	}
	return cmdClient(ctx, "status", args, stdout, stderr)
}

// statusWatch extracts `-watch DURATION` (or -watch=D, --watch) from the
// status command's arguments; ok is false when it is absent.
func statusWatch(args []string) (every time.Duration, rest []string, ok bool, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "watch" {
			rest = append(rest, a)
			continue
		}
		ok = true
		if !hasVal {
			if i+1 >= len(args) {
				return 0, nil, true, usagef("status: -watch needs a duration, e.g. -watch 2s")
			}
			i++
			val = args[i]
		}
		every, err = time.ParseDuration(val)
		if err != nil || every < 100*time.Millisecond {
			return 0, nil, true, usagef("status: -watch wants a duration of at least 100ms, got %q", val)
		}
	}
	return every, rest, ok, nil
}

// cmdStatusWatch repeats `ingestd status` every interval until ctx ends or
// the daemon cannot be reached: on a terminal it redraws the screen (the
// bars move), piped it appends one block per interval.
func cmdStatusWatch(ctx context.Context, every time.Duration, args []string, stdout, stderr io.Writer) error {
	tty, _ := ttyInfo(stdout)
	for {
		if tty {
			fmt.Fprint(stdout, "\x1b[H\x1b[2J")
		}
		if err := cmdClient(ctx, "status", args, stdout, stderr); err != nil {
			return err
		}
		if !tty {
			fmt.Fprintln(stdout)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}
