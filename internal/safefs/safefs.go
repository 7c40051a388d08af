// Package safefs opens, creates and renames files below a directory that
// is held open, without ever following a symlink and without leaving it:
// watched volumes (daemon/watch, for ingest and fixity reads), the card
// offload's destination (a volume others can write to) and the card itself
// (whatever a camera, or someone else, put on it) are all untrusted trees.
// It is the one implementation of these opens; it must not know about
// volumes, cards or the catalog.
//
// Every name is resolved from the held directory with openat2(2) and
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS (plus
// RESOLVE_NO_XDEV for a Dir opened with SameDevice). Where the kernel has
// no openat2 (before 5.6, or a seccomp filter answering ENOSYS) each
// component is opened in turn with O_NOFOLLOW, which refuses the same
// things. A symlink anywhere on the way fails with ErrSymlink.
package safefs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Errors, checked with errors.Is.
var (
	ErrSymlink     = errors.New("symlink in the path (not followed)")
	ErrNotRegular  = errors.New("not a regular file")
	ErrOtherDevice = errors.New("on another filesystem")
	ErrTooLarge    = errors.New("file larger than the limit")
	ErrBadName     = errors.New("absolute path or .. in a name")
)

// noOpenat2 is set once openat2 answered ENOSYS (or by tests) and the
// component-by-component walk is used from then on.
var noOpenat2 atomic.Bool

// openat2 is unix.Openat2; a test replaces it to act between a stat and
// the open.
var openat2 = unix.Openat2

// Dir is a directory held open.
type Dir struct {
	f       *os.File
	name    string // for messages: the path it was opened at
	dev     uint64
	sameDev bool
}

// OpenRoot opens the trusted folder p (symlinks in p itself are followed:
// it comes from the configuration or the caller). With sameDevice, files
// on another filesystem mounted below it are refused (ErrOtherDevice).
func OpenRoot(p string, sameDevice bool) (*Dir, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	for err == unix.EINTR { // a FUSE mount interrupted by a signal
		fd, err = unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	return newDir(fd, p, sameDevice, 0)
}

func newDir(fd int, name string, sameDev bool, wantDev uint64) (*Dir, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	if sameDev && wantDev != 0 && uint64(st.Dev) != wantDev {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", name, ErrOtherDevice)
	}
	return &Dir{f: os.NewFile(uintptr(fd), name), name: name, dev: uint64(st.Dev), sameDev: sameDev}, nil
}

// Close closes the directory.
func (d *Dir) Close() error { return d.f.Close() }

// Name is the path the directory was opened at (for messages).
func (d *Dir) Name() string { return d.name }

// Dev is the device number of the directory's filesystem.
func (d *Dir) Dev() uint64 { return d.dev }

// Fd is the directory's descriptor.
func (d *Dir) Fd() int { return int(d.f.Fd()) }

func (d *Dir) join(rel string) string { return filepath.Join(d.name, filepath.FromSlash(rel)) }

// clean checks a slash-separated relative name: not absolute, no "..".
func clean(rel string) (string, error) {
	if rel == "" || rel == "." {
		return ".", nil
	}
	if strings.HasPrefix(rel, "/") || strings.ContainsRune(rel, 0) {
		return "", fmt.Errorf("%q: %w", rel, ErrBadName)
	}
	for el := range strings.SplitSeq(rel, "/") { // no allocation: runs on every open
		if el == ".." {
			return "", fmt.Errorf("%q: %w", rel, ErrBadName)
		}
	}
	return path.Clean(rel), nil
}

// wrap names the path and turns ELOOP into ErrSymlink, EXDEV into
// ErrOtherDevice.
func (d *Dir) wrap(op, rel string, err error) error {
	p := d.join(rel)
	switch {
	case errors.Is(err, unix.ELOOP):
		return &fs.PathError{Op: op, Path: p, Err: fmt.Errorf("%w: %w", ErrSymlink, err)}
	case errors.Is(err, unix.EXDEV):
		return &fs.PathError{Op: op, Path: p, Err: fmt.Errorf("%w: %w", ErrOtherDevice, err)}
	}
	return &fs.PathError{Op: op, Path: p, Err: err}
}

// openat opens rel below d with flags (O_NOFOLLOW and O_CLOEXEC are
// always added) and returns the raw descriptor.
func (d *Dir) openat(rel string, flags int, perm uint32) (int, error) {
	rel, err := clean(rel)
	if err != nil {
		return -1, err
	}
	flags |= unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := d.openat1(rel, flags, perm)
	if err == unix.ENOTDIR && d.symlinkOnPath(rel) {
		err = unix.ELOOP
	}
	return fd, err
}

func (d *Dir) openat1(rel string, flags int, perm uint32) (int, error) {
	if rel == "." {
		return unix.Openat(d.Fd(), ".", flags&^(unix.O_CREAT|unix.O_EXCL|unix.O_TRUNC), 0)
	}
	if !noOpenat2.Load() {
		how := unix.OpenHow{Flags: uint64(flags), Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
		if flags&unix.O_CREAT != 0 {
			how.Mode = uint64(perm)
		}
		if d.sameDev {
			how.Resolve |= unix.RESOLVE_NO_XDEV
		}
		for {
			fd, err := openat2(d.Fd(), rel, &how)
			if err == unix.EINTR || err == unix.EAGAIN {
				continue // EAGAIN: a concurrent rename somewhere; retry
			}
			if err != unix.ENOSYS {
				return fd, err
			}
			noOpenat2.Store(true)
			break
		}
	}
	// Walk: every directory component with O_NOFOLLOW|O_DIRECTORY, then the
	// last one with the caller's flags plus O_NOFOLLOW.
	els := strings.Split(rel, "/")
	cur := d.Fd()
	for i, el := range els {
		last := i == len(els)-1
		fl := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if last {
			fl = flags
		}
		fd, err := unix.Openat(cur, el, fl, perm)
		if cur != d.Fd() {
			unix.Close(cur)
		}
		if err != nil {
			return -1, err
		}
		if d.sameDev {
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil || uint64(st.Dev) != d.dev {
				unix.Close(fd)
				return -1, unix.EXDEV
			}
		}
		cur = fd
	}
	return cur, nil
}

// symlinkOnPath tells a symlink apart from a plain non-directory when
// opening rel failed with ENOTDIR (O_DIRECTORY|O_NOFOLLOW on a symlink
// says ENOTDIR): it looks at each prefix of rel in turn, never through a
// symlink.
func (d *Dir) symlinkOnPath(rel string) bool {
	els := strings.Split(rel, "/")
	for i := range els {
		var st unix.Stat_t
		if unix.Fstatat(d.Fd(), strings.Join(els[:i+1], "/"), &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			return false
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			return true
		case unix.S_IFDIR:
		default:
			return false
		}
	}
	return false
}

// OpenDir opens the directory rel below d.
func (d *Dir) OpenDir(rel string) (*Dir, error) {
	fd, err := d.openat(rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, d.wrap("open", rel, err)
	}
	return newDir(fd, d.join(rel), d.sameDev, d.dev)
}

// MkdirAll creates rel below d where missing (each component a real
// directory, never a symlink) and opens it.
func (d *Dir) MkdirAll(rel string, perm os.FileMode) (*Dir, error) {
	rel, err := clean(rel)
	if err != nil {
		return nil, err
	}
	cur := d
	if rel != "." {
		done := ""
		for _, el := range strings.Split(rel, "/") {
			done = path.Join(done, el)
			if err := unix.Mkdirat(cur.Fd(), el, uint32(perm.Perm())); err != nil && err != unix.EEXIST {
				if cur != d {
					cur.Close()
				}
				return nil, d.wrap("mkdir", done, err)
			}
			next, err := cur.OpenDir(el)
			if cur != d {
				cur.Close()
			}
			if err != nil {
				return nil, err
			}
			next.name = d.join(done)
			cur = next
		}
		return cur, nil
	}
	return d.OpenDir(".")
}

// OpenFile opens rel below d with flags (os.O_*); O_NOFOLLOW is added.
func (d *Dir) OpenFile(rel string, flags int, perm os.FileMode) (*os.File, error) {
	fd, err := d.openat(rel, flags, uint32(perm.Perm()))
	if err != nil {
		return nil, d.wrap("open", rel, err)
	}
	return os.NewFile(uintptr(fd), d.join(rel)), nil
}

// OpenRegular opens rel below d for reading, only when it is a regular
// file: rel is stat'ed first, so a device, FIFO or socket already there is
// never opened at all (opening some devices has side effects) and fails
// with ErrNotRegular, a symlink with ErrSymlink; the open itself is
// O_NONBLOCK (a FIFO swapped in since the stat opens at once instead of
// waiting for a writer) and its descriptor is fstat'ed again, so the file
// returned, and the Stat_t, are the regular file actually opened. The
// Stat_t is also returned with an ErrNotRegular error (its type). O_NOATIME
// is used where permitted. The descriptor is blocking again when returned.
func (d *Dir) OpenRegular(rel string) (*os.File, unix.Stat_t, error) {
	fd, st, err := d.OpenRegularFd(rel)
	if err != nil {
		return nil, st, err
	}
	return os.NewFile(uintptr(fd), d.join(rel)), st, nil
}

// OpenRegularFd is OpenRegular returning the bare descriptor (the caller
// closes it with unix.Close): no *os.File for a caller that reads a small
// file once (os.NewFile costs an fcntl and a finalizer per file).
func (d *Dir) OpenRegularFd(rel string) (int, unix.Stat_t, error) {
	return d.openRegularFd(rel, true)
}

// openRegularFd is OpenRegularFd; with blocking false the descriptor is
// left O_NONBLOCK (OpenRegularFdIn).
func (d *Dir) openRegularFd(rel string, blocking bool) (int, unix.Stat_t, error) {
	st, err := d.Lstat(rel)
	switch {
	case err != nil:
		return -1, st, err
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return -1, st, d.wrap("open", rel, unix.ELOOP)
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return -1, st, &fs.PathError{Op: "open", Path: d.join(rel), Err: fmt.Errorf("%w (%s)", ErrNotRegular, TypeName(st.Mode))}
	}
	const flags = unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOCTTY
	setfl := unix.O_NOATIME // the status flags the descriptor keeps (below)
	fd, err := d.openat(rel, flags|unix.O_NOATIME, 0)
	if err == unix.EPERM { // O_NOATIME: not the owner
		setfl = 0
		fd, err = d.openat(rel, flags, 0)
	}
	if err != nil {
		return -1, st, d.wrap("open", rel, err)
	}
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, st, d.wrap("stat", rel, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return -1, st, &fs.PathError{Op: "open", Path: d.join(rel), Err: fmt.Errorf("%w (%s)", ErrNotRegular, TypeName(st.Mode))}
	}
	if d.sameDev && uint64(st.Dev) != d.dev {
		unix.Close(fd)
		return -1, st, d.wrap("open", rel, unix.EXDEV)
	}
	if !blocking {
		return fd, st, nil
	}
	// Blocking again in one fcntl: F_SETFL sets exactly the changeable
	// status flags it is given (O_APPEND, O_ASYNC, O_DIRECT, O_NOATIME,
	// O_NONBLOCK), so this clears O_NONBLOCK and keeps O_NOATIME.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, setfl); err != nil {
		unix.Close(fd)
		return -1, st, d.wrap("open", rel, err)
	}
	return fd, st, nil
}

// FolderCache holds one folder below a Dir open (as an O_PATH descriptor,
// resolved like every open here: never through a symlink, never out of
// the Dir) for OpenRegularFdIn, so that a run of opens of files in one
// folder (the ingest of a folder of small files) resolves the folder once,
// not once per file. The folder held may have been renamed, moved out of
// the Dir or replaced since it was opened: a caller must check that the
// file it opened is the one it expected (device and inode against a stat
// it trusts) and, when it is not or the open failed while Reused is true,
// Reset the cache and open again. The zero value is empty; Reset closes
// what it holds (a held folder keeps its filesystem busy).
type FolderCache struct {
	d      *Dir   // the Dir sub was resolved below
	rel    string // sub's name below d
	sub    *Dir
	reused bool
}

// Reused reports whether the last OpenRegularFdIn through c used a folder
// opened by an earlier call.
func (c *FolderCache) Reused() bool { return c.reused }

// Reset closes the folder held, if any.
func (c *FolderCache) Reset() {
	if c.sub != nil {
		c.sub.Close()
	}
	*c = FolderCache{}
}

// folder returns the folder rel below d, opening it unless c holds it.
func (c *FolderCache) folder(d *Dir, rel string) (*Dir, error) {
	if c.sub != nil && c.d == d && c.rel == rel {
		c.reused = true
		return c.sub, nil
	}
	c.Reset()
	fd, err := d.openat(rel, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, d.wrap("open", rel, err)
	}
	sub, err := newDir(fd, d.join(rel), d.sameDev, d.dev)
	if err != nil {
		return nil, err
	}
	c.d, c.rel, c.sub = d, rel, sub
	return sub, nil
}

// OpenRegularFdIn is OpenRegularFd with rel's folder taken from c (opened
// and kept there when c holds another one: see FolderCache), and the
// descriptor left O_NONBLOCK, which a regular file's reads ignore on
// Linux's disk and network filesystems: one fcntl less per file. A caller
// whose read fails with EAGAIN clears O_NONBLOCK (unix.SetNonblock) and
// reads again. Per file it costs an fstatat, the open and an fstat.
func (d *Dir) OpenRegularFdIn(c *FolderCache, rel string) (int, unix.Stat_t, error) {
	c.reused = false
	var st unix.Stat_t
	rel, err := clean(rel)
	if err != nil || rel == "." {
		if err == nil {
			err = fmt.Errorf("%q: %w", rel, ErrBadName)
		}
		return -1, st, err
	}
	dir, base := path.Split(rel)
	if dir == "" {
		return d.openRegularFd(base, false)
	}
	sub, err := c.folder(d, strings.TrimSuffix(dir, "/"))
	if err != nil {
		return -1, st, err
	}
	return sub.openRegularFd(base, false)
}

// ReadFile reads the regular file rel below d, failing with ErrTooLarge
// past max bytes (never reading more than max+1).
func (d *Dir) ReadFile(rel string, max int64) ([]byte, error) {
	f, st, err := d.OpenRegular(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st.Size > max {
		return nil, &fs.PathError{Op: "read", Path: d.join(rel), Err: fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, st.Size, max)}
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: d.join(rel), Err: err}
	}
	if int64(len(data)) > max {
		return nil, &fs.PathError{Op: "read", Path: d.join(rel), Err: fmt.Errorf("%w: limit %d", ErrTooLarge, max)}
	}
	return data, nil
}

// parent opens the directory holding rel and returns it with rel's last
// element. The caller closes the Dir unless it is d itself.
func (d *Dir) parent(rel string) (*Dir, string, error) {
	rel, err := clean(rel)
	if err != nil || rel == "." {
		if err == nil {
			err = fmt.Errorf("%q: %w", rel, ErrBadName)
		}
		return nil, "", err
	}
	dir, base := path.Split(rel)
	if dir == "" {
		return d, base, nil
	}
	p, err := d.OpenDir(strings.TrimSuffix(dir, "/"))
	return p, base, err
}

func (d *Dir) done(p *Dir) {
	if p != d {
		p.Close()
	}
}

// Lstat stats rel below d without following a final symlink. Its folder is
// resolved like every open here (never through a symlink, never out of d)
// but as an O_PATH descriptor: nothing is opened for reading, and no Dir
// is made for it (OpenRegular stats every file it opens this way).
func (d *Dir) Lstat(rel string) (unix.Stat_t, error) {
	var st unix.Stat_t
	rel, err := clean(rel)
	if err != nil || rel == "." {
		if err == nil {
			err = fmt.Errorf("%q: %w", rel, ErrBadName)
		}
		return st, err
	}
	dir, base := path.Split(rel)
	dirfd := d.Fd()
	if dir != "" {
		dir = strings.TrimSuffix(dir, "/")
		// openat2 refuses a mount crossing itself (RESOLVE_NO_XDEV) and
		// the component walk checks each folder's device with sameDev.
		fd, err := d.openat(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			return st, d.wrap("open", dir, err)
		}
		defer unix.Close(fd)
		dirfd = fd
	}
	if err := unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return st, d.wrap("lstat", rel, err)
	}
	return st, nil
}

