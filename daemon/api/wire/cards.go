package wire

import (
	"time"

	"github.com/ingestd/ingestd/storage"
)

// Layout is a camera card's folder layout (docs/api.md, Camera cards).
type Layout = storage.CardLayout

// CardsStatus is the `cards` section of Status: the cards mounted (or
// being filled from a verified copy) and the fixity check.
type CardsStatus struct {
	Cards  []CardStatus `json:"cards"`
	Fixity FixityStatus `json:"fixity"`
}

// CardStatus is one card in the cards section. Its JSON carries dest_b64,
// file_b64 and failed_path_b64 when those paths are not UTF-8 (paths.go).
type CardStatus struct {
	Mount      string `json:"mount"`
	Label      string `json:"label,omitempty"`
	Key        string `json:"key,omitempty"`
	Layout     Layout `json:"layout,omitempty"`
	State      string `json:"state"`
	Message    string `json:"message,omitempty"`
	Dest       string `json:"dest,omitempty"` // volume/folder
	FilesDone  int    `json:"files_done"`
	FilesTotal int    `json:"files_total"`
	BytesDone  int64  `json:"bytes_done"`
	BytesTotal int64  `json:"bytes_total"`
	File       string `json:"file,omitempty"`
	FailedPath string `json:"failed_path,omitempty"`
	Reason     string `json:"reason,omitempty"`
	// Destinations with bytes done/total, rate and ETA.
	Destinations []DestState `json:"destinations"`
	SafeToFormat bool        `json:"safe_to_format"`
	// Skipped are card entries not copied (symlinks, FIFOs, devices).
	Skipped []Skipped `json:"skipped,omitempty"`
	// Manifests are the checksum manifests on the card, as checked.
	Manifests []ManifestCheck `json:"manifests,omitempty"`
}

// Card states (CardStatus.State, Card.Status).
const (
	CardIgnored = "ignored" // a mount without a camera-card layout: never copied
)

// Destination states (DestState.State).
const (
	DestCopying   = "copying"
	DestVerifying = "verifying"
	DestVerified  = "verified"
	DestFailed    = "failed"
	DestPending   = "pending" // to be filled from the first verified copy
)

// CardSuperseded starts the reason of a failed card record whose card,
// changed since, was offloaded again as another record (docs/api.md).
const CardSuperseded = "superseded: the card changed and was offloaded again as "

// DestState is one destination of a card (record and status).
type DestState = storage.CardDest

// Skipped is a card entry not copied (not a regular file).
type Skipped = storage.CardSkipped

// ManifestCheck is a checksum manifest found on a card, as checked.
type ManifestCheck = storage.ManifestCheck

// ManifestMismatch is one manifest line that did not check out.
type ManifestMismatch = storage.ManifestMismatch

// FixityStatus is the fixity part of the cards section.
type FixityStatus struct {
	Running     bool      `json:"running"`
	Trigger     string    `json:"trigger,omitempty"` // api | schedule
	FilesDone   int       `json:"files_done,omitempty"`
	FilesTotal  int       `json:"files_total,omitempty"`
	BytesDone   int64     `json:"bytes_done,omitempty"`
	BytesTotal  int64     `json:"bytes_total,omitempty"`
	LastStart   time.Time `json:"last_start,omitzero"`
	LastEnd     time.Time `json:"last_end,omitzero"`
	LastFiles   int       `json:"last_files"`
	LastCorrupt int       `json:"last_corrupt"`
	LastMissing int       `json:"last_missing"`
	NextRun     time.Time `json:"next_run,omitzero"`
}

// CardsPage is GET /v1/cards: every card the catalog knows.
type CardsPage struct {
	Cards []Card `json:"cards"`
}

// Card is GET /v1/cards' card: the card service's record (storage.Card).
type Card = storage.Card

// CardIdentity is how a card is recognised when inserted again.
type CardIdentity = storage.CardIdentity

// ClipsPage is GET /v1/clips.
type ClipsPage struct {
	Clips []Clip `json:"clips"`
	Next  string `json:"next,omitempty"` // pass as after= for the next page; empty at the end
}

// Clip is GET /v1/clips/{id}: the card service's clip record (storage.Clip).
type Clip = storage.Clip

// ClipPart is one file of a clip.
type ClipPart = storage.ClipPart

// ClipCard is one card a clip's parts were offloaded from.
type ClipCard = storage.ClipCard

// ClipSpan is one span of a shot recorded over several clips.
type ClipSpan = storage.ClipSpan

// ClipProxy is the whole-clip proxy of a multi-part clip.
type ClipProxy = storage.ClipProxy

// CameraMeta is what a camera sidecar says about a clip.
type CameraMeta = storage.ClipMeta

