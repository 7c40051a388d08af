// Package metrics serves ingestd's GET /metrics in the Prometheus text
// format. It is one custom prometheus.Collector that reads the components'
// own Status() snapshots at scrape time, one Part per running stage (ingest
// pipeline, catalog, transcode lanes, S3 pusher, webhook notifier, disk
// guard, cards), plus the Go and process collectors.
//
// It owns metric names, labels and the registry only. It must not keep
// counters of its own, start goroutines, or be imported by the components:
// they stay free of Prometheus. Package daemon builds the Parts from each
// stage's registration (daemon/stage_<name>.go); a stage that is not
// running contributes no Part, hence no series. A new stage's series are a
// Part of its own, with descriptors from NewDesc.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ingestd/ingestd/daemon/diskguard"
	"github.com/ingestd/ingestd/daemon/ingest"
	"github.com/ingestd/ingestd/sync/s3push"
	"github.com/ingestd/ingestd/sync/webhook"
	"github.com/ingestd/ingestd/transcode"
)

// Sources are what is read at each scrape.
type Sources struct {
	Version string
	// Parts are the running stages' series (and the catalog's).
	Parts []Part
}

// A Part is one stage's series: Collect reads the stage's snapshot and
// emits one sample per series. Descs lists the descriptors Collect may
// use beyond the ones this package defines (a new stage's own, from
// NewDesc); a Part of this package leaves it empty.
type Part struct {
	Descs   []*prometheus.Desc
	Collect func(emit Emit)
}

// Emit sends one sample: descriptor, type, value and label values in the
// descriptor's order.
type Emit func(d *prometheus.Desc, t prometheus.ValueType, v float64, labelValues ...string)

// NewDesc is a descriptor named ingestd_<name>, for a stage's own Part.
func NewDesc(name, help string, labels ...string) *prometheus.Desc {
	return desc(name, help, labels...)
}

// CardDest is one destination of a card in progress (cards section of the
// status).
type CardDest struct {
	Card, Key, Dest, State string
	Done, Verified, Total  int64
	Rate, ETA              float64
	Safe                   bool
}

const ns = "ingestd"

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(ns+"_"+name, help, labels, nil)
}

