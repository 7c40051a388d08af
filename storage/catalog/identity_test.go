package catalog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/storage"
)

// identSetup is a state dir with a catalog that saw events and was closed
// cleanly (its memtable flushed to a table that the MANIFEST names).
type identSetup struct {
	cat, file string
	id        Identity // the identity file after the seed
}

// seedIdentity creates the catalog; withFile false: as before identity
// files existed (no file, no m/catalog_id).
func seedIdentity(t *testing.T, withFile bool) identSetup {
	t.Helper()
	root := t.TempDir()
	s := identSetup{cat: filepath.Join(root, "catalog"), file: filepath.Join(root, IdentityFileName)}
	opts := Options{}
	if withFile {
		opts.IdentityFile = s.file
	}
	c, err := Open(s.cat, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ApplianceID(""); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := c.AppendEvent(storage.Event{Type: storage.EvApplianceStarted, Detail: "seed"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if withFile {
		id, err := ReadIdentity(s.file)
		if err != nil || id == nil {
			t.Fatalf("identity after seed: %v %v", id, err)
		}
		s.id = *id
	}
	return s
}

func countTables(t *testing.T, dir string) int {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	return len(m)
}

func TestIdentity(t *testing.T) {
	cases := []struct {
		name     string
		withFile bool
		damage   func(t *testing.T, s *identSetup) // nil: leave alone
		refuse   string                            // "" : Open must succeed
	}{
		{name: "match", withFile: true},
		{name: "adopt pre-identity catalog", withFile: false},
		{name: "catalog ahead of the file (crash lag)", withFile: true, damage: func(t *testing.T, s *identSetup) {
			id := s.id
			id.LastSeq = 2
			if err := WriteIdentity(s.file, id); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "missing MANIFEST", withFile: true, refuse: "MANIFEST is missing", damage: func(t *testing.T, s *identSetup) {
			testutil.Must(t, os.Remove(filepath.Join(s.cat, badger.ManifestFilename)))
		}},
		{name: "missing MANIFEST, no identity file", withFile: false, refuse: "MANIFEST is missing", damage: func(t *testing.T, s *identSetup) {
			testutil.Must(t, os.Remove(filepath.Join(s.cat, badger.ManifestFilename)))
		}},
		{name: "MANIFEST cut in half", withFile: true, refuse: "cut short", damage: func(t *testing.T, s *identSetup) {
			p := filepath.Join(s.cat, badger.ManifestFilename)
			fi, err := os.Stat(p)
			testutil.Must(t, err)
			testutil.Must(t, os.Truncate(p, fi.Size()/2))
		}},
		{name: "MANIFEST truncated to 0 bytes", withFile: true, refuse: "unreadable", damage: func(t *testing.T, s *identSetup) {
			testutil.Must(t, os.Truncate(filepath.Join(s.cat, badger.ManifestFilename), 0))
		}},
		{name: "catalog dir gone", withFile: true, refuse: "missing or empty", damage: func(t *testing.T, s *identSetup) {
			testutil.Must(t, os.RemoveAll(s.cat))
		}},
		{name: "catalog dir emptied", withFile: true, refuse: "missing or empty", damage: func(t *testing.T, s *identSetup) {
			testutil.Must(t, os.RemoveAll(s.cat))
			testutil.Must(t, os.Mkdir(s.cat, 0o750))
		}},
		{name: "seq regression", withFile: true, refuse: "events were lost", damage: func(t *testing.T, s *identSetup) {
			id := s.id
			id.LastSeq += 50
			testutil.Must(t, WriteIdentity(s.file, id))
		}},
		{name: "other catalog", withFile: true, refuse: "the catalog is ", damage: func(t *testing.T, s *identSetup) {
			id := s.id
			id.CatalogID = "0123456789abcdef0123456789abcdef"
			testutil.Must(t, WriteIdentity(s.file, id))
		}},
		{name: "other appliance", withFile: true, refuse: "belongs to appliance", damage: func(t *testing.T, s *identSetup) {
			id := s.id
			id.ApplianceID = "edge-other"
			testutil.Must(t, WriteIdentity(s.file, id))
		}},
		{name: "corrupt identity file", withFile: true, refuse: "remove the file to adopt", damage: func(t *testing.T, s *identSetup) {
			testutil.Must(t, os.WriteFile(s.file, []byte("{not json"), 0o640))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := seedIdentity(t, tc.withFile)
			if tc.damage != nil {
				tc.damage(t, &s)
			}
			before, _ := os.ReadFile(s.file)
			tables := countTables(t, s.cat)
			c, err := Open(s.cat, Options{IdentityFile: s.file})
			if tc.refuse != "" {
				if err == nil {
					c.Close()
					t.Fatalf("Open succeeded, want a refusal containing %q", tc.refuse)
				}
				var ie *IdentityError
				if !errors.Is(err, ErrIdentityMismatch) || !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.refuse) {
					t.Fatalf("err %v, want ErrIdentityMismatch containing %q", err, tc.refuse)
				}
				after, _ := os.ReadFile(s.file)
				if string(after) != string(before) {
					t.Errorf("a refused Open changed the identity file:\n%s\nwas\n%s", after, before)
				}
				if n := countTables(t, s.cat); n != tables {
					t.Errorf("a refused Open left %d tables of %d", n, tables)
				}
				if tc.name == "catalog dir gone" {
					if _, err := os.Stat(s.cat); !errors.Is(err, os.ErrNotExist) {
						t.Errorf("a refused Open re-created %s: %v", s.cat, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			app, err := c.ApplianceID("")
			testutil.Must(t, err)
			last := c.LastSeq()
			catID := c.CatalogID()
			testutil.Must(t, c.Close())
			if len(catID) != 32 {
				t.Errorf("catalog id %q", catID)
			}
			id, err := ReadIdentity(s.file)
			if err != nil || id == nil {
				t.Fatalf("identity file after Open: %v %v", id, err)
			}
			if id.CatalogID != catID || id.ApplianceID != app || id.LastSeq != last || last < 5 {
				t.Errorf("identity file %+v, catalog %s app %s last %d", id, catID, app, last)
			}
			if tc.withFile && (catID != s.id.CatalogID || app != s.id.ApplianceID) {
				t.Errorf("ids changed: catalog %s app %s, were %+v", catID, app, s.id)
			}
			// And it opens again as the same catalog.
			c = open(t, s.cat, Options{IdentityFile: s.file})
			if c.CatalogID() != catID {
				t.Errorf("reopen: catalog id %s, want %s", c.CatalogID(), catID)
			}
		})
	}
}

func TestIdentityFresh(t *testing.T) {
	root := t.TempDir()
	cat, file := filepath.Join(root, "catalog"), filepath.Join(root, IdentityFileName)
	c := open(t, cat, Options{IdentityFile: file})
	id, err := ReadIdentity(file)
	if err != nil || id == nil {
		t.Fatalf("no identity file after the first Open: %v", err)
	}
	app, err := c.ApplianceID("")
	testutil.Must(t, err)
	if !strings.HasPrefix(app, "edge-") || id.ApplianceID != app || id.CatalogID != c.CatalogID() || id.LastSeq != 0 {
		t.Errorf("identity %+v, appliance %s, catalog %s", id, app, c.CatalogID())
	}
	// A configured appliance id is recorded in the file too.
	if _, err := c.ApplianceID("studio-a"); err != nil {
		t.Fatal(err)
	}
	if id, _ := ReadIdentity(file); id == nil || id.ApplianceID != "studio-a" {
		t.Errorf("identity after a configured id: %+v", id)
	}
}

func TestIdentityReset(t *testing.T) {
	s := seedIdentity(t, true)
	testutil.Must(t, os.Remove(filepath.Join(s.cat, badger.ManifestFilename)))
	res, err := Reset(s.cat, s.file, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Old == nil || res.Old.CatalogID != s.id.CatalogID {
		t.Errorf("old identity %+v, want %+v", res.Old, s.id)
	}
	if res.New.CatalogID == s.id.CatalogID || len(res.New.CatalogID) != 32 || res.New.ApplianceID != s.id.ApplianceID {
		t.Errorf("new identity %+v, old %+v: want a new catalog id and the same appliance id", res.New, s.id)
	}
	if n := countTables(t, res.MovedTo); n == 0 {
		t.Errorf("old catalog not kept in %s", res.MovedTo)
	}
	if id, _ := ReadIdentity(filepath.Join(res.MovedTo, IdentityFileName)); id == nil || id.CatalogID != s.id.CatalogID {
		t.Errorf("old identity file not kept beside the old catalog: %+v", id)
	}
	c := open(t, s.cat, Options{IdentityFile: s.file})
	if c.CatalogID() != res.New.CatalogID || c.LastSeq() != 0 {
		t.Errorf("after reset: catalog %s last %d, want %s and 0", c.CatalogID(), c.LastSeq(), res.New.CatalogID)
	}
	app, _ := c.ApplianceID("")
	if app != s.id.ApplianceID {
		t.Errorf("appliance id %s, want %s", app, s.id.ApplianceID)
	}
	// While this catalog is open, a reset is refused.
	if _, err := Reset(s.cat, s.file, "", Options{}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("reset of an open catalog: %v", err)
	}
}

func TestIdentityRunRecordsSeq(t *testing.T) {
	root := t.TempDir()
	cat, file := filepath.Join(root, "catalog"), filepath.Join(root, IdentityFileName)
	c := open(t, cat, Options{IdentityFile: file})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.RunIdentity(ctx, 10*time.Millisecond) }()
	for range 3 {
		if _, err := c.AppendEvent(storage.Event{Type: storage.EvApplianceStarted}); err != nil {
			t.Fatal(err)
		}
	}
	want := c.LastSeq()
	deadline := time.Now().Add(5 * time.Second)
	for {
		id, _ := ReadIdentity(file)
		if id != nil && id.LastSeq == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("identity file never recorded seq %d: %+v", want, id)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
