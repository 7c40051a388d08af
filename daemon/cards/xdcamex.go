package cards

import (
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Sony XDCAM EX (SxS, "BPAV") cards keep one folder per clip in
// BPAV/CLPR: 709_0001_01/709_0001_01.MP4 with its NRT metadata
// (709_0001_01M01.XML), SMIL (.SMI), real-time metadata (R01.BIM) and
// picture pointers (I01.PPN); BPAV/TAKR/709_0001 holds the take's SMIL and
// NRT XML. A recording over 4 GB is split into spans of one take:
// 709_0001_01, 709_0001_02, ... (<camera>_<take>_<span>).

// reXDCAMEXClip splits a clip folder name into take and span.
var reXDCAMEXClip = regexp.MustCompile(`^(.+_\d{4})_(\d{2})$`)

// xdcamEX groups the spans of each take into one clip named after the take
// (709_0001), whatever layout the card was detected as: its Video is the
// spans' MP4 files in span order, its Sidecars every other file of the
// span folders (span by span) and then the files of BPAV/TAKR/<take>; Meta
// is read from the first span's M01.XML (from TAKR's when no span has
// one). Spans missing from the card (709_0001_01 and _03 without _02: the
// rest is on another card) do not stop the others from forming the clip,
// in order; nothing is invented for the gap. A clip folder whose name has no
// span number is a clip of its own. Its clips carry LayoutSonyXDCAMEX.
//
// BPAV/MEDIAPRO.XML and BPAV/CUEUP.XML index the whole card and are not
// claimed by design, nor is a TAKR folder whose take has no span on this
// card.
func (g *grouper) xdcamEX(files []string) {
	type span struct {
		n     int
		dir   string // .../BPAV/CLPR/709_0001_01
		files []string
	}
	takes := map[string][]*span{} // upper ".../BPAV" + "/" + take -> spans
	byDir := map[string]*span{}
	takr := map[string][]string{} // same key -> TAKR files
	var keys []string
	for _, rel := range files {
		if g.claimed[rel] {
			continue
		}
		parts := strings.Split(rel, "/")
		n := len(parts)
		if n < 4 || !strings.EqualFold(parts[n-4], "BPAV") {
			continue
		}
		bpav := strings.ToUpper(strings.Join(parts[:n-3], "/"))
		folder := parts[n-2]
		switch strings.ToUpper(parts[n-3]) {
		case "CLPR":
			dir := strings.Join(parts[:n-1], "/")
			s, ok := byDir[dir]
			if !ok {
				take, num := folder, 0
				if m := reXDCAMEXClip.FindStringSubmatch(folder); m != nil {
					take = m[1]
					num, _ = strconv.Atoi(m[2])
				}
				key := bpav + "/" + strings.ToUpper(take)
				if _, seen := takes[key]; !seen {
					keys = append(keys, key)
				}
				s = &span{n: num, dir: dir}
				byDir[dir] = s
				takes[key] = append(takes[key], s)
			}
			s.files = append(s.files, rel)
		case "TAKR":
			key := bpav + "/" + strings.ToUpper(folder)
			takr[key] = append(takr[key], rel)
		}
	}
	for _, key := range keys {
		spans := takes[key]
		sort.SliceStable(spans, func(i, j int) bool { return spans[i].n < spans[j].n })
		var c *Clip
		for _, s := range spans {
			base := path.Base(s.dir)
			var video string
			for _, rel := range s.files {
				if strings.EqualFold(path.Base(rel), base+".MP4") {
					video = rel
				}
			}
			if video == "" {
				continue // no essence in this span folder: the generic pass places its files
			}
			if c == nil {
				name := base
				if m := reXDCAMEXClip.FindStringSubmatch(base); m != nil {
					name = m[1]
				}
				c = g.clip("xdcamex:"+key, name)
				c.Layout = LayoutSonyXDCAMEX
			}
			c.Video = append(c.Video, video)
			g.claimed[video] = true
			for _, rel := range s.files {
				if rel == video {
					continue
				}
				c.Sidecars = append(c.Sidecars, rel)
				g.sidecarMeta(c, rel)
				g.claimed[rel] = true
			}
		}
		if c == nil {
			continue
		}
		for _, rel := range takr[key] {
			c.Sidecars = append(c.Sidecars, rel)
			g.sidecarMeta(c, rel)
			g.claimed[rel] = true
		}
	}
}
