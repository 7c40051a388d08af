package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/storage/catalog"
)

func TestCheckIdentity(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(t *testing.T, cat, file string)
		level  Level
		inText string
	}{
		{"no catalog yet", func(t *testing.T, cat, file string) {}, OK, "does not exist yet"},
		{"healthy", seedCatalog, OK, "MANIFEST and tables present"},
		{"MANIFEST deleted", func(t *testing.T, cat, file string) {
			seedCatalog(t, cat, file)
			if err := os.Remove(filepath.Join(cat, "MANIFEST")); err != nil {
				t.Fatal(err)
			}
		}, Fail, "MANIFEST is missing"},
		{"catalog deleted", func(t *testing.T, cat, file string) {
			seedCatalog(t, cat, file)
			if err := os.RemoveAll(cat); err != nil {
				t.Fatal(err)
			}
		}, Fail, "missing or empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			cat, file := filepath.Join(root, "catalog"), filepath.Join(root, catalog.IdentityFileName)
			tc.setup(t, cat, file)
			f := checkIdentity(cat, file)
			if f.Level != tc.level || !strings.Contains(f.Message, tc.inText) {
				t.Errorf("finding %+v, want %s containing %q", f, tc.level, tc.inText)
			}
			if tc.level == Fail && !strings.Contains(f.Fix, "reset-catalog") {
				t.Errorf("fix %q does not name the way out", f.Fix)
			}
		})
	}
}

// seedCatalog creates a catalog with an identity file and closes it.
func seedCatalog(t *testing.T, cat, file string) {
	t.Helper()
	c, err := catalog.Open(cat, catalog.Options{IdentityFile: file})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ApplianceID(""); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}
