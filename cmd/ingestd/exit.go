package main

import (
	"errors"

	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/storage/catalog"
)

// Exit statuses of the ingestd binary (sysexits.h codes where one fits).
// A Go panic or runtime fatal error (e.g. SIGBUS from a full disk under
// Badger's memory map) exits 2, so 2 is never used on purpose: a service
// manager may restart after 2 but must not after the codes that a restart
// cannot fix (ExitUsage, ExitCatalogIdentity, ExitConfig; the unit's
// RestartPreventExitStatus=).
const (
	ExitOK      = 0
	ExitFailure = 1 // runtime error (daemon unreachable, 404, a failed service, ...)
	// ExitUsage is a command-line mistake (EX_USAGE).
	ExitUsage = 64
	// ExitCatalogIdentity: the catalog in state_dir is not the one its
	// identity file names (lost or cut MANIFEST, catalog directory gone,
	// events lost); the daemon refuses to start on it (EX_DATAERR).
	// Recover with `ingestd restore` or `ingestd reset-catalog`.
	ExitCatalogIdentity = 65
	// ExitConfig is an invalid config (EX_CONFIG).
	ExitConfig = 78
)

// exitStatus maps run's error to the process exit status.
func exitStatus(err error) int {
	var usage *UsageError
	var bad *config.Error
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &usage):
		return ExitUsage
	case errors.As(err, &bad):
		return ExitConfig
	case errors.Is(err, catalog.ErrIdentityMismatch):
		return ExitCatalogIdentity
	}
	return ExitFailure
}
