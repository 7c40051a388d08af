// Package safefs forwards to internal/safefs, the one implementation of
// the no-symlink, beneath-a-held-directory opens (daemon/watch uses it
// too). It is kept only so the card packages' imports need not change all
// at once; new code imports github.com/ingestd/ingestd/internal/safefs.
package safefs

import "github.com/ingestd/ingestd/internal/safefs"

// Dir is safefs.Dir.
type Dir = safefs.Dir

// Errors: the same values as internal/safefs's (errors.Is matches either).
var (
	ErrSymlink     = safefs.ErrSymlink
	ErrNotRegular  = safefs.ErrNotRegular
	ErrOtherDevice = safefs.ErrOtherDevice
	ErrTooLarge    = safefs.ErrTooLarge
	ErrBadName     = safefs.ErrBadName
)

// OpenRoot is safefs.OpenRoot.
func OpenRoot(p string, sameDevice bool) (*Dir, error) { return safefs.OpenRoot(p, sameDevice) }

// TypeName is safefs.TypeName.
func TypeName(mode uint32) string { return safefs.TypeName(mode) }
