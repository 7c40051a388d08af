package hubfeed

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/ingestd/ingestd/internal/atomicfile"
)

// Cursor is what the hub keeps per appliance: the last seq delivered, and
// the appliance and catalog it belongs to (docs/api.md, Cursor semantics).
type Cursor struct {
	Source      string    `json:"source"`
	ApplianceID string    `json:"appliance_id"`
	CatalogID   string    `json:"catalog_id,omitempty"`
	After       uint64    `json:"after"`
	Updated     time.Time `json:"updated"`
}

func cursorPath(dir, name string) string { return filepath.Join(dir, name+".cursor.json") }

// LoadCursor reads <dir>/<name>.cursor.json; a missing file is the zero
// cursor (follow from after=0). A file that cannot be read or decoded is an
// error: it is never replaced by a guess.
func LoadCursor(dir, name string) (Cursor, error) {
	p := cursorPath(dir, name)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Cursor{Source: name}, nil
	}
	if err != nil {
		return Cursor{}, fmt.Errorf("hubfeed: cursor %s: %w", p, err)
	}
	var c Cursor
	if err := json.Unmarshal(b, &c); err != nil {
		return Cursor{}, fmt.Errorf("hubfeed: cursor %s: %w", p, err)
	}
	if c.Source != name {
		return Cursor{}, fmt.Errorf("hubfeed: cursor %s names source %q", p, c.Source)
	}
	return c, nil
}

// SaveCursor replaces <dir>/<c.Source>.cursor.json durably (internal/atomicfile): a temp file in
// the same directory is written and fsynced, renamed over the old one, and
// the directory is fsynced, so after a crash or power cut the file holds
// either the old or the new cursor, whole.
func SaveCursor(dir string, c Cursor) error {
	p := cursorPath(dir, c.Source)
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("hubfeed: cursor %s: %w", p, err)
	}
	if err := atomicfile.WriteFile(p, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("hubfeed: write cursor %s: %w", p, err)
	}
	return nil
}
