package cards

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"testing"

	"github.com/zeebo/blake3"
	"github.com/zeebo/xxh3"
)

// TestB3BatchMatchesIngest: the card pass's BLAKE3 (b3batch, whichever
// newBLAKE3 picks) is the content id the ingest computes (zeebo/blake3),
// for sizes around every chunk, batch and tree boundary, written in pieces
// that cut them anywhere, and after Sum (which must not change the state).
func TestB3BatchMatchesIngest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 3<<20+777)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	sizes := []int{0, 1, 63, 64, 65, 1023, 1024, 1025, 2047, 2048, 2049, 15 << 10, 16<<10 - 1, 16 << 10, 16<<10 + 1,
		32 << 10, 32<<10 + 1, 48<<10 + 5, 64 << 10, 64<<10 + 1, 1 << 20, 1<<20 + 1, 3<<20 + 777}
	for _, n := range sizes {
		want := blake3.Sum256(data[:n])
		for _, step := range []int{1, 7, 1000, 1024, 4096, 16 << 10, 16<<10 + 1, 1 << 20, n + 1} {
			if step < 1000 && n > 70<<10 {
				continue
			}
			for _, h := range []interface {
				Write([]byte) (int, error)
				Sum([]byte) []byte
			}{&b3batch{}, newBLAKE3()} {
				for i := 0; i < n; i += max(step, 1) {
					h.Write(data[i:min(n, i+max(step, 1))])
					if i == step { // a Sum midway changes nothing
						h.Sum(nil)
					}
				}
				if got := h.Sum([]byte{0xff}); !bytes.Equal(got[1:], want[:]) || got[0] != 0xff {
					t.Fatalf("%T: %d bytes in writes of %d: %x, want %x", h, n, step, got, want)
				}
			}
		}
	}
	h := &b3batch{}
	h.Write(data[:5000])
	h.Reset()
	h.Write(data[:100])
	if want := blake3.Sum256(data[:100]); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("Reset: hash not started over")
	}
}

// TestFusedFeedsEach: every hasher in a fused set sees every byte in
// order, across piece boundaries.
func TestFusedFeedsEach(t *testing.T) {
	data := make([]byte, 3*hashPiece+123)
	for i := range data {
		data[i] = byte(i * 7)
	}
	x, b := xxh3.New128(), &b3batch{}
	f := fused{x, b}
	f.Write(data[:hashPiece+5])
	f.Write(data[hashPiece+5:])
	wx, wb := xxh3.Hash128(data).Bytes(), blake3.Sum256(data)
	if hex.EncodeToString(x.Sum(nil)) != hex.EncodeToString(wx[:]) || !bytes.Equal(b.Sum(nil), wb[:]) {
		t.Fatal("fused hashers differ from one-shot hashes")
	}
}
