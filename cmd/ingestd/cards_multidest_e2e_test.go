package main_test

// Camera cards offloaded to several destinations (issue 11 items 2, 4, 6),
// with the real binary, loop-mounted ext4 cards and tmpfs volumes: one
// read of the card, a destination that fills up fails on its own, is
// filled later from the verified copy, and only then is the card
// announced safe to format (card.safe, status, `ingestd cards`);
// cascade mode, progress fields, metrics and eject_when_safe.

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/daemon/cards/ascmhl"
	"github.com/ingestd/ingestd/daemon/cards/cardsvc"
	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/storage"
)

type mdSafeDetail struct {
	Label        string `json:"label"`
	Key          string `json:"key"`
	Ejected      bool   `json:"ejected"`
	EjectError   string `json:"eject_error"`
	Destinations []struct {
		Volume     string `json:"volume"`
		Path       string `json:"path"`
		Generation string `json:"generation"`
	} `json:"destinations"`
}

func mdEvents(evs []storage.Event, typ, label string) []mdSafeDetail {
	var out []mdSafeDetail
	for _, ev := range evs {
		if ev.Type != typ {
			continue
		}
		var d mdSafeDetail
		if json.Unmarshal([]byte(ev.Detail), &d) == nil && d.Label == label {
			out = append(out, d)
		}
	}
	return out
}

// mdTmpfs mounts a tmpfs of size at a new folder.
func mdTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	testutil.Run(t, "mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir)
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

func mdCardRecord(t *testing.T, e *env, label string) cardsvc.Record {
	t.Helper()
	var doc cardsvc.CardsDoc
	if err := e.client().Get(context.Background(), "/v1/cards", nil, &doc); err != nil {
		t.Fatal(err)
	}
	for _, r := range doc.Cards {
		if r.Label == label {
			return r
		}
	}
	t.Fatalf("no card %s in /v1/cards: %+v", label, doc)
	return cardsvc.Record{}
}

func mdStatusCard(t *testing.T, e *env, label string) (cardsvc.CardStatus, bool) {
	t.Helper()
	st, err := e.client().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var cs cardsvc.Status
	b, _ := json.Marshal(st.Cards)
	json.Unmarshal(b, &cs)
	for _, c := range cs.Cards {
		if c.Label == label {
			return c, true
		}
	}
	return cardsvc.CardStatus{}, false
}

func mdSameFiles(t *testing.T, a, b string) {
	t.Helper()
	n := 0
	filepath.WalkDir(a, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // a report's temporary file, renamed while we walk
			}
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(a, p)
		if d.IsDir() && (rel == "ascmhl" || rel == "lost+found") {
			return filepath.SkipDir
		}
		// Compare card content only: the offload report (written into each
		// destination after card.safe, possibly while we walk), its
		// temporary files and the offload state are ingestd's own.
		switch name := d.Name(); {
		case name == cardsvc.ReportHTMLName, name == cardsvc.ReportJSONName,
			name == cards.StateName, strings.HasSuffix(name, cards.PartialSuffix):
			return nil
		}
		if d.Type().IsRegular() {
			n++
			if fileBLAKE3(t, p) != fileBLAKE3(t, filepath.Join(b, rel)) {
				t.Errorf("%s differs between %s and %s", rel, a, b)
			}
		}
		return nil
	})
	if n == 0 {
		t.Fatalf("no files under %s", a)
	}
}

func mdVerify(t *testing.T, dir string, gens int) {
	t.Helper()
	rep, err := ascmhl.Verify(context.Background(), dir)
	if err != nil || !rep.OK() {
		t.Errorf("ascmhl verify of %s: %v %s", dir, err, rep)
	}
	h, err := ascmhl.Open(dir)
	if err != nil || len(h.Generations) != gens {
		t.Errorf("history of %s: %v, %d generations, want %d", dir, err, len(h.Generations), gens)
	}
}

func mounted(mp string) bool {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && f[4] == mp {
			return true
		}
	}
	return false
}

