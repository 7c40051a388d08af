package cards

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// AVCHD (and Blu-ray) cards keep their streams in BDMV/STREAM
// (00000.MTS, or 00000.m2ts with long names), one clip information file per
// stream in BDMV/CLIPINF (00000.CPI / .clpi) and movie playlists in
// BDMV/PLAYLIST (00000.MPL / .mpls). A camcorder splits a long recording
// into several streams (2 GB each on FAT32) and lists them as play items of
// a playlist, joined seamlessly: the playlist is the only place that says
// which streams are one recording.

// ErrBadPlaylist is wrapped by every error ParsePlaylist returns.
var ErrBadPlaylist = errors.New("not a valid MPLS playlist")

// MaxPlaylistSize bounds what ReadPlaylist reads: a camcorder playlist
// holds at most a few thousand play items of about 100 bytes each.
const MaxPlaylistSize = 1 << 20

const (
	mplsHeaderSize  = 40 // type, version, 3 start addresses, 20 reserved bytes
	mplsItemMinSize = 20 // clip name .. OUT_time, the part ParsePlaylist reads
)

// Playlist is what ParsePlaylist reads of an MPLS movie playlist: its
// version and main-path play items in play order.
type Playlist struct {
	Version  string     `json:"version"` // "0100" or "0200"
	Items    []PlayItem `json:"items"`
	SubPaths int        `json:"sub_paths,omitempty"`
}

// PlayItem is one play item of a playlist: a stretch (IN..OUT, 45 kHz
// ticks) of one stream, and how it connects to the item before it.
type PlayItem struct {
	Clip       string `json:"clip"`  // Clip_Information_file_name: "00001" for STREAM/00001.MTS and CLIPINF/00001.CPI
	Codec      string `json:"codec"` // "M2TS"
	Connection uint8  `json:"connection_condition"`
	MultiAngle bool   `json:"multi_angle,omitempty"` // only the first angle's clip is read
	STC        uint8  `json:"stc_id"`
	In         uint32 `json:"in_time"`
	Out        uint32 `json:"out_time"`
}

// Seamless reports whether the item continues the previous item's
// recording (connection_condition 5 or 6); 1, and anything else, starts a
// new one.
func (p PlayItem) Seamless() bool { return p.Connection == 5 || p.Connection == 6 }

// Duration is OUT_time - IN_time.
func (p PlayItem) Duration() time.Duration {
	return time.Duration(p.Out-p.In) * time.Second / 45000
}

// Duration is the sum of the play items' durations.
func (pl *Playlist) Duration() time.Duration {
	var d time.Duration
	for _, it := range pl.Items {
		d += it.Duration()
	}
	return d
}

// ParsePlaylist parses an MPLS movie playlist ("MPLS" + "0100"/"0200"): the
// header, then at PlayList_start_address the PlayList's play items (Clip
// name, codec, connection_condition, STC id, IN and OUT times; the rest of
// each item is skipped by its length). It is strict: every length must fit
// in its parent, clip names are 5 digits, the codec is "M2TS" and OUT is not
// before IN; anything else is an error wrapping ErrBadPlaylist, never a
// panic, whatever data holds.
func ParsePlaylist(data []byte) (*Playlist, error) {
	if len(data) < mplsHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrBadPlaylist, len(data), mplsHeaderSize)
	}
	if string(data[0:4]) != "MPLS" {
		return nil, fmt.Errorf("%w: type %q, want \"MPLS\"", ErrBadPlaylist, data[0:4])
	}
	version := string(data[4:8])
	if version != "0100" && version != "0200" {
		return nil, fmt.Errorf("%w: version %q", ErrBadPlaylist, data[4:8])
	}
	start := uint64(binary.BigEndian.Uint32(data[8:12]))
	if start < mplsHeaderSize || start+10 > uint64(len(data)) {
		return nil, fmt.Errorf("%w: PlayList_start_address %d outside %d..%d", ErrBadPlaylist, start, mplsHeaderSize, len(data)-10)
	}
	list := data[start:]
	length := uint64(binary.BigEndian.Uint32(list[0:4]))
	if length < 6 || length > uint64(len(list)-4) {
		return nil, fmt.Errorf("%w: PlayList length %d, %d bytes left", ErrBadPlaylist, length, len(list)-4)
	}
	body := list[4 : 4+length]
	n := int(binary.BigEndian.Uint16(body[2:4]))
	pl := &Playlist{Version: version, SubPaths: int(binary.BigEndian.Uint16(body[4:6]))}
	if most := (len(body) - 6) / (2 + mplsItemMinSize); n > most {
		return nil, fmt.Errorf("%w: %d play items cannot fit in %d bytes", ErrBadPlaylist, n, len(body))
	}
	pl.Items = make([]PlayItem, 0, n)
	off := 6
	for i := 0; i < n; i++ {
		if off+2 > len(body) {
			return nil, fmt.Errorf("%w: play item %d: truncated", ErrBadPlaylist, i)
		}
		l := int(binary.BigEndian.Uint16(body[off : off+2]))
		off += 2
		if l < mplsItemMinSize || l > len(body)-off {
			return nil, fmt.Errorf("%w: play item %d: length %d, %d bytes left", ErrBadPlaylist, i, l, len(body)-off)
		}
		b := body[off : off+l]
		off += l
		it := PlayItem{
			Clip:  string(b[0:5]),
			Codec: string(b[5:9]),
			STC:   b[11],
			In:    binary.BigEndian.Uint32(b[12:16]),
			Out:   binary.BigEndian.Uint32(b[16:20]),
		}
		flags := binary.BigEndian.Uint16(b[9:11])
		it.Connection = uint8(flags & 0x0f)
		it.MultiAngle = flags&0x10 != 0
		for _, c := range b[0:5] {
			if c < '0' || c > '9' {
				return nil, fmt.Errorf("%w: play item %d: clip name %q", ErrBadPlaylist, i, b[0:5])
			}
		}
		if it.Codec != "M2TS" {
			return nil, fmt.Errorf("%w: play item %d: codec %q", ErrBadPlaylist, i, b[5:9])
		}
		if it.Out < it.In {
			return nil, fmt.Errorf("%w: play item %d: OUT_time %d before IN_time %d", ErrBadPlaylist, i, it.Out, it.In)
		}
		pl.Items = append(pl.Items, it)
	}
	return pl, nil
}

