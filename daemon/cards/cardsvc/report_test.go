package cardsvc

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
)

func reportRecord(label, key string) Record {
	t0 := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	safe := t0.Add(3 * time.Second)
	return Record{Key: key, Label: label, Layout: cards.LayoutGoPro, Identity: wire.CardIdentity{UUID: "1234-ABCD", FSType: "exfat"},
		Volume: "raid", Folder: "2026-11-23/" + label, Status: StateOffloaded, SafeToFormat: true, SafeAt: &safe,
		Started: t0, Finished: t0.Add(2 * time.Second), Files: 2, Bytes: 20_000_000,
		Destinations: []DestState{{Volume: "raid", Path: "2026-11-23/" + label, State: cards.DestVerified, BytesVerified: 20_000_000, Generation: "0001_x.mhl"},
			{Volume: "shuttle", Path: "2026-11-23/" + label, State: cards.DestFailed, Error: "<b>disk full</b>"}}}
}

// writeJPEG writes a w×h JPEG (a gradient) to p.
func writeJPEG(t *testing.T, p string, w, h int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// external finds anything in the page that would load from elsewhere.
var external = regexp.MustCompile(`(?i)(https?:|ftp:|file:|@import|url\()`)

func TestReportBuild(t *testing.T) {
	stateDir := t.TempDir()
	const assetA = "aaaa000000000000000000000000000000000000000000000000000000000000"
	writeJPEG(t, storage.OutputPath(stateDir, assetA, "poster.jpg"), 640, 360)
	media := map[string]*storage.AssetDoc{assetA: {Asset: storage.Asset{ID: assetA, Media: &storage.Media{Duration: 10.01, Timecode: "01:00:00;00", DropFrame: true,
		Make: "GoPro", Model: "HERO12", Streams: []storage.Stream{{Type: "video", Codec: "h264", FrameRate: "30000/1001", Width: 1920, Height: 1080, Frames: 300}}}}}}
	asset := func(id string) (*storage.AssetDoc, error) {
		if a, ok := media[id]; ok {
			return a, nil
		}
		return nil, storage.ErrNotFound
	}
	for _, tc := range []struct {
		name     string
		label    string
		clip     string
		files    []ReportFile
		clipMeta *cards.CameraMeta
		asset    string
		// want
		tcOut    string
		poster   bool
		warnings []string
		b64      bool
	}{
		{name: "probed clip with poster", label: "GOPRO1", clip: "GX0001", asset: assetA,
			files:    []ReportFile{{Path: "DCIM/100GOPRO/GX010001.MP4", Size: 10, BLAKE3: "b3", XXH128: "x128", MHL: map[string]string{"xxh128": "x128", "md5": "m5"}}},
			clipMeta: &cards.CameraMeta{Manufacturer: "GoPro", Model: "HERO12", Serial: "C3441"},
			tcOut:    "01:00:10;00", poster: true, warnings: []string{"not verified (failed): <b>disk full</b>"}},
		{name: "hostile names", label: `<script>alert(1)</script>"'&`, clip: `<img src=x onerror=alert(1)>`, asset: assetA,
			files: []ReportFile{{Path: `DCIM/<script>x</script>.MP4`, BLAKE3: "b3"}}, tcOut: "01:00:10;00", poster: true},
		{name: "not UTF-8", label: "CARD\xff\xfe", clip: "GX\x80001", asset: assetA,
			files: []ReportFile{{Path: "DCIM/GX\x80.MP4", BLAKE3: "b3"}}, tcOut: "01:00:10;00", poster: true, b64: true},
		{name: "missing metadata", label: "NO NAME", clip: "C0001", asset: "bbbb000000000000000000000000000000000000000000000000000000000000",
			warnings: []string{"no probed media yet", "per-file hashes not recorded"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := reportRecord(tc.label, "uuid:1234-ABCD/ff00")
			clip := ClipDoc{ID: clipID(rec.Key, tc.clip), Name: tc.clip, Meta: (*wire.CameraMeta)(tc.clipMeta),
				Parts: []ClipPart{{Role: "video", Path: rec.Folder + "/DCIM/100GOPRO/" + tc.clip + ".MP4", AssetID: tc.asset}}}
			r := buildReport(rec, tc.files, []ClipDoc{clip}, asset, stateDir)
			if r.Label != tc.label || r.UUID != "1234-ABCD" || len(r.Clips) != 1 || len(r.Destinations) != 2 {
				t.Fatalf("report %+v", r)
			}
			if !r.Destinations[0].Verified || r.Destinations[1].Verified {
				t.Errorf("destinations %+v", r.Destinations)
			}
			if r.MBps != 10 || r.Seconds != 2 {
				t.Errorf("rate %v MB/s over %v s, want 10 over 2", r.MBps, r.Seconds)
			}
			c := r.Clips[0]
			if c.TCOut != tc.tcOut || c.Poster != tc.poster {
				t.Errorf("clip %+v: tc_out %q poster %v, want %q %v", c, c.TCOut, c.Poster, tc.tcOut, tc.poster)
			}
			if c.Parts[0].Path != "DCIM/100GOPRO/"+tc.clip+".MP4" {
				t.Errorf("part path %q not relative to the card", c.Parts[0].Path)
			}
			for _, w := range tc.warnings {
				if !strings.Contains(strings.Join(r.Warnings, "\n"), w) {
					t.Errorf("warnings %q lack %q", r.Warnings, w)
				}
			}
			js, err := r.JSON()
			if err != nil {
				t.Fatal(err)
			}
			var back map[string]any
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatal(err)
			}
			if tc.b64 {
				if got, _ := base64.StdEncoding.DecodeString(back["label_b64"].(string)); string(got) != tc.label {
					t.Errorf("label_b64 %q", back["label_b64"])
				}
				fl := back["file_list"].([]any)[0].(map[string]any)
				if got, _ := base64.StdEncoding.DecodeString(fl["path_b64"].(string)); string(got) != tc.files[0].Path {
					t.Errorf("file path_b64 %v", fl)
				}
			} else if _, ok := back["label_b64"]; ok {
				t.Errorf("label_b64 on a UTF-8 label")
			}
			page, err := r.HTML()
			if err != nil {
				t.Fatal(err)
			}
			checkPage(t, page)
			for _, raw := range []string{tc.label, tc.clip} {
				if strings.ContainsAny(raw, "<>") && bytes.Contains(page, []byte(raw)) {
					t.Errorf("page holds %q unescaped", raw)
				}
			}
			if tc.poster != bytes.Contains(page, []byte(`src="data:image/jpeg;base64,`)) {
				t.Errorf("poster embedded: %v, want %v", !tc.poster, tc.poster)
			}
			if tc.b64 && !bytes.Contains(page, []byte(`CARD\xff\xfe`)) {
				t.Errorf("non-UTF-8 label not shown escaped")
			}
		})
	}
}

