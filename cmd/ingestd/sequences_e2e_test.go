package main_test

// End-to-end test of frame sequences (issue 15 item 5): the real binary
// groups generated DPX, EXR, TIFF, PNG and JPEG sequences dropped into a
// watched volume into sequence records, cuts one proxy and one poster per
// settled sequence, re-cuts a growing sequence once it settles again, and
// uploads each under <prefix>/<appliance>/sequences/<id>/ in a real MinIO.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/sequences"
	"github.com/ingestd/ingestd/internal/miniotest"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/storage"
	seqgen "github.com/ingestd/ingestd/testdata/sequences"
)

// seqE2ECase is one generated sequence and what its record must say.
type seqE2ECase struct {
	folder   string
	spec     seqgen.Spec
	format   string // demuxer in the record
	rate     string // frame_rate
	source   string // frame_rate_source
	timecode string
	missing  []sequences.Range
}

// seqE2EDrop renders spec and moves its frames into folder of the volume
// (rename within one filesystem: each frame lands whole).
func seqE2EDrop(t *testing.T, e *env, ffmpeg, folder string, spec seqgen.Spec) {
	t.Helper()
	stage := filepath.Join(e.dir, "stage", folder)
	if err := os.MkdirAll(stage, 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := seqgen.Render(ffmpeg, stage, spec)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(e.watch, folder)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.Rename(f, filepath.Join(dst, filepath.Base(f))); err != nil {
			t.Fatal(err)
		}
	}
}

// seqE2EReadyCount counts sequence.proxy_ready events for id.
func seqE2EReadyCount(evs []storage.Event, id string) int {
	n := 0
	for _, ev := range evs {
		if ev.Type == sequences.EvSequenceProxyReady && ev.Path == id {
			n++
		}
	}
	return n
}

