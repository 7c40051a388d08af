package main_test

// The contract test: docs/api.md against the live daemon, as a hub
// integrator would read it. One real daemon (tokenless, loopback) with two
// volumes (one taken offline), real media (a clip, a WAV, a PNG, a PNG
// frame sequence, text files, a deleted and a rewritten file, a non-UTF-8
// name), a loop-mounted GoPro card (when root), FFmpeg proxies, MinIO for
// hub.s3 and an httptest webhook receiver; a second daemon with a token for
// the 401s and the console login.
//
// What comes from docs/api.md itself: the endpoints (an endpoint documented
// there that no case walks fails the test; TestAPIRoutesDocumented in
// daemon/ fails a route served but not documented), the event types and
// their fields (the Event types table), the metrics (its table). Each JSON
// document is compared key by key with the fields listed here (required,
// optional "?", list "[]"), and every listed field must be named in
// docs/api.md: an undocumented key from the daemon fails, and so does a
// listed field the doc never names.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/zeebo/blake3"

	"github.com/ingestd/ingestd/internal/miniotest"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/storage"
	cardgen "github.com/ingestd/ingestd/testdata/cards"
)

// ctCanMountCards: loop-mounted cards need root and mkfs.ext4/blkid; on CI
// (CI=true) their absence fails instead (cardsNeedRoot).
func ctCanMountCards(t *testing.T) bool {
	t.Helper()
	if os.Getenv("CI") == "true" {
		cardsNeedRoot(t)
		return true
	}
	for _, tool := range []string{"mkfs.ext4", "blkid", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			return false
		}
	}
	return os.Geteuid() == 0
}

// ctShape is the documented field set of one JSON object: req fields must
// be present, opt fields may be (omitted when empty, per the doc); any
// other key fails. kids are the shapes of nested objects (or of the
// elements of nested arrays) by field name; with anyKeys the keys are
// data (e.g. done counts by status) and kids["*"] shapes every value.
type ctShape struct {
	req, opt []string
	lists    []string // fields that are JSON arrays, never null ("name[]")
	kids     map[string]*ctShape
	anyKeys  bool
}

// ctObj builds a shape from "a b c? d[]": a trailing ? marks an optional
// field, [] one that is a list (an array when present, never null).
func ctObj(spec string, kids map[string]*ctShape) *ctShape {
	s := &ctShape{kids: kids}
	for _, f := range strings.Fields(spec) {
		if n, ok := strings.CutSuffix(strings.TrimSuffix(f, "?"), "[]"); ok {
			s.lists = append(s.lists, n)
			f = strings.Replace(f, "[]", "", 1)
		}
		if n, ok := strings.CutSuffix(f, "?"); ok {
			s.opt = append(s.opt, n)
		} else {
			s.req = append(s.req, f)
		}
	}
	return s
}

func ctMap(elem *ctShape) *ctShape {
	return &ctShape{anyKeys: true, kids: map[string]*ctShape{"*": elem}}
}

// Time fields: RFC 3339, UTC ("Z"), fraction as Go's RFC3339Nano writes it.
var ctTimeKeys = map[string]bool{
	"started": true, "last_scan": true, "time": true, "first_seen": true, "mtime": true, "seen": true,
	"at": true, "removed": true, "replaced": true, "last_success": true, "last_error_at": true,
	"retry_at": true, "since": true, "last_start": true, "last_end": true, "next_run": true,
	"offload_at": true, "finished": true,
}

// ctCheck compares v with s, recursively; where names the position.
func ctCheck(t *testing.T, where string, v any, s *ctShape) {
	t.Helper()
	if s == nil || v == nil {
		return
	}
	if arr, ok := v.([]any); ok {
		for i, e := range arr {
			ctCheck(t, fmt.Sprintf("%s[%d]", where, i), e, s)
		}
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Errorf("%s: %T, want an object", where, v)
		return
	}
	if s.anyKeys {
		for k, x := range m {
			ctCheck(t, where+"."+k, x, s.kids["*"])
		}
		return
	}
	for _, f := range s.req {
		if _, ok := m[f]; !ok {
			t.Errorf("%s: documented field %q missing (have %v)", where, f, ctKeys(m))
		}
	}
	for k, x := range m {
		if !slices.Contains(s.req, k) && !slices.Contains(s.opt, k) {
			t.Errorf("%s: field %q (= %s) is not documented in docs/api.md (document it there, then list it in this test's shape)", where, k, ctShort(x))
			continue
		}
		if _, isList := x.([]any); slices.Contains(s.lists, k) && !isList {
			t.Errorf("%s.%s = %s: documented as a list, want an array", where, k, ctShort(x))
		}
		if ctTimeKeys[k] {
			if str, ok := x.(string); ok {
				ts, err := time.Parse(time.RFC3339Nano, str)
				if err != nil || !strings.HasSuffix(str, "Z") || ts.UTC().Format(time.RFC3339Nano) != str {
					t.Errorf("%s.%s = %q: want an RFC 3339 UTC time as documented", where, k, str)
				}
			}
		}
		if ks := s.kids[k]; ks != nil {
			ctCheck(t, where+"."+k, x, ks)
		}
	}
}

func ctKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func ctShort(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}

// ctFieldNames lists every field named by a shape, for the check that the
// doc names each.
func ctFieldNames(s *ctShape, into map[string]bool) {
	if s == nil {
		return
	}
	for _, f := range append(append([]string{}, s.req...), s.opt...) {
		into[f] = true
	}
	for _, k := range s.kids {
		ctFieldNames(k, into)
	}
}

