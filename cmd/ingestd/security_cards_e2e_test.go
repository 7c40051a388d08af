package main_test

// Issue 10, camera cards (items 1, 4, 10), against the real binary and
// loop-mounted ext4 cards: a destination planted with symlinks, a card
// whose ascmhl/ history points outside the card or at a FIFO or /dev/zero,
// FIFOs and symlinks among the clips, and a card labelled ".hidden".

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/cards/ascmhl"
	"github.com/ingestd/ingestd/storage"
)

const secCardsTampered = "destination tampered with"

type secCardsSkipped struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

type secCardsEventDetail struct {
	Label   string            `json:"label"`
	File    string            `json:"file"`
	Reason  string            `json:"reason"`
	Files   int               `json:"files"`
	Skipped []secCardsSkipped `json:"skipped"`
}

// secCardsEvents returns the card events of type typ for label, with the
// folder (event path) each names.
func secCardsEvents(evs []storage.Event, typ, label string) ([]secCardsEventDetail, []string) {
	var out []secCardsEventDetail
	var folders []string
	for _, ev := range evs {
		var d secCardsEventDetail
		if ev.Type == typ && json.Unmarshal([]byte(ev.Detail), &d) == nil && d.Label == label {
			out = append(out, d)
			folders = append(folders, ev.Path)
		}
	}
	return out, folders
}

type secCardsStatus struct {
	Mount   string            `json:"mount"`
	State   string            `json:"state"`
	Message string            `json:"message"`
	Skipped []secCardsSkipped `json:"skipped"`
}