var (
	dBuild       = desc("build_info", "Build of the running daemon (value 1).", "version")
	dFilesSeen   = desc("ingest_files_seen_total", "Files queued to settle (new or changed) since start.")
	dFilesHashed = desc("ingest_files_hashed_total", "Files read and hashed since start.")
	dFilesRejct  = desc("ingest_files_rejected_total", "Settled files that were no regular file when opened to hash (swapped for a FIFO, link or device): skipped unread.")
	dBytesHashed = desc("ingest_hashed_bytes_total", "Bytes read and hashed since start; hashing throughput is rate(ingestd_ingest_hashed_bytes_total[5m]).")
	dQueue       = desc("queue_depth", "Items waiting or in work per pipeline stage.", "stage")
	dVolOnline   = desc("volume_online", "1 when the volume is mounted, verified and watched, else 0.", "volume")
	dVolScanning = desc("volume_scanning", "1 while a reconcile walk (initial scan or rescan) runs.", "volume")
	dVolStalled  = desc("volume_walk_stalled_seconds", "How long the running walk has had no answer from the filesystem, once over 30 s (a hung mount); 0 otherwise.", "volume")
	dVolFiles    = desc("volume_files", "Locations present on the volume in the catalog.", "volume")
	dVolBytes    = desc("volume_bytes", "Bytes of the locations present on the volume.", "volume")
	dVolWatches  = desc("volume_inotify_watches", "inotify watches held for the volume.", "volume")
	dVolWalkMode = desc("volume_walk_mode", "1 when the volume is only walked (no inotify), else 0.", "volume")
	dVolLastScan = desc("volume_last_scan_timestamp_seconds", "End of the last reconcile walk (unix seconds); absent before the first.", "volume")
	dVolScanSecs = desc("volume_last_scan_duration_seconds", "Duration of the last reconcile walk.", "volume")
	dCatSize     = desc("catalog_size_bytes", "Badger on-disk size by part.", "part")
	dCatSeq      = desc("catalog_last_event_seq", "Sequence number of the last event in the log.")
	dProxyJobs   = desc("proxy_jobs_total", "Proxy jobs finished since start, by final result and lane.", "result", "lane")
	dProxyLane   = desc("proxy_lane_jobs", "Proxy jobs per lane and state (queued, running) and the lane's slots.", "lane", "state")
	dProxyGPU    = desc("proxy_gpu_usable", "1 when the NVIDIA pipeline passed its trial runs.")
	dS3Uploaded  = desc("sync_uploaded_bytes_total", "Bytes uploaded to the hub bucket since start.")
	dS3Synced    = desc("sync_assets_synced_total", "Assets whose objects all reached the hub bucket since start.")
	dS3Skipped   = desc("sync_objects_skipped_total", "Objects already in the bucket (not sent again) since start.")
	dS3Backlog   = desc("sync_backlog", "Sync backlog by unit (assets, objects, bytes).", "unit")
	dS3InFlight  = desc("sync_uploads_in_flight", "Uploads in progress.")
	dS3LastOK    = desc("sync_last_success_timestamp_seconds", "Last successful upload to the hub (unix seconds); 0 before the first.")
	dS3Failing   = desc("sync_backing_off", "1 while uploads back off after a hub failure.")
	dS3RateLimit = desc("sync_rate_limit_bytes_per_second", "Current bandwidth limit (0 = unlimited).")
	dHookSeq     = desc("webhook_delivered_seq", "Last event seq the hub acknowledged.")
	dHookEvents  = desc("webhook_events_sent_total", "Events delivered to the webhook since start.")
	dHookBatches = desc("webhook_batches_sent_total", "Batches delivered to the webhook since start.")
	dHookLastOK  = desc("webhook_last_success_timestamp_seconds", "Last accepted webhook batch (unix seconds); 0 before the first.")
	dHookParked  = desc("webhook_parked", "1 while delivery is parked on a rejected batch.")
	dHookBacklog = desc("webhook_backlog_events", "Events in the log not yet acknowledged by the hub (last seq - delivered seq).")
	dDiskFree    = desc("disk_free_bytes", "Free bytes (for the daemon's user) on the filesystem of a guarded path.", "name", "path")
	dDiskFloor   = desc("disk_min_free_bytes", "The disk.min_free floor of a guarded path, in bytes.", "name", "path")
	dDiskLow     = desc("disk_low", "1 while a guarded path is below disk.min_free (its writers are paused), else 0.", "name", "path")
	dDiskLowAny  = desc("disk_paused", "1 while any guarded path is below disk.min_free, else 0.")
	dCardDone    = desc("card_bytes_done", "Bytes of a card written at one destination (card = label, key = card key, dest = volume).", "card", "key", "dest")
	dCardVerif   = desc("card_bytes_verified", "Bytes of a card re-read and matched at one destination.", "card", "key", "dest")
	dCardTotal   = desc("card_bytes_total", "Bytes of the card's files.", "card", "key", "dest")
	dCardRate    = desc("card_rate_bytes_per_second", "Write rate at one destination, smoothed (0 when idle).", "card", "key", "dest")
	dCardETA     = desc("card_eta_seconds", "Estimated seconds until the destination is written and verified (0: unknown or done).", "card", "key", "dest")
	dCardDestOK  = desc("card_dest_verified", "1 when the destination is verified, else 0.", "card", "key", "dest")
	dCardSafe    = desc("card_safe_to_format", "1 once every destination of the card is verified and recorded (safe to format), else 0.", "card", "key")
	allDescs     = []*prometheus.Desc{dCardDone, dCardVerif, dCardTotal, dCardRate, dCardETA, dCardDestOK, dCardSafe, dFilesRejct, dDiskFree, dDiskFloor, dDiskLow, dDiskLowAny, dBuild, dFilesSeen, dFilesHashed, dBytesHashed, dQueue, dVolOnline, dVolScanning, dVolStalled, dVolFiles, dVolBytes, dVolWatches, dVolWalkMode, dVolLastScan, dVolScanSecs, dCatSize, dCatSeq, dProxyJobs, dProxyLane, dProxyGPU, dS3Uploaded, dS3Synced, dS3Skipped, dS3Backlog, dS3InFlight, dS3LastOK, dS3Failing, dS3RateLimit, dHookSeq, dHookEvents, dHookBatches, dHookLastOK, dHookParked, dHookBacklog}
	proxyResults = []string{transcode.StatusReady, transcode.StatusFailed, transcode.StatusUnsupported}
	proxyLanes   = []string{transcode.LaneGPU, transcode.LaneCPU}
)

