package wire

import (
	"bytes"
	"encoding/json"
	"flag"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/storage"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata from the values in this test")

var (
	t0   = time.Date(2026, 11, 30, 4, 5, 6, 123456789, time.UTC)
	t1   = t0.Add(41 * time.Second)
	id64 = strings.Repeat("ab", 32)
	id32 = strings.Repeat("cd", 16)
)

// documents are representative values of every document the API serves,
// each with every field set that a live daemon sets, and a path that is
// not UTF-8 where the document can carry one.
func documents() map[string]any {
	scanned := 1200
	asset := Asset{
		Asset: storage.Asset{ID: id64, Size: 252985, Hashes: Hashes{BLAKE3: id64, XXH128: strings.Repeat("12", 16)}, FirstSeen: t0,
			Kind: "video",
			Media: &storage.Media{Container: "mov,mp4,m4a,3gp,3g2,mj2", Duration: 2, Timecode: "10:00:00;00", DropFrame: true, Reel: "A001",
				Make: "Panasonic", Model: "AJ-PX800G", TimeReference: 1728000,
				Streams: []storage.Stream{
					{Index: 0, Type: "video", Codec: "h264", CodecTag: "avc1", Profile: "High", Width: 1920, Height: 1080, SAR: "1:1", DAR: "16:9",
						FrameRate: "30000/1001", VFR: true, Frames: 60, FieldOrder: "progressive", PixFmt: "yuv420p10le", BitDepth: 10,
						ColorPrimaries: "bt2020", ColorTransfer: "smpte2084", ColorMatrix: "bt2020nc", HDR: "pq", Rotation: 90, Duration: 2.002},
					{Index: 1, Type: "audio", Codec: "aac", Channels: 2, Layout: "stereo", SampleRate: 48000},
					{Index: 2, Type: "video", Codec: "mjpeg", AttachedPic: true},
				}},
			Camera: &storage.Camera{Source: "p2_clip", Manufacturer: "Panasonic", Model: "AJ-PX800G", Serial: "D1TA00123", CreationDate: t0,
				StartTimecode: "10:00:00;00", DropFrame: true, TimecodeFPS: "30000/1001", CaptureFPS: "60000/1001", VideoCodec: "AVC-Intra",
				ClipName: "0001CD", GlobalClipID: "060A2B34"},
			Analysis: &storage.AnalysisInfo{Status: "ready", Verdict: "warn", Shots: 3, Outputs: []string{"analysis.json", "shots.jpg"},
				Checks:   []storage.Check{{Rule: "max_black_seconds", Verdict: "warn", Reason: "2.0 s of black at 0:00"}},
				Loudness: &storage.Loudness{Integrated: -23.1, Range: 5.2, TruePeak: -1.5, SamplePeak: -2.0, ClippedSamples: 12}, At: t1},
			Proxy:  &storage.ProxyInfo{Status: "ready", Profile: "h264-540p", Lane: "cpu", Width: 960, Height: 540, Frames: 50, Bytes: 81234, Outputs: []string{"proxy.mp4", "poster.jpg"}, At: t1},
			Sync:   &storage.SyncInfo{Status: "synced", At: t1},
			Origin: &storage.OriginInfo{CardLabel: "A001", CardLayout: "panasonic_p2", OffloadAt: t0}},
		Locations: []Location{
			{Volume: "nas", Path: "clips/a.mov", AssetID: id64, Size: 252985, MTime: t0, Inode: 42, Dev: 2049, State: storage.LocPresent, Seen: t0,
				History: []storage.Version{{AssetID: strings.Repeat("cd", 32), Size: 1000, MTime: t0.Add(-time.Hour), Replaced: t0}}},
			{Volume: "nas", Path: "old/\xff.mov", AssetID: id64, Size: 252985, MTime: t0, Inode: 43, Dev: 2049, State: storage.LocRemoved, Seen: t0,
				Removed: t1, ReplacedBy: strings.Repeat("ef", 32)},
		},
	}
	failedDest := DestState{Volume: "shuttle", Path: "2026-11-30/A001", State: DestFailed, BytesDone: 100, BytesTotal: 911000,
		FailedPath: "CONTENTS/VIDEO/0001CD.MXF", Error: "write: no space left on device"}
	dest := DestState{Volume: "raid", Path: "2026-11-30/A001", State: DestCopying, BytesDone: 400000, BytesVerified: 300000, BytesTotal: 911000,
		RateBps: 52428800, ETASeconds: 0.013, Generation: "0001_A001_2026-11-30_040506Z.mhl", Hashes: []string{"xxh128"}}
	manifest := ManifestCheck{File: "A001.md5", Format: "md5", Checked: 3, Matched: 2,
		Mismatches: []ManifestMismatch{{Path: "CONTENTS/VIDEO/0002CD.MXF", Reason: "md5 differs"}}}
	manifests := []ManifestCheck{manifest, {File: "A001.xxhash", Format: "xxh64", OK: true, Checked: 3, Matched: 3},
		{File: "B.md5", Format: "md5", Error: "read B.md5: permission denied"}}
	skipped := Skipped{Path: "CONTENTS/fifo", Reason: "named pipe (FIFO) on the card: not read, not copied"}
	card := Card{ID: id32, Key: "uuid:be63b1ea/b7e2", Identity: CardIdentity{UUID: "be63b1ea", Label: "A001", Device: "/dev/sdb1", FSType: "exfat",
		Layout: "panasonic_p2", Fingerprint: "b7e2"}, Label: "A001", Layout: "panasonic_p2", Volume: "raid", Folder: "2026-11-30/A\xff01",
		Status: "partial", Destinations: []DestState{dest, failedDest}, SafeToFormat: false, SafeAt: &t1, Files: 10, Bytes: 911000,
		Generation: "0001_A001_2026-11-30_040506Z.mhl", FailedPath: "CONTENTS/\xfe.MXF", Reason: "read error", Started: t0, Finished: t1,
		Clips: []string{id32}, Skipped: []Skipped{skipped}, Manifests: manifests}
	clip := Clip{ID: id32, Name: "0001CD", Layout: "panasonic_p2", CardLabel: "A001", CardKey: card.Key, Volume: "raid", Folder: "2026-11-30/A001",
		OffloadAt: t0, Parts: []ClipPart{{Role: "video", Path: "2026-11-30/A001/CONTENTS/VIDEO/0001CD.MXF", AssetID: id64, Card: card.Key, Offset: 250, Span: 2},
			{Role: "sidecar", Path: "2026-11-30/A001/CONTENTS/CLIP/\xff.XML", AssetID: id64}},
		Cards:      []ClipCard{{Key: card.Key, Label: "A001", Folder: "2026-11-30/A001", OffloadAt: t0}},
		Spans:      []ClipSpan{{Clip: "0001CD", GlobalClipID: "060A2B34", Card: card.Key, Offset: 250, Duration: 250, Next: "060A2B35", Span: 1}},
		Incomplete: true,
		Meta: &CameraMeta{Source: "p2_clip", Manufacturer: "Panasonic", Model: "AJ-PX800G", Serial: "D1TA00123", CreationDate: t0,
			StartTimecode: "10:00:00:00", DropFrame: true, TimecodeFPS: "25", Duration: 50, EditUnit: "1/25", CaptureFPS: "25", VideoCodec: "AVC-Intra",
			ClipName: "0001CD", GlobalClipID: "060A2B34", GlobalShotID: "060A2B30", OffsetInShot: 250, PrevClipID: "060A2B33", NextClipID: "060A2B35",
			VideoFiles: []string{"0001CD.MXF"}, AudioFiles: []string{"0001CD00.MXF"}},
		Proxy: &ClipProxy{Status: "ready", Frames: 50, Bytes: 123456, At: t1}}
	failedAsset := asset
	failedAsset.Proxy = &storage.ProxyInfo{Status: "failed", Error: "ffmpeg: exit status 1", At: t1}
	failedAsset.Sync = &storage.SyncInfo{Status: "failed", Error: "s3: access denied", At: t1}
	failedAsset.Analysis = &storage.AnalysisInfo{Status: "failed", Error: "analysis timed out after 2h0m0s", At: t1}
	safeCard := card
	safeCard.Status, safeCard.SafeToFormat, safeCard.Destinations, safeCard.FailedPath, safeCard.Reason = "offloaded", true, []DestState{dest}, "", ""
	failedClip := clip
	failedClip.Proxy = &ClipProxy{Status: "failed", Error: "ffmpeg: exit status 1", At: t1}
	cam := ReportCamera{Make: "Panasonic", Model: "AJ-PX800G", Serial: "D1TA00123"}
	seq := Sequence{ID: id32, Volume: "nas", Folder: "shots/sh010", Pattern: "sh010.%04d.exr", Base: "sh010.", Ext: ".exr", Padding: 4,
		Format: "exr_pipe", Codec: "exr", First: 1001, Last: 1100, Count: 98, Missing: []FrameRange{{First: 1050, Last: 1051}}, MissingFrames: 2,
		Bytes: 98 << 20, FirstPath: "shots/sh010/sh010.1001.exr", FirstAssetID: id64, Width: 4096, Height: 2160, PixFmt: "gbrapf32le",
		BitDepth: 32, ColorSpace: "gbr", ColorTransfer: "linear", ColorPrimaries: "bt709", FrameRate: "24/1", FrameRateSource: "header",
		Timecode: "01:00:00:00", Signature: id64, Changed: t0,
		Proxy: &SequenceProxy{Status: "ready", Frames: 100, Width: 960, Height: 506, Bytes: 81234, Outputs: []string{"proxy.mp4", "poster.jpg"},
			Signature: id64, At: t1}}
	pendingSeq := seq
	pendingSeq.ID, pendingSeq.Proxy, pendingSeq.ProbeErr = strings.Repeat("ef", 16), &SequenceProxy{Status: "failed", Error: "ffmpeg: exit status 1", At: t1}, "ffprobe: invalid data"
	f24, f48, f36 := int64(24), int64(48), int64(36)
	enrichment := Enrichment{Name: "transcript", Status: "ready", Data: json.RawMessage(`"en"`), Files: []string{"enrich/transcript/transcript.vtt"}, Elapsed: 12.5}
	analysisDoc := Analysis{AssetID: id64, Source: "proxy.mp4", AudioSource: "proxy", AudioNote: "master offline, measured on the proxy", Duration: 3, FrameRate: "24/1", StartTC: "01:00:00:00", Video: true, Audio: true,
		Black:    []Segment{{Start: 1, End: 2, Duration: 1, StartF: &f24, EndF: &f48, StartTC: "01:00:01:00", EndTC: "01:00:02:00"}},
		Freeze:   []Segment{},
		Silence:  []Segment{{Start: 2, End: 3, Duration: 1}},
		Shots:    []Shot{{Start: 0, End: 1.5, Thumbnail: "shots/00000.jpg"}, {Start: 1.5, End: 3, StartF: &f36, StartTC: "01:00:01:12", Thumbnail: "shots/00001.jpg"}},
		Loudness: &storage.Loudness{Integrated: -23.1, Range: 5.2, TruePeak: -1.5, SamplePeak: -2.0, ClippedSamples: 12}, Truncated: true,
		Checks:      []storage.Check{{Rule: "max_black_seconds", Verdict: "warn", Reason: "1.0 s of black at 0:01"}},
		Enrichments: []Enrichment{enrichment, {Name: "labels", Status: "failed", Error: "timed out after 30m0s", Elapsed: 1800}},
		Verdict:     "warn", Elapsed: 4.2, At: t1}
	return map[string]any{
		"error":  Error{Error: "limit must be a positive integer", Param: "limit"},
		"health": Health{Status: "ok"},
		"status_no_ffmpeg": Status{Version: "1.2.3", ApplianceID: "edge-01", CatalogID: id32, Started: t0, Ready: true, Volumes: []VolumeStatus{},
			Proxy: &ProxyStatus{TranscodeStatus: TranscodeStatus{Lanes: []LaneStatus{}, Running: []JobStatus{}, Done: map[string]int{}},
				Error: "transcode: ffprobe: exec: \"ffprobe\": executable file not found in $PATH"}},
		"status_minimal": Status{Version: "1.2.3", ApplianceID: "edge-01", CatalogID: id32, Started: t0, Ready: false,
			Volumes: []VolumeStatus{}, Catalog: CatalogStatus{LastSeq: 0}},
		"status": Status{Version: "1.2.3", ApplianceID: "edge-01", CatalogID: id32, Started: t0, Ready: true,
			Volumes: []VolumeStatus{
				{Name: "nas", Path: "/srv/nas", Online: true, WatchMode: "inotify", Watches: 12, Files: 1234, Bytes: 5 << 30, LastScan: t0, LastScanSeconds: 1.5, Scanning: true, StalledSeconds: 31},
				{Name: "usb", Path: "/media/usb", Online: false, Reason: "marker missing", WatchMode: "none"},
			},
			Queues:  Queues{Settling: 2, Hashing: 1},
			Ingest:  IngestStats{FilesSeen: 10, FilesHashed: 9, BytesHashed: 1 << 20},
			Catalog: CatalogStatus{LastSeq: 4242, LSMBytes: 1 << 20, VlogBytes: 2 << 20},
			Proxy: &ProxyStatus{TranscodeStatus: TranscodeStatus{Enabled: true, Detected: true,
				Capabilities: Capabilities{GPUMode: "auto", CUDA: true, NVDEC: map[string]bool{"h264": true}, ScaleCUDA: true, NVENC: true, VAAPI: "/dev/dri/renderD128",
					QSV: true, LibX264: true, Errors: map[string]string{"nvenc": "no NVENC on this GPU"}},
				Lanes: []LaneStatus{{Name: "cpu", Slots: 1, Queued: 3, Running: 1}}, Queued: 3,
				Running: []JobStatus{{AssetID: id64, Lane: "cpu", Encoder: "libx264", Started: t0, OutTimeUS: 41000000, DurationUS: 120000000, Frame: 1025, Speed: 3.1}},
				Done:    map[string]int{"ready": 120, "failed": 2}, DoneByLane: map[string]map[string]int{"cpu": {"ready": 120, "failed": 2}}},
				Error: ""},
			Sync: &SyncStatus{
				S3: &S3Status{Endpoint: "http://127.0.0.1:9000", Bucket: "hub", Prefix: "edge-01/", BacklogAssets: 3, BacklogObjects: 9, BacklogBytes: 16357785,
					InFlight: []InFlight{{Key: "edge-01/assets/ab/proxy.mp4", Bytes: 1 << 20, Total: 4 << 20, Rate: 1.5e6}}, LastSuccess: t0,
					LastError: "connection refused", LastErrorAt: t1, RetryAt: t1.Add(time.Minute), RateLimit: "20.0MiB/s", RateLimitBytes: 20 << 20,
					Concurrency: 4, AssetsSynced: 100, BytesUploaded: 1 << 30, ObjectsSkipped: 7, AttemptFailures: 2},
				Webhook: &WebhookStatus{URL: "https://hub.example/hook", Delivered: 4200, LastSuccess: t0, LastError: "410 Gone", LastErrorAt: t1,
					Parked:  &Parked{First: 4201, Last: 4242, Code: 410, Error: "410 Gone", Since: t1, Unpark: "fix the hub, then systemctl reload ingestd"},
					Batches: 42, Events: 4200},
			},
			Cards: &CardsStatus{Cards: []CardStatus{{Mount: "/media/A001", Label: "A001", Key: card.Key, Layout: "panasonic_p2", State: "copying",
				Message: "copying: NOT safe to eject", Dest: "raid/2026-11-30/A\xff01", FilesDone: 6, FilesTotal: 10, BytesDone: 400000, BytesTotal: 911000,
				File: "CONTENTS/\xfe.MXF", FailedPath: "CONTENTS/\xfd.MXF", Reason: "read error", Destinations: []DestState{dest}, SafeToFormat: false,
				Skipped: []Skipped{skipped}, Manifests: manifests},
				{Mount: "/media/B002", Label: "B002", Key: "uuid:c0ffee/b002", Layout: "gopro", State: "offloaded", Message: "offloaded: safe to eject",
					FilesDone: 2, FilesTotal: 2, BytesDone: 10, BytesTotal: 10, Destinations: []DestState{}, SafeToFormat: true}},
				Fixity: FixityStatus{Running: true, Trigger: "schedule", FilesDone: 3, FilesTotal: 42, BytesDone: 1000, BytesTotal: 42000,
					LastStart: t0, LastEnd: t1, LastFiles: 42, LastCorrupt: 1, LastMissing: 1, NextRun: t1.Add(24 * time.Hour)}},
			Disk: &DiskStatus{MinFree: "5%", Low: true, Paths: []DiskPath{
				{Name: "state_dir", Path: "/var/lib/ingestd", FreeBytes: 1 << 30, TotalBytes: 100 << 30, MinFreeBytes: 5 << 30, Low: true},
				{Name: "volume:nas", Path: "/srv/nas", Error: "no answer within 5s (hung mount?)"}},
				Paused: []string{"ingest", "transcode"}},
			Analysis: &AnalysisStatus{Enabled: true, Slots: 1, Queued: 4,
				Running:   []AnalysisJob{{AssetID: id64, Started: t0, Step: "ffmpeg", Progress: 0.42}},
				Done:      map[string]int{"ready": 118, "failed": 2},
				Enrichers: []EnricherStatus{{Name: "transcript", Ready: 118, Failed: 2, LastError: "timed out after 30m0s", LastErrorAsset: id64, LastErrorAt: &t1}}},
		},
		"asset":       asset,
		"assets_page": AssetsPage{Assets: []Asset{asset, failedAsset}, Next: id64, Scanned: &scanned},
		"feed": Feed{Events: []Event{
			{Seq: 41, Type: storage.EvLocationAdded, AssetID: id64, Volume: "nas", Path: "clips/\xff.mov", Time: t0},
			{Seq: 42, Type: storage.EvVolumeOffline, Volume: "usb", Time: t1, Detail: "marker missing"},
		}, Next: 42},
		"cards_page": CardsPage{Cards: []Card{card, safeCard}},
		"clip":       clip,
		"clips_page": ClipsPage{Clips: []Clip{clip, failedClip}, Next: id32},
		"card_report": CardReport{Version: 1, ID: id32, Key: card.Key, Label: "A\xff01", LabelB64: storage.PathB64("A\xff01"), UUID: "be63b1ea",
			FSType: "exfat", Layout: "panasonic_p2", Camera: cam, Status: "offloaded", SafeToFormat: true, SafeAt: &t1, Started: t0, Finished: t1,
			Seconds: 41.2, Files: 10, Bytes: 1048576000, MBps: 25.45, HashFormats: []string{"blake3", "xxh128", "md5"},
			Destinations: []ReportDest{{Volume: "raid", Path: "2026-11-30/A\xff01", PathB64: storage.PathB64("2026-11-30/A\xff01"), State: "verified",
				Verified: true, BytesVerified: 1048576000, Generation: "0001_A001_2026-11-30_040506Z.mhl", Hashes: []string{"xxh128"}, Error: ""},
				{Volume: "shuttle", Path: "2026-11-30/A001", State: "failed", Error: "write: no space left on device"}},
			Clips: []ReportClip{{ID: id32, Name: "0001CD", Duration: 2, FrameRate: "25/1", FPS: 25, Frames: 50, TCIn: "10:00:00:00", TCOut: "10:00:02:00",
				DropFrame: false, Codec: "dnxhd", Width: 1920, Height: 1080, Camera: &cam,
				Parts:  []ReportPart{{Role: "video", Path: "CONTENTS/VIDEO/0001CD.MXF", AssetID: id64}},
				Poster: true, Proxy: "ready"},
				{ID: strings.Repeat("ef", 16), Name: "0002\xffCD", NameB64: storage.PathB64("0002\xffCD"), TCIn: "10:00:00;00", DropFrame: true,
					Parts: []ReportPart{{Role: "video", Path: "CONTENTS/VIDEO/0002\xffCD.MXF", PathB64: storage.PathB64("CONTENTS/VIDEO/0002\xffCD.MXF"), AssetID: id64}}}},
			FileList: []ReportFile{{Path: "CONTENTS/VIDEO/\xff.MXF", Size: 252985, BLAKE3: id64, XXH128: strings.Repeat("12", 16),
				MHL: map[string]string{"md5": strings.Repeat("34", 16)}}},
			Skipped: []Skipped{skipped}, Manifests: manifests, Warnings: []string{"clip 0002CD: not probed yet"}},
		"sequences_page": SequencesPage{Sequences: []Sequence{seq, pendingSeq}, Next: pendingSeq.ID},
		"sequence":       seq,
		"analysis":       analysisDoc,
		"enrichment":     EnrichmentDoc{AssetID: id64, Enrichment: enrichment},
		"waveform":       Waveform{Version: 1, SampleRate: 48000, SamplesPerPeak: 480, Channels: 2, Bits: 16, Length: 2, Peaks: []int16{-120, 340, -90, 200, -3000, 2800, -2500, 2600}},
		"session":        Session{Auth: "token", Authenticated: true, CSRF: id64, Expires: &t1},
		"session_none":   Session{Auth: "none", Authenticated: true},
		"verify_lines": []VerifyLine{
			{Type: "start", Volume: "nas", Files: 3, Bytes: 3000},
			{Type: "progress", Volume: "nas", Path: "clips/a.mov", Files: 3, Bytes: 3000, FilesDone: 1, BytesDone: 1000},
			{Type: "corrupt", Volume: "nas", Path: "clips/\xff.mov", AssetID: id64, Got: strings.Repeat("ef", 32)},
			{Type: "missing", Volume: "nas", Path: "clips/c.mov", Detail: "replaced by a fifo (not a regular file; not read)"},
			{Type: "error", Volume: "nas", Path: "clips/d.mov", Detail: "read clips/d.mov: input/output error"},
			{Type: "changed", Volume: "nas", Path: "clips/e.mov", Detail: "size 10 -> 12"},
			{Type: "done", Volume: "nas", Files: 5, Bytes: 5000, FilesDone: 5, BytesDone: 5000, OK: 1, Corrupt: 1, Missing: 1, Changed: 1, Errors: 1},
		},
	}
}

