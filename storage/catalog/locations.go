package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/ingestd/ingestd/storage"
)

// Location returns the record of volume/path, present or removed. An unknown
// path is a wrapped storage.ErrNotFound.
func (c *Catalog) Location(volume, path string) (storage.Location, error) {
	var loc storage.Location
	err := c.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(locKey(volume, path))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return storage.ErrNotFound
		}
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error { return decodeLocation(b, volume, path, &loc) })
	})
	if err != nil {
		return storage.Location{}, fmt.Errorf("location %s:%s: %w", volume, path, err)
	}
	return loc, nil
}

// PutFile records that rec.Path on rec.Volume holds the content
// rec.Hashes.BLAKE3 (the asset id), in one transaction, and returns the
// events written:
//
//   - content never seen: the asset record and asset.cataloged;
//   - a path not cataloged, or removed earlier: location.added;
//   - a present path with other content: location.changed, the previous
//     content appended to the location's History, and asset.updated for
//     the previous content (its id, this volume and path, detail "location
//     replaced by <new id>"): that asset lost a location, and its document
//     now lists it as removed with replaced_by;
//   - same content, other mtime/inode/dev: location.changed, detail "metadata";
//   - same content and stat: nothing is written and no event is returned,
//     so a restart that re-reports every file duplicates nothing.
func (c *Catalog) PutFile(rec storage.FileRecord) ([]storage.Event, error) {
	if err := checkFileRecord(rec); err != nil {
		return nil, fmt.Errorf("put file %s:%s: %w", rec.Volume, rec.Path, err)
	}
	evs, err := c.write(func(w *txw) error {
		return w.putFile(rec)
	})
	if err != nil {
		return nil, fmt.Errorf("put file %s:%s: %w", rec.Volume, rec.Path, err)
	}
	return evs, nil
}

// PutFiles is PutFile for several files at once (the ingest pipeline's
// catalog stage hands over its hashed files this way): each record is its
// own change, checked, recorded, numbered and failed on its own exactly as
// PutFile does it, in the order given, but they are queued together, so
// they fill the group commit's batches, and the call waits once, for the
// sync that makes the last of them durable. evs[i] and errs[i] are
// PutFile's results for recs[i]; nothing is acknowledged before it is
// synced.
//
// Before it queues them, PutFiles reads whether each file's location and
// content are in the catalog already (a prefetch, in one snapshot, on the
// caller's goroutine): the committer then reads again only what a commit
// since may have written (fileHint), so a batch of new files costs the
// serial commit path no lookups.
func (c *Catalog) PutFiles(recs []storage.FileRecord) (evs [][]storage.Event, errs []error) {
	fns := make([]func(w *txw) error, 0, len(recs))
	at := make([]int, 0, len(recs)) // index in recs of fns[i]
	errs = make([]error, len(recs))
	for i, rec := range recs {
		if err := checkFileRecord(rec); err != nil {
			errs[i] = err
			continue
		}
		at = append(at, i)
	}
	hints := c.prefetch(recs, at)
	if c.afterPrefetch != nil {
		c.afterPrefetch()
	}
	for k, i := range at {
		rec, h := recs[i], hints[k]
		fns = append(fns, func(w *txw) error { return w.putFileHinted(rec, h) })
	}
	evs = make([][]storage.Event, len(recs))
	fevs, ferrs := c.writeAll(fns)
	for k, i := range at {
		evs[i], errs[i] = fevs[k], ferrs[k]
	}
	for i, err := range errs {
		if err != nil {
			errs[i] = fmt.Errorf("put file %s:%s: %w", recs[i].Volume, recs[i].Path, err)
		}
	}
	return evs, errs
}

// prefetch reads, in one snapshot taken after the last commit it knows of,
// whether the location and the asset of recs[i] (i in at) exist; a hint is
// nil when the read failed (the committer reads it then).
//
// The locations are looked up in key order with one key-only iterator
// (prefetchLocations): a batch's paths come a folder or a few at a time,
// so on a first ingest one seek answers a run of absent keys (those below
// the next key that exists), where a Get each paid for every memtable and
// every level-0 table. The assets (content ids, spread over the whole key
// space) are read with Get, which their tables' bloom filters answer.
func (c *Catalog) prefetch(recs []storage.FileRecord, at []int) []*fileHint {
	hints := make([]*fileHint, len(at))
	ticket := c.head.Load().ticket // before the snapshot: it covers this commit
	_ = c.db.View(func(txn *badger.Txn) error {
		locAbsent, locErr := prefetchLocations(txn, recs, at)
		for k, i := range at {
			if locErr[k] {
				continue
			}
			h := &fileHint{ticket: ticket, locAbsent: locAbsent[k]}
			// Content the id filter has never seen is not stored (read
			// after ticket: an asset committed before it was added before
			// it was committed).
			if id := recs[i].Hashes.BLAKE3; !c.ids.mayHave(id) {
				h.assetAbsent = true
			} else {
				_, err := txn.Get(assetKey(id))
				if h.assetAbsent = errors.Is(err, badger.ErrKeyNotFound); err != nil && !h.assetAbsent {
					continue
				}
			}
			hints[k] = h
		}
		return nil
	})
	return hints
}

