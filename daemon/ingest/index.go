package ingest

import (
	"fmt"
	"sync"

	"github.com/zeebo/xxh3"

	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
)

// locIndex is a compact in-memory copy of what the catalog holds for one
// volume's present locations: per path (keyed by the 64-bit xxh3 of the
// path, about 50 bytes a file) size, mtime and inode. It is loaded once
// from the catalog when the volume loop starts and kept up to date by the
// pipeline's own PutFile and RemoveLocation calls, so a rescan of an
// unchanged tree is a walk plus map lookups, with no catalog reads. Paths
// are not kept: when a rescan finds entries missing, their paths are
// resolved by one catalog walk (rare: only after deletions).
type locIndex struct {
	mu    sync.Mutex
	m     map[uint64]idxEntry
	bytes int64
	gen   uint32 // current walk generation
}

type idxEntry struct {
	size, mtime int64
	ino         uint64
	gen         uint32
}

func pathKey(rel string) uint64 { return xxh3.HashString(rel) }

func (x *locIndex) load(cat *catalog.Catalog, vol string) error {
	m := map[uint64]idxEntry{}
	var bytes int64
	err := cat.WalkLocations(vol, func(l storage.Location) error {
		m[pathKey(l.Path)] = idxEntry{size: l.Size, mtime: l.MTime.UnixNano(), ino: l.Inode}
		bytes += l.Size
		return nil
	})
	if err != nil {
		return fmt.Errorf("load locations of %s: %w", vol, err)
	}
	x.mu.Lock()
	x.m, x.bytes = m, bytes
	x.mu.Unlock()
	return nil
}

// put records a cataloged file (seen in the current walk).
func (x *locIndex) put(rel string, size, mtime int64, ino uint64) {
	k := pathKey(rel)
	x.mu.Lock()
	if old, ok := x.m[k]; ok {
		x.bytes -= old.size
	}
	x.m[k] = idxEntry{size: size, mtime: mtime, ino: ino, gen: x.gen}
	x.bytes += size
	x.mu.Unlock()
}

func (x *locIndex) del(rel string) {
	k := pathKey(rel)
	x.mu.Lock()
	if old, ok := x.m[k]; ok {
		x.bytes -= old.size
		delete(x.m, k)
	}
	x.mu.Unlock()
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
	e, ok := x.m[k]
	if !ok {
		return false
	}
	e.gen = x.gen
	x.m[k] = e
	return e.size == size && e.mtime == mtime && e.ino == ino
}

// unseen returns the keys not marked by the current walk.
func (x *locIndex) unseen() map[uint64]bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := map[uint64]bool{}
	for k, e := range x.m {
		if e.gen != x.gen {
			out[k] = true
		}
	}
	return out
}

func (x *locIndex) stats() (files, bytes int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return int64(len(x.m)), x.bytes
}
