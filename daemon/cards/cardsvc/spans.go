package cardsvc

import (
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/storage"
)

// A shot recorded over several cards (the camera goes on recording onto
// the next card when one fills) reaches the daemon as one clip per card,
// each with some spans. P2 spans share the shot's GlobalShotID; XDCAM EX
// spans share the take name (709_0001, spans _01, _02 ...) of one camera
// (the serial number in their NRT XML). The clip id is derived from that,
// so the second card's parts join the clip the first card started, in shot
// order.

// shotID is the id of the spanned shot a clip belongs to, or "".
func shotID(c cards.Clip) string {
	if c.Meta == nil {
		return ""
	}
	switch c.Layout {
	case cards.LayoutP2:
		return c.Meta.GlobalShotID
	case cards.LayoutSonyXDCAMEX:
		if c.Meta.Serial != "" {
			return "xdcamex\x00" + c.Meta.Serial + "\x00" + c.Name
		}
	}
	return ""
}

// reSpanDir is an XDCAM EX span folder: <camera>_<take>_<span>.
var reSpanDir = regexp.MustCompile(`^.+_\d{4}_(\d{2})$`)

// xdcamEXSpans maps each file of an XDCAM EX clip to the number of the
// span folder it is in, and lists the spans.
func xdcamEXSpans(card string, c cards.Clip) (map[string]int, []ClipSpan) {
	no := map[string]int{}
	var spans []ClipSpan
	for _, v := range c.Video {
		dir := path.Base(path.Dir(v))
		if m := reSpanDir.FindStringSubmatch(dir); m != nil {
			n, _ := strconv.Atoi(m[1])
			spans = append(spans, ClipSpan{Clip: dir, Card: card, Span: n})
		}
	}
	for _, p := range c.Parts() {
		if m := reSpanDir.FindStringSubmatch(path.Base(path.Dir(p))); m != nil {
			no[p], _ = strconv.Atoi(m[1])
		}
	}
	sort.SliceStable(spans, func(i, j int) bool { return spans[i].Span < spans[j].Span })
	return no, spans
}

// ClipSpan is one span of a shot recorded over several clips, each span
// a clip of its own on its card (P2).
type ClipSpan = storage.ClipSpan

// spanInfo reads the CLIP XML of each span of a P2 clip: the spans, and a
// map from each file of the clip to its span's OffsetInShot (a span's
// files all start with its clip name: 0001AB.MXF, 0001AB00.MXF,
// 0001AB.XML, 0001AB.BMP ...). Other layouts have neither.
func spanInfo(root, card string, c cards.Clip) (map[string]int64, map[string]int, []ClipSpan) {
	out := map[string]int64{}
	if c.Layout == cards.LayoutSonyXDCAMEX {
		no, spans := xdcamEXSpans(card, c)
		return out, no, spans
	}
	if c.Layout != cards.LayoutP2 {
		return out, nil, nil
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
	return out, nil, spans
}

// incomplete reports whether a shot lacks spans the ones it has point to:
// the first does not start the shot, two spans do not meet (offset +
// duration of one is not the next one's offset), or the last names a next
// span that is not there (it is on a card not offloaded yet).
func incomplete(spans []ClipSpan) bool {
	if len(spans) == 0 {
		return false
	}
	if spans[0].Span > 0 {
		// XDCAM EX: spans number from 1; what follows the last is unknown.
		for i, sp := range spans {
			if sp.Span != i+1 {
				return true
			}
		}
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

// putClip stores a clip record and returns its id. A clip of a spanned
// shot (shot) already recorded from another card is merged: that card's
// parts are kept, this card's replace any it recorded before (a resumed
// offload), parts are ordered by role and then by their place in the shot,
// and a whole-clip proxy cut from fewer parts is dropped so the new parts'
// proxies cut it again. XDCAM EX take names repeat when a camera's counter
// is reset: spans that do not continue the recorded ones (overlapping span
// numbers, or a gap between the cards) are stored as a clip of their own
// under own, the id the clip would have without a shot.
func (s *Service) putClip(doc ClipDoc, shot bool, own string) (string, error) {
	s.clipMu.Lock()
	defer s.clipMu.Unlock()
	if shot {
		if prev, err := s.cat.Clip(doc.ID); err == nil {
			if continues(prev, doc) {
				doc = mergeClip(prev, doc)
			} else {
				doc.ID = own
			}
		}
	}
	if err := s.cat.PutClip(doc); err != nil {
		return "", err
	}
	return doc.ID, s.indexClipParts(doc)
}

// continues reports whether next's spans may join prev's: always for P2
// (one GlobalShotID is one shot); for XDCAM EX when the span numbers of
// the other cards and of next's card are disjoint and meet.
func continues(prev, next ClipDoc) bool {
	if len(next.Spans) == 0 || next.Spans[0].Span == 0 {
		return true
	}
	var other []int
	for _, sp := range prev.Spans {
		if sp.Card != next.CardKey {
			other = append(other, sp.Span)
		}
	}
	if len(other) == 0 {
		return true
	}
	sort.Ints(other)
	lo, hi := next.Spans[0].Span, next.Spans[len(next.Spans)-1].Span
	for _, n := range other {
		if n >= lo && n <= hi {
			return false
		}
	}
	return lo == other[len(other)-1]+1 || hi+1 == other[0]
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
		return place(a) < place(b)
	})
	out.Spans = nil
	for _, sp := range prev.Spans {
		if sp.Card != thisCard {
			out.Spans = append(out.Spans, sp)
		}
	}
	out.Spans = append(out.Spans, next.Spans...)
	sort.SliceStable(out.Spans, func(i, j int) bool {
		if out.Spans[i].Offset != out.Spans[j].Offset {
			return out.Spans[i].Offset < out.Spans[j].Offset
		}
		return out.Spans[i].Span < out.Spans[j].Span
	})
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
	sort.SliceStable(out.Cards, func(i, j int) bool { return cardFirst(out, out.Cards[i].Key) < cardFirst(out, out.Cards[j].Key) })
	if !slices.Equal(out.Parts, prev.Parts) {
		out.Proxy = nil
	}
	return out
}

// place orders a part in its shot: P2 parts have an offset, XDCAM EX parts
// a span number (under 100), never both.
func place(p ClipPart) int64 { return p.Offset*100 + int64(p.Span) }

// first is the place of a record's first video part.
func first(d ClipDoc) int64 { return cardFirst(d, "") }

// cardFirst is the place of the first video part from card key ("": any).
func cardFirst(d ClipDoc, key string) int64 {
	lo := int64(-1)
	for _, p := range d.Parts {
		if p.Role == "video" && (key == "" || p.Card == key) && (lo < 0 || place(p) < lo) {
			lo = place(p)
		}
	}
	return lo
}
