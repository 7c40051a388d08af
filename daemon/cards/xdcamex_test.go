package cards

import (
	"strings"
	"testing"
)

func TestClipsXDCAMEX(t *testing.T) {
	nrt := sidecar(t, "sony_nrt.xml")
	// span writes one span folder of BPAV/CLPR: the MP4 and the four
	// sidecars an EX camera writes beside it.
	span := func(tree map[string]string, clip string) {
		d := "BPAV/CLPR/" + clip + "/" + clip
		tree[d+".MP4"] = "rand:3000"
		tree[d+"M01.XML"] = strings.Replace(nrt, `modelName="ILME-FX3"`, `modelName="PMW-EX1R `+clip+`"`, 1)
		tree[d+".SMI"] = "<smil/>"
		tree[d+"R01.BIM"] = "rand:100"
		tree[d+"I01.PPN"] = "rand:50"
	}
	take := func(tree map[string]string, take string) {
		tree["BPAV/TAKR/"+take+"/"+take+".SMI"] = "<smil/>"
		tree["BPAV/TAKR/"+take+"/"+take+"M01.XML"] = nrt
	}
	card := func(clips []string, takes []string) map[string]string {
		tree := map[string]string{"BPAV/MEDIAPRO.XML": "<MediaProfile/>", "BPAV/CUEUP.XML": "<CueUpInfo/>"}
		for _, c := range clips {
			span(tree, c)
		}
		for _, tk := range takes {
			take(tree, tk)
		}
		return tree
	}
	// files lists a span's video or its sidecars.
	video := func(clip string) string { return "BPAV/CLPR/" + clip + "/" + clip + ".MP4" }
	sidecars := func(clip string) []string {
		d := "BPAV/CLPR/" + clip + "/" + clip
		return []string{d + ".SMI", d + "I01.PPN", d + "M01.XML", d + "R01.BIM"} // name order
	}
	takr := func(take string) []string {
		return []string{"BPAV/TAKR/" + take + "/" + take + ".SMI", "BPAV/TAKR/" + take + "/" + take + "M01.XML"}
	}
	cat := func(lists ...[]string) []string {
		var out []string
		for _, l := range lists {
			out = append(out, l...)
		}
		return out
	}
	ex := func(video []string, sidecars []string) Clip {
		return Clip{Layout: LayoutSonyXDCAMEX, Video: video, Sidecars: sidecars}
	}
	cardLevel := []string{"BPAV/CUEUP.XML", "BPAV/MEDIAPRO.XML"}

	for _, tc := range []struct {
		name      string
		tree      map[string]string
		want      map[string]Clip
		model     map[string]string // clip -> Meta.Model
		unclaimed []string
	}{
		{
			name: "one take in 3 spans",
			tree: card([]string{"709_0001_01", "709_0001_02", "709_0001_03"}, []string{"709_0001"}),
			want: map[string]Clip{"709_0001": ex(
				[]string{video("709_0001_01"), video("709_0001_02"), video("709_0001_03")},
				cat(sidecars("709_0001_01"), sidecars("709_0001_02"), sidecars("709_0001_03"), takr("709_0001")))},
			model:     map[string]string{"709_0001": "PMW-EX1R 709_0001_01"},
			unclaimed: cardLevel,
		},
		{
			name: "two takes",
			tree: card([]string{"709_0001_01", "709_0001_02", "709_0002_01"}, []string{"709_0001", "709_0002"}),
			want: map[string]Clip{
				"709_0001": ex([]string{video("709_0001_01"), video("709_0001_02")},
					cat(sidecars("709_0001_01"), sidecars("709_0001_02"), takr("709_0001"))),
				"709_0002": ex([]string{video("709_0002_01")}, cat(sidecars("709_0002_01"), takr("709_0002"))),
			},
			model:     map[string]string{"709_0001": "PMW-EX1R 709_0001_01", "709_0002": "PMW-EX1R 709_0002_01"},
			unclaimed: cardLevel,
		},
		{
			// _02 is on another card: _01 and _03 still form the take, in
			// order, and nothing stands in for _02.
			name: "spans 01 and 03 only",
			tree: card([]string{"709_0003_03", "709_0003_01"}, []string{"709_0003"}),
			want: map[string]Clip{"709_0003": ex([]string{video("709_0003_01"), video("709_0003_03")},
				cat(sidecars("709_0003_01"), sidecars("709_0003_03"), takr("709_0003")))},
			model:     map[string]string{"709_0003": "PMW-EX1R 709_0003_01"},
			unclaimed: cardLevel,
		},
		{
			// The card holds spans 02 and 03 only (01 is on the card
			// before) and no TAKR: Meta comes from the first span here.
			name:      "continued from another card",
			tree:      card([]string{"709_0004_02", "709_0004_03"}, nil),
			want:      map[string]Clip{"709_0004": ex([]string{video("709_0004_02"), video("709_0004_03")}, cat(sidecars("709_0004_02"), sidecars("709_0004_03")))},
			model:     map[string]string{"709_0004": "PMW-EX1R 709_0004_02"},
			unclaimed: cardLevel,
		},
		{
			// A TAKR folder whose spans are all on another card belongs to
			// no clip; a span folder without its MP4 leaves its files to
			// the generic pass (no media: not claimed); a clip folder
			// without a span number is a clip of its own.
			name: "orphans",
			tree: func() map[string]string {
				tree := card([]string{"709_0005_01", "ABC_XYZ"}, []string{"709_0005", "709_0009"})
				tree["BPAV/CLPR/709_0006_01/709_0006_01M01.XML"] = nrt
				return tree
			}(),
			want: map[string]Clip{
				"709_0005": ex([]string{video("709_0005_01")}, cat(sidecars("709_0005_01"), takr("709_0005"))),
				"ABC_XYZ":  ex([]string{video("ABC_XYZ")}, sidecars("ABC_XYZ")),
			},
			unclaimed: append([]string{"BPAV/CLPR/709_0006_01/709_0006_01M01.XML", "BPAV/CUEUP.XML", "BPAV/MEDIAPRO.XML"}, takr("709_0009")...),
		},
		{
			name: "lower-case names",
			tree: map[string]string{
				"bpav/clpr/709_0001_01/709_0001_01.mp4": "rand:3000", "bpav/clpr/709_0001_01/709_0001_01m01.xml": nrt,
				"bpav/clpr/709_0001_02/709_0001_02.mp4": "rand:3000",
				"bpav/takr/709_0001/709_0001.smi":       "<smil/>",
			},
			want: map[string]Clip{"709_0001": ex([]string{"bpav/clpr/709_0001_01/709_0001_01.mp4", "bpav/clpr/709_0001_02/709_0001_02.mp4"},
				[]string{"bpav/clpr/709_0001_01/709_0001_01m01.xml", "bpav/takr/709_0001/709_0001.smi"})},
			model: map[string]string{"709_0001": "ILME-FX3"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, tc.tree)
			layout, err := Detect(root)
			if err != nil || layout != LayoutSonyXDCAMEX {
				t.Fatalf("Detect = %s, %v; want %s", layout, err, LayoutSonyXDCAMEX)
			}
			cs, err := Clips(root, layout)
			if err != nil {
				t.Fatal(err)
			}
			checkClips(t, cs, tc.want, tc.tree, tc.unclaimed)
			got := clipNames(cs)
			for name, model := range tc.model {
				if m := got[name].Meta; m == nil || m.Source != "sony_nrt" || m.Model != model || m.StartTimecode != "01:29:21;27" {
					t.Fatalf("clip %s meta %+v, want model %s", name, m, model)
				}
			}
		})
	}
}
