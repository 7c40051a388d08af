package main_test

// End-to-end test of edge analysis (issue 14 item 1): the real binary cuts
// the proxy of a generated clip with known black, freeze, silence and cuts,
// then analyses that proxy on its own lane: the asset document's analysis
// section carries the verdicts per the configured rules, analysis.json and
// shots.jpg are served and uploaded to a real MinIO, a clip without audio
// is analysed without loudness, and a corrupt file gets its own error while
// the queue goes on.

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/analysis"
	"github.com/ingestd/ingestd/internal/miniotest"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/storage"
	angen "github.com/ingestd/ingestd/testdata/analysis"
)

// anE2EAsset returns the asset id cataloged at rel.
func anE2EAsset(evs []storage.Event, rel string) string {
	for _, ev := range evs {
		if ev.Type == storage.EvAssetCataloged && ev.Path == rel {
			return ev.AssetID
		}
	}
	return ""
}

func anE2EHas(evs []storage.Event, typ, id string) bool {
	return slices.ContainsFunc(evs, func(ev storage.Event) bool { return ev.Type == typ && ev.AssetID == id })
}

func TestAnalysisE2E(t *testing.T) {
	ffmpeg := testenv.Need(t, "ffmpeg")
	testenv.Need(t, "ffprobe")
	const bucket = "analysis-hub"
	m := miniotest.Start(t)
	m.CreateBucket(t, bucket)
	e := newEnv(t, "", "appliance_id: box1\nproxy:\n  gpu: off\n"+
		"analysis:\n  rules:\n    max_black: 1s\n    loudness_target: -19\n    loudness_tolerance: 1\n    frame_rate: 30000/1001\n"+
		"hub:\n  s3:\n    endpoint: "+m.Endpoint+"\n    bucket: "+bucket+"\n    prefix: edge\n    path_style: true\n    retry_min: 200ms\n    retry_max: 2s\n")
	e.extraEnv = miniotest.Env()

	stage := filepath.Join(e.dir, "stage")
	if err := os.MkdirAll(stage, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := angen.QCClip(ctx, ffmpeg, filepath.Join(stage, "qc.mov"), true); err != nil {
		t.Fatal(err)
	}
	if err := angen.QCClip(ctx, ffmpeg, filepath.Join(stage, "mute.mov"), false); err != nil {
		t.Fatal(err)
	}
	// A corrupt file: the QC clip's first 64 KiB then garbage, no moov.
	good, err := os.ReadFile(filepath.Join(stage, "qc.mov"))
	if err != nil {
		t.Fatal(err)
	}
	bad := append(append([]byte{}, good[:64<<10]...), []byte(strings.Repeat("garbage!", 4096))...)
	if err := os.WriteFile(filepath.Join(stage, "corrupt.mov"), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	e.start()
	// The corrupt file first: the queue must go on past it.
	for _, n := range []string{"corrupt.mov", "qc.mov", "mute.mov"} {
		if err := os.Rename(filepath.Join(stage, n), filepath.Join(e.watch, n)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	evs := e.waitFeed(mediaTimeout, "analysis of qc.mov and mute.mov", func(evs []storage.Event) bool {
		q, mu := anE2EAsset(evs, "qc.mov"), anE2EAsset(evs, "mute.mov")
		return q != "" && mu != "" && anE2EHas(evs, storage.EvAnalysisReady, q) && anE2EHas(evs, storage.EvAnalysisReady, mu)
	})
	qc, mute, corrupt := anE2EAsset(evs, "qc.mov"), anE2EAsset(evs, "mute.mov"), anE2EAsset(evs, "corrupt.mov")

	// The corrupt file: a clear per-asset error, no analysis.
	if corrupt == "" {
		t.Fatalf("corrupt.mov not cataloged:\n%s", dumpEvents(evs))
	}
	var cdoc storage.AssetDoc
	anE2EGetJSON(t, e, "/v1/assets/"+corrupt, &cdoc)
	if cdoc.Proxy == nil || cdoc.Proxy.Status == "ready" || cdoc.Proxy.Error == "" || cdoc.Analysis != nil {
		t.Errorf("corrupt.mov: proxy %+v analysis %+v, want a proxy error and no analysis", cdoc.Proxy, cdoc.Analysis)
	}

	// qc.mov: the asset document's analysis section and its verdicts.
	var doc storage.AssetDoc
	anE2EGetJSON(t, e, "/v1/assets/"+qc, &doc)
	a := doc.Analysis
	if a == nil || a.Status != analysis.StatusReady {
		t.Fatalf("qc.mov analysis = %+v", a)
	}
	verdicts := map[string]string{}
	for _, c := range a.Checks {
		verdicts[c.Rule] = c.Verdict
	}
	// Rules: black 2 s over a 1 s limit fails; the freeze holds 2.04 s over
	// the default 2 s: fails; the tone (≈ -18.9 LUFS) is within -19±1; the
	// 25 fps master is not the expected 29.97: warns.
	for r, v := range map[string]string{"max_black": "fail", "max_freeze": "fail", "max_silence": "pass", "loudness": "pass", "frame_rate": "warn", "clipping": "pass"} {
		if verdicts[r] != v {
			t.Errorf("check %s = %q, want %q (%+v)", r, verdicts[r], v, a.Checks)
		}
	}
	if a.Verdict != "fail" || a.Shots != 4 || a.Loudness == nil || !slices.Contains(a.Outputs, "shots.jpg") {
		t.Errorf("qc.mov analysis = %+v", a)
	}

	// analysis.json: times within one frame of the known positions, in
	// source timecode.
	var res analysis.Result
	anE2EGetJSON(t, e, "/v1/assets/"+qc+"/analysis.json", &res)
	k := angen.Known
	near := func(what string, got float64, frame int) {
		if want := float64(frame) / k.FPS; math.Abs(got-want) > 1/k.FPS+1e-9 {
			t.Errorf("%s = %.3f s, want %.3f s (frame %d) within one frame", what, got, want, frame)
		}
	}
	if len(res.Black) != 1 || len(res.Silence) != 1 || len(res.Shots) != len(k.Cuts) {
		t.Fatalf("analysis.json: black %+v silence %+v shots %+v", res.Black, res.Silence, res.Shots)
	}
	near("black start", res.Black[0].Start, k.BlackStart)
	near("black end", res.Black[0].End, k.BlackEnd)
	near("silence start", res.Silence[0].Start, int(k.SilenceStart*k.FPS))
	near("silence end", res.Silence[0].End, int(k.SilenceEnd*k.FPS))
	for i, s := range res.Shots {
		near("shot start", s.Start, k.Cuts[i])
	}
	if res.Black[0].StartTC != "01:00:02:00" || res.Shots[2].StartTC != "01:00:04:00" {
		t.Errorf("timecodes: black %q shot 2 %q, want 01:00:02:00 and 01:00:04:00", res.Black[0].StartTC, res.Shots[2].StartTC)
	}
	found := false
	for _, f := range res.Freeze {
		if math.Abs(f.Start-float64(k.FreezeStart)/k.FPS) <= 1/k.FPS {
			near("freeze end", f.End, k.FreezeEnd)
			found = true
		}
	}
	if !found {
		t.Errorf("no freeze from frame %d: %+v", k.FreezeStart, res.Freeze)
	}
	code, body := e.get("/v1/assets/"+qc+"/shots.jpg", "")
	if code != 200 || len(body) < 3 || body[0] != 0xff || body[1] != 0xd8 {
		t.Errorf("GET shots.jpg: %d, %d bytes", code, len(body))
	}
	// Each shot's thumbnail, as analysis.json names it, is served and
	// listed in the asset's analysis outputs (then uploaded, below).
	for _, s := range res.Shots {
		code, body := e.get("/v1/assets/"+qc+"/"+s.Thumbnail, "")
		if s.Thumbnail == "" || code != 200 || len(body) < 3 || body[0] != 0xff || body[1] != 0xd8 || !slices.Contains(a.Outputs, s.Thumbnail) {
			t.Errorf("shot thumbnail %q: GET %d, %d bytes; outputs %v", s.Thumbnail, code, len(body), a.Outputs)
		}
	}

	// mute.mov: analysed without audio: no loudness, an audio warning.
	var mdoc storage.AssetDoc
	anE2EGetJSON(t, e, "/v1/assets/"+mute, &mdoc)
	if ma := mdoc.Analysis; ma == nil || ma.Status != analysis.StatusReady || ma.Loudness != nil ||
		!slices.ContainsFunc(ma.Checks, func(c storage.Check) bool { return c.Rule == "audio" && c.Verdict == "warn" }) {
		t.Errorf("mute.mov analysis = %+v", mdoc.Analysis)
	}

	// The hub: analysis.json and shots.jpg beside the proxy.
	base := "edge/box1/assets/" + qc
	anE2EWaitObjects(t, m, bucket, base+"/analysis.json", base+"/shots.jpg", base+"/"+res.Shots[0].Thumbnail, base+"/"+res.Shots[3].Thumbnail)
	var up analysis.Result
	if err := json.Unmarshal(m.Get(t, bucket, base+"/analysis.json"), &up); err != nil || up.AssetID != qc {
		t.Errorf("uploaded analysis.json: %+v %v", up.AssetID, err)
	}

	// One asset.json upload per real change: the analysis is marked queued
	// in the proxy.ready update (no asset.updated of its own), so after
	// proxy.ready the hub gets at most two asset.json (asset.synced): the
	// proxy's and the analysis's, the last one after analysis.ready.
	evs = e.waitFeed(mediaTimeout, "asset.synced of qc.mov after its analysis", func(evs []storage.Event) bool {
		ready := false
		for _, ev := range evs {
			ready = ready || ev.AssetID == qc && ev.Type == storage.EvAnalysisReady
			if ready && ev.AssetID == qc && ev.Type == storage.EvAssetSynced {
				return true
			}
		}
		return false
	})
	var after []string
	proxied := false
	for _, ev := range evs {
		if ev.AssetID != qc {
			continue
		}
		if ev.Type == storage.EvAssetUpdated && strings.Contains(ev.Detail, "analysis queued") {
			t.Errorf("event %d: asset.updated %q: the queued analysis costs an event (and an upload) of its own", ev.Seq, ev.Detail)
		}
		if proxied {
			after = append(after, ev.Type)
		}
		proxied = proxied || ev.Type == storage.EvProxyReady
	}
	synced := 0
	for _, typ := range after {
		if typ == storage.EvAssetSynced {
			synced++
		}
	}
	if !proxied || synced < 1 || synced > 2 {
		t.Errorf("qc.mov events after proxy.ready: %v: want 1 or 2 asset.synced (one asset.json per change)", after)
	}
	e.stop()
}

// anE2EWaitObjects waits until the bucket holds every key.
func anE2EWaitObjects(t *testing.T, m *miniotest.Server, bucket string, keys ...string) {
	t.Helper()
	deadline := time.Now().Add(mediaTimeout)
	for {
		var have []string
		for _, o := range m.List(t, bucket) {
			have = append(have, o.Key)
		}
		if !slices.ContainsFunc(keys, func(k string) bool { return !slices.Contains(have, k) }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bucket %s holds %v, want %v", bucket, have, keys)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func anE2EGetJSON(t *testing.T, e *env, path string, v any) {
	t.Helper()
	code, body := e.get(path, "")
	if code != 200 {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

// TestAnalysisE2EEnrichers (issue 14 items 2, 4): enrichers configured in
// the real daemon get the JSON request on stdin; a good one's data and
// file land in analysis.json and beside it; one that hangs is killed at
// its timeout, one that prints garbage, one that crashes (SIGSEGV) and one
// that prints without end (past max_output) fail, each with its own error,
// and the analysis (and the next asset) goes on.
func TestAnalysisE2EEnrichers(t *testing.T) {
	ffmpeg := testenv.Need(t, "ffmpeg")
	testenv.Need(t, "ffprobe")
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", `req=$(cat); dir=$(printf '%s' "$req" | sed -n 's/.*"out_dir":"\([^"]*\)".*/\1/p')
printf 'WEBVTT\n' > "$dir/words.vtt"; env > "$dir/env.txt"
printf '{"data":{"bytes":%d},"files":["words.vtt","env.txt"]}' "$(printf '%s' "$req" | wc -c)"`)
	hang := write("hang", "cat >/dev/null; sleep 120")
	junk := write("junk", "cat >/dev/null; echo '<html>oops'")
	crash := write("crash", "cat >/dev/null; echo 'model file corrupt' >&2; kill -SEGV $$")
	huge := write("huge", "cat >/dev/null; yes '{\"data\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}'")
	e := newEnv(t, "", "proxy:\n  gpu: off\nanalysis:\n  enrichers:\n"+
		"    - {name: words, command: ["+good+"]}\n"+
		"    - {name: hang, command: ["+hang+"], timeout: 2s}\n"+
		"    - {name: junk, command: ["+junk+"]}\n"+
		"    - {name: crash, command: ["+crash+"]}\n"+
		"    - {name: huge, command: ["+huge+"], max_output: 65536}\n")
	// The daemon holds S3 credentials in its environment: no enricher sees them.
	e.extraEnv = append(miniotest.Env(), "INGESTD_TEST_SECRET=never-in-an-enricher")
	for _, n := range []string{"a.mov", "b.mov"} {
		if err := angen.QCClip(context.Background(), ffmpeg, filepath.Join(dir, n), n == "a.mov"); err != nil {
			t.Fatal(err)
		}
	}
	e.start()
	for _, n := range []string{"a.mov", "b.mov"} {
		if err := os.Rename(filepath.Join(dir, n), filepath.Join(e.watch, n)); err != nil {
			t.Fatal(err)
		}
	}
	evs := e.waitFeed(mediaTimeout, "analysis.ready of a.mov and b.mov", func(evs []storage.Event) bool {
		a, b := anE2EAsset(evs, "a.mov"), anE2EAsset(evs, "b.mov")
		return a != "" && b != "" && anE2EHas(evs, storage.EvAnalysisReady, a) && anE2EHas(evs, storage.EvAnalysisReady, b)
	})
	for _, rel := range []string{"a.mov", "b.mov"} {
		id := anE2EAsset(evs, rel)
		var res analysis.Result
		anE2EGetJSON(t, e, "/v1/assets/"+id+"/analysis.json", &res)
		if len(res.Enrichments) != 5 {
			t.Fatalf("%s: enrichments %+v", rel, res.Enrichments)
		}
		w, h, j, c, u := res.Enrichments[0], res.Enrichments[1], res.Enrichments[2], res.Enrichments[3], res.Enrichments[4]
		if w.Name != "words" || w.Status != "ready" || len(w.Files) != 2 || !strings.Contains(string(w.Data), `"bytes":`) {
			t.Errorf("%s: words = %+v", rel, w)
		}
		if env, err := os.ReadFile(storage.OutputPath(e.state, id, "enrich/words/env.txt")); err != nil || !strings.Contains(string(env), "PATH=") ||
			strings.Contains(string(env), miniotest.SecretKey) || strings.Contains(string(env), "AWS_") || strings.Contains(string(env), "never-in-an-enricher") {
			t.Errorf("%s: the enricher's environment (%v) holds the daemon's secrets or lacks PATH:\n%s", rel, err, env)
		}
		if b, err := os.ReadFile(storage.OutputPath(e.state, id, "enrich/words/words.vtt")); err != nil || string(b) != "WEBVTT\n" {
			t.Errorf("%s: words.vtt %q %v", rel, b, err)
		}
		if h.Status != "failed" || !strings.Contains(h.Error, "timed out after 2s") || h.Elapsed > 30 {
			t.Errorf("%s: hang = %+v", rel, h)
		}
		if j.Status != "failed" || !strings.Contains(j.Error, "not a response object") {
			t.Errorf("%s: junk = %+v", rel, j)
		}
		if c.Status != "failed" || !strings.Contains(c.Error, "signal: segmentation fault: model file corrupt") {
			t.Errorf("%s: crash = %+v", rel, c)
		}
		if u.Status != "failed" || !strings.Contains(u.Error, "output over 65536 bytes") {
			t.Errorf("%s: huge = %+v", rel, u)
		}
		// Only the ready enricher has its enrichment/<name>.json.
		for _, n := range []string{"hang", "junk", "crash", "huge"} {
			if _, err := os.Stat(storage.OutputPath(e.state, id, "enrichment/"+n+".json")); err == nil {
				t.Errorf("%s: enrichment/%s.json written for a failed enricher", rel, n)
			}
		}
	}
	e.stop()
}

// TestAnalysisE2ESpeechToText (issue 14 item 3): the shipped
// ingestd-enrich-stt enricher, configured in the real daemon, transcribes
// a WAV of espeak-ng speech: analysis.json carries its words,
// transcript.vtt lands beside it, and transcript.vtt and
// enrichment/transcript.json are served and uploaded to a real MinIO.
func TestAnalysisE2ESpeechToText(t *testing.T) {
	ffmpeg := testenv.Need(t, "ffmpeg")
	espeak := testenv.Need(t, "espeak-ng")
	testenv.Need(t, "pocketsphinx_continuous")
	dir := t.TempDir()
	stt := filepath.Join(dir, "ingestd-enrich-stt")
	if b, err := exec.Command("go", "build", "-o", stt, "../ingestd-enrich-stt").CombinedOutput(); err != nil {
		t.Fatalf("build enricher: %v: %s", err, b)
	}
	speech := filepath.Join(dir, "speech.wav")
	if b, err := exec.Command(espeak, "-s", "120", "-w", speech, "one two three four five six seven eight nine ten").CombinedOutput(); err != nil {
		t.Fatalf("espeak-ng: %v: %s", err, b)
	}
	wav := filepath.Join(dir, "talk.wav")
	if b, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono:d=1",
		"-i", speech, "-filter_complex", "[0:a][1:a]concat=n=2:v=0:a=1[a]", "-map", "[a]", "-ar", "48000", wav).CombinedOutput(); err != nil {
		t.Fatalf("talk.wav: %v: %s", err, b)
	}
	const bucket = "stt-hub"
	m := miniotest.Start(t)
	m.CreateBucket(t, bucket)
	e := newEnv(t, "", "appliance_id: box1\nproxy:\n  gpu: off\nanalysis:\n  enrichers:\n    - {name: transcript, command: ["+stt+"], timeout: 5m}\n"+
		"hub:\n  s3:\n    endpoint: "+m.Endpoint+"\n    bucket: "+bucket+"\n    prefix: edge\n    path_style: true\n    retry_min: 200ms\n    retry_max: 2s\n")
	e.extraEnv = miniotest.Env()
	e.start()
	if err := os.Rename(wav, filepath.Join(e.watch, "talk.wav")); err != nil {
		t.Fatal(err)
	}
	evs := e.waitFeed(mediaTimeout, "analysis.ready of talk.wav", func(evs []storage.Event) bool {
		id := anE2EAsset(evs, "talk.wav")
		return id != "" && anE2EHas(evs, storage.EvAnalysisReady, id)
	})
	id := anE2EAsset(evs, "talk.wav")
	var res analysis.Result
	anE2EGetJSON(t, e, "/v1/assets/"+id+"/analysis.json", &res)
	if res.Source != "proxy.m4a" || len(res.Enrichments) != 1 {
		t.Fatalf("analysis.json: source %s enrichments %+v", res.Source, res.Enrichments)
	}
	en := res.Enrichments[0]
	var data struct {
		Text  string `json:"text"`
		Words []struct {
			Word       string
			Start, End float64
		} `json:"words"`
	}
	if err := json.Unmarshal(en.Data, &data); err != nil || en.Status != "ready" || len(data.Words) < 4 || data.Words[0].Start < 0.8 {
		t.Fatalf("transcript enrichment %+v (%v)", en, err)
	}
	t.Logf("heard: %q", data.Text)
	vtt, err := os.ReadFile(storage.OutputPath(e.state, id, "enrich/transcript/transcript.vtt"))
	if err != nil || !strings.HasPrefix(string(vtt), "WEBVTT\n") || !strings.Contains(string(vtt), " --> ") {
		t.Errorf("transcript.vtt: %q %v", vtt, err)
	}

	// Served and uploaded in the hub layout: transcript.vtt and
	// enrichment/transcript.json, the same bytes in the bucket as from the
	// API, listed in the asset's analysis outputs.
	var doc storage.AssetDoc
	anE2EGetJSON(t, e, "/v1/assets/"+id, &doc)
	if doc.Analysis == nil || !slices.Contains(doc.Analysis.Outputs, "transcript.vtt") || !slices.Contains(doc.Analysis.Outputs, "enrichment/transcript.json") {
		t.Fatalf("analysis section %+v: want transcript.vtt and enrichment/transcript.json in outputs", doc.Analysis)
	}
	code, apiVTT := e.get("/v1/assets/"+id+"/transcript.vtt", "")
	if code != 200 || string(apiVTT) != string(vtt) {
		t.Errorf("GET transcript.vtt: %d %q, want the enricher's file %q", code, apiVTT, vtt)
	}
	var ed analysis.EnrichmentDoc
	anE2EGetJSON(t, e, "/v1/assets/"+id+"/enrichment/transcript.json", &ed)
	var got, want bytes.Buffer
	_, _ = json.Compact(&got, ed.Data), json.Compact(&want, en.Data)
	if ed.AssetID != id || ed.Name != "transcript" || ed.Status != "ready" || got.Len() == 0 || got.String() != want.String() {
		t.Errorf("enrichment/transcript.json: %s %s %s data %s, want the analysis.json entry's data %s", ed.AssetID, ed.Name, ed.Status, got.Bytes(), want.Bytes())
	}
	_, apiEN := e.get("/v1/assets/"+id+"/enrichment/transcript.json", "")
	if code, _ := e.get("/v1/assets/"+id+"/enrichment/nope.json", ""); code != 404 {
		t.Errorf("GET enrichment/nope.json: %d, want 404", code)
	}
	base := "edge/box1/assets/" + id
	anE2EWaitObjects(t, m, bucket, base+"/transcript.vtt", base+"/enrichment/transcript.json")
	if up := m.Get(t, bucket, base+"/transcript.vtt"); string(up) != string(apiVTT) {
		t.Errorf("uploaded transcript.vtt %q, API %q", up, apiVTT)
	}
	if up := m.Get(t, bucket, base+"/enrichment/transcript.json"); string(up) != string(apiEN) {
		t.Errorf("uploaded enrichment/transcript.json %q, API %q", up, apiEN)
	}
	e.stop()
}
