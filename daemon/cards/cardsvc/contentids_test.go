package cardsvc

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/blake3"
	"github.com/zeebo/xxh3"

	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
)

// The content id job fills in, after the card pass, the asset ids the
// pass left out: the catalog's where the ingest hashed the copy to the
// card's xxh128 (the copy is not read; the job waits for the ingest to
// catalog a copy, not for a file the ingest skips), else from the
// verified copy; then clip parts, pending origins (applied to cataloged
// assets) and the report's hashes; it is kept for a retry while a copy no
// longer matches.
func TestContentIDsJob(t *testing.T) {
	cat := catalogtest.Open(t, t.TempDir())
	vol := t.TempDir()
	s := &Service{cat: cat, log: slogDiscard(), vols: map[string]string{"v": vol}}
	origin := storage.OriginInfo{CardLabel: "CARD1", CardLayout: "dcim", OffloadAt: time.Now().UTC()}
	ctx := context.Background()

	// card sets up card key in folder: a.MP4 cataloged by the ingest,
	// b.MP4 not yet, both parts of one clip; .x/meta a file the ingest
	// skips.
	card := func(key, folder string) (string, string) {
		a := []byte(strings.Repeat("a", 70000))
		b := []byte(strings.Repeat("b", 5000))
		ida := catalogtest.PutFile(t, cat, "v", vol, folder+"/DCIM/a.MP4", a)
		if err := os.WriteFile(filepath.Join(vol, folder, "DCIM/b.MP4"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(vol, folder, ".x"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(vol, folder, ".x/meta"), []byte("m"), 0o644); err != nil {
			t.Fatal(err)
		}
		sum := blake3.Sum256(b)
		idb := hex.EncodeToString(sum[:])
		xa, xb, xm := xxh3.Hash128(a).Bytes(), xxh3.Hash128(b).Bytes(), xxh3.Hash128([]byte("m")).Bytes()
		rec := Record{Key: key, Label: "CARD1", Volume: "v", Folder: folder, Clips: []string{key + "-clip"},
			Destinations: []DestState{{Volume: "v", Path: folder, State: cards.DestVerified}}}
		if err := cat.PutCard(rec); err != nil {
			t.Fatal(err)
		}
		if err := cat.PutClip(ClipDoc{ID: key + "-clip", CardKey: key, Parts: []ClipPart{
			{Role: "video", Path: folder + "/DCIM/a.MP4", Card: key}, {Role: "video", Path: folder + "/DCIM/b.MP4", Card: key}}}); err != nil {
			t.Fatal(err)
		}
		if err := s.storeFiles(key, []cards.FileResult{
			{Path: "DCIM/a.MP4", Size: int64(len(a)), XXH128: hex.EncodeToString(xa[:])},
			{Path: "DCIM/b.MP4", Size: int64(len(b)), XXH128: hex.EncodeToString(xb[:])},
			{Path: ".x/meta", Size: 1, XXH128: hex.EncodeToString(xm[:])}}); err != nil {
			t.Fatal(err)
		}
		if err := cat.PutState(idsKey(key), idJob{Origin: &origin}); err != nil {
			t.Fatal(err)
		}
		// The ingest's id is taken without reading the copy: a.MP4 is
		// changed behind the catalog's back (same size) and still not
		// refused.
		if err := os.WriteFile(filepath.Join(vol, folder, "DCIM/a.MP4"), []byte(strings.Repeat("z", 70000)), 0o644); err != nil {
			t.Fatal(err)
		}
		return ida, idb
	}

	ida, idb := card("uuid:1/1", "2026-02-01/CARD1")
	// The report says plainly that the ids are not there yet, then not.
	idWarning := func() string {
		t.Helper()
		r, err := BuildReport(cat, t.TempDir(), "uuid:1/1")
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range r.Warnings {
			if strings.Contains(w, "content id") {
				return w
			}
		}
		return ""
	}
	if w := idWarning(); w != "BLAKE3 (content id) of 3 of 3 files not computed yet" {
		t.Errorf("report warning before the job: %q", w)
	}
	// The ingest catalogs b.MP4 while the job waits: its id is the
	// catalog's, and its copy is not read (changed afterwards behind the
	// catalog's back, it is not refused).
	s.idWait = time.Minute
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- s.contentIDs(ctx, "uuid:1/1") }()
	time.Sleep(300 * time.Millisecond)
	catalogtest.PutFile(t, cat, "v", vol, "2026-02-01/CARD1/DCIM/b.MP4", []byte(strings.Repeat("b", 5000)))
	if err := os.WriteFile(filepath.Join(vol, "2026-02-01/CARD1/DCIM/b.MP4"), []byte(strings.Repeat("y", 5000)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("job took %s: it waited for a file the ingest skips", took)
	}
	if w := idWarning(); w != "" {
		t.Errorf("report warning after the job: %q", w)
	}
	clip, err := cat.Clip("uuid:1/1-clip")
	if err != nil || len(clip.Parts) != 2 || clip.Parts[0].AssetID != ida || clip.Parts[1].AssetID != idb {
		t.Fatalf("clip after the job: %+v %v (want %s, %s)", clip, err, ida, idb)
	}
	var files []ReportFile
	msum := blake3.Sum256([]byte("m"))
	if err := cat.GetState(filesKey("uuid:1/1"), &files); err != nil || len(files) != 3 || files[0].BLAKE3 != hex.EncodeToString(msum[:]) ||
		files[1].BLAKE3 != ida || files[2].BLAKE3 != idb {
		t.Fatalf("report file hashes: %+v %v", files, err)
	}
	if d, err := cat.Asset(ida); err != nil || d.Origin == nil || d.Origin.CardLabel != "CARD1" {
		t.Fatalf("cataloged asset's origin: %+v %v", d.Origin, err)
	}
	if d, err := cat.Asset(idb); err != nil || d.Origin == nil || d.Origin.CardLabel != "CARD1" {
		t.Fatalf("origin of the asset cataloged while the job waited: %+v %v", d.Origin, err)
	}
	var p pending
	if err := cat.GetState(pendingKey(hex.EncodeToString(msum[:])), &p); err != nil || p.Origin.CardLabel != "CARD1" {
		t.Fatalf("pending origin of the file not cataloged: %+v %v", p, err)
	}
	var job idJob
	if err := cat.GetState(idsKey("uuid:1/1"), &job); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("job still recorded: %v", err)
	}

	// A copy changed since it was verified, not known to the catalog
	// (not cataloged within the wait): no id for it, the job is kept
	// (retried), the other id is filled.
	s.idWait = 300 * time.Millisecond
	ida, _ = card("uuid:2/2", "2026-02-02/CARD1")
	if err := os.WriteFile(filepath.Join(vol, "2026-02-02/CARD1/DCIM/b.MP4"), []byte(strings.Repeat("c", 5000)), 0o644); err != nil {
		t.Fatal(err)
	}
	err = s.contentIDs(ctx, "uuid:2/2")
	if !errors.Is(err, cards.ErrMismatch) || !strings.Contains(err.Error(), "b.MP4") {
		t.Fatalf("changed copy: %v", err)
	}
	clip, _ = cat.Clip("uuid:2/2-clip")
	if clip.Parts[0].AssetID != ida || clip.Parts[1].AssetID != "" {
		t.Fatalf("clip after a failed job: %+v", clip.Parts)
	}
	if err := cat.GetState(idsKey("uuid:2/2"), &job); err != nil {
		t.Fatalf("failed job not kept: %v", err)
	}
}