// CardReport is GET /v1/cards/{id}/report.json (and ingestd-report.json).
type CardReport struct {
	Version      int             `json:"version"`
	ID           string          `json:"id"`
	Key          string          `json:"key"`
	Label        string          `json:"label"`
	LabelB64     string          `json:"label_b64,omitempty"`
	UUID         string          `json:"uuid,omitempty"`
	FSType       string          `json:"fstype,omitempty"`
	Layout       Layout          `json:"layout"`
	Camera       ReportCamera    `json:"camera"`
	Status       string          `json:"status"`
	SafeToFormat bool            `json:"safe_to_format"`
	SafeAt       *time.Time      `json:"safe_at,omitempty"`
	Started      time.Time       `json:"started"`
	Finished     time.Time       `json:"finished"`
	Seconds      float64         `json:"seconds"`
	Files        int             `json:"files"`
	Bytes        int64           `json:"bytes"`
	MBps         float64         `json:"mb_per_s"` // card bytes / (finished - started) / 10^6
	HashFormats  []string        `json:"hash_formats"`
	Destinations []ReportDest    `json:"destinations"`
	Clips        []ReportClip    `json:"clips"`
	FileList     []ReportFile    `json:"file_list"`
	Skipped      []Skipped       `json:"skipped,omitempty"`
	Manifests    []ManifestCheck `json:"manifests,omitempty"`
	Warnings     []string        `json:"warnings"`
}

// ReportCamera is what is known of the camera.
type ReportCamera struct {
	Make   string `json:"make,omitempty"`
	Model  string `json:"model,omitempty"`
	Serial string `json:"serial,omitempty"`
}

// ReportClip is one clip of a card report.
type ReportClip struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	NameB64   string        `json:"name_b64,omitempty"`
	Duration  float64       `json:"duration,omitempty"`   // seconds
	FrameRate string        `json:"frame_rate,omitempty"` // exact fraction, e.g. 24000/1001
	FPS       float64       `json:"fps,omitempty"`
	Frames    int64         `json:"frames,omitempty"`
	TCIn      string        `json:"tc_in,omitempty"`
	TCOut     string        `json:"tc_out,omitempty"` // exclusive
	DropFrame bool          `json:"drop_frame,omitempty"`
	Codec     string        `json:"codec,omitempty"`
	Width     int           `json:"width,omitempty"`
	Height    int           `json:"height,omitempty"`
	Camera    *ReportCamera `json:"camera,omitempty"`
	Parts     []ReportPart  `json:"parts"`
	Poster    bool          `json:"poster"` // a thumbnail is embedded in the HTML
	Proxy     string        `json:"proxy,omitempty"`
}

// ReportPart is one file of a report clip.
type ReportPart struct {
	Role    string `json:"role"`
	Path    string `json:"path"` // relative to the card root
	PathB64 string `json:"path_b64,omitempty"`
	AssetID string `json:"asset_id"`
}

// ReportDest is one destination of a card report and its verification.
type ReportDest struct {
	Volume        string   `json:"volume"`
	Path          string   `json:"path"`
	PathB64       string   `json:"path_b64,omitempty"`
	State         string   `json:"state"`
	Verified      bool     `json:"verified"`
	BytesVerified int64    `json:"bytes_verified"`
	Generation    string   `json:"generation,omitempty"`
	Hashes        []string `json:"hashes,omitempty"`
	Error         string   `json:"error,omitempty"`
}

// ReportFile is one offloaded file with its hashes. Its JSON carries
// path_b64 when the path is not UTF-8.
type ReportFile struct {
	Path   string            `json:"path"` // relative to the card root
	Size   int64             `json:"size"`
	BLAKE3 string            `json:"blake3"`
	XXH128 string            `json:"xxh128"`
	MHL    map[string]string `json:"mhl,omitempty"` // the ASC MHL hashes written
}

// VerifyLine is one JSON line of POST /v1/verify (application/x-ndjson).
// Its JSON carries path_b64 when the path is not UTF-8.
type VerifyLine struct {
	Type      string `json:"type"` // start | progress | corrupt | missing | changed | error | done
	Volume    string `json:"volume,omitempty"`
	Path      string `json:"path,omitempty"`
	AssetID   string `json:"asset_id,omitempty"` // the cataloged content (corrupt)
	Got       string `json:"got,omitempty"`      // BLAKE3 read now (corrupt)
	Detail    string `json:"detail,omitempty"`
	Files     int    `json:"files,omitempty"`
	Bytes     int64  `json:"bytes,omitempty"`
	FilesDone int    `json:"files_done,omitempty"`
	BytesDone int64  `json:"bytes_done,omitempty"`
	OK        int    `json:"ok,omitempty"`
	Corrupt   int    `json:"corrupt,omitempty"`
	Missing   int    `json:"missing,omitempty"`
	Changed   int    `json:"changed,omitempty"`
	Errors    int    `json:"errors,omitempty"`
}
