package cards

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/zeebo/blake3"
	"github.com/zeebo/xxh3"

	"github.com/ingestd/ingestd/daemon/cards/ascmhl"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/internal/testutil"
)

// treeFiles lists the regular files under root (slash paths -> content).
func treeFiles(t *testing.T, root string, skip ...string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		for _, s := range skip {
			if rel == s || strings.HasPrefix(rel, s+"/") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		if d.Type().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out[rel] = data
		}
		return nil
	})
	return out
}

func sameTree(t *testing.T, card, dst string) {
	t.Helper()
	a := treeFiles(t, card, "lost+found", "ascmhl")
	b := treeFiles(t, dst, "ascmhl")
	if len(a) != len(b) {
		t.Fatalf("card has %d files, destination %d", len(a), len(b))
	}
	for p, data := range a {
		if !bytes.Equal(b[p], data) {
			t.Fatalf("%s differs at destination", p)
		}
		ci, _ := os.Stat(filepath.Join(card, p))
		di, _ := os.Stat(filepath.Join(dst, p))
		if !ci.ModTime().Equal(di.ModTime()) {
			t.Fatalf("%s mtime %v, card %v", p, di.ModTime(), ci.ModTime())
		}
	}
}

func xsdCheck(t *testing.T, root string) {
	t.Helper()
	xmllint := testenv.Need(t, "xmllint")
	xsd, _ := filepath.Abs(filepath.Join(testdata, "ascmhl", "ASCMHL.xsd"))
	dirXSD := filepath.Join(testdata, "ascmhl", "ASCMHLDirectory.xsd")
	cat := filepath.Join(t.TempDir(), "catalog.xml")
	url := "https://raw.githubusercontent.com/ascmitc/mhl/master/xsd/ASCMHL.xsd"
	os.WriteFile(cat, []byte(`<?xml version="1.0"?>
<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">
  <system systemId="`+url+`" uri="file://`+xsd+`"/>
  <uri name="`+url+`" uri="file://`+xsd+`"/>
</catalog>
`), 0o644)
	ents, _ := os.ReadDir(filepath.Join(root, "ascmhl"))
	if len(ents) < 2 {
		t.Fatalf("ascmhl/ holds %d files", len(ents))
	}
	for _, e := range ents {
		schema := xsd
		if e.Name() == ascmhl.ChainName {
			schema = dirXSD
		}
		cmd := exec.Command(xmllint, "--noout", "--nonet", "--schema", schema, filepath.Join(root, "ascmhl", e.Name()))
		cmd.Env = append(os.Environ(), "XML_CATALOG_FILES="+cat)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("xsd %s: %v\n%s", e.Name(), err, out)
		}
	}
}

// refVerify runs the reference `ascmhl-debug verify` on an offloaded folder
// when INGESTD_ASCMHL_REF points at its source (see package ascmhl tests).
func refVerify(t *testing.T, root string) {
	t.Helper()
	ref := os.Getenv("INGESTD_ASCMHL_REF")
	if ref == "" {
		return
	}
	py := os.Getenv("INGESTD_ASCMHL_PYTHON")
	if py == "" {
		py = "python3"
	}
	cmd := exec.Command(py, "-c", "import sys; from ascmhl.cli.ascmhl_debug import mhldebugtool_cli; sys.argv=['ascmhl-debug','verify',sys.argv[1]]; mhldebugtool_cli()", root)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+ref)
	out, err := cmd.CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("Traceback")) {
		t.Fatalf("reference ascmhl verify %s: %v\n%s", root, err, out)
	}
	t.Logf("reference ascmhl-debug verify %s: ok", root)
}

func noLeftovers(t *testing.T, dst string) {
	t.Helper()
	filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err == nil && (strings.HasSuffix(p, PartialSuffix) || d.Name() == StateName || strings.HasSuffix(p, ".tmp")) {
			t.Errorf("leftover %s", p)
		}
		return nil
	})
}

