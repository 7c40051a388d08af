package ingest

import (
	"cmp"
	"fmt"
	"slices"
	"sync"

	"github.com/zeebo/xxh3"

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
// Memory (issue 15): the entries are one slice sorted by key (40 bytes a
// file, binary search) plus a small map of recent additions, merged into
// the slice once it holds an eighth as many; removed entries are marked
// dead in place until the next merge. A map of a million entries took
// ~92 MB of heap at the end of a first ingest; the slice takes 40 MB.
type locIndex struct {
	mu    sync.Mutex
	ents  []idxSlot // sorted by key, unique keys; size < 0: removed
	dead  int       // removed entries still in ents
	over  map[uint64]idxEntry
	files int64
	bytes int64
	gen   uint32 // current walk generation
}

type idxEntry struct {
	size, mtime int64
	ino         uint64
	gen         uint32
}

type idxSlot struct {
	key uint64
	idxEntry
}

// minMerge is the overflow map's size below which it is never merged.
const minMerge = 4096

func pathKey(rel string) uint64 { return xxh3.HashString(rel) }

func (x *locIndex) load(cat *catalog.Catalog, vol string) error {
	var ents []idxSlot
	err := cat.WalkLocations(vol, func(l storage.Location) error {
		ents = append(ents, idxSlot{pathKey(l.Path), idxEntry{size: l.Size, mtime: l.MTime.UnixNano(), ino: l.Inode}})
		return nil
	})
	if err != nil {
		return fmt.Errorf("load locations of %s: %w", vol, err)
	}
	slices.SortStableFunc(ents, func(a, b idxSlot) int { return cmp.Compare(a.key, b.key) })
	// Two paths with one key (a 64-bit hash collision) share an entry,
	// the later one winning, as they would in a map.
	out := ents[:0]
	for _, e := range ents {
		if n := len(out); n > 0 && out[n-1].key == e.key {
			out[n-1] = e
			continue
		}
		out = append(out, e)
	}
	ents = slices.Clip(out)
	var bytes int64
	for _, e := range ents {
		bytes += e.size
	}
	x.mu.Lock()
	x.ents, x.dead, x.over = ents, 0, nil
	x.files, x.bytes = int64(len(ents)), bytes
	x.mu.Unlock()
	return nil
}

// find returns the live entry of k: in ents (i >= 0) or in over (i == -1);
// ok false if none.
func (x *locIndex) find(k uint64) (e idxEntry, i int, ok bool) {
	if j, found := x.search(k); found {
		if x.ents[j].size >= 0 {
			return x.ents[j].idxEntry, j, true
		}
		return idxEntry{}, j, false
	}
	e, ok = x.over[k]
	return e, -1, ok
}

// search is slices.BinarySearch of k in ents, narrowed first by
// interpolation: the keys are 64-bit hashes, spread evenly, so a few
// guesses from the key's value land next to it (a binary search of a
// million slots probes 20 of them, most cache misses: a first ingest looks
// up every file it catalogs, a rescan every file it walks). The guesses
// are capped, so keys that are not spread evenly (names chosen to collide
// in the hash) cost at most the binary search after them.
func (x *locIndex) search(k uint64) (int, bool) {
	lo, hi := 0, len(x.ents) // k, if present, is in ents[lo:hi]
	for range 4 {
		if hi-lo <= 32 {
			break
		}
		lk, hk := x.ents[lo].key, x.ents[hi-1].key
		if k <= lk || k >= hk {
			break // the binary search below settles it (an end, or outside)
		}
		g := lo + int(float64(k-lk)/float64(hk-lk)*float64(hi-1-lo))
		g = min(max(g, lo+1), hi-2)
		// The guess and a slot a little past it on the side of k bound
		// the window; a miss moves the bound only to the guess.
		const step = 8
		switch gk := x.ents[g].key; {
		case gk == k:
			return g, true
		case gk < k:
			lo = g + 1
			if p := min(g+step, hi-1); x.ents[p].key > k {
				hi = p
			}
		default:
			hi = g
			if p := max(g-step, lo); x.ents[p].key < k {
				lo = p + 1
			}
		}
	}
	j, found := slices.BinarySearchFunc(x.ents[lo:hi], k, func(s idxSlot, k uint64) int { return cmp.Compare(s.key, k) })
	return lo + j, found
}

// set stores e for k (live), given what find returned for it.
func (x *locIndex) set(k uint64, e idxEntry, i int) {
	if i >= 0 {
		x.ents[i].idxEntry = e
		return
	}
	if x.over == nil {
		x.over = map[uint64]idxEntry{}
	}
	x.over[k] = e
	if len(x.over) >= max(minMerge, len(x.ents)/8) {
		x.merge()
	}
}

// merge moves the overflow map into ents and drops removed entries.
func (x *locIndex) merge() {
	add := make([]idxSlot, 0, len(x.over))
	for k, e := range x.over {
		add = append(add, idxSlot{k, e})
	}
	slices.SortFunc(add, func(a, b idxSlot) int { return cmp.Compare(a.key, b.key) })
	out := make([]idxSlot, 0, len(x.ents)-x.dead+len(add))
	i, j := 0, 0
	for i < len(x.ents) || j < len(add) {
		switch {
		case j == len(add) || (i < len(x.ents) && x.ents[i].key < add[j].key):
			if x.ents[i].size >= 0 {
				out = append(out, x.ents[i])
			}
			i++
		default: // over never holds a key ents has (set updates ents in place)
			out = append(out, add[j])
			j++
		}
	}
	x.ents, x.dead, x.over = out, 0, nil
}

// put records a cataloged file (seen in the current walk).
func (x *locIndex) put(rel string, size, mtime int64, ino uint64) {
	k := pathKey(rel)
	x.mu.Lock()
	defer x.mu.Unlock()
	old, i, ok := x.find(k)
	if ok {
		x.bytes -= old.size
	} else {
		x.files++
		if i >= 0 {
			x.dead-- // a removed entry comes back
		}
	}
	x.bytes += size
	x.set(k, idxEntry{size: size, mtime: mtime, ino: ino, gen: x.gen}, i)
}

func (x *locIndex) del(rel string) {
	k := pathKey(rel)
	x.mu.Lock()
	defer x.mu.Unlock()
	old, i, ok := x.find(k)
	if !ok {
		return
	}
	x.files--
	x.bytes -= old.size
	if i < 0 {
		delete(x.over, k)
		return
	}
	x.ents[i].size = -1
	if x.dead++; x.dead >= max(minMerge, len(x.ents)/4) {
		x.merge()
	}
}

// beginWalk starts a new generation.
func (x *locIndex) beginWalk() {
	x.mu.Lock()
	x.gen++
	x.mu.Unlock()
}

// seen marks rel as found by the current walk and reports whether the
// catalog holds it with the same size, mtime and inode.
func (x *locIndex) seen(rel string, size, mtime int64, ino uint64) (unchanged bool) {
	k := pathKey(rel)
	x.mu.Lock()
	defer x.mu.Unlock()
	e, i, ok := x.find(k)
	if !ok {
		return false
	}
	e.gen = x.gen
	if i >= 0 {
		x.ents[i].gen = x.gen
	} else {
		x.over[k] = e
	}
	return e.size == size && e.mtime == mtime && e.ino == ino
}

// unseen returns the keys not marked by the current walk.
func (x *locIndex) unseen() map[uint64]bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := map[uint64]bool{}
	for _, e := range x.ents {
		if e.size >= 0 && e.gen != x.gen {
			out[e.key] = true
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
