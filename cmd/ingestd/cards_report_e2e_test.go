package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/cards/cardsvc"
	"github.com/ingestd/ingestd/internal/miniotest"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/storage"
	cardgen "github.com/ingestd/ingestd/testdata/cards"
)

// Issue 11 item 5: the offload report of a real P2 card (a shot in two
// spans, separate audio, a camera clip XML) offloaded to two destinations
// by the real binary, with its hostile label. Once card.safe: the report
// (HTML and JSON) is served with the card's identity, camera, clip
// duration/TC/frame rate and per-file hashes equal to b3sum's and
// xxhsum's; both files sit next to ascmhl/ in each destination (and are
// neither cataloged nor break the ASC MHL); once the proxies and posters
// land the report is rewritten with a poster and pushed to the bucket,
// where cards/<id>/ holds report.html and report.json and nothing else.
func TestCardsReportE2E(t *testing.T) {
	cardsNeedRoot(t)
	ffmpeg := testenv.Need(t, "ffmpeg")
	b3sum := testenv.Need(t, "b3sum")
	xxhsum := testenv.Need(t, "xxhsum")
	const bucket = "studio-hub"
	m := miniotest.Start(t)
	m.CreateBucket(t, bucket)
	root := filepath.Join(t.TempDir(), "media")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const label = `<i>P2&"x'`
	const shot = "060A2B340101010501010D43130000005A1F0D8E3B0C5A0080458201D2B0BBBB"
	p2 := newCardTree(t, root, label, "32M", func(dir string) {
		if err := cardgen.P2Shot(ctx, ffmpeg, dir, shot, []cardgen.P2Span{
			{Clip: "0001CD", Offset: 0, Frames: 30, Timecode: "10:00:00:00", Next: "0002CD"},
			{Clip: "0002CD", Offset: 30, Frames: 20, Timecode: "10:00:01:05"},
		}, 2); err != nil {
			t.Fatal(err)
		}
	})
	uuid, err := exec.Command("blkid", "-s", "UUID", "-o", "value", p2.img).Output()
	if err != nil {
		t.Fatalf("blkid: %v", err)
	}
	shuttle := mdTmpfs(t, "64m")
	e := newEnv(t, "", "  - name: shuttle\n    path: "+shuttle+"\n"+
		"disk:\n  min_free: 4096\nappliance_id: box1\nproxy:\n  gpu: off\n  filmstrip_tiles: 4\n"+
		"cards:\n  mount_roots: ["+root+"]\n  poll: 200ms\n  hashes: [xxh128]\n"+
		"  destinations:\n    - volume: footage\n      path: \"{label}\"\n    - volume: shuttle\n      path: \"copy2/{label}\"\n      hashes: [md5, sha1]\n"+
		"hub:\n  s3:\n    endpoint: "+m.Endpoint+"\n    bucket: "+bucket+"\n    prefix: edge\n    path_style: true\n    retry_min: 200ms\n    retry_max: 2s\n")
	e.extraEnv = miniotest.Env()
	e.start()
	defer e.stop()

	p2.Insert()
	var shown string // the label as identified
	e.waitFeed(90*time.Second, "card.safe", func(evs []storage.Event) bool {
		for _, ev := range evs {
			var d mdSafeDetail
			if ev.Type == storage.EvCardSafe && json.Unmarshal([]byte(ev.Detail), &d) == nil {
				shown = d.Label
				return true
			}
		}
		return false
	})
	if shown != label {
		t.Errorf("card label %q, want %q (blkid's shell escaping undone)", shown, label)
	}
	rec := mdCardRecord(t, e, shown)
	if rec.ID != cardsvc.CardID(rec.Key) || len(rec.ID) != 32 {
		t.Fatalf("card id %q for key %q", rec.ID, rec.Key)
	}
	id := rec.ID

	var rep cardsvc.Report // read by every step after the first
	e.step(t, "report.json once the clip is probed", func(t *testing.T) {
		// report.json once the clip's media is probed (transcode runs after
		// the offload; the report is built from the catalog at each GET).
		deadline := time.Now().Add(mediaTimeout)
		for {
			code, body := e.get("/v1/cards/"+id+"/report.json", "")
			if code != 200 {
				t.Fatalf("report.json: %d %s", code, body)
			}
			rep = cardsvc.Report{}
			if err := json.Unmarshal(body, &rep); err != nil {
				t.Fatal(err)
			}
			if len(rep.Clips) == 1 && rep.Clips[0].FPS > 0 && rep.Clips[0].Poster && rep.Clips[0].TCOut != "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("report never shows the probed clip with its poster: %s\n%s", body, e.stderr.String())
			}
			time.Sleep(300 * time.Millisecond)
		}
		if rep.ID != id || rep.Label != shown || rep.UUID != strings.TrimSpace(string(uuid)) || rep.Layout != "panasonic_p2" || !rep.SafeToFormat {
			t.Errorf("report identity: id %s label %q uuid %q (blkid %q) layout %s safe %v", rep.ID, rep.Label, rep.UUID, uuid, rep.Layout, rep.SafeToFormat)
		}
		if rep.Camera.Make != "Panasonic" || rep.Camera.Model != "AJ-PX800G" || rep.Camera.Serial != "D1TA00123" {
			t.Errorf("camera %+v", rep.Camera)
		}
		c := rep.Clips[0]
		if c.TCIn != "10:00:00:00" || c.FPS != 25 || c.Frames != 50 || c.TCOut != "10:00:02:00" || c.Duration < 1.95 || c.Duration > 2.1 {
			t.Errorf("clip: tc %s–%s, %v fps, %d frames, %v s; want 10:00:00:00–10:00:02:00, 25 fps, 50 frames, 2 s", c.TCIn, c.TCOut, c.FPS, c.Frames, c.Duration)
		}
		if rep.MBps <= 0 || rep.Seconds <= 0 || rep.Started.IsZero() || !rep.Finished.After(rep.Started) || rep.Bytes <= 0 {
			t.Errorf("timing: %v MB/s over %v s, %v → %v, %d bytes", rep.MBps, rep.Seconds, rep.Started, rep.Finished, rep.Bytes)
		}
		if len(rep.Destinations) != 2 {
			t.Fatalf("destinations %+v", rep.Destinations)
		}
		for _, d := range rep.Destinations {
			want := map[string]string{"footage": "xxh128", "shuttle": "md5,sha1"}[d.Volume]
			if !d.Verified || d.State != "verified" || d.Generation == "" || d.BytesVerified != rep.Bytes || strings.Join(d.Hashes, ",") != want {
				t.Errorf("destination %+v not verified", d)
			}
		}
		if strings.Join(rep.HashFormats, ",") != "blake3,xxh128,md5,sha1" {
			t.Errorf("hash formats %v", rep.HashFormats)
		}
	})
	e.step(t, "per-file hashes against b3sum and xxhsum", func(t *testing.T) {
		// Per-file hashes against b3sum and xxhsum of the card itself.
		sums := func(tool string, args ...string) map[string]string {
			var files []string
			filepath.WalkDir(p2.mp, func(p string, d os.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					files = append(files, p)
				}
				return nil
			})
			out, err := exec.Command(tool, append(args, files...)...).Output()
			if err != nil {
				t.Fatalf("%s: %v", tool, err)
			}
			got := map[string]string{}
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				h, p, ok := strings.Cut(l, "  ")
				if ok {
					rel, _ := filepath.Rel(p2.mp, p)
					got[filepath.ToSlash(rel)] = h
				}
			}
			return got
		}
		b3, x128 := sums(b3sum), sums(xxhsum, "-H2")
		if len(rep.FileList) != len(b3) || len(b3) < 8 {
			t.Errorf("report lists %d files, the card holds %d", len(rep.FileList), len(b3))
		}
		for _, f := range rep.FileList {
			if f.BLAKE3 != b3[f.Path] || f.XXH128 != x128[f.Path] || f.MHL["md5"] == "" || f.MHL["sha1"] == "" || f.MHL["xxh128"] != f.XXH128 {
				t.Errorf("%s: report blake3 %s xxh128 %s, b3sum %s xxhsum %s, mhl %v", f.Path, f.BLAKE3, f.XXH128, b3[f.Path], x128[f.Path], f.MHL)
			}
		}
	})
	e.step(t, "the HTML: strict CSP, ETag, escaped label", func(t *testing.T) {
		// The HTML: strict CSP, ETag, escaped label, nothing external.
		req, _ := http.NewRequest("GET", "http://"+e.addr+"/v1/cards/"+id+"/report", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		page := new(bytes.Buffer)
		page.ReadFrom(res.Body)
		res.Body.Close()
		csp := res.Header.Get("Content-Security-Policy")
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/html; charset=utf-8" || !strings.HasPrefix(csp, "default-src 'none'; img-src data:; style-src 'sha256-") {
			t.Fatalf("report: %d %q csp %q", res.StatusCode, res.Header.Get("Content-Type"), csp)
		}
		reportSelfContained(t, page.Bytes())
		if bytes.Contains(page.Bytes(), []byte(shown)) || !bytes.Contains(page.Bytes(), []byte(html.EscapeString(shown))) {
			t.Errorf("label not escaped in the page")
		}
		if !bytes.Contains(page.Bytes(), []byte("D1TA00123")) || !bytes.Contains(page.Bytes(), []byte("10:00:02:00")) || !bytes.Contains(page.Bytes(), []byte(rep.FileList[0].BLAKE3)) {
			t.Errorf("page lacks serial, TC out or hashes")
		}
		req.Header.Set("If-None-Match", res.Header.Get("ETag"))
		if res2, err := http.DefaultClient.Do(req); err != nil || res2.StatusCode != http.StatusNotModified {
			t.Errorf("If-None-Match: %v %v", res2.StatusCode, err)
		}
		if os.Getenv("INGESTD_REPORT_PNG") != "" {
			reportScreenshot(t, page.Bytes(), os.Getenv("INGESTD_REPORT_PNG"))
		}
	})
	e.step(t, "files next to ascmhl/, the history verifies", func(t *testing.T) {
		// Files next to ascmhl/ in each destination; the history still verifies.
		dirs := map[string]string{"footage": e.watch, "shuttle": shuttle}
		for _, d := range rep.Destinations {
			dir := filepath.Join(dirs[d.Volume], filepath.FromSlash(d.Path))
			if fi, err := os.Stat(filepath.Join(dir, "ascmhl")); err != nil || !fi.IsDir() {
				t.Errorf("%s: no ascmhl/: %v", dir, err)
			}
			js, err := os.ReadFile(filepath.Join(dir, cardsvc.ReportJSONName))
			var onDisk cardsvc.Report
			if err != nil || json.Unmarshal(js, &onDisk) != nil || onDisk.ID != id || len(onDisk.FileList) != len(rep.FileList) {
				t.Errorf("%s/%s: %v", dir, cardsvc.ReportJSONName, err)
			}
			onDiskHTML, err := os.ReadFile(filepath.Join(dir, cardsvc.ReportHTMLName))
			if err != nil {
				t.Errorf("%s: %v", dir, err)
			}
			reportSelfContained(t, onDiskHTML)
			mdVerify(t, dir, 1)
			// Hash formats per destination: the footage history in
			// cards.hashes (xxh128), the shuttle's in its own (md5, sha1).
			gen, err := os.ReadFile(filepath.Join(dir, "ascmhl", d.Generation))
			if err != nil {
				t.Fatal(err)
			}
			has := func(f string) bool { return bytes.Contains(gen, []byte("<"+f+" ")) }
			if d.Volume == "footage" && (!has("xxh128") || has("md5") || has("sha1")) ||
				d.Volume == "shuttle" && (has("xxh128") || !has("md5") || !has("sha1")) {
				t.Errorf("%s: generation %s hashes: xxh128 %v md5 %v sha1 %v", d.Volume, d.Generation, has("xxh128"), has("md5"), has("sha1"))
			}
		}
	})
	e.step(t, "the bucket: the report under cards/<id>/", func(t *testing.T) {
		// The bucket: the rewritten report (with the poster) under cards/<id>/,
		// and nothing else there.
		prefix := "edge/box1/cards/"
		deadline := time.Now().Add(mediaTimeout)
		for {
			var up cardsvc.Report
			for _, o := range m.List(t, bucket) {
				if o.Key == prefix+id+"/report.json" {
					json.Unmarshal(m.Get(t, bucket, o.Key), &up)
				}
			}
			if len(up.Clips) == 1 && up.Clips[0].Poster && up.Clips[0].TCOut == "10:00:02:00" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("bucket report.json never shows the poster: %+v\n%s", up, e.stderr.String())
			}
			time.Sleep(300 * time.Millisecond)
		}
		var under []string
		for _, o := range m.List(t, bucket) {
			if strings.HasPrefix(o.Key, prefix) {
				under = append(under, strings.TrimPrefix(o.Key, prefix))
			}
			if strings.HasSuffix(strings.ToUpper(o.Key), ".MXF") || strings.HasSuffix(o.Key, ".XML") {
				t.Errorf("a master in the bucket: %s", o.Key)
			}
		}
		sort.Strings(under)
		if strings.Join(under, ",") != id+"/report.html,"+id+"/report.json" {
			t.Errorf("under %s: %v, want only %s/report.html and report.json", prefix, under, id)
		}
		pageUp := m.Get(t, bucket, prefix+id+"/report.html")
		reportSelfContained(t, pageUp)
		if !bytes.Contains(pageUp, []byte(`src="data:image/jpeg;base64,`)) {
			t.Errorf("bucket report.html has no embedded poster")
		}
	})
	e.step(t, "the report files are never cataloged", func(t *testing.T) {
		// The report files are not footage: never cataloged.
		evs := e.feedAll()
		n := 0
		for _, ev := range evs {
			if strings.Contains(ev.Path, "ingestd-report") {
				t.Errorf("report file in the catalog: %+v", ev)
			}
			if ev.Type == cardsvc.EvCardReportReady && ev.Path == id {
				n++
			}
		}
		if n < 2 {
			t.Errorf("%d card.report_ready events, want the one at card.safe and one after the poster", n)
		}
	})
}

