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
// event that names an asset (storage.Event.AssetID) also gets an empty key
// y/<id>/<seq as 8 bytes big-endian>, written by emit in the transaction
// that writes the event, so the index and the log never disagree, and
// AssetEvents reads an asset's events by seeking to its prefix instead of
// scanning the whole log. Catalogs written before the index existed are
// indexed once by Open (backfillAssetEvents); the marker key
// m/asset_events records that the index is complete.

// assetEventKey is y/<id>/<seq>.
func assetEventKey(id string, seq uint64) []byte {
	k := make([]byte, 0, len(pfxAssetEvent)+len(id)+1+8)
	k = append(k, pfxAssetEvent...)
	k = append(k, id...)
	k = append(k, '/')
	return binary.BigEndian.AppendUint64(k, seq)
}

func assetEventPrefix(id string) []byte { return []byte(pfxAssetEvent + id + "/") }

// assetEventSeq is the seq of a y/ key under prefix (false: not one).
func assetEventSeq(key, prefix []byte) (uint64, bool) {
	if len(key) != len(prefix)+8 || !bytes.HasPrefix(key, prefix) {
		return 0, false
	}
	return binary.BigEndian.Uint64(key[len(prefix):]), true
}

// AssetEvents returns up to limit published events of asset id (those whose
// asset_id is id), in seq order after the cursor: with newestFirst false the
// events with seq greater than cursor, oldest first; with newestFirst true
// those with seq less than cursor (cursor 0: from the newest), newest
// first. An unknown id is a wrapped storage.ErrNotFound. Each page is one
// seek in the per-asset index plus a read per event, whatever the size of
// the log or the position of the cursor.
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
		prefix := assetEventPrefix(id)
		opt := badger.DefaultIteratorOptions
		opt.PrefetchValues = false
		opt.Prefix = prefix
		opt.Reverse = newestFirst
		it := txn.NewIterator(opt)
		defer it.Close()
		var start []byte
		switch {
		case !newestFirst:
			start = assetEventKey(id, cursor+1)
		case cursor == 0 || cursor > last:
			start = assetEventKey(id, last) // reverse: the largest key <= it
		default:
			start = assetEventKey(id, cursor-1)
		}
		if newestFirst && cursor == 1 {
			return nil
		}
		for it.Seek(start); it.ValidForPrefix(prefix) && len(evs) < limit; it.Next() {
			seq, ok := assetEventSeq(it.Item().Key(), prefix)
			if !ok {
				return fmt.Errorf("bad asset event key %q", it.Item().Key())
			}
			if seq > last {
				if newestFirst {
					continue
				}
				break
			}
			item, err := txn.Get(eventKey(seq))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue // cannot happen: the key and the event are written together
			}
			if err != nil {
				return err
			}
			var e storage.Event
			if err := item.Value(func(b []byte) error { return decodeEvent(b, seq, &e) }); err != nil {
				return fmt.Errorf("decode event %d: %w", seq, err)
			}
			evs = append(evs, e)
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
			seq := eventSeq(it.Item().Key())
			var e storage.Event
			if err := it.Item().Value(func(b []byte) error { return decodeEvent(b, seq, &e) }); err != nil {
				return fmt.Errorf("decode event %d: %w", seq, err)
			}
			if e.AssetID == "" || checkID(e.AssetID) != nil {
				continue
			}
			if err := wb.Set(assetEventKey(e.AssetID, seq), nil); err != nil {
				return err
			}
			n++
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
