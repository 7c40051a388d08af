package wire

import (
	"encoding/json"
	"time"

	"github.com/ingestd/ingestd/storage"
)

// SequencesPage is GET /v1/sequences.
type SequencesPage struct {
	Sequences []Sequence `json:"sequences"`
	Next      string     `json:"next,omitempty"` // pass as after= for the next page; empty at the end
}

// Sequence is a frame sequence (daemon/sequences), served at
// GET /v1/sequences/{id} and stored as the state record "sequences/<id>"
// in exactly this form.
type Sequence struct {
	ID      string `json:"id"`
	Volume  string `json:"volume"`
	Folder  string `json:"folder"`  // slash-separated, relative to the volume ("" for its root)
	Pattern string `json:"pattern"` // e.g. shot_010.%04d.exr
	Base    string `json:"base"`
	Ext     string `json:"ext"`
	Padding int    `json:"padding"`
	Format  string `json:"format"` // FFmpeg demuxer of the frames (dpx_pipe, exr_pipe, png_pipe, tiff_pipe, image2 for JPEG)
	Codec   string `json:"codec,omitempty"`

	First         int64        `json:"first_frame"`
	Last          int64        `json:"last_frame"`
	Count         int          `json:"frames"` // frames present (cataloged)
	Missing       []FrameRange `json:"missing"`
	MissingFrames int64        `json:"missing_frames"`
	Bytes         int64        `json:"bytes"`
	FirstPath     string       `json:"first_path"`  // relative to the volume
	FirstAssetID  string       `json:"first_asset"` // asset id of the first frame

	Width          int    `json:"width,omitempty"`
	Height         int    `json:"height,omitempty"`
	PixFmt         string `json:"pix_fmt,omitempty"`
	BitDepth       int    `json:"bit_depth,omitempty"`
	ColorSpace     string `json:"color_space,omitempty"`
	ColorTransfer  string `json:"color_transfer,omitempty"`
	ColorPrimaries string `json:"color_primaries,omitempty"`

	FrameRate       string `json:"frame_rate"`         // fraction, e.g. 24/1 or 24000/1001
	FrameRateSource string `json:"frame_rate_source"`  // config | header
	Timecode        string `json:"timecode,omitempty"` // of the first frame, from its header

	// Signature names the frame set (numbers and asset ids); Changed is
	// when it last changed.
	Signature string         `json:"signature"`
	Changed   time.Time      `json:"changed"`
	Proxy     *SequenceProxy `json:"proxy"`
	ProbeErr  string         `json:"probe_error,omitempty"`
}

// FrameRange is an inclusive range of frame numbers (a gap of a sequence).
type FrameRange struct {
	First int64 `json:"first"`
	Last  int64 `json:"last"`
}

// SequenceProxy is the state of a sequence's proxy and poster.
type SequenceProxy struct {
	Status    string    `json:"status"` // pending | ready | failed
	Frames    int64     `json:"frames,omitempty"`
	Width     int       `json:"width,omitempty"`
	Height    int       `json:"height,omitempty"`
	Bytes     int64     `json:"bytes,omitempty"`
	Outputs   []string  `json:"outputs,omitempty"` // proxy.mp4, poster.jpg
	Signature string    `json:"signature,omitempty"`
	Error     string    `json:"error,omitempty"`
	At        time.Time `json:"at,omitzero"`
}