// checkPage asserts the page is valid UTF-8, self-contained and script-free.
func checkPage(t *testing.T, page []byte) {
	t.Helper()
	if !bytes.HasPrefix(page, []byte("<!DOCTYPE html>")) || !bytes.Contains(page, []byte("</html>")) {
		t.Fatalf("not a page: %.200s", page)
	}
	if !json.Valid([]byte(`"`+strings.ReplaceAll(strings.ReplaceAll(string(page), `\`, `\\`), `"`, `\"`)+`"`)) && !isUTF8(page) {
		t.Errorf("page not UTF-8")
	}
	// No URL scheme or CSS import anywhere (names are shown escaped as
	// text, so only a real reference could carry one) ...
	if m := external.Find(page); m != nil {
		i := bytes.Index(page, m)
		t.Errorf("external reference %q in %q", m, page[max(0, i-80):min(len(page), i+80)])
	}
	// ... and in the tags: no script, frame or link element, no event
	// handler, no src/href other than an embedded JPEG.
	for _, tag := range regexp.MustCompile(`<[^>]*>`).FindAll(page, -1) {
		lt := bytes.ToLower(regexp.MustCompile(`src="data:image/jpeg;base64,[A-Za-z0-9+/=&#;]+"`).ReplaceAll(tag, []byte("src=DATA")))
		if regexp.MustCompile(`^</?(script|link|iframe|object|embed|base|meta http-equiv|form)`).Match(lt) ||
			regexp.MustCompile(`\son[a-z]+=`).Match(lt) || bytes.Contains(lt, []byte("href=")) || bytes.Contains(lt, []byte("//")) ||
			bytes.Count(lt, []byte("src=")) != bytes.Count(lt, []byte("src=data")) {
			t.Errorf("tag %.200q", tag)
		}
	}
	if n := bytes.Count(page, []byte("<style>")); n != 1 || !bytes.Contains(page, []byte("<style>"+reportCSS+"</style>")) {
		t.Errorf("want exactly the one hashed <style> block, got %d", n)
	}
}

func isUTF8(b []byte) bool { return strings.ToValidUTF8(string(b), "") == string(b) }

func TestAddTimecode(t *testing.T) {
	for _, tc := range []struct {
		in     string
		frames int64
		fps    float64
		df     bool
		want   string
	}{
		{"00:00:00:00", 25, 25, false, "00:00:01:00"},
		{"01:00:00:00", 24 * 60, 23.976, false, "01:01:00:00"},
		{"00:00:59;29", 1, 29.97, true, "00:01:00;02"}, // frames 00 and 01 dropped
		{"00:09:59;29", 1, 29.97, true, "00:10:00;00"}, // not at the tenth minute
		{"01:00:00;00", 300, 29.97, true, "01:00:10;00"},
		{"00:00:00;00", 17982, 29.97, true, "00:10:00;00"},
		{"23:59:59:24", 1, 25, false, "00:00:00:00"},
		{"00:00:00:00", 3600, 59.94, true, "00:01:00;04"},
		{"garbage", 10, 25, false, ""},
		{"00:00:00:00", 10, 0, false, ""},
	} {
		if got := addTimecode(tc.in, tc.frames, tc.fps, tc.df); got != tc.want {
			t.Errorf("addTimecode(%q, %d, %v, %v) = %q, want %q", tc.in, tc.frames, tc.fps, tc.df, got, tc.want)
		}
	}
}

func TestPosterThumb(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "poster.jpg")
	writeJPEG(t, good, 1280, 720)
	uri, err := posterThumb(good)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(string(uri), "data:image/jpeg;base64,"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(raw))
	if err != nil || cfg.Width != reportPosterWidth || cfg.Height != 90 {
		t.Fatalf("thumbnail %dx%d (%v), want %dx90", cfg.Width, cfg.Height, err, reportPosterWidth)
	}
	// Refused: a symlink, a FIFO, a file that is not a JPEG, too large.
	os.Symlink(good, filepath.Join(dir, "link.jpg"))
	if err := unix.Mkfifo(filepath.Join(dir, "fifo.jpg"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "text.jpg"), []byte("<html>"), 0o644)
	big, _ := os.Create(filepath.Join(dir, "big.jpg"))
	big.Truncate(reportPosterMaxIn + 1)
	big.Close()
	for _, n := range []string{"link.jpg", "fifo.jpg", "text.jpg", "big.jpg", "missing.jpg"} {
		done := make(chan error, 1)
		go func() { _, err := posterThumb(filepath.Join(dir, n)); done <- err }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s: embedded", n)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: posterThumb blocked", n)
		}
	}
}

// TestReportFilesAndHandler: a safe card's report is written to the state
// dir and next to ascmhl/ in the verified destination (never through a
// planted symlink), card.report_ready is appended once per change, and the
// handler serves both forms with CSP and ETag.
func TestReportFilesAndHandler(t *testing.T) {
	cat := catalogtest.Open(t, t.TempDir())
	stateDir, raid, shuttle := t.TempDir(), t.TempDir(), t.TempDir()
	rec := reportRecord("A001", "uuid:1234-ABCD/ff00")
	os.MkdirAll(filepath.Join(raid, rec.Folder, "ascmhl"), 0o755)
	// The second destination (failed) has a planted symlink: never written.
	os.MkdirAll(filepath.Join(shuttle, rec.Folder), 0o755)
	outside := filepath.Join(t.TempDir(), "victim.html")
	os.WriteFile(outside, []byte("victim"), 0o644)
	os.Symlink(outside, filepath.Join(shuttle, rec.Folder, ReportHTMLName))
	rec.Destinations[1].State = cards.DestVerified
	s := &Service{cat: cat, log: slog.New(slog.NewTextHandler(io.Discard, nil)), vols: map[string]string{"raid": raid, "shuttle": shuttle}}
	s.SetReports(stateDir)
	if err := cat.PutCard(rec); err != nil {
		t.Fatal(err)
	}
	if err := s.storeFiles(rec.Key, []cards.FileResult{{Path: "DCIM/100GOPRO/GX010001.MP4", Size: 10, BLAKE3: "b3", XXH128: "x"}}); err != nil {
		t.Fatal(err)
	}
	s.writeReport(rec.Key, true)
	id := CardID(rec.Key)
	for _, p := range []string{filepath.Join(stateDir, "cards", id, "report.html"), filepath.Join(stateDir, "cards", id, "report.json"),
		filepath.Join(raid, rec.Folder, ReportHTMLName), filepath.Join(raid, rec.Folder, ReportJSONName)} {
		if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("%s: %v", p, err)
		}
	}
	// Only the two report files next to ascmhl/: no temp name left (a temp
	// name is *.ingestd-partial, which the catalog and the MHL ignore).
	ents, _ := os.ReadDir(filepath.Join(raid, rec.Folder))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "ascmhl,"+ReportHTMLName+","+ReportJSONName {
		t.Errorf("destination folder holds %v", names)
	}
	if b, _ := os.ReadFile(outside); string(b) != "victim" {
		t.Errorf("report written through a symlink: %q", b)
	}
	if fi, err := os.Lstat(filepath.Join(shuttle, rec.Folder, ReportHTMLName)); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("planted symlink replaced: %v", err)
	}
	countEvents := func() int {
		n := 0
		evs, _ := cat.Events(0, 1000)
		for _, e := range evs {
			if e.Type == EvCardReportReady && e.Path == id {
				n++
			}
		}
		return n
	}
	if n := countEvents(); n != 1 {
		t.Fatalf("%d card.report_ready events, want 1", n)
	}
	s.writeReport(rec.Key, false) // unchanged: no new event
	if n := countEvents(); n != 1 {
		t.Errorf("%d card.report_ready events after an unchanged rebuild, want 1", n)
	}

	h := ReportHandler(cat, stateDir, s.log)
	get := func(path, inm string) *http.Response {
		req := httptest.NewRequest("GET", path, nil)
		if inm != "" {
			req.Header.Set("If-None-Match", inm)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Result()
	}
	res := get("/v1/cards/"+id+"/report", "")
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/html; charset=utf-8" ||
		!strings.HasPrefix(res.Header.Get("Content-Security-Policy"), "default-src 'none'; img-src data:; style-src 'sha256-") {
		t.Fatalf("report: %d %v", res.StatusCode, res.Header)
	}
	checkPage(t, body)
	if r := get("/v1/cards/"+id+"/report", res.Header.Get("ETag")); r.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", r.StatusCode)
	}
	res = get("/v1/cards/"+id+"/report.json", "")
	var rep Report
	if err := json.NewDecoder(res.Body).Decode(&rep); err != nil || res.StatusCode != 200 || rep.ID != id || len(rep.FileList) != 1 {
		t.Errorf("report.json: %d %v %+v", res.StatusCode, err, rep)
	}
	for path, code := range map[string]int{"/v1/cards/" + strings.Repeat("0", 32) + "/report": 404, "/v1/cards/XYZ/report.json": 400} {
		if r := get(path, ""); r.StatusCode != code {
			t.Errorf("%s: %d, want %d", path, r.StatusCode, code)
		}
	}
}

// TestReportNotOverCardFile: a card file named like the report is never
// overwritten by it.
func TestReportNotOverCardFile(t *testing.T) {
	root := t.TempDir()
	s := &Service{vols: map[string]string{"v": root}}
	os.MkdirAll(filepath.Join(root, "c"), 0o755)
	os.WriteFile(filepath.Join(root, "c", ReportHTMLName), []byte("card's own"), 0o644)
	err := s.writeDestReport(DestState{Volume: "v", Path: "c"}, map[string]bool{strings.ToLower(ReportHTMLName): true}, []byte("x"), []byte("{}"))
	if err == nil {
		t.Fatal("wrote over a card file")
	}
	if b, _ := os.ReadFile(filepath.Join(root, "c", ReportHTMLName)); string(b) != "card's own" {
		t.Errorf("card file now %q", b)
	}
	if err := s.writeDestReport(DestState{Volume: "v", Path: "../etc"}, nil, nil, nil); err == nil {
		t.Errorf("outside the volume: %v", err)
	}
}

// A card offloaded before reports existed (no id index, no file hashes)
// still has a report, which says what it lacks; writeReport after the
// service stopped writes nothing.
func TestReportOldCard(t *testing.T) {
	cat := catalogtest.Open(t, t.TempDir())
	rec := reportRecord("OLD1", "uuid:0000/abcd")
	if err := cat.PutCard(rec); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	ReportHandler(cat, "", slog.New(slog.NewTextHandler(io.Discard, nil))).ServeHTTP(w, httptest.NewRequest("GET", "/v1/cards/"+CardID(rec.Key)+"/report.json", nil))
	var rep Report
	if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil || w.Code != 200 || rep.Key != rec.Key ||
		!strings.Contains(strings.Join(rep.Warnings, "\n"), "per-file hashes not recorded") {
		t.Fatalf("%d %v %+v", w.Code, err, rep)
	}
	s := &Service{cat: cat, log: slog.New(slog.NewTextHandler(io.Discard, nil)), reportState: t.TempDir()}
	s.stopReports()
	s.scheduleReport(rec.Key)
	if len(s.reportTimers) != 0 {
		t.Errorf("rewrite scheduled after stop")
	}
}

// TestReportStillsCard: a card of stills (probed pictures, no duration;
// their proxy is a JPEG, no poster) shows each as probed with a thumbnail,
// and a card of many clips not probed yet gets a bounded list of warnings
// and how many more.
func TestReportStillsCard(t *testing.T) {
	stateDir := t.TempDir()
	media := map[string]*storage.AssetDoc{}
	var clips []ClipDoc
	rec := reportRecord("STILLS", "uuid:1234-ABCD/ff01")
	for i := range 60 {
		id := fmt.Sprintf("%064x", i+1)
		name := fmt.Sprintf("IMG_%04d", i)
		if i < 10 { // probed, proxy made
			media[id] = &storage.AssetDoc{Asset: storage.Asset{ID: id, Media: &storage.Media{Streams: []storage.Stream{{Type: "video", Codec: "mjpeg", Width: 640, Height: 480}}}}}
			writeJPEG(t, storage.OutputPath(stateDir, id, "proxy.jpg"), 320, 240)
		}
		clips = append(clips, ClipDoc{ID: clipID(rec.Key, name), Name: name, Parts: []ClipPart{{Role: "video", Path: rec.Folder + "/DCIM/" + name + ".JPG", AssetID: id}}})
	}
	asset := func(id string) (*storage.AssetDoc, error) {
		if a, ok := media[id]; ok {
			return a, nil
		}
		return nil, storage.ErrNotFound
	}
	r := buildReport(rec, nil, clips, asset, stateDir)
	for i, c := range r.Clips[:10] {
		if !c.Poster || c.Width != 640 {
			t.Errorf("still %d: %+v", i, c)
		}
	}
	all := strings.Join(r.Warnings, "\n")
	if strings.Contains(all, "IMG_0003") {
		t.Errorf("a probed still warned about: %q", all)
	}
	if n := strings.Count(all, "no probed media yet"); n != reportMaxClipWarnings {
		t.Errorf("%d clip warnings listed, want %d", n, reportMaxClipWarnings)
	}
	if !strings.Contains(all, fmt.Sprintf("and %d more clip warnings", 50-reportMaxClipWarnings)) {
		t.Errorf("no count of the rest: %q", all)
	}
	// A card that failed has no per-file hashes for that reason, not an
	// older ingestd's.
	failed := reportRecord("FAILED", "uuid:1234-ABCD/ff02")
	failed.Status, failed.SafeToFormat = StateFailed, false
	if w := strings.Join(buildReport(failed, nil, nil, asset, stateDir).Warnings, "\n"); !strings.Contains(w, "the card was not offloaded (failed)") || strings.Contains(w, "older ingestd") {
		t.Errorf("failed card: %q", w)
	}
}

// A shot in two spans: its duration, frame count and TC out are given only
// once every span is probed. A span whose content id is not known yet (its
// file not cataloged yet) is a span not probed, not one left out: the e2e
// run once saw the first span's 30 frames reported as the whole shot's.
func TestReportSpannedClip(t *testing.T) {
	const a1 = "a100000000000000000000000000000000000000000000000000000000000000"
	const a2 = "a200000000000000000000000000000000000000000000000000000000000000"
	span := func(frames int64) *storage.AssetDoc {
		return &storage.AssetDoc{Asset: storage.Asset{Media: &storage.Media{Duration: float64(frames) / 25, Timecode: "10:00:00:00",
			Streams: []storage.Stream{{Type: "video", Codec: "dvvideo", FrameRate: "25/1", Frames: frames}}}}}
	}
	media := map[string]*storage.AssetDoc{a1: span(30), a2: span(20)}
	asset := func(id string) (*storage.AssetDoc, error) {
		if a, ok := media[id]; ok {
			return a, nil
		}
		return nil, storage.ErrNotFound
	}
	for _, tc := range []struct {
		name        string
		second      string // the second span's asset id
		frames      int64
		tcOut, warn string
	}{
		{name: "both spans probed", second: a2, frames: 50, tcOut: "10:00:02:00"},
		{name: "second span's content id not known yet", second: "", warn: "1 of 2 video files not probed yet"},
		{name: "second span not probed yet", second: "b200000000000000000000000000000000000000000000000000000000000000", warn: "1 of 2 video files not probed yet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := reportRecord("P2CARD", "uuid:1234-ABCD/ff01")
			clip := ClipDoc{ID: clipID(rec.Key, "shot"), Name: "shot", Parts: []ClipPart{
				{Role: "video", Path: rec.Folder + "/CONTENTS/VIDEO/0001CD.MXF", AssetID: a1},
				{Role: "video", Path: rec.Folder + "/CONTENTS/VIDEO/0002CD.MXF", AssetID: tc.second}}}
			r := buildReport(rec, nil, []ClipDoc{clip}, asset, "")
			c := r.Clips[0]
			if c.Frames != tc.frames || c.TCOut != tc.tcOut || c.TCIn != "10:00:00:00" || c.FPS != 25 {
				t.Errorf("clip %d frames, %s–%s at %v fps; want %d frames, TC out %q", c.Frames, c.TCIn, c.TCOut, c.FPS, tc.frames, tc.tcOut)
			}
			if tc.frames == 0 && c.Duration != 0 {
				t.Errorf("duration %v shown while a span is not probed", c.Duration)
			}
			if w := strings.Join(r.Warnings, "\n"); (tc.warn == "") != !strings.Contains(w, "not probed yet") || !strings.Contains(w, tc.warn) {
				t.Errorf("warnings %q, want %q", r.Warnings, tc.warn)
			}
		})
	}
}

// A clip FFmpeg cannot read (BRAW, a camera raw still) is not "not probed
// yet" for good: the report says the media stage gave up, and why.
func TestReportUnreadableClip(t *testing.T) {
	const braw = "b4a0000000000000000000000000000000000000000000000000000000000000"
	media := map[string]*storage.AssetDoc{braw: {Asset: storage.Asset{ID: braw,
		Proxy: &storage.ProxyInfo{Status: "unsupported", Error: "ffprobe: no decoder for braw\nmore detail"}}}}
	asset := func(id string) (*storage.AssetDoc, error) {
		if a, ok := media[id]; ok {
			return a, nil
		}
		return nil, storage.ErrNotFound
	}
	rec := reportRecord("BRAW1", "uuid:1234-ABCD/ff02")
	clip := ClipDoc{ID: clipID(rec.Key, "A001_C002"), Name: "A001_C002", Parts: []ClipPart{
		{Role: "video", Path: rec.Folder + "/A001_C002.braw", AssetID: braw}}}
	r := buildReport(rec, nil, []ClipDoc{clip}, asset, "")
	w := strings.Join(r.Warnings, "\n")
	if !strings.Contains(w, "clip A001_C002: not readable by FFmpeg here (unsupported: ffprobe: no decoder for braw)") || strings.Contains(w, "yet") {
		t.Errorf("warnings %q", r.Warnings)
	}
}

// A camera sidecar's timecode that does not fit the clip's frame rate (a
// trial: a 30 fps drop-frame TC, frame 27, on a 25p clip, reported with a
// TC out computed at 25 fps) is not shown as the clip's: the file's own
// timecode when it fits, else no TC out; a warning says which.
func TestReportTimecodeNotFitting(t *testing.T) {
	for _, tc := range []struct {
		tc   string
		fps  float64
		df   bool
		want bool
	}{
		{"01:29:21;27", 29.97, true, true}, {"01:29:21;27", 25, true, false}, {"01:29:21:27", 25, false, false},
		{"10:00:00:24", 25, false, true}, {"24:00:00:00", 25, false, false}, {"00:60:00:00", 25, false, false},
		{"00:00:00;00", 30, true, false}, {"00:00:00;00", 59.94, true, true}, {"x", 25, false, false},
	} {
		if got := tcFits(tc.tc, tc.fps, tc.df); got != tc.want {
			t.Errorf("tcFits(%q, %v, %v) = %v", tc.tc, tc.fps, tc.df, got)
		}
	}
	const a = "c1a0000000000000000000000000000000000000000000000000000000000000"
	for _, tc := range []struct {
		name, fileTC, tcIn, tcOut, warn string
	}{
		{"file timecode used", "01:00:00:00", "01:00:00:00", "01:00:02:00", "does not fit the clip's 25 fps; the file's own timecode 01:00:00:00 is shown"},
		{"no timecode out", "", "01:29:21;27", "", "timecode 01:29:21;27 does not fit the clip's 25 fps: TC out not computed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			media := map[string]*storage.AssetDoc{a: {Asset: storage.Asset{ID: a, Media: &storage.Media{Duration: 2, Timecode: tc.fileTC,
				Streams: []storage.Stream{{Type: "video", Codec: "h264", FrameRate: "25/1", Frames: 50}}}}}}
			asset := func(id string) (*storage.AssetDoc, error) { return media[id], nil }
			rec := reportRecord("SONY1", "uuid:1234-ABCD/ff03")
			clip := ClipDoc{ID: clipID(rec.Key, "C0001"), Name: "C0001",
				Meta:  &wire.CameraMeta{Manufacturer: "Sony", StartTimecode: "01:29:21;27", DropFrame: true},
				Parts: []ClipPart{{Role: "video", Path: rec.Folder + "/PRIVATE/M4ROOT/CLIP/C0001.MP4", AssetID: a}}}
			r := buildReport(rec, nil, []ClipDoc{clip}, asset, "")
			c := r.Clips[0]
			if c.TCIn != tc.tcIn || c.TCOut != tc.tcOut {
				t.Errorf("tc %s–%s, want %s–%s", c.TCIn, c.TCOut, tc.tcIn, tc.tcOut)
			}
			if !strings.Contains(strings.Join(r.Warnings, "\n"), tc.warn) {
				t.Errorf("warnings %q lack %q", r.Warnings, tc.warn)
			}
		})
	}
}
