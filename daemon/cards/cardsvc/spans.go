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

// ClipSpan is one span of a shot recorded over several clips, each span
// a clip of its own on its card (P2).
type ClipSpan struct {
	Clip         string `json:"clip"` // the span's clip name, e.g. 0001AB
	GlobalClipID string `json:"global_clip_id,omitempty"`
	Card         string `json:"card"`           // key of the card it was offloaded from
	Offset       int64  `json:"offset_in_shot"` // edit units
	Duration     int64  `json:"duration"`       // edit units
	Next         string `json:"next_clip_id,omitempty"`
}

// spanInfo reads the CLIP XML of each span of a P2 clip: the spans, and a
// map from each file of the clip to its span's OffsetInShot (a span's
// files all start with its clip name: 0001AB.MXF, 0001AB00.MXF,
// 0001AB.XML, 0001AB.BMP ...). Other layouts have neither.
func spanInfo(root, card string, c cards.Clip) (map[string]int64, []ClipSpan) {
	out := map[string]int64{}
	if c.Layout != cards.LayoutP2 {
		return out, nil
	}
	var spans []ClipSpan
	for _, rel := range c.Sidecars {
		if !strings.EqualFold(path.Ext(rel), ".xml") || !strings.HasSuffix(strings.ToUpper(path.Dir(rel)), "CLIP") {
			continue
		}
		m, err := cards.ParseSidecar(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil || m.Source != "p2_clip" {
			continue
		}
		spans = append(spans, ClipSpan{Clip: m.ClipName, GlobalClipID: m.GlobalClipID, Card: card,
			Offset: m.OffsetInShot, Duration: m.Duration, Next: m.NextClipID})
	}
	for _, p := range c.Parts() {
		base := strings.ToUpper(path.Base(p))
		for _, sp := range spans {
			if strings.HasPrefix(base, strings.ToUpper(sp.Clip)) {
				out[p] = sp.Offset
				break
			}
		}
	}
	sort.SliceStable(spans, func(i, j int) bool { return spans[i].Offset < spans[j].Offset })
	return out, spans
}

// incomplete reports whether a shot lacks spans the ones it has point to:
// the first does not start the shot, two spans do not meet (offset +
// duration of one is not the next one's offset), or the last names a next
// span that is not there (it is on a card not offloaded yet).
func incomplete(spans []ClipSpan) bool {
	if len(spans) == 0 {
		return false
	}
	if spans[0].Offset != 0 {
		return true
	}
	for i := 1; i < len(spans); i++ {
		if spans[i-1].Offset+spans[i-1].Duration != spans[i].Offset {
			return true
		}
	}
	return spans[len(spans)-1].Next != ""
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
	out.Spans = nil
	for _, sp := range prev.Spans {
		if sp.Card != thisCard {
			out.Spans = append(out.Spans, sp)
		}
	}
	out.Spans = append(out.Spans, next.Spans...)
	sort.SliceStable(out.Spans, func(i, j int) bool { return out.Spans[i].Offset < out.Spans[j].Offset })
	out.Incomplete = incomplete(out.Spans)
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