// encode is how the API writes a document (api.WriteJSON: no HTML
// escaping), indented for a readable golden file.
func encode(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatalf("encode %T: %v", v, err)
	}
	return buf.Bytes()
}

// TestGolden pins the JSON shape of every document: a renamed, added or
// dropped field, or a changed omission rule, fails here. After a deliberate
// change (described in docs/api.md) refresh with go test -update.
func TestGolden(t *testing.T) {
	for name, doc := range documents() {
		t.Run(name, func(t *testing.T) {
			got := encode(t, doc)
			file := filepath.Join("testdata", name+".json")
			if *update {
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s changed (go test -update after a deliberate change, and update docs/api.md):\ngot:\n%s\nwant:\n%s", file, got, want)
			}
		})
	}
}

// TestRoundTrip decodes each golden file into its type and encodes it
// again: what a client (the CLI) reads is exactly what the server wrote,
// paths that are not UTF-8 included (their _b64 fields).
func TestRoundTrip(t *testing.T) {
	for name, doc := range documents() {
		if name == "card_report" {
			// The report writes its display names lossy and their exact
			// bytes in explicit *_b64 fields (a printed page's twin); it is
			// read back only by people and the hub.
			continue
		}
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			p := reflect.New(reflect.TypeOf(doc))
			if err := json.Unmarshal(want, p.Interface()); err != nil {
				t.Fatalf("decode into %T: %v", doc, err)
			}
			if got := encode(t, p.Elem().Interface()); !bytes.Equal(got, want) {
				t.Errorf("%s: decode+encode differs:\n%s", name, got)
			}
			if !reflect.DeepEqual(p.Elem().Interface(), doc) {
				t.Errorf("%s: decoded value differs from the encoded one", name)
			}
		})
	}
}

