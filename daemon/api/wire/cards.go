package wire

import "time"

// Layout is a camera card's folder layout (dcim, gopro, sony_xavc, ...;
// docs/api.md, Camera cards).
type Layout string

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

// DestState is one destination of a card (record and status).
type DestState struct {
	Volume        string   `json:"volume"`
	Path          string   `json:"path"` // folder, slash-separated, relative to the volume
	State         string   `json:"state"`
	BytesDone     int64    `json:"bytes_done"`     // written at the destination (copy progress)
	BytesVerified int64    `json:"bytes_verified"` // re-read and matched
	BytesTotal    int64    `json:"bytes_total"`
	RateBps       float64  `json:"rate_bps"`              // bytes/s written, smoothed; 0 when idle
	ETASeconds    float64  `json:"eta_seconds,omitempty"` // at that rate, until written and verified
	Generation    string   `json:"generation,omitempty"`  // its ASC MHL generation once verified
	Hashes        []string `json:"hashes,omitempty"`      // its ASC MHL hash formats
	FailedPath    string   `json:"failed_path,omitempty"`
	Error         string   `json:"error,omitempty"`
}

// Skipped is a card entry not copied (not a regular file).
type Skipped struct {
	Path   string `json:"path"` // slash-separated, relative to the card root
	Reason string `json:"reason"`
}

// ManifestCheck is a checksum manifest found on a card, as checked.
type ManifestCheck struct {
	File       string             `json:"file"`   // card-relative, slash-separated
	Format     string             `json:"format"` // hash formats met, "+"-joined
	OK         bool               `json:"ok"`     // every line checked and matched
	Checked    int                `json:"checked"`
	Matched    int                `json:"matched"`
	Mismatches []ManifestMismatch `json:"mismatches,omitempty"`
	Error      string             `json:"error,omitempty"` // the manifest could not be read
}

// ManifestMismatch is one manifest line that did not check out.
type ManifestMismatch struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

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

// Card is what the catalog keeps about a card (GET /v1/cards). Its JSON
// carries folder_b64 and failed_path_b64 when those paths are not UTF-8.
type Card struct {
	ID           string          `json:"id,omitempty"` // 32 hex: the card's id in URLs
	Key          string          `json:"key"`
	Identity     CardIdentity    `json:"identity"`
	Label        string          `json:"label"`
	Layout       Layout          `json:"layout"`
	Volume       string          `json:"volume"` // the primary copy (first verified destination)
	Folder       string          `json:"folder"` // slash-separated, relative to the volume
	Status       string          `json:"status"` // copying | partial | offloaded | failed
	Destinations []DestState     `json:"destinations"`
	SafeToFormat bool            `json:"safe_to_format"`
	SafeAt       *time.Time      `json:"safe_at,omitempty"`
	Files        int             `json:"files"`
	Bytes        int64           `json:"bytes"`
	Generation   string          `json:"generation,omitempty"`
	FailedPath   string          `json:"failed_path,omitempty"`
	Reason       string          `json:"reason,omitempty"`
	Started      time.Time       `json:"started"`
	Finished     time.Time       `json:"finished"`
	Clips        []string        `json:"clips,omitempty"`
	Skipped      []Skipped       `json:"skipped,omitempty"`
	Manifests    []ManifestCheck `json:"manifests,omitempty"`
}

// CardIdentity is how a card is recognised when inserted again.
type CardIdentity struct {
	UUID        string `json:"uuid,omitempty"`
	Label       string `json:"label,omitempty"`
	Device      string `json:"device,omitempty"`
	FSType      string `json:"fstype,omitempty"`
	Layout      Layout `json:"layout"`
	Fingerprint string `json:"fingerprint"`
}

// ClipsPage is GET /v1/clips.
type ClipsPage struct {
	Clips []Clip `json:"clips"`
	Next  string `json:"next,omitempty"` // pass as after= for the next page; empty at the end
}

