package watch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

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
	// Files, if set, is called instead of File with the files in batches
	// (a directory's, at most 256 at a time, in listing order; the slice
	// is reused after the call returns): one call where a walk of several
	// Workers would otherwise synchronise on every file.
	Files func(batch []Entry)
	// DirError is called for a directory that could not be opened or
	// read: its subtree is unknown, so nothing under it may be taken as
	// deleted.
	DirError func(rel string, err error)
	// NoStat: a file whose directory entry says it is regular is handed
	// to File unstat'ed (Entry.NoStat), for a caller that stats each file
	// anyway when it opens it (a first ingest: one system call less per
	// file). A directory entry of unknown type is stat'ed as always.
	NoStat bool
	// Workers is how many directories are listed at once. 0 or 1: one, in
	// depth-first order, one descriptor open at a time. More: Dir, File,
	// Files and DirError are called from that many goroutines at once (each
	// directory's Dir still before its listing, its files in listing
	// order); a walk of an unchanged tree is mostly system calls, which
	// two or more goroutines overlap (and a network filesystem's round
	// trips too).
	Workers int
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
	if fn.Workers <= 1 {
		return w.dir(start, true)
	}
	// The start directory first, on this goroutine: its error is the
	// walk's.
	subdirs, err := w.list(start, true)
	if err != nil {
		return err
	}
	return w.parallel(subdirs)
}

// parallel walks the trees under dirs with fn.Workers goroutines taking
// directories from one stack (last in, first out: the pending ones stay
// about as few as in a depth-first walk). The first error of fn.Dir stops
// it: the goroutines finish the directory they are listing and return.
func (w *walker) parallel(dirs []string) error {
	var (
		mu    sync.Mutex
		cond  = sync.NewCond(&mu)
		stack = dirs
		busy  int
		first error
		wg    sync.WaitGroup
	)
	for range w.fn.Workers {
		ww := &walker{root: w.root, ig: w.ig, fn: w.fn, buf: make([]byte, len(w.buf))}
		wg.Go(func() {
			mu.Lock()
			defer mu.Unlock()
			for {
				for len(stack) == 0 && busy > 0 && first == nil {
					cond.Wait()
				}
				if first != nil || len(stack) == 0 {
					cond.Broadcast()
					return
				}
				d := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				busy++
				mu.Unlock()
				subdirs, err := ww.list(d, false)
				mu.Lock()
				busy--
				if err != nil && first == nil {
					first = err
				}
				stack = append(stack, subdirs...)
				cond.Broadcast()
			}
		})
	}
	wg.Wait()
	return first
}

type walker struct {
	root  string
	ig    *Ignore
	fn    WalkFuncs
	buf   []byte
	batch []Entry // for fn.Files
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

// dir lists one directory, then descends (one descriptor open at a time,
// any depth).
func (w *walker) dir(rel string, top bool) error {
	subdirs, err := w.list(rel, top)
	if err != nil {
		return err
	}
	for _, d := range subdirs {
		if err := w.dir(d, false); err != nil {
			return err
		}
	}
	return nil
}

// list calls fn.Dir for one directory, lists it, stats its files relative
// to its descriptor (handing them to fn.File), closes it and returns its
// subdirectories. The error is fn.Dir's, or, for the top directory, the
// listing's (below it a directory that cannot be read goes to
// fn.DirError).
func (w *walker) list(rel string, top bool) ([]string, error) {
	if w.fn.Dir != nil {
		if err := w.fn.Dir(rel); err != nil {
			return nil, err
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
			return nil, err
		}
		w.dirError(rel, err)
		return nil, nil
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
				return nil, err
			}
			w.dirError(rel, err)
			return nil, nil
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
			// One allocation: the name is the path's tail.
			var crel string
			if rel == "" {
				crel = string(name)
			} else {
				crel = rel + "/" + string(name)
			}
			sname := crel[len(crel)-len(name):]
			if w.ig.Match(crel, sname) {
				continue
			}
			switch typ {
			case unix.DT_DIR:
				subdirs = append(subdirs, crel)
				continue
			case unix.DT_REG:
				if w.fn.NoStat {
					w.file(Entry{Rel: crel, NoStat: true})
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
				w.file(entryOf(crel, &st))
			case unix.S_IFDIR:
				subdirs = append(subdirs, crel)
			}
		}
	}
	unix.Close(fd)
	w.flushFiles()
	return subdirs, nil
}

// file hands e to fn.File, or to the batch for fn.Files.
func (w *walker) file(e Entry) {
	if w.fn.Files == nil {
		if w.fn.File != nil {
			w.fn.File(e)
		}
		return
	}
	if w.batch = append(w.batch, e); len(w.batch) == filesBatch {
		w.flushFiles()
	}
}

// filesBatch is the most files one fn.Files call gets.
const filesBatch = 256

func (w *walker) flushFiles() {
	if len(w.batch) > 0 {
		w.fn.Files(w.batch)
		clear(w.batch) // no Rel kept alive by the reused array
		w.batch = w.batch[:0]
	}
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
