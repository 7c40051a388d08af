package metrics

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ingestd/ingestd/daemon/ingest"
	"github.com/ingestd/ingestd/storage/catalog"
	"github.com/ingestd/ingestd/sync/s3push"
	"github.com/ingestd/ingestd/sync/webhook"
	"github.com/ingestd/ingestd/transcode"
)

// scrape GETs the handler and parses the text exposition format.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("content type %q, want text/plain (exposition format)", ct)
	}
	// Prometheus naming conventions (promtool check metrics' rules: _total
	// on counters only, base units, no type in the name, help present).
	problems, err := promlint.New(bytes.NewReader(rec.Body.Bytes())).Lint()
	if err != nil {
		t.Fatalf("lint /metrics: %v", err)
	}
	for _, p := range problems {
		t.Errorf("/metrics: %s: %s", p.Metric, p.Text)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value returns the sample of family name whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func must(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := value(t, fams, name, labels)
	if !ok {
		t.Fatalf("no sample %s%v in /metrics", name, labels)
	}
	return v
}

// TestIngestActivity runs a real pipeline on a real catalog and checks that
// the counters, queue gauges, volume state and Badger size follow a file
// being ingested.
func TestIngestActivity(t *testing.T) {
	dir := t.TempDir()
	vol := filepath.Join(dir, "vol")
	if err := os.Mkdir(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cat, err := catalog.Open(filepath.Join(dir, "catalog"), catalog.Options{NoSyncWrites: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	pipe, err := ingest.New(ingest.Config{Volumes: []ingest.Volume{{Name: "footage", Path: vol}}, Settle: 100 * time.Millisecond, Rescan: time.Minute}, cat, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pipe.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case <-pipe.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("pipeline not ready")
	}
	h := Handler(Sources{
		Version: "test",
		Parts: []Part{
			Ingest(pipe.Status),
			Catalog(func() (int64, int64, uint64) { l, v := cat.Size(); return l, v, cat.LastSeq() }),
		},
	})
	before := scrape(t, h)
	if v := must(t, before, "ingestd_ingest_hashed_bytes_total", nil); v != 0 {
		t.Fatalf("hashed bytes before any file: %v", v)
	}
	if v := must(t, before, "ingestd_volume_online", map[string]string{"volume": "footage"}); v != 1 {
		t.Fatalf("volume_online{footage} = %v, want 1", v)
	}
	if f := before["ingestd_ingest_hashed_bytes_total"]; f.GetType() != dto.MetricType_COUNTER {
		t.Fatalf("hashed bytes type %v, want counter", f.GetType())
	}
	must(t, before, "ingestd_queue_depth", map[string]string{"stage": "settling"})
	must(t, before, "ingestd_queue_depth", map[string]string{"stage": "hashing"})
	must(t, before, "ingestd_build_info", map[string]string{"version": "test"})
	must(t, before, "go_goroutines", nil)
	must(t, before, "process_resident_memory_bytes", nil)
	seq0 := must(t, before, "ingestd_catalog_last_event_seq", nil)
	if _, ok := value(t, before, "ingestd_proxy_jobs_total", nil); ok {
		t.Fatal("proxy series without a transcode stage")
	}

	data := []byte(strings.Repeat("ingestd metrics ", 4096)) // 64 KiB
	if err := os.WriteFile(filepath.Join(vol, "A001.mov"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	var after map[string]*dto.MetricFamily
	for {
		after = scrape(t, h)
		if v, _ := value(t, after, "ingestd_volume_files", map[string]string{"volume": "footage"}); v == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("file not cataloged within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ingestd_ingest_hashed_bytes_total", nil, float64(len(data))},
		{"ingestd_ingest_files_hashed_total", nil, 1},
		{"ingestd_ingest_files_seen_total", nil, 1},
		{"ingestd_volume_bytes", map[string]string{"volume": "footage"}, float64(len(data))},
		{"ingestd_queue_depth", map[string]string{"stage": "hashing"}, 0},
	} {
		if got := must(t, after, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if seq := must(t, after, "ingestd_catalog_last_event_seq", nil); seq <= seq0 {
		t.Errorf("last event seq %v did not advance past %v", seq, seq0)
	}
	// Badger refreshes its size once a minute: only presence is checked.
	must(t, after, "ingestd_catalog_size_bytes", map[string]string{"part": "lsm"})
	must(t, after, "ingestd_catalog_size_bytes", map[string]string{"part": "vlog"})

	// The volume goes away: the gauge follows on the next check.
	if err := os.Rename(vol, vol+".gone"); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(45 * time.Second)
	for {
		if v, _ := value(t, scrape(t, h), "ingestd_volume_online", map[string]string{"volume": "footage"}); v == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("volume_online stayed 1 after the root was removed")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestStageSeries checks names, labels and values of the transcode and
// sync series from their Status snapshots.
func TestStageSeries(t *testing.T) {
	last := time.Date(2026, 11, 23, 9, 0, 38, 0, time.UTC)
	h := Handler(Sources{Parts: []Part{
		Catalog(func() (int64, int64, uint64) { return 10, 20, 100 }),
		Proxy(func() (transcode.Status, bool) {
			return transcode.Status{
				Lanes:      []transcode.LaneStatus{{Name: "gpu", Slots: 2, Queued: 3, Running: 2}, {Name: "cpu", Slots: 1, Queued: 0, Running: 1}},
				Queued:     3,
				Done:       map[string]int{"ready": 5, "failed": 1},
				DoneByLane: map[string]map[string]int{"gpu": {"ready": 4}, "cpu": {"ready": 1, "failed": 1}},
			}, true
		}),
		S3(func() (s3push.Status, bool) {
			return s3push.Status{BacklogAssets: 3, BacklogObjects: 9, BacklogBytes: 16367928, BytesUploaded: 987654321,
				AssetsSynced: 120, LastSuccess: last, InFlight: []s3push.InFlight{{Key: "k", Bytes: 1, Total: 2}}}, true
		}),
		Webhook(func() (webhook.Status, bool) {
			return webhook.Status{Delivered: 90, Events: 90, Batches: 3, Parked: &webhook.Parked{}}, true
		}, func() uint64 { return 100 }),
	}})
	fams := scrape(t, h)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ingestd_proxy_jobs_total", map[string]string{"result": "ready", "lane": "gpu"}, 4},
		{"ingestd_proxy_jobs_total", map[string]string{"result": "ready", "lane": "cpu"}, 1},
		{"ingestd_proxy_jobs_total", map[string]string{"result": "failed", "lane": "cpu"}, 1},
		{"ingestd_proxy_jobs_total", map[string]string{"result": "unsupported", "lane": "gpu"}, 0},
		{"ingestd_proxy_lane_jobs", map[string]string{"lane": "gpu", "state": "running"}, 2},
		{"ingestd_proxy_lane_jobs", map[string]string{"lane": "gpu", "state": "slots"}, 2},
		{"ingestd_queue_depth", map[string]string{"stage": "proxy_queued"}, 3},
		{"ingestd_queue_depth", map[string]string{"stage": "proxy_running"}, 3},
		{"ingestd_queue_depth", map[string]string{"stage": "sync"}, 9},
		{"ingestd_sync_backlog", map[string]string{"unit": "bytes"}, 16367928},
		{"ingestd_sync_backlog", map[string]string{"unit": "objects"}, 9},
		{"ingestd_sync_uploaded_bytes_total", nil, 987654321},
		{"ingestd_sync_assets_synced_total", nil, 120},
		{"ingestd_sync_last_success_timestamp_seconds", nil, float64(last.Unix())},
		{"ingestd_sync_uploads_in_flight", nil, 1},
		{"ingestd_webhook_delivered_seq", nil, 90},
		{"ingestd_webhook_parked", nil, 1},
		{"ingestd_webhook_backlog_events", nil, 10},
	} {
		if got := must(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if fams["ingestd_sync_uploaded_bytes_total"].GetType() != dto.MetricType_COUNTER {
		t.Error("sync_uploaded_bytes_total is not a counter")
	}
	if _, ok := value(t, fams, "ingestd_ingest_hashed_bytes_total", nil); ok {
		t.Error("ingest series without an ingest source")
	}
}

// BenchmarkScrape measures one full scrape (collector, Go and process
// collectors, text encoding) with 32 volumes and all stages present.
func BenchmarkScrape(b *testing.B) {
	st := ingest.Status{FilesSeen: 1e6, BytesHashed: 1e12}
	for i := range 32 {
		st.Volumes = append(st.Volumes, ingest.VolumeStatus{Name: "vol" + string(rune('a'+i%26)) + string(rune('0'+i/26)), Online: true, LastScan: time.Now()})
	}
	h := Handler(Sources{Version: "bench", Parts: []Part{
		Ingest(func() ingest.Status { return st }),
		Catalog(func() (int64, int64, uint64) { return 1 << 20, 1 << 30, 123456 }),
		Proxy(func() (transcode.Status, bool) {
			return transcode.Status{Lanes: []transcode.LaneStatus{{Name: "gpu"}, {Name: "cpu"}}, DoneByLane: map[string]map[string]int{"cpu": {"ready": 5}}}, true
		}),
		S3(func() (s3push.Status, bool) { return s3push.Status{BytesUploaded: 1e9}, true }),
		Webhook(func() (webhook.Status, bool) { return webhook.Status{Delivered: 100}, true }, func() uint64 { return 123456 }),
	}})
	req := httptest.NewRequest("GET", "/metrics", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}
