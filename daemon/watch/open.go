package watch

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

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
	r, err := OpenRoot(root)
	if err != nil {
		return nil, Entry{}, err
	}
	defer r.Close()
	return r.OpenRegular(rel)
}

// Root is a volume's root folder held open, for a run of OpenRegular
// calls that do not each open (and stat, and close) the root again: the
// hash pool holds one while files keep coming. Holding it keeps the
// filesystem busy (an unmount fails with EBUSY), so a holder closes it
// when it goes idle, and compares Dev with the file it is about to open
// (a root mounted over since it was opened is another folder).
type Root struct {
	path string
	d    *safefs.Dir
}

// OpenRoot opens the volume root path (trusted: it comes from the
// configuration) for OpenRegular.
func OpenRoot(path string) (*Root, error) {
	d, err := safefs.OpenRoot(path, false)
	if err != nil {
		return nil, fmt.Errorf("open volume root %s: %w", path, err)
	}
	return &Root{path: strings.TrimSuffix(path, "/"), d: d}, nil
}

// Path is the root's path as it was opened (no trailing slash).
func (r *Root) Path() string { return r.path }

// Dev is the device of the root's filesystem.
func (r *Root) Dev() uint64 { return r.d.Dev() }

// Close closes the root.
func (r *Root) Close() error { return r.d.Close() }

// Current reports whether the root's path still names the folder held
// open (the same device and inode): not renamed, replaced or mounted over.
func (r *Root) Current() bool {
	var st, held unix.Stat_t
	if unix.Stat(r.path, &st) != nil || unix.Fstat(r.d.Fd(), &held) != nil {
		return false
	}
	return st.Dev == held.Dev && st.Ino == held.Ino
}

// OpenRegular is the package's OpenRegular of rel below the held root.
func (r *Root) OpenRegular(rel string) (*os.File, Entry, error) {
	fd, e, err := r.OpenRegularFd(rel)
	if err != nil {
		return nil, e, err
	}
	return os.NewFile(uintptr(fd), r.path+"/"+rel), e, nil
}

// OpenRegularFd is OpenRegular returning the bare descriptor, which the
// caller closes (unix.Close).
func (r *Root) OpenRegularFd(rel string) (int, Entry, error) {
	fd, st, err := r.d.OpenRegularFd(rel)
	return r.opened(rel, fd, st, err)
}

// OpenRegularFdIn is OpenRegularFd for a caller that reads many small
// files, folder after folder (the hash pool): rel's folder is resolved
// once and kept in c while files of that folder come (safefs.FolderCache:
// the caller compares the Entry's Dev and Ino with the file it expects,
// and when they differ or the open fails while c.Reused(), calls c.Reset
// and opens again), and the descriptor is left O_NONBLOCK (a read that
// fails with EAGAIN clears it and reads again: safefs.OpenRegularFdIn).
func (r *Root) OpenRegularFdIn(c *safefs.FolderCache, rel string) (int, Entry, error) {
	fd, st, err := r.d.OpenRegularFdIn(c, rel)
	return r.opened(rel, fd, st, err)
}

// opened turns safefs' result for rel into OpenRegularFd's.
func (r *Root) opened(rel string, fd int, st unix.Stat_t, err error) (int, Entry, error) {
	switch {
	case errors.Is(err, safefs.ErrNotRegular):
		return -1, Entry{}, &NotRegularError{Path: r.path + "/" + rel, Kind: safefs.ShortTypeName(st.Mode)}
	case errors.Is(err, safefs.ErrSymlink):
		// A link in the path (or the last component is, or became, one).
		return -1, Entry{}, &NotRegularError{Path: r.path + "/" + rel, Kind: "symlink"}
	case errors.Is(err, safefs.ErrOtherDevice), errors.Is(err, safefs.ErrBadName):
		return -1, Entry{}, &NotRegularError{Path: r.path + "/" + rel, Kind: "path leading out of the volume"}
	case err != nil:
		return -1, Entry{}, err
	}
	return fd, entryOf(rel, &st), nil
}