// Clip is GET /v1/clips/{id}: the files of one camera clip.
type Clip struct {
	ID         string      `json:"id"`
	Name       string      `json:"name"`
	Layout     Layout      `json:"layout"`
	CardLabel  string      `json:"card_label"`
	CardKey    string      `json:"card_key"`
	Volume     string      `json:"volume"`
	Folder     string      `json:"folder"`
	OffloadAt  time.Time   `json:"offload_at"`
	Parts      []ClipPart  `json:"parts"`
	Cards      []ClipCard  `json:"cards,omitempty"`
	Spans      []ClipSpan  `json:"spans,omitempty"`
	Incomplete bool        `json:"incomplete,omitempty"`
	Meta       *CameraMeta `json:"meta"` // null without a camera sidecar
	Proxy      *ClipProxy  `json:"proxy,omitempty"`
}

// ClipPart is one file of a clip. Its JSON carries path_b64 when the path
// is not UTF-8.
type ClipPart struct {
	Role    string `json:"role"` // video | audio | sidecar
	Path    string `json:"path"` // relative to the volume
	AssetID string `json:"asset_id"`
	Card    string `json:"card,omitempty"`           // key of the card it was offloaded from
	Offset  int64  `json:"offset_in_shot,omitempty"` // P2: edit units
	Span    int    `json:"span,omitempty"`           // XDCAM EX span number
}

// ClipCard is one card a clip's parts were offloaded from.
type ClipCard struct {
	Key       string    `json:"key"`
	Label     string    `json:"label"`
	Folder    string    `json:"folder"`
	OffloadAt time.Time `json:"offload_at"`
}

// ClipSpan is one span of a shot recorded over several clips.
type ClipSpan struct {
	Clip         string `json:"clip"`
	GlobalClipID string `json:"global_clip_id,omitempty"`
	Card         string `json:"card"`
	Offset       int64  `json:"offset_in_shot,omitempty"`
	Duration     int64  `json:"duration,omitempty"`
	Next         string `json:"next_clip_id,omitempty"`
	Span         int    `json:"span,omitempty"`
}

// ClipProxy is the whole-clip proxy of a multi-part clip.
type ClipProxy struct {
	Status string    `json:"status"` // ready | failed
	Frames int64     `json:"frames,omitempty"`
	Bytes  int64     `json:"bytes,omitempty"`
	Error  string    `json:"error,omitempty"`
	At     time.Time `json:"at"`
}

// CameraMeta is what a camera sidecar says about a clip.
type CameraMeta struct {
	Source        string    `json:"source"` // sony_nrt | p2_clip | canon_xml | xml
	Manufacturer  string    `json:"manufacturer,omitempty"`
	Model         string    `json:"model,omitempty"`
	Serial        string    `json:"serial,omitempty"`
	CreationDate  time.Time `json:"creation_date,omitempty"`
	StartTimecode string    `json:"start_timecode,omitempty"`
	DropFrame     bool      `json:"drop_frame,omitempty"`
	TimecodeFPS   string    `json:"timecode_fps,omitempty"`
	Duration      int64     `json:"duration,omitempty"`
	EditUnit      string    `json:"edit_unit,omitempty"`
	CaptureFPS    string    `json:"capture_fps,omitempty"`
	VideoCodec    string    `json:"video_codec,omitempty"`
	ClipName      string    `json:"clip_name,omitempty"`
	GlobalClipID  string    `json:"global_clip_id,omitempty"`
	GlobalShotID  string    `json:"global_shot_id,omitempty"`
	OffsetInShot  int64     `json:"offset_in_shot,omitempty"`
	PrevClipID    string    `json:"prev_clip_id,omitempty"`
	NextClipID    string    `json:"next_clip_id,omitempty"`
	VideoFiles    []string  `json:"video_files,omitempty"`
	AudioFiles    []string  `json:"audio_files,omitempty"`
}

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
