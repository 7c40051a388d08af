package storage

import (
	"strings"
	"testing"
)

// TestMediaExtTable checks the table's own invariants: one row per
// extension, lowercase with the dot, a media kind, frames are images; and
// lookups are case-insensitive, take paths, and refuse documents.
func TestMediaExtTable(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range MediaExts() {
		if seen[e.Ext] {
			t.Errorf("%s: listed twice", e.Ext)
		}
		seen[e.Ext] = true
		if e.Ext != strings.ToLower(e.Ext) || !strings.HasPrefix(e.Ext, ".") || strings.Count(e.Ext, ".") != 1 {
			t.Errorf("%q: want lowercase with one leading dot", e.Ext)
		}
		switch e.Kind {
		case KindVideo, KindAudio, KindImage:
		default:
			t.Errorf("%s: kind %q", e.Ext, e.Kind)
		}
		if e.Frame && (e.Kind != KindImage || e.NoDecoder != "") {
			t.Errorf("%s: a frame format must be a decodable image", e.Ext)
		}
		for _, name := range []string{"a" + e.Ext, "dir.d/A" + strings.ToUpper(e.Ext), "/abs/x.y" + e.Ext} {
			if got, ok := MediaExtOf(name); !ok || got != e {
				t.Errorf("MediaExtOf(%q) = %+v, %v; want %+v", name, got, ok, e)
			}
		}
	}
	for _, name := range []string{"notes.txt", "C0001M01.XML", "README", "mov", "x.mov/", "x.mov.part", ".hidden"} {
		if e, ok := MediaExtOf(name); ok {
			t.Errorf("MediaExtOf(%q) = %+v: not media", name, e)
		}
	}
	if got := strings.Join(FrameExtensions(), ","); got != "dpx,exr,tif,tiff,png,jpg,jpeg" {
		t.Errorf("frame extensions %s", got)
	}
	MediaExts()[0].Kind = "changed"
	if e, _ := MediaExtOf("x.dpx"); e.Kind != KindImage {
		t.Error("MediaExts returned the table itself, not a copy")
	}
}
