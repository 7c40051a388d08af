package wire

import "time"

// Status is GET /v1/status. The core fields are always present; each
// section pointer is filled by its stage and absent (nil) when that stage
// does not run.
type Status struct {
	Version     string         `json:"version"`
	ApplianceID string         `json:"appliance_id"`
	CatalogID   string         `json:"catalog_id"` // new only after ingestd reset-catalog: the feed restarted at seq 1
	Started     time.Time      `json:"started"`
	Ready       bool           `json:"ready"`
	Volumes     []VolumeStatus `json:"volumes"`
	Queues      Queues         `json:"queues"`
	Ingest      IngestStats    `json:"ingest"`
	Catalog     CatalogStatus  `json:"catalog"`
	// Proxy is the transcode stage (always present: with Error when the
	// stage could not start).
	Proxy *ProxyStatus `json:"proxy,omitempty"`
	// Sync is hub sync, present when a hub target is configured.
	Sync *SyncStatus `json:"sync,omitempty"`
	// Cards: present camera cards and the fixity check.
	Cards *CardsStatus `json:"cards,omitempty"`
	// Disk: free space against disk.min_free, and the writers paused.
	Disk *DiskStatus `json:"disk,omitempty"`
	// Analysis: the edge analysis stage's queue, running jobs and
	// enrichers, present when it runs.
	Analysis *AnalysisStatus `json:"analysis,omitempty"`
}

// VolumeStatus is one watched volume in Status.
type VolumeStatus struct {
	Name      string    `json:"name"`
	Path      string    `json:"path"`
	Online    bool      `json:"online"`
	Reason    string    `json:"reason,omitempty"`
	WatchMode string    `json:"watch_mode"` // "inotify", "walk" or "none" (offline)
	Watches   int       `json:"watches"`
	Files     int64     `json:"files"`
	Bytes     int64     `json:"bytes"`
	LastScan  time.Time `json:"last_scan"`
	// LastScanSeconds is how long the last reconcile walk took.
	LastScanSeconds float64 `json:"last_scan_seconds"`
	Scanning        bool    `json:"scanning"`
	// StalledSeconds is how long the running walk has had no answer from
	// the filesystem, once over 30 s (a hung NAS mount); absent otherwise.
	StalledSeconds float64 `json:"stalled_seconds,omitempty"`
}

// Queues are the ingest pipeline's queue depths.
type Queues struct {
	Settling int `json:"settling"`
	Hashing  int `json:"hashing"`
}

// IngestStats are the pipeline's counters since start.
type IngestStats struct {
	FilesSeen   uint64 `json:"files_seen"`   // new or changed files queued to settle
	FilesHashed uint64 `json:"files_hashed"` // files read and hashed (unchanged files are only stat'ed)
	BytesHashed uint64 `json:"bytes_hashed"`
}

// CatalogStatus describes the catalog.
type CatalogStatus struct {
	LastSeq   uint64 `json:"last_seq"`
	LSMBytes  int64  `json:"lsm_bytes"`
	VlogBytes int64  `json:"vlog_bytes"`
}

// ProxyStatus is the `proxy` section: the transcode stage's status, plus
// Error when the stage could not be started.
type ProxyStatus struct {
	TranscodeStatus
	Error string `json:"error,omitempty"`
}

// TranscodeStatus is the transcode stage's own status (package transcode).
type TranscodeStatus struct {
	Enabled      bool           `json:"enabled"`
	Detected     bool           `json:"detected"` // hardware trials finished
	Capabilities Capabilities   `json:"capabilities"`
	Lanes        []LaneStatus   `json:"lanes"`
	Queued       int            `json:"queued"`
	Running      []JobStatus    `json:"running"`
	Done         map[string]int `json:"done"` // since start, by final status
	// DoneByLane splits Done by the lane that ran the job's last attempt:
	// lane (gpu|cpu) -> final status -> count since start.
	DoneByLane map[string]map[string]int `json:"done_by_lane,omitempty"`
}

// Capabilities are the encoders and decoders the hardware trials found.
type Capabilities struct {
	GPUMode   string            `json:"gpu_mode"`         // auto | off | require, as configured
	CUDA      bool              `json:"cuda"`             // a CUDA device could be opened by FFmpeg
	NVDEC     map[string]bool   `json:"nvdec,omitempty"`  // codec (h264, hevc, hevc10, mpeg2video, …) -> decodes on the GPU
	ScaleCUDA bool              `json:"scale_cuda"`       // scale_cuda works
	NVENC     bool              `json:"nvenc"`            // h264_nvenc encodes
	VAAPI     string            `json:"vaapi,omitempty"`  // render node where h264_vaapi encodes
	QSV       bool              `json:"qsv"`              // h264_qsv encodes
	LibX264   bool              `json:"libx264"`          // the CPU encoder is present
	Errors    map[string]string `json:"errors,omitempty"` // trial -> why it failed (short)
}

// LaneStatus is one transcode lane's load.
type LaneStatus struct {
	Name    string `json:"name"` // gpu | cpu
	Slots   int    `json:"slots"`
	Queued  int    `json:"queued"`
	Running int    `json:"running"`
}

