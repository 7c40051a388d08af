package s3push

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
)

// An item event (clip.proxy_ready, sequence.proxy_ready,
// card.report_ready) pushes the item's files and record to
// <prefix>/<appliance>/<dir>/<id>/, and nothing else.
func TestPushItems(t *testing.T) {
	mp4 := realMP4(t)
	poster := []byte("\xff\xd8\xff\xe0 not really a jpeg \xff\xd9")
	for _, tc := range []struct {
		name, event, dir, doc string
		// store writes the item's record as its stage does and returns
		// the bytes stored (which the uploaded record must be).
		store func(c *catalog.Catalog, id string) ([]byte, error)
		files map[string][]byte
		want  string // in the uploaded record
	}{
		{name: "clip", event: EvClipProxyReady, dir: "clips", doc: "clip.json",
			store: func(c *catalog.Catalog, id string) ([]byte, error) {
				// PutClip stores the record's JSON (storage/catalog
				// TestCardClipRecords pins those bytes).
				rec := storage.Clip{ID: id, Name: "GX0042", Parts: []storage.ClipPart{{Role: "video", Path: "DCIM/\xff.MP4"}},
					Proxy: &storage.ClipProxy{Status: "ready", Frames: 75}}
				if err := c.PutClip(rec); err != nil {
					return nil, err
				}
				return json.Marshal(rec)
			},
			files: map[string][]byte{"proxy.mp4": mp4}, want: `"frames":75`},
		{name: "sequence", event: EvSequenceProxyReady, dir: "sequences", doc: "sequence.json",
			store: func(c *catalog.Catalog, id string) ([]byte, error) {
				err := c.PutState("sequences/"+id, map[string]any{"id": id, "pattern": "shot.%04d.dpx", "first_frame": 1, "last_frame": 12,
					"proxy": map[string]any{"status": "ready", "frames": 11}})
				if err != nil {
					return nil, err
				}
				var stored json.RawMessage
				err = c.GetState("sequences/"+id, &stored)
				return stored, err
			},
			files: map[string][]byte{"proxy.mp4": mp4, "poster.jpg": poster}, want: `"frames":11`},
		{name: "card", event: EvCardReportReady, dir: "cards",
			files: map[string][]byte{"report.html": []byte("<html>A001</html>"), "report.json": []byte(`{"card":"A001"}`), "C0001.MP4": mp4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			id := strings.Repeat(hex.EncodeToString([]byte(tc.name[:2])), 8) // 32 hex, like every item id
			var stored []byte
			if tc.store != nil {
				var err error
				if stored, err = tc.store(e.cat, id); err != nil {
					t.Fatal(err)
				}
			}
			dir := filepath.Join(e.stateDir, tc.dir, id)
			os.MkdirAll(dir, 0o755)
			for name, b := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			p := e.pusher(e.config())
			stop := testutil.Start(t, "pusher", p.Run)
			time.Sleep(200 * time.Millisecond)
			if _, err := e.cat.AppendEvent(storage.Event{Type: tc.event, Volume: "nas", Path: id, Detail: `{"status":"ready"}`}); err != nil {
				t.Fatal(err)
			}
			base := strings.Join([]string{"edge", testApp, tc.dir, id}, "/")
			var want []string
			for name := range tc.files {
				if !strings.HasSuffix(name, ".MP4") { // a master in the card's folder stays home
					want = append(want, base+"/"+name)
				}
			}
			if tc.doc != "" {
				want = append(want, base+"/"+tc.doc)
			}
			slices.Sort(want)
			c := e.srv.Client()
			testutil.WaitFor(t, 30*time.Second, tc.name+" objects", func() bool { return p.Status().BacklogAssets == 0 && len(listKeys(t, c)) >= len(want) })
			stop()
			if got := listKeys(t, c); !slices.Equal(got, want) {
				t.Errorf("bucket holds %q, want %q", got, want)
			}
			for name, b := range tc.files {
				if slices.Contains(want, base+"/"+name) {
					got, _ := getObject(t, c, base+"/"+name)
					equalBytes(t, base+"/"+name, got, b)
				}
			}
			if tc.doc != "" {
				js, _ := getObject(t, c, base+"/"+tc.doc)
				if !strings.Contains(string(js), tc.want) || !strings.Contains(string(js), id) {
					t.Errorf("%s = %s", tc.doc, js)
				}
				equalBytes(t, base+"/"+tc.doc+" (the stored record)", js, stored)
			}
		})
	}
}
