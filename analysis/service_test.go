package analysis

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/ingest"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
	gen "github.com/ingestd/ingestd/testdata/analysis"
)

// TestServiceRunsAfterProxyAndAfterRestart: with a real catalog, the stage
// analyses an asset once its proxy is ready (analysis section, outputs,
// analysis.ready, job record gone); a job record left by an interrupted
// run is analysed again at the next start; and no analysis starts while
// the proxy stage reports jobs queued.
func TestServiceRunsAfterProxyAndAfterRestart(t *testing.T) {
	ff, cat, state, id := proxiedAsset(t)
	run := func(busy func() bool, want int) time.Duration {
		t.Helper()
		svc, err := New(Config{}, ff, state, cat, slog.Default())
		if err != nil {
			t.Fatal(err)
		}
		svc.SetProxyBusy(busy)
		t0 := time.Now()
		defer testutil.Start(t, "analysis service", svc.Run)()
		for catalogtest.CountEvents(t, cat, storage.EvAnalysisReady, id) < want {
			if time.Since(t0) > time.Minute {
				t.Fatalf("no analysis.ready #%d after a minute", want)
			}
			time.Sleep(100 * time.Millisecond)
		}
		return time.Since(t0)
	}
	run(nil, 1)
	doc, err := cat.Asset(id)
	if err != nil {
		t.Fatal(err)
	}
	if a := doc.Analysis; a == nil || a.Status != StatusReady || a.Verdict != Fail || a.Shots != 4 || a.Loudness == nil {
		t.Fatalf("analysis section = %+v", doc.Analysis)
	}
	for _, n := range []string{OutJSON, OutShots, OutThumb + "/00001.jpg"} {
		if _, err := os.Stat(storage.OutputPath(state, id, n)); err != nil {
			t.Errorf("output %s: %v", n, err)
		}
	}
	var left []string
	_ = cat.ListState(jobPrefix, func(k string, _ []byte) error { left = append(left, k); return nil })
	if len(left) != 0 {
		t.Errorf("job records left: %v", left)
	}
	// An interrupted run left its record: the next start runs it, once the
	// proxy stage has nothing queued (busy for the first 1.5 s).
	if err := cat.PutState(jobPrefix+id, job{ID: id, Queued: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var until atomic.Int64
	until.Store(time.Now().Add(1500 * time.Millisecond).UnixNano())
	took := run(func() bool { return time.Now().UnixNano() < until.Load() }, 2)
	if took < 1500*time.Millisecond {
		t.Errorf("analysis ran after %s while the proxy stage was busy for 1.5 s", took)
	}
}

// proxiedAsset catalogs the generated QC clip in a real catalog, with a
// copy of it as its ready proxy.
func proxiedAsset(t *testing.T) (ff string, cat *catalog.Catalog, state, id string) {
	t.Helper()
	ff = testenv.Need(t, "ffmpeg")
	dir := t.TempDir()
	cat, err := catalog.Open(filepath.Join(dir, "catalog"), catalog.Options{NoSyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	state = filepath.Join(dir, "state")
	src := filepath.Join(dir, "vol", "qc.mov")
	if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := gen.QCClip(context.Background(), ff, src, true); err != nil {
		t.Fatal(err)
	}
	h, size, err := ingest.HashFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.PutFile(storage.FileRecord{Volume: "nas", Path: "qc.mov", Size: size, MTime: time.Now(), Hashes: h}); err != nil {
		t.Fatal(err)
	}
	id = h.BLAKE3
	proxy := storage.OutputPath(state, id, "proxy.mp4")
	if err := os.MkdirAll(filepath.Dir(proxy), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(proxy, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.UpdateAsset(id, storage.EvProxyReady, "", func(a *storage.Asset) error {
		a.Kind = "video"
		a.Media = &storage.Media{Duration: 12, Timecode: gen.Known.Timecode, Streams: []storage.Stream{
			{Type: "video", FrameRate: "25", Width: 320, Height: 240}, {Type: "audio", Channels: 2}}}
		a.Proxy = &storage.ProxyInfo{Status: "ready", Outputs: []string{"proxy.mp4"}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ff, cat, state, id
}

// TestServiceStatusAndEnrichmentOutputs: while an enricher runs, the
// stage's status shows the job and its step; afterwards it counts the job
// done and each enricher's result, with the failing one's last error; the
// ready enricher's enrichment/<name>.json and transcript.vtt are
// installed, listed in the asset's analysis outputs and served by Handler
// over real HTTP, and the failed enricher has neither.
func TestServiceStatusAndEnrichmentOutputs(t *testing.T) {
	ff, cat, state, id := proxiedAsset(t)
	gate := filepath.Join(t.TempDir(), "go")
	good := script(t, `req=$(cat); dir=$(printf '%s' "$req" | sed -n 's/.*"out_dir":"\([^"]*\)".*/\1/p')
while [ ! -e `+gate+` ]; do sleep 0.05; done
printf 'WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nhello\n' > "$dir/transcript.vtt"
printf '{"data":{"words":1},"files":["transcript.vtt"]}'`)
	bad := script(t, "cat >/dev/null; echo 'model missing' >&2; exit 3")
	svc, err := New(Config{Enrichers: []Enricher{{Name: "stt", Command: []string{good}}, {Name: "tags", Command: []string{bad}}}}, ff, state, cat, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer testutil.Start(t, "analysis service", svc.Run)()
	deadline := time.Now().Add(time.Minute)
	for {
		st := svc.Status()
		if len(st.Running) == 1 && st.Running[0].Step == "enricher:stt" {
			if r := st.Running[0]; r.AssetID != id || r.Progress != 1 || r.Started.IsZero() {
				t.Errorf("running job %+v", r)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never saw the job at its enricher: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for catalogtest.CountEvents(t, cat, storage.EvAnalysisReady, id) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no analysis.ready after a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
	st := svc.Status()
	if len(st.Running) != 0 || st.Queued != 0 || st.Done[StatusReady] != 1 || st.Done[StatusFailed] != 0 || len(st.Enrichers) != 2 {
		t.Fatalf("status after the job: %+v", st)
	}
	if e := st.Enrichers[0]; e.Name != "stt" || e.Ready != 1 || e.Failed != 0 || e.LastError != "" {
		t.Errorf("stt status %+v", e)
	}
	if e := st.Enrichers[1]; e.Name != "tags" || e.Failed != 1 || !strings.Contains(e.LastError, "exit status 3: model missing") || e.LastErrorAsset != id || e.LastErrorAt == nil {
		t.Errorf("tags status %+v", e)
	}
	doc, err := cat.Asset(id)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{OutJSON, OutShots, "enrichment/stt.json", OutTranscript}
	if doc.Analysis == nil || !slices.Equal(doc.Analysis.Outputs, want) {
		t.Fatalf("analysis outputs %+v, want %v", doc.Analysis, want)
	}
	srv := httptest.NewServer(Handler(state))
	defer srv.Close()
	get := func(p string) (int, string, []byte) {
		resp, err := http.Get(srv.URL + "/v1/assets/" + id + "/" + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), b
	}
	code, ct, vtt := get(OutTranscript)
	if code != 200 || ct != "text/vtt; charset=utf-8" || !strings.HasPrefix(string(vtt), "WEBVTT\n") || !strings.Contains(string(vtt), "hello") {
		t.Errorf("GET transcript.vtt: %d %s %q", code, ct, vtt)
	}
	code, ct, b := get("enrichment/stt.json")
	var ed EnrichmentDoc
	if err := json.Unmarshal(b, &ed); code != 200 || ct != "application/json" || err != nil || ed.AssetID != id || ed.Name != "stt" ||
		ed.Status != StatusReady || string(ed.Data) != `{"words":1}` && !strings.Contains(string(ed.Data), `"words": 1`) {
		t.Errorf("GET enrichment/stt.json: %d %s %s (%v)", code, ct, b, err)
	}
	for _, p := range []string{"enrichment/tags.json", "enrichment/../analysis.json", "enrichment/STT.json", "enrichment/stt.txt"} {
		if code, _, _ := get(p); code != 404 {
			t.Errorf("GET %s: %d, want 404", p, code)
		}
	}
}
