package cards

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/daemon/cards/ascmhl"
	"github.com/ingestd/ingestd/internal/testutil"
)

// A destination planted with symlinks (at the date folder, the card folder,
// a partial name, a final name, ascmhl/) fails the offload with
// ErrDestTampered; the symlink target outside is left byte for byte, and no
// ascmhl generation is written.
func TestOffloadDestinationSymlinks(t *testing.T) {
	const clip = "DCIM/100GOPRO/GX010001.MP4"
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, vol, dst, victim string)
	}{
		{"date folder", func(t *testing.T, vol, dst, victim string) {
			testutil.Must(t, os.Symlink(filepath.Dir(victim), filepath.Join(vol, "2026-02-01")))
		}},
		{"card folder", func(t *testing.T, vol, dst, victim string) {
			testutil.Must(t, os.MkdirAll(filepath.Dir(dst), 0o755))
			testutil.Must(t, os.Symlink(filepath.Dir(victim), dst))
		}},
		{"partial name", func(t *testing.T, vol, dst, victim string) {
			testutil.Must(t, os.MkdirAll(filepath.Join(dst, "DCIM/100GOPRO"), 0o755))
			testutil.Must(t, os.Symlink(victim, filepath.Join(dst, clip+PartialSuffix)))
		}},
		{"dangling partial name", func(t *testing.T, vol, dst, victim string) {
			testutil.Must(t, os.MkdirAll(filepath.Join(dst, "DCIM/100GOPRO"), 0o755))
			testutil.Must(t, os.Symlink(victim+".new", filepath.Join(dst, clip+PartialSuffix)))
		}},
		{"final name", func(t *testing.T, vol, dst, victim string) {
			testutil.Must(t, os.MkdirAll(filepath.Join(dst, "DCIM/100GOPRO"), 0o755))
			testutil.Must(t, os.Symlink(victim, filepath.Join(dst, clip)))
		}},
		{"sub folder", func(t *testing.T, vol, dst, victim string) {
			testutil.Must(t, os.MkdirAll(dst, 0o755))
			testutil.Must(t, os.Symlink(filepath.Dir(victim), filepath.Join(dst, "DCIM")))
		}},
		{"ascmhl folder", func(t *testing.T, vol, dst, victim string) {
			testutil.Must(t, os.MkdirAll(dst, 0o755))
			testutil.Must(t, os.Symlink(filepath.Dir(victim), filepath.Join(dst, ascmhl.FolderName)))
		}},
		{"fifo at the partial name", func(t *testing.T, vol, dst, victim string) {
			testutil.Must(t, os.MkdirAll(filepath.Join(dst, "DCIM/100GOPRO"), 0o755))
			testutil.Must(t, syscall.Mkfifo(filepath.Join(dst, clip+PartialSuffix), 0o644))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := testutil.MountTmpfs(t, "8m")
			writeTree(t, card, map[string]string{clip: "rand:200000", "DCIM/100GOPRO/GX010002.MP4": "rand:1000"})
			vol := testutil.MountTmpfs(t, "8m")
			outside := t.TempDir()
			victim := filepath.Join(outside, "victim")
			orig := []byte("precious bytes outside the volume\n")
			testutil.Must(t, os.WriteFile(victim, orig, 0o644))
			dst := filepath.Join(vol, "2026-02-01", "GOPRO01")
			tc.plant(t, vol, dst, victim)

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := Offload(ctx, card, dst, Options{DestRoot: vol})
			if !errors.Is(err, ErrDestTampered) || res.Status != StatusFailed || !strings.Contains(res.Reason, ErrDestTampered.Error()) {
				t.Fatalf("err %v, status %s, reason %q", err, res.Status, res.Reason)
			}
			if got, _ := os.ReadFile(victim); !bytes.Equal(got, orig) {
				t.Fatalf("outside file changed: %q", got)
			}
			ents, _ := os.ReadDir(outside)
			if len(ents) != 1 {
				t.Fatalf("files created outside the volume: %v", ents)
			}
			if fi, err := os.Lstat(filepath.Join(dst, ascmhl.FolderName)); err == nil && fi.IsDir() {
				t.Fatal("ascmhl generation written for a tampered destination")
			}
		})
	}
}

