package cards

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/storage"
)

func TestDetect(t *testing.T) {
	for layout, files := range cardTrees(t) {
		t.Run(string(layout), func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, files)
			got, err := Detect(root)
			if err != nil {
				t.Fatal(err)
			}
			if got != layout {
				t.Fatalf("Detect = %s, want %s", got, layout)
			}
		})
	}
	if _, err := Detect(filepath.Join(t.TempDir(), "gone")); err == nil {
		t.Fatal("Detect of a missing folder: no error")
	}
}

func clipNames(cs []Clip) map[string]Clip {
	out := map[string]Clip{}
	for _, c := range cs {
		out[c.Name] = c
	}
	return out
}

func TestClips(t *testing.T) {
	trees := cardTrees(t)
	for _, tc := range []struct {
		layout Layout
		want   map[string]Clip // by name: Video, Audio, Sidecars checked
	}{
		{LayoutGoPro, map[string]Clip{
			"GX010001": {Video: []string{"DCIM/100GOPRO/GX010001.MP4", "DCIM/100GOPRO/GX020001.MP4", "DCIM/100GOPRO/GX030001.MP4"},
				Sidecars: []string{"DCIM/100GOPRO/GL010001.LRV", "DCIM/100GOPRO/GX010001.THM"}},
			"GX010002": {Video: []string{"DCIM/100GOPRO/GX010002.MP4"}},
		}},
		{LayoutSonyXAVC, map[string]Clip{
			"C0001": {Video: []string{"PRIVATE/M4ROOT/CLIP/C0001.MP4"}, Sidecars: []string{"PRIVATE/M4ROOT/CLIP/C0001M01.XML", "PRIVATE/M4ROOT/THMBNL/C0001T01.JPG"}},
			"C0002": {Video: []string{"PRIVATE/M4ROOT/CLIP/C0002.MP4"}, Sidecars: []string{"PRIVATE/M4ROOT/CLIP/C0002M01.XML"}},
		}},
		{LayoutSonyXDCAM, map[string]Clip{
			"Clip0001": {Video: []string{"XDROOT/Clip/Clip0001.MXF"}, Sidecars: []string{"XDROOT/Clip/Clip0001M01.XML", "XDROOT/Sub/Clip0001S03.MXF"}},
		}},
		{LayoutP2, map[string]Clip{
			// 0001AB and 0002AB share a GlobalShotID: one spanned clip.
			"0001AB": {Video: []string{"CONTENTS/VIDEO/0001AB.MXF", "CONTENTS/VIDEO/0002AB.MXF"},
				Audio:    []string{"CONTENTS/AUDIO/0001AB00.MXF", "CONTENTS/AUDIO/0001AB01.MXF", "CONTENTS/AUDIO/0002AB00.MXF", "CONTENTS/AUDIO/0002AB01.MXF"},
				Sidecars: []string{"CONTENTS/CLIP/0001AB.XML", "CONTENTS/ICON/0001AB.BMP", "CONTENTS/CLIP/0002AB.XML"}},
			"0003AC": {Video: []string{"CONTENTS/VIDEO/0003AC.MXF"}, Audio: []string{"CONTENTS/AUDIO/0003AC00.MXF", "CONTENTS/AUDIO/0003AC01.MXF"},
				Sidecars: []string{"CONTENTS/CLIP/0003AC.XML"}},
		}},
		{LayoutCanonCinema, map[string]Clip{
			"A001C001_260201AB": {Video: []string{"CONTENTS/CLIPS001/A001C001_260201AB.MXF"}, Sidecars: []string{"CONTENTS/CLIPS001/A001C001_260201AB.XML"}},
		}},
		{LayoutRED, map[string]Clip{
			"A001_C001_0201XY": {Video: []string{"A001_0201AB.RDM/A001_C001_0201XY.RDC/A001_C001_0201XY_001.R3D", "A001_0201AB.RDM/A001_C001_0201XY.RDC/A001_C001_0201XY_002.R3D"},
				Sidecars: []string{"A001_0201AB.RDM/A001_C001_0201XY.RDC/A001_C001_0201XY.RTN"}},
		}},
		{LayoutBRAW, map[string]Clip{
			"A001_02011015_C001": {Video: []string{"A001_02011015_C001.braw"}, Sidecars: []string{"A001_02011015_C001.sidecar"}},
		}},
		{LayoutDCIM, map[string]Clip{
			"DSC00001": {Video: []string{"DCIM/100MSDCF/DSC00001.ARW", "DCIM/100MSDCF/DSC00001.JPG"}},
			"DSC00002": {Video: []string{"DCIM/100MSDCF/DSC00002.JPG"}},
		}},
	} {
		t.Run(string(tc.layout), func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, trees[tc.layout])
			cs, err := Clips(root, tc.layout)
			if err != nil {
				t.Fatal(err)
			}
			got := clipNames(cs)
			if len(got) != len(tc.want) {
				t.Fatalf("%d clips %v, want %d", len(got), cs, len(tc.want))
			}
			for name, w := range tc.want {
				g, ok := got[name]
				if !ok {
					t.Fatalf("no clip %s in %+v", name, cs)
				}
				if !reflect.DeepEqual(g.Video, w.Video) || !reflect.DeepEqual(g.Audio, w.Audio) || !reflect.DeepEqual(g.Sidecars, w.Sidecars) {
					t.Fatalf("clip %s:\n got video=%v audio=%v sidecars=%v\nwant video=%v audio=%v sidecars=%v",
						name, g.Video, g.Audio, g.Sidecars, w.Video, w.Audio, w.Sidecars)
				}
			}
			switch tc.layout {
			case LayoutSonyXAVC:
				if m := got["C0001"].Meta; m == nil || m.Model != "ILME-FX3" || m.StartTimecode != "01:29:21;27" {
					t.Fatalf("sony meta %+v", m)
				}
			case LayoutP2:
				if m := got["0001AB"].Meta; m == nil || m.Model != "AJ-PX800G" || m.GlobalShotID != "SHOT1" {
					t.Fatalf("p2 meta %+v", m)
				}
			case LayoutCanonCinema:
				if m := got["A001C001_260201AB"].Meta; m == nil || m.Model != "EOS C70" || m.StartTimecode != "10:00:00:00" {
					t.Fatalf("canon meta %+v", m)
				}
			}
		})
	}
}