// The documented JSON documents.
var (
	ctErrorShape = ctObj("error param?", nil)

	ctLocationShape = ctObj("volume path path_b64? asset_id size mtime inode dev state seen removed? replaced_by? history[]?",
		map[string]*ctShape{"history": ctObj("asset_id size mtime replaced", nil)})
	ctAssetShape = ctObj("id size hashes first_seen kind? media? proxy? sync? origin? camera? analysis? locations[]", map[string]*ctShape{
		"hashes": ctObj("blake3 xxh128", nil),
		"media": ctObj("container? duration? timecode? drop_frame? reel? make? model? time_reference? streams[]?", map[string]*ctShape{
			"streams": ctObj("index type codec? codec_tag? profile? width? height? sar? dar? frame_rate? vfr? frames? "+
				"field_order? pix_fmt? bit_depth? color_primaries? color_transfer? color_matrix? hdr? rotation? "+
				"channels? channel_layout? sample_rate? duration? attached_pic?", nil),
		}),
		"proxy":  ctObj("status profile? lane? width? height? frames? bytes? error? outputs[]? at?", nil),
		"sync":   ctObj("status at? error?", nil),
		"origin": ctObj("card_label? card_layout? offload_at?", nil),
		"camera": ctObj("source manufacturer? model? serial? creation_date? start_timecode? drop_frame? timecode_fps? capture_fps? video_codec? clip_name? global_clip_id?", nil),
		"analysis": ctObj("status verdict? checks[]? shots? error? outputs[]? loudness? at?", map[string]*ctShape{
			"checks":   ctObj("rule verdict reason", nil),
			"loudness": ctObj("integrated_lufs range_lu true_peak_dbtp sample_peak_dbfs clipped_samples", nil),
		}),
		"locations": ctLocationShape,
	})
	ctAssetsShape     = ctObj("assets[] next", map[string]*ctShape{"assets": ctAssetShape})
	ctSegmentShape    = ctObj("start end duration start_frame? end_frame? start_tc? end_tc?", nil)
	ctEnrichmentShape = ctObj("asset_id? name status error? data? files[]? elapsed_s", nil)
	ctAnalysisShape   = ctObj("asset_id source audio_source? audio_note? duration frame_rate? start_tc? video audio black[] freeze[] silence[] shots[] loudness? truncated? checks[] enrichments[]? verdict elapsed_s at",
		map[string]*ctShape{"black": ctSegmentShape, "freeze": ctSegmentShape, "silence": ctSegmentShape, "enrichments": ctEnrichmentShape,
			"shots":    ctObj("start start_frame? start_tc? end thumbnail?", nil),
			"loudness": ctObj("integrated_lufs range_lu true_peak_dbtp sample_peak_dbfs clipped_samples", nil),
			"checks":   ctObj("rule verdict reason", nil)})

	ctStatusShape = ctObj("version appliance_id catalog_id started ready volumes[] queues ingest catalog "+
		// proxy, sync, cards, disk and analysis appear when those stages run: all do here.
		"proxy sync cards disk analysis", map[string]*ctShape{
		"analysis": ctObj("enabled slots queued running[] done enrichers[]", map[string]*ctShape{
			"running":   ctObj("asset_id started step progress", nil),
			"enrichers": ctObj("name ready failed last_error? last_error_asset? last_error_at?", nil),
		}),
		"volumes": ctObj("name path online reason? watch_mode watches files bytes last_scan last_scan_seconds scanning stalled_seconds?", nil),
		"queues":  ctObj("settling hashing", nil),
		"ingest":  ctObj("files_seen files_hashed bytes_hashed", nil),
		"catalog": ctObj("last_seq lsm_bytes vlog_bytes", nil),
		"proxy": ctObj("enabled detected capabilities lanes[] queued running[] done done_by_lane? error?", map[string]*ctShape{
			"capabilities": ctObj("gpu_mode cuda nvdec? scale_cuda nvenc vaapi? qsv libx264 errors?", nil),
			"lanes":        ctObj("name slots queued running", nil),
			"running":      ctObj("asset_id lane encoder started out_time_us duration_us frame speed", nil),
		}),
		"sync": ctObj("s3 webhook", map[string]*ctShape{
			"s3": ctObj("endpoint? bucket prefix backlog_assets backlog_objects backlog_bytes in_flight[] last_success? last_error? "+
				"last_error_at? retry_at? rate_limit rate_limit_bytes concurrency assets_synced bytes_uploaded objects_skipped attempt_failures",
				map[string]*ctShape{"in_flight": ctObj("key bytes total rate", nil)}),
			"webhook": ctObj("url delivered_seq last_success? last_error? last_error_at? parked? batches_sent events_sent",
				map[string]*ctShape{"parked": ctObj("first_seq last_seq code error since unpark", nil)}),
		}),
		"cards": ctObj("cards[] fixity", map[string]*ctShape{
			"cards": ctObj("mount? label? key? layout? state message? dest? dest_b64? files_done files_total bytes_done bytes_total "+
				"file? file_b64? failed_path? failed_path_b64? reason? skipped[]? manifests[]? destinations[]? safe_to_format?",
				map[string]*ctShape{"skipped": ctSkippedShape, "manifests": ctManifestShape, "destinations": ctDestShape}),
			"fixity": ctObj("running trigger? files_done? files_total? bytes_done? bytes_total? last_start? last_end? last_files last_corrupt last_missing next_run?", nil),
		}),
		"disk": ctObj("min_free low paused[] paths[]", map[string]*ctShape{
			"paths": ctObj("name path free_bytes total_bytes min_free_bytes low error?", nil),
		}),
	})

	ctWaveformShape = ctObj("version sample_rate samples_per_peak channels bits length peaks[]", nil)
	ctSkippedShape  = ctObj("path reason", nil)
	ctManifestShape = ctObj("file format ok checked? matched? mismatches[]? error?", map[string]*ctShape{"mismatches": ctSkippedShape})
	// destinations[] of a card (status, record, card.offloaded, card.failed).
	ctDestShape = ctObj("volume path state bytes_done bytes_verified bytes_total rate_bps eta_seconds? generation? hashes[]? failed_path? error?", nil)
	ctClipProxy = ctObj("status frames? bytes? error? at", nil)
	ctClipShape = ctObj("id name layout card_label card_key volume folder offload_at parts[] cards[]? spans[]? incomplete? meta proxy?", map[string]*ctShape{
		"parts": ctObj("role path path_b64? asset_id card? offset_in_shot? span?", nil),
		"cards": ctObj("key label folder offload_at", nil),
		"spans": ctObj("clip global_clip_id? card offset_in_shot? duration? next_clip_id? span?", nil),
		"meta":  ctMap(nil), // the parsed camera sidecar: its keys are listed as examples ("…")
		"proxy": ctClipProxy,
	})
	ctClipsShape = ctObj("clips[] next?", map[string]*ctShape{"clips": ctClipShape})
	ctCardsShape = ctObj("cards[]", map[string]*ctShape{"cards": ctObj("id key identity label layout volume folder folder_b64? status files bytes "+
		"generation? failed_path? failed_path_b64? reason? started finished clips[]? skipped[]? manifests[]? destinations[] safe_to_format safe_at?", map[string]*ctShape{
		"identity":     ctObj("uuid? label? device? fstype? layout fingerprint", nil),
		"skipped":      ctSkippedShape,
		"manifests":    ctManifestShape,
		"destinations": ctDestShape,
	})})
	// GET /v1/cards/{id}/report.json (issue 11 item 5).
	ctCamShape    = ctObj("make? model? serial?", nil)
	ctReportShape = ctObj("version id key label label_b64? uuid? fstype? layout camera status safe_to_format safe_at? started finished "+
		"seconds files bytes mb_per_s hash_formats[] destinations[] clips[] file_list[] skipped[]? manifests[]? warnings[]", map[string]*ctShape{
		"camera":       ctCamShape,
		"destinations": ctObj("volume path path_b64? state verified bytes_verified generation? hashes[]? error?", nil),
		"clips": ctObj("id name name_b64? duration? frame_rate? fps? frames? tc_in? tc_out? drop_frame? codec? width? height? camera? parts[] poster proxy?",
			map[string]*ctShape{"camera": ctCamShape, "parts": ctObj("role path path_b64? asset_id", nil)}),
		"file_list": ctObj("path path_b64? size blake3 xxh128 mhl?", map[string]*ctShape{"mhl": ctMap(nil)}),
		"skipped":   ctSkippedShape,
		"manifests": ctManifestShape,
	})
	// detail of the card events (a JSON object in a string), by type.
	ctCardDetailShapes = map[string]*ctShape{
		"card.offloaded": ctObj("label layout key files bytes copied resumed clips generation skipped[]? manifests[]? destinations[] safe_to_format",
			map[string]*ctShape{"skipped": ctSkippedShape, "manifests": ctManifestShape, "destinations": ctDestShape}),
		"card.failed": ctObj("label layout file reason files_done files partial? skipped[]? destinations[]?",
			map[string]*ctShape{"skipped": ctSkippedShape, "destinations": ctDestShape}),
		"card.safe": ctObj("label key files bytes destinations[] ejected eject_error?",
			map[string]*ctShape{"destinations": ctObj("volume path generation", nil)}),
	}
	ctHealthShape   = ctObj("status", nil)
	ctSessionShape  = ctObj("auth authenticated csrf? expires?", nil)
	ctSequenceShape = ctObj("id volume folder pattern base ext padding format codec? first_frame last_frame frames missing[] missing_frames bytes "+
		"first_path first_asset width? height? pix_fmt? bit_depth? color_space? color_transfer? color_primaries? frame_rate frame_rate_source "+
		"timecode? signature changed proxy probe_error?", map[string]*ctShape{
		"missing": ctObj("first last", nil),
		"proxy":   ctObj("status frames? width? height? bytes? outputs[]? signature? error? at?", nil),
	})
	ctSequencesShape = ctObj("sequences[] next?", map[string]*ctShape{"sequences": ctSequenceShape})
	// Lines of POST /v1/verify, by type (zero counts are omitted).
	ctVerifyShapes = map[string]*ctShape{
		"start":    ctObj("type volume files? bytes?", nil),
		"progress": ctObj("type volume files_done? bytes_done? files? bytes? path? path_b64?", nil),
		"done":     ctObj("type volume files? bytes? files_done? bytes_done? ok? corrupt? missing? changed? errors?", nil),
	}
)