// A regular partial file (an interrupted run) is started over, and a
// regular file at the final name (an earlier copy) is replaced.
func TestOffloadReplacesOwnLeftovers(t *testing.T) {
	card := testutil.MountTmpfs(t, "8m")
	writeTree(t, card, map[string]string{"DCIM/100GOPRO/GX010001.MP4": "rand:200000", "DCIM/100GOPRO/GX010002.MP4": "rand:3000"})
	vol := testutil.MountTmpfs(t, "8m")
	dst := filepath.Join(vol, "card")
	writeTree(t, dst, map[string]string{"DCIM/100GOPRO/GX010001.MP4" + PartialSuffix: "half", "DCIM/100GOPRO/GX010002.MP4": "old copy"})
	res, err := Offload(context.Background(), card, dst, Options{DestRoot: vol})
	if err != nil || res.Status != StatusOffloaded {
		t.Fatalf("%v %+v", err, res)
	}
	sameTree(t, card, dst)
	noLeftovers(t, dst)
}

// FIFOs, symlinks and device nodes on a card are not followed nor read:
// they are reported in Result.Skipped and the rest of the card is copied.
func TestOffloadSkipsNonRegularCardEntries(t *testing.T) {
	card := testutil.MountTmpfs(t, "8m")
	writeTree(t, card, map[string]string{"DCIM/100GOPRO/GX010001.MP4": "rand:20000"})
	secret := filepath.Join(t.TempDir(), "secret")
	testutil.Must(t, os.WriteFile(secret, []byte("not on the card"), 0o600))
	testutil.Must(t, syscall.Mkfifo(filepath.Join(card, "DCIM/100GOPRO/GX010002.MP4"), 0o644))
	testutil.Must(t, os.Symlink(secret, filepath.Join(card, "DCIM/100GOPRO/GX010003.MP4")))
	testutil.Must(t, os.Symlink("/etc", filepath.Join(card, "DCIM/etc")))
	testutil.Must(t, syscall.Mknod(filepath.Join(card, "DCIM/zero"), syscall.S_IFCHR|0o644, int(1<<8|5)))
	vol := testutil.MountTmpfs(t, "8m")
	dst := filepath.Join(vol, "card")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := Offload(ctx, card, dst, Options{DestRoot: vol})
	if err != nil || res.Status != StatusOffloaded || len(res.Files) != 1 {
		t.Fatalf("%v %+v", err, res)
	}
	want := map[string]string{"DCIM/100GOPRO/GX010002.MP4": "FIFO", "DCIM/100GOPRO/GX010003.MP4": "symlink", "DCIM/etc": "symlink", "DCIM/zero": "device"}
	if len(res.Skipped) != len(want) {
		t.Fatalf("skipped %+v", res.Skipped)
	}
	for _, s := range res.Skipped {
		if w, ok := want[s.Path]; !ok || !strings.Contains(s.Reason, w) {
			t.Errorf("skipped %s: %q (want %q)", s.Path, s.Reason, w)
		}
	}
	if _, err := os.Lstat(filepath.Join(dst, "DCIM/100GOPRO/GX010003.MP4")); err == nil {
		t.Error("symlink copied")
	}
	rep, err := ascmhl.Verify(context.Background(), dst)
	if err != nil || !rep.OK() || len(rep.Verified) != 1 {
		t.Fatalf("verify %v %s", err, rep)
	}
}

