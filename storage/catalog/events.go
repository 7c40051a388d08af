package catalog

import (
	"context"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/ingestd/ingestd/storage"
)

// Events returns up to limit events with seq greater than after, in seq
// order. It returns published events only (seq <= LastSeq): later ones may
// already be committed but are not yet durable (see Catalog). Because
// events are published in seq order, a reader never sees an event whose
// predecessors are still missing.
func (c *Catalog) Events(after uint64, limit int) ([]storage.Event, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	evs := []storage.Event{}
	// Every event up to last is committed, so the snapshot below holds
	// them all.
	last := c.last.Load()
	if after >= last {
		return evs, nil
	}
	err := c.db.View(func(txn *badger.Txn) error {
		prefix := []byte(pfxEvent)
		// The block holding after+1 may start before it.
		start := eventBlockStart(txn, after+1)
		opt := badger.DefaultIteratorOptions
		opt.Prefix = prefix
		opt.PrefetchValues = false // a block holds a transaction's events
		it := txn.NewIterator(opt)
		defer it.Close()
		tr := c.readTrimmer()
		for it.Seek(eventKey(start)); it.ValidForPrefix(prefix) && len(evs) < limit; it.Next() {
			tr.read()
			first := eventSeq(it.Item().Key())
			if first > last {
				break
			}
			if err := it.Item().Value(func(b []byte) error {
				return decodeEvents(b, first, after+1, func(e storage.Event) bool {
					if e.Seq > last || len(evs) >= limit {
						return false
					}
					evs = append(evs, e)
					return true
				})
			}); err != nil {
				return fmt.Errorf("decode events from %d: %w", first, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("events after %d: %w", after, err)
	}
	return evs, nil
}

// eventBlockStart is the key seq of the e/ value that holds event seq: the
// largest at or below it (seq itself when there is none).
func eventBlockStart(txn *badger.Txn, seq uint64) uint64 {
	it := txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: []byte(pfxEvent)})
	defer it.Close()
	if it.Seek(eventKey(seq)); it.ValidForPrefix([]byte(pfxEvent)) {
		return eventSeq(it.Item().Key())
	}
	return seq
}

// LastSeq is the seq of the newest published event (0 when there is none):
// committed and, unless Options.NoSyncWrites, synced to disk.
func (c *Catalog) LastSeq() uint64 { return c.last.Load() }

// Wait returns nil as soon as an event with seq greater than after is
// published (at once if one already is), ctx.Err() when ctx ends first, or
// ErrClosed when the catalog is closed.
func (c *Catalog) Wait(ctx context.Context, after uint64) error {
	for {
		c.notifyMu.Lock()
		ch := c.notify
		c.notifyMu.Unlock()
		if c.last.Load() > after {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return ErrClosed
		}
	}
}

// AppendEvent writes an event that carries no record change (e.g.
// appliance.started, card.offloaded). The catalog always assigns Seq; Time
// is set to now when zero. It returns the event as stored.
func (c *Catalog) AppendEvent(e storage.Event) (storage.Event, error) {
	if e.Type == "" {
		return storage.Event{}, errors.New("append event: empty type")
	}
	e.Seq = 0
	evs, err := c.write(func(w *txw) error { return w.emit(e) })
	if err != nil {
		return storage.Event{}, fmt.Errorf("append event %s: %w", e.Type, err)
	}
	return evs[0], nil
}

// cursorKey is the state key under which Consume keeps a cursor.
func cursorKey(cursor string) string { return "cursor/" + cursor }

// Consume feeds the event log to one consumer. It loads the cursor named
// cursor (state key "cursor/<cursor>", 0 when absent), then repeatedly
// passes fn up to batch events after it. When fn returns nil the cursor is
// persisted at the batch's last seq, so after a restart a processed batch is
// neither lost nor repeated; when fn fails, Consume returns its error
// wrapped and the batch is delivered again on the next Consume (delivery is
// at least once: fn must tolerate a batch it half-processed). When caught up
// it waits for new events. It returns ctx.Err() when ctx ends.
func (c *Catalog) Consume(ctx context.Context, cursor string, batch int, fn func([]storage.Event) error) error {
	if batch <= 0 {
		batch = DefaultLimit
	}
	var pos uint64
	if err := c.GetState(cursorKey(cursor), &pos); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("consume %s: %w", cursor, err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		evs, err := c.Events(pos, batch)
		if err != nil {
			return fmt.Errorf("consume %s: %w", cursor, err)
		}
		if len(evs) == 0 {
			if err := c.Wait(ctx, pos); err != nil {
				return err
			}
			continue
		}
		if err := fn(evs); err != nil {
			return fmt.Errorf("consume %s: events %d..%d: %w", cursor, evs[0].Seq, evs[len(evs)-1].Seq, err)
		}
		last := evs[len(evs)-1].Seq
		if err := c.PutState(cursorKey(cursor), last); err != nil {
			return fmt.Errorf("consume %s: save cursor %d: %w", cursor, last, err)
		}
		pos = last
	}
}
