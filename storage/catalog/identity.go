package catalog

// Catalog identity. Badger opens a directory whose MANIFEST is missing as a
// brand-new store and deletes the tables the MANIFEST no longer names: a
// lost or truncated MANIFEST would silently give an empty catalog, a new
// appliance id and a feed restarting at seq 1, which a hub's cursor skips.
// So the catalog's identity (appliance id, catalog id, last published seq)
// is kept twice: in Badger (m/appliance_id, m/catalog_id, the event log) and
// in a small identity file outside it (Options.IdentityFile, normally
// <state_dir>/catalog-identity.json), replaced atomically and fsynced. Open
// compares the two and refuses a catalog that is not the one the file
// names, with an *IdentityError (errors.Is ErrIdentityMismatch).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/internal/atomicfile"
)

// keyCatalogID is the catalog id (JSON string), written once when the
// catalog is created or adopted.
const keyCatalogID = "m/catalog_id"

// IdentityFileName is the identity file's name in the state dir.
const IdentityFileName = "catalog-identity.json"

// DefaultIdentityInterval is how often RunIdentity records the last seq.
const DefaultIdentityInterval = 30 * time.Second

// ErrIdentityMismatch: the catalog on disk is not the one the identity file
// names (lost or truncated MANIFEST, catalog directory gone, events lost).
// A restart cannot fix it; see IdentityError for the way out.
var ErrIdentityMismatch = errors.New("catalog identity mismatch")

// Identity is what the identity file records.
type Identity struct {
	ApplianceID string `json:"appliance_id"`
	CatalogID   string `json:"catalog_id"`
	// LastSeq is the highest published event seq when the file was last
	// written (periodically and on Close). After a crash the catalog may
	// be ahead of it, never behind.
	LastSeq uint64    `json:"last_seq"`
	Updated time.Time `json:"updated"`
}

// IdentityError says why Open refused a catalog. It matches
// ErrIdentityMismatch with errors.Is.
type IdentityError struct {
	Dir    string // the catalog directory
	File   string // the identity file
	Reason string
	Want   Identity // what the identity file records (zero if none)
}

func (e *IdentityError) Error() string {
	s := fmt.Sprintf("%v: catalog %s: %s", ErrIdentityMismatch, e.Dir, e.Reason)
	if e.Want.CatalogID != "" {
		s += fmt.Sprintf(" (%s records catalog %s of appliance %s at seq %d)", e.File, e.Want.CatalogID, e.Want.ApplianceID, e.Want.LastSeq)
	}
	return s + "; not starting on it: restore a backup (stop, move state_dir aside, `ingestd restore`) or re-create the catalog (`ingestd reset-catalog --yes`; the hub must then reset its cursor)"
}

func (e *IdentityError) Unwrap() error { return ErrIdentityMismatch }

// ReadIdentity reads an identity file; a missing file is (nil, nil).
func ReadIdentity(path string) (*Identity, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read catalog identity %s: %w", path, err)
	}
	var id Identity
	if err := json.Unmarshal(b, &id); err != nil {
		return nil, fmt.Errorf("catalog identity %s: %w", path, err)
	}
	if id.CatalogID == "" || id.ApplianceID == "" {
		return nil, fmt.Errorf("catalog identity %s: no catalog_id or appliance_id", path)
	}
	return &id, nil
}

// WriteIdentity replaces the identity file atomically (internal/atomicfile):
// a temp file in the same directory, fsynced, renamed over it, and the
// directory fsynced.
func WriteIdentity(path string, id Identity) error {
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, append(b, '\n'), 0o640); err != nil {
		return fmt.Errorf("catalog identity: %w", err)
	}
	return nil
}

