package cards

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/daemon/cards/ascmhl"
	"github.com/ingestd/ingestd/internal/testenv"
)

// TestOffloadReferenceMultiGenerationHistory offloads a card whose history
// the reference tool wrote over several generations (xxh64, then md5 with a
// renamed file, a deleted-and-ignored file, then c4 without directory
// hashes, and a nested history in a roll folder), twice to the same
// destination; the reference verifies each offload (and the nested history)
// and diffs it, and a changed file below the nested history fails the
// offload.
func TestOffloadReferenceMultiGenerationHistory(t *testing.T) {
	run := testenv.ASCMHL(t)
	src := filepath.Join(t.TempDir(), "card")
	ctWriteTree(t, src, map[string]string{
		"CLIP/A001C001.MXF":        "essence 1",
		"CLIP/A001C002.MXF":        "essence 2",
		"CLIP/A001C003.MXF":        "essence 3",
		"notes.txt":                "notes",
		"Szene_ü/Ça_日本語.txt":       "non-ascii",
		"NESTED/roll/B001C001.R3D": "red",
	}, []string{"EMPTY/sub", "CLIP/THMBNL"})
	refMHL(t, run, "ascmhl", "create", "-h", "xxh64", filepath.Join(src, "NESTED/roll"))
	refMHL(t, run, "ascmhl", "create", "-h", "xxh64", src)
	if err := os.Rename(filepath.Join(src, "notes.txt"), filepath.Join(src, "notes2.txt")); err != nil {
		t.Fatal(err)
	}
	refMHL(t, run, "ascmhl", "create", "-dr", "-h", "md5", src)
	if err := os.Remove(filepath.Join(src, "CLIP/A001C003.MXF")); err != nil {
		t.Fatal(err)
	}
	refMHL(t, run, "ascmhl", "create", "-i", "A001C003.MXF", "-h", "md5", src)
	refMHL(t, run, "ascmhl", "create", "-n", "-h", "c4", src)
	refMHL(t, run, "ascmhl-debug", "verify", src)

	dstRoot := t.TempDir()
	dst := filepath.Join(dstRoot, "A001")
	for i := 0; i < 2; i++ {
		res, err := Offload(context.Background(), src, dst, Options{})
		if err != nil {
			t.Fatalf("offload %d: %v (%s %s)", i+1, err, res.FailedPath, res.Reason)
		}
		if !res.CardHistory {
			t.Fatalf("offload %d: card history not seen", i+1)
		}
		refMHL(t, run, "ascmhl-debug", "verify", dst)
		refMHL(t, run, "ascmhl", "diff", dst)
		refMHL(t, run, "ascmhl-debug", "verify", filepath.Join(dst, "NESTED/roll"))
		h, err := ascmhl.Open(dst)
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Generations) != 5+i {
			t.Fatalf("offload %d: destination history has %d generations, want the card's 4 and %d of ours", i+1, len(h.Generations), i+1)
		}
		for _, e := range h.Latest().Entries {
			if e.IsDir {
				continue
			}
			if len(e.Hashes) == 0 || e.Hashes[0].Action != ascmhl.ActionVerified {
				t.Errorf("offload %d: %s recorded %+v, want verified against the card's history", i+1, e.Path, e.Hashes)
			}
		}
		if _, ok := h.Latest().Entry("notes.txt"); ok {
			t.Errorf("offload %d: the renamed notes.txt is listed under its old name", i+1)
		}
		ents, _ := os.ReadDir(filepath.Join(dst, "ascmhl"))
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".mhl") {
				refMHL(t, run, "ascmhl-debug", "xsd-schema-check", filepath.Join(dst, "ascmhl", e.Name()))
			}
		}
	}
	// A file below the nested history changed since it was sealed: the
	// offload fails on it (before, only the top history was checked and
	// the card was reported offloaded and safe).
	if err := os.WriteFile(filepath.Join(src, "NESTED/roll/B001C001.R3D"), []byte("RED"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Offload(context.Background(), src, filepath.Join(dstRoot, "A001-again"), Options{})
	if !errors.Is(err, ErrHistory) || res.FailedPath != "NESTED/roll/B001C001.R3D" {
		t.Fatalf("offload of a card whose nested history no longer matches: err %v, failed %q", err, res.FailedPath)
	}
	// The nested history itself broken (its generation edited, its chain
	// not): the failure names that history's folder, not the card's.
	gens, _ := filepath.Glob(filepath.Join(src, "NESTED/roll/ascmhl/0001_*.mhl"))
	if len(gens) != 1 {
		t.Fatalf("nested generations: %v", gens)
	}
	f, err := os.OpenFile(gens[0], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("<!-- edited -->\n")
	f.Close()
	res, err = Offload(context.Background(), src, filepath.Join(dstRoot, "A001-third"), Options{})
	if !errors.Is(err, ErrHistory) || res.FailedPath != "NESTED/roll/ascmhl" || !strings.Contains(res.Reason, "nested history NESTED/roll") {
		t.Fatalf("offload of a card whose nested history is broken: err %v, failed %q, reason %q", err, res.FailedPath, res.Reason)
	}
}
