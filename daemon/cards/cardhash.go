package cards

import (
	"hash"
	"io"
	"math/bits"

	"github.com/zeebo/blake3"
	"golang.org/x/sys/cpu"
	"lukechampine.com/blake3/guts"
)

// newBLAKE3 returns ContentIDs' BLAKE3 hasher (32-byte sum, the content
// id the ingest computes). Where the CPU has AVX-512 it is
// b3batch, which hashes 16 chunks at a time with it on the calling
// goroutine (about a third less CPU per byte than github.com/zeebo/blake3's
// AVX2 code, the ingest's hasher); elsewhere the ingest's own hasher.
func newBLAKE3() hash.Hash {
	if cpu.X86.HasAVX512F {
		return &b3batch{}
	}
	return blake3.New()
}

// b3batchSize is what b3batch hashes at once: guts.MaxSIMD chunks.
const b3batchSize = guts.MaxSIMD * guts.ChunkSize

// b3batch is a streaming BLAKE3 (unkeyed, 32-byte output) over
// lukechampine.com/blake3/guts, single-threaded (that package's own
// Hasher starts a goroutine per 16 KiB of a large write). Every full batch
// is a complete 16-chunk subtree pushed onto the Merkle stack as the
// Hasher does; the last batch, full or not, waits in buf for Sum, whose
// last chunk is the root candidate.
type b3batch struct {
	b3tree
	buf    [b3batchSize]byte
	buflen int
}

// b3tree is the Merkle stack of the chunks hashed so far.
type b3tree struct {
	stack   [64][8]uint32 // subtree chaining values, at most one per height
	counter uint64        // chunks pushed; bit i set: stack[i] holds a subtree of 2^i chunks
}

// push adds the subtree of 2^height chunks that follows those pushed.
func (t *b3tree) push(cv [8]uint32, height int) {
	i := height
	for t.counter&(1<<i) != 0 {
		cv = guts.ChainingValue(guts.ParentNode(t.stack[i], cv, &guts.IV, 0))
		i++
	}
	t.stack[i] = cv
	t.counter += 1 << height
}

func (h *b3batch) batch(b *[b3batchSize]byte) {
	h.push(guts.ChainingValue(guts.CompressBuffer(b, b3batchSize, &guts.IV, h.counter, 0)), bits.TrailingZeros(guts.MaxSIMD))
}

// Write hashes full batches straight from p (never the last bytes
// written: they may be the root's).
func (h *b3batch) Write(p []byte) (int, error) {
	n := len(p)
	if h.buflen > 0 {
		k := copy(h.buf[h.buflen:], p)
		h.buflen += k
		p = p[k:]
		if len(p) == 0 {
			return n, nil
		}
		h.batch(&h.buf)
		h.buflen = 0
	}
	for len(p) > b3batchSize {
		h.batch((*[b3batchSize]byte)(p[:b3batchSize]))
		p = p[b3batchSize:]
	}
	h.buflen = copy(h.buf[:], p)
	return n, nil
}

// Sum appends the 32-byte BLAKE3 of what was written; h is unchanged.
func (h *b3batch) Sum(b []byte) []byte {
	t := h.b3tree
	tail := h.buf[:h.buflen]
	for len(tail) > guts.ChunkSize {
		t.push(guts.ChainingValue(guts.CompressChunk(tail[:guts.ChunkSize], &guts.IV, t.counter, 0)), 0)
		tail = tail[guts.ChunkSize:]
	}
	n := guts.CompressChunk(tail, &guts.IV, t.counter, 0)
	for i := bits.TrailingZeros64(t.counter); i < bits.Len64(t.counter); i++ {
		if t.counter&(1<<i) != 0 {
			n = guts.ParentNode(t.stack[i], guts.ChainingValue(n), &guts.IV, 0)
		}
	}
	n.Flags |= guts.FlagRoot
	out := guts.WordsToBytes(guts.CompressNode(n))
	return append(b, out[:32]...)
}

func (h *b3batch) Reset()         { h.counter, h.buflen = 0, 0 }
func (h *b3batch) Size() int      { return 32 }
func (h *b3batch) BlockSize() int { return 64 }

// hashPiece is how much of a block each fused hasher takes in turn: the
// piece is read from memory once and stays in the core's cache for the
// next hasher.
const hashPiece = 64 << 10

// fused feeds each write to every hasher in turn, hashPiece bytes at a
// time, on one goroutine (a card block is read from memory once for all
// of them, not once per hasher).
type fused []io.Writer

func (f fused) Write(p []byte) (int, error) {
	for off := 0; off < len(p); off += hashPiece {
		piece := p[off:min(off+hashPiece, len(p))]
		for _, w := range f {
			w.Write(piece) // hashes never fail
		}
	}
	return len(p), nil
}
