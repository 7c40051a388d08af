package watch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Entry is one regular file found by a walk or a stat.
type Entry struct {
	Rel   string // slash-separated, relative to the volume root, bytes as on disk
	Size  int64
	MTime int64 // unix nanoseconds
	Ino   uint64
	Dev   uint64
	// CTime is the last status change (unix nanoseconds): any write,
	// truncate, rename or chmod moves it and no user can set it back.
	CTime int64
	// NoStat: a walk with WalkFuncs.NoStat found this file by its
	// directory entry's type (regular) and did not stat it; only Rel is
	// set. Whoever opens it takes its stat from the open descriptor.
	NoStat bool
}

// WalkFuncs receives what a walk finds. Nil funcs are skipped.
type WalkFuncs struct {
	// Dir is called for every directory (the start directory too) before
	// it is listed, so a watch added here sees files created while the
	// listing runs. An error stops the walk.
	Dir func(rel string) error
	// File is called for every regular file that is not ignored.
	File func(e Entry)
	// DirError is called for a directory that could not be opened or
	// read: its subtree is unknown, so nothing under it may be taken as
	// deleted.
	DirError func(rel string, err error)
	// NoStat: a file whose directory entry says it is regular is handed
	// to File unstat'ed (Entry.NoStat), for a caller that stats each file
	// anyway when it opens it (a first ingest: one system call less per
	// file). A directory entry of unknown type is stat'ed as always.
	NoStat bool
}

// Walk lists the tree under root/start (start "" is the root) with
// getdents and fstatat, without following symbolic links (a link is never
// cataloged nor descended into, so links out of the volume and loops are
// harmless) and skipping what ig matches. It fails only if the start
// directory itself cannot be opened or fn.Dir fails; other unreadable
// directories are reported through fn.DirError.
func Walk(root, start string, ig *Ignore, fn WalkFuncs) error {
	w := walker{root: strings.TrimSuffix(root, "/"), ig: ig, fn: fn, buf: make([]byte, 128<<10)}
	if w.root == "" {
		w.root = "/"
	}
	return w.dir(start, true)
}

type walker struct {
	root string
	ig   *Ignore
	fn   WalkFuncs
	buf  []byte
}

func (w *walker) abs(rel string) string {
	if rel == "" {
		return w.root
	}
	if w.root == "/" {
		return "/" + rel
	}
	return w.root + "/" + rel
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// dir lists one directory, stats its files relative to its descriptor,
// closes it, then descends (one descriptor open at a time, any depth).
func (w *walker) dir(rel string, top bool) error {
	if w.fn.Dir != nil {
		if err := w.fn.Dir(rel); err != nil {
			return err
		}
	}
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	if rel != "" {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := openRetry(w.abs(rel), flags)
	if err != nil {
		err = fmt.Errorf("open dir %s: %w", w.abs(rel), err)
		if top {
			return err
		}
		w.dirError(rel, err)
		return nil
	}
	var subdirs []string
	var st unix.Stat_t
	for {
		n, err := unix.Getdents(fd, w.buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			unix.Close(fd)
			err = fmt.Errorf("read dir %s: %w", w.abs(rel), err)
			if top {
				return err
			}
			w.dirError(rel, err)
			return nil
		}
		if n <= 0 {
			break
		}
		for off := 0; off < n; {
			reclen := int(binary.NativeEndian.Uint16(w.buf[off+16:]))
			typ := w.buf[off+18]
			name := w.buf[off+19 : off+reclen]
			if i := indexNUL(name); i >= 0 {
				name = name[:i]
			}
			off += reclen
			if len(name) == 0 || name[0] == '.' && (len(name) == 1 || len(name) == 2 && name[1] == '.') {
				continue
			}
			sname := string(name)
			crel := join(rel, sname)
			if w.ig.Match(crel, sname) {
				continue
			}
			switch typ {
			case unix.DT_DIR:
				subdirs = append(subdirs, crel)
				continue
			case unix.DT_REG:
				if w.fn.NoStat {
					if w.fn.File != nil {
						w.fn.File(Entry{Rel: crel, NoStat: true})
					}
					continue
				}
			case unix.DT_UNKNOWN:
			default: // links, fifos, sockets, devices
				continue
			}
			if err := fstatat(fd, sname, &st); err != nil {
				continue // vanished since the listing
			}
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFREG:
				if w.fn.File != nil {
					w.fn.File(entryOf(crel, &st))
				}
			case unix.S_IFDIR:
				subdirs = append(subdirs, crel)
			}
		}
	}
	unix.Close(fd)
	for _, d := range subdirs {
		if err := w.dir(d, false); err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) dirError(rel string, err error) {
	if w.fn.DirError != nil {
		w.fn.DirError(rel, err)
	}
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

func openRetry(path string, flags int) (int, error) {
	for {
		fd, err := unix.Open(path, flags, 0)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

func fstatat(dirfd int, name string, st *unix.Stat_t) error {
	for {
		err := unix.Fstatat(dirfd, name, st, unix.AT_SYMLINK_NOFOLLOW)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

func entryOf(rel string, st *unix.Stat_t) Entry {
	return Entry{Rel: rel, Size: st.Size, MTime: st.Mtim.Nano(), Ino: st.Ino, Dev: uint64(st.Dev), CTime: st.Ctim.Nano()}
}

// Stat returns the Entry of root/rel without following a final symbolic
// link. ok is false (and err nil) when the path does not exist or is not a
// regular file.
func Stat(root, rel string) (e Entry, ok bool, err error) {
	var st unix.Stat_t
	p := root + "/" + rel
	for {
		err = unix.Lstat(p, &st)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("stat %s: %w", p, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return Entry{}, false, nil
	}
	return entryOf(rel, &st), true, nil
}

// IsDir reports whether root/rel is a directory (not a link to one).
func IsDir(root, rel string) bool {
	fi, err := os.Lstat(root + "/" + rel)
	return err == nil && fi.IsDir()
}