func TestDecodeSonyLTC(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		df   bool
		bad  bool
	}{
		{"00000010", "10:00:00:00", false, false},
		{"17305719", "19:57:30:17", false, false},
		{"44590400", "00:04:59;04", true, false}, // 0x40 in the frames byte: drop frame
		{"67212901", "01:29:21;27", true, false},
		{"12345", "", false, true},
		{"0000001A", "", false, true}, // not BCD
		{"00000024", "", false, true}, // hour 24
	} {
		got, df, err := DecodeSonyLTC(tc.in)
		if (err != nil) != tc.bad || got != tc.want || df != tc.df {
			t.Errorf("DecodeSonyLTC(%s) = %q %v %v, want %q %v bad=%v", tc.in, got, df, err, tc.want, tc.df, tc.bad)
		}
	}
}

func TestParseSidecars(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o644)
		return p
	}
	sony, err := ParseSidecar(write("C0001M01.XML", sidecar(t, "sony_nrt.xml")))
	if err != nil {
		t.Fatal(err)
	}
	wantDate := time.Date(2026, 3, 12, 21, 23, 0, 0, time.FixedZone("", -7*3600))
	if sony.Source != "sony_nrt" || sony.Manufacturer != "Sony" || sony.Model != "ILME-FX3" || sony.Serial != "5012345" ||
		!sony.CreationDate.Equal(wantDate) || sony.StartTimecode != "01:29:21;27" || !sony.DropFrame ||
		sony.Duration != 8130 || sony.TimecodeFPS != "30" || sony.CaptureFPS != "29.97p" {
		t.Fatalf("sony %+v", sony)
	}
	p2, err := ParseSidecar(write("0001AB.XML", sidecar(t, "p2_clip.xml", "{{CLIP}}", "0001AB", "{{SHOT}}", "S", "{{OFFSET}}", "0", "{{DURATION}}", "300", "{{TC}}", "12:34:56;07")))
	if err != nil {
		t.Fatal(err)
	}
	if p2.Source != "p2_clip" || p2.Manufacturer != "Panasonic" || p2.Model != "AJ-PX800G" || p2.Duration != 300 ||
		p2.EditUnit != "1001/30000" || p2.StartTimecode != "12:34:56;07" || !p2.DropFrame ||
		!strings.HasPrefix(p2.GlobalClipID, "060A2B34") || p2.Serial != "D1TA00123" ||
		!reflect.DeepEqual(p2.VideoFiles, []string{"0001AB.MXF"}) || !reflect.DeepEqual(p2.AudioFiles, []string{"0001AB00.MXF", "0001AB01.MXF"}) {
		t.Fatalf("p2 %+v", p2)
	}
	canon, err := ParseSidecar(write("A.XML", sidecar(t, "canon_clip.xml")))
	if err != nil {
		t.Fatal(err)
	}
	if canon.Source != "canon_xml" || canon.Manufacturer != "Canon" || canon.Model != "EOS C70" || canon.StartTimecode != "10:00:00:00" || canon.Duration != 250 {
		t.Fatalf("canon %+v", canon)
	}
	if _, err := ParseSidecar(write("bad.XML", "not xml")); err == nil {
		t.Fatal("garbage parsed")
	}

	var media storage.Media
	sony.Apply(&media)
	if media.Make != "Sony" || media.Model != "ILME-FX3" || media.Timecode != "01:29:21;27" || !media.DropFrame {
		t.Fatalf("apply %+v", media)
	}
	media = storage.Media{Timecode: "00:00:00:00"}
	sony.Apply(&media)
	if media.Timecode != "00:00:00:00" {
		t.Fatal("Apply overwrote a probed timecode")
	}
}

