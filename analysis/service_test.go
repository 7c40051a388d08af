package analysis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	id = addProxied(t, cat, state, src, &storage.Media{Duration: 12, Timecode: gen.Known.Timecode, Streams: []storage.Stream{
		{Type: "video", FrameRate: "25", Width: 320, Height: 240}, {Type: "audio", Channels: 2}}})
	return ff, cat, state, id
}

// addProxied catalogs src as a video asset whose ready proxy is src itself
// (moved into state_dir), with media as its probe, and returns its id.
func addProxied(t *testing.T, cat *catalog.Catalog, state, src string, media *storage.Media) string {
	t.Helper()
	h, size, err := ingest.HashFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.PutFile(storage.FileRecord{Volume: "nas", Path: filepath.Base(src), Size: size, MTime: time.Now(), Hashes: h}); err != nil {
		t.Fatal(err)
	}
	id := h.BLAKE3
	proxy := storage.OutputPath(state, id, "proxy.mp4")
	if err := os.MkdirAll(filepath.Dir(proxy), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(src, proxy); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.UpdateAsset(id, storage.EvProxyReady, "", func(a *storage.Asset) error {
		a.Kind = "video"
		a.Media = media
		a.Proxy = &storage.ProxyInfo{Status: "ready", Outputs: []string{"proxy.mp4"}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

// waitEvent waits up to limit for an event of type typ for asset id and
// returns it.
func waitEvent(t *testing.T, cat *catalog.Catalog, typ, id string, limit time.Duration) storage.Event {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		evs, err := cat.Events(0, 100000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Type == typ && e.AssetID == id {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s of %s after %s", typ, id, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestServiceTenHourFile (issue 14 bad input): a 10-hour programme (1 fps,
// stream-copied from a one-minute piece, written in seconds). With audio
// and analysis.timeout 5s, its analysis is killed at the timeout and fails
// with that reason, and the next asset in the queue is analysed. Without
// audio it completes within the default timeout: the whole programme's
// frames and timecodes, one shot per scene change, thumbnails capped. The
// memory of the two FFmpeg processes is bench/analysis.sh's (issue 14:
// flat for a 10-hour programme).
func TestServiceTenHourFile(t *testing.T) {
	ff, cat, state, qc := proxiedAsset(t)
	dir := t.TempDir()
	long := filepath.Join(dir, "tenhours.mov")
	if err := gen.LongClip(context.Background(), ff, long, 600, true); err != nil {
		t.Fatal(err)
	}
	mute := filepath.Join(dir, "tenhours-mute.mov")
	if err := gen.LongClip(context.Background(), ff, mute, 600, false); err != nil {
		t.Fatal(err)
	}
	media := func(audio bool) *storage.Media {
		m := &storage.Media{Duration: 36000, Timecode: "10:00:00:00", Streams: []storage.Stream{{Type: "video", FrameRate: "1", Width: 32, Height: 18}}}
		if audio {
			m.Streams = append(m.Streams, storage.Stream{Type: "audio", Channels: 1})
		}
		return m
	}
	// The queue: the QC clip (proxiedAsset), the long file, then the QC
	// clip without audio.
	longID := addProxied(t, cat, state, long, media(true))
	next := filepath.Join(dir, "next.mov")
	if err := gen.QCClip(context.Background(), ff, next, false); err != nil {
		t.Fatal(err)
	}
	nextID := addProxied(t, cat, state, next, &storage.Media{Duration: 12, Timecode: gen.Known.Timecode,
		Streams: []storage.Stream{{Type: "video", FrameRate: "25", Width: 320, Height: 240}}})
	start := func(cfg Config) (*Service, func()) {
		svc, err := New(cfg, ff, state, cat, slog.Default())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- svc.Run(ctx) }()
		return svc, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	svc, stop := start(Config{Timeout: 5 * time.Second, MaxThumbnails: 50})
	t0 := time.Now()
	ev := waitEvent(t, cat, storage.EvAnalysisFailed, longID, 2*time.Minute)
	if !strings.Contains(ev.Detail, "analysis timed out after 5s (analysis.timeout; programme 10h0m0s)") {
		t.Errorf("10-hour file failed with %q, want the analysis.timeout reason", ev.Detail)
	}
	t.Logf("10-hour file with audio: failed after %s: %s", time.Since(t0).Round(time.Millisecond), ev.Detail)
	doc, err := cat.Asset(longID)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Analysis == nil || doc.Analysis.Status != StatusFailed || doc.Analysis.Error != ev.Detail {
		t.Errorf("10-hour asset's analysis section %+v", doc.Analysis)
	}
	if _, err := os.Stat(storage.OutputPath(state, longID, OutJSON)); err == nil {
		t.Error("analysis.json written for a timed-out analysis")
	}
	// The queue goes on: the clip queued behind it.
	if ready := waitEvent(t, cat, storage.EvAnalysisReady, nextID, 2*time.Minute); ready.Seq < ev.Seq {
		t.Errorf("the next clip's analysis.ready (seq %d) before the 10-hour file failed (seq %d)", ready.Seq, ev.Seq)
	}
	waitEvent(t, cat, storage.EvAnalysisReady, qc, time.Second)
	if st := svc.Status(); st.Done[StatusFailed] != 1 || st.Done[StatusReady] != 2 {
		t.Errorf("status after the three: %+v", st)
	}

	// Without audio: completes within the (default) timeout.
	stop()
	muteID := addProxied(t, cat, state, mute, media(false))
	_, stop = start(Config{MaxThumbnails: 50})
	defer stop()
	t1 := time.Now()
	waitEvent(t, cat, storage.EvAnalysisReady, muteID, 5*time.Minute)
	t.Logf("10-hour file without audio: analysed in %s", time.Since(t1).Round(time.Millisecond))
	b, err := os.ReadFile(storage.OutputPath(state, muteID, OutJSON))
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Duration != 36000 || res.Audio || len(res.Shots) < 1 || res.Shots[0].StartTC != "10:00:00:00" {
		t.Fatalf("10-hour analysis: duration %g audio %v shots %d first %+v", res.Duration, res.Audio, len(res.Shots), res.Shots)
	}
	last := res.Shots[len(res.Shots)-1]
	if last.End != 36000 {
		t.Errorf("last shot ends at %g, want the programme's end 36000", last.End)
	}
	kept := 0
	for _, s := range res.Shots {
		if s.Thumbnail != "" {
			kept++
		}
	}
	thumbs, _ := filepath.Glob(filepath.Join(filepath.Dir(storage.OutputPath(state, muteID, OutJSON)), OutThumb, "*.jpg"))
	if kept > 50 || len(thumbs) > 50 || len(thumbs) != kept {
		t.Errorf("thumbnails: %d referenced, %d on disk, want at most 50 and equal", kept, len(thumbs))
	}
	t.Logf("10-hour analysis: %d shots, %d black, %d freeze, truncated %v", len(res.Shots), len(res.Black), len(res.Freeze), res.Truncated)
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
	// The stage counts the job done just after it commits analysis.ready.
	st := svc.Status()
	for len(st.Running) != 0 || st.Done[StatusReady] != 1 {
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
		st = svc.Status()
	}
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
	if doc.Analysis == nil || doc.Analysis.Shots < 1 {
		t.Fatalf("analysis %+v, want shots", doc.Analysis)
	}
	want := []string{OutJSON, OutShots}
	for i := 1; i <= doc.Analysis.Shots; i++ {
		want = append(want, fmt.Sprintf("shots/%05d.jpg", i))
	}
	want = append(want, "enrichment/stt.json", OutTranscript)
	if !slices.Equal(doc.Analysis.Outputs, want) {
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
	// Per-shot thumbnails are served; other names under shots/ are not.
	if code, ct, jpg := get("shots/00001.jpg"); code != 200 || ct != "image/jpeg" || len(jpg) < 3 || jpg[0] != 0xff || jpg[1] != 0xd8 {
		t.Errorf("GET shots/00001.jpg: %d %s %d bytes", code, ct, len(jpg))
	}
	for _, p := range []string{"shots/1.jpg", "shots/../analysis.json", "shots/00001.png", "shots/"} {
		if code, _, _ := get(p); code != 404 {
			t.Errorf("GET %s: %d, want 404", p, code)
		}
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

// TestServiceEnricherInputs: an enricher gets the asset document and the
// path of a 16 kHz mono WAV of the proxy's audio (docs/api.md Enrichers).
func TestServiceEnricherInputs(t *testing.T) {
	ff, cat, state, id := proxiedAsset(t)
	ffprobe := testenv.Need(t, "ffprobe")
	out := t.TempDir()
	en := script(t, `req=$(cat); printf '%s' "$req" > `+out+`/req.json
audio=$(printf '%s' "$req" | sed -n 's/.*"audio":"\([^"]*\)".*/\1/p')
`+ffprobe+` -v error -show_entries stream=codec_name,sample_rate,channels -of csv=p=0 "$audio" > `+out+`/probe.txt
echo '{"data":{}}'`)
	svc, err := New(Config{Enrichers: []Enricher{{Name: "in", Command: []string{en}}}}, ff, state, cat, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer testutil.Start(t, "analysis service", svc.Run)()
	deadline := time.Now().Add(time.Minute)
	for catalogtest.CountEvents(t, cat, storage.EvAnalysisReady, id) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no analysis.ready after a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, err := os.ReadFile(filepath.Join(out, "req.json"))
	if err != nil {
		t.Fatal(err)
	}
	var req EnrichRequest
	if err := json.Unmarshal(b, &req); err != nil || req.Asset == nil || req.Asset.ID != id || req.Asset.Kind != req.Kind || req.Audio == "" {
		t.Fatalf("request %s (%v): want the asset document and the audio path", b, err)
	}
	if p, err := os.ReadFile(filepath.Join(out, "probe.txt")); err != nil || strings.TrimSpace(string(p)) != "pcm_s16le,16000,1" {
		t.Errorf("the audio input %s probes as %q (%v), want pcm_s16le,16000,1", req.Audio, p, err)
	}
	if _, err := os.Stat(req.Audio); err == nil {
		t.Errorf("the WAV %s outlives the analysis", req.Audio)
	}
}

// TestServiceMasterAudioFallback: the audio pass measures the master; a
// master that is offline, or that FFmpeg cannot read, is replaced by the
// proxy's mix, and analysis.json says so (audio_source, audio_note).
func TestServiceMasterAudioFallback(t *testing.T) {
	ff, cat, state, id := proxiedAsset(t)
	if _, err := cat.UpdateAsset(id, "", "", func(a *storage.Asset) error {
		a.Media.Container = "mov"
		a.Media.Streams[1].Index = 1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(t.TempDir(), "master.mov")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a movie "), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		resolve func(storage.AssetDoc) (string, error)
		note    string
	}{
		{"offline", func(storage.AssetDoc) (string, error) { return "", errors.New("no present location") }, "master offline"},
		{"unreadable", func(storage.AssetDoc) (string, error) { return garbage, nil }, "master unreadable"},
	} {
		svc, err := New(Config{}, ff, state, cat, slog.Default())
		if err != nil {
			t.Fatal(err)
		}
		svc.SetMaster(c.resolve)
		res, err := svc.analyseAsset(t.Context(), id)
		if err != nil {
			t.Fatalf("%s master: %v", c.name, err)
		}
		if res.AudioSource != "proxy" || !strings.HasPrefix(res.AudioNote, c.note) || res.Loudness == nil {
			t.Errorf("%s master: audio_source %q note %q loudness %+v, want the proxy's with a note %q…", c.name, res.AudioSource, res.AudioNote, res.Loudness, c.note)
		}
		if strings.Contains(res.AudioNote, garbage) {
			t.Errorf("note %q serves a server path", res.AudioNote)
		}
	}
}
