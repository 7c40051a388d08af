package cards

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/internal/testutil"
)

// encodeMPL writes an MPLS playlist the way a camcorder does: the 40-byte
// header, AppInfoPlayList, the PlayList (each play item with its UO mask,
// still mode and an empty STN table after the fields ParsePlaylist reads)
// and a PlayListMark with one mark per item.
func encodeMPL(version string, items []PlayItem) []byte {
	be16 := func(b *bytes.Buffer, v uint16) { binary.Write(b, binary.BigEndian, v) }
	be32 := func(b *bytes.Buffer, v uint32) { binary.Write(b, binary.BigEndian, v) }

	var appInfo bytes.Buffer
	be32(&appInfo, 14)
	appInfo.Write([]byte{0, 1, 0, 0}) // reserved, playback_type 1 (sequential), reserved
	appInfo.Write(make([]byte, 8))    // UO_mask_table
	appInfo.Write([]byte{0x40, 0x00}) // random access, audio mix, lossless bypass, reserved

	var list bytes.Buffer
	list.Write([]byte{0, 0})
	be16(&list, uint16(len(items)))
	be16(&list, 0) // number_of_SubPaths
	for _, it := range items {
		var pi bytes.Buffer
		pi.WriteString(it.Clip)
		pi.WriteString(it.Codec)
		flags := uint16(it.Connection & 0x0f)
		if it.MultiAngle {
			flags |= 0x10
		}
		be16(&pi, flags)
		pi.WriteByte(it.STC)
		be32(&pi, it.In)
		be32(&pi, it.Out)
		pi.Write(make([]byte, 8))    // UO_mask_table
		pi.Write([]byte{0, 0, 0, 0}) // random_access_flag, still_mode, still_time
		be16(&pi, 14)                // STN_table: length, reserved, 7 stream counts, reserved
		pi.Write(make([]byte, 14))
		be16(&list, uint16(pi.Len()))
		list.Write(pi.Bytes())
	}

	var marks bytes.Buffer
	be32(&marks, uint32(2+14*len(items)))
	be16(&marks, uint16(len(items)))
	for i, it := range items {
		marks.Write([]byte{0, 1}) // reserved, mark_type 1 (entry mark)
		be16(&marks, uint16(i))
		be32(&marks, it.In)
		be16(&marks, 0xffff)
		be32(&marks, 0)
	}

	listStart := 40 + appInfo.Len()
	markStart := listStart + 4 + list.Len()
	var out bytes.Buffer
	out.WriteString("MPLS")
	out.WriteString(version)
	be32(&out, uint32(listStart))
	be32(&out, uint32(markStart))
	be32(&out, 0) // ExtensionData_start_address: none
	out.Write(make([]byte, 20))
	out.Write(appInfo.Bytes())
	be32(&out, uint32(list.Len()))
	out.Write(list.Bytes())
	out.Write(marks.Bytes())
	return out.Bytes()
}

// item is a play item of stream id with connection condition cc, one
// second long (45 kHz ticks, starting at 1 s as camcorders do).
func item(id string, cc uint8) PlayItem {
	return PlayItem{Clip: id, Codec: "M2TS", Connection: cc, In: 45000, Out: 90000}
}

// mpl is an encoded playlist as writeTree content.
func mpl(items ...PlayItem) string { return string(encodeMPL("0100", items)) }

