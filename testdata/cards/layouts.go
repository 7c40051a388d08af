package cards

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Tree is a card tree to write: files (slash path -> content) and folders
// that stay empty.
type Tree struct {
	Files map[string]string
	Empty []string
}

// Layouts lists the card layouts Skeleton knows, by the name
// daemon/cards.Detect gives them (every supported layout but "unknown").
var Layouts = []string{
	"dcim", "gopro", "sony_xavc", "sony_xdcam", "sony_xdcam_ex", "canon_cinema",
	"panasonic_p2", "avchd", "red", "blackmagic_braw", "arri_mxf",
}

// Skeleton is the tree a camera of layout writes, with the empty folders
// real cards carry (Sony, Canon and Panasonic cameras create their whole
// folder skeleton when formatting). Essence files are small stand-ins:
// these trees test copying and ASC MHL, not decoding.
func Skeleton(layout string) (Tree, error) {
	t := Tree{Files: map[string]string{}}
	f := func(p string) { t.Files[p] = "essence of " + p }
	switch layout {
	case "dcim":
		f("DCIM/100MSDCF/DSC00001.JPG")
		f("DCIM/100MSDCF/DSC00002.ARW")
		t.Empty = []string{"DCIM/101MSDCF", "MISC"}
	case "gopro":
		f("DCIM/100GOPRO/GX010001.MP4")
		f("DCIM/100GOPRO/GX020001.MP4")
		f("DCIM/100GOPRO/GL010001.LRV")
		f("DCIM/100GOPRO/GX010001.THM")
		t.Empty = []string{"MISC"}
	case "sony_xavc":
		f("PRIVATE/M4ROOT/CLIP/C0001.MP4")
		f("PRIVATE/M4ROOT/CLIP/C0001M01.XML")
		f("PRIVATE/M4ROOT/THMBNL/C0001T01.JPG")
		f("PRIVATE/M4ROOT/MEDIAPRO.XML")
		f("PRIVATE/M4ROOT/STATUS.BIN")
		t.Empty = []string{"PRIVATE/M4ROOT/GENERAL/SONY", "PRIVATE/M4ROOT/GENERAL/META", "PRIVATE/M4ROOT/SUB", "PRIVATE/M4ROOT/TAKE", "DCIM", "AVF_INFO"}
	case "sony_xdcam":
		f("XDROOT/Clip/C0001.MXF")
		f("XDROOT/Clip/C0001M01.XML")
		f("XDROOT/DISCMETA.XML")
		f("XDROOT/MEDIAPRO.XML")
		t.Empty = []string{"XDROOT/Edit", "XDROOT/Sub", "XDROOT/Take", "XDROOT/General/Sony", "XDROOT/General/Rdd18Meta"}
	case "sony_xdcam_ex":
		f("BPAV/CLPR/709_0001_01/709_0001_01.MP4")
		f("BPAV/CLPR/709_0001_01/709_0001_01M01.XML")
		f("BPAV/CLPR/709_0001_01/709_0001_01I01.PPN")
		f("BPAV/MEDIAPRO.XML")
		t.Empty = []string{"BPAV/TAKR", "BPAV/GENERAL"}
	case "canon_cinema":
		f("CONTENTS/CLIPS001/A001C001_260201AB_CANON/A001C001_260201AB_CANON.MXF")
		f("CONTENTS/CLIPS001/A001C001_260201AB_CANON/A001C001_260201AB_CANON.XML")
		f("CONTENTS/CLIPS001/INDEX.MIF")
		t.Empty = []string{"CONTENTS/CLIPS001/A001C002_260201CD_CANON", "CONTENTS/CLIPS002", "CONTENTS/GPS", "DCIM/100CANON", "MISC"}
	case "panasonic_p2":
		f("CONTENTS/VIDEO/0001AB.MXF")
		f("CONTENTS/AUDIO/0001AB00.MXF")
		f("CONTENTS/AUDIO/0001AB01.MXF")
		f("CONTENTS/CLIP/0001AB.XML")
		f("CONTENTS/ICON/0001AB.BMP")
		f("LASTCLIP.TXT")
		t.Empty = []string{"CONTENTS/PROXY", "CONTENTS/VOICE", "CONTENTS/WAVE", "CONTENTS/REAL", "CONTENTS/AVCLIP"}
	case "avchd":
		f("PRIVATE/AVCHD/BDMV/STREAM/00000.MTS")
		f("PRIVATE/AVCHD/BDMV/PLAYLIST/00000.MPL")
		f("PRIVATE/AVCHD/BDMV/CLIPINF/00000.CPI")
		f("PRIVATE/AVCHD/BDMV/INDEX.BDM")
		f("PRIVATE/AVCHD/BDMV/MOVIEOBJ.BDM")
		t.Empty = []string{"PRIVATE/AVCHD/BDMV/BACKUP/PLAYLIST", "PRIVATE/AVCHD/BDMV/BACKUP/CLIPINF", "PRIVATE/AVCHD/AVCHDTN", "DCIM"}
	case "red":
		f("A001_0201AB.RDM/A001_C001_0201CD.RDC/A001_C001_0201CD_001.R3D")
		f("A001_0201AB.RDM/A001_C001_0201CD.RDC/A001_C001_0201CD_002.R3D")
		f("A001_0201AB.RDM/A001_C001_0201CD.RDC/A001_C001_0201CD.RTN")
		t.Empty = []string{"A001_0201AB.RDM/A001_C002_0201EF.RDC"}
	case "blackmagic_braw":
		f("A001_02011015_C001.braw")
		f("A001_02011015_C001.sidecar")
		t.Empty = []string{"Proxy", ".Trash-1000"}
	case "arri_mxf":
		f("A001R1AB/A001C001_260201_R1AB.mxf")
		f("A001R1AB/A001C001_260201_R1AB.xml")
		t.Empty = []string{"A001R1AB/A001C002_260201_R1AB"}
	default:
		return t, fmt.Errorf("cardgen: no skeleton for layout %q", layout)
	}
	return t, nil
}

