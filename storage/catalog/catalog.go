// Package catalog is the Badger-backed catalog: assets by content id,
// locations by volume and path, volumes, the numbered event log, and small
// state records (cursors, upload and job state) for the stages that consume
// the log.
//
// It owns the Badger directory under state_dir and is the only package that
// touches Badger. It must not read or write the watched volumes, run FFmpeg
// or talk to the network. Every change writes its records, its index keys
// and its event in ONE transaction; writes are serialised so event sequence
// numbers become visible in order, and concurrent writers share fsyncs
// (group commit, see Catalog).
//
// Open wants a directory of its own (e.g. <state_dir>/catalog): Badger owns
// every file in it, and Restore refuses a non-empty directory. With
// Options.IdentityFile (e.g. <state_dir>/catalog-identity.json) Open
// refuses a catalog that is not the one recorded there (identity.go), and
// Reset re-creates it explicitly. The key layout is
// described in keys.go. The zero Options are the production setting (no
// write returns before it is synced to disk).
package catalog

// CONTRACT (implemented by the catalog helper; signatures are fixed, other
// packages code against them):
//
//	Open(dir string, opts Options) (*Catalog, error)
//	(*Catalog).Close() error
//	(*Catalog).ApplianceID(configured string) (string, error)
//	(*Catalog).CatalogID() string
//	(*Catalog).RunIdentity(ctx context.Context, interval time.Duration) error
//	Reset(dir, identityFile, applianceID string, opts Options) (ResetResult, error)
//
//	(*Catalog).Location(volume, path string) (storage.Location, error)
//	(*Catalog).PutFile(rec storage.FileRecord) ([]storage.Event, error)
//	(*Catalog).PutFiles(recs []storage.FileRecord) (evs [][]storage.Event, errs []error)
//	(*Catalog).RemoveLocation(volume, path, detail string) ([]storage.Event, error)
//	(*Catalog).WalkLocations(volume string, fn func(storage.Location) error) error
//	(*Catalog).VolumeStats(volume string) (files, bytes int64, err error)
//
//	(*Catalog).Volume(name string) (storage.Volume, error)
//	(*Catalog).SetVolume(v storage.Volume) ([]storage.Event, error)
//
//	(*Catalog).Asset(id string) (storage.AssetDoc, error)
//	(*Catalog).Assets(after string, limit int) ([]storage.AssetDoc, error)
//	(*Catalog).UpdateAsset(id, eventType, detail string, fn func(*storage.Asset) error) ([]storage.Event, error)
//
//	(*Catalog).Events(after uint64, limit int) ([]storage.Event, error)
//	(*Catalog).AssetEvents(id string, cursor uint64, limit int, newestFirst bool) ([]storage.Event, error)
//	(*Catalog).LastSeq() uint64
//	(*Catalog).Wait(ctx context.Context, after uint64) error
//	(*Catalog).AppendEvent(e storage.Event) (storage.Event, error)
//	(*Catalog).Consume(ctx context.Context, cursor string, batch int, fn func([]storage.Event) error) error
//
//	(*Catalog).GetState(key string, v any) error
//	(*Catalog).PutState(key string, v any) error
//	(*Catalog).DeleteState(key string) error
//	(*Catalog).ListState(prefix string, fn func(key string, raw []byte) error) error
//
//	(*Catalog).RunGC(ctx context.Context) error
//	(*Catalog).Size() (lsm, vlog int64)
//	(*Catalog).Backup(w io.Writer) error
//	Restore(dir string, r io.Reader) error
