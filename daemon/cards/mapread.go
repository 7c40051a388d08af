package cards

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// srcWindow is how much of a card file is mapped at once (a multiple of
// the page size; blocks are cut from it and never span two windows).
const srcWindow = 8 << 20

// srcReadahead is how far past the window being handed out the card is
// asked to be read ahead (FADV_WILLNEED), into the next file when this
// one ends: the card keeps reading while the hashers and writers work
// through the queue (Options.QueueBlocks, 32 MiB by default) instead of
// waiting for each window, and for each file's first one.
const srcReadahead = 32 << 20

// errNoMap: the card's filesystem refuses to map the file (nothing was
// mapped); it is read into buffers instead.
var errNoMap = errors.New("card file cannot be mapped")

// errCardFault: a mapped card page could not be read (the card was pulled,
// or the file truncated, while it was copied).
var errCardFault = errors.New("card page unreadable while copied")

// mapWin is one read-only mapping of a window of a card file. The reader
// holds one reference until it moves past it and every block cut from it
// one more; the last release hands it to its unmapper.
type mapWin struct {
	m    []byte
	refs atomic.Int32
	u    *unmapper
}

func (w *mapWin) release() {
	if w.refs.Add(-1) == 0 {
		w.u.add(w.m)
	}
}

// unmapper collects the windows whose last block was released (mostly by
// a destination's writer) for the reader to unmap before it maps the
// next: the writers, the slowest part of a pass, never spend their time
// in munmap nor wait behind it for the address space's lock.
type unmapper struct {
	mu     sync.Mutex
	wins   [][]byte
	direct bool // closed: whoever releases a window unmaps it
}

func (u *unmapper) add(m []byte) {
	u.mu.Lock()
	if u.direct {
		u.mu.Unlock()
		unix.Munmap(m)
		return
	}
	u.wins = append(u.wins, m)
	u.mu.Unlock()
}

// drain unmaps the windows released so far.
func (u *unmapper) drain() {
	u.mu.Lock()
	wins := u.wins
	u.wins = nil
	u.mu.Unlock()
	for _, m := range wins {
		unix.Munmap(m)
	}
}

// close unmaps what is left; a window released later is unmapped at once.
func (u *unmapper) close() {
	u.mu.Lock()
	u.direct = true
	u.mu.Unlock()
	u.drain()
}

// mappedReader hands out a card file as blocks that are slices of its
// mappings. Each window is faulted in by the reader (MADV_POPULATE_READ,
// which reports an unreadable page as an error) before any block of it is
// handed on, and the next window's readahead is started meanwhile.
type mappedReader struct {
	u      *unmapper
	fd     int
	size   int64
	off    int64
	win    *mapWin
	winOff int64
	ra     int64 // the file is asked to be read ahead up to here
	// tail, when set, is called once the readahead reaches the end of the
	// file, with how much of the budget is left (for the next file).
	tail func(n int64)
}

// next points blk at the next (at most n) bytes of the file: io.EOF at
// its end, errNoMap when the first window cannot be mapped.
func (r *mappedReader) next(blk *block, n int) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if r.win == nil || r.off >= r.winOff+int64(len(r.win.m)) {
		if r.win != nil {
			r.win.release()
			r.win = nil
		}
		r.u.drain()
		ln := min(int64(srcWindow), r.size-r.off)
		m, err := unix.Mmap(r.fd, r.off, int(ln), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			if r.off == 0 {
				return 0, errNoMap
			}
			return 0, fmt.Errorf("map at %d: %w", r.off, err)
		}
		w := &mapWin{m: m, u: r.u}
		w.refs.Store(1)
		unix.Madvise(m, unix.MADV_SEQUENTIAL)
		if err := populate(m); err != nil {
			w.release()
			return 0, fmt.Errorf("read at %d: %w", r.off, err)
		}
		r.win, r.winOff = w, r.off
		r.readahead(r.off + ln)
	}
	start := r.off - r.winOff
	k := min(int64(n), int64(len(r.win.m))-start)
	r.win.refs.Add(1)
	blk.b, blk.win = r.win.m[start:start+k], r.win
	r.off += k
	return int(k), nil
}

