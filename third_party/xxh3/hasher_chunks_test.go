package xxh3

import (
	"math/rand"
	"testing"
)

// ingestd patch (PATCHES.md): writes of any size, in any order, give the
// one-shot hash, however the blocks fall across them: a block completed
// from h.buf, a stripe or less left in h.buf after it, blocks hashed
// straight from a write, and the tail kept for the next.
func TestHasherChunks(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	data := make([]byte, 3<<20+4097)
	rng.Read(data)
	sizes := []int{1, 2, 63, 64, 65, 127, 1000, 1023, 1024, 1025, 1087, 1088, 1089, 2047, 2048, 2049, 3<<10 + 5, 64 << 10, 1 << 20}
	type plan struct {
		name   string
		n      int   // bytes hashed
		chunks []int // write sizes, repeated
	}
	var plans []plan
	for _, s := range sizes {
		for _, n := range []int{s, 2*s + 1, 1088*3 + 64, 1 << 20, len(data)} {
			plans = append(plans, plan{"fixed", n, []int{s}})
		}
	}
	for _, a := range sizes {
		for _, b := range sizes[:13] {
			plans = append(plans, plan{"alternating", 5*(a+b) + 3, []int{a, b}})
		}
	}
	for i := 0; i < 200; i++ {
		var cs []int
		for j := 0; j < 1+rng.Intn(8); j++ {
			cs = append(cs, 1+rng.Intn(5000))
		}
		plans = append(plans, plan{"random", rng.Intn(200000), cs})
	}
	for _, p := range plans {
		in := data[:min(p.n, len(data))]
		check := func() {
			h, h128 := New(), New128()
			hs := NewSeed(uint64(p.n))
			for off, i := 0, 0; off < len(in); i++ {
				k := min(p.chunks[i%len(p.chunks)], len(in)-off)
				h.Write(in[off : off+k])
				h128.WriteString(string(in[off : off+k]))
				hs.Write(in[off : off+k])
				off += k
			}
			if got, exp := h.Sum64(), Hash(in); got != exp {
				t.Fatalf("%s %v of %d: Sum64 %016x, Hash %016x", p.name, p.chunks, p.n, got, exp)
			}
			if got, exp := h.Sum128(), Hash128(in); got != exp {
				t.Fatalf("%s %v of %d: Hasher.Sum128 %x, Hash128 %x", p.name, p.chunks, p.n, got, exp)
			}
			if got, exp := h128.Sum128(), Hash128(in); got != exp {
				t.Fatalf("%s %v of %d: Hasher128.Sum128 %x, Hash128 %x", p.name, p.chunks, p.n, got, exp)
			}
			if got, exp := hs.Sum64(), HashSeed(in, uint64(p.n)); got != exp {
				t.Fatalf("%s %v of %d: seeded Sum64 %016x, HashSeed %016x", p.name, p.chunks, p.n, got, exp)
			}
		}
		withAVX512(check)
		withAVX2(check)
		withSSE2(check)
		withGeneric(check)
	}
}

// BenchmarkHasherChunks: 1 MiB writes into one hasher (upstream copied
// every block after the first write through h.buf).
func BenchmarkHasherChunks(b *testing.B) {
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	h := New128()
	for i := 0; i < b.N; i++ {
		h.Write(buf)
	}
}
