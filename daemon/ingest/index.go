package ingest

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/zeebo/xxh3"

	"github.com/ingestd/ingestd/daemon/watch"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
)

// locIndex is a compact in-memory copy of what the catalog holds for one
// volume's present locations: per path (keyed by the 64-bit xxh3 of the
// path) size, mtime and inode. It is loaded once from the catalog when the
// volume loop starts and kept up to date by the pipeline's own PutFile and
// RemoveLocation calls, so a rescan of an unchanged tree is a walk plus
// lookups, with no catalog reads. Paths are not kept: when a rescan finds
// entries missing, their paths are resolved by one catalog walk (rare:
// only after deletions).
//
// Memory (issue 15): the entries are kept sorted by key in chunks, runs of
// at most idxMaxChunk entries with disjoint key ranges, each holding its
// keys (8 bytes an entry), their size, mtime and inode (24 bytes) and a
// bit per entry for "seen by the current walk": 32 bytes and a bit a file.
// A lookup finds the chunk by the chunks' first keys, then the key in the
// chunk. New keys go to a small map, merged into the chunks once it holds
// an eighth as many; removed entries are marked dead in place until the
// next merge. A merge rebuilds only the chunks that receive keys or hold
// dead ones, one chunk at a time (the new one allocated, the old one
// dropped, a chunk grown past the maximum split), so it never holds the
// index twice: at most the sorted map and one chunk's worth on top. A
// map of a million entries took ~92 MB of heap at the end of a first
// ingest; one sorted slice took 40 MB but 80 MB and more while a merge
// built its successor; the chunks take 32 MB.
type locIndex struct {
	mu     sync.RWMutex        // seenAll's lookups share it; everything else takes it whole
	chunks []idxChunk          // in key order, disjoint, none empty
	firsts []uint64            // firsts[c] is chunks[c].keys[0]
	n      int                 // entries in chunks, removed ones included
	dead   int                 // removed entries in chunks
	over   map[uint64]idxEntry // keys no chunk holds
	files  int64
	bytes  int64
	gen    uint32 // current walk generation (of the entries in over)
}

type idxVal struct {
	size, mtime int64 // size < 0: removed
	ino         uint64
}

type idxEntry struct {
	idxVal
	gen uint32
}

// idxChunk is a sorted run of entries. Its slices are allocated at their
// final size and never grow: a merge that adds to a chunk replaces it.
type idxChunk struct {
	keys []uint64 // sorted, unique
	vals []idxVal
	seen []uint64 // bit i: entry i seen (or put) by the current walk
	dead int      // removed entries
}

func (c *idxChunk) marked(i int) bool { return c.seen[i/64]&(1<<(uint(i)%64)) != 0 }
func (c *idxChunk) mark(i int)        { c.seen[i/64] |= 1 << (uint(i) % 64) }

type idxSlot struct {
	key uint64
	idxEntry
}

type idxRec struct {
	key uint64
	idxVal
}

var (
	// idxMaxChunk is the most entries a chunk holds (256 KiB): what a
	// merge allocates on top of the sorted map, per chunk it rebuilds. A
	// variable for the tests.
	idxMaxChunk = 8192
	// minMerge is the overflow map's size below which it is never merged.
	minMerge = 4096
)

func pathKey(rel string) uint64 { return xxh3.HashString(rel) }

