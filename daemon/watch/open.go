package watch

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ingestd/ingestd/internal/safefs"
)

// ErrNotRegular is wrapped by the *NotRegularError OpenRegular returns.
var ErrNotRegular = errors.New("not a regular file")

// NotRegularError says that a path that should hold a regular file holds
// something else (a FIFO, a device, a socket, a directory, a symbolic
// link, or a path whose directories include a link). It was not read.
type NotRegularError struct {
	Path string
	Kind string // "fifo", "symlink", "char device", ...
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s is a %s, not a regular file: not read", e.Path, e.Kind)
}

func (e *NotRegularError) Unwrap() error { return ErrNotRegular }

// OpenRegular opens root/rel for one read without ever following a link or
// blocking in open (internal/safefs, the one implementation of these
// opens): rel is resolved beneath root with no symbolic link in any of its
// components (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS; on kernels
// without openat2, each component in turn with O_NOFOLLOW), it is stat'ed
// first so a device or FIFO already there is never opened, the file is
// opened O_NONBLOCK (a FIFO swapped in opens at once instead of waiting for
// a writer), and the open descriptor is fstat'ed: anything but a regular
// file is closed unread and reported as a *NotRegularError. The Entry is
// the descriptor's stat, so a caller compares its Dev and Ino with the
// settled ones: the file read is the one that settled, not one swapped in
// since. O_NOATIME is used where permitted. The returned file is blocking
// again (O_NONBLOCK cleared).
func OpenRegular(root, rel string) (*os.File, Entry, error) {
	abs := strings.TrimSuffix(root, "/") + "/" + rel
	d, err := safefs.OpenRoot(root, false)
	if err != nil {
		return nil, Entry{}, fmt.Errorf("open volume root %s: %w", root, err)
	}
	defer d.Close()
	f, st, err := d.OpenRegular(rel)
	switch {
	case errors.Is(err, safefs.ErrNotRegular):
		return nil, Entry{}, &NotRegularError{Path: abs, Kind: safefs.ShortTypeName(st.Mode)}
	case errors.Is(err, safefs.ErrSymlink):
		// A link in the path (or the last component is, or became, one).
		return nil, Entry{}, &NotRegularError{Path: abs, Kind: "symlink"}
	case errors.Is(err, safefs.ErrOtherDevice), errors.Is(err, safefs.ErrBadName):
		return nil, Entry{}, &NotRegularError{Path: abs, Kind: "path leading out of the volume"}
	case err != nil:
		return nil, Entry{}, err
	}
	return f, entryOf(rel, &st), nil
}
