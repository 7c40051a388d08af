package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/storage"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/e2e")

// TestCLIGolden pins the human-readable CLI output (refresh with
// go test ./cmd/ingestd -run TestCLIGolden -update).
func TestCLIGolden(t *testing.T) {
	loc := time.Local
	time.Local = time.UTC
	defer func() { time.Local = loc }()
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	id := "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
	doc := wire.Asset{
		Asset: storage.Asset{ID: id, Size: 10485760, FirstSeen: t0,
			Hashes: storage.Hashes{BLAKE3: id, XXH128: "b5e9c1ad071b3e7fc779cfaa5e523818"}},
		Locations: []storage.Location{
			{Volume: "footage", Path: "day 1/A001_C002.mov", Size: 10485760, MTime: t0.Add(-time.Hour), State: storage.LocPresent},
			{Volume: "footage", Path: "odd\nname.mov", Size: 10485760, MTime: t0, State: storage.LocPresent},
			{Volume: "cards", Path: "gone.mov", Size: 10485760, MTime: t0, State: storage.LocRemoved},
			{Volume: "footage", Path: "a\xff.mov", Size: 10485760, MTime: t0, State: storage.LocPresent},
			{Volume: "footage", Path: "a\xfe.mov", Size: 10485760, MTime: t0, State: storage.LocRemoved, Removed: t0.Add(time.Minute)},
			{Volume: "footage", Path: "over\u202ewritten.mov", Size: 10485760, MTime: t0, State: storage.LocRemoved,
				Removed: t0.Add(2 * time.Minute), ReplacedBy: "0b5dc3e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c6"},
		},
	}
	st := wire.Status{
		Version: "v1.0.0", ApplianceID: "studio-a", Started: t0, Ready: true,
		Volumes: []wire.VolumeStatus{
			{Name: "footage", Path: "/mnt/nas/footage", Online: true, WatchMode: "inotify", Files: 1234, Bytes: 5 << 40, LastScan: t0},
			{Name: "cards", Path: "/srv/cards", Online: false, Reason: "mount root missing"},
			{Name: "archive", Path: "/mnt/nfs/archive", Online: true, WatchMode: "walk", Files: 99, Bytes: 1 << 30, LastScan: t0,
				Scanning: true, StalledSeconds: 95},
		},
		Queues:  wire.Queues{Settling: 3, Hashing: 1},
		Ingest:  wire.IngestStats{FilesSeen: 1240, FilesHashed: 1236, BytesHashed: 3 << 30},
		Catalog: wire.CatalogStatus{LastSeq: 5678, LSMBytes: 1 << 20, VlogBytes: 8 << 20},
		Proxy: &wire.ProxyStatus{TranscodeStatus: wire.TranscodeStatus{Enabled: true, Detected: true, Queued: 2,
			Lanes: []wire.LaneStatus{{Name: "cpu", Slots: 1, Queued: 2, Running: 1}},
			Running: []wire.JobStatus{{AssetID: id, Lane: "cpu", Encoder: "libx264", Started: t0,
				OutTimeUS: 41_000_000, DurationUS: 120_000_000, Frame: 984, Speed: 3.1}},
			Done: map[string]int{"ready": 120, "failed": 2}}},
		Sync: &wire.SyncStatus{
			S3: &wire.S3Status{Bucket: "studio-hub", Prefix: "edge", BacklogAssets: 3, BacklogObjects: 9, BacklogBytes: 16367928,
				InFlight:    []wire.InFlight{{Key: "edge/box1/assets/af13/proxy.mp4", Bytes: 8 << 20, Total: 40 << 20, Rate: 4 << 20}},
				LastSuccess: t0, LastError: "hub.s3: connection refused", LastErrorAt: t0.Add(time.Minute),
				RateLimit: "unlimited", AssetsSynced: 120, BytesUploaded: 987654321},
			Webhook: &wire.WebhookStatus{URL: "https://hub.example.com/ingestd/events", Delivered: 5678, LastSuccess: t0,
				Batches: 57, Events: 5678},
		},
	}
	cases := []struct {
		name  string
		print func(w *tabwriter.Writer)
	}{
		{"status", func(w *tabwriter.Writer) { printStatus(w, st, t0.Add(90*time.Minute)) }},
		{"assets", func(w *tabwriter.Writer) {
			printAssets(w, wire.AssetsPage{Assets: []wire.Asset{doc}, Next: id})
		}},
		{"asset", func(w *tabwriter.Writer) { printAsset(w, doc) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
			tc.print(tw)
			tw.Flush()
			golden := filepath.Join("..", "..", "testdata", "e2e", "cli_"+tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("output differs from %s:\n%s\nwant:\n%s", golden, buf.Bytes(), want)
			}
		})
	}
}

// TestProxyNotRunning: a transcode stage that could not start (no
// ffmpeg) shows its error instead of lanes.
func TestProxyNotRunning(t *testing.T) {
	var out bytes.Buffer
	printProxyStatus(&out, wire.ProxyStatus{Error: "ffmpeg: executable file not found in $PATH"})
	if got, want := out.String(), "proxy\tnot running: ffmpeg: executable file not found in $PATH\n"; got != want {
		t.Errorf("status line %q, want %q", got, want)
	}
}
