package cardsvc

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
)

// apply sets the origin, the camera field and the camera's media facts once
// the asset exists, once (one asset.updated), and drops the pending record.
func TestApplyOrigin(t *testing.T) {
	cat := catalogtest.Open(t, t.TempDir())
	root := t.TempDir()
	s := &Service{cat: cat, log: slogDiscard()}
	meta := &cards.CameraMeta{Manufacturer: "Sony", Model: "ILME-FX3", StartTimecode: "01:02:03:04", ClipName: "C0001"}
	origin := storage.OriginInfo{CardLabel: "SONY1", CardLayout: "sony_xavc", OffloadAt: time.Now().UTC()}
	id := strings.Repeat("ab", 32)
	if err := cat.PutState(pendingKey(id), pending{Origin: origin, Meta: meta}); err != nil {
		t.Fatal(err)
	}
	s.apply(id) // not cataloged yet: nothing happens
	id = catalogtest.PutFile(t, cat, "v", root, "C0001.MP4", []byte("clip"))
	cat.PutState(pendingKey(id), pending{Origin: origin, Meta: meta})
	s.apply(id)
	s.apply(id)
	d, err := cat.Asset(id)
	if err != nil {
		t.Fatal(err)
	}
	if d.Origin == nil || d.Origin.CardLabel != "SONY1" || d.Media == nil || d.Media.Make != "Sony" || d.Media.Timecode != "01:02:03:04" || d.Media.Reel != "C0001" {
		t.Fatalf("asset after apply: origin %+v media %+v", d.Origin, d.Media)
	}
	evs, _ := cat.Events(0, 1000)
	n := 0
	for _, ev := range evs {
		if ev.Type == storage.EvAssetUpdated && ev.AssetID == id {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d asset.updated events, want 1", n)
	}
	if d.Camera == nil || d.Camera.Manufacturer != "Sony" || d.Camera.Model != "ILME-FX3" || d.Camera.StartTimecode != "01:02:03:04" {
		t.Fatalf("camera field after apply: %+v", d.Camera)
	}
	// Applied once: the pending record is gone, and a later media rewrite
	// (transcode's probe, FillMedia from the camera field) adds nothing here.
	var p pending
	if err := cat.GetState(pendingKey(id), &p); err == nil {
		t.Error("pending kept after it was applied")
	}
	cat.UpdateAsset(id, "", "", func(a *storage.Asset) error {
		a.Kind, a.Media = "video", a.Camera.FillMedia(&storage.Media{Container: "mov,mp4"})
		return nil
	})
	s.apply(id)
	d, _ = cat.Asset(id)
	if d.Media.Make != "Sony" || d.Media.Container != "mov,mp4" || d.Camera == nil {
		t.Errorf("media after probe: %+v camera %+v", d.Media, d.Camera)
	}
	evs, _ = cat.Events(0, 1000)
	n = 0
	for _, ev := range evs {
		if ev.Type == storage.EvAssetUpdated && ev.AssetID == id && ev.Detail == "card origin" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d asset.updated (card origin) events after a re-probe, want 1", n)
	}
	// An origin-only record is dropped once applied.
	id2 := catalogtest.PutFile(t, cat, "v", root, "GX010001.MP4", []byte("gopro"))
	cat.PutState(pendingKey(id2), pending{Origin: origin})
	s.apply(id2)
	if err := cat.GetState(pendingKey(id2), &p); err == nil {
		t.Error("origin-only pending kept after it was applied")
	}
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Two cards with the same label on one day get separate folders.
func TestClaimFolder(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "2026-11-23/NO NAME/DCIM"), 0o755)
	os.MkdirAll(filepath.Join(root, "2026-11-23/EMPTY"), 0o755)
	s := &Service{offload: Volume{Name: "v", Path: root}}
	for _, tc := range []struct{ in, want string }{
		{"2026-11-23/NO NAME", "2026-11-23/NO NAME-2"},
		{"2026-11-23/NO NAME", "2026-11-23/NO NAME-3"},
		{"2026-11-23/EMPTY", "2026-11-23/EMPTY"},
		{"2026-11-23/A001", "2026-11-23/A001"},
		{"2026-11-23/A001", "2026-11-23/A001-2"},
	} {
		if got := s.claimFolder(tc.in); got != tc.want {
			t.Errorf("claimFolder(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// /v1/clips pages in id order; /v1/clips/{id} answers 404 for an unknown id.
func TestClipsPaging(t *testing.T) {
	cat := catalogtest.Open(t, t.TempDir())
	want := map[string]bool{}
	for i := 0; i < 5; i++ {
		id := clipID("fp:x", fmt.Sprintf("C%04d", i))
		want[id] = true
		cat.PutClip(ClipDoc{ID: id, Name: fmt.Sprintf("C%04d", i)})
	}
	srv := httptest.NewServer(ClipsHandler(cat))
	defer srv.Close()
	seen := map[string]bool{}
	after, pages := "", 0
	for {
		resp, err := http.Get(srv.URL + "/v1/clips?limit=2&after=" + after)
		if err != nil {
			t.Fatal(err)
		}
		var d ClipsDoc
		json.NewDecoder(resp.Body).Decode(&d)
		resp.Body.Close()
		pages++
		for _, c := range d.Clips {
			if seen[c.ID] || c.ID <= after {
				t.Errorf("clip %s repeated or out of order", c.ID)
			}
			seen[c.ID] = true
		}
		if d.Next == "" {
			break
		}
		after = d.Next
	}
	if len(seen) != 5 || pages != 3 {
		t.Errorf("paged %d clips in %d pages, want 5 in 3", len(seen), pages)
	}
	for _, u := range []string{"/v1/clips/" + strings.Repeat("0", 32), "/v1/clips?limit=0"} {
		resp, _ := http.Get(srv.URL + u)
		if resp.StatusCode != 404 && resp.StatusCode != 400 {
			t.Errorf("GET %s: %d", u, resp.StatusCode)
		}
		resp.Body.Close()
	}
}

// The reason of a pass the card was pulled in starts with "card removed
// during offload" (docs/api.md: a hub matches on it), once; a trial saw
// "read X: card removed during offload: …" from a FUSE card killed.
func TestSourceGoneReason(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"read A001_C002.braw: card removed during offload: read /media/A001/A001_C002.braw: transport endpoint is not connected",
			"card removed during offload: read A001_C002.braw: read /media/A001/A001_C002.braw: transport endpoint is not connected"},
		{"open DCIM/GX01.MP4: card removed during offload", "card removed during offload: open DCIM/GX01.MP4"},
		{"card /media/X: card removed during offload: no such file or directory", "card removed during offload: card /media/X: no such file or directory"},
		{"context canceled", "card removed during offload"},
		{"", "card removed during offload"},
		{"read DCIM/GX01.MP4: input/output error", "card removed during offload: read DCIM/GX01.MP4: input/output error"},
	} {
		if got := sourceGoneReason(tc.in); got != tc.want {
			t.Errorf("sourceGoneReason(%q)\n = %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

// A destination re-reading its copy (every byte written) is shown
// "verifying" at its re-read rate with an ETA that falls, not "copying
// 100%" with a write rate decaying to nothing and an ETA growing to hours
// (a trial, on a slow share).
func TestProgressIntoVerifying(t *testing.T) {
	const mb = 1 << 20
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var m destMeter
	var d DestState
	step := func(sec int, written, verified int64) {
		progressInto(&d, cards.DestProgress{State: cards.DestCopying, BytesWritten: written * mb, BytesVerified: verified * mb, BytesTotal: 100 * mb},
			&m, t0.Add(time.Duration(sec)*time.Second))
	}
	step(0, 0, 0)
	step(1, 50, 10)
	if d.State != cards.DestCopying || d.RateBps < 49*mb || d.RateBps > 51*mb || d.ETASeconds <= 0 {
		t.Fatalf("copying: %+v", d)
	}
	step(2, 100, 20)
	step(3, 100, 30)
	if d.State != cards.DestVerifying || d.RateBps < 5*mb || d.RateBps > 15*mb {
		t.Fatalf("re-reading after every byte is written: state %s at %.1f MB/s, want verifying at about 10", d.State, d.RateBps/mb)
	}
	eta := d.ETASeconds
	var etas []float64
	for sec, v := 4, int64(40); v <= 90; sec, v = sec+1, v+10 {
		step(sec, 100, v)
		etas = append(etas, d.ETASeconds)
	}
	for i, e := range etas {
		if e <= 0 || (i > 0 && e >= etas[i-1]) || e >= eta || e > 60 {
			t.Fatalf("ETA while verifying %v (from %.1f): must fall, and stay sane", etas, eta)
		}
	}
	progressInto(&d, cards.DestProgress{State: cards.DestFailed, BytesWritten: 100 * mb, BytesVerified: 90 * mb, BytesTotal: 100 * mb, Error: "x"}, &m, t0.Add(20*time.Second))
	if d.State != cards.DestFailed || d.RateBps != 0 || d.ETASeconds != 0 || d.Error != "x" {
		t.Fatalf("failed: %+v", d)
	}
}

// A card read error followed within CardGoneWait by the mount going away
// is a pull (a trial: EIO, then the automounter's unmount 0.3 s later, was
// reported as an unreadable card); a mount that stays is a read error.
func TestGoneSoon(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mounted int // looks that still see it mounted (-1: always)
		want    bool
	}{
		{"gone at once", 0, true},
		{"gone a moment later", 3, true},
		{"still mounted", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			looks := 0
			got := goneSoon(func() bool { looks++; return tc.mounted < 0 || looks <= tc.mounted }, 100*time.Millisecond, 10*time.Millisecond)
			if got != tc.want {
				t.Errorf("goneSoon = %v after %d looks, want %v", got, looks, tc.want)
			}
		})
	}
}
