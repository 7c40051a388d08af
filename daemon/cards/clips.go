package cards

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/ingestd/ingestd/storage"
)

// Clip is one logical clip on a card: its media parts in play order (GoPro
// chapters, RED spans, spanned P2 clips, the AVCHD streams of one playlist
// recording, XDCAM EX spans), separate audio essence (P2), and sidecars
// (XML, thumbnails, low-res proxies). Layout is the card's, or that of the
// folder the clip was found in (an AVCHD clip on a Sony XAVC card). Paths
// are slash-separated and relative to the card root, so they hold for an
// offloaded copy too.
type Clip struct {
	Name     string      `json:"name"`
	Layout   Layout      `json:"layout"`
	Video    []string    `json:"video"`
	Audio    []string    `json:"audio,omitempty"`
	Sidecars []string    `json:"sidecars,omitempty"`
	Meta     *CameraMeta `json:"meta,omitempty"`
}

// Parts lists every file of the clip.
func (c *Clip) Parts() []string {
	out := append(append(append([]string(nil), c.Video...), c.Audio...), c.Sidecars...)
	return out
}

var (
	// GX010001.MP4: G, encoding (X=HEVC, H=AVC, L=low-res), chapter 01, file 0001.
	reGoPro    = regexp.MustCompile(`^G([A-Z])(\d{2})(\d{4})\.([A-Z0-9]+)$`)
	reGoProOld = regexp.MustCompile(`^GOPR(\d{4})\.([A-Z0-9]+)$`) // first chapter, HERO5 and older
	reGoProGP  = regexp.MustCompile(`^GP(\d{2})(\d{4})\.([A-Z0-9]+)$`)
	reSonyMeta = regexp.MustCompile(`^(.+)M\d{2}\.XML$`)
	reSonyThm  = regexp.MustCompile(`^(.+)T\d{2}\.JPG$`)
)