// minSeekBatch is the fewest keys worth an iterator in prefetchLocations:
// a file arriving alone (watched files come one by one) is read with Get,
// which costs less than making the iterator and seeking
// (BenchmarkPrefetch/single: a prefetch of one file 6-8 us with Get, 9-11
// us with the iterator).
const minSeekBatch = 4

// prefetchLocations reports, for each recs[i] (i in at), whether its
// location key is absent in txn's snapshot (failed: not known). The keys
// are taken in order: an iterator positioned by a seek at the first key at
// or after one key answers every later key up to the one it rests on
// (absent below it, present if equal) without moving. While seeks answer
// few keys each (locations that exist: a rescan of changed files), the
// rest are read with Get instead, which costs less than a seek.
func prefetchLocations(txn *badger.Txn, recs []storage.FileRecord, at []int) (absent, failed []bool) {
	absent, failed = make([]bool, len(at)), make([]bool, len(at))
	keys := make([][]byte, len(at))
	order := make([]int, len(at))
	for k, i := range at {
		keys[k] = locKey(recs[i].Volume, recs[i].Path)
		order[k] = k
	}
	slices.SortFunc(order, func(a, b int) int { return bytes.Compare(keys[a], keys[b]) })
	prefix := []byte(pfxLocation)
	var it *badger.Iterator // made at the first seek
	defer func() {
		if it != nil {
			it.Close()
		}
	}()
	var cur []byte // the key the iterator rests on; nil: past the last one
	// A few keys are read with Get: making the iterator costs more.
	seeks, answered, seeking := 0, 0, len(at) >= minSeekBatch
	for _, k := range order {
		key := keys[k]
		if !seeking || it == nil || cur != nil && bytes.Compare(cur, key) < 0 {
			if seeks >= 4 && answered < 4*seeks {
				seeking = false // seeks answer too few keys here
			}
			if !seeking {
				_, err := txn.Get(key)
				absent[k] = errors.Is(err, badger.ErrKeyNotFound)
				failed[k] = err != nil && !absent[k]
				continue
			}
			if it == nil {
				it = txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
			}
			it.Seek(key)
			seeks++
			cur = nil
			if it.ValidForPrefix(prefix) {
				cur = it.Item().Key()
			}
		}
		absent[k] = cur == nil || !bytes.Equal(cur, key)
		answered++
	}
	return absent, failed
}

// checkFileRecord checks the names and the id of a PutFile record.
func checkFileRecord(rec storage.FileRecord) error {
	if err := checkName("volume", rec.Volume); err != nil {
		return err
	}
	if err := checkName("path", rec.Path); err != nil {
		return err
	}
	return checkID(rec.Hashes.BLAKE3)
}

// putFile is PutFile's change.
func (w *txw) putFile(rec storage.FileRecord) error { return w.putFileHinted(rec, nil) }