// readahead asks for the srcReadahead bytes after from (what is not
// asked for yet), after the window before it was faulted in so that its
// own reads go first; past the end of the file the rest of the budget
// goes to tail.
func (r *mappedReader) readahead(from int64) {
	end := from + srcReadahead
	if start := max(from, r.ra); start < min(end, r.size) {
		willNeed(r.fd, start, min(end, r.size)-start)
	}
	r.ra = max(r.ra, min(end, r.size))
	if end > r.size && r.tail != nil {
		r.tail(end - r.size)
		r.tail = nil
	}
}

// willNeedChunk: the kernel reads at most a device's readahead size (or
// its largest request) per FADV_WILLNEED (force_page_cache_ra), as little
// as 128 KiB; a longer range is asked for in pieces.
const willNeedChunk = 128 << 10

// willNeed asks the kernel to start reading n bytes of fd at off into the
// page cache (advisory; the reads go on in the background).
func willNeed(fd int, off, n int64) {
	for end := off + n; off < end; off += willNeedChunk {
		unix.Fadvise(fd, off, min(willNeedChunk, end-off), unix.FADV_WILLNEED)
	}
}

// close drops the reader's reference to its current window.
func (r *mappedReader) close() {
	if r.win != nil {
		r.win.release()
		r.win = nil
	}
}

// populate faults m in: through MADV_POPULATE_READ (Linux 5.14), else by
// touching each page with faults turned into errors.
func populate(m []byte) error {
	err := unix.Madvise(m, unix.MADV_POPULATE_READ)
	if err == nil || !(errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSYS)) {
		return err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return faultFree(func() {
		var x byte
		for i := 0; i < len(m); i += unix.Getpagesize() {
			x ^= m[i]
		}
		_ = x
	})
}

// faultFree runs fn, turning a memory fault (a mapped card page that can
// no longer be read) into errCardFault. The calling goroutine must have
// debug.SetPanicOnFault(true).
func faultFree(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if re, ok := r.(interface{ Addr() uintptr }); ok {
				err = fmt.Errorf("%w: fault at %#x", errCardFault, re.Addr())
				return
			}
			panic(r)
		}
	}()
	fn()
	return nil
}

// writeBlock writes a block to a destination. A mapped card page that
// cannot be read fails the write with EFAULT, or faults in a wrapping
// writer; both are errCardFault.
func writeBlock(w io.Writer, b *block) error {
	var err error
	if ferr := faultFree(func() { _, err = w.Write(b.b[:b.n]) }); ferr != nil {
		return ferr
	}
	if b.win != nil && errors.Is(err, syscall.EFAULT) {
		return fmt.Errorf("%w: %w", errCardFault, err)
	}
	return err
}

// writeBatch writes the blocks of ops, in order, to out: with one writev,
// or block by block through w where a DestWriter wraps the file. It
// returns how many bytes were written.
func writeBatch(out *os.File, w io.Writer, ops []destOp) (int64, error) {
	if w == io.Writer(out) {
		return writeBlocks(out, ops)
	}
	var n int64
	for _, op := range ops {
		if err := writeBlock(w, op.blk); err != nil {
			return n, err
		}
		n += int64(op.blk.n)
	}
	return n, nil
}

// maxGather is how many queued blocks a writer writes with one system call.
const maxGather = 8

// writeBlocks writes the blocks of ops to f in one writev (more where it
// writes less); it returns how many bytes were written. A mapped card page
// that cannot be read fails it with EFAULT: errCardFault.
func writeBlocks(f *os.File, ops []destOp) (int64, error) {
	iov := make([][]byte, 0, len(ops))
	for _, op := range ops {
		iov = append(iov, op.blk.b[:op.blk.n])
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var total int64
	var werr error
	cerr := rc.Write(func(fd uintptr) bool {
		for len(iov) > 0 {
			n, err := unix.Writev(int(fd), iov)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				werr = err
				return true
			}
			if n == 0 {
				werr = io.ErrShortWrite
				return true
			}
			total += int64(n)
			for n > 0 {
				if n >= len(iov[0]) {
					n -= len(iov[0])
					iov = iov[1:]
				} else {
					iov[0] = iov[0][n:]
					n = 0
				}
			}
		}
		return true
	})
	if werr == nil {
		werr = cerr
	}
	if errors.Is(werr, syscall.EFAULT) {
		return total, fmt.Errorf("%w: %w", errCardFault, werr)
	}
	return total, werr
}