// Remove removes the file (or empty directory) rel below d; a symlink is
// removed itself, never its target. A missing rel is not an error.
func (d *Dir) Remove(rel string) error {
	p, base, err := d.parent(rel)
	if err != nil {
		return err
	}
	defer d.done(p)
	err = unix.Unlinkat(p.Fd(), base, 0)
	if err == unix.EISDIR {
		err = unix.Unlinkat(p.Fd(), base, unix.AT_REMOVEDIR)
	}
	if err != nil && err != unix.ENOENT {
		return d.wrap("remove", rel, err)
	}
	return nil
}

// Rename renames from to to, both below d (a symlink at to is replaced,
// never followed).
func (d *Dir) Rename(from, to string) error {
	pf, bf, err := d.parent(from)
	if err != nil {
		return err
	}
	defer d.done(pf)
	pt, bt, err := d.parent(to)
	if err != nil {
		return err
	}
	defer d.done(pt)
	if err := unix.Renameat(pf.Fd(), bf, pt.Fd(), bt); err != nil {
		return d.wrap("rename", from, err)
	}
	return nil
}

// Chtimes sets the access and modification times of rel below d (a
// symlink itself is never touched through).
func (d *Dir) Chtimes(rel string, atime, mtime time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	if rel == "." || rel == "" {
		return unix.UtimesNanoAt(d.Fd(), ".", ts, 0)
	}
	p, base, err := d.parent(rel)
	if err != nil {
		return err
	}
	defer d.done(p)
	if err := unix.UtimesNanoAt(p.Fd(), base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return d.wrap("chtimes", rel, err)
	}
	return nil
}