// Analysis is GET /v1/assets/{id}/analysis.json (package analysis writes
// it once per analysis run; the API serves the file).
type Analysis struct {
	AssetID   string  `json:"asset_id"`
	Source    string  `json:"source"` // the output measured: proxy.mp4 | proxy.m4a
	Duration  float64 `json:"duration"`
	FrameRate string  `json:"frame_rate,omitempty"`
	StartTC   string  `json:"start_tc,omitempty"`
	Video     bool    `json:"video"`
	Audio     bool    `json:"audio"`

	Black   []Segment `json:"black"`
	Freeze  []Segment `json:"freeze"`
	Silence []Segment `json:"silence"`
	Shots   []Shot    `json:"shots"`
	// Loudness, EBU R128, with true peak and clipping, measured (like
	// silence) on the master's first audio stream in its own layout
	// (AudioSource "master"), or on the proxy's stereo mix when the
	// master is offline or unreadable (AudioSource "proxy", AudioNote why).
	Loudness    *storage.Loudness `json:"loudness,omitempty"`
	AudioSource string            `json:"audio_source,omitempty"` // master | proxy
	AudioNote   string            `json:"audio_note,omitempty"`
	// Truncated: more than 10,000 segments or shots of a kind were found;
	// the first ones are kept.
	Truncated bool            `json:"truncated,omitempty"`
	Checks    []storage.Check `json:"checks"`
	// Enrichments are the results of analysis.enrichers, in order.
	Enrichments []Enrichment `json:"enrichments,omitempty"`
	Verdict     string       `json:"verdict"`
	Elapsed     float64      `json:"elapsed_s"`
	At          time.Time    `json:"at"`
}

// Segment is a black, frozen or silent stretch of the programme: start and
// end in seconds of the proxy (= of the master), their frame numbers and
// source timecodes (video frame rate; for audio-only assets, frames are
// empty).
type Segment struct {
	Start    float64 `json:"start"`
	End      float64 `json:"end"`
	Duration float64 `json:"duration"`
	StartF   *int64  `json:"start_frame,omitempty"`
	EndF     *int64  `json:"end_frame,omitempty"`
	StartTC  string  `json:"start_tc,omitempty"`
	EndTC    string  `json:"end_tc,omitempty"`
}

// Shot is one shot: where it starts (a scene cut, or the first frame) and
// its thumbnail (shots/NNNNN.jpg under the asset's outputs), if kept.
type Shot struct {
	Start     float64 `json:"start"`
	StartF    *int64  `json:"start_frame,omitempty"`
	StartTC   string  `json:"start_tc,omitempty"`
	End       float64 `json:"end"`
	Thumbnail string  `json:"thumbnail,omitempty"`
}

// Enrichment is one enricher's result in analysis.json.
type Enrichment struct {
	Name    string          `json:"name"`
	Status  string          `json:"status"` // ready | failed
	Error   string          `json:"error,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`  // the enricher's own JSON, as it answered
	Files   []string        `json:"files,omitempty"` // enrich/<name>/<file>, beside analysis.json
	Elapsed float64         `json:"elapsed_s"`
}

// EnrichmentDoc is GET /v1/assets/{id}/enrichment/{name}.json.
type EnrichmentDoc struct {
	AssetID string `json:"asset_id"`
	Enrichment
}

// Waveform is GET /v1/assets/{id}/waveform (waveform.json, written by
// transcode): min/max peaks of 16-bit samples, for drawing an audio
// waveform in a browser. Peaks are interleaved per peak and channel:
// [min_ch0, max_ch0, min_ch1, max_ch1, …] for peak 0, then peak 1, and so
// on; each peak covers SamplesPerPeak sample frames at SampleRate.
type Waveform struct {
	Version        int     `json:"version"`
	SampleRate     int     `json:"sample_rate"`
	SamplesPerPeak int     `json:"samples_per_peak"`
	Channels       int     `json:"channels"`
	Bits           int     `json:"bits"`
	Length         int     `json:"length"` // peaks per channel
	Peaks          []int16 `json:"peaks"`
}

// Session is the body of GET and POST /v1/session (the console's login).
type Session struct {
	// Auth is "token" when api.token_file is configured, "none" otherwise
	// (loopback without a token: the console needs no login).
	Auth          string `json:"auth"`
	Authenticated bool   `json:"authenticated"`
	// CSRF is the value to send in X-Ingestd-CSRF with every
	// state-changing request made with the session cookie.
	CSRF    string     `json:"csrf,omitempty"`
	Expires *time.Time `json:"expires,omitempty"`
}
