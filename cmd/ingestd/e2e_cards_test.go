package main_test

// Camera cards end to end, with the real binary and real mounts: ext4 loop
// images are "inserted" by mounting them under the configured mount root
// and "pulled" with a lazy unmount.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"github.com/ingestd/ingestd/daemon/cards/ascmhl"
	"github.com/ingestd/ingestd/daemon/cards/cardsvc"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/storage"
)

// card is an ext4 image with a label; Insert mounts it under the mount
// root, Pull unmounts it lazily (as when yanked while files are open).
type card struct {
	t     *testing.T
	img   string
	label string
	mp    string // mount point under the root
}

func cardsNeedRoot(t *testing.T) {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.Need(t, "mkfs.ext4")
	testenv.Need(t, "blkid")
}

// newCard makes an image holding files (relative path -> size, or content
// when the value starts with "<"), written with a fixed mtime.
func newCard(t *testing.T, root, label, size string, files map[string]string) *card {
	t.Helper()
	return newCardTree(t, root, label, size, func(staging string) {
		mt := time.Date(2026, 2, 1, 10, 15, 0, 0, time.UTC)
		for rel, v := range files {
			p := filepath.Join(staging, filepath.FromSlash(rel))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			data := []byte(v)
			if !strings.HasPrefix(v, "<") {
				var n int
				fmt.Sscanf(v, "%d", &n)
				data = make([]byte, n)
				rand.Read(data)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(p, mt, mt)
		}
	})
}

// newCardTree makes an ext4 image labelled label whose files fill writes
// into the (mounted) directory it is given.
func newCardTree(t *testing.T, root, label, size string, fill func(dir string)) *card {
	t.Helper()
	c := &card{t: t, img: filepath.Join(t.TempDir(), label+".img"), label: label, mp: filepath.Join(root, label)}
	testutil.Run(t, "truncate", "-s", size, c.img)
	testutil.Run(t, "mkfs.ext4", "-q", "-L", label, c.img)
	staging := t.TempDir()
	testutil.Run(t, "mount", "-o", "loop", c.img, staging)
	os.RemoveAll(filepath.Join(staging, "lost+found"))
	fill(staging)
	testutil.Run(t, "umount", staging)
	if err := os.MkdirAll(c.mp, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", c.mp).Run() })
	return c
}

func (c *card) Insert() { testutil.Run(c.t, "mount", "-o", "loop", c.img, c.mp) }
func (c *card) Eject()  { testutil.Run(c.t, "umount", c.mp) }
func (c *card) Pull()   { testutil.Run(c.t, "umount", "-l", c.mp) }

func fileBLAKE3(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := blake3.Sum256(data)
	return hex.EncodeToString(sum[:])
}

type cardDetail struct {
	Label   string `json:"label"`
	Layout  string `json:"layout"`
	Files   int    `json:"files"`
	Bytes   int64  `json:"bytes"`
	Resumed int    `json:"resumed"`
	Clips   int    `json:"clips"`
	File    string `json:"file"`
	Reason  string `json:"reason"`
	Partial bool   `json:"partial"`
}

// cardEvents returns the card events (type typ) for label.
func cardEvents(evs []storage.Event, typ, label string) []cardDetail {
	var out []cardDetail
	for _, ev := range evs {
		if ev.Type != typ {
			continue
		}
		var d cardDetail
		if json.Unmarshal([]byte(ev.Detail), &d) == nil && d.Label == label {
			out = append(out, d)
		}
	}
	return out
}

func (e *env) cardStatus(mount string) (cardsvc.CardStatus, bool) {
	e.t.Helper()
	st, err := e.client().Status(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := json.Marshal(st.Cards)
	var cs cardsvc.Status
	json.Unmarshal(b, &cs)
	for _, c := range cs.Cards {
		if c.Mount == mount {
			return c, true
		}
	}
	return cardsvc.CardStatus{}, false
}

func (e *env) waitAsset(id string, what string, cond func(storage.AssetDoc) bool) storage.AssetDoc {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		d, err := e.client().Asset(context.Background(), id)
		if err == nil && cond(d) {
			return d
		}
		if time.Now().After(deadline) {
			j, _ := json.Marshal(d)
			e.t.Fatalf("asset %s: timed out waiting for %s (err %v): %s\n%s", id, what, err, j, e.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestCardsEndToEnd(t *testing.T) {
	cardsNeedRoot(t)
	root := filepath.Join(t.TempDir(), "media")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	// 8 MB/s: the big card takes seconds to copy, long enough to pull it.
	e := newEnv(t, "", "cards:\n  mount_roots: ["+root+"]\n  offload_to: footage\n  path: \"{date}/{label}\"\n  poll: 200ms\n  read_mbps: 8\n")
	sony, err := os.ReadFile("../../testdata/cards/sidecars/sony_nrt.xml")
	if err != nil {
		t.Fatal(err)
	}
	gopro := newCard(t, root, "GOPRO1", "32M", map[string]string{
		"DCIM/100GOPRO/GX010001.MP4": "300000", "DCIM/100GOPRO/GX020001.MP4": "300000",
		"DCIM/100GOPRO/GX030001.MP4": "100000", "DCIM/100GOPRO/GL010001.LRV": "10000",
		"DCIM/100GOPRO/GX010001.THM": "1000", "DCIM/100GOPRO/GX010002.MP4": "200000",
	})
	xavc := newCard(t, root, "SONY1", "32M", map[string]string{
		"PRIVATE/M4ROOT/CLIP/C0001.MP4": "400000", "PRIVATE/M4ROOT/CLIP/C0001M01.XML": string(sony),
		"PRIVATE/M4ROOT/THMBNL/C0001T01.JPG": "1000", "PRIVATE/M4ROOT/MEDIAPRO.XML": "<MediaProfile/>",
	})
	big := newCard(t, root, "BIG1", "96M", map[string]string{
		"DCIM/100GOPRO/GX010001.MP4": "12000000", "DCIM/100GOPRO/GX010002.MP4": "12000000",
		"DCIM/100GOPRO/GX010003.MP4": "12000000", "DCIM/100GOPRO/GX010004.MP4": "12000000",
	})
	e.start()
	defer e.stop()
	ctx := context.Background()

	offloaded := func(label string) func([]storage.Event) bool {
		return func(evs []storage.Event) bool { return len(cardEvents(evs, storage.EvCardOffloaded, label)) > 0 }
	}
	destOf := func(evs []storage.Event, label string) string {
		for _, ev := range evs {
			if ev.Type == storage.EvCardOffloaded && strings.HasSuffix(ev.Path, "/"+label) {
				return ev.Path
			}
		}
		t.Fatalf("no card.offloaded for %s", label)
		return ""
	}

	var gdest, gabs, sabs string // made by the first steps, used by the last
	e.step(t, "GoPro card: offload, ASC MHL, origin, clips", func(t *testing.T) {
		// GoPro card: offloaded, ASC MHL verified, assets with origin, clips.
		gopro.Insert()
		evs := e.waitFeed(60*time.Second, "GOPRO1 offloaded", offloaded("GOPRO1"))
		gd := cardEvents(evs, storage.EvCardOffloaded, "GOPRO1")[0]
		if gd.Layout != "gopro" || gd.Files != 6 || gd.Bytes != 911000 || gd.Clips < 2 {
			t.Errorf("GOPRO1 card.offloaded detail %+v", gd)
		}
		gdest = destOf(evs, "GOPRO1")
		if want := time.Now().Format("2006-01-02") + "/GOPRO1"; gdest != want {
			t.Errorf("GOPRO1 offloaded to %q, want %q", gdest, want)
		}
		gabs = filepath.Join(e.watch, filepath.FromSlash(gdest))
		rep, err := ascmhl.Verify(ctx, gabs)
		if err != nil || !rep.OK() || len(rep.Verified) != 6 {
			t.Errorf("ascmhl verify of %s: %v %s", gabs, err, rep)
		}
		if h, err := ascmhl.Open(gabs); err != nil || h.Latest() == nil || h.Latest().ToolName != "ingestd" || h.Latest().ToolVersion == "" {
			t.Errorf("generation's tool: %v %+v", err, h.Latest())
		}
		if cs, ok := e.cardStatus(gopro.mp); !ok || cs.State != "offloaded" || !strings.Contains(cs.Message, "safe to eject") || cs.FilesDone != 6 {
			t.Errorf("status of GOPRO1: %+v (present %v)", cs, ok)
		}
		out, _, code := e.cli("status")
		if code != 0 || !strings.Contains(out, "card GOPRO1") || !strings.Contains(out, "offloaded: safe to eject") {
			t.Errorf("ingestd status (exit %d) lacks the card:\n%s", code, out)
		}
		ch1 := fileBLAKE3(t, filepath.Join(gabs, "DCIM/100GOPRO/GX010001.MP4"))
		d := e.waitAsset(ch1, "origin", func(d storage.AssetDoc) bool { return d.Origin != nil })
		if d.Origin.CardLabel != "GOPRO1" || d.Origin.CardLayout != "gopro" || d.Origin.OffloadAt.IsZero() {
			t.Errorf("origin of GX010001.MP4: %+v", d.Origin)
		}
		if len(d.Locations) != 1 || d.Locations[0].Path != gdest+"/DCIM/100GOPRO/GX010001.MP4" {
			t.Errorf("locations of GX010001.MP4: %+v", d.Locations)
		}
		// The clip is recorded before card.safe; its parts' asset ids are
		// filled in after it (the content ids are not computed while the
		// card is read), then equal the catalog's ids of the copies.
		var clips cardsvc.ClipsDoc
		var chaptered *cardsvc.ClipDoc
		e.waitFeed(60*time.Second, "GoPro clip parts' asset ids", func([]storage.Event) bool {
			clips, chaptered = cardsvc.ClipsDoc{}, nil
			if err := e.client().Get(ctx, "/v1/clips", nil, &clips); err != nil {
				t.Fatal(err)
			}
			for i, c := range clips.Clips {
				if c.CardLabel == "GOPRO1" && len(c.Parts) > 0 && strings.HasSuffix(c.Parts[0].Path, "GX010001.MP4") {
					chaptered = &clips.Clips[i]
				}
			}
			return chaptered != nil && chaptered.Parts[0].AssetID != ""
		})
		if chaptered == nil {
			t.Fatalf("no GoPro clip starting with GX010001.MP4 in /v1/clips: %+v", clips)
		}
		if chaptered.Parts[0].AssetID != ch1 {
			t.Errorf("asset id of clip part GX010001.MP4 %s, the copy's BLAKE3 %s", chaptered.Parts[0].AssetID, ch1)
		}
		var video []string
		for _, p := range chaptered.Parts {
			if p.Role == "video" {
				video = append(video, path.Base(p.Path))
				if p.AssetID == "" {
					t.Errorf("clip part %s has no asset id", p.Path)
				}
			}
		}
		if strings.Join(video, ",") != "GX010001.MP4,GX020001.MP4,GX030001.MP4" {
			t.Errorf("chapters of the GoPro clip: %v", video)
		}
		var one cardsvc.ClipDoc
		if err := e.client().Get(ctx, "/v1/clips/"+chaptered.ID, nil, &one); err != nil || one.ID != chaptered.ID || len(one.Parts) != len(chaptered.Parts) {
			t.Errorf("GET /v1/clips/%s: %v %+v", chaptered.ID, err, one)
		}
	})
	e.step(t, "Sony XAVC card: camera metadata", func(t *testing.T) {
		// Sony XAVC card with NRT XML: camera metadata on the clip and asset.
		xavc.Insert()
		evs := e.waitFeed(60*time.Second, "SONY1 offloaded", offloaded("SONY1"))
		sdest := destOf(evs, "SONY1")
		sabs = filepath.Join(e.watch, filepath.FromSlash(sdest))
		if rep, err := ascmhl.Verify(ctx, sabs); err != nil || !rep.OK() {
			t.Errorf("ascmhl verify of %s: %v %s", sabs, err, rep)
		}
		c1 := fileBLAKE3(t, filepath.Join(sabs, "PRIVATE/M4ROOT/CLIP/C0001.MP4"))
		d := e.waitAsset(c1, "camera metadata", func(d storage.AssetDoc) bool { return d.Origin != nil && d.Media != nil && d.Media.Model != "" })
		if d.Origin.CardLayout != "sony_xavc" || d.Media.Make != "Sony" || d.Media.Model != "ILME-FX3" || d.Media.Timecode == "" {
			t.Errorf("C0001.MP4: origin %+v media %+v", d.Origin, d.Media)
		}
		// The camera field is the card service's, set once: after transcode
		// has probed (and failed on) the clip, media still has the camera's
		// facts and there was one `card origin` update, not one per probe.
		d = e.waitAsset(c1, "probed", func(d storage.AssetDoc) bool { return d.Kind != "" && d.Proxy != nil && d.Proxy.Status != "queued" })
		if d.Camera == nil || d.Camera.Source != "sony_nrt" || d.Camera.Model != "ILME-FX3" || d.Media == nil || d.Media.Make != "Sony" {
			t.Errorf("C0001.MP4 after its probe: camera %+v media %+v", d.Camera, d.Media)
		}
		n := 0
		for _, ev := range e.feedAll() {
			if ev.AssetID == c1 && ev.Type == storage.EvAssetUpdated && ev.Detail == "card origin" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("C0001.MP4: %d 'card origin' asset.updated events, want 1", n)
		}
	})
	e.step(t, "re-inserted card: not offloaded twice", func(t *testing.T) {
		// Re-inserted card: recognised, not offloaded twice.
		gopro.Eject()
		// A person takes longer than a poll to re-insert a card: wait until the
		// daemon saw it go (a mount at the same point may reuse the mount id).
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, ok := e.cardStatus(gopro.mp); !ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("ejected GOPRO1 still listed in the status")
			}
			time.Sleep(50 * time.Millisecond)
		}
		gopro.Insert()
		deadline = time.Now().Add(30 * time.Second)
		for {
			cs, ok := e.cardStatus(gopro.mp)
			if ok && strings.Contains(cs.Message, "already offloaded") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("re-inserted GOPRO1 not recognised: %+v\n%s", cs, e.stderr.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		if n := len(cardEvents(e.feedAll(), storage.EvCardOffloaded, "GOPRO1")); n != 1 {
			t.Errorf("GOPRO1 offloaded %d times, want once", n)
		}
	})
	e.step(t, "card pulled mid-copy, then resumed", func(t *testing.T) {
		// A card pulled mid-copy fails with the file and reason; re-inserted,
		// it resumes without copying the verified files again.
		big.Insert()
		deadline := time.Now().Add(60 * time.Second)
		for {
			cs, _ := e.cardStatus(big.mp)
			if cs.State == "copying" && cs.FilesDone >= 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("BIG1 copy did not progress: %+v", cs)
			}
			time.Sleep(50 * time.Millisecond)
		}
		big.Pull()
		evs := e.waitFeed(60*time.Second, "BIG1 failed", func(evs []storage.Event) bool { return len(cardEvents(evs, storage.EvCardFailed, "BIG1")) > 0 })
		fd := cardEvents(evs, storage.EvCardFailed, "BIG1")[0]
		if !strings.Contains(fd.Reason, "card removed") || fd.File == "" || !fd.Partial {
			t.Errorf("BIG1 card.failed detail %+v", fd)
		}
		if len(cardEvents(evs, storage.EvCardOffloaded, "BIG1")) != 0 {
			t.Fatal("a pulled card was reported offloaded")
		}
		// The partial copy is never cataloged.
		for _, ev := range evs {
			if strings.HasSuffix(ev.Path, ".ingestd-partial") || strings.HasSuffix(ev.Path, ".ingestd-offload.json") {
				t.Errorf("cataloged an offload in progress: %+v", ev)
			}
		}
		deadline = time.Now().Add(30 * time.Second)
		for {
			if _, ok := e.cardStatus(big.mp); !ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("pulled BIG1 still listed in the status")
			}
			time.Sleep(50 * time.Millisecond)
		}
		big.Insert()
		evs = e.waitFeed(120*time.Second, "BIG1 offloaded after re-insert", offloaded("BIG1"))
		bd := cardEvents(evs, storage.EvCardOffloaded, "BIG1")[0]
		if bd.Resumed < 1 || bd.Files != 4 {
			t.Errorf("BIG1 resumed offload: %+v, want resumed >= 1 of 4 files", bd)
		}
		babs := filepath.Join(e.watch, filepath.FromSlash(destOf(evs, "BIG1")))
		if rep, err := ascmhl.Verify(ctx, babs); err != nil || !rep.OK() {
			t.Errorf("ascmhl verify of %s: %v %s", babs, err, rep)
		}
	})
	e.step(t, "tmpfs mounts: USB disk ignored, DCIM card by fingerprint", func(t *testing.T) {
		// tmpfs mounts: a USB disk without a camera layout is ignored; a DCIM
		// card without a filesystem UUID is offloaded under its fingerprint.
		usb := filepath.Join(root, "USBDISK")
		os.MkdirAll(usb, 0o755)
		testutil.Run(t, "mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", usb)
		t.Cleanup(func() { exec.Command("umount", "-l", usb).Run() })
		deadline := time.Now().Add(30 * time.Second)
		for {
			cs, _ := e.cardStatus(usb)
			if cs.State == "ignored" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("tmpfs USB disk not ignored: %+v", cs)
			}
			time.Sleep(50 * time.Millisecond)
		}
		dcimStage := t.TempDir()
		testutil.Run(t, "mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dcimStage)
		os.MkdirAll(filepath.Join(dcimStage, "DCIM/100MSDCF"), 0o755)
		os.WriteFile(filepath.Join(dcimStage, "DCIM/100MSDCF/DSC00001.JPG"), []byte("jpeg bytes"), 0o644)
		dcim := filepath.Join(root, "PHONE")
		os.MkdirAll(dcim, 0o755)
		testutil.Run(t, "mount", "--move", dcimStage, dcim)
		t.Cleanup(func() { exec.Command("umount", "-l", dcim).Run() })
		evs := e.waitFeed(60*time.Second, "tmpfs DCIM card offloaded", func(evs []storage.Event) bool {
			for _, ev := range evs {
				if ev.Type == storage.EvCardOffloaded && strings.Contains(ev.Detail, `"layout":"dcim"`) {
					return true
				}
			}
			return false
		})
		for _, ev := range evs {
			if ev.Type == storage.EvCardOffloaded && strings.Contains(ev.Detail, `"key":"uuid:`) && strings.Contains(ev.Detail, `"layout":"dcim"`) {
				t.Errorf("tmpfs card has a uuid key: %s", ev.Detail)
			}
			if ev.Type == storage.EvCardOffloaded && strings.Contains(ev.Path, "USBDISK") {
				t.Errorf("a USB disk was offloaded: %+v", ev)
			}
		}
	})
	e.step(t, "ingestd verify: clean, then bit rot", func(t *testing.T) {
		// ingestd verify: clean, then a flipped byte (mtime kept, like bit rot).
		master := filepath.Join(gabs, "DCIM/100GOPRO/GX010002.MP4")
		mid := fileBLAKE3(t, master)
		e.waitAsset(mid, "cataloged", func(storage.AssetDoc) bool { return true })
		e.waitFeed(60*time.Second, "everything cataloged", func([]storage.Event) bool {
			st, _ := e.client().Status(ctx)
			return st.Queues.Settling == 0 && st.Queues.Hashing == 0
		})
		out, errOut, code := e.cli("verify", "--volume", "footage")
		if code != 0 || !strings.Contains(out, "0 corrupt") {
			t.Fatalf("verify of a clean volume: exit %d\n%s\n%s", code, out, errOut)
		}
		// Bit rot writes nothing the watcher could see: flip the byte while the
		// daemon is stopped, keep size and mtime; the restart's reconcile walk
		// then has no reason to re-hash the file.
		e.stop()
		flipByteKeepingTimes(t, master, 1000)
		e.start()
		e.waitFeed(60*time.Second, "restart scan done", func([]storage.Event) bool {
			st, _ := e.client().Status(ctx)
			if !st.Ready {
				return false
			}
			for _, v := range st.Volumes {
				if v.Scanning || v.LastScan.IsZero() {
					return false
				}
			}
			return st.Queues.Settling == 0 && st.Queues.Hashing == 0
		})
		out, errOut, code = e.cli("verify", master)
		rel := gdest + "/DCIM/100GOPRO/GX010002.MP4"
		if code == 0 || !strings.Contains(out, "CORRUPT") || !strings.Contains(out, rel) || !strings.Contains(out, "1 corrupt") {
			t.Errorf("verify after a flipped byte: exit %d, want non-zero and CORRUPT %s\n%s\n%s", code, rel, out, errOut)
		}
		evs := e.waitFeed(30*time.Second, "location.corrupt", hasPaths(storage.EvLocationCorrupt, rel))
		for _, ev := range evs {
			if ev.Type == storage.EvLocationCorrupt && ev.Path == rel && (ev.AssetID != mid || ev.Volume != "footage") {
				t.Errorf("location.corrupt event %+v, want asset %s", ev, mid)
			}
		}
		// The other masters still verify.
		if out, errOut, code := e.cli("verify", sabs); code != 0 {
			t.Errorf("verify of the Sony folder: exit %d\n%s\n%s", code, out, errOut)
		}
	})
}

// A daemon stopped (SIGTERM) or killed (-9) mid-copy resumes the card that
// is still mounted when it starts again, into the same folder, without
// copying the verified files again.
func TestCardsResumeAfterRestart(t *testing.T) {
	cardsNeedRoot(t)
	root := filepath.Join(t.TempDir(), "media")
	os.MkdirAll(root, 0o755)
	e := newEnv(t, "", "cards:\n  mount_roots: ["+root+"]\n  offload_to: footage\n  poll: 200ms\n  read_mbps: 8\n")
	big := newCard(t, root, "A001", "96M", map[string]string{
		"DCIM/100GOPRO/GX010001.MP4": "10000000", "DCIM/100GOPRO/GX010002.MP4": "10000000",
		"DCIM/100GOPRO/GX010003.MP4": "10000000", "DCIM/100GOPRO/GX010004.MP4": "10000000",
		"DCIM/100GOPRO/GX010005.MP4": "10000000",
	})
	big.Insert()
	waitFiles := func(n int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			cs, _ := e.cardStatus(big.mp)
			if cs.State == "copying" && cs.FilesDone >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("A001 copy did not reach %d files: %+v", n, cs)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	e.start()
	waitFiles(1)
	e.stop()
	e.start()
	evs := e.feedAll()
	failed := cardEvents(evs, storage.EvCardFailed, "A001")
	if len(failed) != 1 || !strings.HasPrefix(failed[0].Reason, "interrupted: daemon stopping") {
		t.Errorf("card.failed after SIGTERM: %+v, want one 'interrupted: daemon stopping'", failed)
	}
	waitFiles(2)
	e.kill9()
	e.start()
	evs = e.waitFeed(120*time.Second, "A001 offloaded", func(evs []storage.Event) bool {
		return len(cardEvents(evs, storage.EvCardOffloaded, "A001")) > 0
	})
	d := cardEvents(evs, storage.EvCardOffloaded, "A001")[0]
	if d.Files != 5 || d.Resumed < 2 {
		t.Errorf("A001 after two restarts: %+v, want 5 files, >= 2 resumed", d)
	}
	var folders []string
	for _, ev := range evs {
		if strings.HasPrefix(ev.Type, "card.") {
			folders = append(folders, ev.Path)
		}
	}
	for _, f := range folders {
		if f != folders[0] {
			t.Errorf("card events name different folders: %v", folders)
		}
	}
	dest := filepath.Join(e.watch, filepath.FromSlash(folders[0]))
	if rep, err := ascmhl.Verify(context.Background(), dest); err != nil || !rep.OK() || len(rep.Verified) != 5 {
		t.Errorf("ascmhl verify of %s: %v %s", dest, err, rep)
	}
	e.stop()
}
