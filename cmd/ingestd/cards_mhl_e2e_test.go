package main_test

// ASC MHL interop of card offloads (issue 11 items 1 and 3), with the real
// binary, real loop-mounted card images (ext4 by the kernel; exFAT and FAT
// through their FUSE drivers, since this kernel has neither vfat nor exfat)
// and the ASC's reference tool (../shared/tools/ascmhl/run) judging every
// offloaded folder.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/daemon/cards/ascmhl"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/storage"
	cardgen "github.com/ingestd/ingestd/testdata/cards"
)

// mhlImg is a card image of one filesystem: ext4 (kernel loop mount),
// exfat (mount.exfat-fuse on a loop device), vfat (fusefat on the image).
type mhlImg struct {
	t      *testing.T
	fs     string
	img    string
	label  string
	mp     string
	loop   string
	asciiN bool // the filesystem driver cannot write non-ASCII names (fusefat)
}

// mhlNeedFS skips (fails under CI) when the tools for fs are missing.
func mhlNeedFS(t *testing.T, fs string) {
	t.Helper()
	switch fs {
	case "ext4":
		testenv.Need(t, "mkfs.ext4")
	case "exfat":
		testenv.Need(t, "mkfs.exfat")
		testenv.Need(t, "mount.exfat-fuse")
		testenv.Need(t, "losetup")
	case "vfat":
		testenv.Need(t, "mkfs.vfat")
		testenv.Need(t, "fusefat")
	}
}

