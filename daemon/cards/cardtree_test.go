package cards

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/cards/ascmhl"
	"github.com/ingestd/ingestd/internal/testenv"
	cardgen "github.com/ingestd/ingestd/testdata/cards"
)

func TestIsOSJunk(t *testing.T) {
	for _, tc := range []struct {
		rel   string
		dir   bool
		junk  bool
		about string
	}{
		{"lost+found", true, true, "ext4 fsck folder"},
		{".Trashes", true, true, "macOS trash"},
		{".Spotlight-V100", true, true, "Spotlight"},
		{".fseventsd", true, true, "FSEvents"},
		{"System Volume Information", true, true, "Windows"},
		{"$RECYCLE.BIN", true, true, "Windows recycle bin"},
		{".TemporaryItems", true, true, "macOS"},
		{"DCIM/.DS_Store", false, true, "Finder file at any depth"},
		{"PRIVATE/M4ROOT/CLIP/._C0001.MP4", false, true, "AppleDouble"},
		{"DCIM/100GOPRO/.hidden", false, false, "hidden file on a card is footage's business: copied"},
		{".camera", true, false, "hidden folder: copied"},
		{"DCIM", true, false, "camera folder"},
		{"lost+found2", true, false, "not the name"},
		{".", true, false, "card root"},
		{"CLIP/_C0001.MP4", false, false, "underscore is not AppleDouble"},
	} {
		if got := IsOSJunk(tc.rel, tc.dir); got != tc.junk {
			t.Errorf("IsOSJunk(%q) = %v, want %v (%s)", tc.rel, got, tc.junk, tc.about)
		}
	}
}

func TestParseManifest(t *testing.T) {
	for _, tc := range []struct {
		name, ext, line string
		format          ascmhl.Format
		file, err       string
	}{
		{"md5sum", ".md5", "5d41402abc4b2a76b9719d911017c592  CLIP/A.MXF", ascmhl.MD5, "CLIP/A.MXF", ""},
		{"md5sum binary marker", ".md5", "5d41402abc4b2a76b9719d911017c592 *A.MXF", ascmhl.MD5, "A.MXF", ""},
		{"md5 BSD", ".md5", "MD5 (A B.MXF) = 5D41402ABC4B2A76B9719D911017C592", ascmhl.MD5, "A B.MXF", ""},
		{"xxhsum default is xxh64", ".xxhash", "26c7827d889f6da3  A.MXF", ascmhl.XXH64, "A.MXF", ""},
		{"xxhsum -H2 is xxh128", ".xxhash", "b5e9c1ad071b3e7fc779cfaa5e523818  A.MXF", ascmhl.XXH128, "A.MXF", ""},
		{"xxhsum --tag xxh64", ".xxhash", "XXH64 (A.MXF) = 26c7827d889f6da3", ascmhl.XXH64, "A.MXF", ""},
		{"xxhsum --tag xxh3", ".xxhash", "XXH3 (A.MXF) = 9555e8555c62dcfd", ascmhl.XXH3, "A.MXF", ""},
		{"escaped name", ".md5", `\5d41402abc4b2a76b9719d911017c592  a\\b\nc`, ascmhl.MD5, "a\\b\nc", ""},
		{"Windows separators", ".md5", `5d41402abc4b2a76b9719d911017c592  CLIP\A.MXF`, ascmhl.MD5, "CLIP/A.MXF", ""},
		{"xxh32 unsupported", ".xxhash", "0d1b5b31  A.MXF", "", "A.MXF", "8-digit"},
		{"16 digits in .md5", ".md5", "26c7827d889f6da3  A.MXF", "", "A.MXF", "16-digit"},
		{"garbage", ".md5", "hello world", "", "", "not a checksum line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ls := parseManifest([]byte("# comment\n\n"+tc.line+"\r\n"), tc.ext)
			if len(ls) != 1 {
				t.Fatalf("%d lines parsed, want 1: %+v", len(ls), ls)
			}
			l := ls[0]
			if l.n != 3 || l.format != tc.format || l.name != tc.file || !strings.Contains(l.err, tc.err) || (tc.err == "") != (l.err == "") {
				t.Errorf("parsed %+v, want format %q name %q err containing %q", l, tc.format, tc.file, tc.err)
			}
		})
	}
}

