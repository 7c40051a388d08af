package ingest

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/zeebo/blake3"
	"github.com/zeebo/xxh3"

	"github.com/ingestd/ingestd/daemon/watch"
	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
)

// seen is seenAll of one file: it marks rel as found by the current walk
// and reports whether the index holds it with this size, mtime and inode.
func (x *locIndex) seen(rel string, size, mtime int64, ino uint64) bool {
	return x.seenAll([]watch.Entry{{Rel: rel, Size: size, MTime: mtime, Ino: ino}})[0]
}

// checkIndex fails t unless x's chunks are what its lookups rely on: in
// key order with disjoint ranges, none empty or over the maximum, firsts
// and the counts of entries and removed entries matching them.
func checkIndex(t testing.TB, x *locIndex) {
	t.Helper()
	if len(x.firsts) != len(x.chunks) {
		t.Fatalf("%d firsts for %d chunks", len(x.firsts), len(x.chunks))
	}
	n, dead := 0, 0
	var last uint64
	for c := range x.chunks {
		ch := &x.chunks[c]
		if len(ch.keys) == 0 || len(ch.keys) > idxMaxChunk || len(ch.vals) != len(ch.keys) || len(ch.seen)*64 < len(ch.keys) {
			t.Fatalf("chunk %d: %d keys, %d values, %d seen words (at most %d keys)", c, len(ch.keys), len(ch.vals), len(ch.seen), idxMaxChunk)
		}
		if x.firsts[c] != ch.keys[0] {
			t.Fatalf("chunk %d: first %#x, firsts says %#x", c, ch.keys[0], x.firsts[c])
		}
		d := 0
		for i, k := range ch.keys {
			if (c > 0 || i > 0) && k <= last {
				t.Fatalf("chunk %d entry %d: key %#x after %#x", c, i, k, last)
			}
			last = k
			if ch.vals[i].size < 0 {
				d++
			}
			if _, ok := x.over[k]; ok {
				t.Fatalf("key %#x both in chunk %d and in the map", k, c)
			}
		}
		if d != ch.dead {
			t.Fatalf("chunk %d: %d removed entries, counted %d", c, d, ch.dead)
		}
		n, dead = n+len(ch.keys), dead+d
	}
	if n != x.n || dead != x.dead {
		t.Fatalf("%d entries, %d removed; counted %d, %d", n, dead, x.n, x.dead)
	}
}

// TestLocIndexMatchesMap drives the compact index (chunks, overflow map,
// dead entries, merges, splits and joins of chunks) and a plain map
// through the same random puts, deletes and walks, and compares every
// answer: with the real sizes, and with chunks of 64 entries merged
// every 64 new keys, so that chunks split and join all the time.
func TestLocIndexMatchesMap(t *testing.T) {
	for _, tc := range []struct{ chunk, merge int }{{8192, 4096}, {64, 64}} {
		t.Run(fmt.Sprintf("chunk%d", tc.chunk), func(t *testing.T) {
			defer func(c, m int) { idxMaxChunk, minMerge = c, m }(idxMaxChunk, minMerge)
			idxMaxChunk, minMerge = tc.chunk, tc.merge
			matchesMap(t)
		})
	}
}

func matchesMap(t *testing.T) {
	type ref struct{ size, mtime int64 }
	r := rand.New(rand.NewPCG(1, 2))
	var x locIndex
	want := map[string]ref{}
	seenGen := map[string]bool{}
	path := func() string { return fmt.Sprintf("d%d/f%d", r.IntN(50), r.IntN(600)) }
	maxChunks, merges := 0, 0
	for step := range 60000 {
		firsts := x.firsts
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
		if len(x.firsts) > 0 && (len(firsts) == 0 || &x.firsts[0] != &firsts[0]) {
			merges++ // a merge makes a new firsts
		}
		maxChunks = max(maxChunks, len(x.chunks))
		if step%500 != 0 {
			continue
		}
		checkIndex(t, &x)
		files, bytes := x.stats()
		var wb int64
		for _, w := range want {
			wb += w.size
		}
		if files != int64(len(want)) || bytes != wb {
			t.Fatalf("step %d: stats %d files %d bytes, want %d, %d", step, files, bytes, len(want), wb)
		}
	}
	checkIndex(t, &x)
	t.Logf("%d merges, up to %d chunks, %d now", merges, maxChunks, len(x.chunks))
	if merges < 2 {
		t.Fatalf("%d merges: the chunks were hardly exercised", merges)
	}
	if idxMaxChunk < 1000 && maxChunks < 100 {
		t.Fatalf("at most %d chunks of at most %d entries: they never split", maxChunks, idxMaxChunk)
	}
}

