package ingest

import (
	"fmt"
	"math/rand/v2"
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
