package catalog

import (
	"hash/maphash"
	"math/bits"
	"sync/atomic"

	badger "github.com/dgraph-io/badger/v4"
)

// idFilter is a Bloom filter, in memory only, of the content ids in the
// catalog: PutFiles' prefetch asks it before it asks Badger whether a
// file's content is known, and a content id it has never seen (most of a
// first ingest's) needs no lookup through every memtable and level-0
// table (a tenth of a 1M first ingest's CPU). It may say "maybe" for an
// id the catalog does not hold (then the lookup is made), never "no" for
// one it holds: every asset write adds its id (setAsset) before its
// transaction commits, and Open's scan adds the ids already stored; until
// that scan is done the filter says "maybe" to everything. Writes
// committed after a prefetch read the filter are caught as every prefetch
// answer is (recentWrites). The filter does not grow: sized at Open for
// the keys then stored (6 bits a key, a file writes 4 or 5; from 2 MiB,
// 10 bits an id for 1.6 million ids, to 16 MiB), it answers "maybe" more
// often as the catalog outgrows it, until the next Open.
type idFilter struct {
	seed  maphash.Seed
	words []atomic.Uint64 // len is a power of two
	ready atomic.Bool
}

// idFilterHashes is the number of bits set per id (k).
const idFilterHashes = 6

// Filter sizes, in bits: at least 2 MiB, at most 16 MiB (13 bits an id
// for 10 million ids; beyond, it answers "maybe" more often).
const (
	minIDFilterBits = 1 << 24
	maxIDFilterBits = 1 << 27
)

// newIDFilter sizes a filter for a catalog of keys keys.
func newIDFilter(keys uint64) *idFilter {
	nbits := min(max(minIDFilterBits, uint64(1)<<bits.Len64(keys*6)), maxIDFilterBits)
	return &idFilter{seed: maphash.MakeSeed(), words: make([]atomic.Uint64, nbits/64)}
}

func (f *idFilter) positions(id string) (h1, h2, mask uint64) {
	h := maphash.String(f.seed, id)
	return h, h>>32 | h<<32 | 1, uint64(len(f.words))*64 - 1
}

// add records id.
func (f *idFilter) add(id string) {
	h1, h2, mask := f.positions(id)
	for i := uint64(0); i < idFilterHashes; i++ {
		b := (h1 + i*h2) & mask
		f.words[b/64].Or(1 << (b % 64))
	}
}

// mayHave is false only for an id the catalog does not hold.
func (f *idFilter) mayHave(id string) bool {
	if !f.ready.Load() {
		return true
	}
	h1, h2, mask := f.positions(id)
	for i := uint64(0); i < idFilterHashes; i++ {
		b := (h1 + i*h2) & mask
		if f.words[b/64].Load()&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}

// fillIDFilter adds every content id stored (the a/ keys of one
// snapshot) to c.ids and marks it ready; it gives up when the catalog
// closes. Run by Open in the background.
func (c *Catalog) fillIDFilter() {
	defer c.pins.Done()
	prefix := []byte(pfxAsset)
	err := c.db.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.Prefix = prefix
		opt.PrefetchValues = false
		it := txn.NewIterator(opt)
		defer it.Close()
		n := 0
		for it.Rewind(); it.ValidForPrefix(prefix); it.Next() {
			if n++; n%4096 == 0 {
				select {
				case <-c.done:
					return ErrClosed
				default:
				}
			}
			c.ids.add(string(it.Item().Key()[len(prefix):]))
		}
		return nil
	})
	if err != nil {
		if err != ErrClosed {
			c.log.Warn("content id filter not built: every new file's content is looked up", "err", err)
		}
		return
	}
	c.ids.ready.Store(true)
}