func TestParsePlaylist(t *testing.T) {
	items := []PlayItem{item("00000", 1), item("00001", 6), {Clip: "00002", Codec: "M2TS", Connection: 5, MultiAngle: true, STC: 2, In: 0, Out: 45000 * 90}}
	good := encodeMPL("0200", items)
	pl, err := ParsePlaylist(good)
	if err != nil {
		t.Fatal(err)
	}
	if pl.Version != "0200" || !reflect.DeepEqual(pl.Items, items) {
		t.Fatalf("parsed %+v, want %+v", pl, items)
	}
	if d := pl.Duration(); d != 92*time.Second {
		t.Fatalf("duration %v, want 1m32s", d)
	}
	if !pl.Items[1].Seamless() || !pl.Items[2].Seamless() || pl.Items[0].Seamless() {
		t.Fatalf("seamless flags wrong: %+v", pl.Items)
	}
	if pl, err := ParsePlaylist(encodeMPL("0100", nil)); err != nil || len(pl.Items) != 0 {
		t.Fatalf("empty playlist: %+v %v", pl, err)
	}

	patch := func(off int, b ...byte) []byte {
		d := append([]byte(nil), good...)
		copy(d[off:], b)
		return d
	}
	listStart := int(binary.BigEndian.Uint32(good[8:12]))
	item0 := listStart + 4 + 6 + 2 // first item, after its length field
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "header"},
		{"header only", good[:40], "PlayList_start_address"},
		{"magic", patch(0, 'M', 'P', 'L', 'X'), "type"},
		{"version", patch(4, '0', '3', '0', '0'), "version"},
		{"start in header", patch(8, 0, 0, 0, 8), "PlayList_start_address"},
		{"start past end", patch(8, 0xff, 0xff, 0xff, 0xff), "PlayList_start_address"},
		{"list length past end", patch(listStart, 0x7f, 0xff, 0xff, 0xff), "PlayList length"},
		{"too many items", patch(listStart+4+2, 0xff, 0xff), "cannot fit"},
		{"item length short", patch(item0-2, 0, 19), "play item 0: length"},
		{"item length past end", patch(item0-2, 0xff, 0xff), "play item 0: length"},
		{"clip name", patch(item0, 'a', 'b', 'c', 'd', 'e'), "clip name"},
		{"codec", patch(item0+5, 'M', 'P', 'E', 'G'), "codec"},
		{"out before in", patch(item0+16, 0, 0, 0, 1), "OUT_time"},
		{"truncated", good[:len(good)/2], "PlayList length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl, err := ParsePlaylist(tc.data)
			if err == nil || !errors.Is(err, ErrBadPlaylist) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParsePlaylist = %+v, %v; want an ErrBadPlaylist about %q", pl, err, tc.want)
			}
		})
	}

	dir := t.TempDir()
	big := filepath.Join(dir, "big.MPL")
	os.WriteFile(big, append(append([]byte(nil), good...), make([]byte, MaxPlaylistSize)...), 0o644)
	if _, err := ReadPlaylist(big); !errors.Is(err, ErrBadPlaylist) || !strings.Contains(err.Error(), big) {
		t.Fatalf("oversized playlist: %v", err)
	}
	if _, err := ReadPlaylist(filepath.Join(dir, "gone.MPL")); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "gone.MPL") {
		t.Fatalf("missing playlist: %v", err)
	}
}

// FuzzParsePlaylist: no input makes ParsePlaylist panic, and whatever it
// accepts survives a round trip through the test writer unchanged.
func FuzzParsePlaylist(f *testing.F) {
	f.Add(encodeMPL("0100", []PlayItem{item("00000", 1), item("00001", 6), item("00002", 5), item("00003", 1)}))
	f.Add(encodeMPL("0200", []PlayItem{{Clip: "00007", Codec: "M2TS", Connection: 6, MultiAngle: true, STC: 1, In: 0, Out: math.MaxUint32}}))
	f.Add(encodeMPL("0100", nil))
	full := encodeMPL("0100", []PlayItem{item("00000", 1), item("00001", 6)})
	f.Add(full[:len(full)-30])
	f.Add(full[:45])
	f.Add([]byte("MPLS0100"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pl, err := ParsePlaylist(data)
		if err != nil {
			if pl != nil || !errors.Is(err, ErrBadPlaylist) {
				t.Fatalf("error %v with playlist %+v", err, pl)
			}
			return
		}
		again, err := ParsePlaylist(encodeMPL(pl.Version, pl.Items))
		if err != nil {
			t.Fatalf("re-encoded playlist does not parse: %v", err)
		}
		if !reflect.DeepEqual(again.Items, pl.Items) && (len(again.Items) != 0 || len(pl.Items) != 0) {
			t.Fatalf("round trip: %+v, want %+v", again.Items, pl.Items)
		}
		for _, it := range pl.Items {
			if it.Duration() < 0 || len(it.Clip) != 5 || it.Connection > 15 {
				t.Fatalf("bad item %+v", it)
			}
		}
	})
}

