package transcode

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
)

// TestUnreadableFileFollowsExtensionTable: a file ffprobe cannot read is
// classified by storage's one media-extension table, every entry of it in
// either case: media is failed (corrupt) with the table's kind, an
// undecodable format is unsupported with its name, and anything else is a
// document (other, no proxy). daemon/cards and daemon/sequences test their
// own use of the same table, so no two call sites can disagree.
func TestUnreadableFileFollowsExtensionTable(t *testing.T) {
	tools := needFFmpeg(t)
	dir := t.TempDir()
	tools.Volumes = map[string]string{"nas": dir}
	cat := catalogtest.Open(t, t.TempDir())
	type want struct {
		kind, status, reason string
	}
	wants := map[string]want{}
	ids := map[string]string{}
	add := func(name string, w want) {
		// Zeros no demuxer claims, made unique per name (assets are content).
		body := append(make([]byte, 4096), name...)
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
		ids[name] = catalogFile(t, cat, "nas", dir, name)
		wants[name] = w
	}
	for i, e := range storage.MediaExts() {
		w := want{kind: e.Kind, status: StatusFailed}
		if e.NoDecoder != "" {
			w = want{kind: e.Kind, status: StatusUnsupported, reason: e.NoDecoder}
		}
		name := "clip" + e.Ext
		if i%2 == 1 {
			name = "CLIP" + strings.ToUpper(e.Ext)
		}
		add(name, w)
	}
	for _, n := range []string{"notes.txt", "C0001M01.XML", "README", "sidecar.xmp"} {
		add(n, want{kind: KindOther})
	}
	startService(t, Config{CPUJobs: 1}, tools, t.TempDir(), cat)
	for name, w := range wants {
		doc := waitAsset(t, cat, ids[name], 2*time.Minute, finalStatus)
		got := want{kind: doc.Kind}
		if doc.Proxy != nil {
			got.status = doc.Proxy.Status
		}
		if got.kind != w.kind || got.status != w.status {
			t.Errorf("%s: kind %q status %q, want kind %q status %q", name, got.kind, got.status, w.kind, w.status)
			continue
		}
		if w.reason != "" && !strings.Contains(doc.Proxy.Error, w.reason) {
			t.Errorf("%s: reason %q does not name %s", name, doc.Proxy.Error, w.reason)
		}
	}
}