// TestLocIndexLoad loads a real catalog's locations of one volume (in
// chunks of 256, so across many chunks and the load's buckets): every
// present file is found with its size, mtime and inode, removed ones and
// other volumes' are not, and what the index held before is gone.
func TestLocIndexLoad(t *testing.T) {
	defer func(c int) { idxMaxChunk = c }(idxMaxChunk)
	idxMaxChunk = 256
	cat, err := catalog.Open(filepath.Join(t.TempDir(), "catalog"), catalog.Options{NoSyncWrites: true, Logger: testutil.Logger(t), Reserve: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	const n = 3000
	mtime := func(i int) time.Time { return time.Unix(1_700_000_000+int64(i), 123456789) }
	var recs []storage.FileRecord
	for i := range n + 10 {
		content := []byte(fmt.Sprint("content ", i))
		b := blake3.Sum256(content)
		h := xxh3.Hash128(content).Bytes()
		vol := "v"
		if i >= n {
			vol = "w"
		}
		recs = append(recs, storage.FileRecord{Volume: vol, Path: fmt.Sprintf("d%d/f%d.exr", i%7, i), Size: int64(len(content)),
			MTime: mtime(i), Inode: uint64(1e12 + i), Dev: 1,
			Hashes: storage.Hashes{BLAKE3: hex.EncodeToString(b[:]), XXH128: hex.EncodeToString(h[:])}})
	}
	if _, errs := cat.PutFiles(recs); errors.Join(errs...) != nil {
		t.Fatal(errors.Join(errs...))
	}
	for i := range 100 {
		if _, err := cat.RemoveLocation("v", recs[i].Path, "test"); err != nil {
			t.Fatal(err)
		}
	}
	var x locIndex
	x.put("before/load", 5, 5, 5)
	x.beginWalk()
	if err := x.load(cat, "v"); err != nil {
		t.Fatal(err)
	}
	checkIndex(t, &x)
	if len(x.chunks) < n/idxMaxChunk {
		t.Fatalf("%d chunks of at most %d for %d files", len(x.chunks), idxMaxChunk, n-100)
	}
	var bytes int64
	for _, r := range recs[100:n] {
		bytes += r.Size
	}
	if files, b := x.stats(); files != n-100 || b != bytes {
		t.Fatalf("stats %d files %d bytes, want %d, %d", files, b, n-100, bytes)
	}
	if unseen := x.unseen(); len(unseen) != n-100 { // loaded after the walk began
		t.Fatalf("%d unseen after the load, want %d", len(unseen), n-100)
	}
	for i, r := range recs {
		want := i >= 100 && i < n
		if got := x.seen(r.Path, r.Size, r.MTime.UnixNano(), r.Inode); got != want {
			t.Fatalf("seen(%s) = %v, want %v", r.Path, got, want)
		}
		if want && x.seen(r.Path, r.Size, r.MTime.UnixNano(), r.Inode+1) {
			t.Fatalf("seen(%s) with another inode says unchanged", r.Path)
		}
	}
	if x.seen("before/load", 5, 5, 5) {
		t.Fatal("an entry put before the load is still there")
	}
	if unseen := x.unseen(); len(unseen) != 0 {
		t.Fatalf("%d unseen after seeing them all", len(unseen))
	}
}

// TestLocIndexMergeMemory: a merge allocates for the keys it adds and the
// chunks they land in, not for the whole index (a single sorted slice
// was copied whole by every merge: 40 bytes a file, 8 MB here, 40 MB at
// a million files, while the old copy was still alive).
func TestLocIndexMergeMemory(t *testing.T) {
	var x locIndex
	const m, n = 200000, 500
	buf := make([]byte, 0, 32)
	for i := range m {
		x.put(string(strconv.AppendInt(append(buf[:0], "f"...), int64(i), 10)), 1, 1, 1)
	}
	x.merge()
	checkIndex(t, &x)
	if m < 8*idxMaxChunk || len(x.chunks) < 8 {
		t.Fatalf("%d entries in %d chunks of at most %d: the index is not many chunks", m, len(x.chunks), idxMaxChunk)
	}
	// n new paths whose keys fall in the first chunk (keys below 2^64/1024:
	// its range is about 2^64·4000/200000), fewer than a merge waits for.
	var paths []string
	for i := 0; len(paths) < n; i++ {
		p := "g" + strconv.Itoa(i)
		if pathKey(p) < 1<<54 {
			paths = append(paths, p)
		}
	}
	for _, p := range paths {
		x.put(p, 2, 2, 2)
	}
	if len(x.over) != n {
		t.Fatalf("%d keys waiting to be merged, want %d", len(x.over), n)
	}
	chunks := len(x.chunks)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x.merge()
	runtime.ReadMemStats(&after)
	got := after.TotalAlloc - before.TotalAlloc
	// The sorted map, one chunk rebuilt (split in two if full), and the
	// new list of chunks and their first keys.
	bound := uint64(2*n*unsafe.Sizeof(idxSlot{}) + 2*uintptr(idxMaxChunk+n)*(8+unsafe.Sizeof(idxVal{})+1) +
		2*uintptr(chunks+2)*(unsafe.Sizeof(idxChunk{})+8) + 16<<10)
	t.Logf("merge of %d keys into %d entries allocated %d bytes (bound %d)", n, m, got, bound)
	if got > bound {
		t.Fatalf("merging %d keys into an index of %d allocated %d bytes, more than %d (one chunk's worth)", n, m, got, bound)
	}
	checkIndex(t, &x)
	for _, p := range paths {
		if !x.seen(p, 2, 2, 2) {
			t.Fatalf("%s not in the index after the merge", p)
		}
	}
	if f, _ := x.stats(); f != m+n {
		t.Fatalf("%d files, want %d", f, m+n)
	}
}

// TestLocIndexSearch: the interpolated search finds exactly what a binary
// search finds, for keys spread evenly (hashes of paths) and for keys
// bunched together (names chosen to collide in part of the hash), present
// or not, at the ends and outside; and so does locate over those keys cut
// in chunks.
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
			defer func(c int) { idxMaxChunk = c }(idxMaxChunk)
			idxMaxChunk = 1000
			n := 100000
			if tc.name == "few" {
				n = 40
			}
			var keys []uint64
			seen := map[uint64]bool{}
			for i := range n {
				k := tc.key(i)
				if !seen[k] {
					seen[k] = true
					keys = append(keys, k)
				}
			}
			slices.Sort(keys)
			x := indexOf(keys)
			checkIndex(t, x)
			probe := func(k uint64) {
				t.Helper()
				wj, wok := slices.BinarySearch(keys, k)
				j, ok := searchKeys(keys, k)
				if ok != wok || ok && j != wj {
					t.Fatalf("searchKeys(%#x) = %d %v, want %d %v", k, j, ok, wj, wok)
				}
				c, i, ok := x.locate(k)
				if ok != wok || ok && x.chunks[c].keys[i] != k {
					t.Fatalf("locate(%#x) = %d %d %v, want found %v", k, c, i, ok, wok)
				}
			}
			for _, k := range keys {
				probe(k)
				probe(k + 1)
				probe(k - 1)
			}
			for range 100000 {
				probe(r.Uint64())
			}
			probe(0)
			probe(^uint64(0))
		})
	}
}

