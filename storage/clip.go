package storage

import "time"

// The card service (daemon/cards/cardsvc) is the only writer of clip
// records: one per camera clip it offloaded (the parts it grouped, the
// cards they came from, spans, the whole-clip proxy), stored in the
// catalog's state through storage/catalog (PutClip, Clip, Clips; only it
// knows the key). Readers — GET /v1/clips, the offload report, the hub
// pusher uploading clip.json — read these typed records and never the card
// service's own keys. The JSON of Clip is GET /v1/clips/{id} (docs/api.md):
// change it only with that contract; existing catalogs must keep decoding
// (testdata/clip_record_v1.json pins the form stored so far).

// Clip is GET /v1/clips/{id}: the files of one camera clip.
type Clip struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Layout     CardLayout `json:"layout"`
	CardLabel  string     `json:"card_label"`
	CardKey    string     `json:"card_key"`
	Volume     string     `json:"volume"`
	Folder     string     `json:"folder"`
	OffloadAt  time.Time  `json:"offload_at"`
	Parts      []ClipPart `json:"parts"`
	Cards      []ClipCard `json:"cards,omitempty"`
	Spans      []ClipSpan `json:"spans,omitempty"`
	Incomplete bool       `json:"incomplete,omitempty"`
	Meta       *ClipMeta  `json:"meta"` // null without a camera sidecar
	Proxy      *ClipProxy `json:"proxy,omitempty"`
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

// ClipMeta is what a camera sidecar says about a clip (a clip record's
// meta; package cards parses it). Camera, each asset's camera field, is
// the part of it that describes one file; ClipMeta.Camera converts. The
// two are not one embedded in the other because their JSON differs: the
// key order (duration and edit_unit come before capture_fps here) and a
// zero creation_date, which the clip document writes and the asset omits.
type ClipMeta struct {
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

// Camera is the asset's camera field for these sidecar facts: every field
// of Camera, copied from the ClipMeta field of the same name (TestClipMetaCamera
// checks that none is missed). A nil ClipMeta is a nil Camera.
func (m *ClipMeta) Camera() *Camera {
	if m == nil {
		return nil
	}
	return &Camera{Source: m.Source, Manufacturer: m.Manufacturer, Model: m.Model, Serial: m.Serial,
		CreationDate: m.CreationDate, StartTimecode: m.StartTimecode, DropFrame: m.DropFrame, TimecodeFPS: m.TimecodeFPS,
		CaptureFPS: m.CaptureFPS, VideoCodec: m.VideoCodec, ClipName: m.ClipName, GlobalClipID: m.GlobalClipID}
}

type clipPartJSON ClipPart

func (p *clipPartJSON) paths() []PathField {
	return []PathField{{Key: "path_b64", Path: &p.Path}}
}

// MarshalJSON writes the part with path_b64 when its path is not UTF-8.
func (p ClipPart) MarshalJSON() ([]byte, error) {
	v := clipPartJSON(p)
	return MarshalPaths(v, v.paths()...)
}

// UnmarshalJSON reads a part, its exact path from path_b64 when present.
func (p *ClipPart) UnmarshalJSON(b []byte) error {
	return UnmarshalPaths(b, (*clipPartJSON)(p), (*clipPartJSON).paths)
}