// reportSelfContained fails when the page could load anything or run a
// script: no URL scheme, no import, no script/link/frame element, no event
// handler, no src other than an embedded JPEG.
func reportSelfContained(t *testing.T, page []byte) {
	t.Helper()
	if !bytes.HasPrefix(page, []byte("<!DOCTYPE html>")) {
		t.Fatalf("not a page: %.100q", page)
	}
	if m := regexp.MustCompile(`(?i)(https?:|ftp:|file:|@import|url\()`).Find(page); m != nil {
		t.Errorf("external reference %q in the report", m)
	}
	data := regexp.MustCompile(`src="data:image/jpeg;base64,[A-Za-z0-9+/=&#;]+"`)
	for _, tag := range regexp.MustCompile(`<[^>]*>`).FindAll(page, -1) {
		lt := bytes.ToLower(data.ReplaceAll(tag, []byte("src=data")))
		if regexp.MustCompile(`^</?(script|link|iframe|object|embed|base|form)`).Match(lt) || regexp.MustCompile(`\son[a-z]+=`).Match(lt) ||
			bytes.Contains(lt, []byte("href=")) || bytes.Contains(lt, []byte("//")) || bytes.Count(lt, []byte("src=")) != bytes.Count(lt, []byte("src=data")) {
			t.Errorf("tag %.200q in the report", tag)
		}
	}
}

// reportScreenshot renders the page with headless chromium into png (when
// INGESTD_REPORT_PNG names a file), to look at.
func reportScreenshot(t *testing.T, page []byte, png string) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Logf("no chromium: %v", err)
		return
	}
	f := filepath.Join(t.TempDir(), "report.html")
	os.WriteFile(f, page, 0o644)
	out, err := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,1400", "--screenshot="+png, "file://"+f).CombinedOutput()
	t.Logf("chromium screenshot %s: %v %s", png, err, out)
}
