// Package cards recognises camera cards and offloads them: which camera
// layout a mounted card has, how to identify the card again when it is
// re-inserted, which files form one logical clip and what the camera wrote
// in its sidecars, and a verified copy of the whole card onto a volume with
// an ASC MHL history (package cards/ascmhl). The copy is a faithful clone
// of what that MHL lists: every folder (empty ones too), hidden files, and
// nothing of the OS junk in OSJunk (cardtree.go). A card's own ASC MHL
// history is verified and continued; its checksum manifests (.md5,
// .xxhash) are checked and reported (manifest.go).
//
// It works on paths it is given and never writes to a card. It must not
// touch the catalog, the watcher or the network: the daemon wires mount
// detection, events and cataloging around it.
package cards

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/ingestd/ingestd/daemon/api/wire"
)

// Layout names a camera card layout. The values are stored in the catalog
// (storage.OriginInfo.CardLayout) and shown to the hub: never rename.
type Layout = wire.Layout

// Known layouts.
const (
	LayoutUnknown     Layout = "unknown"
	LayoutDCIM        Layout = "dcim"          // generic DCIM (stills cameras, phones, drones)
	LayoutGoPro       Layout = "gopro"         // DCIM/100GOPRO, chaptered GX01xxxx/GX02xxxx
	LayoutSonyXAVC    Layout = "sony_xavc"     // PRIVATE/M4ROOT/CLIP + NRT XML
	LayoutSonyXDCAM   Layout = "sony_xdcam"    // XDROOT/Clip + NRT XML
	LayoutSonyXDCAMEX Layout = "sony_xdcam_ex" // BPAV/CLPR/<clip>/<clip>.MP4, spans <cam>_<take>_01, _02
	LayoutCanonCinema Layout = "canon_cinema"  // CONTENTS/CLIPS001...
	LayoutP2          Layout = "panasonic_p2"  // CONTENTS/VIDEO, AUDIO, CLIP
	LayoutAVCHD       Layout = "avchd"         // PRIVATE/AVCHD/BDMV/STREAM (or AVCHD/BDMV, BDMV) + PLAYLIST
	LayoutRED         Layout = "red"           // *.RDM / *.RDC folders with .R3D
	LayoutBRAW        Layout = "blackmagic_braw"
	LayoutARRI        Layout = "arri_mxf" // ARRI reel folders: MXF (ARRIRAW, ProRes), ProRes MOV, .ari, .arx
)

var (
	reGoProDir   = regexp.MustCompile(`^\d{3}GOPRO$`)
	reCanonClips = regexp.MustCompile(`^CLIPS\d{3}$`)
	reARRIName   = regexp.MustCompile(`^[A-Z]\d{3}C\d{3}_\d{6}_[A-Z0-9]{4}`)
)

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// dirEntries lists a directory, treating a missing one as empty.
func dirEntries(p string) []os.DirEntry {
	ents, _ := os.ReadDir(p)
	return ents
}

// childDir finds a child directory by name, ignoring case (cards are FAT or
// exFAT, and tools upper- or lower-case names when copying).
func childDir(parent, name string) (string, bool) {
	for _, e := range dirEntries(parent) {
		if e.IsDir() && strings.EqualFold(e.Name(), name) {
			return filepath.Join(parent, e.Name()), true
		}
	}
	return "", false
}

func path2(root string, names ...string) (string, bool) {
	p := root
	for _, n := range names {
		var ok bool
		if p, ok = childDir(p, n); !ok {
			return "", false
		}
	}
	return p, true
}

// Detect identifies the layout of a card (or of an offloaded copy of one)
// rooted at root. It reads only directory listings, a few levels deep.
func Detect(root string) (Layout, error) {
	if !isDir(root) {
		return LayoutUnknown, fmt.Errorf("detect card layout %s: not a directory", root)
	}
	if contents, ok := childDir(root, "CONTENTS"); ok {
		_, video := childDir(contents, "VIDEO")
		_, clip := childDir(contents, "CLIP")
		if video || clip {
			return LayoutP2, nil
		}
		for _, e := range dirEntries(contents) {
			if e.IsDir() && reCanonClips.MatchString(strings.ToUpper(e.Name())) {
				return LayoutCanonCinema, nil
			}
		}
	}
	if _, ok := path2(root, "PRIVATE", "M4ROOT"); ok {
		return LayoutSonyXAVC, nil
	}
	if _, ok := childDir(root, "XDROOT"); ok {
		return LayoutSonyXDCAM, nil
	}
	if _, ok := path2(root, "BPAV", "CLPR"); ok {
		return LayoutSonyXDCAMEX, nil
	}
	if _, ok := path2(root, "PRIVATE", "AVCHD", "BDMV"); ok {
		return LayoutAVCHD, nil
	}
	// AVCHD copied without PRIVATE, and Blu-ray style BDMV at the root.
	if _, ok := path2(root, "AVCHD", "BDMV", "STREAM"); ok {
		return LayoutAVCHD, nil
	}
	if _, ok := path2(root, "BDMV", "STREAM"); ok {
		return LayoutAVCHD, nil
	}
	if dcim, ok := childDir(root, "DCIM"); ok {
		for _, e := range dirEntries(dcim) {
			if e.IsDir() && reGoProDir.MatchString(strings.ToUpper(e.Name())) {
				return LayoutGoPro, nil
			}
		}
	}
	// RED, BRAW and ARRI cards are recognised by what they hold, at most
	// three levels down (A001_C001_0101AB.RDC, A001_..._C001.braw,
	// A001R1AB/A001C001_..._R1AB.mxf or .mov (ProRes), ARRIRAW .ari and
	// .arx (HDE)).
	var found Layout
	stop := errors.New("stop")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		depth := strings.Count(rel, string(filepath.Separator))
		if d.IsDir() && rel != "." && (d.Name() == "ascmhl" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		name := strings.ToUpper(d.Name())
		ext := filepath.Ext(name)
		switch {
		case d.IsDir() && (ext == ".RDC" || ext == ".RDM"), ext == ".R3D":
			found = LayoutRED
		case !d.IsDir() && ext == ".BRAW":
			found = LayoutBRAW
		case !d.IsDir() && (ext == ".ARI" || ext == ".ARX" || ((ext == ".MXF" || ext == ".MOV") && reARRIName.MatchString(name))):
			found = LayoutARRI
		}
		if found != "" {
			return stop
		}
		if d.IsDir() && depth >= 3 {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil && !errors.Is(err, stop) {
		return LayoutUnknown, err
	}
	if found != "" {
		return found, nil
	}
	if _, ok := childDir(root, "DCIM"); ok {
		return LayoutDCIM, nil
	}
	return LayoutUnknown, nil
}