// unclaimed lists the files of tree that no clip holds.
func unclaimed(tree map[string]string, cs []Clip) []string {
	held := map[string]bool{}
	for _, c := range cs {
		for _, p := range c.Parts() {
			held[p] = true
		}
	}
	var out []string
	for rel := range tree {
		if !held[rel] {
			out = append(out, rel)
		}
	}
	sort.Strings(out)
	return out
}

// checkClips compares clips by name (Layout, Video, Audio, Sidecars) and
// the files no clip claims.
func checkClips(t *testing.T, cs []Clip, want map[string]Clip, tree map[string]string, wantUnclaimed []string) {
	t.Helper()
	got := clipNames(cs)
	if len(got) != len(cs) || len(cs) != len(want) {
		t.Fatalf("%d clips %+v, want %d", len(cs), cs, len(want))
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Fatalf("no clip %s in %+v", name, cs)
		}
		if g.Layout != w.Layout || !reflect.DeepEqual(g.Video, w.Video) || !reflect.DeepEqual(g.Audio, w.Audio) || !reflect.DeepEqual(g.Sidecars, w.Sidecars) {
			t.Fatalf("clip %s:\n got layout=%s video=%v audio=%v sidecars=%v\nwant layout=%s video=%v audio=%v sidecars=%v",
				name, g.Layout, g.Video, g.Audio, g.Sidecars, w.Layout, w.Video, w.Audio, w.Sidecars)
		}
	}
	if u := unclaimed(tree, cs); !reflect.DeepEqual(u, wantUnclaimed) {
		t.Fatalf("unclaimed %v, want %v", u, wantUnclaimed)
	}
}