// load replaces the index with the volume's locations in the catalog.
// They come in path order, so in random key order: they are gathered in
// buckets by the key's top byte, then each bucket is sorted and copied
// into chunks and dropped in turn, so the entries are held twice one
// bucket at a time (one slice would hold them all twice when growing and
// again while the chunks were cut from it).
func (x *locIndex) load(cat *catalog.Catalog, vol string) error {
	var buckets [256][]idxRec
	err := cat.WalkLocations(vol, func(l storage.Location) error {
		k := pathKey(l.Path)
		b := &buckets[k>>56]
		*b = append(*b, idxRec{k, idxVal{size: l.Size, mtime: l.MTime.UnixNano(), ino: l.Inode}})
		return nil
	})
	if err != nil {
		return fmt.Errorf("load locations of %s: %w", vol, err)
	}
	n := 0
	for i, b := range buckets {
		slices.SortStableFunc(b, func(a, b idxRec) int { return cmp.Compare(a.key, b.key) })
		// Two paths with one key (a 64-bit hash collision) share an
		// entry, the later one winning, as they would in a map.
		out := b[:0]
		for _, e := range b {
			if m := len(out); m > 0 && out[m-1].key == e.key {
				out[m-1] = e
				continue
			}
			out = append(out, e)
		}
		buckets[i] = out
		n += len(out)
	}
	x.mu.Lock()
	seen := x.gen == 0 // as loaded entries were of generation 0
	x.mu.Unlock()
	var w chunkWriter
	w.begin(n)
	var bytes int64
	for i, b := range buckets {
		for _, e := range b {
			w.add(e.key, e.idxVal, seen)
			bytes += e.size
		}
		buckets[i] = nil
	}
	w.flush()
	x.mu.Lock()
	x.setChunks(w.out)
	x.dead, x.over = 0, nil
	x.files, x.bytes = int64(n), bytes
	x.mu.Unlock()
	return nil
}

// setChunks installs chunks (none with removed entries).
func (x *locIndex) setChunks(chunks []idxChunk) {
	x.chunks, x.firsts, x.n = chunks, make([]uint64, len(chunks)), 0
	for c, ch := range chunks {
		x.firsts[c] = ch.keys[0]
		x.n += len(ch.keys)
	}
}

// locate finds k in the chunks: entry i of chunk c, live or removed;
// found false if no chunk holds k.
func (x *locIndex) locate(k uint64) (c, i int, found bool) {
	c, found = searchKeys(x.firsts, k)
	if found {
		return c, 0, true
	}
	if c == 0 {
		return 0, 0, false // below the first key
	}
	c--
	i, found = searchKeys(x.chunks[c].keys, k)
	return c, i, found
}

// searchKeys is slices.BinarySearch of k in keys, narrowed first by
// interpolation: the keys are 64-bit hashes, spread evenly, so a few
// guesses from the key's value land next to it (a binary search of a
// million keys probes 20 of them, most cache misses: a first ingest looks
// up every file it catalogs, a rescan every file it walks). The guesses
// are capped, so keys that are not spread evenly (names chosen to collide
// in the hash) cost at most the binary search after them.
func searchKeys(keys []uint64, k uint64) (int, bool) {
	lo, hi := 0, len(keys) // k, if present, is in keys[lo:hi]
	for range 4 {
		if hi-lo <= 32 {
			break
		}
		lk, hk := keys[lo], keys[hi-1]
		if k <= lk || k >= hk {
			break // the binary search below settles it (an end, or outside)
		}
		g := lo + int(float64(k-lk)/float64(hk-lk)*float64(hi-1-lo))
		g = min(max(g, lo+1), hi-2)
		// The guess and a key a little past it on the side of k bound
		// the window; a miss moves the bound only to the guess.
		const step = 8
		switch gk := keys[g]; {
		case gk == k:
			return g, true
		case gk < k:
			lo = g + 1
			if p := min(g+step, hi-1); keys[p] > k {
				hi = p
			}
		default:
			hi = g
			if p := max(g-step, lo); keys[p] < k {
				lo = p + 1
			}
		}
	}
	j, found := slices.BinarySearch(keys[lo:hi], k)
	return lo + j, found
}

// chunkWriter cuts entries given in key order into chunks of even sizes,
// at most idxMaxChunk each, each allocated at its final size.
type chunkWriter struct {
	out    []idxChunk
	cur    idxChunk
	left   int // entries still to come in this run
	pieces int // chunks still to allocate for them
}

// begin starts a run of n entries.
func (w *chunkWriter) begin(n int) {
	w.left, w.pieces = n, (n+idxMaxChunk-1)/idxMaxChunk
}