// Collector is the prometheus.Collector over Sources.
type Collector struct{ src Sources }

// NewCollector returns a collector reading src at every scrape.
func NewCollector(src Sources) *Collector { return &Collector{src: src} }

// Describe sends every descriptor the collector may emit.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	seen := map[*prometheus.Desc]bool{}
	for _, d := range allDescs {
		seen[d] = true
		ch <- d
	}
	for _, p := range c.src.Parts {
		for _, d := range p.Descs {
			if !seen[d] {
				seen[d] = true
				ch <- d
			}
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

const gauge, counter = prometheus.GaugeValue, prometheus.CounterValue

// Collect reads the sources and sends one sample per series.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	m := func(d *prometheus.Desc, t prometheus.ValueType, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, v, lv...)
	}
	if c.src.Version != "" {
		m(dBuild, gauge, 1, c.src.Version)
	}
	for _, p := range c.src.Parts {
		if p.Collect != nil {
			p.Collect(m)
		}
	}
}

// Ingest is the ingest pipeline's series (files, bytes, queues, volumes).
func Ingest(status func() ingest.Status) Part {
	return Part{Collect: func(m Emit) {
		st := status()
		m(dFilesSeen, counter, float64(st.FilesSeen))
		m(dFilesHashed, counter, float64(st.FilesHashed))
		m(dBytesHashed, counter, float64(st.BytesHashed))
		m(dFilesRejct, counter, float64(st.FilesRejected))
		m(dQueue, gauge, float64(st.Queues.Settling), "settling")
		m(dQueue, gauge, float64(st.Queues.Hashing), "hashing")
		for _, v := range st.Volumes {
			m(dVolOnline, gauge, b2f(v.Online), v.Name)
			m(dVolScanning, gauge, b2f(v.Scanning), v.Name)
			m(dVolStalled, gauge, v.Stalled.Seconds(), v.Name)
			m(dVolFiles, gauge, float64(v.Files), v.Name)
			m(dVolBytes, gauge, float64(v.Bytes), v.Name)
			m(dVolWatches, gauge, float64(v.Watches), v.Name)
			m(dVolWalkMode, gauge, b2f(v.WatchMode == "walk"), v.Name)
			if !v.LastScan.IsZero() {
				m(dVolLastScan, gauge, unix(v.LastScan), v.Name)
				m(dVolScanSecs, gauge, v.LastScanDuration.Seconds(), v.Name)
			}
		}
	}}
}

// Catalog is Badger's LSM and value-log sizes and the last event seq.
func Catalog(size func() (lsm, vlog int64, lastSeq uint64)) Part {
	return Part{Collect: func(m Emit) {
		lsm, vlog, seq := size()
		m(dCatSize, gauge, float64(lsm), "lsm")
		m(dCatSize, gauge, float64(vlog), "vlog")
		m(dCatSeq, gauge, float64(seq))
	}}
}

// Proxy is the transcode stage's series; ok=false (not running): none.
func Proxy(status func() (transcode.Status, bool)) Part {
	return Part{Collect: func(m Emit) {
		if st, ok := status(); ok {
			collectProxy(m, st)
		}
	}}
}

// S3 is the hub.s3 pusher's series; ok=false: none.
func S3(status func() (s3push.Status, bool)) Part {
	return Part{Collect: func(m Emit) {
		st, ok := status()
		if !ok {
			return
		}
		m(dS3Uploaded, counter, float64(st.BytesUploaded))
		m(dS3Synced, counter, float64(st.AssetsSynced))
		m(dS3Skipped, counter, float64(st.ObjectsSkipped))
		m(dS3Backlog, gauge, float64(st.BacklogAssets), "assets")
		m(dS3Backlog, gauge, float64(st.BacklogObjects), "objects")
		m(dS3Backlog, gauge, float64(st.BacklogBytes), "bytes")
		m(dQueue, gauge, float64(st.BacklogObjects), "sync")
		m(dS3InFlight, gauge, float64(len(st.InFlight)))
		m(dS3LastOK, gauge, unix(st.LastSuccess))
		m(dS3Failing, gauge, b2f(!st.RetryAt.IsZero()))
		m(dS3RateLimit, gauge, st.RateLimitBytes)
	}}
}

