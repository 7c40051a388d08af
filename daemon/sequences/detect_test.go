package sequences

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/storage"
)

func TestParseFrame(t *testing.T) {
	exts := DefaultExtensions
	cases := []struct {
		name string
		ok   bool
		want Frame
	}{
		{"shot_010.1001.exr", true, Frame{Name: "shot_010.1001.exr", Base: "shot_010.", Number: 1001, Width: 4, Ext: "exr"}},
		{"plate_0007.DPX", true, Frame{Name: "plate_0007.DPX", Base: "plate_", Number: 7, Width: 4, Ext: "DPX"}},
		{"render-12.png", true, Frame{Name: "render-12.png", Base: "render-", Number: 12, Width: 2, Ext: "png"}},
		{"00042.tif", true, Frame{Name: "00042.tif", Base: "", Number: 42, Width: 5, Ext: "tif"}},
		{"a.0001.jpeg", true, Frame{Name: "a.0001.jpeg", Base: "a.", Number: 1, Width: 4, Ext: "jpeg"}},
		{"clip.0001.mov", false, Frame{}}, // not a frame format
		{"notes.txt", false, Frame{}},     // no number
		{"shot.exr", false, Frame{}},      // no number
		{"shot.0001", false, Frame{}},     // no extension
		{".0001.exr", true, Frame{Name: ".0001.exr", Base: ".", Number: 1, Width: 4, Ext: "exr"}},
		{"x.1234567890123.exr", false, Frame{}}, // more than 12 digits
		{"shot.0001.exr.", false, Frame{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := ParseFrame(c.name, exts)
			if ok != c.ok || (ok && got != c.want) {
				t.Errorf("ParseFrame(%q) = %+v, %v; want %+v, %v", c.name, got, ok, c.want, c.ok)
			}
		})
	}
	if _, ok := ParseFrame("a.0001.png", []string{"exr"}); ok {
		t.Error("png accepted with extensions [exr]")
	}
}

func TestGroup(t *testing.T) {
	names := []string{
		// shot_010 EXR with frames 1001..1012, 1005 and 1009-1010 missing
		"shot_010.1001.exr", "shot_010.1002.exr", "shot_010.1003.exr", "shot_010.1004.exr",
		"shot_010.1006.exr", "shot_010.1007.exr", "shot_010.1008.exr", "shot_010.1011.exr", "shot_010.1012.exr",
		// same base, other padding: a sequence of its own
		"shot_010.01.exr", "shot_010.02.exr", "shot_010.03.exr",
		// same base and padding, other extension
		"shot_010.1001.dpx", "shot_010.1002.dpx", "shot_010.1003.dpx",
		// too short to be a sequence (min 3)
		"bg.0001.png", "bg.0002.png",
		// not frames at all
		"notes.txt", "shot_010.mov", "README",
	}
	var frames []Frame
	for _, n := range names {
		if f, ok := ParseFrame(n, DefaultExtensions); ok {
			frames = append(frames, f)
		}
	}
	g := Group(frames, 3)
	if len(g) != 3 {
		t.Fatalf("%d groups, want 3: %v", len(g), g)
	}
	exr := g[Key{"shot_010.", "exr", 4}]
	if len(exr) != 9 || exr[0].Number != 1001 || exr[8].Number != 1012 {
		t.Fatalf("exr group = %v", exr)
	}
	miss, n := Missing(exr, 10)
	if want := []Range{{First: 1005, Last: 1005}, {First: 1009, Last: 1010}}; !reflect.DeepEqual(miss, want) || n != 3 {
		t.Errorf("missing = %v (%d), want %v (3)", miss, n, want)
	}
	if k := (Key{"shot_010.", "exr", 4}); k.Pattern() != "shot_010.%04d.exr" {
		t.Errorf("pattern %q", k.Pattern())
	}
	if k := (Key{"100%.", "png", 2}); k.Pattern() != "100%%.%02d.png" {
		t.Errorf("pattern %q", k.Pattern())
	}
	if len(g[Key{"shot_010.", "exr", 2}]) != 3 || len(g[Key{"shot_010.", "dpx", 4}]) != 3 {
		t.Errorf("padding/extension groups wrong: %v", g)
	}
	if _, ok := g[Key{"bg.", "png", 4}]; ok {
		t.Error("two frames made a sequence")
	}
	// Missing is capped but counts every frame.
	var sparse []Frame
	for i := int64(0); i < 20; i++ {
		sparse = append(sparse, Frame{Number: i * 3})
	}
	miss, n = Missing(sparse, 5)
	if len(miss) != 5 || n != 38 {
		t.Errorf("capped missing = %v, %d; want 5 ranges, 38 frames", miss, n)
	}
	// Ids are stable and differ by every part of the key.
	a := ID("nas", "renders/sh010", Key{"shot_010.", "exr", 4})
	if a != ID("nas", "renders/sh010", Key{"shot_010.", "exr", 4}) || !ValidID(a) {
		t.Errorf("id %q not stable or not valid", a)
	}
	for _, b := range []string{ID("nas2", "renders/sh010", Key{"shot_010.", "exr", 4}), ID("nas", "renders", Key{"shot_010.", "exr", 4}),
		ID("nas", "renders/sh010", Key{"shot_011.", "exr", 4}), ID("nas", "renders/sh010", Key{"shot_010.", "dpx", 4}), ID("nas", "renders/sh010", Key{"shot_010.", "exr", 5})} {
		if b == a {
			t.Errorf("id collision %s", b)
		}
	}
}

// TestDefaultExtensionsAreTableImages: the default frame formats are the
// image formats storage's media-extension table marks as frames (in the
// documented order), so transcode classifies every default frame as an
// image, and each parses as a frame.
func TestDefaultExtensionsAreTableImages(t *testing.T) {
	want := []string{"dpx", "exr", "tif", "tiff", "png", "jpg", "jpeg"} // docs: sequences.extensions
	if !slices.Equal(DefaultExtensions, want) {
		t.Fatalf("default extensions %v, want %v", DefaultExtensions, want)
	}
	for _, e := range DefaultExtensions {
		if me, ok := storage.MediaExtOf("f." + strings.ToUpper(e)); !ok || me.Kind != storage.KindImage || !me.Frame {
			t.Errorf("%s: %+v in the media table, want a frame image", e, me)
		}
		if _, ok := ParseFrame("shot.0001."+e, DefaultExtensions); !ok {
			t.Errorf("shot.0001.%s does not parse as a frame", e)
		}
	}
	for _, me := range storage.MediaExts() {
		if me.Frame != slices.Contains(DefaultExtensions, strings.TrimPrefix(me.Ext, ".")) {
			t.Errorf("%s: frame %v in the table, disagrees with DefaultExtensions", me.Ext, me.Frame)
		}
	}
}