// Two destinations, one a tmpfs too small for the card: the card is read
// once, the big one is verified, the small one fails (destination full)
// and the card is NOT safe to format; the card is pulled, the small volume
// grows, and the retry fills it from the verified copy; only then card.safe.
func TestCardsMultiDestFullThenCascadeSafe(t *testing.T) {
	cardsNeedRoot(t)
	root := filepath.Join(t.TempDir(), "media")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	shuttle := mdTmpfs(t, "2m")
	e := newEnv(t, "", "  - name: shuttle\n    path: "+shuttle+"\n"+
		"disk:\n  min_free: 4096\n"+
		"cards:\n  mount_roots: ["+root+"]\n  poll: 200ms\n  retry_interval: 1s\n"+
		"  destinations:\n    - volume: footage\n      path: \"{label}\"\n    - volume: shuttle\n      path: \"shuttle/{label}\"\n")
	c := newCard(t, root, "MULTI1", "32M", map[string]string{
		"DCIM/100GOPRO/GX010001.MP4": "1200000", "DCIM/100GOPRO/GX010002.MP4": "1200000",
		"DCIM/100GOPRO/GX010003.MP4": "900000", "DCIM/100GOPRO/GX010001.THM": "1000",
	})
	e.start()
	defer e.stop()
	c.Insert()
	evs := e.waitFeed(60*time.Second, "MULTI1 offloaded", func(evs []storage.Event) bool {
		return len(mdEvents(evs, storage.EvCardOffloaded, "MULTI1")) > 0
	})
	if s := mdEvents(evs, storage.EvCardSafe, "MULTI1"); len(s) > 0 {
		t.Fatalf("card.safe with a destination failed: %+v", s)
	}
	rec := mdCardRecord(t, e, "MULTI1")
	if rec.SafeToFormat || len(rec.Destinations) != 2 || rec.Destinations[0].State != "verified" ||
		rec.Destinations[1].State == "verified" || !strings.Contains(rec.Destinations[1].Error, "destination full") {
		t.Fatalf("record after the card pass: %+v", rec)
	}
	if cs, ok := mdStatusCard(t, e, "MULTI1"); !ok || cs.SafeToFormat || len(cs.Destinations) != 2 || cs.Destinations[0].State != "verified" {
		t.Errorf("status after the card pass: %+v (present %v)", cs, ok)
	}
	// `ingestd cards` (a retry from the verified copy may be running:
	// wait for it to fail again).
	var out string
	for i := 0; ; i++ {
		o, _, code := e.cli("cards")
		out = o
		if code == 0 && strings.Contains(out, "destination full") {
			break
		}
		if i > 100 {
			t.Fatalf("ingestd cards (exit %d) never says why the shuttle failed:\n%s", code, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(out, "MULTI1") || !strings.Contains(out, "NOT SAFE TO FORMAT") ||
		!strings.Contains(out, "footage/MULTI1") || !strings.Contains(out, "shuttle/shuttle/MULTI1") {
		t.Errorf("ingestd cards while the shuttle is full:\n%s", out)
	}
	out, _, _ = e.cli("status")
	if !strings.Contains(out, "NOT SAFE TO FORMAT") {
		t.Errorf("ingestd status does not say NOT SAFE TO FORMAT:\n%s", out)
	}
	// Retries keep failing while the volume is too small; still not safe.
	time.Sleep(2500 * time.Millisecond)
	if s := mdEvents(e.feedAll(), storage.EvCardSafe, "MULTI1"); len(s) > 0 {
		t.Fatalf("card.safe while the shuttle is still full: %+v", s)
	}
	// The card goes away: the cascade does not need it.
	c.Pull()
	testutil.Run(t, "mount", "-o", "remount,size=32m", shuttle)
	evs = e.waitFeed(60*time.Second, "MULTI1 safe", func(evs []storage.Event) bool {
		return len(mdEvents(evs, storage.EvCardSafe, "MULTI1")) > 0
	})
	sd := mdEvents(evs, storage.EvCardSafe, "MULTI1")
	if len(sd) != 1 || len(sd[0].Destinations) != 2 || sd[0].Destinations[1].Generation == "" {
		t.Errorf("card.safe detail %+v", sd)
	}
	rec = mdCardRecord(t, e, "MULTI1")
	if !rec.SafeToFormat || rec.Status != "offloaded" || rec.Destinations[1].State != "verified" {
		t.Errorf("record after the cascade: %+v", rec)
	}
	a, b := filepath.Join(e.watch, "MULTI1"), filepath.Join(shuttle, "shuttle", "MULTI1")
	mdSameFiles(t, a, b)
	mdVerify(t, a, 1)
	mdVerify(t, b, 2) // the first copy's generation, then its own
	if _, err := os.Stat(filepath.Join(b, ".ingestd-offload.json")); err == nil {
		t.Error("progress file left at the cascaded destination")
	}
	out, _, _ = e.cli("cards")
	if !strings.Contains(out, "SAFE TO FORMAT") || strings.Contains(out, "NOT SAFE") {
		t.Errorf("ingestd cards after the cascade:\n%s", out)
	}
	// Both copies are cataloged (two locations of each clip).
	id := fileBLAKE3(t, filepath.Join(a, "DCIM/100GOPRO/GX010001.MP4"))
	e.waitAsset(id, "two locations", func(d storage.AssetDoc) bool { return len(d.Locations) == 2 })
}

// cascade: true: the card is read at card speed into the first
// destination only (progress with bytes, rate and ETA in /v1/status,
// `ingestd status` and /metrics), released, then the second is filled
// from that copy; card.safe then, and the card is ejected.
func TestCardsMultiDestCascadeProgressEject(t *testing.T) {
	cardsNeedRoot(t)
	root := filepath.Join(t.TempDir(), "media")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	shuttle := mdTmpfs(t, "64m")
	e := newEnv(t, "", "  - name: shuttle\n    path: "+shuttle+"\n"+
		"disk:\n  min_free: 4096\n"+
		"cards:\n  mount_roots: ["+root+"]\n  poll: 200ms\n  read_mbps: 2\n  cascade: true\n  eject_when_safe: true\n"+
		"  destinations:\n    - volume: footage\n    - volume: shuttle\n")
	// About 6 s at read_mbps 2: time to look at the progress under -race
	// on a loaded machine (at 4 MB/s for 10 MB the card was safe before
	// the last look).
	c := newCard(t, root, "PROG1", "32M", map[string]string{
		"DCIM/100GOPRO/GX010001.MP4": "6000000", "DCIM/100GOPRO/GX010002.MP4": "6000000",
	})
	e.start()
	defer e.stop()
	c.Insert()
	var seen cardsvc.DestState
	deadline := time.Now().Add(30 * time.Second)
	for {
		cs, ok := mdStatusCard(t, e, "PROG1")
		if ok && len(cs.Destinations) == 2 && cs.Destinations[0].State == "copying" && cs.Destinations[0].BytesDone > 0 &&
			cs.Destinations[0].RateBps > 0 && cs.Destinations[0].ETASeconds > 0 {
			seen = cs.Destinations[0]
			if cs.SafeToFormat || cs.Destinations[1].State != "pending" {
				t.Errorf("while the card is read: %+v", cs)
			}
			if s := mdEvents(e.feedAll(), storage.EvCardSafe, "PROG1"); len(s) > 0 {
				t.Fatalf("card.safe while copying: %+v", s)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress with rate and ETA in /v1/status: %+v", cs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if seen.BytesTotal != 12000000 || seen.RateBps > 64<<20 {
		t.Errorf("progress %+v (read_mbps 2)", seen)
	}
	_, body := e.get("/metrics", "")
	if !strings.Contains(string(body), `ingestd_card_bytes_done{card="PROG1"`) || !strings.Contains(string(body), `ingestd_card_safe_to_format{card="PROG1"`) {
		t.Errorf("/metrics lacks the card series:\n%s", body)
	}
	out, _, _ := e.cli("status")
	if !strings.Contains(out, "PROG1 -> footage") {
		t.Errorf("ingestd status has no progress bar for the card:\n%s", out)
	}
	evs := e.waitFeed(60*time.Second, "PROG1 safe", func(evs []storage.Event) bool {
		return len(mdEvents(evs, storage.EvCardSafe, "PROG1")) > 0
	})
	// card.offloaded (first copy) comes before card.safe (both).
	off, safe := -1, -1
	for i, ev := range evs {
		if ev.Type == storage.EvCardOffloaded && off < 0 {
			off = i
		}
		if ev.Type == storage.EvCardSafe {
			safe = i
		}
	}
	if off < 0 || safe < off {
		t.Errorf("card.offloaded at %d, card.safe at %d", off, safe)
	}
	sd := mdEvents(evs, storage.EvCardSafe, "PROG1")[0]
	if !sd.Ejected || sd.EjectError != "" {
		t.Errorf("card.safe detail %+v: not ejected", sd)
	}
	for i := 0; mounted(c.mp); i++ {
		if i > 50 {
			t.Fatalf("card still mounted at %s after card.safe with eject_when_safe", c.mp)
		}
		time.Sleep(100 * time.Millisecond)
	}
	date := time.Now().Format("2006-01-02")
	a, b := filepath.Join(e.watch, date, "PROG1"), filepath.Join(shuttle, date, "PROG1")
	mdSameFiles(t, a, b)
	mdVerify(t, a, 1)
	mdVerify(t, b, 2)
	rec := mdCardRecord(t, e, "PROG1")
	if !rec.SafeToFormat || rec.SafeAt == nil {
		t.Errorf("record %+v", rec)
	}
}

// kill -9 while a card is written to two destinations: after the restart
// the offload resumes at both (files verified before are not copied
// again), both end verified and card.safe comes once.
func TestCardsMultiDestKill9Resume(t *testing.T) {
	cardsNeedRoot(t)
	root := filepath.Join(t.TempDir(), "media")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	shuttle := mdTmpfs(t, "64m")
	e := newEnv(t, "", "  - name: shuttle\n    path: "+shuttle+"\n"+
		"disk:\n  min_free: 4096\n"+
		"cards:\n  mount_roots: ["+root+"]\n  poll: 200ms\n  read_mbps: 4\n  retry_interval: 1s\n"+
		"  destinations:\n    - volume: footage\n      path: \"{label}\"\n    - volume: shuttle\n      path: \"{label}\"\n")
	c := newCard(t, root, "KILL1", "32M", map[string]string{
		"DCIM/100GOPRO/GX010001.MP4": "2500000", "DCIM/100GOPRO/GX010002.MP4": "2500000",
		"DCIM/100GOPRO/GX010003.MP4": "2500000", "DCIM/100GOPRO/GX010004.MP4": "2500000",
	})
	e.start()
	c.Insert()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cs, ok := mdStatusCard(t, e, "KILL1")
		if ok && len(cs.Destinations) == 2 && cs.Destinations[0].BytesVerified >= 2500000 && cs.Destinations[1].BytesVerified >= 2500000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no verified file at both destinations: %+v", cs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s := mdEvents(e.feedAll(), storage.EvCardSafe, "KILL1"); len(s) > 0 {
		t.Fatalf("card.safe while the card is still being copied: %+v", s)
	}
	e.kill9()
	e.start()
	defer e.stop()
	evs := e.waitFeed(60*time.Second, "KILL1 safe", func(evs []storage.Event) bool {
		return len(mdEvents(evs, storage.EvCardSafe, "KILL1")) > 0
	})
	if n := len(mdEvents(evs, storage.EvCardSafe, "KILL1")); n != 1 {
		t.Errorf("%d card.safe events", n)
	}
	var resumed int
	for _, d := range cardEvents(evs, storage.EvCardOffloaded, "KILL1") {
		resumed = d.Resumed
	}
	if resumed < 1 {
		t.Errorf("card.offloaded after the restart resumed %d files, want at least 1", resumed)
	}
	a, b := filepath.Join(e.watch, "KILL1"), filepath.Join(shuttle, "KILL1")
	mdSameFiles(t, a, b)
	mdVerify(t, a, 1)
	mdVerify(t, b, 1)
	for _, d := range []string{a, b} {
		if _, err := os.Stat(filepath.Join(d, ".ingestd-offload.json")); err == nil {
			t.Errorf("progress file left in %s", d)
		}
	}
}

// A card pulled while it is written to two destinations is never shown
// safe: card.failed, NOT SAFE TO FORMAT; re-inserted, it resumes and only
// then is it safe.
func TestCardsMultiDestPulledNotSafe(t *testing.T) {
	cardsNeedRoot(t)
	root := filepath.Join(t.TempDir(), "media")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	shuttle := mdTmpfs(t, "64m")
	e := newEnv(t, "", "  - name: shuttle\n    path: "+shuttle+"\n"+
		"disk:\n  min_free: 4096\n"+
		"cards:\n  mount_roots: ["+root+"]\n  poll: 200ms\n  read_mbps: 4\n"+
		"  destinations:\n    - volume: footage\n      path: \"{label}\"\n    - volume: shuttle\n      path: \"{label}\"\n")
	c := newCard(t, root, "PULL1", "32M", map[string]string{
		"DCIM/100GOPRO/GX010001.MP4": "4000000", "DCIM/100GOPRO/GX010002.MP4": "4000000",
	})
	e.start()
	defer e.stop()
	c.Insert()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cs, ok := mdStatusCard(t, e, "PULL1")
		if ok && len(cs.Destinations) == 2 && cs.Destinations[1].BytesDone > 1000000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress: %+v", cs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.Pull()
	e.waitFeed(30*time.Second, "PULL1 failed", func(evs []storage.Event) bool {
		return len(cardEvents(evs, storage.EvCardFailed, "PULL1")) > 0
	})
	rec := mdCardRecord(t, e, "PULL1")
	if rec.SafeToFormat || rec.Status != "failed" || len(rec.Destinations) != 2 || rec.Destinations[0].State == "verified" || rec.Destinations[1].State == "verified" {
		t.Errorf("record of the pulled card: %+v", rec)
	}
	// What the card holds and how far each destination got, and why each
	// stopped: the card, not "context canceled".
	if rec.Files != 2 || rec.Destinations[1].BytesDone < 1000000 {
		t.Errorf("record of the pulled card: %d files, shuttle at %d bytes", rec.Files, rec.Destinations[1].BytesDone)
	}
	for _, d := range rec.Destinations {
		if !strings.HasPrefix(d.Error, cards.ErrSourceGone.Error()) {
			t.Errorf("destination %s of the pulled card: %q", d.Volume, d.Error)
		}
	}
	if f := cardEvents(e.feedAll(), storage.EvCardFailed, "PULL1"); len(f) == 0 || f[0].Files != 2 {
		t.Errorf("card.failed: %+v", f)
	}
	if out, _, _ := e.cli("cards"); !strings.Contains(out, "PULL1") || !strings.Contains(out, "NOT SAFE TO FORMAT") {
		t.Errorf("ingestd cards after the pull:\n%s", out)
	}
	if s := mdEvents(e.feedAll(), storage.EvCardSafe, "PULL1"); len(s) > 0 {
		t.Fatalf("card.safe for a pulled card: %+v", s)
	}
	c.Insert()
	e.waitFeed(60*time.Second, "PULL1 safe", func(evs []storage.Event) bool {
		return len(mdEvents(evs, storage.EvCardSafe, "PULL1")) > 0
	})
	mdSameFiles(t, filepath.Join(e.watch, "PULL1"), filepath.Join(shuttle, "PULL1"))
	mdVerify(t, filepath.Join(shuttle, "PULL1"), 1)
}

// A destination volume whose drive is not mounted (its mount point left
// empty on the system disk) is never written: the card is copied to the
// other destination, the shuttle is reported offline by name, nothing
// lands in the bare mount point, and the card is not safe; once the
// drive is back (same volume, same marker) the shuttle is filled from
// the verified copy without the card, and only then is the card safe.
func TestCardsMultiDestUnmountedNotWritten(t *testing.T) {
	cardsNeedRoot(t)
	root := filepath.Join(t.TempDir(), "media")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "shuttle.img")
	testutil.Run(t, "truncate", "-s", "32M", img)
	testutil.Run(t, "mkfs.ext4", "-q", "-F", img)
	shuttle := t.TempDir()
	testutil.Run(t, "mount", "-o", "loop", img, shuttle)
	t.Cleanup(func() { exec.Command("umount", "-l", shuttle).Run() })
	e := newEnv(t, "", "  - name: shuttle\n    path: "+shuttle+"\n"+
		"disk:\n  min_free: 4096\n"+
		"cards:\n  mount_roots: ["+root+"]\n  poll: 200ms\n  retry_interval: 1s\n"+
		"  destinations:\n    - volume: footage\n      path: \"{label}\"\n    - volume: shuttle\n      path: \"{label}\"\n")
	c := newCard(t, root, "UNMNT1", "32M", map[string]string{
		"DCIM/100GOPRO/GX010001.MP4": "1200000", "DCIM/100GOPRO/GX010002.MP4": "900000",
	})
	e.start()
	defer e.stop()
	// The shuttle is adopted (its marker is on the drive), then unplugged.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(shuttle, ".ingestd-volume")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("shuttle never adopted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The ingest may still hold the fresh volume open (its first walk,
	// right after adopting it): "target is busy" for a moment.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, err := exec.Command("umount", shuttle).CombinedOutput()
		if err == nil {
			break
		}
		if !strings.Contains(string(out), "busy") || time.Now().After(deadline) {
			t.Fatalf("umount %s: %v\n%s", shuttle, err, out)
		}
	}
	c.Insert()
	e.waitFeed(60*time.Second, "UNMNT1 offloaded", func(evs []storage.Event) bool {
		return len(mdEvents(evs, storage.EvCardOffloaded, "UNMNT1")) > 0
	})
	rec := mdCardRecord(t, e, "UNMNT1")
	if rec.SafeToFormat || len(rec.Destinations) != 2 || rec.Destinations[0].State != "verified" ||
		rec.Destinations[1].State == "verified" || !strings.Contains(rec.Destinations[1].Error, "shuttle offline") {
		t.Fatalf("record with the shuttle unmounted: %+v", rec)
	}
	// Retries meanwhile write nothing into the bare mount point either.
	time.Sleep(2500 * time.Millisecond)
	if ents, err := os.ReadDir(shuttle); err != nil || len(ents) != 0 {
		t.Fatalf("the bare mount point was written: %v %v", ents, err)
	}
	if s := mdEvents(e.feedAll(), storage.EvCardSafe, "UNMNT1"); len(s) > 0 {
		t.Fatalf("card.safe while the shuttle is unmounted: %+v", s)
	}
	if out, _, _ := e.cli("cards"); !strings.Contains(out, "NOT SAFE TO FORMAT") || !strings.Contains(out, "shuttle offline") {
		t.Errorf("ingestd cards with the shuttle unmounted:\n%s", out)
	}
	// The card goes; the drive comes back: filled from the verified copy.
	c.Pull()
	testutil.Run(t, "mount", "-o", "loop", img, shuttle)
	e.waitFeed(60*time.Second, "UNMNT1 safe", func(evs []storage.Event) bool {
		return len(mdEvents(evs, storage.EvCardSafe, "UNMNT1")) > 0
	})
	mdSameFiles(t, filepath.Join(e.watch, "UNMNT1"), filepath.Join(shuttle, "UNMNT1"))
	mdVerify(t, filepath.Join(shuttle, "UNMNT1"), 2)
}

// With cascade, a first destination that fails on its own (too small for
// the card) hands the card to the next in the same insertion: the card is
// read into the shuttle, verified there (card.offloaded, the shuttle the
// primary copy), and not safe while the first cannot be filled.
func TestCardsCascadeFirstDestinationFailsNextRead(t *testing.T) {
	cardsNeedRoot(t)
	root := filepath.Join(t.TempDir(), "media")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	tiny, shuttle := mdTmpfs(t, "2m"), mdTmpfs(t, "64m")
	e := newEnv(t, "", "  - name: tiny\n    path: "+tiny+"\n  - name: shuttle\n    path: "+shuttle+"\n"+
		"disk:\n  min_free: 4096\n"+
		"cards:\n  mount_roots: ["+root+"]\n  poll: 200ms\n  cascade: true\n"+
		"  destinations:\n    - volume: tiny\n    - volume: shuttle\n")
	c := newCard(t, root, "CASC1", "32M", map[string]string{
		"DCIM/100GOPRO/GX010001.MP4": "3000000", "DCIM/100GOPRO/GX010002.MP4": "3000000",
	})
	e.start()
	defer e.stop()
	c.Insert()
	e.waitFeed(60*time.Second, "CASC1 offloaded", func(evs []storage.Event) bool {
		return len(cardEvents(evs, storage.EvCardOffloaded, "CASC1")) > 0
	})
	rec := mdCardRecord(t, e, "CASC1")
	if len(rec.Destinations) != 2 || rec.Destinations[1].State != "verified" || rec.Destinations[0].State == "verified" ||
		rec.Volume != "shuttle" || rec.SafeToFormat {
		t.Fatalf("record: %+v", rec)
	}
	if s := mdEvents(e.feedAll(), storage.EvCardSafe, "CASC1"); len(s) > 0 {
		t.Fatalf("card.safe with the first destination not filled: %+v", s)
	}
	if f := cardEvents(e.feedAll(), storage.EvCardFailed, "CASC1"); len(f) > 0 {
		t.Errorf("card.failed although the next destination took the card: %+v", f)
	}
	if out, _, _ := e.cli("cards"); !strings.Contains(out, "NOT SAFE TO FORMAT") {
		t.Errorf("ingestd cards:\n%s", out)
	}
}

// A destination below disk.min_free holds neither the card pass nor the
// fill of another destination (found by a trial: one full shuttle, the
// source of a fill, kept a repaired RAID waiting, with a stale error
// shown). The shuttle is low when the card goes in: the card is read to
// the footage volume at once, the shuttle is pending and says what it
// waits for, nothing is written to it, and the card is NOT safe. Then
// the footage volume (the verified copy, read by the fill) falls low and
// the shuttle gets room: the shuttle is filled from the copy all the same,
// and only then card.safe.
func TestCardsMultiDestLowVolumeHoldsNoOther(t *testing.T) {
	cardsNeedRoot(t)
	root := filepath.Join(t.TempDir(), "media")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	shuttle := mdTmpfs(t, "64m")
	e := newEnv(t, "", "  - name: shuttle\n    path: "+shuttle+"\n"+
		"disk:\n  min_free: 40MiB\n"+
		"cards:\n  mount_roots: ["+root+"]\n  poll: 200ms\n  retry_interval: 1h\n"+
		"  destinations:\n    - volume: footage\n      path: \"{label}\"\n    - volume: shuttle\n      path: \"{label}\"\n")
	secrMountTmpfs(t, e.watch, "64m")
	c := newCard(t, root, "LOW1", "32M", map[string]string{
		"DCIM/100GOPRO/GX010001.MP4": "1200000", "DCIM/100GOPRO/GX010002.MP4": "900000",
	})
	shuttleFiller := secrFill(t, shuttle, ".filler", 30<<20)
	e.start()
	defer e.stop()
	lowOnly := func(names ...string) func(secrDiskDoc) bool {
		return func(d secrDiskDoc) bool {
			var low []string
			for _, p := range d.Disk.Paths {
				if p.Low {
					low = append(low, p.Name)
				}
			}
			return strings.Join(low, ",") == strings.Join(names, ",")
		}
	}
	secrWaitDisk(t, e, "shuttle low", lowOnly("offload:shuttle"))

	c.Insert()
	evs := e.waitFeed(60*time.Second, "LOW1 read to the footage volume", func(evs []storage.Event) bool {
		return len(mdEvents(evs, storage.EvCardOffloaded, "LOW1")) > 0
	})
	if s := mdEvents(evs, storage.EvCardSafe, "LOW1"); len(s) > 0 {
		t.Fatalf("card.safe with the shuttle not written: %+v", s)
	}
	const waitMsg = "waiting: disk space below disk.min_free on shuttle"
	rec := mdCardRecord(t, e, "LOW1")
	if rec.SafeToFormat || len(rec.Destinations) != 2 || rec.Destinations[0].State != "verified" ||
		rec.Destinations[1].State != "pending" || !strings.HasPrefix(rec.Destinations[1].Error, waitMsg) {
		t.Fatalf("record after the card pass: %+v", rec)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		cs, ok := mdStatusCard(t, e, "LOW1")
		if ok && !cs.SafeToFormat && len(cs.Destinations) == 2 && cs.Destinations[1].State == "pending" && strings.HasPrefix(cs.Destinations[1].Error, waitMsg) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status while the shuttle is low: %+v (present %v)", cs, ok)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, _, _ := e.cli("cards"); !strings.Contains(out, "NOT SAFE TO FORMAT") || !strings.Contains(out, waitMsg) {
		t.Errorf("ingestd cards while the shuttle is low:\n%s", out)
	}
	ents, _ := os.ReadDir(shuttle)
	for _, de := range ents {
		if n := de.Name(); n != ".filler" && n != ".ingestd-volume" {
			t.Fatalf("written on the low shuttle: %s", n)
		}
	}

	// The verified copy's volume falls low, the shuttle gets room.
	secrFill(t, e.watch, ".filler", 30<<20)
	secrWaitDisk(t, e, "both low", lowOnly("offload:footage", "offload:shuttle"))
	if err := os.Remove(shuttleFiller); err != nil {
		t.Fatal(err)
	}
	e.waitFeed(60*time.Second, "LOW1 safe once the shuttle has room (the footage volume still low)", func(evs []storage.Event) bool {
		return len(mdEvents(evs, storage.EvCardSafe, "LOW1")) > 0
	})
	if d := secrDisk(t, e); !lowOnly("offload:footage")(d) {
		t.Errorf("disk after the fill: %+v", *d.Disk)
	}
	rec = mdCardRecord(t, e, "LOW1")
	if !rec.SafeToFormat || rec.Destinations[1].State != "verified" || rec.Destinations[1].Error != "" {
		t.Errorf("record after the fill: %+v", rec)
	}
	a, b := filepath.Join(e.watch, "LOW1"), filepath.Join(shuttle, "LOW1")
	mdSameFiles(t, a, b)
	mdVerify(t, b, 2)
}