// mhlNewImg makes an image of filesystem fs labelled label (vfat: no
// label: fusefat would show the label entry as a file) holding tree, and a
// mount point under root named mpName.
func mhlNewImg(t *testing.T, fsType, root, label, mpName string, fill func(dir string)) *mhlImg {
	t.Helper()
	c := &mhlImg{t: t, fs: fsType, img: filepath.Join(t.TempDir(), mpName+".img"), label: label, mp: filepath.Join(root, mpName)}
	testutil.Run(t, "truncate", "-s", "24M", c.img)
	staging := t.TempDir()
	switch fsType {
	case "ext4":
		testutil.Run(t, "mkfs.ext4", "-q", "-L", label, c.img) // keeps lost+found: OS junk, not copied
		testutil.Run(t, "mount", "-o", "loop", c.img, staging)
	case "exfat":
		testutil.Run(t, "mkfs.exfat", "-L", label, c.img)
		c.attach()
		testutil.Run(t, "mount.exfat-fuse", c.loop, staging)
	case "vfat":
		testutil.Run(t, "mkfs.vfat", c.img)
		testutil.Run(t, "fusefat", "-o", "rw+", c.img, staging)
		c.asciiN = true
	}
	fill(staging)
	testutil.Run(t, "umount", staging)
	c.detach()
	if err := os.MkdirAll(c.mp, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", c.mp).Run(); c.detach() })
	return c
}

func (c *mhlImg) attach() {
	out, err := exec.Command("losetup", "-f", "--show", c.img).Output()
	if err != nil {
		c.t.Fatalf("losetup %s: %v", c.img, err)
	}
	c.loop = strings.TrimSpace(string(out))
}

func (c *mhlImg) detach() {
	if c.loop != "" {
		exec.Command("losetup", "-d", c.loop).Run()
		c.loop = ""
	}
}

func (c *mhlImg) Insert() {
	switch c.fs {
	case "ext4":
		testutil.Run(c.t, "mount", "-o", "loop,ro", c.img, c.mp)
	case "exfat":
		c.attach()
		testutil.Run(c.t, "mount.exfat-fuse", "-o", "ro", c.loop, c.mp)
	case "vfat":
		testutil.Run(c.t, "fusefat", "-o", "ro", c.img, c.mp)
	}
}

func (c *mhlImg) Eject() {
	testutil.Run(c.t, "umount", c.mp)
	c.detach()
}

// mhlTwoDestEnv is a daemon offloading the cards under root to two
// destinations at once, footage and shuttle (a folder of its own), both
// at path; vols maps each volume name to its root.
func mhlTwoDestEnv(t *testing.T, root, path string) (*env, map[string]string) {
	t.Helper()
	shuttle := t.TempDir()
	e := newEnv(t, "", "  - name: shuttle\n    path: "+shuttle+"\n"+
		"cards:\n  mount_roots: ["+root+"]\n  poll: 200ms\n"+
		"  destinations:\n    - volume: footage\n      path: \""+path+"\"\n    - volume: shuttle\n      path: \""+path+"\"\n")
	return e, map[string]string{"footage": e.watch, "shuttle": shuttle}
}

// mhlCardDetail is the card.offloaded detail with what these tests read.
type mhlCardDetail struct {
	Label      string                `json:"label"`
	Layout     string                `json:"layout"`
	Files      int                   `json:"files"`
	Generation string                `json:"generation"`
	File       string                `json:"file"`
	Reason     string                `json:"reason"`
	Manifests  []cards.ManifestCheck `json:"manifests"`
	Dests      []struct {
		Volume, Path, State string
	} `json:"destinations"`
}

// mhlDests returns the absolute folder of every destination of a card
// event (volume name -> root in vols), failing for one not verified.
func mhlDests(t *testing.T, d mhlCardDetail, vols map[string]string) []string {
	t.Helper()
	var out []string
	for _, dd := range d.Dests {
		if dd.State != "verified" {
			t.Errorf("%s: destination %s/%s is %s, want verified", d.Label, dd.Volume, dd.Path, dd.State)
			continue
		}
		out = append(out, filepath.Join(vols[dd.Volume], filepath.FromSlash(dd.Path)))
	}
	if len(out) != len(vols) {
		t.Errorf("%s: %d destinations verified, want %d: %+v", d.Label, len(out), len(vols), d.Dests)
	}
	return out
}

// mhlWaitSafe waits for the card.safe event of label (every destination
// verified, cascaded ones included) and returns its destinations.
func mhlWaitSafe(e *env, label string, vols map[string]string) []string {
	e.t.Helper()
	var d mhlCardDetail
	e.waitFeed(90*time.Second, label+" safe to format", func(evs []storage.Event) bool {
		for _, ev := range evs {
			if ev.Type == storage.EvCardSafe && json.Unmarshal([]byte(ev.Detail), &d) == nil && d.Label == label {
				return true
			}
		}
		return false
	})
	var out []string
	for _, dd := range d.Dests {
		out = append(out, filepath.Join(vols[dd.Volume], filepath.FromSlash(dd.Path)))
	}
	if len(out) != len(vols) {
		e.t.Errorf("%s: card.safe lists %d destinations, want %d", label, len(out), len(vols))
	}
	return out
}

// mhlNextCard waits for the card event after the first n card events
// (offloaded or failed) and returns it with its detail.
func mhlNextCard(e *env, n int, what string) (storage.Event, mhlCardDetail, int) {
	e.t.Helper()
	var got []storage.Event
	e.waitFeed(90*time.Second, what, func(evs []storage.Event) bool {
		got = got[:0]
		for _, ev := range evs {
			if ev.Type == storage.EvCardOffloaded || ev.Type == storage.EvCardFailed {
				got = append(got, ev)
			}
		}
		return len(got) > n
	})
	ev := got[n]
	var d mhlCardDetail
	if err := json.Unmarshal([]byte(ev.Detail), &d); err != nil {
		e.t.Fatalf("card event detail %q: %v", ev.Detail, err)
	}
	return ev, d, n + 1
}

// mhlRef runs the reference tool and fails the test when it does.
func mhlRef(t *testing.T, run string, args ...string) string {
	t.Helper()
	out, err := testenv.RunASCMHL(t, run, args[0], args[1:]...)
	if err != nil {
		t.Errorf("reference `%s`: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// mhlCheckOffload is every check of one offloaded folder: the reference
// verify, diff and XSD check of each generation; every folder of the card
// (empty ones too) is there, no OS junk is, every file of tree is.
func mhlCheckOffload(t *testing.T, run, dest string, tree cardgen.Tree) {
	t.Helper()
	gens, _ := filepath.Glob(filepath.Join(dest, "ascmhl", "*.mhl"))
	if len(gens) == 0 {
		t.Errorf("%s: no generation written", dest)
	}
	// The reference runs are independent (each ~1 s of Python start-up).
	calls := [][]string{{"ascmhl-debug", "verify", dest}, {"ascmhl", "diff", dest}}
	for _, g := range gens {
		calls = append(calls, []string{"ascmhl-debug", "xsd-schema-check", g})
	}
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mhlRef(t, run, c...)
		}()
	}
	wg.Wait()
	wantDirs := map[string]bool{}
	junk := func(rel string) bool { // rel or a folder above it is OS junk
		for p := rel; p != "." && p != "/"; p = path.Dir(p) {
			if cards.IsOSJunk(p, true) {
				return true
			}
		}
		return false
	}
	addParents := func(p string) {
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			wantDirs[d] = true
		}
	}
	for rel := range tree.Files {
		if junk(rel) {
			if _, err := os.Lstat(filepath.Join(dest, rel)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s: OS junk %s copied", dest, rel)
			}
			continue
		}
		if _, err := os.Stat(filepath.Join(dest, filepath.FromSlash(rel))); err != nil {
			t.Errorf("%s: file %s not offloaded: %v", dest, rel, err)
		}
		addParents(rel)
	}
	for _, d := range tree.Empty {
		if junk(d) {
			if _, err := os.Lstat(filepath.Join(dest, d)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s: OS junk folder %s copied", dest, d)
			}
			continue
		}
		wantDirs[d] = true
		addParents(d + "/x")
	}
	for d := range wantDirs {
		if fi, err := os.Stat(filepath.Join(dest, filepath.FromSlash(d))); err != nil || !fi.IsDir() {
			t.Errorf("%s: folder %s of the card not created: %v", dest, d, err)
		}
	}
	for _, j := range []string{"lost+found", ".Trashes", ".Spotlight-V100", ".fseventsd", "System Volume Information", "$RECYCLE.BIN", ".DS_Store", ".TemporaryItems"} {
		if _, err := os.Lstat(filepath.Join(dest, j)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: OS junk %s at the destination", dest, j)
		}
	}
}

// mhlListed returns the paths (files and folders) the latest generation
// in dest lists, and its hash formats.
func mhlListed(t *testing.T, dest string) (paths []string, formats map[ascmhl.Format]bool) {
	t.Helper()
	h, err := ascmhl.Open(dest)
	if err != nil {
		t.Fatal(err)
	}
	formats = map[ascmhl.Format]bool{}
	g := h.Latest()
	for _, e := range g.Entries {
		paths = append(paths, e.Path)
		for _, hv := range e.Hashes {
			formats[hv.Format] = true
		}
	}
	sort.Strings(paths)
	return paths, formats
}

// TestCardsMHLReferenceEveryLayout offloads every supported layout, with
// empty folders, hidden files, OS junk, a deep tree and non-ASCII names,
// from ext4 and exFAT card images (and three from FAT), with the real
// daemon to two destinations at once, and has the ASC's reference tool
// verify, diff and schema-check each destination's offload; then offloads
// the ext4 cards again with a second daemon (xxh64 + md5, as OffShoot
// writes; the second destination cascaded from the first) into other
// folders: the reference tool passes those too, both offloads list the
// same entries, and the xxh64 values are what xxhsum prints.
func TestCardsMHLReferenceEveryLayout(t *testing.T) {
	cardsNeedRoot(t)
	run := testenv.ASCMHL(t)
	xxhsum := testenv.Need(t, "xxhsum")
	type job struct {
		fs, layout string
		img        *mhlImg
		tree       cardgen.Tree
	}
	var jobs []*job
	fss := []string{"ext4", "exfat", "vfat"}
	for _, f := range fss {
		mhlNeedFS(t, f)
	}
	root := filepath.Join(t.TempDir(), "media")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	mt := time.Date(2026, 2, 1, 10, 15, 0, 0, time.UTC)
	for _, f := range fss {
		for i, l := range cardgen.Layouts {
			if f == "vfat" && l != "dcim" && l != "gopro" && l != "avchd" {
				continue // FAT cards: stills, action cams, AVCHD camcorders
			}
			sk, err := cardgen.Skeleton(l)
			if err != nil {
				t.Fatal(err)
			}
			j := &job{fs: f, layout: l}
			label := fmt.Sprintf("%s%02d", strings.ToUpper(f[:1]), i+1)
			j.img = mhlNewImg(t, f, root, label, f+"-"+l, func(dir string) {
				j.tree = cardgen.Merge(sk, cardgen.Extras(f == "vfat"))
				if err := j.tree.Write(dir, mt); err != nil {
					t.Fatalf("%s %s card: %v", f, l, err)
				}
			})
			jobs = append(jobs, j)
		}
	}

	// Two destinations written in parallel from one card read: each gets
	// its own history, each must pass the reference tool.
	e, vols := mhlTwoDestEnv(t, root, "first/{label}")
	e.start()
	n := 0
	dests := map[*job]string{}
	for _, j := range jobs {
		j.img.Insert()
		ev, d, next := mhlNextCard(e, n, j.fs+" "+j.layout+" card offloaded")
		n = next
		j.img.Eject()
		if ev.Type != storage.EvCardOffloaded {
			t.Errorf("%s %s card: %s %+v", j.fs, j.layout, ev.Type, d)
			continue
		}
		if d.Layout != j.layout {
			t.Errorf("%s %s card detected as %q", j.fs, j.layout, d.Layout)
		}
		for i, dest := range mhlDests(t, d, vols) {
			if i == 0 {
				dests[j] = dest
			}
			mhlCheckOffload(t, run, dest, j.tree)
		}
	}
	e.stop()
	if t.Failed() {
		return
	}

	// The ext4 cards again, by a second daemon, into other folders, with
	// xxh64 and md5 (OffShoot's formats), the second destination filled
	// from the first's verified copy (cascade).
	shuttle2 := t.TempDir()
	e2 := newEnv(t, "", "  - name: shuttle\n    path: "+shuttle2+"\n"+
		"cards:\n  mount_roots: ["+root+"]\n  poll: 200ms\n  hashes: [xxh64, md5]\n  cascade: true\n"+
		"  destinations:\n    - volume: footage\n      path: \"second/{label}\"\n    - volume: shuttle\n      path: \"second/{label}\"\n")
	vols2 := map[string]string{"footage": e2.watch, "shuttle": shuttle2}
	e2.start()
	defer e2.stop()
	n = 0
	for _, j := range jobs {
		if j.fs != "ext4" {
			continue
		}
		j.img.Insert()
		ev, d, next := mhlNextCard(e2, n, "second offload of "+j.layout)
		n = next
		if ev.Type != storage.EvCardOffloaded {
			j.img.Eject()
			t.Errorf("second offload of %s: %s %+v", j.layout, ev.Type, d)
			continue
		}
		all := mhlWaitSafe(e2, d.Label, vols2)
		j.img.Eject()
		for _, dest := range all[1:] {
			mhlCheckOffload(t, run, dest, j.tree) // cascaded from the first
		}
		dest := all[0]
		mhlCheckOffload(t, run, dest, j.tree)
		first, _ := mhlListed(t, dests[j])
		second, formats := mhlListed(t, dest)
		if strings.Join(first, "\n") != strings.Join(second, "\n") {
			t.Errorf("%s: the two offloads list different entries:\nfirst  %q\nsecond %q", j.layout, first, second)
		}
		if !formats[ascmhl.XXH64] || !formats[ascmhl.MD5] || formats[ascmhl.XXH128] {
			t.Errorf("%s: second offload's formats %v, want xxh64 and md5 only", j.layout, formats)
		}
		// xxh64 as xxhsum prints it (big-endian hex), for OffShoot interop.
		h, err := ascmhl.Open(dest)
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, en := range h.Latest().Entries {
			if en.IsDir {
				continue
			}
			hv, _ := en.Hash(ascmhl.XXH64)
			out, err := exec.Command(xxhsum, "-H1", filepath.Join(dest, filepath.FromSlash(en.Path))).Output()
			if err != nil {
				t.Fatalf("xxhsum %s: %v", en.Path, err)
			}
			if f := strings.Fields(string(out)); len(f) == 0 || f[0] != hv.Value {
				t.Errorf("%s: MHL xxh64 %s, xxhsum says %q", en.Path, hv.Value, out)
			}
			if checked++; checked == 3 {
				break
			}
		}
		if checked == 0 {
			t.Errorf("%s: no file entries in the second offload's MHL", j.layout)
		}
	}
}

// TestCardsMHLSourceVerification: a card carrying its own ASC MHL history,
// made by the reference tool (`ascmhl create -h xxh64`), is verified
// against it and the chain continued (the reference verify passes on the
// offload, which holds the card's generation and ours); the same card
// changed after it was sealed fails, naming the file; md5sum and xxhsum
// manifests on a card are checked and reported in the event and status.
func TestCardsMHLSourceVerification(t *testing.T) {
	cardsNeedRoot(t)
	run := testenv.ASCMHL(t)
	md5sum := testenv.Need(t, "md5sum")
	xxhsum := testenv.Need(t, "xxhsum")
	mhlNeedFS(t, "ext4")
	root := filepath.Join(t.TempDir(), "media")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	mt := time.Date(2026, 2, 1, 10, 15, 0, 0, time.UTC)
	sk, _ := cardgen.Skeleton("sony_xavc")
	tree := cardgen.Merge(sk, cardgen.Extras(false))
	sealed := func(label string, tamper bool) *mhlImg {
		return mhlNewImg(t, "ext4", root, label, label, func(dir string) {
			if err := tree.Write(dir, mt); err != nil {
				t.Fatal(err)
			}
			if out, err := testenv.RunASCMHL(t, run, "ascmhl", "create", "-h", "xxh64", dir); err != nil {
				t.Fatalf("reference ascmhl create on the card: %v\n%s", err, out)
			}
			if tamper {
				p := filepath.Join(dir, "PRIVATE/M4ROOT/CLIP/C0001.MP4")
				if err := os.WriteFile(p, []byte("changed after the camera sealed it"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	hist := sealed("HIST1", false)
	bad := sealed("HIST2", true)
	p2, _ := cardgen.Skeleton("panasonic_p2")
	sums := mhlNewImg(t, "ext4", root, "SUMS1", "SUMS1", func(dir string) {
		if err := p2.Write(dir, mt); err != nil {
			t.Fatal(err)
		}
		c := filepath.Join(dir, "CONTENTS")
		files := []string{"VIDEO/0001AB.MXF", "AUDIO/0001AB00.MXF", "AUDIO/0001AB01.MXF", "CLIP/0001AB.XML"}
		out := func(name string, args ...string) string {
			cmd := exec.Command(name, args...)
			cmd.Dir = c
			b, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s %v: %v", name, args, err)
			}
			return string(b)
		}
		m := map[string]string{
			"CONTENTS/CONTENTS.md5":    out(md5sum, files...),
			"CONTENTS/CONTENTS.xxhash": out(xxhsum, append([]string{"-H1"}, files...)...) + out(xxhsum, append([]string{"-H2"}, files...)...),
			// 0001AB00 listed with 0001AB01's digest
			"CONTENTS/stale.md5": strings.Replace(out(md5sum, files...), "AUDIO/0001AB01.MXF", "AUDIO/0001AB00.MXF", 1),
		}
		for rel, data := range m {
			if err := os.WriteFile(filepath.Join(dir, rel), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	})

	e := newEnv(t, "", "cards:\n  mount_roots: ["+root+"]\n  offload_to: footage\n  path: \"{label}\"\n  poll: 200ms\n")
	e.start()
	defer e.stop()
	n := 0

	hist.Insert()
	ev, d, n := mhlNextCard(e, n, "HIST1 offloaded")
	if ev.Type != storage.EvCardOffloaded {
		t.Fatalf("card with a reference history: %s %+v", ev.Type, d)
	}
	dest := filepath.Join(e.watch, filepath.FromSlash(ev.Path))
	mhlCheckOffload(t, run, dest, tree)
	h, err := ascmhl.Open(dest)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Generations) != 2 || h.Generations[0].ToolName == "ingestd" || h.Generations[1].ToolName != "ingestd" || d.Generation != h.Generations[1].FileName {
		t.Errorf("offload's history: %d generations (%q, then ours %q), want the card's then ours", len(h.Generations), h.Generations[0].ToolName, d.Generation)
	}
	verified := 0
	for _, en := range h.Generations[len(h.Generations)-1].Entries {
		if hv, ok := en.Hash(ascmhl.XXH64); ok && !en.IsDir {
			if hv.Action != ascmhl.ActionVerified {
				t.Errorf("%s: xxh64 %s, want verified against the card's history", en.Path, hv.Action)
			}
			verified++
		}
	}
	if verified == 0 {
		t.Error("no file of our generation carries the card history's xxh64")
	}
	hist.Eject()

	bad.Insert()
	ev, d, n = mhlNextCard(e, n, "HIST2 failed")
	if ev.Type != storage.EvCardFailed || d.File != "PRIVATE/M4ROOT/CLIP/C0001.MP4" || !strings.Contains(d.Reason, "does not match its ascmhl history") || !strings.Contains(d.Reason, "C0001.MP4") {
		t.Errorf("card changed since its history was sealed: %s %+v", ev.Type, d)
	}
	if cs, ok := e.cardStatus(bad.mp); !ok || cs.State != "failed" || !strings.Contains(cs.Message, "NOT safe to eject") {
		t.Errorf("status of HIST2: %+v", cs)
	}
	bad.Eject()

	sums.Insert()
	ev, d, _ = mhlNextCard(e, n, "SUMS1 offloaded")
	if ev.Type != storage.EvCardOffloaded {
		t.Fatalf("card with manifests: %s %+v", ev.Type, d)
	}
	mhlCheckOffload(t, run, filepath.Join(e.watch, filepath.FromSlash(ev.Path)), p2)
	byFile := map[string]cards.ManifestCheck{}
	for _, m := range d.Manifests {
		byFile[m.File] = m
	}
	for _, want := range []struct {
		file, format     string
		ok               bool
		checked, matched int
	}{
		{"CONTENTS/CONTENTS.md5", "md5", true, 4, 4},
		{"CONTENTS/CONTENTS.xxhash", "xxh128+xxh64", true, 8, 8},
		{"CONTENTS/stale.md5", "md5", false, 4, 3},
	} {
		m, ok := byFile[want.file]
		if !ok || m.Format != want.format || m.OK != want.ok || m.Checked != want.checked || m.Matched != want.matched {
			t.Errorf("manifest %s in card.offloaded: %+v (present %v), want %+v", want.file, m, ok, want)
		}
	}
	if m := byFile["CONTENTS/stale.md5"]; len(m.Mismatches) != 1 || m.Mismatches[0].Path != "CONTENTS/AUDIO/0001AB00.MXF" {
		t.Errorf("stale.md5 mismatches: %+v", m.Mismatches)
	}
	cs, ok := e.cardStatus(sums.mp)
	if !ok || cs.State != "offloaded" || len(cs.Manifests) != 3 || !strings.Contains(cs.Message, "1 of 3 checksum manifests on the card do not match") {
		t.Errorf("status of SUMS1: %+v", cs)
	}
	sums.Eject()
}
