package cards

import (
	"fmt"

	"github.com/ingestd/ingestd/daemon/cards/ascmhl"
	"github.com/ingestd/ingestd/internal/safefs"
)

// OSJunk are the names operating systems (not cameras) leave on a card:
// volume bookkeeping folders of Linux, macOS and Windows, Finder's
// .DS_Store and AppleDouble "._*" companions. They are matched at any depth
// (ASC MHL ignore patterns: a plain name matches a file or folder of that
// name anywhere, "._*" any name starting with "._"). A card entry matching
// one is consistently neither copied nor listed in the ASC MHL: the offload
// skips it (it is not reported as skipped), and every generation written
// lists these patterns among its ignore patterns, so the reference tool
// skips them too if they ever appear in the offloaded folder.
//
// Every other entry is copied and listed, hidden ones (".foo") included,
// and every folder is created at the destination, empty ones included.
var OSJunk = []string{
	"lost+found",                // ext2/3/4 fsck
	".Trashes",                  // macOS trash on removable volumes
	".Spotlight-V100",           // macOS Spotlight index
	".fseventsd",                // macOS FSEvents log
	".TemporaryItems",           // macOS
	".DocumentRevisions-V100",   // macOS versions store
	"System Volume Information", // Windows
	"$RECYCLE.BIN",              // Windows recycle bin
	".DS_Store",                 // Finder view settings (also the reference tool's default)
	"._*",                       // AppleDouble: resource forks and xattrs written by macOS on FAT/exFAT
}

// IsOSJunk reports whether the card-relative path rel (slash-separated)
// names OS junk that is neither copied nor listed (OSJunk).
func IsOSJunk(rel string, isDir bool) bool {
	if rel == "." || rel == "" {
		return false
	}
	return ascmhl.Ignored(OSJunk, rel, isDir)
}

// makeDirs creates every folder of the card (dirs, from list) in the
// destination folder dir, empty ones too, so the offloaded folder is what
// the MHL lists. Everything is created relative to dir held open: nothing
// is followed through a symlink.
func makeDirs(dir *safefs.Dir, dirs []srcFile) error {
	for _, d := range dirs {
		if d.rel == "." {
			continue
		}
		sub, err := dir.MkdirAll(d.rel, 0o755)
		if err != nil {
			return dstErr(err, fmt.Sprintf("create folder %s", d.rel))
		}
		sub.Close()
	}
	return nil
}
