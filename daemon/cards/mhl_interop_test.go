package cards

import (
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ingestd/ingestd/daemon/cards/ascmhl"
	"github.com/ingestd/ingestd/internal/testenv"
)

// refMHL runs the reference tool and fails the test when it fails.
func refMHL(t *testing.T, run, tool string, args ...string) string {
	t.Helper()
	out, err := testenv.RunASCMHL(t, run, tool, args...)
	if err != nil {
		t.Fatalf("reference %s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
	return out
}

// TestOffloadHostileNamesReference offloads names that trip tools: a
// newline, a backslash, %, a leading dash, quotes and markup, NFD next to
// NFC, and a 255-byte name; the reference verifies the destination.
func TestOffloadHostileNamesReference(t *testing.T) {
	run := testenv.ASCMHL(t)
	src := filepath.Join(t.TempDir(), "card")
	long := strings.Repeat("L", 251) + ".MOV"
	files := map[string]string{
		"CLIP/new\nline.MXF":       "nl",
		"CLIP/back\\slash.MXF":     "bs",
		"CLIP/100%25 %s %n.MXF":    "pct",
		"CLIP/-rf --help.MXF":      "dash",
		"CLIP/<b>&amp;\"'.MXF":     "markup",
		"CLIP/caf\u00e9.MXF":       "nfc",
		"CLIP/cafe\u0301.MXF":      "nfd",
		"CLIP/" + long:             "long",
		"CLIP/tab\there.MXF":       "tab",
		"CLIP/cr\rname.MXF":        "cr",
		"CLIP/trailing space .MXF": "sp",
		"-leading/x.MXF":           "dir dash",
	}
	ctWriteTree(t, src, files, nil)
	dst := filepath.Join(t.TempDir(), "A001")
	res, err := Offload(context.Background(), src, dst, Options{})
	if err != nil {
		t.Fatalf("offload: %v (%s %s)", err, res.FailedPath, res.Reason)
	}
	if len(res.Files) != len(files) {
		t.Errorf("%d files offloaded, want %d", len(res.Files), len(files))
	}
	for rel, want := range files {
		if got, err := os.ReadFile(filepath.Join(dst, rel)); err != nil || string(got) != want {
			t.Errorf("%q at the destination: %q, %v; want %q", rel, got, err, want)
		}
	}
	ents, err := os.ReadDir(filepath.Join(dst, "CLIP"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), PartialSuffix) {
			t.Errorf("partial file %q left behind", e.Name())
		}
	}
	refMHL(t, run, "ascmhl-debug", "verify", dst)
	refMHL(t, run, "ascmhl", "diff", dst)
	if got := partialRel("CLIP/" + long); len(path.Base(got)) > 255 || !strings.HasSuffix(got, PartialSuffix) || partialRel("CLIP/"+long+"x") == got {
		t.Errorf("partial name of a 255-byte name: %q", got)
	}
	if got := partialRel("CLIP/" + strings.Repeat("日", 85)); !utf8.ValidString(got) || len(path.Base(got)) > 255 {
		t.Errorf("partial name cut inside a character: %q", got)
	}
}

// Cards with nothing to copy: only empty folders, only OS junk, one
// 0-byte file, a sparse file. Each offload is verified by the reference.
func TestOffloadEmptyishCardsReference(t *testing.T) {
	run := testenv.ASCMHL(t)
	for _, tc := range []struct {
		name  string
		files map[string]string
		empty []string
	}{
		{"only empty folders", nil, []string{"DCIM/100MEDIA", "MISC"}},
		{"only OS junk", map[string]string{".Trashes/501/x.MP4": "x", ".DS_Store": "d"}, []string{"lost+found"}},
		{"one 0-byte file", map[string]string{"CLIP/EMPTY.MXF": ""}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "card")
			if err := os.MkdirAll(src, 0o755); err != nil {
				t.Fatal(err)
			}
			ctWriteTree(t, src, tc.files, tc.empty)
			dst := filepath.Join(t.TempDir(), "A001")
			res, err := Offload(context.Background(), src, dst, Options{})
			if err != nil || res.Status != StatusOffloaded {
				t.Fatalf("offload: %v (%s %s)", err, res.FailedPath, res.Reason)
			}
			for _, d := range tc.empty {
				if d == "lost+found" {
					continue
				}
				if fi, err := os.Stat(filepath.Join(dst, d)); err != nil || !fi.IsDir() {
					t.Errorf("empty folder %s not created: %v", d, err)
				}
			}
			refMHL(t, run, "ascmhl", "diff", dst)
			// The reference's verify fails on a history without a single
			// file even when it wrote that history itself ("Could not find
			// single file"): ours must fare exactly as its own does.
			_, ours := testenv.RunASCMHL(t, run, "ascmhl-debug", "verify", dst)
			args := []string{"create"}
			for _, j := range OSJunk { // not copied, not listed by us either
				args = append(args, "-i", j)
			}
			refMHL(t, run, "ascmhl", append(args, src)...)
			_, theirs := testenv.RunASCMHL(t, run, "ascmhl-debug", "verify", src)
			if (ours == nil) != (theirs == nil) {
				t.Errorf("reference verify of our offload: %v; of its own history of the card: %v", ours, theirs)
			}
		})
	}
	t.Run("sparse file", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "card")
		if err := os.MkdirAll(src, 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(src, "SPARSE.MXF"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("end"), 64<<20); err != nil {
			t.Fatal(err)
		}
		f.Close()
		dst := filepath.Join(t.TempDir(), "A001")
		if res, err := Offload(context.Background(), src, dst, Options{}); err != nil {
			t.Fatalf("offload: %v (%s %s)", err, res.FailedPath, res.Reason)
		}
		refMHL(t, run, "ascmhl-debug", "verify", dst)
	})
}