// secCardsRawStatus is the card at mount in /v1/status, as JSON says it.
func secCardsRawStatus(t *testing.T, e *env, mount string) secCardsStatus {
	t.Helper()
	_, body := e.get("/v1/status", "")
	var st struct {
		Cards struct {
			Cards []secCardsStatus `json:"cards"`
		} `json:"cards"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("status: %v\n%s", err, body)
	}
	for _, c := range st.Cards.Cards {
		if c.Mount == mount {
			return c
		}
	}
	t.Errorf("card %s not in the status: %s", mount, body)
	return secCardsStatus{}
}

// secCardsVictim writes a file outside every volume and card, and returns
// a check that it is byte for byte unchanged and alone in its folder.
func secCardsVictim(t *testing.T) (string, func()) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "victim.conf")
	orig := []byte("# a file the service can write, outside the volume\nkey = value\n")
	if err := os.WriteFile(p, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	return p, func() {
		t.Helper()
		got, err := os.ReadFile(p)
		if err != nil || string(got) != string(orig) {
			t.Errorf("file outside the volume changed: %q, %v", got, err)
		}
		if fi2, err := os.Stat(p); err == nil && !fi2.ModTime().Equal(fi.ModTime()) {
			t.Errorf("file outside the volume touched: mtime %s -> %s", fi.ModTime(), fi2.ModTime())
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 1 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("entries created next to the victim, outside the volume: %v", names)
		}
	}
}

// secCardsNoMHLSymlink fails when dest has an ascmhl generation (a
// tampered offload must not be sealed) or one that names a symlink.
func secCardsNoMHL(t *testing.T, dest string) {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(dest, ascmhl.FolderName))
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".mhl") {
			t.Errorf("ascmhl generation %s written for a tampered destination", e.Name())
		}
	}
}

// secCardsFailedStatus waits for the card's status to say failed, and
// checks it is not presented as safe.
func secCardsFailedStatus(t *testing.T, e *env, mount string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cs, ok := e.cardStatus(mount)
		if ok && cs.State == "failed" {
			if !strings.Contains(cs.Reason, secCardsTampered) || !strings.Contains(cs.Message, "NOT safe") {
				t.Errorf("status of a tampered card: %+v", cs)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("card status never failed: %+v (present %v)", cs, ok)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// secCardsResumeInto offloads a card part way (stopped after one file),
// lets plant tamper with the destination folder, then starts the daemon
// again: the resumed offload must fail the card as tampered.
// With then, the planted entry is removed and the card re-inserted: it
// must complete into the same folder.
func secCardsResumeInto(t *testing.T, plant func(dest, victim string), planted string) {
	cardsNeedRoot(t)
	root := filepath.Join(t.TempDir(), "media")
	os.MkdirAll(root, 0o755)
	e := newEnv(t, "", "cards:\n  mount_roots: ["+root+"]\n  offload_to: footage\n  poll: 200ms\n  read_mbps: 8\n")
	c := newCard(t, root, "SEC1", "64M", map[string]string{
		"DCIM/100GOPRO/GX010001.MP4": "4000000", "DCIM/100GOPRO/GX010002.MP4": "4000000",
		"DCIM/100GOPRO/GX010003.MP4": "4000000", "DCIM/100GOPRO/GX010004.MP4": "4000000",
		"DCIM/100GOPRO/GX010005.MP4": "4000000",
	})
	victim, unchanged := secCardsVictim(t)
	c.Insert()
	e.start()
	deadline := time.Now().Add(60 * time.Second)
	for {
		cs, _ := e.cardStatus(c.mp)
		if cs.State == "copying" && cs.FilesDone >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SEC1 copy did not start: %+v", cs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.stop()
	// The daemon is down: the folder is the default "{date}/{label}".
	dest := filepath.Join(e.watch, time.Now().Format("2006-01-02"), "SEC1")
	if _, err := os.Stat(filepath.Join(dest, "DCIM/100GOPRO/GX010001.MP4")); err != nil {
		t.Fatalf("first file not offloaded before the stop: %v", err)
	}
	plant(dest, victim)

	e.start()
	defer e.stop()
	evs := e.waitFeed(60*time.Second, "SEC1 failed as tampered", func(evs []storage.Event) bool {
		ds, _ := secCardsEvents(evs, storage.EvCardFailed, "SEC1")
		return len(ds) >= 2
	})
	ds, folders := secCardsEvents(evs, storage.EvCardFailed, "SEC1")
	if len(ds) != 2 || !strings.HasPrefix(ds[0].Reason, "interrupted") || filepath.Join(e.watch, filepath.FromSlash(folders[1])) != dest {
		t.Errorf("card.failed events %+v in %v, want 'interrupted' then tampered, in %s", ds, folders, dest)
	}
	if last := ds[len(ds)-1]; !strings.Contains(last.Reason, secCardsTampered) || last.File != "DCIM/100GOPRO/GX010004.MP4" {
		t.Errorf("card.failed after tampering: %+v, want %q on GX010004.MP4", last, secCardsTampered)
	}
	if off, _ := secCardsEvents(evs, storage.EvCardOffloaded, "SEC1"); len(off) != 0 {
		t.Errorf("tampered card reported offloaded: %+v", off)
	}
	secCardsFailedStatus(t, e, c.mp)
	unchanged()
	secCardsNoMHL(t, dest)
	if planted == "" || t.Failed() {
		return
	}
	// What was planted removed, the card re-inserted: it resumes and
	// completes, sealed with an ASC MHL that verifies.
	if err := os.Remove(filepath.Join(dest, filepath.FromSlash(planted))); err != nil {
		t.Fatal(err)
	}
	c.Eject()
	// Re-insert once the daemon saw the card go (a mount at the same point
	// may reuse the mount id).
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, ok := e.cardStatus(c.mp); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the daemon did not notice the card was ejected")
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.Insert()
	e.waitFeed(90*time.Second, "SEC1 offloaded after the symlink was removed", func(evs []storage.Event) bool {
		off, _ := secCardsEvents(evs, storage.EvCardOffloaded, "SEC1")
		return len(off) > 0
	})
	if rep, err := ascmhl.Verify(context.Background(), dest); err != nil || !rep.OK() || len(rep.Verified) != 5 {
		t.Errorf("ascmhl verify of %s after the resume: %v %s", dest, err, rep)
	}
	unchanged()
}

// Item 1: a symlink planted at the partial name of a file still to be
// copied is neither written through nor removed: the card fails as
// tampered. Once it is gone, re-inserting the card completes the offload.
func TestSecurity1CardDestSymlinkPartial(t *testing.T) {
	secCardsResumeInto(t, func(dest, victim string) {
		if err := os.Symlink(victim, filepath.Join(dest, "DCIM/100GOPRO/GX010004.MP4.ingestd-partial")); err != nil {
			t.Fatal(err)
		}
	}, "DCIM/100GOPRO/GX010004.MP4.ingestd-partial")
}

// Item 1: a symlink at the final name of a file still to be copied.
func TestSecurity1CardDestSymlinkFinal(t *testing.T) {
	secCardsResumeInto(t, func(dest, victim string) {
		if err := os.Symlink(victim, filepath.Join(dest, "DCIM/100GOPRO/GX010004.MP4")); err != nil {
			t.Fatal(err)
		}
	}, "")
}

// Item 1: the {date} folder of cards.path is a symlink out of the volume
// before the card arrives: nothing is created through it, the card fails
// as tampered, and the folder it points to stays as it was.
func TestSecurity1CardDestSymlinkDateFolder(t *testing.T) {
	cardsNeedRoot(t)
	root := filepath.Join(t.TempDir(), "media")
	os.MkdirAll(root, 0o755)
	e := newEnv(t, "", "cards:\n  mount_roots: ["+root+"]\n  offload_to: footage\n  path: \"{date}/{label}\"\n  poll: 200ms\n")
	c := newCard(t, root, "SEC2", "32M", map[string]string{"DCIM/100GOPRO/GX010001.MP4": "300000", "DCIM/100GOPRO/GX010002.MP4": "1000"})
	victim, unchanged := secCardsVictim(t)
	date := time.Now().Format("2006-01-02")
	if err := os.Symlink(filepath.Dir(victim), filepath.Join(e.watch, date)); err != nil {
		t.Fatal(err)
	}
	e.start()
	defer e.stop()
	c.Insert()
	evs := e.waitFeed(60*time.Second, "SEC2 failed", func(evs []storage.Event) bool {
		ds, _ := secCardsEvents(evs, storage.EvCardFailed, "SEC2")
		off, _ := secCardsEvents(evs, storage.EvCardOffloaded, "SEC2")
		return len(ds)+len(off) > 0
	})
	ds, folders := secCardsEvents(evs, storage.EvCardFailed, "SEC2")
	if len(ds) != 1 || !strings.Contains(ds[0].Reason, secCardsTampered) || folders[0] != date+"/SEC2" {
		t.Errorf("card.failed: %+v in %v, want %q in %s/SEC2\n%s", ds, folders, secCardsTampered, date, dumpEvents(evs))
	}
	secCardsFailedStatus(t, e, c.mp)
	unchanged()
	if _, err := os.Lstat(filepath.Join(filepath.Dir(victim), "SEC2")); err == nil {
		t.Error("card folder created through the date symlink")
	}
}

// secCardsHashes are the encodings of every ascmhl format of data, as they
// would appear in an event, a status or a log.
func secCardsHashes(t *testing.T, data []byte) []string {
	t.Helper()
	sum := md5.Sum(data)
	out := []string{hex.EncodeToString(sum[:])}
	for _, f := range []ascmhl.Format{ascmhl.MD5, ascmhl.SHA1, ascmhl.XXH128, ascmhl.XXH64, ascmhl.XXH3, ascmhl.C4} {
		h, err := ascmhl.HashBytes(f, data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
	}
	return out
}

const secCardsChainHead = `<?xml version="1.0" encoding="UTF-8"?>
<ascmhldirectory xmlns="urn:ASC:MHL:DIRECTORY:v2.0">
  <hashlist sequencenr="1">
    <path>`
const secCardsChainTail = `</path>
    <md5>00000000000000000000000000000000</md5>
  </hashlist>
</ascmhldirectory>
`

// secCardsVmHWM is the daemon's peak resident set, in KiB.
func secCardsVmHWM(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatal("no VmHWM in /proc/pid/status")
	return 0
}

// Item 4: card ascmhl/ histories that point outside the card (a "..."
// chain entry), at a FIFO, or at /dev/zero through a symlink, and clips
// that are a FIFO and a symlink. Each history card fails within seconds
// with a clear reason, no hash of the file outside the card appears in any
// event or status, the daemon's memory stays bounded, and the card with
// the odd clips is offloaded with what was skipped listed.
func TestSecurity4CardHistoryAndEntriesBounded(t *testing.T) {
	cardsNeedRoot(t)
	root := filepath.Join(t.TempDir(), "media")
	os.MkdirAll(root, 0o755)
	e := newEnv(t, "", "cards:\n  mount_roots: ["+root+"]\n  offload_to: footage\n  poll: 200ms\n  hashes: [md5, xxh128]\n")
	secret := []byte("outside the card: a hash of this must never reach the hub\n")
	outsideDir := t.TempDir()
	outside := filepath.Join(outsideDir, "0001_secret.mhl")
	if err := os.WriteFile(outside, secret, 0o644); err != nil {
		t.Fatal(err)
	}
	clips := func(dir string) {
		os.MkdirAll(filepath.Join(dir, "DCIM/100GOPRO"), 0o755)
		os.WriteFile(filepath.Join(dir, "DCIM/100GOPRO/GX010001.MP4"), make([]byte, 50000), 0o644)
		os.MkdirAll(filepath.Join(dir, ascmhl.FolderName), 0o755)
	}
	chain := func(dir, p string) {
		os.WriteFile(filepath.Join(dir, ascmhl.FolderName, ascmhl.ChainName), []byte(secCardsChainHead+p+secCardsChainTail), 0o644)
	}
	cards := map[string]*card{}
	cards["DOTDOT"] = newCardTree(t, root, "DOTDOT", "32M", func(dir string) {
		clips(dir)
		// From the mounted card's ascmhl/ folder to the outside file.
		rel, err := filepath.Rel(filepath.Join(root, "DOTDOT", ascmhl.FolderName), outside)
		if err != nil {
			t.Fatal(err)
		}
		chain(dir, rel)
	})
	cards["ABS"] = newCardTree(t, root, "ABS", "32M", func(dir string) {
		clips(dir)
		chain(dir, outside)
	})
	cards["FIFO"] = newCardTree(t, root, "FIFO", "32M", func(dir string) {
		clips(dir)
		syscall.Mkfifo(filepath.Join(dir, ascmhl.FolderName, "0001_x.mhl"), 0o644)
		chain(dir, "0001_x.mhl")
	})
	cards["ZERO"] = newCardTree(t, root, "ZERO", "32M", func(dir string) {
		clips(dir)
		os.Symlink("/dev/zero", filepath.Join(dir, ascmhl.FolderName, "0001_x.mhl"))
		os.Symlink("/dev/zero", filepath.Join(dir, ascmhl.FolderName, "x.mhl"))
		chain(dir, "0001_x.mhl")
	})
	cards["ODD"] = newCardTree(t, root, "ODD", "32M", func(dir string) {
		os.MkdirAll(filepath.Join(dir, "DCIM/100GOPRO"), 0o755)
		os.WriteFile(filepath.Join(dir, "DCIM/100GOPRO/GX010001.MP4"), make([]byte, 50000), 0o644)
		syscall.Mkfifo(filepath.Join(dir, "DCIM/100GOPRO/GX010002.MP4"), 0o644)
		os.Symlink(outside, filepath.Join(dir, "DCIM/100GOPRO/GX010003.MP4"))
		os.Symlink("/dev/zero", filepath.Join(dir, "DCIM/100GOPRO/GX010004.MP4"))
	})
	e.start()
	defer e.stop()
	start := time.Now()
	for _, c := range cards {
		c.Insert()
	}
	done := func(evs []storage.Event, label string) bool {
		f, _ := secCardsEvents(evs, storage.EvCardFailed, label)
		o, _ := secCardsEvents(evs, storage.EvCardOffloaded, label)
		return len(f)+len(o) > 0
	}
	evs := e.waitFeed(60*time.Second, "every card offloaded or failed", func(evs []storage.Event) bool {
		for l := range cards {
			if !done(evs, l) {
				return false
			}
		}
		return true
	})
	if took := time.Since(start); took > 45*time.Second {
		t.Errorf("cards took %s to settle", took)
	}
	for label, want := range map[string]string{
		"DOTDOT": "not a file name", "ABS": "not a file name",
		"FIFO": "not a regular file", "ZERO": "symlink",
	} {
		ds, _ := secCardsEvents(evs, storage.EvCardFailed, label)
		if len(ds) != 1 || !strings.Contains(ds[0].Reason, want) || !strings.Contains(ds[0].Reason, "ascmhl") {
			t.Errorf("%s: card.failed %+v, want a reason with %q", label, ds, want)
		}
		if cs, _ := e.cardStatus(cards[label].mp); cs.State != "failed" || !strings.Contains(cs.Message, "NOT safe") {
			t.Errorf("%s: status %+v", label, cs)
		}
	}
	off, _ := secCardsEvents(evs, storage.EvCardOffloaded, "ODD")
	if len(off) != 1 || off[0].Files != 1 || len(off[0].Skipped) != 3 {
		t.Errorf("ODD: card.offloaded %+v, want 1 file and 3 skipped\n%s", off, dumpEvents(evs))
	}
	cs := secCardsRawStatus(t, e, cards["ODD"].mp)
	if cs.State != "offloaded" || len(cs.Skipped) != 3 || !strings.Contains(cs.Message, "not copied") {
		t.Errorf("ODD: status %+v, want offloaded with 3 skipped", cs)
	}
	for _, s := range cs.Skipped {
		if !strings.Contains(s.Reason, "not copied") || !(strings.Contains(s.Reason, "FIFO") || strings.Contains(s.Reason, "symlink")) {
			t.Errorf("ODD: skipped %+v without a clear reason", s)
		}
	}
	// Nothing anywhere carries a hash of the file outside the card.
	_, status := e.get("/v1/status", "")
	all, _ := json.Marshal(evs)
	for _, h := range secCardsHashes(t, secret) {
		for what, doc := range map[string]string{"events": string(all), "status": string(status), "daemon log": e.stderr.String()} {
			if strings.Contains(strings.ToLower(doc), strings.ToLower(h)) {
				t.Errorf("%s carry %s, a hash of a file outside the card", what, h)
			}
		}
	}
	if hwm := secCardsVmHWM(t, e.proc.Process.Pid); hwm > 512<<10 {
		t.Errorf("daemon peak RSS %d KiB, want under 512 MiB", hwm)
	} else {
		t.Logf("daemon peak RSS %d KiB", hwm)
	}
}

// Item 10: a card labelled ".hidden" is offloaded into a folder the
// catalog sees ("hidden"), and its clips are cataloged.
func TestSecurity10CardDotLabel(t *testing.T) {
	cardsNeedRoot(t)
	root := filepath.Join(t.TempDir(), "media")
	os.MkdirAll(root, 0o755)
	e := newEnv(t, "", "cards:\n  mount_roots: ["+root+"]\n  offload_to: footage\n  path: \"{date}/{label}\"\n  poll: 200ms\n")
	c := newCard(t, root, ".hidden", "32M", map[string]string{"DCIM/100GOPRO/GX010001.MP4": "300000", "DCIM/100GOPRO/GX010002.MP4": "2000"})
	e.start()
	defer e.stop()
	c.Insert()
	want := time.Now().Format("2006-01-02") + "/hidden/DCIM/100GOPRO/"
	evs := e.waitFeed(60*time.Second, "the .hidden card's clips cataloged", func(evs []storage.Event) bool {
		n := 0
		for _, ev := range evs {
			if ev.Type == storage.EvAssetCataloged && strings.HasPrefix(ev.Path, want) {
				n++
			}
		}
		return n == 2
	})
	off, folders := secCardsEvents(evs, storage.EvCardOffloaded, ".hidden")
	if len(off) != 1 || !strings.HasSuffix(folders[0], "/hidden") {
		t.Errorf("card.offloaded %+v into %v, want one into <date>/hidden", off, folders)
	}
	for _, ev := range evs {
		if strings.Contains(ev.Path, "/.") || strings.HasPrefix(ev.Path, ".") {
			t.Errorf("event names a dot path: %+v", ev)
		}
	}
}