// newID returns n random bytes in hex.
func newID(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// preOpenCheck looks at dir before Badger does, since Badger "repairs" a
// missing or short MANIFEST by deleting tables. want is the identity file's
// record, or nil when there is none. It refuses:
//   - with want: a catalog directory that is missing or empty;
//   - a MANIFEST that is missing while Badger files are there (or want is);
//   - a MANIFEST Badger cannot replay (bad header or checksum);
//   - a MANIFEST whose tail is cut (not at a change-set boundary) while the
//     directory holds tables it does not name: Badger would cut the tail
//     and delete those tables;
//   - a MANIFEST naming tables that are gone.
//
// A crash while Badger appends to the MANIFEST leaves a cut tail too, but
// then every table on disk is still named, or the one being added is the
// newest and its data is still in the write-ahead log; the second case is
// refused as well (conservative: recover from a backup).
func preOpenCheck(dir, file string, want *Identity) error {
	refuse := func(format string, a ...any) error {
		w := Identity{}
		if want != nil {
			w = *want
		}
		return &IdentityError{Dir: dir, File: file, Reason: fmt.Sprintf(format, a...), Want: w}
	}
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("open catalog %s: %w", dir, err)
	}
	if len(ents) == 0 {
		if want != nil {
			return refuse("the catalog directory is missing or empty")
		}
		return nil // a new catalog
	}
	tables := map[uint64]bool{}
	data := 0
	for _, e := range ents {
		name := e.Name()
		if id, ok := logID(name, ".sst"); ok {
			tables[uint64(id)] = true
		}
		if strings.HasSuffix(name, ".sst") || strings.HasSuffix(name, ".vlog") || strings.HasSuffix(name, ".mem") {
			data++
		}
	}
	mpath := filepath.Join(dir, badger.ManifestFilename)
	f, err := os.Open(mpath)
	if errors.Is(err, fs.ErrNotExist) {
		if want != nil || data > 0 {
			return refuse("%s is missing (Badger would start an empty catalog and delete %d table(s))", badger.ManifestFilename, len(tables))
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("open catalog %s: %w", dir, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open catalog %s: %w", dir, err)
	}
	m, good, err := badger.ReplayManifestFile(f, 0, badger.DefaultOptions(dir))
	if err != nil {
		return refuse("%s is unreadable (%v)", badger.ManifestFilename, err)
	}
	for id := range m.Tables {
		if !tables[id] {
			return refuse("%s names table %06d.sst, which is missing", badger.ManifestFilename, id)
		}
	}
	if good < fi.Size() {
		var lost []uint64
		for id := range tables {
			if _, ok := m.Tables[id]; !ok {
				lost = append(lost, id)
			}
		}
		if len(lost) > 0 {
			return refuse("%s is cut short (%d of %d bytes readable) and does not name %d table(s) on disk, which Badger would delete", badger.ManifestFilename, good, fi.Size(), len(lost))
		}
	}
	return nil
}

// lockDir takes Badger's directory lock (flock on the directory) for the
// pre-open check, so a running daemon's MANIFEST writes are never read
// half-done. A missing directory needs no lock (release is a no-op).
func lockDir(dir string) (release func(), err error) {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil // closing the descriptor drops the flock
}

// catalogIdentity reads the identity Badger holds: the stored appliance id
// and catalog id ("" when absent) and whether the store holds any key.
func (c *Catalog) catalogIdentity() (app, cat string, empty bool, err error) {
	err = c.db.View(func(txn *badger.Txn) error {
		if _, err := getJSON(txn, []byte(keyAppID), &app); err != nil {
			return err
		}
		if _, err := getJSON(txn, []byte(keyCatalogID), &cat); err != nil {
			return err
		}
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		empty = true
		for it.Rewind(); it.Valid(); it.Next() {
			if string(it.Item().Key()) != keySeq { // the legacy sequence lease (written at open by older versions) alone is no content
				empty = false
				break
			}
		}
		return nil
	})
	return app, cat, empty, err
}

// settleIdentity runs at the end of Open when Options.IdentityFile is set:
// it compares the catalog with want (the identity file, nil when absent),
// and creates or adopts the identity when there is no file.
func (c *Catalog) settleIdentity(want *Identity) error {
	file := c.opts.IdentityFile
	app, cat, empty, err := c.catalogIdentity()
	if err != nil {
		return fmt.Errorf("open catalog %s: read identity: %w", c.dir, err)
	}
	last := c.last.Load()
	if want != nil {
		refuse := func(format string, a ...any) error {
			return &IdentityError{Dir: c.dir, File: file, Reason: fmt.Sprintf(format, a...), Want: *want}
		}
		switch {
		case empty:
			return refuse("the catalog is empty")
		case cat == "":
			return refuse("the catalog has no catalog id")
		case cat != want.CatalogID:
			return refuse("the catalog is %s", cat)
		case app != want.ApplianceID:
			return refuse("the catalog belongs to appliance %q", app)
		case last < want.LastSeq:
			return refuse("its last event is seq %d: events were lost", last)
		}
		c.ident = *want
		c.identSaved = want.LastSeq
		return c.saveIdentity()
	}
	how := "adopted existing catalog"
	if empty {
		how = "created new catalog"
	}
	if app == "" {
		if app, err = newID(4); err != nil {
			return err
		}
		app = "edge-" + app
	}
	if cat == "" {
		if cat, err = newID(16); err != nil {
			return err
		}
	}
	_, err = c.write(func(w *txw) error {
		if err := w.setJSON([]byte(keyAppID), app, 0); err != nil {
			return err
		}
		return w.setJSON([]byte(keyCatalogID), cat, 0)
	})
	if err != nil {
		return fmt.Errorf("open catalog %s: store identity: %w", c.dir, err)
	}
	c.ident = Identity{ApplianceID: app, CatalogID: cat}
	if err := c.saveIdentity(); err != nil {
		return err
	}
	c.log.Info(how+"; identity recorded", "catalog_id", cat, "appliance_id", app, "last_seq", last, "identity_file", file)
	return nil
}

// saveIdentity writes the identity file with the last published seq.
// Without Options.IdentityFile it does nothing.
func (c *Catalog) saveIdentity() error {
	if c.opts.IdentityFile == "" {
		return nil
	}
	c.identMu.Lock()
	defer c.identMu.Unlock()
	id := c.ident
	id.LastSeq = max(c.last.Load(), c.identSaved)
	id.Updated = time.Now().UTC()
	if err := WriteIdentity(c.opts.IdentityFile, id); err != nil {
		return err
	}
	c.identSaved = id.LastSeq
	return nil
}

// CatalogID is the catalog's id: random, set when the catalog is created
// (or first opened with an identity file), and new after reset-catalog.
// A hub seeing it change knows the feed restarted. "" without
// Options.IdentityFile.
func (c *Catalog) CatalogID() string {
	c.identMu.Lock()
	defer c.identMu.Unlock()
	return c.ident.CatalogID
}

// RunIdentity records the last published seq in the identity file every
// interval (default DefaultIdentityInterval) when it moved, so the check
// at the next Open can tell lost events. Close records it too. A failed
// write is logged, not fatal (the file lags; it never runs ahead). It
// returns nil when ctx ends.
func (c *Catalog) RunIdentity(ctx context.Context, interval time.Duration) error {
	if c.opts.IdentityFile == "" {
		<-ctx.Done()
		return nil
	}
	if interval <= 0 {
		interval = DefaultIdentityInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.done:
			return nil
		case <-t.C:
			c.identMu.Lock()
			moved := c.last.Load() > c.identSaved
			c.identMu.Unlock()
			if moved {
				if err := c.saveIdentity(); err != nil {
					c.log.Warn("record catalog identity", "err", err)
				}
			}
		}
	}
}

// ResetResult is what Reset did.
type ResetResult struct {
	Old     *Identity // the identity file before (nil if there was none or it was unreadable)
	New     Identity  // the new catalog's identity (LastSeq 0)
	MovedTo string    // where the old catalog directory went ("" if there was none)
}

// Reset re-creates the catalog in dir: the old directory (and the old
// identity file, inside it) is moved aside to dir.old-<UTC time>, nothing
// is deleted, and a new empty catalog with a NEW catalog id is created.
// The appliance id is kept: the old identity file's, else applianceID,
// else a new one. It refuses while a daemon holds the catalog. The event
// feed of the new catalog starts again at seq 1: a hub must reset its
// cursor for this appliance (it sees the new catalog_id in /v1/status).
func Reset(dir, identityFile, applianceID string, opts Options) (ResetResult, error) {
	var res ResetResult
	release, err := lockDir(dir)
	if err != nil {
		return res, fmt.Errorf("reset catalog %s: in use by a running daemon (stop it first): %w", dir, err)
	}
	old, oerr := ReadIdentity(identityFile)
	if oerr == nil && old != nil {
		res.Old = old
		applianceID = old.ApplianceID
	}
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		release()
		return res, fmt.Errorf("reset catalog %s: %w", dir, err)
	}
	_, ferr := os.Lstat(identityFile)
	if len(ents) > 0 || ferr == nil {
		res.MovedTo = dir + ".old-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.MkdirAll(filepath.Dir(dir), 0o750); err != nil {
			release()
			return res, fmt.Errorf("reset catalog %s: %w", dir, err)
		}
		if len(ents) > 0 {
			err = os.Rename(dir, res.MovedTo)
		} else {
			err = os.MkdirAll(res.MovedTo, 0o750)
		}
		if err == nil && ferr == nil {
			err = os.Rename(identityFile, filepath.Join(res.MovedTo, filepath.Base(identityFile)))
		}
		if err != nil {
			release()
			return res, fmt.Errorf("reset catalog %s: move aside to %s: %w", dir, res.MovedTo, err)
		}
	}
	release()
	opts.IdentityFile = identityFile
	c, err := Open(dir, opts)
	if err != nil {
		return res, fmt.Errorf("reset catalog %s: %w", dir, err)
	}
	if applianceID != "" {
		if _, err := c.ApplianceID(applianceID); err != nil {
			c.Close()
			return res, fmt.Errorf("reset catalog %s: %w", dir, err)
		}
	}
	c.identMu.Lock()
	res.New = c.ident
	c.identMu.Unlock()
	if err := c.Close(); err != nil {
		return res, err
	}
	return res, nil
}

// CheckIdentity runs the checks Open makes before Badger touches dir (the
// identity file is readable; the MANIFEST is there, readable, not cut
// short, and names every table it should) without opening or locking
// anything, for `ingestd doctor`. It returns the identity file's record
// (nil when there is none). The checks Open makes after Badger opened
// (catalog id, appliance id, last seq) need Badger and are not made here.
// A daemon writing the catalog meanwhile may cause a false alarm: check a
// stopped daemon's catalog.
func CheckIdentity(dir, identityFile string) (*Identity, error) {
	want, err := ReadIdentity(identityFile)
	if err != nil {
		return nil, &IdentityError{Dir: dir, File: identityFile, Reason: fmt.Sprintf("%v (remove the file to adopt the catalog as it is)", err)}
	}
	return want, preOpenCheck(dir, identityFile, want)
}
