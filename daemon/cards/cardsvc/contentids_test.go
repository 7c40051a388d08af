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
// card's xxh128 (the copy is not read), else from the verified copy; then
// clip parts, pending origins (applied to cataloged assets) and the
// report's hashes; it is kept for a retry while a copy no longer matches.
func TestContentIDsJob(t *testing.T) {
	cat := catalogtest.Open(t, t.TempDir())
	vol := t.TempDir()
	s := &Service{cat: cat, log: slogDiscard(), vols: map[string]string{"v": vol}}
	origin := storage.OriginInfo{CardLabel: "CARD1", CardLayout: "dcim", OffloadAt: time.Now().UTC()}
	ctx := context.Background()

	// card sets up card key in folder: a.MP4 cataloged by the ingest,
	// b.MP4 not yet; both parts of one clip.
	card := func(key, folder string) (string, string) {
		a := []byte(strings.Repeat("a", 70000))
		b := []byte(strings.Repeat("b", 5000))
		ida := catalogtest.PutFile(t, cat, "v", vol, folder+"/DCIM/a.MP4", a)
		if err := os.WriteFile(filepath.Join(vol, folder, "DCIM/b.MP4"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := blake3.Sum256(b)
		idb := hex.EncodeToString(sum[:])
		xa, xb := xxh3.Hash128(a).Bytes(), xxh3.Hash128(b).Bytes()
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
			{Path: "DCIM/b.MP4", Size: int64(len(b)), XXH128: hex.EncodeToString(xb[:])}}); err != nil {
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
	if w := idWarning(); w != "BLAKE3 (content id) of 2 of 2 files not computed yet" {
		t.Errorf("report warning before the job: %q", w)
	}
	if err := s.contentIDs(ctx, "uuid:1/1"); err != nil {
		t.Fatal(err)
	}
	if w := idWarning(); w != "" {
		t.Errorf("report warning after the job: %q", w)
	}
	clip, err := cat.Clip("uuid:1/1-clip")
	if err != nil || len(clip.Parts) != 2 || clip.Parts[0].AssetID != ida || clip.Parts[1].AssetID != idb {
		t.Fatalf("clip after the job: %+v %v (want %s, %s)", clip, err, ida, idb)
	}
	var files []ReportFile
	if err := cat.GetState(filesKey("uuid:1/1"), &files); err != nil || len(files) != 2 || files[0].BLAKE3 != ida || files[1].BLAKE3 != idb {
		t.Fatalf("report file hashes: %+v %v", files, err)
	}
	if d, err := cat.Asset(ida); err != nil || d.Origin == nil || d.Origin.CardLabel != "CARD1" {
		t.Fatalf("cataloged asset's origin: %+v %v", d.Origin, err)
	}
	var p pending
	if err := cat.GetState(pendingKey(idb), &p); err != nil || p.Origin.CardLabel != "CARD1" {
		t.Fatalf("pending origin of the asset not cataloged yet: %+v %v", p, err)
	}
	var job idJob
	if err := cat.GetState(idsKey("uuid:1/1"), &job); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("job still recorded: %v", err)
	}

	// A copy changed since it was verified, not known to the catalog:
	// no id for it, the job is kept (retried), the other id is filled.
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
