package cards

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/ingestd/ingestd/internal/testutil"
)

// ContentIDs fills the BLAKE3 of a verified copy's files, takes what the
// caller knows without reading, and refuses a copy that changed since it
// was verified, or a symlink planted in its place.
func TestContentIDs(t *testing.T) {
	card := t.TempDir()
	writeTree(t, card, map[string]string{
		"DCIM/100GOPRO/GX010001.MP4": "rand:3000000", // several BLAKE3 batches, not a multiple of one
		"DCIM/100GOPRO/GX010002.MP4": "rand:1025",
		"DCIM/100GOPRO/GX010003.MP4": "",
		"MISC/known.bin":             "rand:5000",
	})
	root := testutil.MountTmpfs(t, "64m")
	dst := filepath.Join(root, "2026-02-01", "GOPRO01")
	res, err := Offload(context.Background(), card, dst, Options{DestRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, f := range res.Files {
		data, err := os.ReadFile(filepath.Join(card, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Fatal(err)
		}
		sum := blake3.Sum256(data)
		want[f.Path] = hex.EncodeToString(sum[:])
	}
	files := append([]FileResult(nil), res.Files...)
	asked := 0
	n, err := ContentIDs(context.Background(), root, dst, files, func(f FileResult) string {
		asked++
		if f.Path == "MISC/known.bin" {
			return "given"
		}
		return ""
	})
	if err != nil || n != len(files)-1 || asked != len(files) {
		t.Fatalf("ContentIDs: %d read, %d asked, %v", n, asked, err)
	}
	for _, f := range files {
		w := want[f.Path]
		if f.Path == "MISC/known.bin" {
			w = "given"
		}
		if f.BLAKE3 != w {
			t.Errorf("%s: BLAKE3 %q, want %q", f.Path, f.BLAKE3, w)
		}
	}
	// Ids already there are neither asked for nor read again.
	if n, err := ContentIDs(context.Background(), root, dst, files, func(FileResult) string { t.Error("asked again"); return "" }); n != 0 || err != nil {
		t.Fatalf("second pass: %d read, %v", n, err)
	}

	// A copy changed since it was verified (same size): ErrMismatch, no id.
	files = append([]FileResult(nil), res.Files...)
	victim := filepath.Join(dst, "DCIM/100GOPRO/GX010002.MP4")
	data, _ := os.ReadFile(victim)
	data[7] ^= 1
	if err := os.WriteFile(victim, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ContentIDs(context.Background(), root, dst, files, nil)
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "GX010002.MP4") {
		t.Fatalf("changed copy: %v", err)
	}
	for _, f := range files {
		if f.Path == "DCIM/100GOPRO/GX010002.MP4" && f.BLAKE3 != "" {
			t.Errorf("changed copy got id %s", f.BLAKE3)
		}
	}

	// A symlink planted in place of a copy is not followed.
	files = append([]FileResult(nil), res.Files...)
	os.Remove(victim)
	if err := os.Symlink(filepath.Join(card, "DCIM/100GOPRO/GX010002.MP4"), victim); err != nil {
		t.Fatal(err)
	}
	if _, err := ContentIDs(context.Background(), root, dst, files, nil); err == nil || !strings.Contains(err.Error(), "GX010002.MP4") {
		t.Fatalf("symlink in place of a copy: %v", err)
	}
	// A folder outside the root is refused.
	if _, err := ContentIDs(context.Background(), dst, card, res.Files[:1:1], nil); err == nil {
		t.Fatal("a copy outside the root was read")
	}
}
