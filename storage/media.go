package storage

// Media is what ffprobe found in a file. The transcode package fills it; its
// fields are part of the asset JSON contract (docs/api.md).
type Media struct {
	Container string   `json:"container,omitempty"`
	Duration  float64  `json:"duration,omitempty"` // seconds
	Streams   []Stream `json:"streams,omitempty"`
	Timecode  string   `json:"timecode,omitempty"` // start timecode HH:MM:SS:FF (';' before FF when drop-frame)
	DropFrame bool     `json:"drop_frame,omitempty"`
	Reel      string   `json:"reel,omitempty"`
	Make      string   `json:"make,omitempty"`
	Model     string   `json:"model,omitempty"`
	// TimeReference is the BWF bext time reference: samples since midnight.
	TimeReference int64 `json:"time_reference,omitempty"`
}

// Stream is one elementary stream of a media file.
type Stream struct {
	Index          int     `json:"index"`
	Type           string  `json:"type"` // video | audio | data | subtitle
	Codec          string  `json:"codec,omitempty"`
	CodecTag       string  `json:"codec_tag,omitempty"` // fourcc as ffprobe prints it
	Profile        string  `json:"profile,omitempty"`
	Width          int     `json:"width,omitempty"`
	Height         int     `json:"height,omitempty"`
	SAR            string  `json:"sar,omitempty"`
	DAR            string  `json:"dar,omitempty"`
	FrameRate      string  `json:"frame_rate,omitempty"` // exact fraction, e.g. 24000/1001
	VFR            bool    `json:"vfr,omitempty"`        // average rate differs from the base rate
	Frames         int64   `json:"frames,omitempty"`
	FieldOrder     string  `json:"field_order,omitempty"`
	PixFmt         string  `json:"pix_fmt,omitempty"`
	BitDepth       int     `json:"bit_depth,omitempty"`
	ColorPrimaries string  `json:"color_primaries,omitempty"`
	ColorTransfer  string  `json:"color_transfer,omitempty"`
	ColorMatrix    string  `json:"color_matrix,omitempty"`
	HDR            string  `json:"hdr,omitempty"` // pq | hlg | "" for SDR
	Rotation       int     `json:"rotation,omitempty"`
	Channels       int     `json:"channels,omitempty"`
	Layout         string  `json:"channel_layout,omitempty"`
	SampleRate     int     `json:"sample_rate,omitempty"`
	Duration       float64 `json:"duration,omitempty"`     // seconds, when the container gives it per stream
	AttachedPic    bool    `json:"attached_pic,omitempty"` // cover art, not a picture track
}