// putFileHinted is putFile with what a prefetch read (fileHint; nil: none).
func (w *txw) putFileHinted(rec storage.FileRecord, h *fileHint) error {
	id := rec.Hashes.BLAKE3
	lk := locKey(rec.Volume, rec.Path)
	var old storage.Location
	exists := false
	if !w.absentNow(lk, h != nil && h.locAbsent, h) {
		var err error
		if exists, err = getLocation(w.txn, rec.Volume, rec.Path, &old); err != nil {
			return err
		}
	}
	present := exists && old.State == storage.LocPresent

	if present && old.AssetID == id && old.Size == rec.Size && old.MTime.Equal(rec.MTime) &&
		old.Inode == rec.Inode && old.Dev == rec.Dev {
		return nil // unchanged: no write, no event
	}

	// Content first: asset.cataloged precedes the location event.
	ak := assetKey(id)
	err := badger.ErrKeyNotFound
	if !w.absentNow(ak, h != nil && h.assetAbsent, h) {
		_, err = w.txn.Get(ak)
	}
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		a := storage.Asset{ID: id, Size: rec.Size, Hashes: rec.Hashes, FirstSeen: w.now}
		if err := w.setAsset(a); err != nil {
			return err
		}
		if err := w.emit(storage.Event{Type: storage.EvAssetCataloged, AssetID: id, Volume: rec.Volume, Path: rec.Path}); err != nil {
			return err
		}
	case err != nil:
		return err
	}

	loc := old
	loc.Volume, loc.Path = rec.Volume, rec.Path
	loc.Size, loc.MTime, loc.Inode, loc.Dev = rec.Size, rec.MTime, rec.Inode, rec.Dev
	loc.State = storage.LocPresent
	loc.Removed, loc.ReplacedBy = time.Time{}, ""
	ev := storage.Event{AssetID: id, Volume: rec.Volume, Path: rec.Path}
	var replaced *storage.Event // the previous content's event, after ev
	if exists && !(present && old.AssetID == id) {
		// id may have been here before: it is present again, not removed.
		if err := w.txn.Delete(removedKey(id, rec.Volume, rec.Path)); err != nil {
			return err
		}
	}
	switch {
	case !exists:
		loc.AssetID, loc.Seen = id, w.now
		ev.Type = storage.EvLocationAdded
	case !present:
		// A removed path reappears. Its earlier content stays in History.
		if old.AssetID != id {
			loc.History = appendHistory(loc.History, old, w.now)
			loc.AssetID = id
		}
		loc.Seen = w.now
		ev.Type = storage.EvLocationAdded
	case old.AssetID != id:
		loc.History = appendHistory(loc.History, old, w.now)
		loc.AssetID, loc.Seen = id, w.now
		ev.Type, ev.Detail = storage.EvLocationChanged, "content replaced "+old.AssetID
		if err := w.txn.Delete(indexKey(old.AssetID, rec.Volume, rec.Path)); err != nil {
			return err
		}
		gone := old
		gone.Volume, gone.Path = rec.Volume, rec.Path
		gone.ReplacedBy = id
		if err := w.putRemoved(gone); err != nil {
			return err
		}
		replaced = &storage.Event{Type: storage.EvAssetUpdated, AssetID: old.AssetID, Volume: rec.Volume, Path: rec.Path,
			Detail: "location replaced by " + id}
	default:
		ev.Type, ev.Detail = storage.EvLocationChanged, "metadata"
	}
	if err := w.setLocation(lk, loc, 0); err != nil {
		return err
	}
	if err := w.txn.Set(indexKey(id, rec.Volume, rec.Path), nil); err != nil {
		return err
	}
	if err := w.emit(ev); err != nil {
		return err
	}
	if replaced != nil {
		return w.emit(*replaced)
	}
	return nil
}

// maxRemoved caps the removed locations kept per asset (r/ keys): a volume
// can give one content any number of names, one after another. The oldest
// removals are dropped first; the location records themselves stay.
const maxRemoved = 100

// putRemoved records that loc's content (loc.AssetID) left loc's path now:
// an r/ key for the asset's document, capped at maxRemoved per asset.
func (w *txw) putRemoved(loc storage.Location) error {
	loc.State, loc.Removed, loc.History = storage.LocRemoved, w.now, nil
	if err := w.setLocation(removedKey(loc.AssetID, loc.Volume, loc.Path), loc, 0); err != nil {
		return err
	}
	return w.pruneRemoved(loc.AssetID)
}

// pruneRemoved drops the oldest r/ keys of asset id beyond maxRemoved.
func (w *txw) pruneRemoved(id string) error {
	prefix := removedPrefix(id)
	opt := badger.DefaultIteratorOptions
	opt.Prefix = prefix
	opt.PrefetchValues = false
	it := w.txn.NewIterator(opt)
	n := 0
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		n++
	}
	it.Close()
	if n <= maxRemoved {
		return nil
	}
	locs, err := removedLocationsTxn(w.txn.Txn, id)
	if err != nil {
		return err
	}
	slices.SortStableFunc(locs, func(a, b storage.Location) int { return a.Removed.Compare(b.Removed) })
	for _, l := range locs[:len(locs)-maxRemoved] {
		if err := w.txn.Delete(removedKey(id, l.Volume, l.Path)); err != nil {
			return err
		}
	}
	return nil
}

