package sequences

import (
	"os"
	"path"
	"path/filepath"
	"sync"
	"time"
	"unicode/utf8"
)

// listingTTL is how long a folder's frame counts are reused by IsFrame.
const listingTTL = 2 * time.Second

type listing struct {
	at     time.Time
	counts map[Key]int
}

// frameCache holds recent folder listings for IsFrame.
type frameCache struct {
	mu sync.Mutex
	m  map[string]listing
}

// IsFrame reports whether rel on volume is named as a frame and its
// folder holds at least min_frames files of the same pattern (base,
// extension, padding), counted on disk. Listings are cached for a short
// while, so a probe per frame of a large folder lists it rarely. For
// transcode's SetSkipImageProxy when sequences.frame_proxies is false.
func (s *Service) IsFrame(volume, rel string) bool {
	root, ok := s.vols[volume]
	if !ok || !utf8.ValidString(rel) {
		return false
	}
	f, ok := ParseFrame(path.Base(rel), s.cfg.Extensions)
	if !ok {
		return false
	}
	dir := path.Dir(rel)
	if dir == "." {
		dir = ""
	}
	k := folderKey(volume, dir)
	s.frames.mu.Lock()
	if s.frames.m == nil {
		s.frames.m = map[string]listing{}
	}
	l, ok := s.frames.m[k]
	s.frames.mu.Unlock()
	if !ok || time.Since(l.at) > listingTTL {
		l = listing{at: time.Now(), counts: map[Key]int{}}
		ents, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(dir)))
		if err != nil {
			return false
		}
		for _, e := range ents {
			if g, ok := ParseFrame(e.Name(), s.cfg.Extensions); ok && e.Type().IsRegular() {
				l.counts[Key{g.Base, g.Ext, g.Width}]++
			}
		}
		s.frames.mu.Lock()
		if len(s.frames.m) > 1024 {
			clear(s.frames.m)
		}
		s.frames.m[k] = l
		s.frames.mu.Unlock()
	}
	return l.counts[Key{f.Base, f.Ext, f.Width}] >= s.cfg.MinFrames
}
