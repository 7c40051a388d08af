// Package storage defines the catalog's data model: assets (content, by
// BLAKE3 id), locations (where content lives, by volume and relative path),
// volumes, the numbered events that record every change, and the card
// service's card and clip records (card.go, clip.go).
//
// It owns only types, event names and sentinel errors. It must not touch the
// disk, Badger or the network: the Badger-backed catalog lives in
// storage/catalog, and everything else (ingest, transcode, sync, the API)
// reads and writes through that catalog using these types.
package storage

import (
	"errors"
	"path/filepath"
	"time"
)

// ErrNotFound is returned (wrapped) when an asset, location, volume or state
// key does not exist. Check with errors.Is.
var ErrNotFound = errors.New("not found")

// Event types carried by the event log and served on the feed. They are part
// of the public contract in docs/api.md: add new ones, never rename.
const (
	EvAssetCataloged   = "asset.cataloged"   // content seen for the first time
	EvAssetUpdated     = "asset.updated"     // media/metadata of an asset changed, or other content took over one of its paths
	EvLocationAdded    = "location.added"    // a path now holds (known or new) content
	EvLocationChanged  = "location.changed"  // a path was rewritten with other content
	EvLocationRemoved  = "location.removed"  // a path is gone from an online volume
	EvLocationCorrupt  = "location.corrupt"  // fixity check found different bytes
	EvVolumeOffline    = "volume.offline"    // volume unmounted, emptied or replaced
	EvVolumeOnline     = "volume.online"     // volume verified and watched again
	EvProxyReady       = "proxy.ready"       // all proxy outputs of an asset are valid
	EvProxyFailed      = "proxy.failed"      // proxy failed or is unsupported
	EvAssetSynced      = "asset.synced"      // all of an asset's objects are in the bucket
	EvCardOffloaded    = "card.offloaded"    // camera card copied and verified
	EvCardFailed       = "card.failed"       // camera card offload failed
	EvCardSafe         = "card.safe"         // every destination of a card verified, MHLs and catalog synced: safe to format
	EvApplianceStarted = "appliance.started" // daemon started (feed consumers may resync)
	EvDiskLow          = "disk.low"          // state dir or offload volume below disk.min_free: writers paused
	EvDiskOK           = "disk.ok"           // free space back above the floor: writers resumed
	EvAnalysisReady    = "analysis.ready"    // technical QC and shot list of an asset are done (analysis package)
	EvAnalysisFailed   = "analysis.failed"   // analysis of an asset failed
)

// Hashes are the content digests of an asset, lowercase hex.
type Hashes struct {
	BLAKE3 string `json:"blake3"`
	XXH128 string `json:"xxh128"`
}

// Asset is one unique content, keyed by ID (lowercase hex BLAKE3-256).
// Stages after ingest attach their results (Media, Proxy, Sync, Origin).
type Asset struct {
	ID        string    `json:"id"`
	Size      int64     `json:"size"`
	Hashes    Hashes    `json:"hashes"`
	FirstSeen time.Time `json:"first_seen"`

	Kind   string      `json:"kind,omitempty"` // video | audio | image | other, once probed
	Media  *Media      `json:"media,omitempty"`
	Proxy  *ProxyInfo  `json:"proxy,omitempty"`
	Sync   *SyncInfo   `json:"sync,omitempty"`
	Origin *OriginInfo `json:"origin,omitempty"`
	// Camera: the camera card's sidecar facts (owned by the card service;
	// see Camera).
	Camera *Camera `json:"camera,omitempty"`
	// Analysis is the technical QC summary (package analysis); the full
	// result is the output analysis.json.
	Analysis *AnalysisInfo `json:"analysis,omitempty"`
}

// AnalysisInfo is the `analysis` section of an asset: the state of its
// technical QC and the verdict summary.
type AnalysisInfo struct {
	Status   string    `json:"status"`            // queued | ready | failed
	Verdict  string    `json:"verdict,omitempty"` // pass | warn | fail (worst of the checks)
	Checks   []Check   `json:"checks,omitempty"`
	Shots    int       `json:"shots,omitempty"`
	Error    string    `json:"error,omitempty"`
	Outputs  []string  `json:"outputs,omitempty"` // analysis.json, shots.jpg
	Loudness *Loudness `json:"loudness,omitempty"`
	At       time.Time `json:"at,omitzero"`
}

// Loudness is an EBU R128 measurement of a programme, and its clipping.
type Loudness struct {
	Integrated     float64 `json:"integrated_lufs"`
	Range          float64 `json:"range_lu"`
	TruePeak       float64 `json:"true_peak_dbtp"`
	SamplePeak     float64 `json:"sample_peak_dbfs"`
	ClippedSamples int64   `json:"clipped_samples"`
}

// Check is one QC verdict: a rule, its result and why.
type Check struct {
	Rule    string `json:"rule"`
	Verdict string `json:"verdict"` // pass | warn | fail
	Reason  string `json:"reason"`
}