// Clips groups the files of a card (or an offloaded copy) into clips and
// reads their sidecars. Files no clip claims are returned as single-file
// clips when they are media, and ignored otherwise (card-level indexes such
// as MEDIAPRO.XML or AVCHD's INDEX.BDM and playlists).
func Clips(root string, layout Layout) ([]Clip, error) {
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("list card %s: %w", p, err)
		}
		if d.IsDir() && p != root && (d.Name() == "ascmhl" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".") {
			rel, _ := filepath.Rel(root, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	g := &grouper{root: root, layout: layout, byKey: map[string]*Clip{}, claimed: map[string]bool{}}
	// AVCHD and XDCAM EX folders are recognised by their structure on any
	// card (Sony cameras write AVCHD beside XAVC S), before the layout's
	// own grouping; their clips carry their own Layout.
	g.avchd(files)
	g.xdcamEX(files)
	switch layout {
	case LayoutGoPro:
		g.gopro(files)
	case LayoutSonyXAVC, LayoutSonyXDCAM:
		g.sony(files)
	case LayoutP2:
		if err := g.p2(files); err != nil {
			return nil, err
		}
	case LayoutRED:
		g.red(files)
	}
	g.generic(files)
	sort.Slice(g.clips, func(i, j int) bool { return g.clips[i].Video[0] < g.clips[j].Video[0] })
	out := make([]Clip, len(g.clips))
	for i, c := range g.clips {
		out[i] = *c
	}
	return out, nil
}

type grouper struct {
	root    string
	layout  Layout
	clips   []*Clip
	byKey   map[string]*Clip
	claimed map[string]bool
}

func (g *grouper) clip(key, name string) *Clip {
	if c, ok := g.byKey[key]; ok {
		return c
	}
	c := &Clip{Name: name, Layout: g.layout}
	g.byKey[key] = c
	g.clips = append(g.clips, c)
	return c
}

func (g *grouper) sidecarMeta(c *Clip, rel string) {
	if c.Meta != nil || !strings.EqualFold(path.Ext(rel), ".xml") {
		return
	}
	if m, err := ParseSidecar(filepath.Join(g.root, filepath.FromSlash(rel))); err == nil {
		c.Meta = m
	}
}

// gopro groups chapters: GX010001, GX020001 ... are one clip (file 0001),
// with .LRV low-res and .THM thumbnails as sidecars.
func (g *grouper) gopro(files []string) {
	type part struct {
		chapter int
		rel     string
	}
	chapters := map[string][]part{}
	for _, rel := range files {
		dir, base := path.Split(rel)
		name := strings.ToUpper(base)
		var num, ext string
		chapter := 0
		if m := reGoPro.FindStringSubmatch(name); m != nil {
			num, ext = m[3], m[4]
			chapter, _ = strconv.Atoi(m[2])
		} else if m := reGoProOld.FindStringSubmatch(name); m != nil {
			num, ext, chapter = m[1], m[2], 0
		} else if m := reGoProGP.FindStringSubmatch(name); m != nil {
			num, ext = m[2], m[3]
			chapter, _ = strconv.Atoi(m[1])
		} else {
			continue
		}
		// The file number ties chapters, the low-res GL...LRV and the
		// thumbnail together; the letter after G is the encoding.
		key := dir + num
		g.claimed[rel] = true
		if ext == "MP4" || ext == "360" {
			chapters[key] = append(chapters[key], part{chapter, rel})
			continue
		}
		// Sidecars attach to the clip once its media is seen.
		c := g.clip(key, "")
		c.Sidecars = append(c.Sidecars, rel)
	}
	for key, parts := range chapters {
		sort.Slice(parts, func(i, j int) bool { return parts[i].chapter < parts[j].chapter })
		c := g.clip(key, "")
		for _, p := range parts {
			c.Video = append(c.Video, p.rel)
		}
		c.Name = strings.TrimSuffix(path.Base(parts[0].rel), path.Ext(parts[0].rel))
	}
	g.dropEmpty()
}

// sony groups C0001.MP4 with C0001M01.XML (NRT metadata) and C0001T01.JPG.
func (g *grouper) sony(files []string) {
	bases := map[string]string{} // upper base name -> clip key
	for _, rel := range files {
		base := strings.ToUpper(path.Base(rel))
		ext := path.Ext(base)
		if (ext == ".MP4" || ext == ".MXF") && !g.claimed[rel] {
			if strings.Contains(strings.ToUpper(rel), "/SUB/") {
				continue // XDCAM proxies: sidecars, below
			}
			name := strings.TrimSuffix(path.Base(rel), path.Ext(rel))
			c := g.clip("sony:"+strings.ToUpper(name), name)
			c.Video = append(c.Video, rel)
			bases[strings.ToUpper(name)] = "sony:" + strings.ToUpper(name)
			g.claimed[rel] = true
		}
	}
	for _, rel := range files {
		if g.claimed[rel] {
			continue
		}
		base := strings.ToUpper(path.Base(rel))
		var stem string
		if m := reSonyMeta.FindStringSubmatch(base); m != nil {
			stem = m[1]
		} else if m := reSonyThm.FindStringSubmatch(base); m != nil {
			stem = m[1]
		} else if strings.HasSuffix(base, "S03.MXF") {
			stem = strings.TrimSuffix(base, "S03.MXF")
		}
		if key, ok := bases[stem]; ok && stem != "" {
			c := g.byKey[key]
			c.Sidecars = append(c.Sidecars, rel)
			g.sidecarMeta(c, rel)
			g.claimed[rel] = true
		}
	}
}

// p2 reads every CONTENTS/CLIP/*.XML: the clip's video and audio MXF files
// (and ICON/PROXY/VOICE extras) become one clip; clips sharing a
// GlobalShotID (spanned recording) merge, ordered by OffsetInShot.
func (g *grouper) p2(files []string) error {
	upper := map[string]string{}
	for _, rel := range files {
		upper[strings.ToUpper(rel)] = rel
	}
	type p2clip struct {
		meta *CameraMeta
		xml  string
	}
	var list []p2clip
	for _, rel := range files {
		dir := strings.ToUpper(path.Dir(rel))
		if !strings.HasSuffix(dir, "CONTENTS/CLIP") || !strings.EqualFold(path.Ext(rel), ".xml") {
			continue
		}
		m, err := ParseSidecar(filepath.Join(g.root, filepath.FromSlash(rel)))
		if err != nil || m.Source != "p2_clip" {
			continue
		}
		list = append(list, p2clip{m, rel})
	}
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].meta.GlobalShotID != list[j].meta.GlobalShotID {
			return list[i].meta.GlobalShotID < list[j].meta.GlobalShotID
		}
		return list[i].meta.OffsetInShot < list[j].meta.OffsetInShot
	})
	for _, pc := range list {
		contents := path.Dir(path.Dir(pc.xml))
		key := "p2:" + pc.meta.ClipName
		if pc.meta.GlobalShotID != "" {
			key = "p2shot:" + pc.meta.GlobalShotID
		}
		_, existed := g.byKey[key]
		c := g.clip(key, pc.meta.ClipName)
		if !existed {
			c.Meta = pc.meta
		}
		g.claimed[pc.xml] = true
		c.Sidecars = append(c.Sidecars, pc.xml)
		find := func(sub, name string) (string, bool) {
			rel, ok := upper[strings.ToUpper(path.Join(contents, sub, name))]
			return rel, ok
		}
		for _, v := range pc.meta.VideoFiles {
			if rel, ok := find("VIDEO", v); ok {
				c.Video = append(c.Video, rel)
				g.claimed[rel] = true
			}
		}
		for _, a := range pc.meta.AudioFiles {
			if rel, ok := find("AUDIO", a); ok {
				c.Audio = append(c.Audio, rel)
				g.claimed[rel] = true
			}
		}
		for _, extra := range [][2]string{{"ICON", ".BMP"}, {"PROXY", ".MP4"}, {"PROXY", ".BIN"}, {"VOICE", ".WAV"}} {
			if rel, ok := find(extra[0], pc.meta.ClipName+extra[1]); ok {
				c.Sidecars = append(c.Sidecars, rel)
				g.claimed[rel] = true
			}
		}
		if len(c.Video) == 0 && len(c.Audio) > 0 {
			// audio-only clip: its first audio file stands for the clip
			c.Video, c.Audio = c.Audio[:1], c.Audio[1:]
		}
	}
	g.dropEmpty()
	return nil
}