// indexOf is an index of sorted, unique keys.
func indexOf(keys []uint64) *locIndex {
	var w chunkWriter
	w.begin(len(keys))
	for _, k := range keys {
		w.add(k, idxVal{}, false)
	}
	w.flush()
	x := &locIndex{}
	x.setChunks(w.out)
	return x
}

// BenchmarkLocIndexFind is one lookup of a cataloged path in the index of
// a million files (a rescan's per-file cost, a first ingest's per put).
func BenchmarkLocIndexFind(b *testing.B) {
	const n = 1000000
	all := make([]uint64, n)
	for i := range all {
		all[i] = pathKey(fmt.Sprintf("d%d/f%d", i/100, i))
	}
	keys := make([]uint64, 4096)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range keys {
		keys[i] = all[r.IntN(n)]
	}
	slices.Sort(all)
	x := indexOf(all)
	b.ResetTimer()
	for i := range b.N {
		if _, _, ok := x.locate(keys[i%len(keys)]); !ok {
			b.Fatal("not found")
		}
	}
}

// BenchmarkLocIndexBuild is a first ingest's index: a million cataloged
// paths put in the order they are walked (their keys arrive in random
// order), with the merges this takes along the way. It reports the bytes
// allocated, the heap's peak above what it held before (sampled every 4096
// puts, so it includes the garbage merges leave until the GC takes it) and
// what the index holds once built.
func BenchmarkLocIndexBuild(b *testing.B) {
	const n = 1000000
	var peak, held uint64
	var ms runtime.MemStats
	b.ReportAllocs()
	for range b.N {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		var x locIndex
		buf := make([]byte, 0, 32)
		for i := range n {
			buf = append(strconv.AppendInt(append(strconv.AppendInt(append(buf[:0], 'd'), int64(i/100), 10), "/f"...), int64(i), 10), ".exr"...)
			x.put(string(buf), int64(i), int64(i), uint64(i))
			if i%4096 == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc-min(base, ms.HeapAlloc))
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		held = max(held, ms.HeapAlloc-min(base, ms.HeapAlloc))
		if f, _ := x.stats(); f != n {
			b.Fatalf("%d files, want %d", f, n)
		}
		runtime.KeepAlive(&x)
	}
	b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
	b.ReportMetric(float64(held)/1e6, "index-MB")
}

