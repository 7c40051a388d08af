package catalog

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/ingestd/ingestd/storage"
)

// DefaultLimit is the page size used when a caller passes limit <= 0.
const DefaultLimit = 100

// Asset returns the asset id with its locations, ordered by volume then
// path: the present ones (found through the x/ index) and those it has left
// (state removed, from the r/ keys). An unknown id is a wrapped
// storage.ErrNotFound.
func (c *Catalog) Asset(id string) (storage.AssetDoc, error) {
	var doc storage.AssetDoc
	err := c.db.View(func(txn *badger.Txn) error {
		found, err := getAsset(txn, id, &doc.Asset)
		if err != nil {
			return err
		}
		if !found {
			return storage.ErrNotFound
		}
		li := newLocIters(txn)
		defer li.close()
		doc.Locations, err = li.assetLocations(id)
		return err
	})
	if err != nil {
		return storage.AssetDoc{}, fmt.Errorf("asset %s: %w", id, err)
	}
	return doc, nil
}

// Assets returns up to limit assets with ids greater than after, in id
// order, each with its locations as in Asset.
func (c *Catalog) Assets(after string, limit int) ([]storage.AssetDoc, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	docs := []storage.AssetDoc{}
	err := c.db.View(func(txn *badger.Txn) error {
		prefix := []byte(pfxAsset)
		opt := badger.DefaultIteratorOptions
		opt.Prefix = prefix
		opt.PrefetchSize = min(limit, 100)
		it := txn.NewIterator(opt)
		defer it.Close()
		// One pair of index iterators for the page, each asset a Seek:
		// a Badger iterator costs far more to make than to seek.
		li := newLocIters(txn)
		defer li.close()
		tr := c.readTrimmer()
		start := assetKey(after)
		for it.Seek(start); it.ValidForPrefix(prefix) && len(docs) < limit; it.Next() {
			tr.read()
			item := it.Item()
			if after != "" && string(item.Key()) == string(start) {
				continue
			}
			var doc storage.AssetDoc
			id := string(item.Key()[len(prefix):])
			if err := item.Value(func(b []byte) error { return decodeAsset(b, id, &doc.Asset) }); err != nil {
				return fmt.Errorf("decode %s: %w", item.Key(), err)
			}
			var err error
			if doc.Locations, err = li.assetLocations(doc.ID); err != nil {
				return err
			}
			docs = append(docs, doc)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list assets after %q: %w", after, err)
	}
	return docs, nil
}

// locIters reads assets' locations in a read-only transaction: one
// iterator over the x/ index and one over the r/ keys, sought to each
// asset in turn.
type locIters struct {
	txn        *badger.Txn
	index, rem *badger.Iterator
}

func newLocIters(txn *badger.Txn) *locIters {
	opt := badger.DefaultIteratorOptions
	opt.PrefetchValues = false
	opt.Prefix = []byte(pfxIndex)
	li := &locIters{txn: txn, index: txn.NewIterator(opt)}
	opt.Prefix = []byte(pfxRemoved)
	li.rem = txn.NewIterator(opt)
	return li
}

func (li *locIters) close() {
	li.index.Close()
	li.rem.Close()
}

// assetLocations is the asset's present and removed locations, ordered by
// volume then path (present first should a path be both, which the
// transactions never let happen).
func (li *locIters) assetLocations(id string) ([]storage.Location, error) {
	locs, err := presentLocations(li.txn, li.index, id)
	if err != nil {
		return nil, err
	}
	removed, err := removedLocations(li.rem, id)
	if err != nil {
		return nil, err
	}
	if len(removed) == 0 {
		return locs, nil
	}
	locs = append(locs, removed...)
	slices.SortStableFunc(locs, func(a, b storage.Location) int {
		return cmp.Or(strings.Compare(a.Volume, b.Volume), strings.Compare(a.Path, b.Path))
	})
	return locs, nil
}

// removedLocationsTxn reads the asset's r/ keys in txn with an iterator of
// its own (a read-write transaction allows one open iterator at a time).
func removedLocationsTxn(txn *badger.Txn, id string) ([]storage.Location, error) {
	opt := badger.DefaultIteratorOptions
	opt.Prefix = removedPrefix(id)
	it := txn.NewIterator(opt)
	defer it.Close()
	return removedLocations(it, id)
}

// removedLocations reads the asset's r/ keys with it (an iterator over
// them, or over all r/ keys): the paths it has left.
func removedLocations(it *badger.Iterator, id string) ([]storage.Location, error) {
	var locs []storage.Location
	prefix := removedPrefix(id)
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		volume, path, ok := splitIndexKey(item.Key(), prefix)
		if !ok {
			return nil, fmt.Errorf("bad removed-location key %q", item.Key())
		}
		var loc storage.Location
		if err := item.Value(func(b []byte) error { return decodeLocation(b, volume, path, &loc) }); err != nil {
			return nil, fmt.Errorf("removed location %s:%q of asset %s: %w", volume, path, id, err)
		}
		loc.AssetID, loc.State = id, storage.LocRemoved
		locs = append(locs, loc)
	}
	return locs, nil
}

// presentLocations follows the asset's x/ index keys (read with it, an
// iterator over all x/ keys) to its locations.
func presentLocations(txn *badger.Txn, it *badger.Iterator, id string) ([]storage.Location, error) {
	locs := []storage.Location{}
	prefix := indexPrefix(id)
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		volume, path, ok := splitIndexKey(it.Item().Key(), prefix)
		if !ok {
			return nil, fmt.Errorf("bad index key %q", it.Item().Key())
		}
		var loc storage.Location
		item, err := txn.Get(locKey(volume, path))
		if errors.Is(err, badger.ErrKeyNotFound) {
			continue // cannot happen while index and records change together
		}
		if err == nil {
			err = item.Value(func(b []byte) error { return decodeLocation(b, volume, path, &loc) })
		}
		if err != nil {
			return nil, fmt.Errorf("location %s:%s of asset %s: %w", volume, path, id, err)
		}
		if loc.State != storage.LocPresent || loc.AssetID != id {
			continue // cannot happen while index and records change together
		}
		locs = append(locs, loc)
	}
	return locs, nil
}

// UpdateAsset reads asset id, lets fn change it and writes it back in one
// transaction, together with an event of type eventType (when not empty)
// carrying detail. fn runs under the catalog's write lock: it must not call
// the catalog. An error from fn aborts the update and is returned wrapped;
// an unknown id is a wrapped storage.ErrNotFound. fn cannot change the id.
func (c *Catalog) UpdateAsset(id, eventType, detail string, fn func(*storage.Asset) error) ([]storage.Event, error) {
	evs, err := c.write(func(w *txw) error {
		var a storage.Asset
		found, err := getAsset(w.txn, id, &a)
		if err != nil {
			return err
		}
		if !found {
			return storage.ErrNotFound
		}
		if err := fn(&a); err != nil {
			return err
		}
		a.ID = id
		if err := w.setAsset(a); err != nil {
			return err
		}
		if eventType == "" {
			return nil
		}
		return w.emit(storage.Event{Type: eventType, AssetID: id, Detail: detail})
	})
	if err != nil {
		return nil, fmt.Errorf("update asset %s: %w", id, err)
	}
	return evs, nil
}
