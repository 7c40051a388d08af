package cards

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/storage"
)

// TestClipsMediaFollowsExtensionTable: on a DCIM card every extension of
// storage's one media-extension table (either case) is a clip of its own,
// and files with other extensions are not. transcode tests its own use of
// the same table, so the two cannot disagree about an extension.
func TestClipsMediaFollowsExtensionTable(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "DCIM", "100CAM")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for i, e := range storage.MediaExts() {
		name := "M" + strings.TrimPrefix(e.Ext, ".") + e.Ext // distinct stems: one clip each
		if i%2 == 1 {
			name = strings.ToUpper(name)
		}
		want["DCIM/100CAM/"+name] = true
	}
	others := []string{"NOTES.TXT", "INDEX.BDM", "CAM.LOG", "README"}
	for _, n := range append(others, keys(want)...) {
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(n)), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	clips, err := Clips(root, LayoutDCIM)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, c := range clips {
		for _, v := range c.Video {
			got[v] = true
		}
	}
	for f := range want {
		if !got[f] {
			t.Errorf("%s: media in the table, not a clip", f)
		}
	}
	for f := range got {
		if !want[f] {
			t.Errorf("%s: a clip, not media in the table", f)
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