// getLocation reads the location record of volume/path into loc (the fast
// decoder, exact name from the key); found is false when there is none.
func getLocation(txn getter, volume, path string, loc *storage.Location) (found bool, err error) {
	item, err := txn.Get(locKey(volume, path))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, item.Value(func(b []byte) error { return decodeLocation(b, volume, path, loc) })
}

// appendHistory records old's content as replaced at now, keeping at most
// maxHistory versions (oldest dropped).
func appendHistory(h []storage.Version, old storage.Location, now time.Time) []storage.Version {
	h = append(h, storage.Version{AssetID: old.AssetID, Size: old.Size, MTime: old.MTime, Replaced: now})
	if len(h) > maxHistory {
		h = append([]storage.Version(nil), h[len(h)-maxHistory:]...)
	}
	return h
}

// RemoveLocation marks a present location removed: the record and its
// history stay (the hub sees the removal), the asset->location index key
// goes, the asset's document lists the location as removed (with the time),
// and a location.removed event carries detail. Removing an unknown or
// already removed location writes nothing and returns no events.
//
// The caller decides that the file is really gone: only on a volume that is
// verifiably online.
func (c *Catalog) RemoveLocation(volume, path, detail string) ([]storage.Event, error) {
	evs, err := c.write(func(w *txw) error {
		lk := locKey(volume, path)
		var loc storage.Location
		found, err := getLocation(w.txn, volume, path, &loc)
		if err != nil || !found || loc.State != storage.LocPresent {
			return err
		}
		loc.Volume, loc.Path = volume, path
		loc.State, loc.Removed = storage.LocRemoved, w.now
		if err := w.setLocation(lk, loc, metaRemoved); err != nil {
			return err
		}
		if err := w.txn.Delete(indexKey(loc.AssetID, volume, path)); err != nil {
			return err
		}
		if err := w.putRemoved(loc); err != nil {
			return err
		}
		return w.emit(storage.Event{Type: storage.EvLocationRemoved, AssetID: loc.AssetID, Volume: volume, Path: path, Detail: detail})
	})
	if err != nil {
		return nil, fmt.Errorf("remove location %s:%s: %w", volume, path, err)
	}
	return evs, nil
}

// WalkLocations calls fn for every present location of volume, in bytewise
// path order, inside one read snapshot. Removed locations are skipped by key
// metadata without decoding them. fn may call the catalog, including its
// write methods; an error from fn stops the walk and is returned as is.
func (c *Catalog) WalkLocations(volume string, fn func(storage.Location) error) error {
	return c.scanPresent(volume, func(path string, b []byte) error {
		var loc storage.Location
		if err := decodeLocation(b, volume, path, &loc); err != nil {
			return fmt.Errorf("walk volume %s: decode location %s: %w", volume, path, err)
		}
		return fn(loc)
	})
}

// errStop marks an error returned by a caller's callback.
type errStop struct{ err error }

func (e errStop) Error() string { return e.err.Error() }

// scanPresent feeds the path and encoded value of each present location of
// volume to fn. Errors from fn are returned unwrapped; others name the volume.
func (c *Catalog) scanPresent(volume string, fn func(path string, value []byte) error) error {
	prefix := volPrefix(volume)
	err := c.db.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.Prefix = prefix
		opt.PrefetchValues = false
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			item := it.Item()
			if item.UserMeta() == metaRemoved {
				continue
			}
			var ferr error
			path := string(item.Key()[len(prefix):])
			if err := item.Value(func(b []byte) error {
				ferr = fn(path, b)
				return nil
			}); err != nil {
				return err
			}
			if ferr != nil {
				return errStop{ferr}
			}
		}
		return nil
	})
	var stop errStop
	if errors.As(err, &stop) {
		return stop.err
	}
	if err != nil {
		return fmt.Errorf("walk volume %s: %w", volume, err)
	}
	return nil
}

// VolumeStats counts the present locations of volume and their bytes.
func (c *Catalog) VolumeStats(volume string) (files, bytes int64, err error) {
	err = c.scanPresent(volume, func(path string, b []byte) error {
		var loc storage.Location
		if err := decodeLocation(b, volume, path, &loc); err != nil {
			return fmt.Errorf("volume %s stats: decode location %q: %w", volume, path, err)
		}
		files++
		bytes += loc.Size
		return nil
	})
	return files, bytes, err
}
