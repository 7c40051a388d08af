package s3push

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/storage"
)

// A clip.proxy_ready event pushes the clip document and its whole-clip
// proxy to <prefix>/<appliance>/clips/<id>/{clip.json,proxy.mp4}.
func TestPushClip(t *testing.T) {
	e := newEnv(t)
	mp4 := realMP4(t)
	id := strings.Repeat("ab", 16)
	doc := map[string]any{"id": id, "name": "GX0042", "parts": []any{}, "proxy": map[string]any{"status": "ready", "frames": 75}}
	if err := e.cat.PutState("clips/"+id, doc); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(e.stateDir, "clips", id, "proxy.mp4")
	os.MkdirAll(filepath.Dir(f), 0o755)
	if err := os.WriteFile(f, mp4, 0o644); err != nil {
		t.Fatal(err)
	}
	p := e.pusher(e.config())
	stop := start(t, p)
	time.Sleep(200 * time.Millisecond)
	if _, err := e.cat.AppendEvent(storage.Event{Type: EvClipProxyReady, Volume: "nas", Path: id, Detail: `{"status":"ready"}`}); err != nil {
		t.Fatal(err)
	}
	base := strings.Join([]string{"edge", testApp, "clips", id}, "/")
	c := e.srv.Client()
	waitFor(t, 30*time.Second, "clip objects", func() bool {
		ks := listKeys(t, c)
		return slices.Contains(ks, base+"/clip.json") && slices.Contains(ks, base+"/proxy.mp4")
	})
	stop()
	got, _ := getObject(t, c, base+"/proxy.mp4")
	equalBytes(t, base+"/proxy.mp4", got, mp4)
	js, _ := getObject(t, c, base+"/clip.json")
	if !strings.Contains(string(js), `"frames":75`) || !strings.Contains(string(js), id) {
		t.Errorf("clip.json = %s", js)
	}
	if st := p.Status(); st.BacklogAssets != 0 {
		t.Errorf("backlog %d after the clip push", st.BacklogAssets)
	}
}