// A name no ASC MHL can hold (invalid UTF-8, a control character: possible
// on an ext4 card) fails the card before anything is copied, naming the
// file, instead of an offload reported good whose history lists a mangled
// name the reference then finds missing.
func TestOffloadUnrepresentableName(t *testing.T) {
	for _, name := range []string{"CLIP/bad\xff\xfe.MXF", "CLIP/ctl\x01.MXF", "bad\xffdir/x.MXF"} {
		src := filepath.Join(t.TempDir(), "card")
		ctWriteTree(t, src, map[string]string{name: "x", "CLIP/ok.MXF": "y"}, nil)
		dst := filepath.Join(t.TempDir(), "A001")
		res, err := Offload(context.Background(), src, dst, Options{})
		if !errors.Is(err, ascmhl.ErrUnrepresentable) || res.Status != StatusFailed || !strings.HasPrefix(name, res.FailedPath) ||
			!strings.Contains(res.Reason, "cannot be recorded in an ASC MHL") {
			t.Errorf("%q: err %v, status %s, failed %q, reason %q", name, err, res.Status, res.FailedPath, res.Reason)
		}
		if _, err := os.Stat(filepath.Join(dst, "CLIP/ok.MXF")); err == nil {
			t.Errorf("%q: files copied before the card was refused", name)
		}
	}
	for _, ok := range []string{"tab\there", "new\nline", "cr\rname", "日本語", "emoji \U0001F3AC"} {
		if err := ascmhl.CheckPath(ok); err != nil {
			t.Errorf("CheckPath(%q): %v", ok, err)
		}
	}
}

// A destination left with an empty ascmhl/ (the first generation's write
// failed: a full disk) or one holding only a temporary file is no history:
// the next offload copies the card's history there and continues it,
// instead of failing on a missing chain on every retry. A generation whose
// chain could not be written is taken back.
func TestOffloadAfterFailedHistoryWrite(t *testing.T) {
	run := testenv.ASCMHL(t)
	src := filepath.Join(t.TempDir(), "card")
	ctWriteTree(t, src, map[string]string{"CLIP/A001C001.MXF": "a", "B.WAV": "b"}, []string{"EMPTY"})
	refMHL(t, run, "ascmhl", "create", "-h", "xxh64", src)
	for _, leftover := range []string{"", "0001_A001_2026-11-30_080000Z.mhl.tmp", "ascmhl_chain.xml.tmp"} {
		dst := filepath.Join(t.TempDir(), "A001")
		if err := os.MkdirAll(filepath.Join(dst, "ascmhl"), 0o755); err != nil {
			t.Fatal(err)
		}
		if leftover != "" {
			if err := os.WriteFile(filepath.Join(dst, "ascmhl", leftover), []byte("<partial"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		res, err := Offload(context.Background(), src, dst, Options{})
		if err != nil {
			t.Fatalf("leftover %q: %v (%s %s)", leftover, err, res.FailedPath, res.Reason)
		}
		h, err := ascmhl.Open(dst)
		if err != nil || len(h.Generations) != 2 {
			t.Fatalf("leftover %q: history %v, want the card's generation and ours", leftover, err)
		}
		refMHL(t, run, "ascmhl-debug", "verify", dst)
	}

	// The chain cannot be written (a folder in its place): the new
	// generation is removed again and the old history still opens.
	dst := filepath.Join(t.TempDir(), "A001")
	if _, _, err := ascmhl.Seal(context.Background(), src, []ascmhl.Format{ascmhl.XXH64}, ascmhl.ProcessInPlace, ascmhl.Creator{ToolName: "t"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Offload(context.Background(), src, dst, Options{}); err != nil {
		t.Fatal(err)
	}
	chain := filepath.Join(dst, "ascmhl", "ascmhl_chain.xml")
	saved, err := os.ReadFile(chain)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ascmhl.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	before := len(h.Generations)
	if err := os.Remove(chain); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(chain, 0o755); err != nil {
		t.Fatal(err)
	}
	gen := &ascmhl.Generation{Process: ascmhl.ProcessInPlace}
	if err := h.AddGeneration(gen); err == nil {
		t.Fatal("generation added without a chain")
	}
	if _, err := os.Stat(filepath.Join(dst, "ascmhl", gen.FileName)); err == nil {
		t.Errorf("generation %s left without a chain entry", gen.FileName)
	}
	os.Remove(chain)
	if err := os.WriteFile(chain, saved, 0o644); err != nil {
		t.Fatal(err)
	}
	if h, err := ascmhl.Open(dst); err != nil || len(h.Generations) != before {
		t.Fatalf("history after the failed write: %v", err)
	}
}