// ReadPlaylist reads and parses the playlist file at p (at most
// MaxPlaylistSize bytes of a regular file: no symlink, FIFO or device).
func ReadPlaylist(p string) (*Playlist, error) {
	data, err := readSmallFile(p, MaxPlaylistSize)
	if errors.Is(err, ErrTooLarge) {
		return nil, fmt.Errorf("read playlist %s: %w: %w", p, ErrBadPlaylist, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read playlist %s: %w", p, err)
	}
	pl, err := ParsePlaylist(data)
	if err != nil {
		return nil, fmt.Errorf("read playlist %s: %w", p, err)
	}
	return pl, nil
}

// bdmvFolder is what one BDMV folder of a card holds, by upper-case clip
// number ("00001").
type bdmvFolder struct {
	streams   map[string]string   // STREAM/00001.MTS
	clipinf   map[string][]string // CLIPINF/00001.CPI, then BACKUP/CLIPINF/00001.CPI
	playlists map[string]string   // upper name -> PLAYLIST/00000.MPL
	backups   map[string]string   // upper name -> BACKUP/PLAYLIST/00000.MPL
}

// bdmvFile sorts a card file into the BDMV folder it belongs to: the
// folder (e.g. "PRIVATE/AVCHD/BDMV"), the sub-folder ("STREAM", "CLIPINF",
// "PLAYLIST", "BACKUP/CLIPINF", "BACKUP/PLAYLIST", upper case) and the
// file name; ok is false for any other file.
func bdmvFile(rel string) (folder, sub, name string, ok bool) {
	parts := strings.Split(rel, "/")
	n := len(parts)
	if n >= 3 && strings.EqualFold(parts[n-3], "BDMV") {
		return strings.Join(parts[:n-2], "/"), strings.ToUpper(parts[n-2]), parts[n-1], true
	}
	if n >= 4 && strings.EqualFold(parts[n-4], "BDMV") && strings.EqualFold(parts[n-3], "BACKUP") {
		return strings.Join(parts[:n-3], "/"), "BACKUP/" + strings.ToUpper(parts[n-2]), parts[n-1], true
	}
	return "", "", "", false
}

// avchd groups the streams of every BDMV folder on the card
// (PRIVATE/AVCHD/BDMV, AVCHD/BDMV, BDMV; any case), whatever layout the
// card was detected as: Sony cameras write AVCHD next to XAVC S on one card.
// Its clips carry LayoutAVCHD.
//
// Every playlist in PLAYLIST is read in name order (its copy in
// BACKUP/PLAYLIST when the main one is missing or does not parse), and its
// play items are walked in order: an item that connects seamlessly
// (connection_condition 5 or 6) continues the clip of the item before it,
// any other starts a new clip. A clip's Video is its streams in item order;
// the CLIPINF files of those streams (and their BACKUP copies) are its
// Sidecars. An item whose stream is not on the card is skipped without
// breaking its recording (the other parts still form the clip, nothing is
// invented), and its CLIPINF file, if there, still goes with the recording.
// A stream already claimed by another clip (listed again by a later
// playlist) is not claimed twice: the item ends the current clip. A stream
// that no playlist lists, or all streams of a folder without a readable
// playlist, becomes a clip of its own with its CLIPINF files.
//
// The playlists themselves, INDEX.BDM, MOVIEOBJ.BDM and the BACKUP copies
// of these are not claimed by design: like MEDIAPRO.XML on Sony cards they
// index the whole card, not one clip, so no clip would be right to own
// them (they are still offloaded and hashed with the card). Neither are the
// camera's thumbnail and database files next to BDMV (AVCHDTN, AVF_INFO).
func (g *grouper) avchd(files []string) {
	folders := map[string]*bdmvFolder{}
	for _, rel := range files {
		if g.claimed[rel] {
			continue
		}
		folder, sub, name, ok := bdmvFile(rel)
		if !ok {
			continue
		}
		ext := strings.ToUpper(path.Ext(name))
		stem := strings.ToUpper(strings.TrimSuffix(name, path.Ext(name)))
		f := folders[folder]
		if f == nil {
			f = &bdmvFolder{streams: map[string]string{}, clipinf: map[string][]string{}, playlists: map[string]string{}, backups: map[string]string{}}
			folders[folder] = f
		}
		switch {
		case sub == "STREAM" && (ext == ".MTS" || ext == ".M2TS"):
			f.streams[stem] = rel
		case (sub == "CLIPINF" || sub == "BACKUP/CLIPINF") && (ext == ".CPI" || ext == ".CLPI"):
			// the main copy first (BACKUP sorts before CLIPINF)
			if sub == "CLIPINF" {
				f.clipinf[stem] = append([]string{rel}, f.clipinf[stem]...)
			} else {
				f.clipinf[stem] = append(f.clipinf[stem], rel)
			}
		case sub == "PLAYLIST" && (ext == ".MPL" || ext == ".MPLS"):
			f.playlists[strings.ToUpper(name)] = rel
		case sub == "BACKUP/PLAYLIST" && (ext == ".MPL" || ext == ".MPLS"):
			f.backups[strings.ToUpper(name)] = rel
		}
	}
	names := make([]string, 0, len(folders))
	for name := range folders {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		g.bdmv(folders[name])
	}
}

// bdmv groups one BDMV folder's streams (see avchd).
func (g *grouper) bdmv(f *bdmvFolder) {
	lists := map[string]bool{}
	for n := range f.playlists {
		lists[n] = true
	}
	for n := range f.backups {
		lists[n] = true
	}
	order := make([]string, 0, len(lists))
	for n := range lists {
		order = append(order, n)
	}
	sort.Strings(order)
	owner := map[string]*Clip{} // stream -> the clip that claimed it
	newClip := func(stream string) *Clip {
		c := g.clip("avchd:"+stream, strings.TrimSuffix(path.Base(stream), path.Ext(stream)))
		c.Layout = LayoutAVCHD
		return c
	}
	for _, n := range order {
		var pl *Playlist
		for _, rel := range []string{f.playlists[n], f.backups[n]} {
			if rel == "" {
				continue
			}
			var err error
			if pl, err = ReadPlaylist(filepath.Join(g.root, filepath.FromSlash(rel))); err == nil {
				break
			}
		}
		if pl == nil {
			continue // its streams fall back to one clip each, below
		}
		var cur *Clip
		var pending []string // CLIPINF files of missing streams before the recording's first stream
		attach := func(ci string) {
			if g.claimed[ci] {
				return
			}
			if cur == nil {
				pending = append(pending, ci)
				return
			}
			cur.Sidecars = append(cur.Sidecars, ci)
			g.claimed[ci] = true
		}
		for _, it := range pl.Items {
			id := strings.ToUpper(it.Clip)
			if !it.Seamless() {
				cur, pending = nil, nil
			}
			stream, ok := f.streams[id]
			if !ok {
				for _, ci := range f.clipinf[id] {
					attach(ci)
				}
				continue
			}
			if o, claimed := owner[stream]; claimed {
				if o != cur {
					cur, pending = nil, nil
				}
				continue
			}
			if cur == nil {
				cur = newClip(stream)
				for _, ci := range pending {
					attach(ci)
				}
				pending = nil
			}
			cur.Video = append(cur.Video, stream)
			owner[stream] = cur
			g.claimed[stream] = true
			for _, ci := range f.clipinf[id] {
				attach(ci)
			}
		}
	}
	ids := make([]string, 0, len(f.streams))
	for id := range f.streams {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		stream := f.streams[id]
		if g.claimed[stream] {
			continue
		}
		c := newClip(stream)
		c.Video = append(c.Video, stream)
		g.claimed[stream] = true
		for _, ci := range f.clipinf[id] {
			if !g.claimed[ci] {
				c.Sidecars = append(c.Sidecars, ci)
				g.claimed[ci] = true
			}
		}
	}
}