func seqE2ERecord(t *testing.T, e *env, id string) sequences.Record {
	t.Helper()
	code, body := e.get("/v1/sequences/"+id, "")
	if code != 200 {
		t.Fatalf("GET /v1/sequences/%s: %d %s", id, code, body)
	}
	var r sequences.Record
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// seqE2EProbe returns ffprobe's view of an MP4's first video stream.
func seqE2EProbe(t *testing.T, ffprobe string, mp4 []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "p.mp4")
	if err := os.WriteFile(f, mp4, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ffprobe, "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
		"stream=codec_name,width,height,nb_read_frames,r_frame_rate:stream_tags=timecode", "-of", "default=nw=1", f).Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestSequencesE2E(t *testing.T) {
	ffmpeg := testenv.Need(t, "ffmpeg")
	ffprobe := testenv.Need(t, "ffprobe")
	const bucket = "seq-hub"
	m := miniotest.Start(t)
	m.CreateBucket(t, bucket)
	e := newEnv(t, "", "appliance_id: box1\nproxy:\n  gpu: off\n  max_height: 72\n"+
		"sequences:\n  settle: 2s\n  fps: 24\n"+
		"hub:\n  s3:\n    endpoint: "+m.Endpoint+"\n    bucket: "+bucket+"\n    prefix: edge\n    path_style: true\n    retry_min: 200ms\n    retry_max: 2s\n")
	e.extraEnv = miniotest.Env()
	e.start()

	gap := []int64{1005, 1009, 1010}
	cases := []seqE2ECase{
		{"shots/dpx", seqgen.Spec{Base: "plate_dpx.", Ext: "dpx", First: 1001, Frames: 12, Skip: gap, FPS: 25, Timecode: "01:00:00:00"},
			"dpx_pipe", "25/1", "header", "01:00:00:00", []sequences.Range{{First: 1005, Last: 1005}, {First: 1009, Last: 1010}}},
		{"shots/exr", seqgen.Spec{Base: "cg_exr_", Ext: "exr", First: 1001, Frames: 12, Skip: gap, FPS: 30, Timecode: "02:00:00:00"},
			"exr_pipe", "30/1", "header", "02:00:00:00", []sequences.Range{{First: 1005, Last: 1005}, {First: 1009, Last: 1010}}},
		{"shots/mixed", seqgen.Spec{Base: "scan-", Ext: "tif", First: 1001, Frames: 12, Skip: gap},
			"tiff_pipe", "24/1", "config", "", []sequences.Range{{First: 1005, Last: 1005}, {First: 1009, Last: 1010}}},
		// A second sequence in the same folder, other padding.
		{"shots/mixed", seqgen.Spec{Base: "matte.", Ext: "png", Padding: 3, First: 1, Frames: 12, Skip: []int64{2}},
			"png_pipe", "24/1", "config", "", []sequences.Range{{First: 2, Last: 2}}},
		{"shots/jpg", seqgen.Spec{Base: "ref.", Ext: "jpg", First: 1001, Frames: 12, Skip: gap},
			"image2", "24/1", "config", "", []sequences.Range{{First: 1005, Last: 1005}, {First: 1009, Last: 1010}}},
	}
	for _, c := range cases {
		seqE2EDrop(t, e, ffmpeg, c.folder, c.spec)
	}
	// Not sequences: two frames only, and other files beside the frames.
	seqE2EDrop(t, e, ffmpeg, "shots/mixed", seqgen.Spec{Base: "lonely.", Ext: "png", First: 1, Frames: 2})
	e.writeFile("shots/mixed/notes.txt", []byte("not a frame\n"))
	// A growing sequence: 5 frames now, 4 more after its first proxy.
	grow := seqgen.Spec{Base: "render.", Ext: "png", First: 1, Frames: 5}
	seqE2EDrop(t, e, ffmpeg, "shots/grow", grow)

	ids := map[string]seqE2ECase{}
	for _, c := range cases {
		w := c.spec.Padding
		if w == 0 {
			w = 4 // the generator's default
		}
		k := sequences.Key{Base: c.spec.Base, Ext: c.spec.Ext, Width: w}
		ids[sequences.ID("footage", c.folder, k)] = c
	}
	growID := sequences.ID("footage", "shots/grow", sequences.Key{Base: "render.", Ext: "png", Width: 4})
	e.waitFeed(mediaTimeout, "sequence.proxy_ready for every sequence", func(evs []storage.Event) bool {
		for id := range ids {
			if seqE2EReadyCount(evs, id) == 0 {
				return false
			}
		}
		return seqE2EReadyCount(evs, growID) > 0
	})

	e.step(t, "the list holds exactly the six sequences", func(t *testing.T) {
		// The list holds exactly the six sequences (not the two-frame one).
		code, body := e.get("/v1/sequences", "")
		if code != 200 {
			t.Fatalf("GET /v1/sequences: %d %s", code, body)
		}
		var list sequences.ListDoc
		if err := json.Unmarshal(body, &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Sequences) != len(ids)+1 {
			t.Errorf("%d sequences listed, want %d: %s", len(list.Sequences), len(ids)+1, body)
		}

		for id, c := range ids {
			r := seqE2ERecord(t, e, id)
			present := int64(len(c.spec.Numbers()))
			name := fmt.Sprintf("%s (%s)", r.Pattern, c.spec.Ext)
			if r.Volume != "footage" || r.Folder != c.folder || r.First != c.spec.First || r.Last != c.spec.First+int64(c.spec.Frames)-1 ||
				int64(r.Count) != present || !slices.Equal(r.Missing, c.missing) {
				t.Errorf("%s: record %+v; want folder %s, %d..%d, %d frames, missing %v", name, r, c.folder, c.spec.First, c.spec.First+int64(c.spec.Frames)-1, present, c.missing)
			}
			if r.Width != 160 || r.Height != 90 || r.Format != c.format || r.PixFmt == "" {
				t.Errorf("%s: picture %dx%d format %q pix_fmt %q; want 160x90 %s", name, r.Width, r.Height, r.Format, r.PixFmt, c.format)
			}
			if r.FrameRate != c.rate || r.FrameRateSource != c.source || r.Timecode != c.timecode {
				t.Errorf("%s: rate %s (%s) timecode %q; want %s (%s) %q", name, r.FrameRate, r.FrameRateSource, r.Timecode, c.rate, c.source, c.timecode)
			}
			if r.Proxy == nil || r.Proxy.Status != sequences.ProxyReady || r.Proxy.Frames != present {
				t.Errorf("%s: proxy %+v, want ready with %d frames", name, r.Proxy, present)
			}
			// Served proxy: one frame per present frame, at the record's rate,
			// the header timecode as a tmcd track, capped at proxy.max_height.
			code, mp4 := e.get("/v1/sequences/"+id+"/proxy", "")
			if code != 200 {
				t.Fatalf("%s: GET proxy: %d", name, code)
			}
			pr := seqE2EProbe(t, ffprobe, mp4)
			for _, want := range []string{"codec_name=h264", fmt.Sprintf("nb_read_frames=%d", present), "r_frame_rate=" + c.rate, "height=72", "width=128"} {
				if !strings.Contains(pr, want) {
					t.Errorf("%s: proxy lacks %s:\n%s", name, want, pr)
				}
			}
			if c.timecode != "" && !strings.Contains(pr, "TAG:timecode="+c.timecode) {
				t.Errorf("%s: proxy timecode, want %s:\n%s", name, c.timecode, pr)
			}
			code, jpg := e.get("/v1/sequences/"+id+"/poster", "")
			if code != 200 || len(jpg) < 100 || !bytes.HasPrefix(jpg, []byte{0xFF, 0xD8}) {
				t.Errorf("%s: poster %d, %d bytes", name, code, len(jpg))
			}
			// Bucket: record, proxy and poster under sequences/<id>/.
			base := path.Join("edge", "box1", "sequences", id)
			seqE2EWaitObjects(t, m, bucket, base, mp4)
		}
	})
	e.step(t, "each frame is still an asset", func(t *testing.T) {
		// Each frame is still an asset (hashes, locations; identical frames of
		// several sequences are one asset with several locations).
		doc, err := e.client().Asset(t.Context(), seqE2ERecord(t, e, growID).FirstAssetID)
		if err != nil || doc.Hashes.BLAKE3 == "" || doc.Hashes.XXH128 == "" || !slices.ContainsFunc(doc.Locations, func(l storage.Location) bool {
			return l.Path == "shots/grow/render.0001.png" && l.State == storage.LocPresent
		}) {
			t.Errorf("first frame asset: %+v %v", doc, err)
		}
	})
	e.step(t, "a growing sequence is cut again once settled", func(t *testing.T) {
		// Growing: more frames land after the first proxy; the record follows,
		// and the proxy is cut again once the sequence has settled.
		first := seqE2ERecord(t, e, growID)
		if first.Count != 5 || first.Proxy.Frames != 5 {
			t.Fatalf("growing sequence before: %+v", first)
		}
		more := seqgen.Spec{Base: "render.", Ext: "png", First: 6, Frames: 4}
		stage := filepath.Join(e.dir, "stage", "grow-more")
		if err := os.MkdirAll(stage, 0o755); err != nil {
			t.Fatal(err)
		}
		files, err := seqgen.Render(ffmpeg, stage, more)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.Rename(f, filepath.Join(e.watch, "shots/grow", filepath.Base(f))); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond) // a render writing frame after frame
		}
		e.waitFeed(mediaTimeout, "second proxy of the growing sequence", func(evs []storage.Event) bool {
			return seqE2EReadyCount(evs, growID) >= 2
		})
		after := seqE2ERecord(t, e, growID)
		if after.Count != 9 || after.Last != 9 || after.Proxy == nil || after.Proxy.Frames != 9 || len(after.Missing) != 0 {
			t.Errorf("growing sequence after: %+v proxy %+v", after, after.Proxy)
		}
		code, mp4 := e.get("/v1/sequences/"+growID+"/proxy", "")
		if pr := seqE2EProbe(t, ffprobe, mp4); code != 200 || !strings.Contains(pr, "nb_read_frames=9") {
			t.Errorf("growing proxy: %d\n%s", code, pr)
		}
		seqE2EWaitObjects(t, m, bucket, path.Join("edge", "box1", "sequences", growID), mp4)
	})
	e.step(t, "JSON errors, Range and ETag", func(t *testing.T) {
		// JSON errors, Range and ETag on the outputs.
		if code, body := e.get("/v1/sequences/NOT-AN-ID", ""); code != 400 || !strings.Contains(string(body), `"error"`) {
			t.Errorf("bad id: %d %s", code, body)
		}
		if code, body := e.get("/v1/sequences/"+strings.Repeat("0", 32)+"/poster", ""); code != 404 || !strings.Contains(string(body), `"error"`) {
			t.Errorf("unknown sequence: %d %s", code, body)
		}
		req, _ := http.NewRequest("GET", "http://"+e.addr+"/v1/sequences/"+growID+"/proxy", nil)
		req.Header.Set("Range", "bytes=0-99")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent || resp.ContentLength != 100 || resp.Header.Get("ETag") == "" {
			t.Errorf("range: %d, %d bytes, etag %q", resp.StatusCode, resp.ContentLength, resp.Header.Get("ETag"))
		}
	})
	e.stop()
}

