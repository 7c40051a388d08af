package catalog

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/ingestd/ingestd/storage"
)

var errNotImplemented = errors.New("catalog: not implemented")

// Options configure Open. The zero value is safe: writes are synced.
type Options struct {
	// NoSyncWrites turns off fsync per commit (tests, benchmarks only).
	NoSyncWrites bool
	Logger       *slog.Logger
	GCInterval   time.Duration
}

// Catalog is the open Badger catalog.
type Catalog struct{}

func Open(dir string, opts Options) (*Catalog, error)            { return nil, errNotImplemented }
func (c *Catalog) Close() error                                  { return errNotImplemented }
func (c *Catalog) ApplianceID(configured string) (string, error) { return "", errNotImplemented }
func (c *Catalog) Location(volume, path string) (storage.Location, error) {
	return storage.Location{}, errNotImplemented
}
func (c *Catalog) PutFile(rec storage.FileRecord) ([]storage.Event, error) {
	return nil, errNotImplemented
}
func (c *Catalog) RemoveLocation(volume, path, detail string) ([]storage.Event, error) {
	return nil, errNotImplemented
}
func (c *Catalog) WalkLocations(volume string, fn func(storage.Location) error) error {
	return errNotImplemented
}
func (c *Catalog) VolumeStats(volume string) (files, bytes int64, err error) {
	return 0, 0, errNotImplemented
}
func (c *Catalog) Volume(name string) (storage.Volume, error) {
	return storage.Volume{}, errNotImplemented
}
func (c *Catalog) SetVolume(v storage.Volume) ([]storage.Event, error) { return nil, errNotImplemented }
func (c *Catalog) Asset(id string) (storage.AssetDoc, error) {
	return storage.AssetDoc{}, errNotImplemented
}
func (c *Catalog) Assets(after string, limit int) ([]storage.AssetDoc, error) {
	return nil, errNotImplemented
}
func (c *Catalog) UpdateAsset(id, eventType, detail string, fn func(*storage.Asset) error) ([]storage.Event, error) {
	return nil, errNotImplemented
}
func (c *Catalog) Events(after uint64, limit int) ([]storage.Event, error) {
	return nil, errNotImplemented
}
func (c *Catalog) LastSeq() uint64                                    { return 0 }
func (c *Catalog) Wait(ctx context.Context, after uint64) error       { return errNotImplemented }
func (c *Catalog) AppendEvent(e storage.Event) (storage.Event, error) { return e, errNotImplemented }
func (c *Catalog) Consume(ctx context.Context, cursor string, batch int, fn func([]storage.Event) error) error {
	return errNotImplemented
}
func (c *Catalog) GetState(key string, v any) error { return errNotImplemented }
func (c *Catalog) PutState(key string, v any) error { return errNotImplemented }
func (c *Catalog) DeleteState(key string) error     { return errNotImplemented }
func (c *Catalog) ListState(prefix string, fn func(key string, raw []byte) error) error {
	return errNotImplemented
}
func (c *Catalog) RunGC(ctx context.Context) error { return errNotImplemented }
func (c *Catalog) Size() (lsm, vlog int64)         { return 0, 0 }
func (c *Catalog) Backup(w io.Writer) error        { return errNotImplemented }
func Restore(dir string, r io.Reader) error        { return errNotImplemented }
