package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/ingestd/ingestd/daemon"
	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/storage/catalog"
)

// cmdResetCatalog is `ingestd reset-catalog [-config FILE] [-state-dir DIR]
// --yes`: the way out when the daemon refuses a catalog (exit 65) and no
// backup is to be restored. The old catalog directory and identity file
// are moved aside (never deleted); a new catalog with a new catalog id and
// the same appliance id is created. The daemon re-catalogs the volumes on
// its next start; the hub must reset its cursor for this appliance.
func cmdResetCatalog(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("reset-catalog", stderr)
	path := fs.String("config", defaultClientConfig(), "config file naming state_dir (default $INGESTD_CONFIG, else "+SystemConfig+" when readable)")
	stateDir := fs.String("state-dir", "", "reset the catalog in this state dir instead of the config's")
	yes := fs.Bool("yes", false, "really do it (the event feed restarts at seq 1 under a new catalog id)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("reset-catalog: unexpected argument %q", fs.Arg(0))
	}
	dir, configured := *stateDir, ""
	if *path != "" {
		data, err := config.ReadFile(*path)
		if err != nil {
			return &config.Error{Msg: err.Error()}
		}
		cfg, err := config.Parse(data) // state_dir and appliance_id are all it needs
		if err != nil {
			return err
		}
		cfg.SetDefaults()
		configured = cfg.ApplianceID
		if dir == "" {
			dir = cfg.StateDir
		}
	}
	if dir == "" {
		return usagef("reset-catalog: -config FILE or -state-dir DIR is required")
	}
	if !*yes {
		return usagef("reset-catalog: this moves the catalog in %s aside and starts a new one with a new catalog id; the event feed restarts at seq 1 and the hub must reset its cursor for this appliance. Run with --yes (daemon stopped)", dir)
	}
	res, err := catalog.Reset(daemon.CatalogDir(dir), daemon.IdentityFile(dir), configured, catalog.Options{})
	if err != nil {
		return fmt.Errorf("reset-catalog: %w", err)
	}
	// Run as root in a state dir owned by the service user: hand the new
	// catalog to that user, or the daemon could not open it.
	if fi, err := os.Stat(dir); err == nil && os.Geteuid() == 0 {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
			chown := func(p string, _ os.DirEntry, err error) error {
				if err == nil {
					err = os.Lchown(p, int(st.Uid), int(st.Gid))
				}
				return err
			}
			if err := filepath.WalkDir(daemon.CatalogDir(dir), chown); err != nil {
				return fmt.Errorf("reset-catalog: %w", err)
			}
			if err := chown(daemon.IdentityFile(dir), nil, nil); err != nil {
				return fmt.Errorf("reset-catalog: %w", err)
			}
		}
	}
	if res.MovedTo != "" {
		fmt.Fprintf(stdout, "reset-catalog: old catalog moved to %s (nothing deleted; remove it once it is no longer needed)\n", res.MovedTo)
	}
	was := "none"
	if res.Old != nil {
		was = fmt.Sprintf("%s, last seq %d", res.Old.CatalogID, res.Old.LastSeq)
	}
	fmt.Fprintf(stdout, "reset-catalog: new catalog_id %s (was %s); appliance_id %s kept\n", res.New.CatalogID, was, res.New.ApplianceID)
	fmt.Fprintf(stdout, "reset-catalog: the event feed restarts at seq 1: the hub must reset its cursor for appliance %s to 0 (it sees the new catalog_id in GET /v1/status); the daemon re-catalogs every volume on its next start\n", res.New.ApplianceID)
	return nil
}