// seqE2EWaitObjects waits for sequence.json, proxy.mp4 (equal to mp4) and
// poster.jpg under base in the bucket.
func seqE2EWaitObjects(t *testing.T, m *miniotest.Server, bucket, base string, mp4 []byte) {
	t.Helper()
	deadline := time.Now().Add(mediaTimeout)
	for {
		var keys []string
		for _, o := range m.List(t, bucket) {
			keys = append(keys, o.Key)
		}
		if slices.Contains(keys, base+"/sequence.json") && slices.Contains(keys, base+"/poster.jpg") && slices.Contains(keys, base+"/proxy.mp4") &&
			bytes.Equal(m.Get(t, bucket, base+"/proxy.mp4"), mp4) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("objects under %s: %v", base, keys)
		}
		time.Sleep(500 * time.Millisecond)
	}
	var rec sequences.Record
	if err := json.Unmarshal(m.Get(t, bucket, base+"/sequence.json"), &rec); err != nil || rec.ID != path.Base(base) || rec.Proxy == nil || rec.Proxy.Status != sequences.ProxyReady {
		t.Errorf("sequence.json under %s: %+v %v", base, rec, err)
	}
}

// With sequences.frame_proxies false the frames of a sequence get no image
// proxy of their own (the sequence proxy shows them), while a still that is
// not a frame keeps its proxy.
func TestSequencesE2ENoFrameProxies(t *testing.T) {
	ffmpeg := testenv.Need(t, "ffmpeg")
	testenv.Need(t, "ffprobe")
	e := newEnv(t, "", "proxy:\n  gpu: off\n  max_height: 72\nsequences:\n  settle: 1s\n  frame_proxies: false\n")
	e.start()
	spec := seqgen.Spec{Base: "fx.", Ext: "png", First: 1, Frames: 6}
	seqE2EDrop(t, e, ffmpeg, "comp", spec)
	// Other content than the frames (an identical still would be the same
	// asset, which keeps its proxy for the still's sake).
	seqE2EDrop(t, e, ffmpeg, "stills", seqgen.Spec{Base: "poster", Ext: "png", First: 1, Frames: 1, W: 96, H: 54})
	id := sequences.ID("footage", "comp", sequences.Key{Base: "fx.", Ext: "png", Width: 4})
	evs := e.waitFeed(mediaTimeout, "the sequence proxy and the still's proxy", func(evs []storage.Event) bool {
		still := ""
		for _, ev := range evs {
			if ev.Type == storage.EvLocationAdded && ev.Path == "stills/poster0001.png" {
				still = ev.AssetID
			}
		}
		return seqE2EReadyCount(evs, id) > 0 && still != "" && slices.ContainsFunc(evs, func(ev storage.Event) bool {
			return ev.Type == storage.EvProxyReady && ev.AssetID == still
		})
	})
	frames := 0
	for _, ev := range evs {
		if ev.Type != storage.EvLocationAdded || !strings.HasPrefix(ev.Path, "comp/") {
			continue
		}
		frames++
		doc, err := e.client().Asset(t.Context(), ev.AssetID)
		if err != nil {
			t.Fatal(err)
		}
		if doc.Kind != "image" || doc.Media == nil || doc.Proxy != nil {
			t.Errorf("%s: kind %q media %v proxy %+v; want a probed image without a proxy", ev.Path, doc.Kind, doc.Media != nil, doc.Proxy)
		}
		if slices.ContainsFunc(evs, func(x storage.Event) bool { return x.Type == storage.EvProxyReady && x.AssetID == ev.AssetID }) {
			t.Errorf("%s: proxy.ready for a sequence frame", ev.Path)
		}
	}
	if frames != 6 {
		t.Errorf("%d frames cataloged, want 6", frames)
	}
	if r := seqE2ERecord(t, e, id); r.Count != 6 || r.Proxy == nil || r.Proxy.Frames != 6 {
		t.Errorf("sequence %+v proxy %+v", r, r.Proxy)
	}
	e.stop()
}
