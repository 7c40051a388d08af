package cards

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/internal/testutil"
)

const testdata = "../../testdata/cards"

// ext4Card is an ext4 image on a loop device, a stand-in for a card (vfat
// and exfat do not mount here). Insert and Eject mount and unmount it.
type ext4Card struct {
	t     *testing.T
	img   string
	Dir   string
	label string
}

func newExt4Card(t *testing.T, size, label string) *ext4Card {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.Need(t, "mkfs.ext4")
	c := &ext4Card{t: t, img: filepath.Join(t.TempDir(), "card.img"), Dir: t.TempDir(), label: label}
	testutil.Run(t, "truncate", "-s", size, c.img)
	testutil.Run(t, "mkfs.ext4", "-q", "-L", label, c.img)
	c.Insert()
	os.RemoveAll(filepath.Join(c.Dir, "lost+found"))
	t.Cleanup(func() { exec.Command("umount", "-l", c.Dir).Run() })
	return c
}

func (c *ext4Card) Insert() { testutil.Run(c.t, "mount", "-o", "loop", c.img, c.Dir) }

// Pull lazily unmounts the card, as when it is yanked out while open.
func (c *ext4Card) Pull() { exec.Command("umount", "-l", c.Dir).Run() }

// writeTree writes files (relative path -> content; "rand:N" for N random
// bytes) under root with a fixed modification time.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	mt := time.Date(2026, 2, 1, 10, 15, 0, 0, time.UTC)
	for rel, content := range files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data := []byte(content)
		var n int
		if _, err := fmt.Sscanf(content, "rand:%d", &n); err == nil {
			data = make([]byte, n)
			rand.Read(data)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, mt, mt)
	}
}

func sidecar(t *testing.T, name string, repl ...string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testdata, "sidecars", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer(repl...).Replace(string(data))
}

// cardTrees are realistic card layouts (random bytes for media).
func cardTrees(t *testing.T) map[Layout]map[string]string {
	p2 := func(clip, shot, offset string) string {
		return sidecar(t, "p2_clip.xml", "{{CLIP}}", clip, "{{SHOT}}", shot, "{{OFFSET}}", offset, "{{DURATION}}", "300", "{{TC}}", "01:00:00:00")
	}
	return map[Layout]map[string]string{
		LayoutGoPro: {
			"DCIM/100GOPRO/GX010001.MP4": "rand:3000", "DCIM/100GOPRO/GX020001.MP4": "rand:3000",
			"DCIM/100GOPRO/GX030001.MP4": "rand:1000", "DCIM/100GOPRO/GL010001.LRV": "rand:100",
			"DCIM/100GOPRO/GX010001.THM": "rand:10", "DCIM/100GOPRO/GX010002.MP4": "rand:2000",
			"MISC/version.txt": `{"camera type":"HERO12 Black"}`,
		},
		LayoutSonyXAVC: {
			"PRIVATE/M4ROOT/CLIP/C0001.MP4": "rand:4000", "PRIVATE/M4ROOT/CLIP/C0001M01.XML": sidecar(t, "sony_nrt.xml"),
			"PRIVATE/M4ROOT/CLIP/C0002.MP4": "rand:4000", "PRIVATE/M4ROOT/CLIP/C0002M01.XML": sidecar(t, "sony_nrt.xml"),
			"PRIVATE/M4ROOT/THMBNL/C0001T01.JPG": "rand:100", "PRIVATE/M4ROOT/MEDIAPRO.XML": "<MediaProfile/>",
			"PRIVATE/M4ROOT/STATUS.BIN": "rand:10",
		},
		LayoutSonyXDCAM: {
			"XDROOT/Clip/Clip0001.MXF": "rand:4000", "XDROOT/Clip/Clip0001M01.XML": sidecar(t, "sony_nrt.xml"),
			"XDROOT/Sub/Clip0001S03.MXF": "rand:400", "XDROOT/DISCMETA.XML": "<x/>",
		},
		LayoutP2: {
			"CONTENTS/CLIP/0001AB.XML": p2("0001AB", "SHOT1", "0"), "CONTENTS/VIDEO/0001AB.MXF": "rand:5000",
			"CONTENTS/AUDIO/0001AB00.MXF": "rand:500", "CONTENTS/AUDIO/0001AB01.MXF": "rand:500",
			"CONTENTS/CLIP/0002AB.XML": p2("0002AB", "SHOT1", "300"), "CONTENTS/VIDEO/0002AB.MXF": "rand:5000",
			"CONTENTS/AUDIO/0002AB00.MXF": "rand:500", "CONTENTS/AUDIO/0002AB01.MXF": "rand:500",
			"CONTENTS/CLIP/0003AC.XML": p2("0003AC", "SHOT2", "0"), "CONTENTS/VIDEO/0003AC.MXF": "rand:5000",
			"CONTENTS/AUDIO/0003AC00.MXF": "rand:500", "CONTENTS/AUDIO/0003AC01.MXF": "rand:500",
			"CONTENTS/ICON/0001AB.BMP": "rand:50", "LASTCLIP.TXT": "0003AC",
		},
		LayoutCanonCinema: {
			"CONTENTS/CLIPS001/A001C001_260201AB.MXF": "rand:3000",
			"CONTENTS/CLIPS001/A001C001_260201AB.XML": sidecar(t, "canon_clip.xml"),
			"CONTENTS/CLIPS001/INDEX.MIF":             "rand:10",
		},
		LayoutAVCHD: {
			"PRIVATE/AVCHD/BDMV/STREAM/00000.MTS": "rand:3000", "PRIVATE/AVCHD/BDMV/STREAM/00001.MTS": "rand:3000",
			"PRIVATE/AVCHD/BDMV/INDEX.BDM": "rand:10",
		},
		LayoutRED: {
			"A001_0201AB.RDM/A001_C001_0201XY.RDC/A001_C001_0201XY_001.R3D": "rand:3000",
			"A001_0201AB.RDM/A001_C001_0201XY.RDC/A001_C001_0201XY_002.R3D": "rand:1000",
			"A001_0201AB.RDM/A001_C001_0201XY.RDC/A001_C001_0201XY.RTN":     "rand:10",
		},
		LayoutBRAW: {
			"A001_02011015_C001.braw": "rand:3000", "A001_02011015_C001.sidecar": `{"tint":0}`,
		},
		LayoutARRI: {
			"A001R1AB/A001C001_260201_R1AB/A001C001_260201_R1AB.mxf": "rand:3000",
		},
		LayoutDCIM: {
			"DCIM/100MSDCF/DSC00001.JPG": "rand:1000", "DCIM/100MSDCF/DSC00001.ARW": "rand:3000",
			"DCIM/100MSDCF/DSC00002.JPG": "rand:1000",
		},
		LayoutUnknown: {
			"recordings/take1.wav": "rand:1000", "notes.txt": "hello",
		},
	}
}