// A card's ascmhl/ history is read within bounds: chain entries naming a
// file outside ascmhl/ are refused without reading it (nor hashing it into
// the reason), FIFOs and devices behind .mhl names are refused without
// blocking, and nothing is read past the caps.
func TestOffloadCardHistoryBounds(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "outside.mhl")
	testutil.Must(t, os.WriteFile(outside, []byte("<hashlist/>"), 0o644))
	md5Outside, _ := ascmhl.HashBytes(ascmhl.MD5, []byte("<hashlist/>"))
	chain := func(p string) string {
		return `<?xml version="1.0" encoding="UTF-8"?><ascmhldirectory xmlns="urn:ASC:MHL:DIRECTORY:v2.0"><hashlist sequencenr="1"><path>` +
			p + `</path><md5>00000000000000000000000000000000</md5></hashlist></ascmhldirectory>`
	}
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, asc string)
		want  string
	}{
		{"dotdot chain entry", func(t *testing.T, asc string) {
			rel, _ := filepath.Rel(asc, outside)
			testutil.Must(t, os.WriteFile(filepath.Join(asc, ascmhl.ChainName), []byte(chain(rel)), 0o644))
		}, "not a file name"},
		{"absolute chain entry", func(t *testing.T, asc string) {
			testutil.Must(t, os.WriteFile(filepath.Join(asc, ascmhl.ChainName), []byte(chain(outside)), 0o644))
		}, "not a file name"},
		{"fifo chain entry", func(t *testing.T, asc string) {
			testutil.Must(t, syscall.Mkfifo(filepath.Join(asc, "0001_x.mhl"), 0o644))
			testutil.Must(t, os.WriteFile(filepath.Join(asc, ascmhl.ChainName), []byte(chain("0001_x.mhl")), 0o644))
		}, "not a regular file"},
		{"symlink to /dev/zero", func(t *testing.T, asc string) {
			testutil.Must(t, os.Symlink("/dev/zero", filepath.Join(asc, "0001_x.mhl")))
			testutil.Must(t, os.WriteFile(filepath.Join(asc, ascmhl.ChainName), []byte(chain("0001_x.mhl")), 0o644))
		}, "symlink"},
		{"chain symlink to outside", func(t *testing.T, asc string) {
			testutil.Must(t, os.Symlink(outside, filepath.Join(asc, ascmhl.ChainName)))
		}, "symlink"},
		{"unlisted generation is a fifo", func(t *testing.T, asc string) {
			testutil.Must(t, syscall.Mkfifo(filepath.Join(asc, "0002_x.mhl"), 0o644))
			testutil.Must(t, os.WriteFile(filepath.Join(asc, ascmhl.ChainName), []byte(`<ascmhldirectory xmlns="urn:ASC:MHL:DIRECTORY:v2.0"/>`), 0o644))
		}, "not a regular file"},
		{"oversized chain", func(t *testing.T, asc string) {
			f, err := os.Create(filepath.Join(asc, ascmhl.ChainName))
			testutil.Must(t, err)
			testutil.Must(t, f.Truncate(ascmhl.MaxChainSize+1))
			f.Close()
		}, "larger than the limit"},
		{"ascmhl is a symlink", func(t *testing.T, asc string) {
			testutil.Must(t, os.Remove(asc))
			testutil.Must(t, os.Symlink(filepath.Dir(outside), asc))
		}, "symlink"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := testutil.MountTmpfs(t, "64m")
			writeTree(t, card, map[string]string{"DCIM/100GOPRO/GX010001.MP4": "rand:2000"})
			asc := filepath.Join(card, ascmhl.FolderName)
			testutil.Must(t, os.Mkdir(asc, 0o755))
			tc.plant(t, asc)
			vol := testutil.MountTmpfs(t, "8m")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			res, err := Offload(ctx, card, filepath.Join(vol, "card"), Options{DestRoot: vol, MHLFormats: []ascmhl.Format{ascmhl.MD5}})
			if !errors.Is(err, ErrHistory) || res.Status != StatusFailed || !strings.Contains(res.Reason, tc.want) {
				t.Fatalf("err %v, status %s, reason %q (want %q)", err, res.Status, res.Reason, tc.want)
			}
			if strings.Contains(res.Reason, md5Outside) {
				t.Fatalf("reason leaks the hash of a file outside the card: %s", res.Reason)
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("took %s", time.Since(start))
			}
		})
	}
}