func TestClipsAVCHD(t *testing.T) {
	const b = "PRIVATE/AVCHD/BDMV/"
	// card is a PRIVATE/AVCHD/BDMV tree: streams and CLIPINF files for ids,
	// playlists by name, plus INDEX.BDM and MOVIEOBJ.BDM.
	card := func(ids []string, playlists map[string]string) map[string]string {
		tree := map[string]string{b + "INDEX.BDM": "INDX0100", b + "MOVIEOBJ.BDM": "MOBJ0100"}
		for _, id := range ids {
			tree[b+"STREAM/"+id+".MTS"] = "rand:1880"
			tree[b+"CLIPINF/"+id+".CPI"] = "HDMV0100"
		}
		for name, data := range playlists {
			tree[b+"PLAYLIST/"+name] = data
		}
		return tree
	}
	s := func(id string) string { return b + "STREAM/" + id + ".MTS" }
	ci := func(id string) string { return b + "CLIPINF/" + id + ".CPI" }
	bdm := []string{b + "INDEX.BDM", b + "MOVIEOBJ.BDM"}
	with := func(list []string, more ...string) []string {
		out := append(append([]string(nil), list...), more...)
		sort.Strings(out)
		return out
	}
	avchd := func(video []string, sidecars []string) Clip {
		return Clip{Layout: LayoutAVCHD, Video: video, Sidecars: sidecars}
	}
	full := mpl(item("00000", 1), item("00001", 6), item("00002", 5))

	for _, tc := range []struct {
		name      string
		layout    Layout
		tree      map[string]string
		want      map[string]Clip
		unclaimed []string
	}{
		{
			name:      "one clip in 3 seamless items",
			tree:      card([]string{"00000", "00001", "00002"}, map[string]string{"00000.MPL": full}),
			want:      map[string]Clip{"00000": avchd([]string{s("00000"), s("00001"), s("00002")}, []string{ci("00000"), ci("00001"), ci("00002")})},
			unclaimed: with(bdm, b+"PLAYLIST/00000.MPL"),
		},
		{
			name: "two clips in one playlist",
			tree: card([]string{"00000", "00001", "00002", "00003", "00004"}, map[string]string{
				"00000.MPL": mpl(item("00000", 1), item("00001", 6), item("00002", 1), item("00003", 6), item("00004", 6))}),
			want: map[string]Clip{
				"00000": avchd([]string{s("00000"), s("00001")}, []string{ci("00000"), ci("00001")}),
				"00002": avchd([]string{s("00002"), s("00003"), s("00004")}, []string{ci("00002"), ci("00003"), ci("00004")}),
			},
			unclaimed: with(bdm, b+"PLAYLIST/00000.MPL"),
		},
		{
			name: "two playlists, one stream in neither",
			tree: card([]string{"00000", "00001", "00002", "00003", "00004"}, map[string]string{
				"00000.MPL": mpl(item("00000", 1), item("00001", 6)),
				"00001.MPL": mpl(item("00002", 1), item("00003", 5))}),
			want: map[string]Clip{
				"00000": avchd([]string{s("00000"), s("00001")}, []string{ci("00000"), ci("00001")}),
				"00002": avchd([]string{s("00002"), s("00003")}, []string{ci("00002"), ci("00003")}),
				"00004": avchd([]string{s("00004")}, []string{ci("00004")}),
			},
			unclaimed: with(bdm, b+"PLAYLIST/00000.MPL", b+"PLAYLIST/00001.MPL"),
		},
		{
			// 00001 (its CLIPINF is there) and all of 00003 are gone: the
			// parts left still form their recordings; 00004 starts a new
			// recording whose first part (00003) is missing.
			name: "playlist references missing streams",
			tree: func() map[string]string {
				tree := card([]string{"00000", "00002", "00004"}, map[string]string{
					"00000.MPL": mpl(item("00000", 1), item("00001", 6), item("00002", 6), item("00003", 1), item("00004", 6))})
				tree[ci("00001")] = "HDMV0100"
				return tree
			}(),
			want: map[string]Clip{
				"00000": avchd([]string{s("00000"), s("00002")}, []string{ci("00000"), ci("00001"), ci("00002")}),
				"00004": avchd([]string{s("00004")}, []string{ci("00004")}),
			},
			unclaimed: with(bdm, b+"PLAYLIST/00000.MPL"),
		},
		{
			name: "truncated playlist falls back to one clip per stream",
			tree: card([]string{"00000", "00001"}, map[string]string{"00000.MPL": full[:60]}),
			want: map[string]Clip{
				"00000": avchd([]string{s("00000")}, []string{ci("00000")}),
				"00001": avchd([]string{s("00001")}, []string{ci("00001")}),
			},
			unclaimed: with(bdm, b+"PLAYLIST/00000.MPL"),
		},
		{
			name: "no playlist",
			tree: card([]string{"00000", "00001"}, nil),
			want: map[string]Clip{
				"00000": avchd([]string{s("00000")}, []string{ci("00000")}),
				"00001": avchd([]string{s("00001")}, []string{ci("00001")}),
			},
			unclaimed: bdm,
		},
		{
			name: "broken playlist, good backup copy",
			tree: func() map[string]string {
				tree := card([]string{"00000", "00001", "00002"}, map[string]string{"00000.MPL": "MPLS0100garbage"})
				tree[b+"BACKUP/PLAYLIST/00000.MPL"] = full
				tree[b+"BACKUP/CLIPINF/00001.CPI"] = "HDMV0100"
				tree[b+"BACKUP/INDEX.BDM"] = "INDX0100"
				return tree
			}(),
			want: map[string]Clip{"00000": avchd([]string{s("00000"), s("00001"), s("00002")},
				[]string{ci("00000"), ci("00001"), b + "BACKUP/CLIPINF/00001.CPI", ci("00002")})},
			unclaimed: with(bdm, b+"PLAYLIST/00000.MPL", b+"BACKUP/PLAYLIST/00000.MPL", b+"BACKUP/INDEX.BDM"),
		},
		{
			// A later playlist listing 00001 again does not take it; its
			// 00002 (after the already claimed item) starts a clip.
			name: "stream in two playlists",
			tree: card([]string{"00000", "00001", "00002"}, map[string]string{
				"00000.MPL": mpl(item("00000", 1), item("00001", 6)),
				"00001.MPL": mpl(item("00001", 1), item("00002", 6))}),
			want: map[string]Clip{
				"00000": avchd([]string{s("00000"), s("00001")}, []string{ci("00000"), ci("00001")}),
				"00002": avchd([]string{s("00002")}, []string{ci("00002")}),
			},
			unclaimed: with(bdm, b+"PLAYLIST/00000.MPL", b+"PLAYLIST/00001.MPL"),
		},
		{
			name: "lower-case names",
			tree: map[string]string{
				"private/avchd/bdmv/stream/00000.mts": "rand:1880", "private/avchd/bdmv/stream/00001.mts": "rand:1880",
				"private/avchd/bdmv/clipinf/00000.cpi": "HDMV0100", "private/avchd/bdmv/clipinf/00001.cpi": "HDMV0100",
				"private/avchd/bdmv/playlist/00000.mpl": mpl(item("00000", 1), item("00001", 6)),
				"private/avchd/bdmv/index.bdm":          "INDX0100",
			},
			want: map[string]Clip{"00000": avchd([]string{"private/avchd/bdmv/stream/00000.mts", "private/avchd/bdmv/stream/00001.mts"},
				[]string{"private/avchd/bdmv/clipinf/00000.cpi", "private/avchd/bdmv/clipinf/00001.cpi"})},
			unclaimed: []string{"private/avchd/bdmv/index.bdm", "private/avchd/bdmv/playlist/00000.mpl"},
		},
		{
			name: "BDMV at the root with long names",
			tree: map[string]string{
				"BDMV/STREAM/00010.m2ts": "rand:1880", "BDMV/STREAM/00011.m2ts": "rand:1880", "BDMV/STREAM/00012.m2ts": "rand:1880",
				"BDMV/CLIPINF/00010.clpi": "HDMV0200", "BDMV/CLIPINF/00011.clpi": "HDMV0200",
				"BDMV/PLAYLIST/00001.mpls": string(encodeMPL("0200", []PlayItem{item("00011", 1), item("00010", 5), item("00012", 1)})),
			},
			want: map[string]Clip{
				"00011": avchd([]string{"BDMV/STREAM/00011.m2ts", "BDMV/STREAM/00010.m2ts"}, []string{"BDMV/CLIPINF/00011.clpi", "BDMV/CLIPINF/00010.clpi"}),
				"00012": avchd([]string{"BDMV/STREAM/00012.m2ts"}, nil),
			},
			unclaimed: []string{"BDMV/PLAYLIST/00001.mpls"},
		},
		{
			// Sony cameras write XAVC S and AVCHD (and stills) on one card:
			// the card is sony_xavc, its AVCHD clips are avchd.
			name:   "AVCHD beside XAVC S",
			layout: LayoutSonyXAVC,
			tree: func() map[string]string {
				tree := card([]string{"00000", "00001"}, map[string]string{"00000.MPL": mpl(item("00000", 1), item("00001", 6))})
				tree["PRIVATE/M4ROOT/CLIP/C0001.MP4"] = "rand:4000"
				tree["PRIVATE/M4ROOT/CLIP/C0001M01.XML"] = sidecar(t, "sony_nrt.xml")
				tree["DCIM/100MSDCF/DSC00001.JPG"] = "rand:100"
				return tree
			}(),
			want: map[string]Clip{
				"00000":    avchd([]string{s("00000"), s("00001")}, []string{ci("00000"), ci("00001")}),
				"C0001":    {Layout: LayoutSonyXAVC, Video: []string{"PRIVATE/M4ROOT/CLIP/C0001.MP4"}, Sidecars: []string{"PRIVATE/M4ROOT/CLIP/C0001M01.XML"}},
				"DSC00001": {Layout: LayoutSonyXAVC, Video: []string{"DCIM/100MSDCF/DSC00001.JPG"}},
			},
			unclaimed: with(bdm, b+"PLAYLIST/00000.MPL"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, tc.tree)
			layout := tc.layout
			if layout == "" {
				var err error
				if layout, err = Detect(root); err != nil || layout != LayoutAVCHD {
					t.Fatalf("Detect = %s, %v; want avchd", layout, err)
				}
			}
			cs, err := Clips(root, layout)
			if err != nil {
				t.Fatal(err)
			}
			checkClips(t, cs, tc.want, tc.tree, tc.unclaimed)
		})
	}
}

