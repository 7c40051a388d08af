package s3push

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/storage"
)

// An item event (clip.proxy_ready, sequence.proxy_ready,
// card.report_ready) pushes the item's files and record to
// <prefix>/<appliance>/<dir>/<id>/, and nothing else.
func TestPushItems(t *testing.T) {
	mp4 := realMP4(t)
	poster := []byte("\xff\xd8\xff\xe0 not really a jpeg \xff\xd9")
	for _, tc := range []struct {
		name, event, dir, stateKey, doc string
		record                          map[string]any
		files                           map[string][]byte
		want                            string // in the uploaded record
	}{
		{name: "clip", event: EvClipProxyReady, dir: "clips", stateKey: "clips/", doc: "clip.json",
			record: map[string]any{"name": "GX0042", "parts": []any{}, "proxy": map[string]any{"status": "ready", "frames": 75}},
			files:  map[string][]byte{"proxy.mp4": mp4}, want: `"frames":75`},
		{name: "sequence", event: EvSequenceProxyReady, dir: "sequences", stateKey: "sequences/", doc: "sequence.json",
			record: map[string]any{"pattern": "shot.%04d.dpx", "first_frame": 1, "last_frame": 12, "proxy": map[string]any{"status": "ready", "frames": 11}},
			files:  map[string][]byte{"proxy.mp4": mp4, "poster.jpg": poster}, want: `"frames":11`},
		{name: "card", event: EvCardReportReady, dir: "cards",
			files: map[string][]byte{"report.html": []byte("<html>A001</html>"), "report.json": []byte(`{"card":"A001"}`), "C0001.MP4": mp4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			id := strings.Repeat(tc.name[:2], 16)
			if tc.record != nil {
				tc.record["id"] = id
				if err := e.cat.PutState(tc.stateKey+id, tc.record); err != nil {
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
			}
		})
	}
}