// red makes each .RDC folder one clip, its .R3D spans in name order.
func (g *grouper) red(files []string) {
	for _, rel := range files {
		dir := path.Dir(rel)
		if !strings.EqualFold(path.Ext(dir), ".RDC") {
			continue
		}
		name := strings.TrimSuffix(path.Base(dir), path.Ext(dir))
		c := g.clip("red:"+dir, name)
		g.claimed[rel] = true
		if strings.EqualFold(path.Ext(rel), ".R3D") {
			c.Video = append(c.Video, rel)
		} else {
			c.Sidecars = append(c.Sidecars, rel)
		}
	}
	g.dropEmpty()
}

// generic groups what is left by folder and base name: media files are the
// clip, files sharing their base name (XML, THM, XMP, sidecar) attach to it.
func (g *grouper) generic(files []string) {
	stem := func(rel string) string {
		return strings.ToUpper(strings.TrimSuffix(rel, path.Ext(rel)))
	}
	for _, rel := range files {
		if _, media := storage.MediaExtOf(rel); g.claimed[rel] || !media {
			continue
		}
		key := "gen:" + stem(rel)
		if c, ok := g.byKey[key]; ok {
			// several media files with one base name (RAW+JPG): one clip
			c.Video = append(c.Video, rel)
		} else {
			c := g.clip(key, strings.TrimSuffix(path.Base(rel), path.Ext(rel)))
			c.Video = append(c.Video, rel)
		}
		g.claimed[rel] = true
	}
	for _, rel := range files {
		if g.claimed[rel] {
			continue
		}
		s := stem(rel)
		// A001C001.MXF + A001C001.XML, BRAW's A001.braw + A001.sidecar,
		// and "clip.MP4.xml"-style names.
		for _, k := range []string{"gen:" + s, "gen:" + strings.TrimSuffix(s, path.Ext(s))} {
			if c, ok := g.byKey[k]; ok {
				c.Sidecars = append(c.Sidecars, rel)
				g.sidecarMeta(c, rel)
				g.claimed[rel] = true
				break
			}
		}
	}
}

func (g *grouper) dropEmpty() {
	kept := g.clips[:0]
	for _, c := range g.clips {
		if len(c.Video) > 0 {
			kept = append(kept, c)
			continue
		}
		for k, v := range g.byKey {
			if v == c {
				delete(g.byKey, k)
			}
		}
		for _, s := range c.Sidecars {
			delete(g.claimed, s) // let the generic pass place them
		}
	}
	g.clips = kept
}