// TestDetectAVCHDAndXDCAMEX: AVCHD under PRIVATE, AVCHD/BDMV or BDMV at the
// root (with STREAM inside), and XDCAM EX by BPAV/CLPR, in any case.
func TestDetectAVCHDAndXDCAMEX(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		want  Layout
	}{
		{"PRIVATE/AVCHD/BDMV", []string{"PRIVATE/AVCHD/BDMV/STREAM/00000.MTS", "PRIVATE/AVCHD/BDMV/INDEX.BDM"}, LayoutAVCHD},
		{"AVCHD/BDMV at the root", []string{"AVCHD/BDMV/STREAM/00000.MTS", "AVCHD/BDMV/PLAYLIST/00000.MPL"}, LayoutAVCHD},
		{"BDMV at the root", []string{"BDMV/STREAM/00000.m2ts", "BDMV/PLAYLIST/00000.mpls"}, LayoutAVCHD},
		{"lower-case BDMV", []string{"bdmv/stream/00000.mts"}, LayoutAVCHD},
		{"lower-case PRIVATE/AVCHD", []string{"private/avchd/bdmv/stream/00000.mts"}, LayoutAVCHD},
		{"AVCHD with DCIM stills", []string{"PRIVATE/AVCHD/BDMV/STREAM/00000.MTS", "DCIM/100CANON/IMG_0001.JPG"}, LayoutAVCHD},
		{"BDMV without STREAM", []string{"BDMV/PLAYLIST/00000.mpls", "notes.txt"}, LayoutUnknown},
		{"AVCHD/BDMV without STREAM", []string{"AVCHD/BDMV/INDEX.BDM"}, LayoutUnknown},
		{"XDCAM EX", []string{"BPAV/CLPR/709_0001_01/709_0001_01.MP4", "BPAV/MEDIAPRO.XML"}, LayoutSonyXDCAMEX},
		{"lower-case XDCAM EX", []string{"bpav/clpr/709_0001_01/709_0001_01.mp4"}, LayoutSonyXDCAMEX},
		{"BPAV without CLPR", []string{"BPAV/MEDIAPRO.XML", "DCIM/100MSDCF/DSC00001.JPG"}, LayoutDCIM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tree := map[string]string{}
			for _, f := range tc.files {
				tree[f] = "rand:10"
			}
			writeTree(t, root, tree)
			if got, err := Detect(root); err != nil || got != tc.want {
				t.Fatalf("Detect = %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}