func (w *chunkWriter) add(k uint64, v idxVal, seen bool) {
	if len(w.cur.keys) == cap(w.cur.keys) {
		w.flush()
		size := idxMaxChunk // more entries than begin was told: never so
		if w.pieces > 0 {
			size = max(1, (w.left+w.pieces-1)/w.pieces)
			w.pieces--
		}
		w.cur = idxChunk{keys: make([]uint64, 0, size), vals: make([]idxVal, 0, size), seen: make([]uint64, (size+63)/64)}
	}
	w.cur.keys = append(w.cur.keys, k)
	w.cur.vals = append(w.cur.vals, v)
	if seen {
		w.cur.mark(len(w.cur.keys) - 1)
	}
	w.left--
}

// flush ends the run: its last chunk goes out.
func (w *chunkWriter) flush() {
	if len(w.cur.keys) > 0 {
		w.out = append(w.out, w.cur)
	}
	w.cur = idxChunk{}
}

// joins reports whether a chunk of n entries is small and goes into the
// last one written, both being small enough.
func (w *chunkWriter) joins(n int) bool {
	m := len(w.out)
	return n > 0 && n < idxMaxChunk/4 && m > 0 && len(w.out[m-1].keys)+n <= idxMaxChunk/2
}

// merge moves the overflow map into the chunks and drops removed entries.
// A chunk that gets no key and holds no removed one is kept as it is;
// the others are rewritten one at a time.
func (x *locIndex) merge() {
	add := make([]idxSlot, 0, len(x.over))
	for k, e := range x.over {
		add = append(add, idxSlot{k, e})
	}
	x.over = nil
	slices.SortFunc(add, func(a, b idxSlot) int { return cmp.Compare(a.key, b.key) })
	w := chunkWriter{out: make([]idxChunk, 0, len(x.chunks)+1)}
	if len(x.chunks) == 0 {
		x.rewrite(&w, &idxChunk{}, add)
	}
	a := 0 // add[a:] go to chunks[c:]; those below the first key to the first
	for c := range x.chunks {
		old := &x.chunks[c]
		end := len(add)
		if c+1 < len(x.chunks) {
			next := x.firsts[c+1]
			end = a + sort.Search(end-a, func(j int) bool { return add[a+j].key >= next })
		}
		if end == a && old.dead == 0 && !w.joins(len(old.keys)) {
			w.out = append(w.out, *old)
			continue
		}
		x.rewrite(&w, old, add[a:end])
		x.chunks[c] = idxChunk{} // garbage before the next one is built
		a = end
	}
	x.setChunks(w.out)
	x.dead = 0
}

// rewrite writes the live entries of old and add (sorted, none of them
// in old) as one chunk, or several if they are too many, or into the
// chunk written before if both are small.
func (x *locIndex) rewrite(w *chunkWriter, old *idxChunk, add []idxSlot) {
	var prev idxChunk
	n := len(old.keys) - old.dead + len(add)
	if w.joins(n) {
		prev, w.out = w.out[len(w.out)-1], w.out[:len(w.out)-1]
	}
	w.begin(len(prev.keys) + n)
	for i, k := range prev.keys { // no removed entries: kept or written by this merge
		w.add(k, prev.vals[i], prev.marked(i))
	}
	i, j := 0, 0
	for i < len(old.keys) || j < len(add) {
		if j == len(add) || i < len(old.keys) && old.keys[i] < add[j].key {
			if old.vals[i].size >= 0 {
				w.add(old.keys[i], old.vals[i], old.marked(i))
			}
			i++
			continue
		}
		w.add(add[j].key, add[j].idxVal, add[j].gen == x.gen)
		j++
	}
	w.flush()
}

// put records a cataloged file (seen in the current walk).
func (x *locIndex) put(rel string, size, mtime int64, ino uint64) {
	k := pathKey(rel)
	v := idxVal{size: size, mtime: mtime, ino: ino}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.bytes += size
	if c, i, ok := x.locate(k); ok {
		ch := &x.chunks[c]
		if old := ch.vals[i].size; old >= 0 {
			x.bytes -= old
		} else { // a removed entry comes back
			x.files++
			ch.dead--
			x.dead--
		}
		ch.vals[i] = v
		ch.mark(i)
		return
	}
	if old, ok := x.over[k]; ok {
		x.bytes -= old.size
	} else {
		x.files++
	}
	if x.over == nil {
		x.over = map[uint64]idxEntry{}
	}
	x.over[k] = idxEntry{v, x.gen}
	if len(x.over) >= max(minMerge, x.n/8) {
		x.merge()
	}
}

