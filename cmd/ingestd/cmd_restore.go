package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ingestd/ingestd/daemon"
	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/storage/catalog"
)

// cmdRestore loads a backup into the config's state dir, which must be
// empty or absent (restore never merges into a catalog). It runs with the
// daemon stopped: the daemon would hold the catalog.
func cmdRestore(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("restore", stderr)
	path := fs.String("config", defaultClientConfig(), "config file naming state_dir (default $INGESTD_CONFIG, else "+SystemConfig+" when readable)")
	stateDir := fs.String("state-dir", "", "restore into this state dir instead of the config's")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("restore: want exactly one backup FILE (\"-\" for stdin)")
	}
	dir := *stateDir
	if dir == "" {
		if *path == "" {
			return usagef("restore: -config FILE or -state-dir DIR is required")
		}
		data, err := config.ReadFile(*path)
		if err != nil {
			return &config.Error{Msg: err.Error()}
		}
		cfg, err := config.Parse(data) // state_dir is all restore needs
		if err != nil {
			return err
		}
		cfg.SetDefaults()
		dir = cfg.StateDir
	}
	var owner *syscall.Stat_t
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("restore: state dir %s: %w", dir, err)
	case len(ents) > 0:
		return fmt.Errorf("restore: state dir %s is not empty (%d entries, e.g. %s): restore only into an empty state dir; stop the daemon and move the old one aside first", dir, len(ents), ents[0].Name())
	default:
		if fi, err := os.Stat(dir); err == nil {
			owner, _ = fi.Sys().(*syscall.Stat_t)
		}
	}
	var in io.Reader = os.Stdin
	if pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		defer f.Close()
		in = f
	}
	start := time.Now()
	catDir := daemon.CatalogDir(dir)
	if err := catalog.Restore(catDir, in); err != nil {
		// Leave the state dir as empty as it was found.
		os.RemoveAll(catDir)
		return fmt.Errorf("restore: %w", err)
	}
	// Run as root into a state dir owned by the service user: hand the
	// restored files to that user, or the daemon could not open them.
	if owner != nil && os.Geteuid() == 0 && owner.Uid != 0 {
		_ = filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
			if err == nil {
				err = os.Lchown(p, int(owner.Uid), int(owner.Gid))
			}
			return err
		})
	}
	fmt.Fprintf(stdout, "restore: catalog restored into %s in %s; start the daemon\n", catDir, time.Since(start).Round(time.Millisecond))
	return nil
}
