package catalog

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ingestd/ingestd/storage"
)

// Card and clip records (storage.Card, storage.Clip). The card service
// (daemon/cards/cardsvc) writes them; the API, the offload report and the
// hub pusher (sync/s3push) read them here, typed, and never spell the
// state keys (storage.CardStateKey, storage.ClipStateKey) or decode the
// JSON themselves. They are state records: the bytes stored are the JSON
// of those types, which is also what the API serves and the hub receives.

// Card returns the record of the card with that key (filesystem UUID and
// content fingerprint); a missing one is a wrapped storage.ErrNotFound.
func (c *Catalog) Card(key string) (storage.Card, error) {
	var rec storage.Card
	if err := c.GetState(storage.CardStateKey(key), &rec); err != nil {
		return storage.Card{}, fmt.Errorf("card %s: %w", key, err)
	}
	return rec, nil
}

// PutCard stores rec as the record of the card rec.Key.
func (c *Catalog) PutCard(rec storage.Card) error {
	if rec.Key == "" {
		return errors.New("put card: empty key")
	}
	return c.PutState(storage.CardStateKey(rec.Key), rec)
}

// Cards calls fn with every card record, in key order. An error from fn
// stops the listing and is returned as is.
func (c *Catalog) Cards(fn func(storage.Card) error) error {
	return c.ListState(storage.CardStatePrefix, func(key string, raw []byte) error {
		var rec storage.Card
		if err := json.Unmarshal(raw, &rec); err != nil {
			return fmt.Errorf("card record %s: %w", key, err)
		}
		return fn(rec)
	})
}

// Clip returns the record of clip id; a missing one is a wrapped
// storage.ErrNotFound.
func (c *Catalog) Clip(id string) (storage.Clip, error) {
	var rec storage.Clip
	if err := c.GetState(storage.ClipStateKey(id), &rec); err != nil {
		return storage.Clip{}, fmt.Errorf("clip %s: %w", id, err)
	}
	return rec, nil
}

// PutClip stores rec as the record of clip rec.ID.
func (c *Catalog) PutClip(rec storage.Clip) error {
	if rec.ID == "" {
		return errors.New("put clip: empty id")
	}
	return c.PutState(storage.ClipStateKey(rec.ID), rec)
}

// Clips calls fn with every clip record whose id sorts after after (""
// for all), in id order. An error from fn stops the listing and is
// returned as is.
func (c *Catalog) Clips(after string, fn func(storage.Clip) error) error {
	return c.ListState(storage.ClipStatePrefix, func(key string, raw []byte) error {
		if key[len(storage.ClipStatePrefix):] <= after {
			return nil
		}
		var rec storage.Clip
		if err := json.Unmarshal(raw, &rec); err != nil {
			return fmt.Errorf("clip record %s: %w", key, err)
		}
		return fn(rec)
	})
}
