package main_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/daemon/cards"
)

// `ingestd cards verify DIR...` (the real binary, no daemon) re-reads two
// offloaded folders against their ASC MHL histories: both OK (exit 0);
// then one byte flipped in a clip (same size and mtime), a clip deleted
// and a stray file added make that folder NOT OK with each file named
// (exit 1, the other folder still OK); -json says the same; a folder with
// no history is NOT VERIFIED.
func TestCardsVerifyCLI(t *testing.T) {
	card := t.TempDir()
	files := map[string]string{
		"DCIM/100GOPRO/GX010001.MP4": strings.Repeat("chapter one ", 40000),
		"DCIM/100GOPRO/GX010002.MP4": strings.Repeat("chapter two ", 30000),
		"MISC/version.txt":           "v1",
	}
	for rel, data := range files {
		p := filepath.Join(card, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vol := t.TempDir()
	a, b := filepath.Join(vol, "raid", "GOPRO1"), filepath.Join(vol, "shuttle", "GOPRO1")
	res, err := cards.OffloadMulti(context.Background(), card, []cards.Destination{{Name: "raid", Dir: a, Root: vol}, {Name: "shuttle", Dir: b, Root: vol}},
		cards.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil || len(res.Verified()) != 2 {
		t.Fatalf("offload: %v %+v", err, res.Dests)
	}

	out, errOut, code := runBin(t, "cards", "verify", a, b)
	if code != 0 || strings.Count(out, ": OK: 3 files match the ASC MHL history (1 generations") != 2 {
		t.Fatalf("verify of two good offloads: exit %d\n%s%s", code, out, errOut)
	}

	// Bit rot in one clip (size and mtime kept), one clip gone, one stray file.
	rot := filepath.Join(b, "DCIM", "100GOPRO", "GX010001.MP4")
	fi, _ := os.Stat(rot)
	data, _ := os.ReadFile(rot)
	data[len(data)/2] ^= 0x20
	if err := os.WriteFile(rot, data, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(rot, fi.ModTime(), fi.ModTime())
	os.Remove(filepath.Join(b, "DCIM", "100GOPRO", "GX010002.MP4"))
	os.WriteFile(filepath.Join(b, "DCIM", "100GOPRO", "GX019999.MP4"), []byte("not from the card"), 0o644)

	out, errOut, code = runBin(t, "cards", "verify", a, b)
	if code != 1 {
		t.Fatalf("verify with a damaged folder: exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		a + ": OK: 3 files",
		b + ": NOT OK: 1 match, 1 differ, 1 missing, 1 not in the history",
		`differs  "DCIM/100GOPRO/GX010001.MP4": xxh128 `,
		`missing  "DCIM/100GOPRO/GX010002.MP4"`,
		`new      "DCIM/100GOPRO/GX019999.MP4"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, _, code = runBin(t, "cards", "verify", "-json", b, card)
	var v struct {
		Folders []struct {
			Path     string `json:"path"`
			OK       bool   `json:"ok"`
			Verified int    `json:"verified"`
			Failed   []struct {
				Path, Format, History, Now string
			} `json:"failed"`
			Missing []string `json:"missing"`
			New     []string `json:"new"`
			Error   string   `json:"error"`
		} `json:"folders"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || code != 1 || len(v.Folders) != 2 {
		t.Fatalf("-json: exit %d, %v\n%s", code, err, out)
	}
	f := v.Folders[0]
	if f.OK || f.Verified != 1 || len(f.Failed) != 1 || f.Failed[0].Path != "DCIM/100GOPRO/GX010001.MP4" || f.Failed[0].Format != "xxh128" ||
		f.Failed[0].History == f.Failed[0].Now || len(f.Missing) != 1 || len(f.New) != 1 {
		t.Errorf("-json damaged folder: %+v", f)
	}
	if c := v.Folders[1]; c.OK || !strings.Contains(c.Error, "no") {
		t.Errorf("-json folder without a history: %+v", c)
	}
}
