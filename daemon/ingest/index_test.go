package ingest

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestLocIndexMatchesMap drives the compact index (sorted slice, overflow
// map, dead entries, merges) and a plain map through the same random
// puts, deletes and walks, and compares every answer.
func TestLocIndexMatchesMap(t *testing.T) {
	type ref struct{ size, mtime int64 }
	r := rand.New(rand.NewPCG(1, 2))
	var x locIndex
	want := map[string]ref{}
	seenGen := map[string]bool{}
	path := func() string { return fmt.Sprintf("d%d/f%d", r.IntN(50), r.IntN(600)) }
	for step := range 60000 {
		switch op := r.IntN(10); {
		case op < 6:
			p, size := path(), int64(r.IntN(1000))
			x.put(p, size, int64(step), 7)
			want[p] = ref{size, int64(step)}
			seenGen[p] = true
		case op < 8:
			p := path()
			x.del(p)
			delete(want, p)
			delete(seenGen, p)
		case op < 9:
			p := path()
			w, ok := want[p]
			got := x.seen(p, w.size, w.mtime, 7)
			if got != ok {
				t.Fatalf("step %d: seen(%s) = %v, want %v", step, p, got, ok)
			}
			if ok {
				seenGen[p] = true
				if x.seen(p, w.size+1, w.mtime, 7) {
					t.Fatalf("step %d: seen(%s) with another size says unchanged", step, p)
				}
			}
		default:
			if r.IntN(20) != 0 {
				continue
			}
			unseen := x.unseen()
			n := 0
			for p := range want {
				if !seenGen[p] {
					n++
					if !unseen[pathKey(p)] {
						t.Fatalf("step %d: %s not marked by the walk but not in unseen", step, p)
					}
				}
			}
			if n != len(unseen) {
				t.Fatalf("step %d: %d unseen, want %d", step, len(unseen), n)
			}
			x.beginWalk()
			clear(seenGen)
		}
		if step%500 != 0 {
			continue
		}
		files, bytes := x.stats()
		var wb int64
		for _, w := range want {
			wb += w.size
		}
		if files != int64(len(want)) || bytes != wb {
			t.Fatalf("step %d: stats %d files %d bytes, want %d, %d", step, files, bytes, len(want), wb)
		}
	}
	if len(x.ents) == 0 {
		t.Fatal("no merge happened: the sorted slice was never exercised")
	}
}

// TestLocIndexSearch: the interpolated search finds exactly what a binary
// search finds, for keys spread evenly (hashes of paths) and for keys
// bunched together (names chosen to collide in part of the hash), present
// or not, at the ends and outside.
func TestLocIndexSearch(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		name string
		key  func(i int) uint64
	}{
		{"path hashes", func(i int) uint64 { return pathKey(fmt.Sprintf("d%d/f%d", i/100, i)) }},
		{"bunched", func(i int) uint64 {
			if i%3 == 0 {
				return uint64(i) // a run at the bottom
			}
			return 1<<63 + uint64(i)<<20 | r.Uint64()&0xfffff
		}},
		{"few", func(i int) uint64 { return r.Uint64() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 100000
			if tc.name == "few" {
				n = 40
			}
			var x locIndex
			seen := map[uint64]bool{}
			for i := range n {
				k := tc.key(i)
				if !seen[k] {
					seen[k] = true
					x.ents = append(x.ents, idxSlot{key: k})
				}
			}
			slices.SortFunc(x.ents, func(a, b idxSlot) int { return cmp.Compare(a.key, b.key) })
			probe := func(k uint64) {
				t.Helper()
				wj, wok := slices.BinarySearchFunc(x.ents, k, func(s idxSlot, k uint64) int { return cmp.Compare(s.key, k) })
				j, ok := x.search(k)
				if ok != wok || ok && j != wj {
					t.Fatalf("search(%#x) = %d %v, want %d %v", k, j, ok, wj, wok)
				}
			}
			for _, s := range x.ents {
				probe(s.key)
				probe(s.key + 1)
				probe(s.key - 1)
			}
			for range 100000 {
				probe(r.Uint64())
			}
			probe(0)
			probe(^uint64(0))
		})
	}
}

// BenchmarkLocIndexFind is one lookup of a cataloged path in the index of
// a million files (a rescan's per-file cost, a first ingest's per put).
func BenchmarkLocIndexFind(b *testing.B) {
	var x locIndex
	const n = 1000000
	for i := range n {
		x.ents = append(x.ents, idxSlot{key: pathKey(fmt.Sprintf("d%d/f%d", i/100, i))})
	}
	slices.SortFunc(x.ents, func(a, b idxSlot) int { return cmp.Compare(a.key, b.key) })
	keys := make([]uint64, 4096)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range keys {
		keys[i] = x.ents[r.IntN(n)].key
	}
	b.ResetTimer()
	for i := range b.N {
		if _, ok := x.search(keys[i%len(keys)]); !ok {
			b.Fatal("not found")
		}
	}
}
