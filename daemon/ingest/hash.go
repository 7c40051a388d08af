package ingest

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/zeebo/blake3"
	"github.com/zeebo/xxh3"
	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/daemon/watch"
	"github.com/ingestd/ingestd/storage"
)

// HashBufferSize is the read size HashFile uses (1 MiB).
const HashBufferSize = 1 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, HashBufferSize); return &b }}

// b3Pool keeps BLAKE3 hashers (about 10 KB each) for reuse: a first ingest
// of small files allocated one per file, most of its garbage.
var b3Pool = sync.Pool{New: func() any { return blake3.New() }}

// HashReader reads r to EOF once and returns its BLAKE3-256 and xxh128
// digests (lowercase hex; xxh128 big-endian as `xxhsum -H128` prints it)
// and the number of bytes read. buf is the read buffer (1 MiB is good; nil
// allocates one). When buf holds at least two 64 KiB halves, reading and
// xxh128 overlap with BLAKE3 on a second goroutine: one read pass, two
// cores at most.
func HashReader(r io.Reader, buf []byte) (storage.Hashes, int64, error) {
	if len(buf) == 0 {
		buf = make([]byte, HashBufferSize)
	}
	b3 := b3Pool.Get().(*blake3.Hasher)
	b3.Reset()
	defer b3Pool.Put(b3) // the helper goroutine is done with it when hashPipelined returns
	x := xxh3.New128()
	var n int64
	var err error
	if len(buf) >= 128<<10 {
		n, err = hashPipelined(r, buf, b3, x)
	} else {
		n, err = hashSerial(r, buf, b3, x)
	}
	if err != nil {
		return storage.Hashes{}, n, err
	}
	xs := x.Sum128().Bytes()
	return storage.Hashes{
		BLAKE3: hex.EncodeToString(b3.Sum(nil)),
		XXH128: hex.EncodeToString(xs[:]),
	}, n, nil
}

// HashBytes is HashReader of b, held in memory whole.
func HashBytes(b []byte) storage.Hashes {
	b3 := b3Pool.Get().(*blake3.Hasher)
	defer b3Pool.Put(b3)
	b3.Reset()
	b3.Write(b)
	xs := xxh3.Hash128(b).Bytes()
	return storage.Hashes{BLAKE3: hex.EncodeToString(b3.Sum(nil)), XXH128: hex.EncodeToString(xs[:])}
}

func hashSerial(r io.Reader, buf []byte, b3 *blake3.Hasher, x *xxh3.Hasher128) (int64, error) {
	var total int64
	for {
		k, err := r.Read(buf)
		if k > 0 {
			b3.Write(buf[:k])
			x.Write(buf[:k])
			total += int64(k)
		}
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// hashPipelined splits buf in two halves: while BLAKE3 digests one half on
// a helper goroutine, the caller feeds the same bytes to xxh128 and then
// reads the next chunk into the other half.
func hashPipelined(r io.Reader, buf []byte, b3 *blake3.Hasher, x *xxh3.Hasher128) (int64, error) {
	half := len(buf) / 2
	halves := [2][]byte{buf[:half], buf[half : 2*half]}
	work := make(chan []byte)
	done := make(chan struct{})
	go func() {
		for p := range work {
			b3.Write(p)
			done <- struct{}{}
		}
	}()
	busy := false
	wait := func() {
		if busy {
			<-done
			busy = false
		}
	}
	defer func() { wait(); close(work) }()
	var total int64
	cur := 0
	for {
		k, err := io.ReadFull(r, halves[cur])
		if k > 0 {
			p := halves[cur][:k]
			wait()
			work <- p
			busy = true
			x.Write(p)
			total += int64(k)
			cur ^= 1
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// HashFile hashes the file at path in one streaming read (see HashReader).
// The size is what was read, which may differ from a stat taken before if
// the file changed: callers compare stats around the call.
func HashFile(path string) (storage.Hashes, int64, error) {
	f, err := openForHash(path)
	if err != nil {
		return storage.Hashes{}, 0, fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	h, n, err := HashReader(f, *bp)
	if err != nil {
		return h, n, fmt.Errorf("read %s: %w", path, err)
	}
	return h, n, nil
}

// openForHash opens a file for one sequential read without updating its
// access time where allowed (O_NOATIME needs ownership or CAP_FOWNER;
// without it the file is opened normally). It never follows a final
// symbolic link nor blocks in open (O_NONBLOCK), and refuses anything but
// a regular file (a FIFO or device is never read): see watch.OpenRegular.
func openForHash(path string) (*os.File, error) {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, _, err := watch.OpenRegular(strings.TrimSuffix(dir, "/"), name)
	if err != nil {
		return nil, err
	}
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_SEQUENTIAL)
	return f, nil
}
