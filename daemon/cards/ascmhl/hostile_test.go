package ascmhl

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/safefs"
)

// Hostile generation XML: entity expansion (billion laughs), an external
// entity naming a local file, deep nesting and paths leaving the root are
// refused or inert; nothing is expanded or read.
func TestParseGenerationHostile(t *testing.T) {
	head := `<?xml version="1.0" encoding="UTF-8"?>`
	body := func(p string) string {
		return `<hashlist version="2.0" xmlns="urn:ASC:MHL:v2.0"><creatorinfo><creationdate>2020-01-16T09:15:00+00:00</creationdate><hostname>h</hostname><tool version="1">t</tool></creatorinfo><processinfo><process>in-place</process></processinfo><hashes><hash><path size="1">` + p + `</path><xxh64 action="original">0000000000000000</xxh64></hash></hashes></hashlist>`
	}
	lol := `<!DOCTYPE hashlist [<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">` +
		`<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">` +
		`<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>`
	for _, tc := range []struct{ name, doc string }{
		{"billion laughs", head + lol + body("&d;")},
		{"external entity", head + `<!DOCTYPE hashlist [<!ENTITY x SYSTEM "file:///etc/passwd">]>` + body("&x;")},
		{"deep nesting", head + strings.Repeat("<a>", 200000) + strings.Repeat("</a>", 200000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			g, err := ParseGeneration(strings.NewReader(tc.doc))
			if err == nil {
				for _, e := range g.Entries {
					t.Errorf("parsed, entry %.80q", e.Path)
				}
				t.Fatal("hostile generation parsed")
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("took %s", time.Since(start))
			}
		})
	}
	// Paths leaving the root are looked up, never opened: a history that
	// lists them expects files that cannot be on the card.
	g, err := ParseGeneration(strings.NewReader(head + body("../../etc/passwd")))
	if err != nil {
		t.Fatal(err)
	}
	h := &History{Generations: []*Generation{g}}
	if !h.Files()["../../etc/passwd"] {
		t.Fatalf("files %v", h.Files())
	}
}

// The .mhl bytes read for one root, nested histories included, are
// capped in all (MaxHistorySize), not only per file: many generations
// under the per-file cap fail with safefs.ErrTooLarge.
func TestOpenHistoryTotalBounded(t *testing.T) {
	root := t.TempDir()
	for i := 0; i < 4; i++ {
		if _, _, err := Seal(context.Background(), root, []Format{XXH64}, ProcessInPlace, Creator{ToolName: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	sub := filepath.Join(root, "roll")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "a.bin"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Seal(context.Background(), sub, []Format{XXH64}, ProcessInPlace, Creator{ToolName: "t"}); err != nil {
		t.Fatal(err)
	}
	open := func() (*History, error) {
		d, err := safefs.OpenRoot(root, true)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		h, err := OpenDir(d)
		if err != nil {
			return nil, err
		}
		return h, h.LoadNested([]string{"roll"})
	}
	h, err := open()
	if err != nil || len(h.Generations) != 4 || len(h.Nested) != 1 {
		t.Fatalf("history under the cap: %v", err)
	}
	total := h.read
	old := historyBudget
	t.Cleanup(func() { historyBudget = old })
	for _, budget := range []int64{total - 1, total * 3 / 4} {
		historyBudget = budget
		if _, err := open(); !errors.Is(err, safefs.ErrTooLarge) {
			t.Errorf("budget %d of %d bytes: %v, want ErrTooLarge", budget, total, err)
		}
	}
	historyBudget = total
	if _, err := open(); err != nil {
		t.Errorf("budget of exactly %d bytes: %v", total, err)
	}
}
