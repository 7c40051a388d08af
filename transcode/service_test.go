package transcode

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/testdata/media"
)

// zooRun is one service run over the whole zoo, shared by the tests below.
type zooRun struct {
	stateDir string
	catDir   string
	ids      map[string]string // clip name -> asset id
	docs     map[string]storage.AssetDoc
	svc      *Service
	cat      Catalog
	events   []storage.Event
}

var zr *zooRun

func runZoo(t *testing.T) *zooRun {
	t.Helper()
	if zr != nil {
		return zr
	}
	dir, clips := zoo(t)
	tools := needFFmpeg(t)
	tools.Volumes = map[string]string{"nas": dir}
	catDir, err := os.MkdirTemp("", "ingestd-transcode-zoo-cat-")
	if err != nil {
		t.Fatal(err)
	}
	cat := catalogtest.Open(t, catDir)
	stateDir, err := os.MkdirTemp("", "ingestd-transcode-zoo-state-")
	if err != nil {
		t.Fatal(err)
	}
	r := &zooRun{catDir: catDir, stateDir: stateDir, ids: map[string]string{}, docs: map[string]storage.AssetDoc{}, cat: cat}
	for _, c := range clips {
		r.ids[c.Name] = catalogFile(t, cat, "nas", dir, c.Name)
	}
	cfg := Config{CPUJobs: 2}
	svc, err := New(cfg, tools, stateDir, cat, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	r.svc = svc
	ctx, cancel := contextWithCancel()
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	for _, c := range clips {
		r.docs[c.Name] = waitAsset(t, cat, r.ids[c.Name], 5*time.Minute, finalStatus)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	evs, err := cat.Events(0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	r.events = evs
	zr = r
	return r
}

// TestZooProxies checks every zoo clip's asset record and real outputs.
func TestZooProxies(t *testing.T) {
	r := runZoo(t)
	_, clips := zoo(t)
	for _, c := range clips {
		t.Run(c.Name, func(t *testing.T) {
			doc := r.docs[c.Name]
			if doc.Kind != c.Kind {
				t.Fatalf("kind %q, want %q", doc.Kind, c.Kind)
			}
			if c.Status == "" {
				if doc.Proxy != nil {
					t.Fatalf("non-media got proxy %+v", doc.Proxy)
				}
				return
			}
			if doc.Proxy == nil || doc.Proxy.Status != c.Status {
				t.Fatalf("proxy %+v, want status %s", doc.Proxy, c.Status)
			}
			switch c.Status {
			case StatusFailed, StatusUnsupported:
				if doc.Proxy.Error == "" {
					t.Fatalf("%s without a reason", c.Status)
				}
				t.Logf("reason: %s", doc.Proxy.Error)
				if c.Status == StatusFailed && !strings.Contains(doc.Proxy.Error, "partial file") {
					t.Errorf("failure reason lacks FFmpeg's error excerpt: %s", doc.Proxy.Error)
				}
				if hasEvent(r.events, storage.EvProxyReady, doc.ID) || !hasEvent(r.events, storage.EvProxyFailed, doc.ID) {
					t.Fatalf("want proxy.failed and no proxy.ready")
				}
				return
			}
			if !hasEvent(r.events, storage.EvProxyReady, doc.ID) {
				t.Fatalf("no proxy.ready event")
			}
			if doc.Proxy.Lane != LaneCPU || doc.Proxy.Bytes <= 0 {
				t.Fatalf("proxy %+v: want lane cpu and bytes", doc.Proxy)
			}
			out := func(name string) string { return storage.OutputPath(r.stateDir, doc.ID, name) }
			switch c.Kind {
			case KindVideo:
				checkVideoProxy(t, c, doc, out(OutProxyVideo))
				checkJPEG(t, out(OutPoster), c.ProxyW, c.ProxyH)
				checkJPEG(t, out(OutFilmstrip), 0, 90)
				checkLastTile(t, out(OutFilmstrip), 10)
				if c.Audio > 0 {
					checkWaveform(t, out(OutWaveform))
				}
			case KindAudio:
				checkAudioProxy(t, doc, out(OutProxyAudio))
				checkWaveform(t, out(OutWaveform))
			case KindImage:
				checkJPEG(t, out(OutProxyImage), c.ProxyW, c.ProxyH)
			}
			left, _ := filepath.Glob(filepath.Join(filepath.Dir(out("x")), "*.tmp"))
			if len(left) > 0 {
				t.Fatalf("temp files left: %v", left)
			}
		})
	}
}

func hasEvent(evs []storage.Event, typ, id string) bool {
	for _, e := range evs {
		if e.Type == typ && e.AssetID == id {
			return true
		}
	}
	return false
}

func sameRate(a, b string) bool {
	x, ok1 := new(big.Rat).SetString(a)
	y, ok2 := new(big.Rat).SetString(b)
	return ok1 && ok2 && x.Cmp(y) == 0
}

func checkVideoProxy(t *testing.T, c media.Clip, doc storage.AssetDoc, path string) {
	t.Helper()
	p := ffprobeJSON(t, path, "-show_format", "-show_streams", "-count_packets")
	var v map[string]any
	var audio []map[string]any
	tc := ""
	for _, s := range p.Streams {
		switch str(s, "codec_type") {
		case "video":
			if v == nil {
				v = s
			}
		case "audio":
			audio = append(audio, s)
		}
		if x := tag(s, "timecode"); x != "" && tc == "" {
			tc = x
		}
	}
	if v == nil {
		t.Fatal("no video stream")
	}
	if str(p.Streams[0], "codec_type") != "video" {
		t.Errorf("first track is %s, want video", str(p.Streams[0], "codec_type"))
	}
	if str(v, "codec_name") != "h264" || str(v, "profile") != "High" || str(v, "pix_fmt") != "yuv420p" {
		t.Errorf("video %s %s %s, want h264 High yuv420p", str(v, "codec_name"), str(v, "profile"), str(v, "pix_fmt"))
	}
	w, h := int(num(v, "width")), int(num(v, "height"))
	if w != c.ProxyW || h != c.ProxyH || w%2 != 0 || h%2 != 0 || h > 720 {
		t.Errorf("size %dx%d, want %dx%d", w, h, c.ProxyW, c.ProxyH)
	}
	if sar := str(v, "sample_aspect_ratio"); sar != "" && sar != "1:1" {
		t.Errorf("sar %s, want square pixels", sar)
	}
	if num(v, "has_b_frames") != 0 {
		t.Errorf("has_b_frames %v", v["has_b_frames"])
	}
	if sd, ok := v["side_data_list"]; ok && strings.Contains(mustJSON(sd), "rotation") {
		t.Errorf("rotation side data left: %s", mustJSON(sd))
	}
	if frames := int64(num(v, "nb_read_packets")); frames != c.Frames {
		t.Errorf("frames %d, want %d", frames, c.Frames)
	}
	if doc.Proxy.Frames != c.Frames || doc.Proxy.Width != c.ProxyW || doc.Proxy.Height != c.ProxyH {
		t.Errorf("asset proxy %+v", doc.Proxy)
	}
	if !c.VFR && !sameRate(str(v, "r_frame_rate"), c.FrameRate) {
		t.Errorf("frame rate %s, want %s", str(v, "r_frame_rate"), c.FrameRate)
	}
	if c.VFR {
		// Timestamps kept: the same pts list as the source.
		src := ffprobeJSON(t, filepath.Join(zooDir, c.Name), "-select_streams", "v:0", "-show_entries", "packet=pts_time")
		dst := ffprobeJSON(t, path, "-select_streams", "v:0", "-show_entries", "packet=pts_time")
		if mustJSON(sortedPTS(src)) != mustJSON(sortedPTS(dst)) {
			t.Errorf("vfr timestamps changed:\nsrc %v\ndst %v", sortedPTS(src), sortedPTS(dst))
		}
	}
	if tc != c.Timecode {
		t.Errorf("timecode %q, want %q", tc, c.Timecode)
	}
	if c.Timecode != "" && doc.Media.Timecode != c.Timecode {
		t.Errorf("media timecode %q, want %q", doc.Media.Timecode, c.Timecode)
	}
	if c.Audio > 0 {
		if len(audio) == 0 {
			t.Fatal("no audio track")
		}
		a := audio[0]
		if str(a, "codec_name") != "aac" || str(a, "profile") != "LC" || str(a, "sample_rate") != "48000" || num(a, "channels") != 2 {
			t.Errorf("first audio %s %s %s %v ch, want aac LC 48000 2", str(a, "codec_name"), str(a, "profile"), str(a, "sample_rate"), a["channels"])
		}
		checkStereoSignal(t, path)
		checkSourceAudio(t, c, path, p.Streams, audio)
	} else if len(audio) != 0 {
		t.Errorf("audio track from a silent source")
	}
	if c.HDR != "" && (str(v, "color_transfer") != "bt709" || str(v, "color_primaries") != "bt709") {
		t.Errorf("hdr not tone-mapped: trc %s prim %s", str(v, "color_transfer"), str(v, "color_primaries"))
	}
	if c.Interlace && str(v, "field_order") != "progressive" && str(v, "field_order") != "" {
		t.Errorf("field order %s after deinterlace", str(v, "field_order"))
	}
	// GOP at most 1 s, closed: keyframe positions.
	pk := ffprobeJSON(t, path, "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags")
	var keys []float64
	last := 0.0
	for _, k := range pk.Packets {
		pt := num(k, "pts_time")
		last = math.Max(last, pt)
		if strings.HasPrefix(str(k, "flags"), "K") {
			keys = append(keys, pt)
		}
	}
	if len(keys) == 0 || keys[0] > 0.001 {
		t.Errorf("no keyframe at 0: %v", keys)
	}
	for i := 1; i <= len(keys); i++ {
		next := last + 0.001
		if i < len(keys) {
			next = keys[i]
		}
		if next-keys[i-1] > 1.0+0.02 {
			t.Errorf("keyframes %v: gap over 1s (last pts %.3f)", keys, last)
			break
		}
	}
	if ok, err := moovFirst(path); err != nil || !ok {
		t.Errorf("moov not before mdat (faststart): %v", err)
	}
	if c.Rotation != 0 && doc.Media.Streams[0].Rotation != c.Rotation && doc.Media.Streams[0].Rotation != 360-c.Rotation {
		t.Errorf("media rotation %d, want ±%d", doc.Media.Streams[0].Rotation, c.Rotation)
	}
	if c.Interlace && doc.Media.Streams[0].FieldOrder != "tt" {
		t.Errorf("media field order %q, want tt", doc.Media.Streams[0].FieldOrder)
	}
}

// zooTones are the sine frequencies of each source track of the zoo's
// video proxies (after the mix), channel by channel; 0: a silent channel.
var zooTones = map[string][][]float64{
	"prores_tc_4ch.mov":      {{440}, {550}, {660}, {770}},
	"dnxhr_tc.mxf":           {{440}, {880}},
	"xdcam_discrete_4ch.mxf": {{440}, {550}, {660}, {770}},
	"anamorphic_pal.mov":     {{0, 0, 440, 0, 0, 0}}, // FL FR FC LFE BL BR: centre only
}

// checkSourceAudio checks the audio tracks of a video proxy against the
// clip's ProxyAudio: the count (one mix only for a single stream of at most
// two channels), order (video, mix, then the source tracks, nothing in
// between), only the mix default, channels, names, AAC-LC 48 kHz, each
// source track as long as its source stream (within a video frame, or an
// AAC frame when longer), and each source channel's own tone in its own
// track.
func checkSourceAudio(t *testing.T, c media.Clip, path string, streams []map[string]any, audio []map[string]any) {
	t.Helper()
	if len(audio) != len(c.ProxyAudio) {
		t.Fatalf("%d audio tracks, want %d (%+v)", len(audio), len(c.ProxyAudio), c.ProxyAudio)
	}
	for i := range audio {
		if s := streams[1+i]; str(s, "codec_type") != "audio" {
			t.Errorf("track %d is %s, want audio track %d right after the video", 1+i, str(s, "codec_type"), i+1)
		}
	}
	src := ffprobeJSON(t, filepath.Join(zooDir, c.Name), "-show_streams")
	var srcAudio []map[string]any
	for _, s := range src.Streams {
		if str(s, "codec_type") == "audio" {
			srcAudio = append(srcAudio, s)
		}
	}
	fps := ratFloat(c.FrameRate)
	tol := math.Max(1/fps, 1024.0/48000) + 0.002
	tones := zooTones[c.Name]
	if len(tones) != len(c.ProxyAudio)-1 {
		t.Fatalf("zooTones has %d tracks for %s, ProxyAudio %d source tracks", len(tones), c.Name, len(c.ProxyAudio)-1)
	}
	for i, want := range c.ProxyAudio {
		a := audio[i]
		if str(a, "codec_name") != "aac" || str(a, "profile") != "LC" || str(a, "sample_rate") != "48000" || int(num(a, "channels")) != want.Channels {
			t.Errorf("audio %d: %s %s %s %v ch, want aac LC 48000 %d ch", i+1, str(a, "codec_name"), str(a, "profile"), str(a, "sample_rate"), a["channels"], want.Channels)
		}
		if name := tag(a, "handler_name"); want.Title != "" && name != want.Title {
			t.Errorf("audio %d named %q, want %q", i+1, name, want.Title)
		}
		disp, _ := a["disposition"].(map[string]any)
		if def := num(disp, "default"); def != map[bool]float64{true: 1, false: 0}[i == 0] {
			t.Errorf("audio %d: disposition default %v (only the mix is the default track)", i+1, def)
		}
		if i == 0 {
			continue
		}
		var k int
		if _, err := fmt.Sscanf(want.Title[strings.Index(want.Title, "(stream "):], "(stream %d", &k); err != nil || k < 1 || k > len(srcAudio) {
			t.Fatalf("title %q names no source stream (%v)", want.Title, err)
		}
		if d, sd := num(a, "duration"), num(srcAudio[k-1], "duration"); math.Abs(d-sd) > tol {
			t.Errorf("audio %d lasts %.3fs, source stream %d %.3fs", i+1, d, k, sd)
		}
		got := trackTones(t, path, i, want.Channels)
		for ch, f := range tones[i-1] {
			if f == 0 && got[ch] != 0 || f != 0 && math.Abs(got[ch]-f) > f*0.03 {
				t.Errorf("audio %d channel %d: tone %.0f Hz, want %.0f Hz (all: %.0f)", i+1, ch+1, got[ch], f, got)
			}
		}
	}
}

// trackTones decodes audio track i of a proxy and estimates each channel's
// frequency by zero crossings; 0 for a silent channel (peak under -40 dBFS).
func trackTones(t *testing.T, path string, i, channels int) []float64 {
	t.Helper()
	raw, err := execStdout("ffmpeg", "-v", "error", "-i", path, "-map", "0:a:"+strconv.Itoa(i), "-c:a", "pcm_s16le", "-f", "s16le", "-")
	if err != nil {
		t.Fatalf("decode audio %d: %v", i+1, err)
	}
	n := len(raw) / 2 / channels
	out := make([]float64, channels)
	for ch := 0; ch < channels; ch++ {
		crossings, peak, prev := 0, 0, 0
		for f := 0; f < n; f++ {
			v := int(int16(uint16(raw[2*(f*channels+ch)]) | uint16(raw[2*(f*channels+ch)+1])<<8))
			peak = max(peak, v, -v)
			if v != 0 {
				if prev != 0 && (v > 0) != (prev > 0) {
					crossings++
				}
				prev = v
			}
		}
		if peak > 328 && n > 0 {
			out[ch] = float64(crossings) / 2 / (float64(n) / 48000)
		}
	}
	return out
}

func sortedPTS(p probeOut) []string {
	var out []string
	for _, k := range p.Packets {
		out = append(out, str(k, "pts_time"))
	}
	return out
}

// checkStereoSignal decodes the proxy's audio and requires signal on both
// sides (mono, 4-track and 5.1 centre-only sources all end up audible left
// and right).
func checkStereoSignal(t *testing.T, path string) {
	t.Helper()
	out, err := execOutput("ffmpeg", "-v", "error", "-i", path, "-map", "0:a:0", "-af", "astats=measure_overall=none:measure_perchannel=RMS_level", "-f", "null", "-")
	_ = out
	if err != nil {
		t.Fatalf("astats: %v", err)
	}
	pw := newPeakWriter(48000, 2, 1<<30)
	if err := (&Runner{FFmpeg: "ffmpeg"}).Run(t.Context(), pcmArgs(path), pw, nil); err != nil {
		t.Fatal(err)
	}
	w := pw.Result()
	if len(w.Peaks) < 4 {
		t.Fatalf("no audio decoded")
	}
	for ch := 0; ch < 2; ch++ {
		if w.Peaks[2*ch+1]-w.Peaks[2*ch] < 1000 {
			t.Errorf("channel %d silent: peaks %v", ch, w.Peaks[:4])
		}
	}
}

func checkAudioProxy(t *testing.T, doc storage.AssetDoc, path string) {
	t.Helper()
	p := ffprobeJSON(t, path, "-show_format", "-show_streams")
	if len(p.Streams) != 1 {
		t.Fatalf("%d streams", len(p.Streams))
	}
	a := p.Streams[0]
	if str(a, "codec_name") != "aac" || str(a, "profile") != "LC" || str(a, "sample_rate") != "48000" || num(a, "channels") != 2 {
		t.Errorf("audio %s %s %s %v ch", str(a, "codec_name"), str(a, "profile"), str(a, "sample_rate"), a["channels"])
	}
	if d := num(p.Format, "duration"); math.Abs(d-doc.Media.Duration) > 0.05 {
		t.Errorf("duration %.3f, source %.3f", d, doc.Media.Duration)
	}
	if ok, _ := moovFirst(path); !ok {
		t.Errorf("not faststart")
	}
	checkStereoSignal(t, path)
}

func checkJPEG(t *testing.T, path string, w, h int) {
	t.Helper()
	p := ffprobeJSON(t, path, "-show_streams")
	if len(p.Streams) != 1 || str(p.Streams[0], "codec_name") != "mjpeg" {
		t.Fatalf("%s: not a JPEG", filepath.Base(path))
	}
	gw, gh := int(num(p.Streams[0], "width")), int(num(p.Streams[0], "height"))
	if (w > 0 && gw != w) || (h > 0 && gh != h) {
		t.Errorf("%s: %dx%d, want %dx%d", filepath.Base(path), gw, gh, w, h)
	}
	if w == 0 && gw < 2*gh {
		t.Errorf("%s: %dx%d is not a strip of tiles", filepath.Base(path), gw, gh)
	}
}

// checkLastTile requires the last of n tiles to hold a picture (testsrc2 is
// bright), not the black padding of a short strip.
func checkLastTile(t *testing.T, path string, n int) {
	t.Helper()
	p := ffprobeJSON(t, path, "-show_streams")
	w, h := int(num(p.Streams[0], "width")), int(num(p.Streams[0], "height"))
	tw := w / n
	raw, err := execStdout("ffmpeg", "-v", "error", "-i", path, "-vf", fmt.Sprintf("crop=%d:%d:%d:0,format=gray", tw, h, w-tw), "-f", "rawvideo", "-")
	if err != nil || len(raw) == 0 {
		t.Fatalf("decode last tile: %v", err)
	}
	sum := 0
	for _, b := range raw {
		sum += int(b)
	}
	if avg := sum / len(raw); avg < 40 {
		t.Errorf("last filmstrip tile is dark (mean luma %d): fewer than %d frames picked", avg, n)
	}
}

func checkWaveform(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var w Waveform
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatal(err)
	}
	if w.SampleRate != 48000 || w.Channels != 2 || w.Bits != 16 || w.Length == 0 || len(w.Peaks) != w.Length*2*w.Channels {
		t.Fatalf("waveform header %+v, %d peaks", w, len(w.Peaks))
	}
	loud := 0
	for i := 0; i < len(w.Peaks); i += 2 {
		if w.Peaks[i] > w.Peaks[i+1] {
			t.Fatalf("peak %d: min %d > max %d", i/2, w.Peaks[i], w.Peaks[i+1])
		}
		if w.Peaks[i+1] > 1000 {
			loud++
		}
	}
	if loud == 0 {
		t.Fatalf("waveform is silent")
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestHandlerServesOutputs: Range (206), ETag (304), HEAD, JSON 404s, and
// never a master.
func TestHandlerServesOutputs(t *testing.T) {
	r := runZoo(t)
	srv := httptest.NewServer(r.svc.Handler())
	defer srv.Close()
	id := r.ids["prores_tc_4ch.mov"]
	url := srv.URL + "/v1/assets/" + id + "/proxy"
	full, err := os.ReadFile(storage.OutputPath(r.stateDir, id, OutProxyVideo))
	if err != nil {
		t.Fatal(err)
	}

	resp := do(t, "GET", url, nil)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "video/mp4" || etag == "" || resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("GET: %d %v", resp.StatusCode, resp.Header)
	}
	if string(resp.body) != string(full) {
		t.Fatal("GET body differs from proxy.mp4")
	}
	resp = do(t, "GET", url, map[string]string{"Range": "bytes=100-199"})
	if resp.StatusCode != http.StatusPartialContent || string(resp.body) != string(full[100:200]) ||
		resp.Header.Get("Content-Range") != "bytes 100-199/"+strconv.Itoa(len(full)) {
		t.Fatalf("Range: %d %v", resp.StatusCode, resp.Header)
	}
	resp = do(t, "GET", url, map[string]string{"If-None-Match": etag})
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", resp.StatusCode)
	}
	resp = do(t, "HEAD", url, nil)
	if resp.StatusCode != 200 || len(resp.body) != 0 || resp.Header.Get("Content-Length") != strconv.Itoa(len(full)) {
		t.Fatalf("HEAD: %d %v", resp.StatusCode, resp.Header)
	}
	for _, c := range []struct {
		path, ctype string
		code        int
	}{
		{"/v1/assets/" + id + "/poster", "image/jpeg", 200},
		{"/v1/assets/" + id + "/filmstrip", "image/jpeg", 200},
		{"/v1/assets/" + id + "/waveform", "application/json", 200},
		{"/v1/assets/" + r.ids["bext_tc.wav"] + "/proxy", "audio/mp4", 200},
		{"/v1/assets/" + r.ids["still.jpg"] + "/proxy", "image/jpeg", 200},
		{"/v1/assets/" + r.ids["notes.txt"] + "/proxy", "application/json", 404},
		{"/v1/assets/" + r.ids["truncated.mov"] + "/proxy", "application/json", 404},
		{"/v1/assets/" + id + "/master", "application/json", 404},
		{"/v1/assets/" + id + "/prores_tc_4ch.mov", "application/json", 404},
		{"/v1/assets/../../etc/passwd/proxy", "application/json", 404},
		{"/v1/assets/" + strings.ToUpper(id) + "/proxy", "application/json", 400},
	} {
		resp := do(t, "GET", srv.URL+c.path, nil)
		if resp.StatusCode != c.code || resp.Header.Get("Content-Type") != c.ctype {
			t.Errorf("%s: %d %s, want %d %s", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.code, c.ctype)
		}
		if c.code >= 400 {
			var e struct{ Error string }
			if json.Unmarshal(resp.body, &e) != nil || e.Error == "" {
				t.Errorf("%s: error body %q", c.path, resp.body)
			}
		}
	}
}