// TestDocumented checks that every field name the goldens hold appears in
// docs/api.md (the contract the hub codes against), so a new field cannot
// be served without being described.
func TestDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) < len(documents()) {
		t.Fatalf("%d golden files, want %d", len(files), len(documents()))
	}
	keyRe := regexp.MustCompile(`"([a-z0-9_]+)":`)
	missing := map[string][]string{}
	found := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range keyRe.FindAllSubmatch(b, -1) {
			k := string(m[1])
			if found[k] {
				continue
			}
			// "key": in an example, or `key`, `a.key`, `a[].key`, `key=…` in the text.
			if !regexp.MustCompile(`["` + "`" + `.]` + k + `["` + "`" + `=]`).Match(doc) {
				missing[k] = append(missing[k], filepath.Base(f))
				continue
			}
			found[k] = true
		}
	}
	keys := make([]string, 0, len(missing))
	for k := range missing {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Errorf("field %q (in %v) is not in docs/api.md", k, uniq(missing[k]))
	}
}

func uniq(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// TestLeaf keeps the package a leaf: the standard library and package
// storage (itself only types) are all it may import.
func TestLeaf(t *testing.T) {
	for _, dir := range []string{".", "../../../storage"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, im := range af.Imports {
				p, _ := strconv.Unquote(im.Path.Value)
				if p == "github.com/ingestd/ingestd/storage" && dir == "." {
					continue
				}
				if first, _, _ := strings.Cut(p, "/"); strings.Contains(first, ".") {
					t.Errorf("%s imports %s: package wire (and storage) import only the standard library", f, p)
				}
			}
		}
	}
}

