package catalog

import (
	"fmt"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/ingestd/ingestd/storage"
)

// Volume returns the stored record of volume name; a wrapped
// storage.ErrNotFound if it was never stored.
func (c *Catalog) Volume(name string) (storage.Volume, error) {
	var v storage.Volume
	err := c.db.View(func(txn *badger.Txn) error {
		found, err := getJSON(txn, volumeKey(name), &v)
		if err == nil && !found {
			err = storage.ErrNotFound
		}
		return err
	})
	if err != nil {
		return storage.Volume{}, fmt.Errorf("volume %s: %w", name, err)
	}
	return v, nil
}

// SetVolume stores v. When Online differs from the stored record (or v is
// the first record of that volume and is offline), Changed is set to now
// and volume.online or volume.offline is written with v.Reason as detail.
// Storing an identical record writes nothing.
func (c *Catalog) SetVolume(v storage.Volume) ([]storage.Event, error) {
	if err := checkName("volume", v.Name); err != nil {
		return nil, fmt.Errorf("set volume: %w", err)
	}
	evs, err := c.write(func(w *txw) error {
		var old storage.Volume
		found, err := getJSON(w.txn, volumeKey(v.Name), &old)
		if err != nil {
			return err
		}
		flip := (found && old.Online != v.Online) || (!found && !v.Online)
		switch {
		case flip:
			v.Changed = w.now
		case v.Changed.IsZero():
			v.Changed = old.Changed
		}
		if found && !flip && sameVolume(old, v) {
			return nil
		}
		if err := w.setJSON(volumeKey(v.Name), v, 0); err != nil {
			return err
		}
		if !flip {
			return nil
		}
		typ := storage.EvVolumeOffline
		if v.Online {
			typ = storage.EvVolumeOnline
		}
		return w.emit(storage.Event{Type: typ, Volume: v.Name, Detail: v.Reason})
	})
	if err != nil {
		return nil, fmt.Errorf("set volume %s: %w", v.Name, err)
	}
	return evs, nil
}

func sameVolume(a, b storage.Volume) bool {
	return a.Name == b.Name && a.Path == b.Path && a.Online == b.Online && a.Dev == b.Dev &&
		a.Marker == b.Marker && a.Reason == b.Reason && a.Changed.Equal(b.Changed)
}
