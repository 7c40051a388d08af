package cards

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

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