// ProxyInfo is the state of an asset's proxy outputs.
type ProxyInfo struct {
	Status  string    `json:"status"` // queued | running | ready | failed | unsupported | none
	Profile string    `json:"profile,omitempty"`
	Lane    string    `json:"lane,omitempty"` // gpu | cpu
	Width   int       `json:"width,omitempty"`
	Height  int       `json:"height,omitempty"`
	Frames  int64     `json:"frames,omitempty"`
	Bytes   int64     `json:"bytes,omitempty"`
	Error   string    `json:"error,omitempty"`
	Outputs []string  `json:"outputs,omitempty"` // e.g. proxy.mp4, poster.jpg, filmstrip.jpg, waveform.json
	At      time.Time `json:"at,omitempty"`
}

// SyncInfo is the state of an asset's objects in the hub bucket.
type SyncInfo struct {
	Status string    `json:"status"` // pending | synced | failed
	At     time.Time `json:"at,omitempty"`
	Error  string    `json:"error,omitempty"`
}

// OriginInfo says where an asset came from when it was offloaded from a
// camera card.
type OriginInfo struct {
	CardLabel  string    `json:"card_label,omitempty"`
	CardLayout string    `json:"card_layout,omitempty"`
	OffloadAt  time.Time `json:"offload_at,omitempty"`
}

// Location states.
const (
	LocPresent = "present"
	LocRemoved = "removed"
)

// Location is one path on one volume and the content it holds (state
// present), or held (state removed, in an asset document: where the content
// was). Its JSON carries path_b64 when Path is not valid UTF-8 (see
// PathB64).
type Location struct {
	Volume  string    `json:"volume"`
	Path    string    `json:"path"` // slash-separated, relative to the volume root, as on disk (no normalisation)
	AssetID string    `json:"asset_id"`
	Size    int64     `json:"size"`
	MTime   time.Time `json:"mtime"`
	Inode   uint64    `json:"inode"`
	Dev     uint64    `json:"dev"`
	State   string    `json:"state"`
	Seen    time.Time `json:"seen"`              // when this content was cataloged at this path
	History []Version `json:"history,omitempty"` // earlier contents of this path, oldest first
	// Removed is when the content left this path (state removed): the file
	// was deleted or moved away, or, with ReplacedBy set, rewritten with
	// other content. Zero (and absent from JSON) while present.
	Removed    time.Time `json:"removed,omitzero"`
	ReplacedBy string    `json:"replaced_by,omitempty"` // the asset id that took this path over
}

// Version is an earlier content of a location.
type Version struct {
	AssetID  string    `json:"asset_id"`
	Size     int64     `json:"size"`
	MTime    time.Time `json:"mtime"`
	Replaced time.Time `json:"replaced"`
}

// Volume is a configured root, and what the catalog knows of its identity.
type Volume struct {
	Name    string    `json:"name"`
	Path    string    `json:"path"`
	Online  bool      `json:"online"`
	Dev     uint64    `json:"dev"`     // st_dev of the root when last verified
	Marker  string    `json:"marker"`  // id written into the root's marker file
	Reason  string    `json:"reason"`  // why offline, empty when online
	Changed time.Time `json:"changed"` // last online/offline transition
}

// Event is one numbered change in the catalog. Seq is strictly increasing but
// may have gaps; consumers must keep the last seq they processed, never count.
// Its JSON carries path_b64 when Path is not valid UTF-8 (see PathB64).
type Event struct {
	Seq     uint64    `json:"seq"`
	Type    string    `json:"type"`
	AssetID string    `json:"asset_id,omitempty"`
	Volume  string    `json:"volume,omitempty"`
	Path    string    `json:"path,omitempty"`
	Time    time.Time `json:"time"`
	Detail  string    `json:"detail,omitempty"` // human-readable reason (offline cause, error)
}

// AssetDoc is the public document for an asset: the record plus where it
// lives (state present) and where it was (state removed, with the time it
// left). It is what GET /v1/assets/{id} returns and what sync uploads as
// asset.json.
type AssetDoc struct {
	Asset
	Locations []Location `json:"locations"`
}

// FileRecord is what ingest hands to the catalog after hashing a settled file.
type FileRecord struct {
	Volume string
	Path   string
	Size   int64
	MTime  time.Time
	Inode  uint64
	Dev    uint64
	Hashes Hashes // Hashes.BLAKE3 is the asset id
}

// OutputPath is where the derived output `name` (proxy.mp4, proxy.m4a,
// proxy.jpg, poster.jpg, filmstrip.jpg, waveform.json) of asset id lives under
// state_dir. Transcode writes there; the API and sync read from there.
func OutputPath(stateDir, id, name string) string {
	return filepath.Join(stateDir, "media", id[:2], id, name)
}
