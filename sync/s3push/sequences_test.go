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

// A sequence.proxy_ready event pushes the sequence record, its proxy and
// its poster to <prefix>/<appliance>/sequences/<id>/.
func TestPushSequence(t *testing.T) {
	e := newEnv(t)
	mp4 := realMP4(t)
	poster := []byte("\xff\xd8\xff\xe0 not really a jpeg \xff\xd9")
	id := strings.Repeat("cd", 16)
	doc := map[string]any{"id": id, "pattern": "shot.%04d.dpx", "first_frame": 1, "last_frame": 12, "proxy": map[string]any{"status": "ready", "frames": 11}}
	if err := e.cat.PutState("sequences/"+id, doc); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.stateDir, "sequences", id)
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, "proxy.mp4"), mp4, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "poster.jpg"), poster, 0o644); err != nil {
		t.Fatal(err)
	}
	p := e.pusher(e.config())
	stop := start(t, p)
	time.Sleep(200 * time.Millisecond)
	if _, err := e.cat.AppendEvent(storage.Event{Type: EvSequenceProxyReady, Volume: "nas", Path: id, Detail: `{"status":"ready"}`}); err != nil {
		t.Fatal(err)
	}
	base := strings.Join([]string{"edge", testApp, "sequences", id}, "/")
	c := e.srv.Client()
	waitFor(t, 30*time.Second, "sequence objects", func() bool {
		ks := listKeys(t, c)
		return slices.Contains(ks, base+"/sequence.json") && slices.Contains(ks, base+"/proxy.mp4") && slices.Contains(ks, base+"/poster.jpg")
	})
	stop()
	got, _ := getObject(t, c, base+"/proxy.mp4")
	equalBytes(t, base+"/proxy.mp4", got, mp4)
	got, _ = getObject(t, c, base+"/poster.jpg")
	equalBytes(t, base+"/poster.jpg", got, poster)
	js, _ := getObject(t, c, base+"/sequence.json")
	if !strings.Contains(string(js), `"frames":11`) || !strings.Contains(string(js), id) {
		t.Errorf("sequence.json = %s", js)
	}
	if st := p.Status(); st.BacklogAssets != 0 {
		t.Errorf("backlog %d after the sequence push", st.BacklogAssets)
	}
}
