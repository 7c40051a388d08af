package main_test

// A card that carries an ASC MHL history written by the reference tool
// over several generations (issue 11 items 1 and 3), offloaded by the real
// binary from ext4 and exFAT images to two destinations.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/cards/ascmhl"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/storage"
	cardgen "github.com/ingestd/ingestd/testdata/cards"
)

// TestCardsMHLReferenceGenerations: a RED card whose clip folder carries a
// nested history and whose root history the reference tool wrote in four
// generations (xxh64; a file renamed, recorded with --detect_renaming in
// md5; a file deleted and ignored; c4 without directory hashes) is
// offloaded to two destinations: each passes the reference's verify (top
// and nested), diff and schema check, continues the card's chain, and
// records every file verified. The same card with a file below the nested
// history changed since it was sealed fails, naming that file, and is
// never shown safe.
func TestCardsMHLReferenceGenerations(t *testing.T) {
	cardsNeedRoot(t)
	run := testenv.ASCMHL(t)
	root := filepath.Join(t.TempDir(), "media")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	mt := time.Date(2026, 2, 1, 10, 15, 0, 0, time.UTC)
	const clipDir = "A001_0201AB.RDM/A001_C001_0201CD.RDC"
	ref := func(args ...string) {
		t.Helper()
		if out, err := testenv.RunASCMHL(t, run, args[0], args[1:]...); err != nil {
			t.Fatalf("reference %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	type job struct {
		fs, label string
		tamper    bool
		img       *mhlImg
		tree      cardgen.Tree
	}
	var jobs []*job
	for _, fs := range []string{"ext4", "exfat"} {
		mhlNeedFS(t, fs)
		for _, tamper := range []bool{false, true} {
			j := &job{fs: fs, label: "RGEN" + map[bool]string{false: "OK", true: "BAD"}[tamper] + strings.ToUpper(fs[:2]), tamper: tamper}
			sk, _ := cardgen.Skeleton("red")
			j.tree = cardgen.Merge(sk, cardgen.Extras(false))
			j.tree.Files["notes.txt"] = "camera notes"
			j.img = mhlNewImg(t, fs, root, j.label, j.label, func(dir string) {
				if err := j.tree.Write(dir, mt); err != nil {
					t.Fatal(err)
				}
				ref("ascmhl", "create", "-h", "xxh64", filepath.Join(dir, clipDir))
				ref("ascmhl", "create", "-h", "xxh64", dir)
				if err := os.Rename(filepath.Join(dir, "notes.txt"), filepath.Join(dir, "notes_renamed.txt")); err != nil {
					t.Fatal(err)
				}
				ref("ascmhl", "create", "-dr", "-h", "md5", dir)
				if err := os.Remove(filepath.Join(dir, clipDir, "A001_C001_0201CD.RTN")); err != nil {
					t.Fatal(err)
				}
				ref("ascmhl", "create", "-i", "*.RTN", "-h", "md5", dir)
				ref("ascmhl", "create", "-n", "-h", "c4", dir)
				ref("ascmhl-debug", "verify", dir)
				if tamper {
					p := filepath.Join(dir, clipDir, "A001_C001_0201CD_002.R3D")
					if err := os.WriteFile(p, []byte("changed after it was sealed"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			})
			delete(j.tree.Files, "notes.txt")
			delete(j.tree.Files, clipDir+"/A001_C001_0201CD.RTN")
			j.tree.Files["notes_renamed.txt"] = "camera notes"
			jobs = append(jobs, j)
		}
	}

	e, vols := mhlTwoDestEnv(t, root, "{label}")
	e.start()
	defer e.stop()
	n := 0
	for _, j := range jobs {
		j.img.Insert()
		ev, d, next := mhlNextCard(e, n, j.label+" offloaded or failed")
		n = next
		if j.tamper {
			if ev.Type != storage.EvCardFailed || d.File != clipDir+"/A001_C001_0201CD_002.R3D" || !strings.Contains(d.Reason, "does not match its ascmhl history") {
				t.Errorf("%s: a file below the nested history changed: %s file %q reason %q", j.label, ev.Type, d.File, d.Reason)
			}
			if cs, ok := e.cardStatus(j.img.mp); !ok || cs.State != "failed" || cs.SafeToFormat || !strings.Contains(cs.Message, "NOT safe to eject") {
				t.Errorf("%s: status %+v", j.label, cs)
			}
			j.img.Eject()
			continue
		}
		if ev.Type != storage.EvCardOffloaded {
			j.img.Eject()
			t.Errorf("%s: %s %+v", j.label, ev.Type, d)
			continue
		}
		dests := mhlWaitSafe(e, j.label, vols)
		j.img.Eject()
		for _, dest := range dests {
			mhlCheckOffload(t, run, dest, j.tree)
			mhlRef(t, run, "ascmhl-debug", "verify", filepath.Join(dest, clipDir))
			h, err := ascmhl.Open(dest)
			if err != nil {
				t.Fatal(err)
			}
			if len(h.Generations) != 5 || h.Latest().ToolName != "ingestd" || h.Generations[3].ToolName == "ingestd" {
				t.Errorf("%s: %d generations, want the card's 4 then ours", dest, len(h.Generations))
				continue
			}
			files := 0
			for _, en := range h.Latest().Entries {
				if en.IsDir {
					continue
				}
				files++
				for _, hv := range en.Hashes {
					if hv.Action != ascmhl.ActionVerified {
						t.Errorf("%s: %s %s %s, want verified against the card's history", dest, en.Path, hv.Format, hv.Action)
					}
				}
				if en.Path == "notes.txt" {
					t.Errorf("%s: renamed file listed under its old name", dest)
				}
			}
			if files == 0 {
				t.Errorf("%s: no file in our generation", dest)
			}
		}
	}
}
