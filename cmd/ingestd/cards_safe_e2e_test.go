package main_test

// The "safe to format" gate of a card offloaded earlier (issue 11 item 5).

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/storage"
)

// TestCardsSafeGateCopyGone: a card offloaded and safe is re-inserted
// after its verified copy was deleted (or moved away) from the
// destination. Before, the card showed "already offloaded: SAFE TO FORMAT"
// from the catalog record alone, and formatting it lost the footage. Now
// the copy is looked for first; it is gone, so the card is offloaded again
// (never shown safe meanwhile) and safe once the new copy is verified.
// A re-insert with the copy in place still says already offloaded; while
// the card is out, GET /v1/cards and `ingestd cards` say NOT safe; while
// it is in, the status turns NOT SAFE once its copy goes away, and a clip
// added to it gets it offloaded again.
func TestCardsSafeGateCopyGone(t *testing.T) {
	cardsNeedRoot(t)
	root := filepath.Join(t.TempDir(), "media")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	c := newCard(t, root, "SAFE1", "32M", map[string]string{
		"DCIM/100GOPRO/GX010001.MP4": "300000", "DCIM/100GOPRO/GX010002.MP4": "200000",
	})
	e := newEnv(t, "", "cards:\n  mount_roots: ["+root+"]\n  offload_to: footage\n  path: \"{label}\"\n  poll: 200ms\n")
	e.start()
	defer e.stop()
	safeEvents := func(evs []storage.Event) int {
		return len(cardEvents(evs, storage.EvCardSafe, "SAFE1"))
	}
	waitSafe := func(n int, what string) []storage.Event {
		return e.waitFeed(60*time.Second, what, func(evs []storage.Event) bool { return safeEvents(evs) >= n })
	}
	waitStatus := func(what string, ok func(msg string, safe bool) bool) {
		deadline := time.Now().Add(60 * time.Second)
		for {
			cs, found := e.cardStatus(c.mp)
			if found && ok(cs.Message, cs.SafeToFormat) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: status %+v (found %v)", what, cs, found)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	eject := func() { // and wait until the daemon saw it go
		c.Eject()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, found := e.cardStatus(c.mp); !found {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("ejected card still in the status")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	c.Insert()
	evs := waitSafe(1, "SAFE1 safe")
	dest := filepath.Join(e.watch, "SAFE1")
	if _, err := os.Stat(filepath.Join(dest, "ascmhl")); err != nil {
		t.Fatalf("offload folder: %v", err)
	}
	eject()

	// Re-inserted with the copy in place: already offloaded, safe.
	c.Insert()
	waitStatus("re-insert with the copy in place", func(msg string, safe bool) bool {
		return safe && strings.Contains(msg, "already offloaded")
	})
	eject()
	offloads := len(cardEvents(evs, storage.EvCardOffloaded, "SAFE1"))

	// The copy is moved away: re-inserting must not say safe.
	if err := os.Rename(dest, filepath.Join(t.TempDir(), "moved")); err != nil {
		t.Fatal(err)
	}
	// Before the card is back: GET /v1/cards and `ingestd cards` no longer
	// call it safe, and say which copy is gone.
	code, body := e.get("/v1/cards", e.token)
	var page wire.CardsPage
	if err := json.Unmarshal(body, &page); code != 200 || err != nil || len(page.Cards) != 1 {
		t.Fatalf("GET /v1/cards: %d %v %s", code, err, body)
	}
	if rec := page.Cards[0]; rec.SafeToFormat || len(rec.Destinations) != 1 || rec.Destinations[0].State != "pending" || !strings.Contains(rec.Destinations[0].Error, "verified copy gone") {
		t.Errorf("card record with its copy gone: safe %v, destinations %+v", rec.SafeToFormat, rec.Destinations)
	}
	if out, _, code := e.cli("cards"); code != 0 || !strings.Contains(out, "NOT SAFE TO FORMAT") {
		t.Errorf("ingestd cards with the copy gone (exit %d):\n%s", code, out)
	}
	c.Insert()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		// The status first, then the copy: safe while the copy is still
		// missing after that is the failure (once it is back the card may
		// be safe again, legitimately, between two polls).
		cs, found := e.cardStatus(c.mp)
		if _, err := os.Stat(filepath.Join(dest, "ascmhl")); err == nil {
			break
		}
		if found && cs.SafeToFormat {
			t.Fatalf("card whose only copy is gone shown safe: %+v", cs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	evs = waitSafe(2, "SAFE1 offloaded again and safe")
	if n := len(cardEvents(evs, storage.EvCardOffloaded, "SAFE1")); n != offloads+1 {
		t.Errorf("%d card.offloaded events after the second offload, want %d", n, offloads+1)
	}
	for _, rel := range []string{"DCIM/100GOPRO/GX010001.MP4", "DCIM/100GOPRO/GX010002.MP4"} {
		if fileBLAKE3(t, filepath.Join(dest, rel)) != fileBLAKE3(t, filepath.Join(c.mp, rel)) {
			t.Errorf("%s not copied again", rel)
		}
	}
	waitStatus("after the second offload", func(msg string, safe bool) bool { return safe })

	// The card stays in and its copy is moved away: the daemon's own look
	// at the copies of inserted safe cards (every 5 s, vouch.go) turns the
	// status NOT SAFE, naming the copy; once it is back, safe again.
	aside := filepath.Join(t.TempDir(), "aside")
	if err := os.Rename(dest, aside); err != nil {
		t.Fatal(err)
	}
	waitStatus("copy moved away while the card is in", func(msg string, safe bool) bool {
		return !safe && strings.HasPrefix(msg, "NOT SAFE TO FORMAT now: footage: verified copy gone")
	})
	if err := os.Rename(aside, dest); err != nil {
		t.Fatal(err)
	}
	waitStatus("copy back", func(msg string, safe bool) bool {
		return safe && msg == "offloaded: safe to eject, SAFE TO FORMAT (1 destination verified)"
	})

	// The card stays in, read-write, and a clip is added to it: it is no
	// longer the card offloaded (a trial saw it stay SAFE TO FORMAT with
	// the new clip on it only). It is offloaded again as the card it is
	// now, the new clip with it, and safe once that copy is verified.
	before, _ := e.cardStatus(c.mp)
	added := filepath.Join(c.mp, "DCIM/100GOPRO/GX010003.MP4")
	if err := os.WriteFile(added, []byte(strings.Repeat("new clip ", 40000)), 0o644); err != nil {
		t.Fatal(err)
	}
	waitSafe(3, "SAFE1 offloaded again with the clip added")
	waitStatus("the changed card safe", func(msg string, safe bool) bool { return safe })
	after, _ := e.cardStatus(c.mp)
	if after.Key == before.Key || after.Dest == before.Dest {
		t.Errorf("changed card shown as key %s at %s, as before the change (%s at %s)", after.Key, after.Dest, before.Key, before.Dest)
	}
	copied := filepath.Join(e.watch, strings.TrimPrefix(after.Dest, "footage/"), "DCIM/100GOPRO/GX010003.MP4")
	if _, err := os.Stat(copied); err != nil || fileBLAKE3(t, copied) != fileBLAKE3(t, added) {
		t.Errorf("the added clip not copied to %s: %v", copied, err)
	}
}

// A card that fails on a file named like ingestd's own partial files is
// told to rename it; once that is done on the card, left inserted, the
// card is looked at again and offloaded, with no need to pull it and
// insert it again (a trial saw nothing happen until it was remounted).
func TestCardsFailedCardChangedInPlace(t *testing.T) {
	cardsNeedRoot(t)
	root := filepath.Join(t.TempDir(), "media")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	c := newCard(t, root, "RSV1", "32M", map[string]string{
		"DCIM/100GOPRO/GX010001.MP4": "300000", "DCIM/100GOPRO/GX010002.MP4.ingestd-partial": "200000",
	})
	e := newEnv(t, "", "cards:\n  mount_roots: ["+root+"]\n  offload_to: footage\n  path: \"{label}\"\n  poll: 200ms\n")
	e.start()
	defer e.stop()
	c.Insert()
	evs := e.waitFeed(60*time.Second, "RSV1 failed", func(evs []storage.Event) bool { return len(cardEvents(evs, storage.EvCardFailed, "RSV1")) > 0 })
	if f := cardEvents(evs, storage.EvCardFailed, "RSV1")[0]; !strings.Contains(f.Reason, "rename or move it on the card") {
		t.Fatalf("reason %q", f.Reason)
	}
	renamed := filepath.Join(c.mp, "DCIM/100GOPRO/GX010002.MP4")
	if err := os.Rename(renamed+".ingestd-partial", renamed); err != nil {
		t.Fatal(err)
	}
	e.waitFeed(60*time.Second, "RSV1 safe once the file is renamed on the card", func(evs []storage.Event) bool {
		return len(cardEvents(evs, storage.EvCardSafe, "RSV1")) > 0
	})
	cs, _ := e.cardStatus(c.mp)
	copied := filepath.Join(e.watch, strings.TrimPrefix(cs.Dest, "footage/"), "DCIM/100GOPRO/GX010002.MP4")
	if fileBLAKE3(t, copied) != fileBLAKE3(t, renamed) {
		t.Errorf("renamed file not copied to %s", copied)
	}
}