// ReadDir lists the directory rel below d.
func (d *Dir) ReadDir(rel string) ([]fs.DirEntry, error) {
	sub, err := d.OpenDir(rel)
	if err != nil {
		return nil, err
	}
	defer sub.Close()
	return sub.f.ReadDir(-1)
}

// Sync flushes the directory itself (after creating or renaming in it).
func (d *Dir) Sync() error { return d.f.Sync() }

// WriteFileAtomic writes data to rel below d through a fresh temporary
// file rel+".tmp" (created O_EXCL, never through a symlink), synced and
// renamed over rel, and the folder synced: after a crash rel holds the old
// or the new data, whole. A rel that exists as anything but a regular file
// is refused. (internal/atomicfile is the same for trusted folders.)
func (d *Dir) WriteFileAtomic(rel string, data []byte, perm os.FileMode) error {
	return d.WriteFileAtomicVia(rel, ".tmp", data, perm)
}

// WriteFileAtomicVia is WriteFileAtomic through the temporary name
// rel+suffix: one that readers of the folder skip (".ingestd-partial",
// which the catalog and the ASC MHL ignore).
func (d *Dir) WriteFileAtomicVia(rel, suffix string, data []byte, perm os.FileMode) error {
	if st, err := d.Lstat(rel); err == nil && st.Mode&unix.S_IFMT != unix.S_IFREG {
		return &fs.PathError{Op: "write", Path: d.join(rel), Err: fmt.Errorf("%w (%s)", ErrNotRegular, TypeName(st.Mode))}
	}
	tmp := rel + suffix
	if err := d.Remove(tmp); err != nil {
		return err
	}
	f, err := d.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = d.Rename(tmp, rel)
	}
	if err != nil {
		d.Remove(tmp)
		return fmt.Errorf("write %s: %w", d.join(rel), err)
	}
	p, _, err := d.parent(rel)
	if err != nil {
		return fmt.Errorf("write %s: sync folder: %w", d.join(rel), err)
	}
	defer d.done(p)
	if err := p.Sync(); err != nil {
		return fmt.Errorf("write %s: sync folder: %w", d.join(rel), err)
	}
	return nil
}

// typeNames are a stat mode's file type in two words: the short one
// (ShortTypeName: ingest's and fixity's reports) and the one in this
// package's errors (TypeName).
var typeNames = map[uint32][2]string{
	unix.S_IFREG:  {"regular file", "regular file"},
	unix.S_IFDIR:  {"directory", "directory"},
	unix.S_IFLNK:  {"symlink", "symlink"},
	unix.S_IFIFO:  {"fifo", "named pipe (FIFO)"},
	unix.S_IFSOCK: {"socket", "socket"},
	unix.S_IFCHR:  {"char device", "character device"},
	unix.S_IFBLK:  {"block device", "block device"},
}

// TypeName names a file type from a stat mode, for messages.
func TypeName(mode uint32) string {
	if n, ok := typeNames[mode&unix.S_IFMT]; ok {
		return n[1]
	}
	return "unknown type"
}

// ShortTypeName names a file type from a stat mode in a word or two
// ("fifo", "char device").
func ShortTypeName(mode uint32) string {
	if n, ok := typeNames[mode&unix.S_IFMT]; ok {
		return n[0]
	}
	return "special file"
}