// A clean offload of an ext4 card onto a tmpfs volume, with a real clip.
func TestOffloadClean(t *testing.T) {
	card := newExt4Card(t, "32M", "GOPRO01")
	writeTree(t, card.Dir, cardTrees(t)[LayoutGoPro])
	writeTree(t, card.Dir, map[string]string{"DCIM/100GOPRO/GX010003.MP4": "rand:3000000", "EMPTY/.keep": ""})
	ffmpeg := testenv.Need(t, "ffmpeg")
	testutil.Run(t, ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=320x180:d=1", "-f", "lavfi", "-i", "sine=d=1",
		"-c:v", "libx264", "-c:a", "aac", "-shortest", "-y", filepath.Join(card.Dir, "DCIM/100GOPRO/GX010004.MP4"))
	dst := filepath.Join(testutil.MountTmpfs(t, "64m"), "2026-02-01", "GOPRO01")

	var progress []Progress
	res, err := Offload(context.Background(), card.Dir, dst, Options{
		MHLFormats: []ascmhl.Format{ascmhl.XXH128, ascmhl.MD5, ascmhl.XXH64},
		Creator:    ascmhl.Creator{ToolName: "ingestd", ToolVersion: "test"},
		Progress:   func(p Progress) { progress = append(progress, p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusOffloaded || res.Layout != LayoutGoPro || res.Resumed != 0 || res.Copied != res.Bytes || res.Generation == "" {
		t.Fatalf("result %+v", res)
	}
	sameTree(t, card.Dir, dst)
	noLeftovers(t, dst)
	// After each file (and every ProgressEvery); the last one has
	// everything read and the destination verified.
	last := progress[len(progress)-1]
	if len(progress) < len(res.Files) || last.BytesDone != res.Bytes || len(last.Dests) != 1 ||
		last.Dests[0].State != DestVerified || last.Dests[0].BytesVerified != res.Bytes {
		t.Fatalf("progress %+v", progress[len(progress)-1])
	}
	// The card pass leaves the content ids to ContentIDs (contentid.go).
	for _, f := range res.Files {
		if f.BLAKE3 != "" {
			t.Fatalf("%s: BLAKE3 %s computed in the card pass", f.Path, f.BLAKE3)
		}
	}
	if n, err := ContentIDs(context.Background(), filepath.Dir(dst), dst, res.Files, nil); err != nil || n != len(res.Files) {
		t.Fatalf("content ids: %d read, %v", n, err)
	}
	// Hashes equal an independent computation, encoded as the ingest
	// pipeline encodes them (lowercase hex; xxh128 as xxhsum -H128).
	for _, f := range res.Files {
		data, _ := os.ReadFile(filepath.Join(card.Dir, f.Path))
		b3 := blake3.Sum256(data)
		x := xxh3.Hash128(data).Bytes()
		if f.BLAKE3 != hex.EncodeToString(b3[:]) || f.XXH128 != hex.EncodeToString(x[:]) || f.MHL[ascmhl.XXH128] != f.XXH128 {
			t.Fatalf("%s hashes %+v", f.Path, f)
		}
		md5v, _ := ascmhl.HashBytes(ascmhl.MD5, data)
		x64, _ := ascmhl.HashBytes(ascmhl.XXH64, data)
		if f.MHL[ascmhl.MD5] != md5v || f.MHL[ascmhl.XXH64] != x64 {
			t.Fatalf("%s mhl hashes %+v", f.Path, f.MHL)
		}
	}
	rep, err := ascmhl.Verify(context.Background(), dst)
	if err != nil || !rep.OK() || len(rep.Verified) != len(res.Files) {
		t.Fatalf("verify offloaded copy: %v %s", err, rep)
	}
	h, _ := ascmhl.Open(dst)
	if g := h.Latest(); g.Process != ascmhl.ProcessTransfer || g.ToolName != "ingestd" || !strings.HasPrefix(g.FileName, "0001_GOPRO01_") {
		t.Fatalf("generation %+v", g)
	}
	xsdCheck(t, dst)
	refVerify(t, dst)
	if cs, err := Clips(dst, res.Layout); err != nil || len(cs) != 4 {
		t.Fatalf("clips of the offloaded copy: %v %+v", err, cs)
	}
}

// The card is pulled after the first file; re-inserting it resumes without
// copying the verified files again.
func TestOffloadCardPulledThenResumed(t *testing.T) {
	card := newExt4Card(t, "32M", "A001")
	files := map[string]string{}
	for _, n := range []string{"C0001", "C0002", "C0003", "C0004"} {
		files["PRIVATE/M4ROOT/CLIP/"+n+".MP4"] = "rand:500000"
		files["PRIVATE/M4ROOT/CLIP/"+n+"M01.XML"] = sidecar(t, "sony_nrt.xml")
	}
	writeTree(t, card.Dir, files)
	dst := filepath.Join(testutil.MountTmpfs(t, "64m"), "A001")
	copied := 0
	res, err := Offload(context.Background(), card.Dir, dst, Options{
		AfterCopy: func(rel, _ string) {
			copied++
			if copied == 3 {
				card.Pull()
			}
		},
	})
	if !errors.Is(err, ErrSourceGone) || res.Status != StatusFailed || res.FailedPath == "" {
		t.Fatalf("pulled card: err %v, result %+v", err, res)
	}
	if ascmhl.Exists(dst) {
		t.Fatal("ascmhl written for an incomplete offload")
	}
	if _, err := os.Stat(filepath.Join(dst, StateName)); err != nil {
		t.Fatalf("no progress file after a failed offload: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dst, filepath.FromSlash(res.FailedPath))); err == nil {
		t.Fatalf("failed file %s presented under its final name", res.FailedPath)
	}

	card.Insert()
	opened := map[string]int{}
	res2, err := Offload(context.Background(), card.Dir, dst, Options{
		SourceReader: func(rel string, f *os.File) io.ReadCloser {
			opened[rel]++
			return f
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Files 1-2 were verified before the pull; 3 was copied but the card
	// vanished before it was recorded or while 4 was opened.
	if res2.Resumed < 2 || res2.Resumed+len(opened) != len(files) {
		t.Fatalf("resumed %d, reopened %v", res2.Resumed, opened)
	}
	for _, f := range res2.Files {
		if f.Resumed && opened[f.Path] > 0 {
			t.Fatalf("%s was resumed and read again", f.Path)
		}
	}
	sameTree(t, card.Dir, dst)
	noLeftovers(t, dst)
	if rep, err := ascmhl.Verify(context.Background(), dst); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %s", err, rep)
	}
	refVerify(t, dst)
}

// A file verified by an earlier run but damaged at the destination since
// (same size and mtime) is not trusted on resume: it is copied again.
func TestOffloadResumeRechecksDestination(t *testing.T) {
	card := testutil.MountTmpfs(t, "8m")
	writeTree(t, card, map[string]string{"DCIM/100GOPRO/GX010001.MP4": "rand:300000", "DCIM/100GOPRO/GX010002.MP4": "rand:300000"})
	dst := filepath.Join(testutil.MountTmpfs(t, "8m"), "card")
	_, err := Offload(context.Background(), card, dst, Options{AfterCopy: func(rel, _ string) {
		if rel == "DCIM/100GOPRO/GX010001.MP4" {
			// file 2 vanishes: the first run fails after verifying file 1
			os.Remove(filepath.Join(card, "DCIM/100GOPRO/GX010002.MP4"))
		}
	}})
	if !errors.Is(err, ErrReadSource) {
		t.Fatalf("first run: %v", err)
	}
	writeTree(t, card, map[string]string{"DCIM/100GOPRO/GX010002.MP4": "rand:300000"})
	p := filepath.Join(dst, "DCIM/100GOPRO/GX010001.MP4")
	fi, _ := os.Stat(p)
	data, _ := os.ReadFile(p)
	data[100] ^= 0xff
	os.WriteFile(p, data, 0o644)
	os.Chtimes(p, fi.ModTime(), fi.ModTime())

	res, err := Offload(context.Background(), card, dst, Options{})
	if err != nil || res.Resumed != 0 || res.Copied != res.Bytes {
		t.Fatalf("resume over a damaged copy: %v %+v", err, res)
	}
	sameTree(t, card, dst)
}

type failingReader struct {
	r     io.ReadCloser
	after int64
	n     int64
}

func (f *failingReader) Read(b []byte) (int, error) {
	if f.n >= f.after {
		return 0, &fs.PathError{Op: "read", Path: "card", Err: syscall.EIO}
	}
	if int64(len(b)) > f.after-f.n {
		b = b[:f.after-f.n]
	}
	n, err := f.r.Read(b)
	f.n += int64(n)
	return n, err
}
func (f *failingReader) Close() error { return f.r.Close() }

func TestOffloadFailures(t *testing.T) {
	tree := map[string]string{"DCIM/100MSDCF/DSC00001.JPG": "rand:200000", "DCIM/100MSDCF/DSC00002.JPG": "rand:200000", "DCIM/100MSDCF/DSC00003.JPG": "rand:200000"}
	for _, tc := range []struct {
		name     string
		dstSize  string
		tree     map[string]string
		opts     func(card string) Options
		want     error
		wantPath string
	}{
		{
			name: "corrupted byte on destination", dstSize: "16m", tree: tree, want: ErrMismatch, wantPath: "DCIM/100MSDCF/DSC00002.JPG",
			opts: func(string) Options {
				return Options{AfterCopy: func(rel, p string) {
					if rel == "DCIM/100MSDCF/DSC00002.JPG" {
						f, _ := os.OpenFile(p, os.O_RDWR, 0)
						b := make([]byte, 1)
						f.ReadAt(b, 1000)
						b[0] ^= 0x01
						f.WriteAt(b, 1000)
						f.Close()
					}
				}}
			},
		},
		{
			name: "read error on card", dstSize: "16m", tree: tree, want: ErrReadSource, wantPath: "DCIM/100MSDCF/DSC00003.JPG",
			opts: func(string) Options {
				return Options{SourceReader: func(rel string, f *os.File) io.ReadCloser {
					if !strings.HasSuffix(rel, "DSC00003.JPG") {
						return f
					}
					return &failingReader{r: f, after: 65536}
				}}
			},
		},
		{
			name: "destination full", dstSize: "256k", want: ErrNoSpace, wantPath: "CLIP/big.mxf",
			tree: map[string]string{"CLIP/big.mxf": "rand:2000000", "CLIP/a.xml": "<a/>"},
			opts: func(string) Options { return Options{BufferSize: 64 << 10} },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := testutil.MountTmpfs(t, "16m")
			writeTree(t, card, tc.tree)
			dst := filepath.Join(testutil.MountTmpfs(t, tc.dstSize), "card")
			res, err := Offload(context.Background(), card, dst, tc.opts(card))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if res.Status != StatusFailed || res.FailedPath != tc.wantPath || res.Reason == "" {
				t.Fatalf("result %+v", res)
			}
			if ascmhl.Exists(dst) {
				t.Fatal("ascmhl written for a failed offload")
			}
			if _, err := os.Stat(filepath.Join(dst, tc.wantPath)); err == nil {
				t.Fatal("failed file under its final name")
			}
			if _, err := os.Stat(filepath.Join(dst, tc.wantPath+PartialSuffix)); err == nil {
				t.Fatal("partial file left behind")
			}
			// A clean second run completes (the fault was transient).
			if tc.want != ErrNoSpace {
				res, err := Offload(context.Background(), card, dst, Options{})
				if err != nil || res.Resumed == 0 {
					t.Fatalf("second run: %v resumed %d", err, res.Resumed)
				}
				sameTree(t, card, dst)
			}
		})
	}
}

// A card that went through another offload tool: its history is checked,
// carried over and continued; a card that no longer matches it fails.
func TestOffloadContinuesCardHistory(t *testing.T) {
	src := filepath.Join(testdata, "ascmhl", "scenario_02", "file_server", "A002R2EC")
	card := testutil.MountTmpfs(t, "16m")
	for rel, data := range treeFiles(t, src) {
		writeTree(t, card, map[string]string{rel: string(data)})
	}
	dst := filepath.Join(testutil.MountTmpfs(t, "16m"), "A002R2EC")
	res, err := Offload(context.Background(), card, dst, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.CardHistory || !strings.HasPrefix(res.Generation, "0003_A002R2EC_") {
		t.Fatalf("result %+v", res)
	}
	h, err := ascmhl.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Chain) != 3 || h.Chain[0].Hash != "c43qQABrjeiU3kteaNFtgwufQRLKxgMJEZfNSj6LcZ8fKwB568U8As9eScRsnb64NfqiAYzjNUXs81tAxPB77PUThb" {
		t.Fatalf("chain %+v", h.Chain)
	}
	for _, e := range h.Latest().Entries {
		if e.IsDir {
			continue
		}
		for _, v := range e.Hashes {
			if v.Action != ascmhl.ActionVerified {
				t.Fatalf("%s %s %s", e.Path, v.Format, v.Action)
			}
		}
	}
	if rep, err := ascmhl.Verify(context.Background(), dst); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %s", err, rep)
	}
	xsdCheck(t, dst)
	refVerify(t, dst)
	noLeftovers(t, dst)

	// The same card with a changed clip no longer matches its history.
	os.WriteFile(filepath.Join(card, "Clips", "A002C006_141024_R2EC.mov"), []byte("12345"), 0o644)
	dst2 := filepath.Join(filepath.Dir(dst), "again")
	res, err = Offload(context.Background(), card, dst2, Options{})
	if !errors.Is(err, ErrHistory) || res.FailedPath != "Clips/A002C006_141024_R2EC.mov" {
		t.Fatalf("tampered card: %v %+v", err, res)
	}
	if ascmhl.Exists(dst2) {
		t.Fatal("history written for a card that failed verification")
	}
	if _, err := os.Stat(filepath.Join(dst2, "Clips", "A002C006_141024_R2EC.mov")); err == nil {
		t.Fatal("a file that fails the card's history was put in place")
	}
	if _, err := Offload(context.Background(), card, filepath.Join(card, "x"), Options{}); err == nil {
		t.Fatal("offload into the card itself accepted")
	}
}