// TestAVCHDRealStreams splits one 3-second recording into three MPEG-TS
// streams with ffmpeg, as a camcorder splits at 2 GB, lists them in a
// playlist with their real IN/OUT times, and checks that the clip's parts,
// played in order, are the whole recording: as long as the playlist says.
func TestAVCHDRealStreams(t *testing.T) {
	ffmpeg, ffprobe := testenv.Need(t, "ffmpeg"), testenv.Need(t, "ffprobe")
	root := t.TempDir()
	bdmv := filepath.Join(root, "PRIVATE", "AVCHD", "BDMV")
	stream := filepath.Join(bdmv, "STREAM")
	for _, d := range []string{stream, filepath.Join(bdmv, "CLIPINF"), filepath.Join(bdmv, "PLAYLIST")} {
		os.MkdirAll(d, 0o755)
	}
	testutil.Run(t, ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x36:rate=25", "-t", "3",
		"-c:v", "libx264", "-g", "25", "-f", "segment", "-segment_time", "1", "-segment_format", "mpegts",
		"-segment_start_number", "0", filepath.Join(stream, "%05d.MTS"))
	probe := func(args ...string) (start, dur float64) {
		out := testutil.Run(t, ffprobe, append([]string{"-v", "error", "-show_entries", "format=start_time,duration", "-of", "csv=p=0"}, args...)...)
		f := strings.Split(strings.TrimSpace(out), ",")
		if len(f) != 2 {
			t.Fatalf("ffprobe: %q", out)
		}
		start, _ = strconv.ParseFloat(f[0], 64)
		dur, _ = strconv.ParseFloat(f[1], 64)
		return start, dur
	}
	var items []PlayItem
	for i := 0; i < 3; i++ {
		id := "0000" + strconv.Itoa(i)
		start, dur := probe(filepath.Join(stream, id+".MTS"))
		cc := uint8(6)
		if i == 0 {
			cc = 1
		}
		items = append(items, PlayItem{Clip: id, Codec: "M2TS", Connection: cc,
			In: uint32(math.Round(start * 45000)), Out: uint32(math.Round((start + dur) * 45000))})
		os.WriteFile(filepath.Join(bdmv, "CLIPINF", id+".CPI"), []byte("HDMV0100"), 0o644)
	}
	os.WriteFile(filepath.Join(bdmv, "PLAYLIST", "00000.MPL"), encodeMPL("0100", items), 0o644)

	layout, err := Detect(root)
	if err != nil || layout != LayoutAVCHD {
		t.Fatalf("Detect = %s, %v", layout, err)
	}
	cs, err := Clips(root, layout)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || len(cs[0].Video) != 3 {
		t.Fatalf("clips %+v, want one of 3 streams", cs)
	}
	pl, err := ReadPlaylist(filepath.Join(bdmv, "PLAYLIST", "00000.MPL"))
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, v := range cs[0].Video {
		parts = append(parts, filepath.Join(root, filepath.FromSlash(v)))
	}
	_, whole := probe("concat:" + strings.Join(parts, "|"))
	if d := pl.Duration().Seconds(); math.Abs(d-3) > 0.05 || math.Abs(whole-3) > 0.05 {
		t.Fatalf("playlist %.3fs, parts played in order %.3fs; want 3s", d, whole)
	}
	// The joined parts hold every frame of the recording (3 s at 25 fps)
	// in order: their timestamps only go forward.
	out, err := exec.Command(ffprobe, "-v", "error", "-select_streams", "v", "-show_entries", "frame=pts_time",
		"-of", "csv=p=0", "concat:"+strings.Join(parts, "|")).Output()
	if err != nil {
		t.Fatalf("ffprobe frames: %v", err)
	}
	var pts []float64
	for _, l := range strings.Fields(string(out)) {
		v, err := strconv.ParseFloat(strings.Trim(l, ","), 64)
		if err != nil {
			t.Fatalf("frame pts %q: %v", l, err)
		}
		if len(pts) > 0 && v <= pts[len(pts)-1] {
			t.Fatalf("frame %d at %.3fs after %.3fs: parts out of order", len(pts), v, pts[len(pts)-1])
		}
		pts = append(pts, v)
	}
	if len(pts) != 75 {
		t.Fatalf("%d frames in the joined parts, want 75", len(pts))
	}
}