// Disk is the free-space guard's series (state dir, card destinations,
// watched volumes); ok=false: none.
func Disk(status func() (diskguard.Status, bool)) Part {
	return Part{Collect: func(m Emit) {
		st, ok := status()
		if !ok {
			return
		}
		for _, p := range st.Paths {
			m(dDiskFree, gauge, float64(p.FreeBytes), p.Name, p.Path)
			m(dDiskFloor, gauge, float64(p.MinFreeBytes), p.Name, p.Path)
			m(dDiskLow, gauge, b2f(p.Low), p.Name, p.Path)
		}
		m(dDiskLowAny, gauge, b2f(st.Low))
	}}
}

// Cards are the destinations of the cards being offloaded or filled.
func Cards(dests func() []CardDest) Part {
	return Part{Collect: func(m Emit) {
		safe := map[[2]string]bool{}
		for _, d := range dests() {
			m(dCardDone, gauge, float64(d.Done), d.Card, d.Key, d.Dest)
			m(dCardVerif, gauge, float64(d.Verified), d.Card, d.Key, d.Dest)
			m(dCardTotal, gauge, float64(d.Total), d.Card, d.Key, d.Dest)
			m(dCardRate, gauge, d.Rate, d.Card, d.Key, d.Dest)
			m(dCardETA, gauge, d.ETA, d.Card, d.Key, d.Dest)
			m(dCardDestOK, gauge, b2f(d.State == "verified"), d.Card, d.Key, d.Dest)
			k := [2]string{d.Card, d.Key}
			if _, ok := safe[k]; !ok {
				safe[k] = d.Safe
				m(dCardSafe, gauge, b2f(d.Safe), d.Card, d.Key)
			}
		}
	}}
}

// Webhook is the hub.webhook notifier's series; ok=false: none. lastSeq
// (the catalog's last event seq; nil: unknown) gives the backlog.
func Webhook(status func() (webhook.Status, bool), lastSeq func() uint64) Part {
	return Part{Collect: func(m Emit) {
		st, ok := status()
		if !ok {
			return
		}
		m(dHookSeq, gauge, float64(st.Delivered))
		m(dHookEvents, counter, float64(st.Events))
		m(dHookBatches, counter, float64(st.Batches))
		m(dHookLastOK, gauge, unix(st.LastSuccess))
		m(dHookParked, gauge, b2f(st.Parked != nil))
		if lastSeq != nil {
			if seq := lastSeq(); seq >= st.Delivered {
				m(dHookBacklog, gauge, float64(seq-st.Delivered))
			}
		}
	}}
}

func collectProxy(m Emit, st transcode.Status) {
	// Every result x lane pair is always present (0 until it happens), so
	// rate() and increase() see the first job.
	for _, lane := range proxyLanes {
		for _, r := range proxyResults {
			m(dProxyJobs, counter, float64(st.DoneByLane[lane][r]), r, lane)
		}
	}
	running := 0
	for _, l := range st.Lanes {
		m(dProxyLane, gauge, float64(l.Queued), l.Name, "queued")
		m(dProxyLane, gauge, float64(l.Running), l.Name, "running")
		m(dProxyLane, gauge, float64(l.Slots), l.Name, "slots")
		running += l.Running
	}
	m(dQueue, gauge, float64(st.Queued), "proxy_queued")
	m(dQueue, gauge, float64(running), "proxy_running")
	m(dProxyGPU, gauge, b2f(transcode.Capabilities(st.Capabilities).GPU()))
}

// NewRegistry returns a registry with the collector and the Go and process
// collectors.
func NewRegistry(src Sources) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves the registry in the Prometheus exposition format.
// Authentication is the caller's (the API's bearer token wraps it).
func Handler(src Sources) http.Handler {
	reg := NewRegistry(src)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:            reg,
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             30 * time.Second,
	})
}
