package cards

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// The card is read with read(2) into the pool's blocks, never mapped, and
// so are the re-reads of the copies (hashWhole). Mapping saves one memory
// copy where a page-table update is cheap, but costs a trap to the
// hypervisor per page where the host shadows the guest's page tables (a
// PVM guest such as the machines issue 11 was last measured on): there a
// mapped card hashed at 1.5-2 GB/s against 9 GB/s read into a buffer, and
// the whole 2-destination offload ran at half the speed of cp + xxhsum.
// A read is also a system call wherever it waits: a card reader in its
// error handling blocks one goroutine, never a thread holding its P (which
// a garbage collection would have to wait for), and a pulled card is an
// EIO, not a fault to recover from.
//
// The blocks are small (Options.BufferSize, 256 KiB) and few
// (QueueBlocks, 4 MiB in all): a block read from the card is still in the
// CPU's cache when the hashers and the destinations' writers copy it on.
// With 32 MiB in flight every block had left the cache by then, and every
// byte was fetched from memory three more times (2.2x less throughput on
// tmpfs). The page cache, not this queue, absorbs a destination's
// short stalls.

// srcReadahead is how far past what was read the card is asked to be read
// ahead (FADV_WILLNEED), into the next file as one ends: the card keeps
// reading while the hashers and writers work instead of waiting for each
// read, and for each file's first one.
const srcReadahead = 32 << 20

// srcReadaheadStep is how much the readahead may fall short of
// srcReadahead before it is asked for again (fewer, longer calls).
const srcReadaheadStep = 8 << 20

// cardReader reads a card file from its start, asking the card to read
// ahead of it.
type cardReader struct {
	f    *os.File
	size int64 // as listed: the readahead stops here
	off  int64
	ra   int64 // the file is asked to be read ahead up to here
	// tail, when set, is called once the readahead reaches the end of the
	// file, with how much of the budget is left (for the next file).
	tail func(n int64)
}

func (r *cardReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	r.off += int64(n)
	// After the read: its own pages are asked for first.
	if r.ra-r.off < srcReadahead-srcReadaheadStep {
		r.readahead()
	}
	return n, err
}

// readahead asks for the srcReadahead bytes after what was read (what is
// not asked for yet); past the end of the file the rest of the budget
// goes to tail.
func (r *cardReader) readahead() {
	end := r.off + srcReadahead
	if start := max(r.off, r.ra); start < min(end, r.size) {
		willNeed(int(r.f.Fd()), start, min(end, r.size)-start)
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

// writeBatch writes the blocks of ops, in order, to out: with one writev,
// or block by block through w where a DestWriter wraps the file. It
// returns how many bytes were written.
func writeBatch(out *os.File, w io.Writer, ops []destOp) (int64, error) {
	if w == io.Writer(out) {
		return writeBlocks(out, ops)
	}
	var n int64
	for _, op := range ops {
		if _, err := w.Write(op.blk.b[:op.blk.n]); err != nil {
			return n, err
		}
		n += int64(op.blk.n)
	}
	return n, nil
}

// maxGather is how many queued blocks a writer writes with one system call.
const maxGather = 16

// writeBlocks writes the blocks of ops to f in one writev (more where it
// writes less); it returns how many bytes were written.
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
	return total, werr
}