// Extras is what DIT tools trip on, added to every skeleton: hidden files
// and folders a camera or a person left (copied), a deep tree, non-ASCII
// names (NFC), empty folders at several depths, and OS junk (the names in
// daemon/cards.OSJunk: neither copied nor listed). asciiOnly leaves out
// the non-ASCII names (for a filesystem driver without them).
func Extras(asciiOnly bool) Tree {
	t := Tree{Files: map[string]string{
		".camera_state":                     "hidden file at the root",
		".hidden_folder/settings.dat":       "hidden folder",
		"Notes/.keep":                       "hidden file in a folder",
		"Deep/" + deepPath(14) + "leaf.bin": "deep",
		// OS junk
		".DS_Store":                                   "finder",
		"Notes/._report.txt":                          "appledouble",
		".Trashes/501/GX010009.MP4":                   "trashed",
		".Spotlight-V100/Store-V2/idx":                "index",
		".fseventsd/fseventsd-uuid":                   "uuid",
		"System Volume Information/IndexerVolumeGuid": "guid",
		"$RECYCLE.BIN/desktop.ini":                    "ini",
	}, Empty: []string{"Empty", "Notes/Empty inside", "Deep/" + deepPath(6) + "empty", ".TemporaryItems"}}
	if !asciiOnly {
		t.Files["Notizen/Überblick_äöü.txt"] = "german"
		t.Files["Notizen/日本語_クリップ.txt"] = "japanese"
		t.Files["Notizen/Ça va – ñ.txt"] = "french, spanish, a space and a dash"
		t.Empty = append(t.Empty, "Leer_Ordner_ß", "Notizen/空")
	}
	return t
}

func deepPath(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "L%02d/", i)
	}
	return b.String()
}

// Merge returns a tree with every file and folder of both.
func Merge(a, b Tree) Tree {
	out := Tree{Files: map[string]string{}}
	for k, v := range a.Files {
		out.Files[k] = v
	}
	for k, v := range b.Files {
		out.Files[k] = v
	}
	out.Empty = append(append(out.Empty, a.Empty...), b.Empty...)
	return out
}

// Write writes t under root with every file's and folder's time set to
// mtime (files first, then folders deepest first).
func (t Tree) Write(root string, mtime time.Time) error {
	var dirs []string
	for rel, data := range t.Files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			return err
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			return err
		}
		for d := filepath.Dir(rel); d != "." && d != "/"; d = filepath.Dir(d) {
			dirs = append(dirs, d)
		}
	}
	for _, d := range t.Empty {
		if err := os.MkdirAll(filepath.Join(root, filepath.FromSlash(d)), 0o755); err != nil {
			return err
		}
		for ; d != "." && d != "/"; d = filepath.Dir(d) {
			dirs = append(dirs, d)
		}
	}
	sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
	for _, d := range dirs {
		os.Chtimes(filepath.Join(root, filepath.FromSlash(d)), mtime, mtime)
	}
	return nil
}