// A file verified and renamed into place, then changed at the destination
// before the card is sealed (same size, time put back), or replaced by a
// symlink, fails the card: it is not declared safe.
func TestOffloadFinalCheckBeforeSeal(t *testing.T) {
	const a, b = "DCIM/100GOPRO/GX010001.MP4", "DCIM/100GOPRO/GX010002.MP4"
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, p string)
	}{
		{"rewritten in place", func(t *testing.T, p string) {
			fi, _ := os.Stat(p)
			data, _ := os.ReadFile(p)
			data[10] ^= 0xff
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			testutil.Must(t, err)
			f.WriteAt(data[10:11], 10)
			f.Close()
			testutil.Must(t, os.Chtimes(p, fi.ModTime(), fi.ModTime()))
		}},
		{"replaced by a symlink", func(t *testing.T, p string) {
			testutil.Must(t, os.Remove(p))
			testutil.Must(t, os.Symlink("/etc/hostname", p))
		}},
		{"replaced by a copy", func(t *testing.T, p string) {
			fi, _ := os.Stat(p)
			data, _ := os.ReadFile(p)
			testutil.Must(t, os.Remove(p))
			testutil.Must(t, os.WriteFile(p, data, 0o644))
			testutil.Must(t, os.Chtimes(p, fi.ModTime(), fi.ModTime()))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := testutil.MountTmpfs(t, "8m")
			writeTree(t, card, map[string]string{a: "rand:20000", b: "rand:20000"})
			vol := testutil.MountTmpfs(t, "8m")
			dst := filepath.Join(vol, "card")
			res, err := Offload(context.Background(), card, dst, Options{DestRoot: vol, AfterCopy: func(rel, _ string) {
				if rel == b {
					tc.tamper(t, filepath.Join(dst, a))
				}
			}})
			if !errors.Is(err, ErrDestTampered) || res.Status != StatusFailed || res.FailedPath != a {
				t.Fatalf("err %v, status %s, failed %s", err, res.Status, res.FailedPath)
			}
			if ascmhl.Exists(dst) {
				t.Fatal("sealed a tampered destination")
			}
		})
	}
}

// A pass that ended early (left behind, killed) leaves the partial files
// of the files it was writing: a retry on a destination with room for the
// card, but not for those on top of it, removes the partial files left
// for the card's files before it writes (the writer would start each over
// only when it gets to it).
func TestOffloadRemovesLeftoversFirst(t *testing.T) {
	card := testutil.MountTmpfs(t, "16m")
	writeTree(t, card, map[string]string{"CLIP/A.MP4": "rand:3145728", "CLIP/C.MP4": "rand:3145728", "Z.MP4": "rand:1048576"})
	vol := testutil.MountTmpfs(t, "8m")
	dst := filepath.Join(vol, "card")
	// One at the folder's root, one in a sub-folder.
	writeTree(t, dst, map[string]string{"Z.MP4" + PartialSuffix: "rand:3145728", "CLIP/C.MP4" + PartialSuffix: "rand:3145728"})
	res, err := Offload(context.Background(), card, dst, Options{DestRoot: vol, Logger: slog.New(slog.DiscardHandler)})
	if err != nil || res.Status != StatusOffloaded {
		t.Fatalf("%v %+v", err, res)
	}
	sameTree(t, card, dst)
	noLeftovers(t, dst)
}

// A card file named like one of ingestd's own files in a destination (the
// progress file, a partial file, a report) could be neither copied
// faithfully nor listed in the ASC MHL: the card fails before anything is
// copied, naming it, and is never shown safe. From a verified copy (a
// fill), the copy's own such files are not the card's.
func TestOffloadReservedNamesOnCard(t *testing.T) {
	for _, name := range []string{StateName, "CLIP/C0002.MP4" + PartialSuffix, ReportHTMLName, "CLIP/sub/" + ReportJSONName, "CLIP/" + StateName} {
		t.Run(name, func(t *testing.T) {
			card := t.TempDir()
			writeTree(t, card, map[string]string{"CLIP/C0001.MP4": "rand:20000", name: "planted"})
			dst := filepath.Join(t.TempDir(), "A001")
			res, err := Offload(context.Background(), card, dst, Options{Logger: slog.New(slog.DiscardHandler)})
			if !errors.Is(err, ErrReservedName) || res.FailedPath != name || !res.CardFailed || !strings.Contains(res.Reason, "rename") {
				t.Fatalf("err %v, failed %q, reason %q", err, res.FailedPath, res.Reason)
			}
			if _, err := os.Stat(filepath.Join(dst, "CLIP", "C0001.MP4")); err == nil {
				t.Error("a file was copied")
			}
		})
	}
	t.Run("fill from a copy", func(t *testing.T) {
		card := t.TempDir()
		writeTree(t, card, map[string]string{"CLIP/C0001.MP4": "rand:20000"})
		first := filepath.Join(t.TempDir(), "A001")
		if _, err := Offload(context.Background(), card, first, Options{Logger: slog.New(slog.DiscardHandler)}); err != nil {
			t.Fatal(err)
		}
		writeTree(t, first, map[string]string{ReportHTMLName: "<html>report</html>"})
		second := filepath.Join(t.TempDir(), "A001")
		if _, err := Offload(context.Background(), first, second, Options{Logger: slog.New(slog.DiscardHandler), FromCopy: true}); err != nil {
			t.Fatalf("fill: %v", err)
		}
	})
}

