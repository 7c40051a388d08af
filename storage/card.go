package storage

import "time"

// The card service (daemon/cards/cardsvc) is the only writer of card
// records: one per camera card it has seen, stored in the catalog's state
// through storage/catalog (PutCard, Card, Cards; only it knows the key).
// Readers — GET /v1/cards and the offload report, the hub pusher, the CLI through
// the API — read these typed records and never the card service's own
// keys. The JSON of Card is GET /v1/cards' card (docs/api.md, Camera
// cards): change it only with that contract; existing catalogs must keep
// decoding (testdata/card_record_v1.json pins the form stored so far).

// CardLayout is a camera card's folder layout (dcim, gopro, sony_xavc, ...;
// docs/api.md, Camera cards).
type CardLayout string

// Card is what the catalog keeps about a card (GET /v1/cards). Its JSON
// carries folder_b64 and failed_path_b64 when those paths are not UTF-8.
type Card struct {
	ID           string          `json:"id,omitempty"` // 32 hex: the card's id in URLs
	Key          string          `json:"key"`
	Identity     CardIdentity    `json:"identity"`
	Label        string          `json:"label"`
	Layout       CardLayout      `json:"layout"`
	Volume       string          `json:"volume"` // the primary copy (first verified destination)
	Folder       string          `json:"folder"` // slash-separated, relative to the volume
	Status       string          `json:"status"` // copying | partial | offloaded | failed
	Destinations []CardDest      `json:"destinations"`
	SafeToFormat bool            `json:"safe_to_format"`
	SafeAt       *time.Time      `json:"safe_at,omitempty"`
	Files        int             `json:"files"`
	Bytes        int64           `json:"bytes"`
	Generation   string          `json:"generation,omitempty"`
	FailedPath   string          `json:"failed_path,omitempty"`
	Reason       string          `json:"reason,omitempty"`
	Started      time.Time       `json:"started"`
	Finished     time.Time       `json:"finished"`
	Clips        []string        `json:"clips,omitempty"` // ids of its clip records (Clip)
	Skipped      []CardSkipped   `json:"skipped,omitempty"`
	Manifests    []ManifestCheck `json:"manifests,omitempty"`
}

// CardIdentity is how a card is recognised when inserted again.
type CardIdentity struct {
	UUID        string     `json:"uuid,omitempty"`
	Label       string     `json:"label,omitempty"`
	Device      string     `json:"device,omitempty"`
	FSType      string     `json:"fstype,omitempty"`
	Layout      CardLayout `json:"layout"`
	Fingerprint string     `json:"fingerprint"`
}

// CardDest is one destination of a card (in its record and in the live
// status of GET /v1/status).
type CardDest struct {
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

// CardSkipped is a card entry not copied (not a regular file).
type CardSkipped struct {
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

type cardJSON Card

func (c *cardJSON) paths() []PathField {
	return []PathField{{Key: "folder_b64", Path: &c.Folder}, {Key: "failed_path_b64", Path: &c.FailedPath}}
}

// MarshalJSON writes the card with folder_b64 and failed_path_b64 when
// those paths are not UTF-8.
func (c Card) MarshalJSON() ([]byte, error) {
	v := cardJSON(c)
	return MarshalPaths(v, v.paths()...)
}

// UnmarshalJSON reads a card, its exact paths from the _b64 fields.
func (c *Card) UnmarshalJSON(b []byte) error {
	return UnmarshalPaths(b, (*cardJSON)(c), (*cardJSON).paths)
}
