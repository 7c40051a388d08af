package catalog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/ingestd/ingestd/storage"
)

// The per-asset event index (issue 13: the console's asset page). Every
// event that names an asset (storage.Event.AssetID) is also in a key
// y/<id>/<seq as 8 bytes big-endian>, written by emit in the transaction
// that writes the event, so the index and the log never disagree, and
// AssetEvents reads an asset's events by seeking to its prefix instead of
// scanning the whole log. Consecutive events of one asset written in one
// transaction (a new file's asset.cataloged and location.added) share one
// key, that of the first: an empty value is one event, otherwise the value
// is the run's length n >= 2 (uvarint), the events seq .. seq+n-1.
// Catalogs written before the index existed are indexed once by Open
// (backfillAssetEvents); the marker key m/asset_events records that the
// index is complete.

// maxEventRun bounds the length of a run a y/ key may claim (a transaction
// holds far fewer events), so a damaged value cannot send a read through
// millions of seqs.
const maxEventRun = 1 << 16

// assetEventKey is y/<id>/<seq>.
func assetEventKey(id string, seq uint64) []byte {
	k := make([]byte, 0, len(pfxAssetEvent)+len(id)+1+8)
	k = append(k, pfxAssetEvent...)
	k = append(k, id...)
	k = append(k, '/')
	return binary.BigEndian.AppendUint64(k, seq)
}

func assetEventPrefix(id string) []byte { return []byte(pfxAssetEvent + id + "/") }

// assetEventRun is the run of a y/ key under prefix: its first seq and
// length.
func assetEventRun(item *badger.Item, prefix []byte) (first, n uint64, err error) {
	key := item.Key()
	if len(key) != len(prefix)+8 || !bytes.HasPrefix(key, prefix) {
		return 0, 0, fmt.Errorf("bad asset event key %q", key)
	}
	first = binary.BigEndian.Uint64(key[len(prefix):])
	n = 1
	err = item.Value(func(b []byte) error {
		if len(b) == 0 {
			return nil
		}
		v, k := binary.Uvarint(b)
		if k != len(b) || v < 2 || v > maxEventRun || first+v < first {
			return fmt.Errorf("bad asset event run %x at seq %d", b, first)
		}
		n = v
		return nil
	})
	return first, n, err
}

// indexEvent writes the y/ key of event seq of asset id in t: a new key, or
// the run of the event before it (same asset, seq-1) in this transaction
// grown by one.
func (t *wtxn) indexEvent(id string, seq uint64) error {
	if id == t.runID && seq == t.runFirst+t.runN && t.runN < maxEventRun {
		t.runN++
		return t.Set(assetEventKey(id, t.runFirst), binary.AppendUvarint(nil, t.runN))
	}
	t.runID, t.runFirst, t.runN = id, seq, 1
	return t.Set(assetEventKey(id, seq), nil)
}