// A card file listed as a regular file and, by the time it is opened,
// replaced by a FIFO, a symlink or a folder fails the card as a change
// while read, like a listed file deleted: skipping it would leave a file
// the card listed with no copy, and the card called safe without it (a
// trial: card.safe, and the card ejected, with a 90 MB clip moved aside
// and a FIFO in its place).
func TestOffloadListedFileChangesType(t *testing.T) {
	const a, b = "CLIP/C0001.MP4", "CLIP/C0002.MP4"
	for _, tc := range []struct {
		name string
		swap func(t *testing.T, p string)
	}{
		{"fifo", func(t *testing.T, p string) {
			testutil.Must(t, os.Rename(p, p+".moved"))
			testutil.Must(t, unix.Mkfifo(p, 0o644))
		}},
		{"symlink", func(t *testing.T, p string) {
			testutil.Must(t, os.Rename(p, p+".moved"))
			testutil.Must(t, os.Symlink("/etc/hostname", p))
		}},
		{"folder", func(t *testing.T, p string) {
			testutil.Must(t, os.Rename(p, p+".moved"))
			testutil.Must(t, os.Mkdir(p, 0o755))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := testutil.MountTmpfs(t, "8m")
			writeTree(t, card, map[string]string{a: "rand:20000", b: "rand:30000"})
			x, y := t.TempDir(), t.TempDir()
			var once sync.Once // AfterCopy: once per destination
			res, err := OffloadMulti(context.Background(), card, []Destination{{Name: "x", Dir: x}, {Name: "y", Dir: y}},
				Options{Logger: slog.New(slog.DiscardHandler), AfterCopy: func(rel, _ string) {
					if rel == a {
						once.Do(func() { tc.swap(t, filepath.Join(card, b)) })
					}
				}})
			if !errors.Is(err, ErrReadSource) || res.Status != StatusFailed || res.FailedPath != b || !strings.Contains(err.Error(), "changed while read") {
				t.Fatalf("err %v, status %s, failed %q", err, res.Status, res.FailedPath)
			}
			for _, d := range res.Dests {
				if d.State == DestVerified {
					t.Fatalf("destination %s verified without %s", d.Name, b)
				}
			}
			for _, dst := range []string{x, y} {
				if ascmhl.Exists(dst) {
					t.Fatalf("%s sealed without %s", dst, b)
				}
			}
		})
	}
}

// A card file written to while read says which time moved: a rewrite
// that set the modification time back is told by its change time, not
// shown as the same modification time twice (a trial).
func TestWrittenWhileRead(t *testing.T) {
	at := func(s, ns int64) unix.Timespec { return unix.Timespec{Sec: s, Nsec: ns} }
	was := unix.Stat_t{Mtim: at(100, 5), Ctim: at(100, 5)}
	for _, tc := range []struct {
		name string
		now  unix.Stat_t
		want string
	}{
		{"modification time moved", unix.Stat_t{Mtim: at(200, 0), Ctim: at(200, 0)},
			"written to while read (modification time 1970-01-01T00:03:20Z, was 1970-01-01T00:01:40.000000005Z)"},
		{"set back", unix.Stat_t{Mtim: at(100, 5), Ctim: at(300, 0)},
			"written to while read (change time 1970-01-01T00:05:00Z, was 1970-01-01T00:01:40.000000005Z; modification time 1970-01-01T00:01:40.000000005Z, unchanged or set back)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := writtenWhileRead(was, tc.now).Error(); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
