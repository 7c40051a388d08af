package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/ingestd/ingestd/storage"
)

// GetState decodes the JSON state stored under key into v; a missing key is
// a wrapped storage.ErrNotFound.
func (c *Catalog) GetState(key string, v any) error {
	err := c.db.View(func(txn *badger.Txn) error {
		found, err := getJSON(txn, stateKey(key), v)
		if err == nil && !found {
			err = storage.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("state %s: %w", key, err)
	}
	return nil
}

// PutState stores v as JSON under key (synced like every write).
func (c *Catalog) PutState(key string, v any) error {
	if key == "" {
		return errors.New("put state: empty key")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("put state %s: encode: %w", key, err)
	}
	_, err = c.write(func(w *txw) error { return w.txn.Set(stateKey(key), b) })
	if err != nil {
		return fmt.Errorf("put state %s: %w", key, err)
	}
	return nil
}

// DeleteState removes key; removing a missing key is not an error.
func (c *Catalog) DeleteState(key string) error {
	_, err := c.write(func(w *txw) error { return w.txn.Delete(stateKey(key)) })
	if err != nil {
		return fmt.Errorf("delete state %s: %w", key, err)
	}
	return nil
}

// ListState calls fn with every state key starting with prefix (the key
// without the internal "s/"), in key order, and its raw JSON value. raw is
// only valid during the call. An error from fn stops the listing and is
// returned as is.
func (c *Catalog) ListState(prefix string, fn func(key string, raw []byte) error) error {
	pfx := stateKey(prefix)
	var ferr error
	err := c.db.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.Prefix = pfx
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Seek(pfx); it.ValidForPrefix(pfx); it.Next() {
			item := it.Item()
			key := string(bytes.TrimPrefix(item.Key(), []byte(pfxState)))
			if err := item.Value(func(b []byte) error {
				ferr = fn(key, b)
				return nil
			}); err != nil {
				return err
			}
			if ferr != nil {
				return nil
			}
		}
		return nil
	})
	if ferr != nil {
		return ferr
	}
	if err != nil {
		return fmt.Errorf("list state %s: %w", prefix, err)
	}
	return nil
}
