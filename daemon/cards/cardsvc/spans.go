package cardsvc

import (
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ingestd/ingestd/daemon/cards"
)

// A shot recorded over several cards (P2 spanning: the camera goes on
// recording onto the next card when one fills) reaches the daemon as one
// clip per card, each with some spans. They share the shot's GlobalShotID,
// so the clip id is derived from it and the second card's parts join the
// clip the first card started, in shot order.

// shotID is the id of the spanned shot a clip belongs to, or "".
func shotID(c cards.Clip) string {
	if c.Meta == nil || c.Layout != cards.LayoutP2 {
		return ""
	}
	return c.Meta.GlobalShotID
}

// spanOffsets maps each file of a P2 clip to its span's OffsetInShot, read
// from the span's CLIP XML (a span's files all start with its clip name:
// 0001AB.MXF, 0001AB00.MXF, 0001AB.XML, 0001AB.BMP ...). Other layouts
// get an empty map.
func spanOffsets(root string, c cards.Clip) map[string]int64 {
	out := map[string]int64{}
	if c.Layout != cards.LayoutP2 {
		return out
	}
	type span struct {
		name   string
		offset int64
	}
	var spans []span
	for _, rel := range c.Sidecars {
		if !strings.EqualFold(path.Ext(rel), ".xml") || !strings.HasSuffix(strings.ToUpper(path.Dir(rel)), "CLIP") {
			continue
		}
		m, err := cards.ParseSidecar(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil || m.Source != "p2_clip" {
			continue
		}
		spans = append(spans, span{strings.ToUpper(m.ClipName), m.OffsetInShot})
	}
	for _, p := range c.Parts() {
		base := strings.ToUpper(path.Base(p))
		for _, sp := range spans {
			if strings.HasPrefix(base, sp.name) {
				out[p] = sp.offset
				break
			}
		}
	}
	return out
}

// putClip stores a clip record. A clip of a spanned shot already recorded
// from another card is merged: that card's parts are kept, this card's
// replace any it recorded before (a resumed offload), parts are ordered by
// role and then by their offset in the shot, and a whole-clip proxy cut
// from fewer parts is dropped so the new parts' proxies cut it again.
func (s *Service) putClip(doc ClipDoc) error {
	s.clipMu.Lock()
	defer s.clipMu.Unlock()
	var prev ClipDoc
	if doc.Meta != nil && doc.Meta.GlobalShotID != "" && s.cat.GetState(clipKey(doc.ID), &prev) == nil {
		doc = mergeClip(prev, doc)
	}
	if err := s.cat.PutState(clipKey(doc.ID), doc); err != nil {
		return err
	}
	return s.indexClipParts(doc)
}

// mergeClip joins the record of one card's spans (next) into the record
// of the same shot from earlier cards (prev).
func mergeClip(prev, next ClipDoc) ClipDoc {
	thisCard := next.CardKey
	out := prev
	out.Parts = nil
	for _, p := range prev.Parts {
		if p.Card != thisCard {
			out.Parts = append(out.Parts, p)
		}
	}
	out.Parts = append(out.Parts, next.Parts...)
	rank := map[string]int{"video": 0, "audio": 1, "sidecar": 2}
	sort.SliceStable(out.Parts, func(i, j int) bool {
		a, b := out.Parts[i], out.Parts[j]
		if rank[a.Role] != rank[b.Role] {
			return rank[a.Role] < rank[b.Role]
		}
		return a.Offset < b.Offset
	})
	out.Cards = nil
	for _, c := range prev.Cards {
		if c.Key != thisCard {
			out.Cards = append(out.Cards, c)
		}
	}
	out.Cards = append(out.Cards, next.Cards...)
	// The record's card, folder and metadata are those of the shot's first
	// span.
	if first(next) < first(prev) {
		out.Name, out.CardKey, out.CardLabel, out.Folder, out.OffloadAt, out.Meta = next.Name, next.CardKey, next.CardLabel, next.Folder, next.OffloadAt, next.Meta
	}
	sort.SliceStable(out.Cards, func(i, j int) bool { return cardOffset(out, out.Cards[i].Key) < cardOffset(out, out.Cards[j].Key) })
	if !sameParts(out.Parts, prev.Parts) {
		out.Proxy = nil
	}
	return out
}

// first is the lowest shot offset of a record's video parts.
func first(d ClipDoc) int64 {
	lo := int64(-1)
	for _, p := range d.Parts {
		if p.Role == "video" && (lo < 0 || p.Offset < lo) {
			lo = p.Offset
		}
	}
	return lo
}

func cardOffset(d ClipDoc, key string) int64 {
	lo := int64(-1)
	for _, p := range d.Parts {
		if p.Card == key && p.Role == "video" && (lo < 0 || p.Offset < lo) {
			lo = p.Offset
		}
	}
	return lo
}
