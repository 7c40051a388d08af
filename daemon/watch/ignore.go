package watch

import (
	"fmt"
	"path"
	"strings"
)

// MarkerName is the file ingestd writes at a volume's root to recognise it.
// It is a dotfile, so the default rules never catalog it.
const MarkerName = ".ingestd-volume"

// defaultNames are skipped wherever they appear (files and directories,
// with their subtrees). Dotfiles and dot-directories (which covers ._*,
// .DS_Store, .Trashes, .Spotlight-V100, .fseventsd and the marker) are
// skipped by rule, see Ignore.Match.
var defaultNames = map[string]bool{
	"Thumbs.db":    true,
	"thumbs.db":    true,
	"desktop.ini":  true,
	"Desktop.ini":  true,
	"@eaDir":       true, // Synology thumbnails
	"#recycle":     true, // Synology recycle bin
	"#snapshot":    true, // Synology snapshots
	"$RECYCLE.BIN": true, // Windows recycle bin on SMB shares
	"lost+found":   true,
	// The offload report written next to a card copy's ascmhl/
	// (daemon/cards/cardsvc): not footage.
	"ingestd-report.html": true,
	"ingestd-report.json": true,
}

// defaultSuffixes mark files still being downloaded or copied
// (".ingestd-partial": a camera-card offload in progress, daemon/cards).
var defaultSuffixes = []string{".part", ".partial", ".crdownload", ".ingestd-partial"}

// Ignore decides which names a walk and the watcher skip. The zero value
// applies only the built-in rules.
type Ignore struct {
	base []string // user globs without a slash: matched against the name
	full []string // user globs with a slash: matched against the relative path
}

// NewIgnore returns the built-in rules plus the user's globs (path.Match
// syntax). A glob without "/" matches a name at any depth; one with "/"
// matches the slash-separated path relative to the volume root.
func NewIgnore(globs []string) (*Ignore, error) {
	ig := &Ignore{}
	for _, g := range globs {
		g = strings.TrimPrefix(g, "/")
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("ignore pattern %q: %w", g, err)
		}
		if strings.Contains(g, "/") {
			ig.full = append(ig.full, strings.TrimSuffix(g, "/"))
		} else {
			ig.base = append(ig.base, g)
		}
	}
	return ig, nil
}

// Match reports whether the entry name, at rel (its slash-separated path
// relative to the volume root), is skipped. A skipped directory is not
// descended into.
func (ig *Ignore) Match(rel, name string) bool {
	if name == "" || name[0] == '.' || defaultNames[name] {
		return true
	}
	for _, s := range defaultSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	if ig == nil {
		return false
	}
	for _, g := range ig.base {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	for _, g := range ig.full {
		if ok, _ := path.Match(g, rel); ok {
			return true
		}
	}
	return false
}

// MatchPath applies Match to every element of rel, so a path under an
// ignored directory is ignored too.
func (ig *Ignore) MatchPath(rel string) bool {
	i := 0
	for {
		j := strings.IndexByte(rel[i:], '/')
		end := len(rel)
		if j >= 0 {
			end = i + j
		}
		if ig.Match(rel[:end], rel[i:end]) {
			return true
		}
		if j < 0 {
			return false
		}
		i = end + 1
	}
}