func TestResolveManifestPath(t *testing.T) {
	for _, tc := range []struct {
		manifest, name, want string
		ok                   bool
	}{
		{"A001/A001.md5", "CLIP/A.MXF", "A001/CLIP/A.MXF", true},
		{"A001/A001.md5", "./CLIP/A.MXF", "A001/CLIP/A.MXF", true},
		{"A001/A001.md5", "../B/x", "B/x", true},
		{"A001.md5", "../etc/passwd", "../etc/passwd", false},
		{"A001/A001.md5", "/etc/passwd", "/etc/passwd", false},
		{"A001.md5", "..", "..", false},
	} {
		got, ok := resolveManifestPath(tc.manifest, tc.name)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("resolve(%q, %q) = %q, %v; want %q, %v", tc.manifest, tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// ctWriteTree writes files (content) and empty folders under root.
func ctWriteTree(t *testing.T, root string, files map[string]string, empty []string) {
	t.Helper()
	mt := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for rel, data := range files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, mt, mt)
	}
	for _, d := range empty {
		if err := os.MkdirAll(filepath.Join(root, filepath.FromSlash(d)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// cardTreeFixture is a Sony XAVC card as a DIT meets it: empty folders the
// camera made, OS junk, a hidden file, a deep tree, non-ASCII names.
func cardTreeFixture(t *testing.T) string {
	src := filepath.Join(t.TempDir(), "card")
	deep := "PRIVATE/M4ROOT/SUB/" + strings.Repeat("d/", 12) + "deep.bin"
	ctWriteTree(t, src, map[string]string{
		"PRIVATE/M4ROOT/CLIP/C0001.MP4":               "video essence C0001",
		"PRIVATE/M4ROOT/CLIP/C0001M01.XML":            "<NonRealTimeMeta/>",
		"PRIVATE/M4ROOT/CLIP/._C0001.MP4":             "AppleDouble",
		"PRIVATE/M4ROOT/MEDIAPRO.XML":                 "<MediaProfile/>",
		"PRIVATE/M4ROOT/.hidden_cam_state":            "camera state",
		deep:                                          "deep",
		"Szene_ü/Ça_日本語_ñ.txt":                        "non-ascii",
		".DS_Store":                                   "finder",
		".Trashes/501/x.MP4":                          "trashed",
		".Spotlight-V100/Store-V2/a":                  "index",
		".fseventsd/fseventsd-uuid":                   "uuid",
		"System Volume Information/IndexerVolumeGuid": "guid",
		"$RECYCLE.BIN/desktop.ini":                    "ini",
	}, []string{"PRIVATE/M4ROOT/GENERAL/SONY", "PRIVATE/M4ROOT/THMBNL", "PRIVATE/M4ROOT/TAKE", "DCIM", "lost+found", "Leer ü"})
	return src
}

func TestOffloadCardTree(t *testing.T) {
	src := cardTreeFixture(t)
	dst := filepath.Join(t.TempDir(), "dest", "A001")
	res, err := Offload(context.Background(), src, dst, Options{})
	if err != nil {
		t.Fatalf("offload: %v", err)
	}
	for _, d := range []string{"PRIVATE/M4ROOT/GENERAL/SONY", "PRIVATE/M4ROOT/THMBNL", "PRIVATE/M4ROOT/TAKE", "DCIM", "Leer ü"} {
		if fi, err := os.Stat(filepath.Join(dst, d)); err != nil || !fi.IsDir() {
			t.Errorf("empty folder %s not created: %v", d, err)
		}
	}
	for _, j := range []string{"lost+found", ".Trashes", ".Spotlight-V100", ".fseventsd", "System Volume Information", "$RECYCLE.BIN", ".DS_Store", "PRIVATE/M4ROOT/CLIP/._C0001.MP4"} {
		if _, err := os.Lstat(filepath.Join(dst, j)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("OS junk %s copied (err %v)", j, err)
		}
	}
	for _, f := range []string{"PRIVATE/M4ROOT/.hidden_cam_state", "Szene_ü/Ça_日本語_ñ.txt"} {
		if _, err := os.Stat(filepath.Join(dst, f)); err != nil {
			t.Errorf("%s not copied: %v", f, err)
		}
	}
	if len(res.Files) != 6 || len(res.Skipped) != 0 {
		t.Errorf("%d files, %d skipped, want 6, 0: %+v", len(res.Files), len(res.Skipped), res)
	}
	h, err := ascmhl.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	g := h.Latest()
	listed := map[string]bool{}
	for _, e := range g.Entries {
		listed[e.Path] = e.IsDir
	}
	for _, want := range []string{"PRIVATE/M4ROOT/.hidden_cam_state", "Leer ü", "PRIVATE/M4ROOT/GENERAL/SONY", "DCIM"} {
		if _, ok := listed[want]; !ok {
			t.Errorf("%s not listed in the MHL", want)
		}
	}
	for p := range listed {
		if IsOSJunk(p, listed[p]) || strings.Contains(p, ".Trashes") {
			t.Errorf("OS junk %s listed in the MHL", p)
		}
	}
	for _, pat := range OSJunk {
		if !containsString(g.Ignore, pat) {
			t.Errorf("ignore pattern %q not in the generation: %v", pat, g.Ignore)
		}
	}
	if rep, err := ascmhl.Verify(context.Background(), dst); err != nil || !rep.OK() {
		t.Errorf("verify: %v %s", err, rep)
	}
	run := testenv.ASCMHL(t)
	if out, err := testenv.RunASCMHL(t, run, "ascmhl-debug", "verify", dst); err != nil {
		t.Fatalf("reference ascmhl-debug verify %s: %v\n%s", dst, err, out)
	}
	// The bug this guards: an empty folder the MHL lists but the offload
	// did not create. The reference tool must catch it.
	if err := os.Remove(filepath.Join(dst, "Leer ü")); err != nil {
		t.Fatal(err)
	}
	if out, err := testenv.RunASCMHL(t, run, "ascmhl-debug", "verify", dst); err == nil {
		t.Errorf("reference verify passed with a listed empty folder missing:\n%s", out)
	}
}

// TestOffloadManifests: md5sum and xxhsum (xxh64, xxh128) manifests on the
// card, made by the real tools, are checked against the copy; a wrong
// line, a missing file and a path leaving the card are reported.
func TestOffloadManifests(t *testing.T) {
	md5sum := testenv.Need(t, "md5sum")
	xxhsum := testenv.Need(t, "xxhsum")
	src := filepath.Join(t.TempDir(), "card")
	ctWriteTree(t, src, map[string]string{
		"A001/CLIP/A001C001.MXF": "clip one", "A001/CLIP/A001C002.MXF": "clip two", "A001/a b.wav": "audio",
	}, nil)
	sum := func(dir string, name string, args ...string) string {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		return string(out)
	}
	a := filepath.Join(src, "A001")
	files := []string{"CLIP/A001C001.MXF", "CLIP/A001C002.MXF", "a b.wav"}
	ctWriteTree(t, src, map[string]string{
		"A001/A001.md5":    sum(a, md5sum, files...),
		"A001/A001.xxhash": sum(a, xxhsum, files...) + sum(a, xxhsum, append([]string{"-H2"}, files...)...),
		"A001/tag.xxhash":  sum(a, xxhsum, append([]string{"--tag", "-H1"}, files...)...),
		"A001/bad.md5":     strings.Replace(sum(a, md5sum, files...), "CLIP/A001C002.MXF", "CLIP/A001C001.MXF", 1) + "d41d8cd98f00b204e9800998ecf8427e  gone.MXF\nd41d8cd98f00b204e9800998ecf8427e  ../../etc/passwd\n",
		// listed lower-case, on the card upper-case (FAT ignores case)
		"A001/CLIP/A001C001.md5": strings.ToLower(sum(filepath.Join(a, "CLIP"), md5sum, "A001C001.MXF")),
	}, nil)
	res, err := Offload(context.Background(), src, filepath.Join(t.TempDir(), "A001"), Options{})
	if err != nil {
		t.Fatalf("offload: %v", err)
	}
	got := map[string]ManifestCheck{}
	for _, m := range res.Manifests {
		got[m.File] = m
	}
	for _, tc := range []struct {
		file, format      string
		ok                bool
		checked, matched  int
		mismatchFragments []string
	}{
		{"A001/A001.md5", "md5", true, 3, 3, nil},
		{"A001/A001.xxhash", "xxh128+xxh64", true, 6, 6, nil},
		{"A001/tag.xxhash", "xxh64", true, 3, 3, nil},
		{"A001/CLIP/A001C001.md5", "md5", true, 1, 1, nil},
		{"A001/bad.md5", "md5", false, 5, 2, []string{"A001/CLIP/A001C001.MXF: line 2: md5 is", "A001/gone.MXF: line 4: listed, not on the card", "../../etc/passwd: line 5: path outside the card"}},
	} {
		m, ok := got[tc.file]
		if !ok {
			t.Errorf("manifest %s not reported: %+v", tc.file, res.Manifests)
			continue
		}
		if m.Format != tc.format || m.OK != tc.ok || m.Checked != tc.checked || m.Matched != tc.matched {
			t.Errorf("%s: %+v, want format %s ok %v checked %d matched %d", tc.file, m, tc.format, tc.ok, tc.checked, tc.matched)
		}
		var mm []string
		for _, x := range m.Mismatches {
			mm = append(mm, x.Path+": "+x.Reason)
		}
		all := strings.Join(mm, "\n")
		for _, f := range tc.mismatchFragments {
			if !strings.Contains(all, f) {
				t.Errorf("%s: mismatches lack %q:\n%s", tc.file, f, all)
			}
		}
		if len(m.Mismatches) != len(tc.mismatchFragments) {
			t.Errorf("%s: %d mismatches, want %d:\n%s", tc.file, len(m.Mismatches), len(tc.mismatchFragments), all)
		}
	}
	if len(res.Manifests) != 5 {
		t.Errorf("%d manifests reported, want 5", len(res.Manifests))
	}
}

// TestOffloadContinuesReferenceHistory: a card sealed by the reference
// tool itself (`ascmhl create`, with an empty folder) is verified against
// its hashes, its chain continued, and the reference verify passes on the
// copy; a card changed after it was sealed fails naming the file.
func TestOffloadContinuesReferenceHistory(t *testing.T) {
	run := testenv.ASCMHL(t)
	for _, tc := range []struct {
		name   string
		format string
		tamper bool
	}{
		{"xxh64 sealed card", "xxh64", false},
		{"md5 sealed card, changed since", "md5", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := cardTreeFixture(t)
			if out, err := testenv.RunASCMHL(t, run, "ascmhl", "create", "-h", tc.format, src); err != nil {
				t.Fatalf("reference ascmhl create: %v\n%s", err, out)
			}
			if tc.tamper {
				if err := os.WriteFile(filepath.Join(src, "PRIVATE/M4ROOT/CLIP/C0001.MP4"), []byte("video essence C0001 (changed)"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			dst := filepath.Join(t.TempDir(), "A001")
			res, err := Offload(context.Background(), src, dst, Options{})
			if tc.tamper {
				if !errors.Is(err, ErrHistory) || res.FailedPath != "PRIVATE/M4ROOT/CLIP/C0001.MP4" || !strings.Contains(res.Reason, "C0001.MP4") {
					t.Fatalf("offload of a changed card: err %v, failed %q reason %q", err, res.FailedPath, res.Reason)
				}
				return
			}
			if err != nil || !res.CardHistory {
				t.Fatalf("offload: %v (card history %v)", err, res.CardHistory)
			}
			h, err := ascmhl.Open(dst)
			if err != nil {
				t.Fatal(err)
			}
			if len(h.Generations) != 2 || h.Generations[1].Process != ascmhl.ProcessTransfer {
				t.Fatalf("destination history has %d generations, want the card's 1 + ours", len(h.Generations))
			}
			for _, e := range h.Generations[1].Entries {
				if e.IsDir {
					continue
				}
				if hv, ok := e.Hash(ascmhl.Format(tc.format)); !ok || hv.Action != ascmhl.ActionVerified {
					t.Errorf("%s: %s hash %+v, want verified against the card's", e.Path, tc.format, hv)
				}
			}
			if out, err := testenv.RunASCMHL(t, run, "ascmhl-debug", "verify", dst); err != nil {
				t.Fatalf("reference verify of the continued history: %v\n%s", err, out)
			}
		})
	}
}

// TestSkeletonLayouts: every generated card tree (testdata/cards
// Skeleton plus Extras) is detected as its layout, so the e2e interop
// test really covers each supported layout.
func TestSkeletonLayouts(t *testing.T) {
	mt := time.Date(2026, 2, 1, 10, 15, 0, 0, time.UTC)
	for _, l := range cardgen.Layouts {
		for _, ascii := range []bool{false, true} {
			sk, err := cardgen.Skeleton(l)
			if err != nil {
				t.Fatal(err)
			}
			root := t.TempDir()
			if err := cardgen.Merge(sk, cardgen.Extras(ascii)).Write(root, mt); err != nil {
				t.Fatal(err)
			}
			if got, err := Detect(root); err != nil || string(got) != l {
				t.Errorf("skeleton %s (ascii %v) detected as %q (%v)", l, ascii, got, err)
			}
		}
	}
}

// TestOffloadEmptyFolderSymlinkPlanted: a symlink planted at the
// destination where an empty folder of the card goes is not followed:
// the offload fails (destination tampered with) and nothing is created
// where it points.
func TestOffloadEmptyFolderSymlinkPlanted(t *testing.T) {
	src := cardTreeFixture(t)
	base := t.TempDir()
	dst := filepath.Join(base, "A001")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(dst, "PRIVATE", "M4ROOT"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(dst, "PRIVATE", "M4ROOT", "GENERAL")); err != nil {
		t.Fatal(err)
	}
	res, err := Offload(context.Background(), src, dst, Options{DestRoot: base})
	if !errors.Is(err, ErrDestTampered) || res.Status != StatusFailed {
		t.Fatalf("offload through a planted symlink: err %v, status %s", err, res.Status)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("created through the symlink: %v", ents)
	}
	if ascmhl.Exists(dst) {
		t.Error("an MHL was sealed for a destination that was tampered with")
	}
}

// TestOffloadChecksEveryHistoryFormat: a card whose history got a second
// format in a later generation (the reference records it "verified", not
// "original") is checked in both, and our generation carries both, so the
// reference can continue the chain from the copy; a card whose later
// format's value does not match (the chain made consistent again) fails.
func TestOffloadChecksEveryHistoryFormat(t *testing.T) {
	run := testenv.ASCMHL(t)
	seal := func(t *testing.T) string {
		src := cardTreeFixture(t)
		for _, f := range []string{"sha1", "xxh3"} {
			if out, err := testenv.RunASCMHL(t, run, "ascmhl", "create", "-h", f, src); err != nil {
				t.Fatalf("reference ascmhl create -h %s: %v\n%s", f, err, out)
			}
		}
		return src
	}
	t.Run("both formats carried on", func(t *testing.T) {
		src := seal(t)
		dst := filepath.Join(t.TempDir(), "A001")
		if _, err := Offload(context.Background(), src, dst, Options{}); err != nil {
			t.Fatal(err)
		}
		h, err := ascmhl.Open(dst)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range h.Latest().Entries {
			if e.IsDir {
				continue
			}
			for _, f := range []ascmhl.Format{"sha1", "xxh3"} {
				if hv, ok := e.Hash(f); !ok || hv.Action != ascmhl.ActionVerified {
					t.Errorf("%s: %s %+v, want verified", e.Path, f, hv)
				}
			}
		}
		if out, err := testenv.RunASCMHL(t, run, "ascmhl-debug", "verify", dst); err != nil {
			t.Fatalf("reference verify: %v\n%s", err, out)
		}
		if out, err := testenv.RunASCMHL(t, run, "ascmhl", "create", "-h", "xxh64", dst); err != nil {
			t.Fatalf("reference create on the copy: %v\n%s", err, out)
		}
	})
	t.Run("later format does not match", func(t *testing.T) {
		src := seal(t)
		gens, _ := filepath.Glob(filepath.Join(src, "ascmhl", "0002_*.mhl"))
		if len(gens) != 1 {
			t.Fatalf("generations: %v", gens)
		}
		before, err := ascmhl.HashFile(context.Background(), gens[0], []ascmhl.Format{ascmhl.C4})
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(gens[0])
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		i := strings.Index(s, "PRIVATE/M4ROOT/CLIP/C0001.MP4</path>")
		j := strings.Index(s[i:], "<xxh3 ")
		k := strings.Index(s[i+j:], ">")
		l := strings.Index(s[i+j:], "</xxh3>")
		if i < 0 || j < 0 || k < 0 || l < 0 {
			t.Fatalf("no xxh3 for C0001 in %s", s)
		}
		s = s[:i+j+k+1] + "0000000000000000" + s[i+j+l:]
		if err := os.WriteFile(gens[0], []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		after, err := ascmhl.HashFile(context.Background(), gens[0], []ascmhl.Format{ascmhl.C4})
		if err != nil {
			t.Fatal(err)
		}
		chain := filepath.Join(src, "ascmhl", "ascmhl_chain.xml")
		cd, err := os.ReadFile(chain)
		if err != nil || !strings.Contains(string(cd), before[ascmhl.C4]) {
			t.Fatalf("chain: %v\n%s", err, cd)
		}
		if err := os.WriteFile(chain, []byte(strings.Replace(string(cd), before[ascmhl.C4], after[ascmhl.C4], 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := Offload(context.Background(), src, filepath.Join(t.TempDir(), "A001"), Options{})
		if !errors.Is(err, ErrHistory) || res.FailedPath != "PRIVATE/M4ROOT/CLIP/C0001.MP4" || !strings.Contains(res.Reason, "xxh3") {
			t.Fatalf("offload: err %v, failed %q, reason %q", err, res.FailedPath, res.Reason)
		}
	})
}

// TestOffloadListsFilesTheCardHistoryIgnores: a card history that ignores
// footage (`ascmhl create -i '*.MP4'`) does not keep the copied footage
// out of our generation: the pattern is not carried on, every copied file
// is listed, and the reference verifies the copy and continues it.
func TestOffloadListsFilesTheCardHistoryIgnores(t *testing.T) {
	run := testenv.ASCMHL(t)
	src := cardTreeFixture(t)
	if out, err := testenv.RunASCMHL(t, run, "ascmhl", "create", "-h", "xxh64", "-i", "*.MP4", src); err != nil {
		t.Fatalf("reference ascmhl create: %v\n%s", err, out)
	}
	dst := filepath.Join(t.TempDir(), "A001")
	res, err := Offload(context.Background(), src, dst, Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := ascmhl.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	g := h.Latest()
	for _, p := range g.Ignore {
		if p == "*.MP4" {
			t.Errorf("the card history's *.MP4 carried on: %v", g.Ignore)
		}
	}
	listed := map[string]bool{}
	for _, e := range g.Entries {
		listed[e.Path] = true
	}
	for _, f := range res.Files {
		if !listed[f.Path] {
			t.Errorf("%s copied but not in the generation", f.Path)
		}
	}
	if !listed["PRIVATE/M4ROOT/CLIP/C0001.MP4"] {
		t.Error("C0001.MP4 not listed")
	}
	if out, err := testenv.RunASCMHL(t, run, "ascmhl-debug", "verify", dst); err != nil {
		t.Fatalf("reference verify: %v\n%s", err, out)
	}
	if out, err := testenv.RunASCMHL(t, run, "ascmhl", "create", "-h", "xxh64", dst); err != nil {
		t.Fatalf("reference create on the copy: %v\n%s", err, out)
	}
}