// AssetEvents returns up to limit published events of asset id (those whose
// asset_id is id), in seq order after the cursor: with newestFirst false the
// events with seq greater than cursor, oldest first; with newestFirst true
// those with seq less than cursor (cursor 0: from the newest), newest
// first. An unknown id is a wrapped storage.ErrNotFound. Each page is one
// seek in the per-asset index (two oldest first: the run holding the
// cursor) plus a read per event, whatever the size of the log or the
// position of the cursor.
func (c *Catalog) AssetEvents(id string, cursor uint64, limit int, newestFirst bool) ([]storage.Event, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	evs := []storage.Event{}
	last := c.last.Load() // published: committed and durable
	err := c.db.View(func(txn *badger.Txn) error {
		if _, err := txn.Get(assetKey(id)); errors.Is(err, badger.ErrKeyNotFound) {
			return storage.ErrNotFound
		} else if err != nil {
			return err
		}
		// add appends event seq; false: the page is full. The e/ value
		// holding it (a transaction's block) is found with one reverse
		// seek, and kept for the next seq, most often in the same block.
		var eit *badger.Iterator
		defer func() {
			if eit != nil {
				eit.Close()
			}
		}()
		var block []byte
		var blockFirst, blockN uint64
		add := func(seq uint64) (bool, error) {
			if block == nil || seq < blockFirst || seq >= blockFirst+blockN {
				if eit == nil {
					eit = txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: []byte(pfxEvent)})
				}
				if eit.Seek(eventKey(seq)); !eit.ValidForPrefix([]byte(pfxEvent)) {
					return true, nil // cannot happen: the key and the event are written together
				}
				var err error
				if block, err = eit.Item().ValueCopy(block[:0]); err != nil {
					return false, err
				}
				blockFirst = eventSeq(eit.Item().Key())
				if blockN, err = eventCount(block); err != nil {
					return false, fmt.Errorf("decode events from %d: %w", blockFirst, err)
				}
			}
			found := false
			if err := decodeEvents(block, blockFirst, seq, func(e storage.Event) bool {
				if found = e.Seq == seq; found {
					evs = append(evs, e)
				}
				return false
			}); err != nil {
				return false, fmt.Errorf("decode event %d: %w", seq, err)
			}
			return len(evs) < limit, nil
		}
		prefix := assetEventPrefix(id)
		opt := badger.DefaultIteratorOptions
		opt.PrefetchValues = false
		opt.Prefix = prefix
		if newestFirst {
			top := last
			if cursor != 0 && cursor <= last {
				top = cursor - 1
			}
			if top == 0 {
				return nil
			}
			opt.Reverse = true
			it := txn.NewIterator(opt)
			defer it.Close()
			// Reverse: Seek finds the largest key <= top, the run holding
			// top or the last before it.
			for it.Seek(assetEventKey(id, top)); it.ValidForPrefix(prefix); it.Next() {
				first, n, err := assetEventRun(it.Item(), prefix)
				if err != nil {
					return err
				}
				for seq := min(first+n-1, top); seq >= first; seq-- {
					if more, err := add(seq); err != nil || !more {
						return err
					}
				}
			}
			return nil
		}
		if cursor >= last {
			return nil
		}
		from := cursor + 1
		if cursor > 0 {
			// The run holding from may start before it.
			ropt := opt
			ropt.Reverse = true
			rit := txn.NewIterator(ropt)
			rit.Seek(assetEventKey(id, cursor))
			var first, n uint64
			var err error
			if rit.ValidForPrefix(prefix) {
				first, n, err = assetEventRun(rit.Item(), prefix)
			}
			rit.Close()
			if err != nil {
				return err
			}
			for seq := from; seq < first+n && seq <= last; seq++ {
				if more, err := add(seq); err != nil || !more {
					return err
				}
			}
		}
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Seek(assetEventKey(id, from)); it.ValidForPrefix(prefix); it.Next() {
			first, n, err := assetEventRun(it.Item(), prefix)
			if err != nil {
				return err
			}
			for seq := first; seq < first+n; seq++ {
				if seq > last {
					return nil
				}
				if more, err := add(seq); err != nil || !more {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("events of asset %s: %w", id, err)
	}
	return evs, nil
}

// backfillAssetEvents indexes the events of a catalog written before the
// per-asset index existed (no m/asset_events marker): it reads the whole
// log once and writes y/ keys for the events that name an asset, then the
// marker, and syncs. Called by Open before any writer, so no event is
// emitted meanwhile; a crash before the marker only means it runs again
// (the keys are idempotent). A new catalog gets the marker at once.
func (c *Catalog) backfillAssetEvents() error {
	done := false
	if err := c.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get([]byte(keyAssetEvents))
		if err == nil {
			done = true
			return nil
		}
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		return err
	}); err != nil || done {
		return err
	}
	wb := c.db.NewWriteBatch()
	defer wb.Cancel()
	n := 0
	err := c.db.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.Prefix = []byte(pfxEvent)
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix(opt.Prefix); it.Next() {
			first := eventSeq(it.Item().Key())
			var werr error
			if err := it.Item().Value(func(b []byte) error {
				return decodeEvents(b, first, 0, func(e storage.Event) bool {
					if e.AssetID == "" || checkID(e.AssetID) != nil {
						return true
					}
					werr = wb.Set(assetEventKey(e.AssetID, e.Seq), nil)
					n++
					return werr == nil
				})
			}); err != nil {
				return fmt.Errorf("decode events from %d: %w", first, err)
			}
			if werr != nil {
				return werr
			}
		}
		return nil
	})
	if err == nil {
		err = wb.Set([]byte(keyAssetEvents), []byte("1"))
	}
	if err == nil {
		err = wb.Flush()
	}
	if err == nil && !c.opts.NoSyncWrites {
		err = c.syncLogs()
	}
	if err != nil {
		return fmt.Errorf("index events by asset: %w", err)
	}
	if n > 0 {
		c.log.Info("indexed the event log by asset (catalog written by an older version)", "events", n)
	}
	return nil
}