func (x *locIndex) del(rel string) {
	k := pathKey(rel)
	x.mu.Lock()
	defer x.mu.Unlock()
	c, i, ok := x.locate(k)
	if !ok {
		if old, ok := x.over[k]; ok {
			x.files--
			x.bytes -= old.size
			delete(x.over, k)
		}
		return
	}
	ch := &x.chunks[c]
	old := ch.vals[i].size
	if old < 0 {
		return
	}
	x.files--
	x.bytes -= old
	ch.vals[i].size = -1
	ch.dead++
	if x.dead++; x.dead >= max(minMerge, x.n/4) {
		x.merge()
	}
}

// beginWalk starts a new generation.
func (x *locIndex) beginWalk() {
	x.mu.Lock()
	x.gen++
	for c := range x.chunks {
		clear(x.chunks[c].seen)
	}
	x.mu.Unlock()
}

// seenLocked marks key k as found by the current walk and reports whether
// the index holds it with want's size, mtime and inode. The caller holds
// the write lock.
func (x *locIndex) seenLocked(k uint64, want idxVal) (unchanged bool) {
	if c, i, ok := x.locate(k); ok {
		ch := &x.chunks[c]
		if ch.vals[i].size < 0 {
			return false
		}
		ch.mark(i)
		return ch.vals[i] == want
	}
	e, ok := x.over[k]
	if !ok {
		return false
	}
	e.gen = x.gen
	x.over[k] = e
	return e.idxVal == want
}

// seenAll is seen for each of es (a directory's files): whether the index
// holds it unchanged (each found is marked seen by this walk). The chunks
// are searched under the read lock, which a rescan's walkers share (their
// lookups are cache misses; under the write lock one walker waited for the
// other: an unchanged 1M-file rescan took 1.42-1.49 s, 1.3 cores, against
// 1.12-1.25 s, 1.5-1.6 cores), the seen bits set atomically (every other
// reader and writer of them holds the write lock). Keys only the overflow
// map may hold are done after, under the write lock (a merge may have
// moved them meanwhile: seenLocked looks in both).
func (x *locIndex) seenAll(es []watch.Entry) []bool {
	keys := make([]uint64, len(es))
	for i, e := range es {
		keys[i] = pathKey(e.Rel)
	}
	out := make([]bool, len(es))
	var rest []int
	x.mu.RLock()
	for i, e := range es {
		if c, j, ok := x.locate(keys[i]); ok {
			ch := &x.chunks[c]
			if ch.vals[j].size >= 0 {
				atomic.OrUint64(&ch.seen[j/64], 1<<(uint(j)%64))
				out[i] = ch.vals[j] == idxVal{size: e.Size, mtime: e.MTime, ino: e.Ino}
			}
			continue
		}
		if len(x.over) > 0 {
			rest = append(rest, i)
		}
	}
	x.mu.RUnlock()
	if len(rest) > 0 {
		x.mu.Lock()
		for _, i := range rest {
			e := es[i]
			out[i] = x.seenLocked(keys[i], idxVal{size: e.Size, mtime: e.MTime, ino: e.Ino})
		}
		x.mu.Unlock()
	}
	return out
}

// unseen returns the keys not marked by the current walk.
func (x *locIndex) unseen() map[uint64]bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := map[uint64]bool{}
	for c := range x.chunks {
		ch := &x.chunks[c]
		for i, k := range ch.keys {
			if ch.vals[i].size >= 0 && !ch.marked(i) {
				out[k] = true
			}
		}
	}
	for k, e := range x.over {
		if e.gen != x.gen {
			out[k] = true
		}
	}
	return out
}

func (x *locIndex) stats() (files, bytes int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.files, x.bytes
}