// TestValuesSetEveryField: across the documents above, every field of
// every struct type they hold is set (non-zero) at least once, so each
// field is in some golden file and a new field fails TestGolden until a
// value and the golden (and docs/api.md, TestDocumented) show it.
func TestValuesSetEveryField(t *testing.T) {
	seen := map[reflect.Type]map[int]bool{}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Slice, reflect.Array:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
		case reflect.Map:
			for _, k := range v.MapKeys() {
				walk(v.MapIndex(k))
			}
		case reflect.Struct:
			if v.Type() == reflect.TypeOf(time.Time{}) {
				return
			}
			if seen[v.Type()] == nil {
				seen[v.Type()] = map[int]bool{}
			}
			for i := 0; i < v.NumField(); i++ {
				if !v.Type().Field(i).IsExported() {
					continue
				}
				if !v.Field(i).IsZero() {
					seen[v.Type()][i] = true
				}
				walk(v.Field(i))
			}
		}
	}
	for _, doc := range documents() {
		walk(reflect.ValueOf(doc))
	}
	for typ, set := range seen {
		for i := 0; i < typ.NumField(); i++ {
			if f := typ.Field(i); f.IsExported() && !set[i] {
				t.Errorf("%s.%s is never set in the documents of this test: give it a value so the goldens show it", typ, f.Name)
			}
		}
	}
}