// JobStatus is one running transcode job; progress is OutTimeUS / DurationUS.
type JobStatus struct {
	AssetID    string    `json:"asset_id"`
	Lane       string    `json:"lane"`
	Encoder    string    `json:"encoder"`
	Started    time.Time `json:"started"`
	OutTimeUS  int64     `json:"out_time_us"`
	DurationUS int64     `json:"duration_us"`
	Frame      int64     `json:"frame"`
	Speed      float64   `json:"speed"`
}

// SyncStatus is the `sync` section; a target that is not configured is
// omitted.
type SyncStatus struct {
	S3      *S3Status      `json:"s3,omitempty"`
	Webhook *WebhookStatus `json:"webhook,omitempty"`
}

// S3Status is the S3 pusher's part of the sync section (package
// sync/s3push).
type S3Status struct {
	Endpoint       string     `json:"endpoint,omitempty"`
	Bucket         string     `json:"bucket"`
	Prefix         string     `json:"prefix"`
	BacklogAssets  int        `json:"backlog_assets"`
	BacklogObjects int        `json:"backlog_objects"`
	BacklogBytes   int64      `json:"backlog_bytes"`
	InFlight       []InFlight `json:"in_flight"`
	LastSuccess    time.Time  `json:"last_success,omitzero"`
	LastError      string     `json:"last_error,omitempty"`
	LastErrorAt    time.Time  `json:"last_error_at,omitzero"`
	RetryAt        time.Time  `json:"retry_at,omitzero"` // backing off until then
	RateLimit      string     `json:"rate_limit"`        // "unlimited" or e.g. "20.0MiB/s"
	RateLimitBytes float64    `json:"rate_limit_bytes"`  // bytes/s, 0 = unlimited
	Concurrency    int        `json:"concurrency"`       // requests carrying data at once (hub.s3.concurrency)
	AssetsSynced   uint64     `json:"assets_synced"`     // since start
	BytesUploaded  int64      `json:"bytes_uploaded"`    // since start
	ObjectsSkipped uint64     `json:"objects_skipped"`   // already in the bucket
	// AttemptFailures counts request attempts that failed in transport
	// (refused, reset, timed out, stalled), retries included, since start.
	AttemptFailures uint64 `json:"attempt_failures"`
}

// InFlight is one upload in progress.
type InFlight struct {
	Key   string  `json:"key"`
	Bytes int64   `json:"bytes"`
	Total int64   `json:"total"`
	Rate  float64 `json:"rate"` // bytes/s since the upload started
}

// WebhookStatus is the webhook notifier's part of the sync section
// (package sync/webhook).
type WebhookStatus struct {
	URL         string    `json:"url"`
	Delivered   uint64    `json:"delivered_seq"` // last seq the hub acknowledged
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Parked      *Parked   `json:"parked,omitempty"`
	Batches     uint64    `json:"batches_sent"` // since start
	Events      uint64    `json:"events_sent"`
}

// Parked is a webhook batch the hub refused for good, kept until unparked.
type Parked struct {
	First  uint64    `json:"first_seq"`
	Last   uint64    `json:"last_seq"`
	Code   int       `json:"code"`
	Error  string    `json:"error"`
	Since  time.Time `json:"since"`
	Unpark string    `json:"unpark"` // how to resume
}

// DiskStatus is the `disk` section: the free-space guard (package
// daemon/diskguard) and the writers it pauses.
type DiskStatus struct {
	MinFree string     `json:"min_free"`
	Low     bool       `json:"low"` // some path is below its floor
	Paths   []DiskPath `json:"paths"`
	// Paused lists the writers paused now: ingest, transcode, cards.
	Paused []string `json:"paused"`
}

// DiskPath is one guarded (or reported) path of the disk section.
type DiskPath struct {
	Name         string `json:"name"` // state_dir, offload:<volume>, volume:<volume>
	Path         string `json:"path"`
	FreeBytes    uint64 `json:"free_bytes"`
	TotalBytes   uint64 `json:"total_bytes"`
	MinFreeBytes uint64 `json:"min_free_bytes"`
	Low          bool   `json:"low"`
	// Error is why the last check failed (statfs error, no answer).
	Error string `json:"error,omitempty"`
}

// AnalysisStatus is the `analysis` section (package analysis).
type AnalysisStatus struct {
	Enabled bool `json:"enabled"`
	Slots   int  `json:"slots"`
	Queued  int  `json:"queued"`
	// Running are the jobs in progress.
	Running []AnalysisJob `json:"running"`
	// Done counts finished jobs since the start by status (ready, failed).
	Done map[string]int `json:"done"`
	// Enrichers are the configured enrichers, in order, with their counts
	// since the start and their last error.
	Enrichers []EnricherStatus `json:"enrichers"`
}

// AnalysisJob is one analysis in progress.
type AnalysisJob struct {
	AssetID string    `json:"asset_id"`
	Started time.Time `json:"started"`
	// Step is "waiting" (for the proxy stage to have nothing queued),
	// "ffmpeg" or "enricher:<name>".
	Step string `json:"step"`
	// Progress is the fraction (0..1) of the programme FFmpeg has read.
	Progress float64 `json:"progress"`
}

// EnricherStatus is one enricher in AnalysisStatus.
type EnricherStatus struct {
	Name           string     `json:"name"`
	Ready          int        `json:"ready"`
	Failed         int        `json:"failed"`
	LastError      string     `json:"last_error,omitempty"`
	LastErrorAsset string     `json:"last_error_asset,omitempty"`
	LastErrorAt    *time.Time `json:"last_error_at,omitempty"`
}
