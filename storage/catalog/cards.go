package catalog

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ingestd/ingestd/storage"
)

// Card and clip records (storage.Card, storage.Clip). The card service
// (daemon/cards/cardsvc) writes them; the API, the offload report and the
// hub pusher (sync/s3push) read them here, typed. Only this file spells
// their state keys (cardStatePrefix, clipStatePrefix): no other package
// reads, writes or decodes them raw. They are state records: the bytes
// stored are the JSON of those types, which is also what the API serves
// and the hub receives.

// State keys of the card and clip records. Catalogs already hold records
// under them: they must not change.
const (
	clipStatePrefix = "clips/"      // + clip id: the clip record
	cardStatePrefix = "cards/card/" // + card key: the card record
)

// Card returns the record of the card with that key (filesystem UUID and
// content fingerprint); a missing one is a wrapped storage.ErrNotFound.
func (c *Catalog) Card(key string) (storage.Card, error) {
	return getRecord[storage.Card](c, "card", key, cardStatePrefix+key)
}

// PutCard stores rec as the record of the card rec.Key.
func (c *Catalog) PutCard(rec storage.Card) error {
	if rec.Key == "" {
		return errors.New("put card: empty key")
	}
	return c.PutState(cardStatePrefix+rec.Key, rec)
}

// Cards calls fn with every card record, in key order. An error from fn
// stops the listing and is returned as is; a record that does not decode
// is passed over and named in the error returned after the listing.
func (c *Catalog) Cards(fn func(storage.Card) error) error {
	return listRecords(c, "card", cardStatePrefix, "", fn)
}

// Clip returns the record of clip id; a missing one is a wrapped
// storage.ErrNotFound.
func (c *Catalog) Clip(id string) (storage.Clip, error) {
	return getRecord[storage.Clip](c, "clip", id, clipStatePrefix+id)
}

// PutClip stores rec as the record of clip rec.ID.
func (c *Catalog) PutClip(rec storage.Clip) error {
	if rec.ID == "" {
		return errors.New("put clip: empty id")
	}
	return c.PutState(clipStatePrefix+rec.ID, rec)
}

// Clips calls fn with every clip record whose id sorts after after (""
// for all), in id order. An error from fn stops the listing and is
// returned as is; a record that does not decode is passed over and named
// in the error returned after the listing.
func (c *Catalog) Clips(after string, fn func(storage.Clip) error) error {
	return listRecords(c, "clip", clipStatePrefix, after, fn)
}

// getRecord decodes the state record under key (what and name for errors).
func getRecord[T any](c *Catalog, what, name, key string) (T, error) {
	var rec T
	if err := c.GetState(key, &rec); err != nil {
		var zero T
		return zero, fmt.Errorf("%s %s: %w", what, name, err)
	}
	return rec, nil
}

// listRecords calls fn with each state record under prefix whose key,
// without the prefix, sorts after after (every one when after is "").
// A record that does not decode does not hide the ones after it (the
// card service's retry loop must still see them): it is passed over and
// named in the error returned once the listing is done.
func listRecords[T any](c *Catalog, what, prefix, after string, fn func(T) error) error {
	var bad []error
	err := c.ListState(prefix, func(key string, raw []byte) error {
		if after != "" && key[len(prefix):] <= after {
			return nil
		}
		var rec T
		if err := json.Unmarshal(raw, &rec); err != nil {
			bad = append(bad, fmt.Errorf("%s record %s: %w", what, key, err))
			return nil
		}
		return fn(rec)
	})
	if err != nil {
		return err
	}
	return errors.Join(bad...)
}
