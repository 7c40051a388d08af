package storage

import "time"

// Camera is what a camera card's sidecar (Sony NonRealTimeMeta, Panasonic
// P2 clip XML, Canon and other clip XML) says about a clip: the asset's
// `camera` field. It is owned by the card service (daemon/cards/cardsvc),
// which sets it once when it attaches the card origin; no other stage
// writes it. Stages that replace Media (transcode's probe and proxy) fill
// what the probe left empty from it with FillMedia, so camera facts
// survive a re-probe without the card service adding them again.
type Camera struct {
	Source        string    `json:"source"` // sony_nrt | p2_clip | canon_xml | xml
	Manufacturer  string    `json:"manufacturer,omitempty"`
	Model         string    `json:"model,omitempty"`
	Serial        string    `json:"serial,omitempty"`
	CreationDate  time.Time `json:"creation_date,omitzero"`
	StartTimecode string    `json:"start_timecode,omitempty"` // HH:MM:SS:FF, ';' before FF when drop-frame
	DropFrame     bool      `json:"drop_frame,omitempty"`
	TimecodeFPS   string    `json:"timecode_fps,omitempty"`
	CaptureFPS    string    `json:"capture_fps,omitempty"`
	VideoCodec    string    `json:"video_codec,omitempty"`
	ClipName      string    `json:"clip_name,omitempty"`
	GlobalClipID  string    `json:"global_clip_id,omitempty"`
}

// FillMedia copies the camera's facts into m where the probe left them
// empty (make, model, start timecode with its drop-frame flag, reel) and
// returns m; with no m (a probe that failed) it returns a Media holding
// only those facts. A nil camera changes nothing.
func (c *Camera) FillMedia(m *Media) *Media {
	if c == nil {
		return m
	}
	if m == nil {
		m = &Media{}
	}
	if m.Make == "" {
		m.Make = c.Manufacturer
	}
	if m.Model == "" {
		m.Model = c.Model
	}
	if m.Timecode == "" && c.StartTimecode != "" {
		m.Timecode = c.StartTimecode
		m.DropFrame = c.DropFrame
	}
	if m.Reel == "" {
		m.Reel = c.ClipName
	}
	return m
}