// TestLocIndexSeenAllConcurrent: seenAll from several walkers at once
// (the lookups share a read lock, the seen bits set atomically) while the
// pipeline puts new files (the write lock): each answer is right (an
// unchanged file, a changed one, a removed one, one only the overflow map
// holds), every file looked up is marked seen, and unseen() is exactly the
// files no walker looked up. Run with -race.
func TestLocIndexSeenAllConcurrent(t *testing.T) {
	defer func(c, m int) { idxMaxChunk, minMerge = c, m }(idxMaxChunk, minMerge)
	idxMaxChunk, minMerge = 64, 64 // many chunks; merges while the walkers look up
	const n = 20000
	x := &locIndex{}
	path := func(i int) string { return fmt.Sprintf("d%d/f%d.mov", i/100, i) }
	for i := range n {
		x.put(path(i), int64(i), int64(i)*10, uint64(i))
	}
	x.merge()
	for i := 0; i < n; i += 97 {
		x.del(path(i)) // removed: never unchanged, never unseen
	}
	x.beginWalk()
	const walkers = 4
	var wg sync.WaitGroup
	errs := make(chan error, walkers+1)
	for w := range walkers {
		wg.Go(func() {
			// Walker w looks up directories w, w+walkers, ... but skips
			// every 10th directory (those must come out unseen).
			for d := w; d < n/100; d += walkers {
				if d%10 == 9 {
					continue
				}
				es := make([]watch.Entry, 0, 100)
				for i := d * 100; i < d*100+100; i++ {
					size := int64(i)
					if i%7 == 0 {
						size++ // changed since cataloged
					}
					es = append(es, watch.Entry{Rel: path(i), Size: size, MTime: int64(i) * 10, Ino: uint64(i)})
				}
				got := x.seenAll(es)
				for j, e := range es {
					i := d*100 + j
					want := i%97 != 0 && i%7 != 0
					if got[j] != want {
						errs <- fmt.Errorf("%s: unchanged %v, want %v", e.Rel, got[j], want)
						return
					}
				}
			}
		})
	}
	// New files put meanwhile (the overflow map, merged into the chunks
	// as it grows), then looked up by this walk too.
	wg.Go(func() {
		for i := n; i < n+2000; i++ {
			x.put(path(i), int64(i), int64(i)*10, uint64(i))
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	x.mu.Lock()
	checkIndex(t, x)
	x.mu.Unlock()
	unseen := x.unseen()
	want := map[uint64]bool{}
	for i := range n {
		if (i/100)%10 == 9 && i%97 != 0 {
			want[pathKey(path(i))] = true
		}
	}
	// Files put during this walk count as seen by it (put marks them).
	if len(unseen) != len(want) {
		t.Fatalf("%d files unseen, want %d", len(unseen), len(want))
	}
	for k := range want {
		if !unseen[k] {
			t.Fatalf("key %#x looked up by no walker but not unseen", k)
		}
	}
}