// ctDoc reads docs/api.md.
func ctDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ctDocEndpoints lists the endpoints docs/api.md documents, as
// "GET /path" or "POST /path" (HEAD goes with GET): every `GET /…`,
// `GET|HEAD /…` or `POST /…` it names, and the rows of its endpoint
// tables (`| GET, HEAD | /…`). Query strings are dropped.
func ctDocEndpoints(doc string) []string {
	set := map[string]bool{}
	add := func(method, path string) {
		if method == "HEAD" {
			method = "GET"
		}
		set[method+" "+path] = true
	}
	for _, m := range regexp.MustCompile(`(GET|POST|HEAD|DELETE)(?:\|HEAD)? (/[A-Za-z0-9_{}./-]*)`).FindAllStringSubmatch(doc, -1) {
		add(m[1], m[2])
	}
	// A heading names more paths after the first ("### `GET /a` and `/b`"):
	// they go with its first method.
	for _, h := range regexp.MustCompile("(?m)^#+ .*$").FindAllString(doc, -1) {
		first := regexp.MustCompile(`(GET|POST|HEAD|DELETE)`).FindString(h)
		if first == "" {
			continue
		}
		for _, m := range regexp.MustCompile("`(/[A-Za-z0-9_{}./-]*)`").FindAllStringSubmatch(h, -1) {
			add(first, m[1])
		}
	}
	for _, m := range regexp.MustCompile("(?m)^\\| *(GET|POST)[A-Z, ]* *\\| *`(/[^`?]+)`").FindAllStringSubmatch(doc, -1) {
		add(m[1], m[2])
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ctDocEventTypes parses the "Event types" table: type -> required and
// optional fields (before and after the first ";" of the fields column),
// using the field names of the "Event fields" table.
func ctDocEventTypes(t *testing.T, doc string) map[string]*ctShape {
	t.Helper()
	sec := func(head string) string {
		i := strings.Index(doc, head)
		if i < 0 {
			t.Fatalf("docs/api.md has no %q", head)
		}
		rest := doc[i+len(head):]
		if j := strings.Index(rest, "\n#"); j >= 0 {
			rest = rest[:j]
		}
		return rest
	}
	names := map[string]bool{}
	for _, row := range regexp.MustCompile("(?m)^\\| (`[a-z_0-9]+`(?:, `[a-z_0-9]+`)*) \\|").FindAllStringSubmatch(sec("#### Event fields"), -1) {
		for _, n := range strings.Split(row[1], ", ") {
			names[strings.Trim(n, "`")] = true
		}
	}
	for _, n := range []string{"seq", "type", "time", "asset_id", "volume", "path", "detail"} {
		if !names[n] {
			t.Fatalf("Event fields table lacks %q (parsed %v)", n, names)
		}
	}
	word := regexp.MustCompile(`[a-z_0-9]+`)
	types := map[string]*ctShape{}
	for _, row := range regexp.MustCompile("(?m)^\\| `([a-z]+\\.[a-z_]+)` \\| ([^|]*) \\|").FindAllStringSubmatch(sec("#### Event types"), -1) {
		req, opt, _ := strings.Cut(row[2], ";")
		s := &ctShape{req: []string{"seq", "type", "time"}}
		for i, part := range []string{req, opt} {
			for _, w := range word.FindAllString(part, -1) {
				if !names[w] || slices.Contains(s.req, w) || slices.Contains(s.opt, w) {
					continue
				}
				if i == 0 {
					s.req = append(s.req, w)
				} else {
					s.opt = append(s.opt, w)
				}
			}
		}
		if slices.Contains(s.req, "path") || slices.Contains(s.opt, "path") {
			s.opt = append(s.opt, "path_b64") // when the name is not UTF-8
		}
		types[row[1]] = s
	}
	if len(types) < 10 {
		t.Fatalf("parsed only %d event types from docs/api.md", len(types))
	}
	return types
}

// ctDocMetrics lists the metric names of the /metrics table.
func ctDocMetrics(doc string) map[string]bool {
	out := map[string]bool{}
	for _, row := range regexp.MustCompile("(?m)^\\| (`ingestd_[a-z_0-9]+`(?:, `ingestd_[a-z_0-9]+`)*) \\|").FindAllStringSubmatch(doc, -1) {
		for _, n := range strings.Split(row[1], ", ") {
			out[strings.Trim(n, "`")] = true
		}
	}
	return out
}

// ctClient never follows a redirect: the API must not answer with one.
var ctClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// ctHook is the hub's webhook receiver (the one fake): it keeps each
// request as sent.
type ctHook struct {
	mu   sync.Mutex
	reqs []ctHookReq
}

type ctHookReq struct {
	method string
	hdr    http.Header
	body   []byte
}

func (h *ctHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.reqs = append(h.reqs, ctHookReq{r.Method, r.Header.Clone(), b})
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// ctResp is one answer, body read.
type ctResp struct {
	*http.Response
	body []byte
}

func ctDo(t *testing.T, e *env, method, path string, hdr map[string]string) ctResp {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+e.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := ctClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return ctResp{resp, b}
}

// ctJSON decodes a JSON body into a generic value.
func ctJSON(t *testing.T, what string, b []byte) any {
	t.Helper()
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%s: body is not JSON: %v: %q", what, err, ctShort(string(b)))
	}
	return v
}

// ctWantError checks a documented error answer: status, JSON body
// {"error", "param"?}, the param.
func ctWantError(t *testing.T, r ctResp, what string, code int, param string) {
	t.Helper()
	if r.StatusCode != code {
		t.Errorf("%s: status %d, want %d (%s)", what, r.StatusCode, code, ctShort(string(r.body)))
		if r.StatusCode < 400 {
			return
		}
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json (the JSON error body)", what, ct)
		return
	}
	v := ctJSON(t, what, r.body)
	ctCheck(t, what, v, ctErrorShape)
	m, _ := v.(map[string]any)
	if e, _ := m["error"].(string); e == "" {
		t.Errorf("%s: empty error text", what)
	}
	if p, _ := m["param"].(string); p != param {
		t.Errorf("%s: param %q, want %q", what, p, param)
	}
}

// ctFFmpeg runs ffmpeg into dir/name and returns the path.
func ctFFmpeg(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	ff := testenv.Need(t, "ffmpeg")
	out := filepath.Join(dir, name)
	all := append([]string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}, args...)
	if b, err := exec.Command(ff, append(all, out)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", name, err, b)
	}
	return out
}

// ctAsset finds the asset id last cataloged at path (feed).
func ctAsset(evs []storage.Event, path string) string {
	id := ""
	for _, ev := range evs {
		if ev.Path == path && ev.Volume == "footage" && (ev.Type == storage.EvLocationAdded || ev.Type == storage.EvLocationChanged) {
			id = ev.AssetID
		}
	}
	return id
}

func TestContractAPI(t *testing.T) {
	doc := ctDoc(t)
	testenv.Need(t, "ffprobe")
	const bucket = "contract-hub"
	m := miniotest.Start(t)
	m.CreateBucket(t, bucket)
	rx := &ctHook{}
	hub := httptest.NewServer(rx)
	defer hub.Close()
	dir := t.TempDir()
	hubToken := filepath.Join(dir, "hub-token")
	if err := os.WriteFile(hubToken, []byte("hub-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	spare := filepath.Join(dir, "spare")
	if err := os.Mkdir(spare, 0o755); err != nil {
		t.Fatal(err)
	}
	// A camera card with a clip in two chapters (real media), when this
	// machine can mount one (root, mkfs.ext4); on CI it must.
	cardRoot := filepath.Join(dir, "media")
	if err := os.Mkdir(cardRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	var gopro *card
	if ctCanMountCards(t) {
		ffmpeg := testenv.Need(t, "ffmpeg")
		gopro = newCardTree(t, cardRoot, "GOPRO5", "32M", func(d string) {
			if err := cardgen.GoProChapters(context.Background(), ffmpeg, d, 5, 2, 25); err != nil {
				t.Fatal(err)
			}
		})
	} else {
		t.Log("not root or no mkfs.ext4: the card documents are checked empty only")
	}
	// An enricher (docs/api.md, Enrichers) that makes a transcript.vtt.
	words := filepath.Join(t.TempDir(), "words")
	if err := os.WriteFile(words, []byte("#!/bin/sh\nreq=$(cat); dir=$(printf '%s' \"$req\" | sed -n 's/.*\"out_dir\":\"\\([^\"]*\\)\".*/\\1/p')\n"+
		"printf 'WEBVTT\\n\\n00:00:00.000 --> 00:00:00.500\\nhello\\n' > \"$dir/transcript.vtt\"\n"+
		"printf '{\"data\":{\"words\":1},\"files\":[\"transcript.vtt\"]}'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// extra continues the volumes list, then adds top-level keys.
	e := newEnv(t, "", "  - name: spare\n    path: "+spare+"\n"+
		"analysis:\n  enrichers:\n    - {name: words, command: ["+words+"]}\n"+
		"cards:\n  mount_roots: ["+cardRoot+"]\n  offload_to: footage\n  path: \"{label}\"\n  poll: 200ms\n"+
		"appliance_id: contract\nsequences:\n  settle: 1s\nproxy:\n  gpu: off\n  filmstrip_tiles: 4\nhub:\n"+
		"  s3:\n    endpoint: "+m.Endpoint+"\n    bucket: "+bucket+"\n    prefix: edge\n    path_style: true\n    retry_min: 200ms\n    retry_max: 2s\n"+
		"  webhook:\n    url: "+hub.URL+"/ingestd/events\n    token_file: "+hubToken+"\n    retry_min: 200ms\n    retry_max: 2s\n")
	e.extraEnv = miniotest.Env()
	e.start()
	defer e.stop()

	// Media and the changes whose events the feed must carry.
	tmp := t.TempDir()
	clip := makeClip(t, tmp, "A001_C001.mov", 1, 440, true)
	wav := ctFFmpeg(t, tmp, "tone.wav", "-f", "lavfi", "-i", "sine=f=660:sample_rate=48000:d=1", "-c:a", "pcm_s16le")
	png := ctFFmpeg(t, tmp, "still.png", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=1:d=1", "-frames:v", "1")
	e.dropFile(clip, "day 1/A001_C001.mov")
	e.dropFile(wav, "audio/tone.wav")
	e.dropFile(png, "stills/still.png")
	e.writeFile("notes.txt", []byte("contract notes\n"))
	e.writeFile("gone.txt", []byte("soon deleted\n"))
	e.writeFile("rewrite.txt", []byte("first content\n"))
	latin1 := "caf\xe9.txt"
	e.writeFile(latin1, []byte("latin-1 name\n"))
	seqDir := filepath.Join(tmp, "seq")
	if err := os.Mkdir(seqDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctFFmpeg(t, seqDir, "plate.%04d.png", "-f", "lavfi", "-i", "testsrc2=s=160x90:r=25", "-frames:v", "3", "-start_number", "1001")
	if err := os.Rename(seqDir, filepath.Join(e.watch, "plates")); err != nil {
		t.Fatal(err)
	}
	if gopro != nil {
		gopro.Insert()
	}
	evs := e.waitFeed(mediaTimeout, "files cataloged", hasPaths(storage.EvLocationAdded,
		"day 1/A001_C001.mov", "audio/tone.wav", "stills/still.png", "notes.txt", "gone.txt", "rewrite.txt", latin1))
	if err := os.Remove(filepath.Join(e.watch, "gone.txt")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // another mtime second
	e.writeFile("rewrite.txt", []byte("second content, longer\n"))
	clipID, wavID, pngID := ctAsset(evs, "day 1/A001_C001.mov"), ctAsset(evs, "audio/tone.wav"), ctAsset(evs, "stills/still.png")
	e.waitFeed(mediaTimeout, "proxies ready, clip synced, removal and rewrite", func(evs []storage.Event) bool {
		return hasAssetEvent(storage.EvProxyReady, &clipID, &wavID, &pngID)(evs) &&
			syncedAfter(evs, clipID, storage.EvProxyReady) &&
			hasPaths(storage.EvLocationRemoved, "gone.txt")(evs) && hasPaths(storage.EvLocationChanged, "rewrite.txt")(evs) &&
			(gopro == nil || slices.ContainsFunc(evs, func(ev storage.Event) bool { return ev.Type == "clip.proxy_ready" })) &&
			slices.ContainsFunc(evs, func(ev storage.Event) bool { return ev.Type == "sequence.proxy_ready" })
	})
	// The spare volume goes away: offline, nothing removed.
	if err := os.Rename(spare, spare+".gone"); err != nil {
		t.Fatal(err)
	}
	evs = e.waitFeed(time.Minute, "volume.offline", func(evs []storage.Event) bool {
		return slices.ContainsFunc(evs, func(ev storage.Event) bool { return ev.Type == storage.EvVolumeOffline && ev.Volume == "spare" })
	})
	// Let the asset documents and the webhook settle: every asset synced
	// after its last change, and the hub holds the whole feed.
	last := evs[len(evs)-1].Seq
	deadline := time.Now().Add(mediaTimeout)
	for {
		var st struct {
			Sync struct {
				S3 struct {
					BacklogAssets int `json:"backlog_assets"`
				} `json:"s3"`
				Webhook struct {
					Delivered uint64 `json:"delivered_seq"`
				} `json:"webhook"`
			} `json:"sync"`
		}
		r := ctDo(t, e, "GET", "/v1/status", nil)
		if err := json.Unmarshal(r.body, &st); err != nil {
			t.Fatal(err)
		}
		if st.Sync.S3.BacklogAssets == 0 && st.Sync.Webhook.Delivered >= last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sync did not settle: %s", r.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	evs = e.feedAll()

	covered := map[string]bool{}
	cover := func(key string) { covered[key] = true }
	anyID := strings.Repeat("0", 64)
	anyClip := strings.Repeat("0", 32)

	t.Run("healthz", func(t *testing.T) {
		cover("GET /healthz")
		r := ctDo(t, e, "GET", "/healthz", nil)
		ctWantJSON(t, r, "GET /healthz", ctHealthShape)
	})

	t.Run("status", func(t *testing.T) {
		cover("GET /v1/status")
		r := ctDo(t, e, "GET", "/v1/status", nil)
		v := ctWantJSON(t, r, "GET /v1/status", ctStatusShape)
		st, _ := v.(map[string]any)
		if id, _ := st["catalog_id"].(string); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
			t.Errorf("catalog_id %q: want 32 hex digits", id)
		}
		vols, _ := st["volumes"].([]any)
		modes := map[string]string{}
		for _, x := range vols {
			vm, _ := x.(map[string]any)
			name, _ := vm["name"].(string)
			mode, _ := vm["watch_mode"].(string)
			modes[name] = mode
			online, _ := vm["online"].(bool)
			reason, _ := vm["reason"].(string)
			switch {
			case online && mode != "inotify" && mode != "walk":
				t.Errorf("volume %s online: watch_mode %q, want inotify or walk", name, mode)
			case !online && (mode != "none" || reason == ""):
				t.Errorf("volume %s offline: watch_mode %q reason %q, want none and a reason", name, mode, reason)
			}
		}
		if modes["footage"] != "inotify" || modes["spare"] != "none" {
			t.Errorf("watch modes %v: want footage inotify, spare none (offline)", modes)
		}
	})

	t.Run("feed", func(t *testing.T) {
		cover("GET /v1/feed")
		types := ctDocEventTypes(t, doc)
		r := ctDo(t, e, "GET", "/v1/feed?after=0&limit=1000", nil)
		v := ctWantJSON(t, r, "GET /v1/feed", ctObj("events[] next", nil))
		fm, _ := v.(map[string]any)
		list, _ := fm["events"].([]any)
		seenTypes := map[string]bool{}
		for i, x := range list {
			ev, _ := x.(map[string]any)
			typ, _ := ev["type"].(string)
			s := types[typ]
			if s == nil {
				t.Errorf("event %d: type %q is not in docs/api.md's Event types table (add a row there)", i, typ)
				continue
			}
			seenTypes[typ] = true
			ctCheck(t, fmt.Sprintf("event %d (%s)", i, typ), ev, s)
		}
		for _, typ := range []string{"appliance.started", "asset.cataloged", "location.added", "asset.updated", "location.changed",
			"location.removed", "proxy.ready", "asset.synced", "volume.offline"} {
			if !seenTypes[typ] {
				t.Errorf("the feed has no %s event to check", typ)
			}
		}
		// Documented details of location events.
		for _, ev := range evs {
			switch {
			case ev.Type == storage.EvLocationRemoved && ev.Path == "gone.txt" && ev.Detail != "deleted or moved away" && ev.Detail != "missing at rescan":
				t.Errorf("location.removed detail %q: want one documented in docs/api.md", ev.Detail)
			case ev.Type == storage.EvLocationChanged && ev.Path == "rewrite.txt" && !strings.HasPrefix(ev.Detail, "content replaced ") && ev.Detail != "metadata":
				t.Errorf("location.changed detail %q: want one documented in docs/api.md", ev.Detail)
			case ev.Path == latin1 && ev.Type == storage.EvLocationAdded:
				raw, _ := json.Marshal(ev)
				if !bytes.Contains(raw, []byte(`"path_b64":"`+base64.StdEncoding.EncodeToString([]byte(latin1))+`"`)) {
					t.Errorf("event of a non-UTF-8 name without its path_b64: %s", raw)
				}
			}
		}
		// Clamped limit; long-poll that runs out: next = after, events [].
		ctWantJSON(t, ctDo(t, e, "GET", "/v1/feed?limit=5000", nil), "GET /v1/feed?limit=5000", ctObj("events next", nil))
		// Any size above 1000 is clamped (a hub passing a big constant
		// got 400 beyond int64), and a wait in seconds beyond 60 s too;
		// an unknown parameter is ignored.
		for _, q := range []string{"limit=100000000000000000000", "limit=1000&wait=100000000000000000000&after=0", "limit=1&hub_cursor=x"} {
			ctWantJSON(t, ctDo(t, e, "GET", "/v1/feed?"+q, nil), "GET /v1/feed?"+q, ctObj("events next", nil))
		}
		after := fmt.Sprint(evs[len(evs)-1].Seq + 1000)
		r = ctDo(t, e, "GET", "/v1/feed?after="+after+"&wait=1", nil)
		if got := strings.TrimSpace(string(r.body)); got != `{"events":[],"next":`+after+`}` {
			t.Errorf("feed past the end: %s", got)
		}
	})

	var assets []any
	t.Run("assets", func(t *testing.T) {
		cover("GET /v1/assets")
		r := ctDo(t, e, "GET", "/v1/assets?limit=5000", nil) // clamped, not rejected
		v := ctWantJSON(t, r, "GET /v1/assets", ctAssetsShape)
		am, _ := v.(map[string]any)
		assets, _ = am["assets"].([]any)
		if len(assets) < 7 {
			t.Errorf("%d assets listed, want at least 7", len(assets))
		}
		if next, _ := am["next"].(string); next != "" {
			t.Errorf("next %q on a complete listing, want \"\"", next)
		}
		r = ctDo(t, e, "GET", "/v1/assets?limit=1", nil)
		am, _ = ctWantJSON(t, r, "GET /v1/assets?limit=1", ctAssetsShape).(map[string]any)
		if next, _ := am["next"].(string); !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(next) {
			t.Errorf("next %q on a full page, want the last id", next)
		}
	})

	t.Run("asset", func(t *testing.T) {
		cover("GET /v1/assets/{id}")
		for _, id := range []string{clipID, wavID, pngID} {
			r := ctDo(t, e, "GET", "/v1/assets/"+id, nil)
			v := ctWantJSON(t, r, "GET /v1/assets/"+id, ctAssetShape)
			a, _ := v.(map[string]any)
			media, _ := a["media"].(map[string]any)
			streams, _ := media["streams"].([]any)
			if len(streams) == 0 {
				t.Errorf("asset %s: no media.streams", id)
			}
			for _, s := range streams {
				sm, _ := s.(map[string]any)
				if tag, ok := sm["codec_tag"].(string); ok && !regexp.MustCompile(`^[ -~]{4}$`).MatchString(tag) || strings.Contains(fmt.Sprint(sm["codec_tag"]), "[") {
					t.Errorf("asset %s stream codec_tag %q: documented as a four-character code, absent otherwise", id, tag)
				}
			}
		}
		// sync.at: nanoseconds like every other time (not truncated).
		r := ctDo(t, e, "GET", "/v1/assets/"+clipID, nil)
		var a storage.AssetDoc
		if err := json.Unmarshal(r.body, &a); err != nil || a.Sync == nil || a.Sync.Status != "synced" {
			t.Fatalf("clip asset: %v %s", err, r.body)
		}
		if a.Sync.At.Nanosecond()%int(time.Millisecond) == 0 && a.FirstSeen.Nanosecond()%int(time.Millisecond) != 0 {
			t.Errorf("sync.at %s has millisecond precision, first_seen %s nanoseconds", a.Sync.At.Format(time.RFC3339Nano), a.FirstSeen.Format(time.RFC3339Nano))
		}
		// Locations: present, removed (with the time it left), replaced
		// (removed with replaced_by), a non-UTF-8 name with path_b64.
		seen := map[string]map[string]any{}
		for _, x := range assets {
			am, _ := x.(map[string]any)
			locs, _ := am["locations"].([]any)
			for _, l := range locs {
				lm, _ := l.(map[string]any)
				p, _ := lm["path"].(string)
				seen[p+" "+fmt.Sprint(lm["state"])] = lm
				if lm["state"] != "present" && lm["state"] != "removed" {
					t.Errorf("location %s: state %v", p, lm["state"])
				}
				if _, ok := lm["removed"]; ok != (lm["state"] == "removed") {
					t.Errorf("location %s (%v): removed %v, want the time exactly when state is removed", p, lm["state"], lm["removed"])
				}
			}
		}
		if l := seen["gone.txt removed"]; l == nil || l["replaced_by"] != nil {
			t.Errorf("deleted gone.txt: location %v, want removed without replaced_by", l)
		}
		if l := seen["rewrite.txt removed"]; l == nil || l["replaced_by"] == nil || seen["rewrite.txt present"] == nil {
			t.Errorf("rewritten rewrite.txt: old location %v, want removed with replaced_by, and a present one", l)
		}
		if l := seen["caf\ufffd.txt present"]; l == nil || l["path_b64"] != base64.StdEncoding.EncodeToString([]byte(latin1)) {
			t.Errorf("non-UTF-8 name: location %v, want path_b64 of its bytes", l)
		}
	})

	t.Run("asset-events", func(t *testing.T) {
		cover("GET /v1/assets/{id}/events")
		seqOf := func(x any) uint64 { // ctWantJSON decodes numbers as json.Number
			n, _ := x.(json.Number)
			v, _ := strconv.ParseUint(string(n), 10, 64)
			return v
		}
		types := ctDocEventTypes(t, doc)
		r := ctDo(t, e, "GET", "/v1/assets/"+clipID+"/events?limit=1000", nil)
		v := ctWantJSON(t, r, "GET /v1/assets/{id}/events", ctObj("events[] next", nil))
		m, _ := v.(map[string]any)
		list, _ := m["events"].([]any)
		var got []uint64
		for i, x := range list {
			ev, _ := x.(map[string]any)
			typ, _ := ev["type"].(string)
			if s := types[typ]; s != nil {
				ctCheck(t, fmt.Sprintf("asset event %d (%s)", i, typ), ev, s)
			} else {
				t.Errorf("asset event %d: type %q is not in docs/api.md's Event types table", i, typ)
			}
			got = append(got, seqOf(ev["seq"]))
		}
		if len(got) < 3 {
			t.Fatalf("the clip has %d events, want at least 3 (cataloged, added, proxy, synced)", len(got))
		}
		var want []uint64
		for _, ev := range e.feedAll() {
			if ev.AssetID == clipID && ev.Seq <= got[len(got)-1] {
				want = append(want, ev.Seq)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("the clip's events %v, want the feed's events of it %v", got, want)
		}
		if seqOf(m["next"]) != got[len(got)-1] {
			t.Errorf("next %v, want the last seq %d", m["next"], got[len(got)-1])
		}
		r = ctDo(t, e, "GET", fmt.Sprintf("/v1/assets/%s/events?order=desc&before=%d&limit=1", clipID, got[len(got)-1]), nil)
		m, _ = ctWantJSON(t, r, "GET /v1/assets/{id}/events?order=desc", ctObj("events[] next", nil)).(map[string]any)
		if list, _ := m["events"].([]any); len(list) != 1 || seqOf(list[0].(map[string]any)["seq"]) != got[len(got)-2] {
			t.Errorf("newest first before %d: %v, want seq %d", got[len(got)-1], m["events"], got[len(got)-2])
		}
		ctWantError(t, ctDo(t, e, "GET", "/v1/assets/"+anyID+"/events", nil), "GET unknown asset's events", 404, "id")
		ctWantError(t, ctDo(t, e, "GET", "/v1/assets/"+clipID+"/events?order=desc&after=1", nil), "GET asset events with the other order's cursor", 400, "after")
	})

	t.Run("media", func(t *testing.T) {
		type out struct{ path, ctype string }
		outs := []out{
			{"/v1/assets/" + clipID + "/proxy", "video/mp4"},
			{"/v1/assets/" + wavID + "/proxy", "audio/mp4"},
			{"/v1/assets/" + pngID + "/proxy", "image/jpeg"},
			{"/v1/assets/" + clipID + "/poster", "image/jpeg"},
			{"/v1/assets/" + clipID + "/filmstrip", "image/jpeg"},
			{"/v1/assets/" + clipID + "/waveform", "application/json"},
		}
		for _, o := range outs {
			cover("GET /v1/assets/{id}/" + filepath.Base(o.path))
			t.Run(filepath.Base(o.path)+"-"+o.ctype, func(t *testing.T) {
				ctWantContent(t, e, o.path, o.ctype)
			})
		}
		wf := ctDo(t, e, "GET", "/v1/assets/"+clipID+"/waveform", nil)
		ctCheck(t, "waveform.json", ctJSON(t, "waveform", wf.body), ctWaveformShape)
		for _, w := range []string{"proxy", "poster", "filmstrip", "waveform"} {
			ctWantError(t, ctDo(t, e, "GET", "/v1/assets/"+anyID+"/"+w, nil), "GET unknown asset's "+w, 404, "")
			ctWantError(t, ctDo(t, e, "GET", "/v1/assets/XYZ/"+w, nil), "GET malformed asset id's "+w, 400, "id")
		}
		// Edge analysis of the clip's proxy (once analysis.ready).
		e.waitFeed(mediaTimeout, "analysis.ready of the clip", func(evs []storage.Event) bool {
			return slices.ContainsFunc(evs, func(ev storage.Event) bool { return ev.Type == storage.EvAnalysisReady && ev.AssetID == clipID })
		})
		for _, o := range []struct{ name, ctype string }{{"analysis.json", "application/json"}, {"shots.jpg", "image/jpeg"}} {
			cover("GET /v1/assets/{id}/" + o.name)
			t.Run(o.name, func(t *testing.T) { ctWantContent(t, e, "/v1/assets/"+clipID+"/"+o.name, o.ctype) })
			ctWantError(t, ctDo(t, e, "GET", "/v1/assets/"+anyID+"/"+o.name, nil), "GET unknown asset's "+o.name, 404, "")
		}
		anBody := ctDo(t, e, "GET", "/v1/assets/"+clipID+"/analysis.json", nil).body
		ctCheck(t, "analysis.json", ctJSON(t, "analysis.json", anBody), ctAnalysisShape)
		// Each shot's thumbnail (analysis.json's shots[].thumbnail).
		cover("GET /v1/assets/{id}/shots/{NNNNN}.jpg")
		var an struct {
			Shots []struct {
				Thumbnail string `json:"thumbnail"`
			} `json:"shots"`
		}
		if err := json.Unmarshal(anBody, &an); err != nil || len(an.Shots) == 0 || an.Shots[0].Thumbnail == "" {
			t.Fatalf("analysis.json shots: %v %s", err, anBody)
		}
		t.Run("shot thumbnail", func(t *testing.T) {
			ctWantContent(t, e, "/v1/assets/"+clipID+"/"+an.Shots[0].Thumbnail, "image/jpeg")
		})
		ctWantError(t, ctDo(t, e, "GET", "/v1/assets/"+clipID+"/shots/99999.jpg", nil), "GET a shot thumbnail that is not there", 404, "")
		// The enricher's outputs.
		cover("GET /v1/assets/{id}/transcript.vtt")
		cover("GET /v1/assets/{id}/enrichment/{name}.json")
		t.Run("transcript.vtt", func(t *testing.T) {
			ctWantContent(t, e, "/v1/assets/"+clipID+"/transcript.vtt", "text/vtt; charset=utf-8")
		})
		t.Run("enrichment.json", func(t *testing.T) {
			ctWantContent(t, e, "/v1/assets/"+clipID+"/enrichment/words.json", "application/json")
		})
		ctCheck(t, "enrichment/words.json", ctJSON(t, "enrichment/words.json", ctDo(t, e, "GET", "/v1/assets/"+clipID+"/enrichment/words.json", nil).body), ctEnrichmentShape)
		ctWantError(t, ctDo(t, e, "GET", "/v1/assets/"+clipID+"/enrichment/nope.json", nil), "GET an enricher's result that is not there", 404, "")
		ctWantError(t, ctDo(t, e, "GET", "/v1/assets/"+anyID+"/transcript.vtt", nil), "GET unknown asset's transcript.vtt", 404, "")
	})

	t.Run("clips", func(t *testing.T) {
		cover("GET /v1/clips")
		cover("GET /v1/clips/{id}")
		cover("GET /v1/clips/{id}/proxy")
		cover("GET /v1/cards")
		cl, _ := ctWantJSON(t, ctDo(t, e, "GET", "/v1/clips", nil), "GET /v1/clips", ctClipsShape).(map[string]any)
		clips, _ := cl["clips"].([]any)
		cards, _ := ctWantJSON(t, ctDo(t, e, "GET", "/v1/cards", nil), "GET /v1/cards", ctCardsShape).(map[string]any)
		if recs, _ := cards["cards"].([]any); gopro != nil && len(recs) != 1 {
			t.Errorf("GET /v1/cards: %d records, want the card offloaded", len(recs))
		}
		whole := ""
		for _, ev := range evs {
			if ev.Type == "clip.proxy_ready" {
				whole = ev.Path
				ctCheck(t, "clip.proxy_ready detail", ctJSON(t, "clip.proxy_ready detail", []byte(ev.Detail)), ctClipProxy)
			}
			if s := ctCardDetailShapes[ev.Type]; s != nil {
				ctCheck(t, ev.Type+" detail", ctJSON(t, ev.Type+" detail", []byte(ev.Detail)), s)
			}
		}
		if gopro != nil {
			if len(clips) == 0 || whole == "" {
				t.Fatalf("card offloaded but %d clips, clip.proxy_ready for %q", len(clips), whole)
			}
			one, _ := ctWantJSON(t, ctDo(t, e, "GET", "/v1/clips/"+whole, nil), "GET /v1/clips/{id}", ctClipShape).(map[string]any)
			if _, ok := one["meta"]; !ok || one["meta"] != nil {
				t.Errorf("GoPro clip (no sidecar): meta %v, want null", one["meta"])
			}
			t.Run("proxy", func(t *testing.T) { ctWantContent(t, e, "/v1/clips/"+whole+"/proxy", "video/mp4") })
		}
		ctWantJSON(t, ctDo(t, e, "GET", "/v1/clips?limit=5000", nil), "GET /v1/clips?limit=5000 (clamped)", ctClipsShape)
		ctWantError(t, ctDo(t, e, "GET", "/v1/clips/"+anyClip, nil), "GET unknown clip", 404, "id")
		ctWantError(t, ctDo(t, e, "GET", "/v1/clips/"+anyClip+"/proxy", nil), "GET unknown clip proxy", 404, "id")
		ctWantError(t, ctDo(t, e, "GET", "/v1/clips/not-a-clip", nil), "GET malformed clip id", 400, "id")
		// The offload report (issue 11 item 5).
		cover("GET /v1/cards/{id}/report")
		cover("GET /v1/cards/{id}/report.json")
		if recs, _ := cards["cards"].([]any); gopro != nil && len(recs) == 1 {
			id, _ := recs[0].(map[string]any)["id"].(string)
			ctWantJSON(t, ctDo(t, e, "GET", "/v1/cards/"+id+"/report.json", nil), "GET /v1/cards/{id}/report.json", ctReportShape)
			r := ctDo(t, e, "GET", "/v1/cards/"+id+"/report", nil)
			if r.StatusCode != 200 || r.Header.Get("Content-Type") != "text/html; charset=utf-8" ||
				!strings.HasPrefix(r.Header.Get("Content-Security-Policy"), "default-src 'none'") || r.Header.Get("ETag") == "" {
				t.Errorf("GET /v1/cards/{id}/report: %d %v", r.StatusCode, r.Header)
			}
		}
		ctWantError(t, ctDo(t, e, "GET", "/v1/cards/"+anyClip+"/report", nil), "GET unknown card's report", 404, "id")
		ctWantError(t, ctDo(t, e, "GET", "/v1/cards/not-a-card/report.json", nil), "GET malformed card id's report", 400, "id")
		ctWantError(t, ctDo(t, e, "GET", "/v1/clips/not-a-clip/proxy", nil), "GET malformed clip id proxy", 400, "id")
		ctWantError(t, ctDo(t, e, "GET", "/v1/clips?limit=0", nil), "GET /v1/clips?limit=0", 400, "limit")
		ctWantError(t, ctDo(t, e, "GET", "/v1/clips?after=../x", nil), "GET /v1/clips?after=../x", 400, "after")
	})

	t.Run("verify", func(t *testing.T) {
		cover("POST /v1/verify")
		r := ctDo(t, e, "POST", "/v1/verify?volume=footage", map[string]string{"X-Ingestd-Request": "1"})
		if r.StatusCode != 200 || r.Header.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("POST /v1/verify: %d %q %s", r.StatusCode, r.Header.Get("Content-Type"), r.body)
		}
		sc := bufio.NewScanner(bytes.NewReader(r.body))
		var types []string
		for sc.Scan() {
			v := ctJSON(t, "verify line", sc.Bytes())
			lm, _ := v.(map[string]any)
			typ, _ := lm["type"].(string)
			types = append(types, typ)
			s := ctVerifyShapes[typ]
			if s == nil {
				t.Errorf("verify line of type %q (a clean volume has no problem lines): %s", typ, sc.Bytes())
				continue
			}
			ctCheck(t, "verify "+typ, v, s)
		}
		if len(types) < 2 || types[0] != "start" || types[len(types)-1] != "done" {
			t.Errorf("verify lines %v: want start … done", types)
		}
		ctWantError(t, ctDo(t, e, "POST", "/v1/verify?volume=nope", map[string]string{"X-Ingestd-Request": "1"}), "POST /v1/verify unknown volume", 400, "volume")
		ctWantError(t, ctDo(t, e, "POST", "/v1/verify", nil), "POST /v1/verify without X-Ingestd-Request", 403, "")
		r = ctDo(t, e, "GET", "/v1/verify", nil)
		ctWantError(t, r, "GET /v1/verify", 405, "")
		if r.Header.Get("Allow") != "POST" {
			t.Errorf("GET /v1/verify: Allow %q, want POST", r.Header.Get("Allow"))
		}
	})

	t.Run("metrics", func(t *testing.T) {
		cover("GET /metrics")
		r := ctDo(t, e, "GET", "/metrics", nil)
		if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
			t.Fatalf("GET /metrics: %d %q", r.StatusCode, r.Header.Get("Content-Type"))
		}
		documented := ctDocMetrics(doc)
		exposed := map[string]bool{}
		for _, mt := range regexp.MustCompile(`(?m)^# TYPE (ingestd_[a-z_0-9]+) `).FindAllStringSubmatch(string(r.body), -1) {
			exposed[mt[1]] = true
			if !documented[mt[1]] {
				t.Errorf("metric %s is not in docs/api.md's metrics table", mt[1])
			}
		}
		for name := range documented {
			if !exposed[name] {
				t.Errorf("documented metric %s not exposed (every stage runs here)", name)
			}
		}
	})

	t.Run("backup", func(t *testing.T) {
		cover("GET /v1/admin/backup")
		r := ctDo(t, e, "GET", "/v1/admin/backup", nil)
		if r.StatusCode != 200 || r.Header.Get("Content-Type") != "application/octet-stream" ||
			!strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment; filename=") || len(r.body) == 0 {
			t.Errorf("GET /v1/admin/backup: %d %q %q %d bytes", r.StatusCode, r.Header.Get("Content-Type"), r.Header.Get("Content-Disposition"), len(r.body))
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			method, path string
			hdr          map[string]string
			code         int
			param        string
		}{
			{"GET", "/v1/feed?after=x", nil, 400, "after"},
			{"GET", "/v1/feed?limit=-5", nil, 400, "limit"},
			{"GET", "/v1/feed?wait=forever", nil, 400, "wait"},
			{"GET", "/v1/assets?after=xyz", nil, 400, "after"},
			{"GET", "/v1/assets?limit=abc", nil, 400, "limit"},
			{"GET", "/v1/assets/XYZ", nil, 400, "id"},
			{"GET", "/v1/assets/" + anyID, nil, 404, "id"},
			{"GET", "/v1/nope", nil, 404, ""},
			{"GET", "//v1/status", nil, 404, ""}, // never a redirect
			{"GET", "/v1/./feed", nil, 404, ""},  // never a redirect
			{"POST", "/v1/status", nil, 405, ""}, // GET/HEAD only
			{"POST", "/v1/clips", nil, 405, ""},  // idem
			{"DELETE", "/v1/assets/" + anyID, nil, 405, ""},
			{"PUT", "/v1/assets/" + clipID + "/proxy", nil, 405, ""},
			{"POST", "/metrics", nil, 405, ""},
			{"GET", "/v1/status", map[string]string{"Host": "evil.example:" + e.addr[strings.LastIndex(e.addr, ":")+1:]}, 421, ""},
			{"GET", "/healthz", map[string]string{"Host": "evil.example"}, 421, ""},
		} {
			hdr := tc.hdr
			if tc.method != "GET" && tc.code == 405 {
				hdr = map[string]string{"X-Ingestd-Request": "1"}
			}
			what := tc.method + " " + tc.path
			r := ctDo(t, e, tc.method, tc.path, hdr)
			ctWantError(t, r, what, tc.code, tc.param)
			if tc.code == 405 && !strings.Contains(r.Header.Get("Allow"), "GET") {
				t.Errorf("%s: Allow %q, want GET, HEAD", what, r.Header.Get("Allow"))
			}
		}
	})

	// The web console's endpoints (docs/api.md, Web console; the browser
	// tests are cmd/ingestd/console_e2e_test.go).
	t.Run("console", func(t *testing.T) {
		cover("GET /")
		cover("GET /ui/{file}")
		consoleHeaders := func(what string, r ctResp) {
			t.Helper()
			for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
				"Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"} {
				if got := r.Header.Get(k); got != want {
					t.Errorf("%s: %s %q, want %q", what, k, got, want)
				}
			}
			if csp := r.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'; script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("%s: Content-Security-Policy %q", what, csp)
			}
		}
		r := ctDo(t, e, "GET", "/", nil)
		if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET /: %d %q", r.StatusCode, r.Header.Get("Content-Type"))
		}
		consoleHeaders("GET /", r)
		files := regexp.MustCompile(`"(/ui/[A-Za-z0-9_./-]+)"`).FindAllStringSubmatch(string(r.body), -1)
		if len(files) == 0 {
			t.Fatalf("GET /: the page names no /ui/ file: %s", ctShort(string(r.body)))
		}
		for _, f := range files {
			fr := ctDo(t, e, "GET", f[1], nil)
			if fr.StatusCode != 200 || len(fr.body) == 0 {
				t.Errorf("GET %s: %d, %d bytes", f[1], fr.StatusCode, len(fr.body))
			}
			consoleHeaders("GET "+f[1], fr)
		}
		ctWantError(t, ctDo(t, e, "GET", "/ui/no-such-file.js", nil), "GET /ui/no-such-file.js", 404, "")
		ctWantError(t, ctDo(t, e, "GET", "/", map[string]string{"Host": "evil.example:" + e.addr[strings.LastIndex(e.addr, ":")+1:]}), "GET / with a foreign Host", 421, "")
	})

	t.Run("session-tokenless", func(t *testing.T) {
		cover("GET /v1/session")
		cover("POST /v1/session")
		r := ctDo(t, e, "GET", "/v1/session", nil)
		v, _ := ctWantJSON(t, r, "GET /v1/session", ctSessionShape).(map[string]any)
		if v["auth"] != "none" || v["authenticated"] != true {
			t.Errorf("GET /v1/session without a token file: %v, want auth none, authenticated", v)
		}
		ctWantError(t, ctDo(t, e, "POST", "/v1/session", map[string]string{"X-Ingestd-Request": "1", "Content-Type": "application/json"}),
			"POST /v1/session without a token file", 405, "")
	})

	t.Run("events-stream", func(t *testing.T) {
		cover("GET /v1/events/stream")
		req, _ := http.NewRequest("GET", "http://"+e.addr+"/v1/events/stream?after=0&status=1", nil)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("GET /v1/events/stream: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		first := evs[0]
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 8<<20)
		var event, id string
		gotFeed, gotStatus, gotRetry := false, false, false
		for !(gotFeed && gotStatus) && sc.Scan() {
			line := sc.Text()
			switch {
			case line == "retry: 3000":
				gotRetry = true
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "id: "):
				id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				data := []byte(strings.TrimPrefix(line, "data: "))
				switch event {
				case "status":
					gotStatus = true
					ctCheck(t, "stream status", ctJSON(t, "stream status", data), ctStatusShape)
				case "feed":
					var ev storage.Event
					if err := json.Unmarshal(data, &ev); err != nil {
						t.Fatalf("stream feed data %q: %v", data, err)
					}
					if !gotFeed && (ev.Seq != first.Seq || id != fmt.Sprint(first.Seq) || !reflect.DeepEqual(ev, first)) {
						t.Errorf("first feed event of the stream: id %s %+v, want the feed's %+v", id, ev, first)
					}
					gotFeed = true
				}
			}
		}
		if !gotFeed || !gotStatus || !gotRetry {
			t.Errorf("stream: feed %v status %v retry %v (%v)", gotFeed, gotStatus, gotRetry, sc.Err())
		}
		ctWantError(t, ctDo(t, e, "GET", "/v1/events/stream?after=x", nil), "GET /v1/events/stream?after=x", 400, "after")
	})

	t.Run("assets-filtered", func(t *testing.T) {
		r := ctDo(t, e, "GET", "/v1/assets?q=notes&kind=other", nil)
		v, _ := ctWantJSON(t, r, "GET /v1/assets?q=notes", ctObj("assets[] next scanned", map[string]*ctShape{"assets": ctAssetShape})).(map[string]any)
		list, _ := v["assets"].([]any)
		if len(list) != 1 {
			t.Errorf("GET /v1/assets?q=notes&kind=other: %d assets, want notes.txt", len(list))
		}
		ctWantError(t, ctDo(t, e, "GET", "/v1/assets?kind=bogus", nil), "GET /v1/assets?kind=bogus", 400, "kind")
	})

	t.Run("sequences", func(t *testing.T) {
		cover("GET /v1/sequences")
		cover("GET /v1/sequences/{id}")
		cover("GET /v1/sequences/{id}/proxy")
		cover("GET /v1/sequences/{id}/poster")
		v, _ := ctWantJSON(t, ctDo(t, e, "GET", "/v1/sequences?limit=5000", nil), "GET /v1/sequences", ctSequencesShape).(map[string]any)
		list, _ := v["sequences"].([]any)
		if len(list) != 1 {
			t.Fatalf("GET /v1/sequences: %d sequences, want the PNG frames", len(list))
		}
		id, _ := list[0].(map[string]any)["id"].(string)
		ctWantJSON(t, ctDo(t, e, "GET", "/v1/sequences/"+id, nil), "GET /v1/sequences/{id}", ctSequenceShape)
		ctWantContent(t, e, "/v1/sequences/"+id+"/proxy", "video/mp4")
		ctWantContent(t, e, "/v1/sequences/"+id+"/poster", "image/jpeg")
		ctWantError(t, ctDo(t, e, "GET", "/v1/sequences/"+anyClip, nil), "GET unknown sequence", 404, "id")
		ctWantError(t, ctDo(t, e, "GET", "/v1/sequences/XYZ", nil), "GET malformed sequence id", 400, "id")
		ctWantError(t, ctDo(t, e, "GET", "/v1/sequences/"+anyClip+"/proxy", nil), "GET unknown sequence proxy", 404, "id")
	})

	// The webhook: the feed's events, as documented (Webhook).
	t.Run("webhook", func(t *testing.T) {
		sd, _ := ctJSON(t, "status", ctDo(t, e, "GET", "/v1/status", nil).body).(map[string]any)
		catalogID, _ := sd["catalog_id"].(string)
		feed := map[float64]map[string]any{}
		fd, _ := ctJSON(t, "feed", ctDo(t, e, "GET", "/v1/feed?limit=1000", nil).body).(map[string]any)
		for _, x := range fd["events"].([]any) {
			ev := x.(map[string]any)
			n, _ := ev["seq"].(json.Number).Float64()
			feed[n] = ev
		}
		rx.mu.Lock()
		reqs := slices.Clone(rx.reqs)
		rx.mu.Unlock()
		if len(reqs) == 0 {
			t.Fatal("the webhook received nothing")
		}
		got := map[float64]bool{}
		for i, rq := range reqs {
			what := fmt.Sprintf("webhook POST %d", i)
			if rq.method != "POST" || rq.hdr.Get("Content-Type") != "application/json" || rq.hdr.Get("Authorization") != "Bearer hub-secret" {
				t.Errorf("%s: method %s, Content-Type %q, Authorization %q", what, rq.method, rq.hdr.Get("Content-Type"), rq.hdr.Get("Authorization"))
			}
			v := ctJSON(t, what, rq.body)
			ctCheck(t, what, v, ctObj("appliance_id catalog_id events[]", nil))
			b, _ := v.(map[string]any)
			evs, _ := b["events"].([]any)
			if b["appliance_id"] != "contract" || b["catalog_id"] != catalogID || len(evs) == 0 {
				t.Errorf("%s: appliance_id %v, catalog_id %v (status: %s), %d events", what, b["appliance_id"], b["catalog_id"], catalogID, len(evs))
				continue
			}
			var first, last float64
			for j, x := range evs {
				ev, _ := x.(map[string]any)
				n, _ := ev["seq"].(json.Number).Float64()
				if j == 0 {
					first = n
				}
				last = n
				got[n] = true
				if want, ok := feed[n]; !ok || !reflect.DeepEqual(ev, want) {
					t.Errorf("%s: event %v differs from the feed's %v", what, ev, want)
				}
			}
			if k, want := rq.hdr.Get("Idempotency-Key"), fmt.Sprintf("contract-%s-%.0f-%.0f", catalogID, first, last); k != want {
				t.Errorf("%s: Idempotency-Key %q, want %s", what, k, want)
			}
		}
		for n := range feed {
			if n <= float64(last) && !got[n] {
				t.Errorf("feed event %.0f never reached the webhook", n)
			}
		}
	})

	// The hub bucket holds, per synced asset, asset.json (the API's document)
	// and the outputs it lists, each with x-amz-meta-blake3; per clip with a
	// whole-clip proxy, proxy.mp4 and clip.json (the API's clip document).
	t.Run("bucket", func(t *testing.T) {
		objs := map[string]bool{}
		for _, o := range m.List(t, bucket) {
			objs[o.Key] = true
		}
		want := map[string]bool{}
		equalDoc := func(key, api string) {
			t.Helper()
			deadline := time.Now().Add(30 * time.Second)
			for {
				remote := ctJSON(t, key, m.Get(t, bucket, key))
				local := ctJSON(t, api, ctDo(t, e, "GET", api, nil).body)
				if reflect.DeepEqual(remote, local) {
					return
				}
				if time.Now().After(deadline) {
					t.Errorf("%s differs from GET %s:\n%s\n%s", key, api, m.Get(t, bucket, key), ctDo(t, e, "GET", api, nil).body)
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		for _, x := range assets {
			a, _ := x.(map[string]any)
			id, _ := a["id"].(string)
			pfx := "edge/contract/assets/" + id + "/"
			want[pfx+"asset.json"] = true
			if px, _ := a["proxy"].(map[string]any); px["status"] == "ready" {
				outs, _ := px["outputs"].([]any)
				for _, o := range outs {
					want[pfx+o.(string)] = true
				}
			}
			// Edge analysis: analysis.json and shots.jpg of a ready analysis.
			if an, _ := a["analysis"].(map[string]any); an["status"] == "ready" {
				outs, _ := an["outputs"].([]any)
				for _, o := range outs {
					want[pfx+o.(string)] = true
				}
			}
			equalDoc(pfx+"asset.json", "/v1/assets/"+id)
		}
		cl, _ := ctJSON(t, "clips", ctDo(t, e, "GET", "/v1/clips", nil).body).(map[string]any)
		for _, x := range cl["clips"].([]any) {
			c, _ := x.(map[string]any)
			if px, _ := c["proxy"].(map[string]any); px["status"] == "ready" {
				pfx := "edge/contract/clips/" + c["id"].(string) + "/"
				want[pfx+"proxy.mp4"], want[pfx+"clip.json"] = true, true
				equalDoc(pfx+"clip.json", "/v1/clips/"+c["id"].(string))
			}
		}
		// Offload reports of the cards safe to format, and only these names.
		cr, _ := ctJSON(t, "cards", ctDo(t, e, "GET", "/v1/cards", nil).body).(map[string]any)
		for _, x := range cr["cards"].([]any) {
			if c, _ := x.(map[string]any); c["safe_to_format"] == true {
				pfx := "edge/contract/cards/" + c["id"].(string) + "/"
				want[pfx+"report.html"], want[pfx+"report.json"] = true, true
			}
		}
		sq, _ := ctJSON(t, "sequences", ctDo(t, e, "GET", "/v1/sequences", nil).body).(map[string]any)
		for _, x := range sq["sequences"].([]any) {
			q, _ := x.(map[string]any)
			if px, _ := q["proxy"].(map[string]any); px["status"] == "ready" {
				pfx := "edge/contract/sequences/" + q["id"].(string) + "/"
				want[pfx+"sequence.json"] = true
				for _, o := range px["outputs"].([]any) {
					want[pfx+o.(string)] = true
				}
				equalDoc(pfx+"sequence.json", "/v1/sequences/"+q["id"].(string))
			}
		}
		for k := range want {
			if !objs[k] {
				t.Errorf("bucket lacks %s", k)
			}
		}
		for k := range objs {
			if !want[k] {
				t.Errorf("bucket holds %s, which docs/api.md's layout does not name", k)
			}
			// Metadata and bytes from one GET: an object the daemon
			// replaces meanwhile (a card report rewritten) is compared
			// with itself, not with its next version.
			obj, err := m.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
			if err != nil {
				t.Fatalf("get %s: %v", k, err)
			}
			body, err := io.ReadAll(obj.Body)
			obj.Body.Close()
			if err != nil {
				t.Fatalf("read %s: %v", k, err)
			}
			sum := blake3.Sum256(body)
			if obj.Metadata["blake3"] != hex.EncodeToString(sum[:]) {
				t.Errorf("%s: x-amz-meta-blake3 %q, want the BLAKE3 of its bytes", k, obj.Metadata["blake3"])
			}
		}
	})

	// Console actions (last: a retry changes an asset).
	t.Run("actions", func(t *testing.T) {
		cover("POST /v1/assets/{id}/retry")
		cover("POST /v1/volumes/{name}/rescan")
		cover("POST /v1/sync/webhook/unpark")
		act := map[string]string{"X-Ingestd-Request": "1"}
		for _, p := range []string{"/v1/volumes/footage/rescan", "/v1/assets/" + wavID + "/retry"} {
			r := ctDo(t, e, "POST", p, act)
			if r.StatusCode != 202 || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("POST %s: %d %q %s", p, r.StatusCode, r.Header.Get("Content-Type"), r.body)
			} else {
				ctJSON(t, "POST "+p, r.body)
			}
		}
		ctWantError(t, ctDo(t, e, "POST", "/v1/volumes/nope/rescan", act), "POST rescan of an unknown volume", 404, "volume")
		ctWantError(t, ctDo(t, e, "POST", "/v1/assets/"+anyID+"/retry", act), "POST retry of an unknown asset", 404, "id")
		ctWantError(t, ctDo(t, e, "POST", "/v1/sync/webhook/unpark", act), "POST unpark when not parked", 409, "")
		ctWantError(t, ctDo(t, e, "POST", "/v1/volumes/footage/rescan", nil), "POST rescan without X-Ingestd-Request", 403, "")
	})

	// The same endpoints behind a token: 401 with the JSON body and
	// WWW-Authenticate on every one of them but /healthz.
	t.Run("auth", func(t *testing.T) {
		const token = "contract-token"
		te := newEnv(t, token, "proxy:\n  enabled: false\n")
		te.start()
		defer te.stop()
		cover("DELETE /v1/session")
		noTok := *te
		noTok.token = ""
		r := ctDo(t, &noTok, "GET", "/v1/session", nil)
		if v, _ := ctWantJSON(t, r, "GET /v1/session (token)", ctSessionShape).(map[string]any); v["auth"] != "token" || v["authenticated"] != false {
			t.Errorf("GET /v1/session before login: %v", v)
		}
		ctWantError(t, ctDo(t, &noTok, "POST", "/v1/session", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}), "POST /v1/session as a form", 415, "")
		login := func(body string) (*http.Response, []byte) {
			req, _ := http.NewRequest("POST", "http://"+te.addr+"/v1/session", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := ctClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp, b
		}
		resp, b := login(`{"token":"wrong"}`)
		ctWantError(t, ctResp{resp, b}, "POST /v1/session with a wrong token", 401, "token")
		resp, b = login(`{"token":"` + token + `"}`)
		var sess map[string]any
		if v := ctWantJSON(t, ctResp{resp, b}, "POST /v1/session", ctSessionShape); v != nil {
			sess, _ = v.(map[string]any)
		}
		var cookie *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "ingestd_session" {
				cookie = c
			}
		}
		if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" {
			t.Fatalf("login cookie %+v, want ingestd_session; Path=/; HttpOnly; SameSite=Strict", cookie)
		}
		csrf, _ := sess["csrf"].(string)
		if sess["authenticated"] != true || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(csrf) {
			t.Errorf("session after login: %v", sess)
		}
		withCookie := func(method, path string, hdr map[string]string) ctResp {
			req, _ := http.NewRequest(method, "http://"+te.addr+path, nil)
			req.AddCookie(cookie)
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			resp, err := ctClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return ctResp{resp, b}
		}
		if r := withCookie("GET", "/v1/status", nil); r.StatusCode != 200 {
			t.Errorf("GET /v1/status with the session cookie: %d", r.StatusCode)
		}
		ctWantError(t, withCookie("DELETE", "/v1/session", nil), "DELETE /v1/session without X-Ingestd-CSRF", 403, "")
		if r := withCookie("DELETE", "/v1/session", map[string]string{"X-Ingestd-CSRF": csrf}); r.StatusCode/100 != 2 {
			t.Errorf("DELETE /v1/session: %d %s", r.StatusCode, r.body)
		}
		ctWantError(t, withCookie("GET", "/v1/status", nil), "GET /v1/status with an ended session", 401, "")
		for _, k := range ctDocEndpoints(doc) {
			method, p, _ := strings.Cut(k, " ")
			id := anyID
			if strings.HasPrefix(p, "/v1/clips/") {
				id = anyClip
			}
			p = strings.ReplaceAll(p, "{id}", id)
			p = strings.NewReplacer("{name}", "footage", "{file}", "app.js").Replace(p)
			r := ctDo(t, &noTok, method, p, nil)
			// Public: liveness, the console's files and its login.
			if p == "/healthz" || p == "/" || strings.HasPrefix(p, "/ui/") || p == "/v1/session" {
				if r.StatusCode == 401 {
					t.Errorf("%s without a token: 401, documented as needing none", k)
				}
				continue
			}
			ctWantError(t, r, k+" without a token", 401, "")
			if r.Header.Get("WWW-Authenticate") != `Bearer realm="ingestd"` {
				t.Errorf("%s without a token: WWW-Authenticate %q", k, r.Header.Get("WWW-Authenticate"))
			}
		}
	})

	// Every endpoint docs/api.md documents is walked above (last: the
	// token daemon walks DELETE /v1/session).
	t.Run("coverage", func(t *testing.T) {
		for _, k := range ctDocEndpoints(doc) {
			if !covered[k] {
				t.Errorf("docs/api.md documents %s, which the contract test does not walk: add a case", k)
			}
		}
		names := map[string]bool{}
		for _, s := range []*ctShape{ctErrorShape, ctAssetsShape, ctStatusShape, ctWaveformShape, ctClipsShape, ctCardsShape, ctHealthShape, ctSessionShape, ctSequencesShape, ctAnalysisShape, ctEnrichmentShape} {
			ctFieldNames(s, names)
		}
		for _, s := range ctCardDetailShapes {
			ctFieldNames(s, names)
		}
		for _, s := range ctVerifyShapes {
			ctFieldNames(s, names)
		}
		for n := range names {
			// `name`, "name" or a dotted mention (`volumes[].name`, `origin.name`).
			if !regexp.MustCompile("[`\".]" + regexp.QuoteMeta(n) + "[`\"]").MatchString(doc) {
				t.Errorf("the test lists field %q, which docs/api.md never names", n)
			}
		}
	})
}

// ctWantJSON checks a 200 JSON document and its fields; returns it.
func ctWantJSON(t *testing.T, r ctResp, what string, s *ctShape) any {
	t.Helper()
	if r.StatusCode != 200 {
		t.Errorf("%s: status %d: %s", what, r.StatusCode, ctShort(string(r.body)))
		return nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	v := ctJSON(t, what, r.body)
	ctCheck(t, what, v, s)
	return v
}

// ctWantContent checks a download as documented: 200 with the type,
// Accept-Ranges, Last-Modified and a strong ETag; HEAD alike without a
// body; 304 on If-None-Match and If-Modified-Since with the same headers;
// 206 for a Range, 416 with the JSON error body past the end.
func ctWantContent(t *testing.T, e *env, path, ctype string) {
	t.Helper()
	promised := func(what string, r ctResp) {
		t.Helper()
		if r.Header.Get("Accept-Ranges") != "bytes" {
			t.Errorf("%s: Accept-Ranges %q, want bytes", what, r.Header.Get("Accept-Ranges"))
		}
		if _, err := http.ParseTime(r.Header.Get("Last-Modified")); err != nil {
			t.Errorf("%s: Last-Modified %q", what, r.Header.Get("Last-Modified"))
		}
		if et := r.Header.Get("ETag"); !strings.HasPrefix(et, `"`) || !strings.HasSuffix(et, `"`) || len(et) < 3 {
			t.Errorf("%s: ETag %q, want a strong one", what, et)
		}
		if cc := r.Header.Get("Cache-Control"); cc != "private, max-age=60" {
			t.Errorf("%s: Cache-Control %q, want private, max-age=60", what, cc)
		}
	}
	full := ctDo(t, e, "GET", path, nil)
	if full.StatusCode != 200 || full.Header.Get("Content-Type") != ctype || len(full.body) == 0 {
		t.Fatalf("GET %s: %d %q %d bytes, want 200 %s", path, full.StatusCode, full.Header.Get("Content-Type"), len(full.body), ctype)
	}
	promised("GET "+path, full)
	head := ctDo(t, e, "HEAD", path, nil)
	if head.StatusCode != 200 || head.Header.Get("Content-Type") != ctype || len(head.body) != 0 ||
		head.Header.Get("Content-Length") != fmt.Sprint(len(full.body)) {
		t.Errorf("HEAD %s: %d %q length %q", path, head.StatusCode, head.Header.Get("Content-Type"), head.Header.Get("Content-Length"))
	}
	promised("HEAD "+path, head)
	for _, h := range []map[string]string{
		{"If-None-Match": full.Header.Get("ETag")},
		{"If-Modified-Since": full.Header.Get("Last-Modified")},
	} {
		r := ctDo(t, e, "GET", path, h)
		what := fmt.Sprintf("GET %s %v", path, h)
		if r.StatusCode != 304 || len(r.body) != 0 {
			t.Errorf("%s: %d, %d bytes, want 304", what, r.StatusCode, len(r.body))
		}
		promised(what, r)
	}
	r := ctDo(t, e, "GET", path, map[string]string{"Range": "bytes=0-9"})
	if r.StatusCode != 206 || len(r.body) != 10 || !bytes.Equal(r.body, full.body[:10]) ||
		r.Header.Get("Content-Range") != fmt.Sprintf("bytes 0-9/%d", len(full.body)) {
		t.Errorf("GET %s Range 0-9: %d %q %d bytes", path, r.StatusCode, r.Header.Get("Content-Range"), len(r.body))
	}
	promised("GET "+path+" Range", r)
	r = ctDo(t, e, "GET", path, map[string]string{"Range": fmt.Sprintf("bytes=%d-", len(full.body)+100)})
	ctWantError(t, r, "GET "+path+" Range past the end", 416, "")
	if r.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", len(full.body)) {
		t.Errorf("GET %s 416: Content-Range %q", path, r.Header.Get("Content-Range"))
	}
}
