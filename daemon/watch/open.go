package watch

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
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

// Kind names a stat mode's file type ("regular file", "fifo", ...).
func Kind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "regular file"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR:
		return "char device"
	case unix.S_IFBLK:
		return "block device"
	}
	return "special file"
}

// openat2 is unix.Openat2; a test replaces it to exercise the fallback.
var openat2 = unix.Openat2

// OpenRegular opens root/rel for one read without ever following a link or
// blocking in open: rel is resolved beneath root with no symbolic link in
// any of its components (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS; on
// kernels without openat2, O_NOFOLLOW on the last component), the file is
// opened O_NONBLOCK (a FIFO opens at once instead of waiting for a
// writer), and the open descriptor is fstat'ed: anything but a regular
// file is closed unread and reported as a *NotRegularError. The Entry is
// the descriptor's stat, so a caller compares its Dev and Ino with the
// settled ones: the file read is the one that settled, not one swapped in
// since. O_NOATIME is used where permitted. The returned file is blocking
// again (O_NONBLOCK cleared).
func OpenRegular(root, rel string) (*os.File, Entry, error) {
	abs := strings.TrimSuffix(root, "/") + "/" + rel
	dirfd, err := openRetry(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return nil, Entry{}, fmt.Errorf("open volume root %s: %w", root, err)
	}
	defer unix.Close(dirfd)
	// Stat first: a device or FIFO already there is never opened at all
	// (opening some devices has side effects).
	var st unix.Stat_t
	if err := fstatat(dirfd, rel, &st); err != nil {
		return nil, Entry{}, &os.PathError{Op: "stat", Path: abs, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, Entry{}, &NotRegularError{Path: abs, Kind: Kind(st.Mode)}
	}
	flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC
	fd, err := openBeneath(dirfd, rel, flags|unix.O_NOATIME)
	if errors.Is(err, unix.EPERM) {
		fd, err = openBeneath(dirfd, rel, flags)
	}
	if errors.Is(err, unix.ELOOP) {
		// A link in the path (or the last component became one).
		return nil, Entry{}, &NotRegularError{Path: abs, Kind: "symlink"}
	}
	if errors.Is(err, unix.EXDEV) {
		return nil, Entry{}, &NotRegularError{Path: abs, Kind: "path leading out of the volume"}
	}
	if err != nil {
		return nil, Entry{}, &os.PathError{Op: "open", Path: abs, Err: err}
	}
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, Entry{}, &os.PathError{Op: "fstat", Path: abs, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, Entry{}, &NotRegularError{Path: abs, Kind: Kind(st.Mode)}
	}
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil {
		_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
	}
	return os.NewFile(uintptr(fd), abs), entryOf(rel, &st), nil
}

// openBeneath opens rel relative to dirfd, refusing any symbolic link on
// the way and any escape from dirfd.
func openBeneath(dirfd int, rel string, flags int) (int, error) {
	for {
		fd, err := openat2(dirfd, rel, &unix.OpenHow{
			Flags:   uint64(flags),
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOSYS):
			return openatNoFollow(dirfd, rel, flags)
		}
		return fd, err
	}
}

func openatNoFollow(dirfd int, rel string, flags int) (int, error) {
	if strings.HasPrefix(rel, "/") || rel == ".." || strings.HasPrefix(rel, "../") || strings.Contains(rel, "/../") || strings.HasSuffix(rel, "/..") {
		return -1, unix.EXDEV
	}
	for {
		fd, err := unix.Openat(dirfd, rel, flags|unix.O_NOFOLLOW, 0)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}
