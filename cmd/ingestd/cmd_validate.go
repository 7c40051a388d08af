package main

import (
	"fmt"
	"io"

	"github.com/ingestd/ingestd/daemon/config"
)

// cmdValidate is `ingestd validate -config FILE`: "config OK", or the
// config error (exit status 78).
func cmdValidate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("validate", stderr)
	path := fs.String("config", "", "config file to check")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("validate: unexpected argument %q (one config per run: -config FILE)", fs.Arg(0))
	}
	if *path == "" {
		return usagef("validate: -config FILE is required")
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	for _, w := range append(cfg.VolumeWarnings(), cfg.PermissionWarnings()...) {
		fmt.Fprintln(stderr, "warning: config:", w)
	}
	fmt.Fprintln(stdout, "config OK")
	return nil
}
