package transcode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/ingestd/ingestd/storage"
)

// Asset kinds (storage's, named here for transcode's callers).
const (
	KindVideo = storage.KindVideo
	KindAudio = storage.KindAudio
	KindImage = storage.KindImage
	KindOther = storage.KindOther
)

// ErrProbe marks a file ffprobe could not read; the wrapped error carries
// ffprobe's message.
var ErrProbe = errors.New("ffprobe cannot read file")

type ffStream struct {
	Index         int    `json:"index"`
	CodecType     string `json:"codec_type"`
	CodecName     string `json:"codec_name"`
	CodecTag      string `json:"codec_tag_string"`
	Profile       string `json:"profile"`
	Width         int    `json:"width"`
	Height        int    `json:"height"`
	SAR           string `json:"sample_aspect_ratio"`
	DAR           string `json:"display_aspect_ratio"`
	RFrameRate    string `json:"r_frame_rate"`
	AvgFrameRate  string `json:"avg_frame_rate"`
	NbFrames      string `json:"nb_frames"`
	NbReadPackets string `json:"nb_read_packets"`
	FieldOrder    string `json:"field_order"`
	PixFmt        string `json:"pix_fmt"`
	BitsPerRaw    string `json:"bits_per_raw_sample"`
	ColorPrim     string `json:"color_primaries"`
	ColorTrc      string `json:"color_transfer"`
	ColorSpace    string `json:"color_space"`
	Channels      int    `json:"channels"`
	Layout        string `json:"channel_layout"`
	SampleRate    string `json:"sample_rate"`
	Duration      string `json:"duration"`
	StartTime     string `json:"start_time"`
	HasBFrames    int    `json:"has_b_frames"`
	Disposition   struct {
		AttachedPic int `json:"attached_pic"`
	} `json:"disposition"`
	Tags         map[string]string `json:"tags"`
	SideDataList []struct {
		Type     string  `json:"side_data_type"`
		Rotation float64 `json:"rotation"`
	} `json:"side_data_list"`
}

type ffFormat struct {
	FormatName string            `json:"format_name"`
	Duration   string            `json:"duration"`
	Tags       map[string]string `json:"tags"`
}

type ffProbe struct {
	Streams []ffStream `json:"streams"`
	Format  ffFormat   `json:"format"`
}

type ffPacket struct {
	PTSTime string `json:"pts_time"`
	Flags   string `json:"flags"`
}

// runPackets lists the packets (pts, flags) of the first video stream of
// one of ingestd's own MP4 outputs.
func runPackets(ctx context.Context, ffprobe, path string) ([]ffPacket, error) {
	args := append([]string{"-hide_banner", "-v", "error", "-print_format", "json",
		"-select_streams", "v:0", "-show_entries", "packet=pts_time,flags"}, ownInput(fmtMP4, path)...)
	cmd := exec.CommandContext(ctx, ffprobe, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("ffprobe packets %s: %w: %s", path, err, excerpt(stderr.String(), 600))
	}
	var out struct {
		Packets []ffPacket `json:"packets"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("ffprobe packets %s: decode json: %w", path, err)
	}
	return out.Packets, nil
}

// probeNice is the CPU niceness runProbe's ffprobe runs at (set right
// after it starts), as the analysis' FFmpeg does (nice 10).
const probeNice = 10

// runProbe runs ffprobe with JSON output and extra arguments on path; in
// is the input part of the command (probeInput for a master of unknown
// format, inputArgs/ownInput otherwise). A master whose detected format is
// not accepted gives a *RefusedError (ErrRefused) instead of ErrProbe.
func runProbe(ctx context.Context, ffprobe, path string, in []string, extra ...string) (*ffProbe, error) {
	args := append([]string{"-hide_banner", "-v", "error", "-print_format", "json"}, extra...)
	args = append(args, in...)
	cmd := exec.CommandContext(ctx, ffprobe, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Start()
	if err == nil {
		// Background work: it yields the CPU to hashing and cataloging (a
		// first ingest of many files probes each one behind the ingest).
		_ = syscall.Setpriority(syscall.PRIO_PROCESS, cmd.Process.Pid, probeNice)
		err = cmd.Wait()
	}
	if err != nil {
		if re := refusedFrom(stderr.String()); re != nil {
			return nil, fmt.Errorf("ffprobe %s: %w", path, re)
		}
		return nil, fmt.Errorf("ffprobe %s: %w: %w: %s", path, ErrProbe, err, excerpt(stderr.String(), 600))
	}
	var p ffProbe
	if err := json.Unmarshal(stdout.Bytes(), &p); err != nil {
		return nil, fmt.Errorf("ffprobe %s: decode json: %w", path, err)
	}
	return &p, nil
}

// Probe runs ffprobe on path and returns what it found and the asset kind
// (video, audio, image or other). Files ffprobe cannot open at all return an
// error wrapping ErrProbe; the caller decides from the name whether that is
// a corrupt media file or just a document. A file whose detected format is
// not one of AcceptedFormats (a playlist, a list of other files) is never
// read past the probe: the error is a *RefusedError wrapping ErrRefused.
func Probe(ctx context.Context, ffprobe, path string) (*storage.Media, string, error) {
	p, err := runProbe(ctx, ffprobe, path, probeInput(path), "-show_format", "-show_streams")
	if err != nil {
		return nil, "", err
	}
	if demuxer(p.Format.FormatName) == "" {
		// Cannot happen with -format_whitelist; refuse rather than trust it.
		return nil, "", fmt.Errorf("ffprobe %s: %w", path, &RefusedError{Format: p.Format.FormatName})
	}
	m := convertProbe(p)
	return m, classify(p, m), nil
}

func convertProbe(p *ffProbe) *storage.Media {
	m := &storage.Media{
		Container: containerName(p.Format),
		Duration:  parseFloat(p.Format.Duration),
	}
	ft := lowerKeys(p.Format.Tags)
	m.Make = first(ft["com.apple.quicktime.make"], ft["make"])
	m.Model = first(ft["com.apple.quicktime.model"], ft["model"])
	m.Reel = first(ft["reel_name"], ft["com.apple.proapps.reel"])
	if tr, err := strconv.ParseInt(ft["time_reference"], 10, 64); err == nil {
		m.TimeReference = tr
	}
	tc := ""
	for _, s := range p.Streams {
		st := lowerKeys(s.Tags)
		if tc == "" && st["timecode"] != "" && (s.CodecType == "video" || s.CodecTag == "tmcd" || s.CodecType == "data") {
			tc = st["timecode"]
		}
		if m.Reel == "" && st["reel_name"] != "" {
			m.Reel = st["reel_name"]
		}
		if s.CodecType != "video" && s.CodecType != "audio" && s.CodecType != "subtitle" {
			s.CodecType = "data"
		}
		out := storage.Stream{
			Index:    s.Index,
			Type:     s.CodecType,
			Codec:    s.CodecName,
			CodecTag: fourCC(s.CodecTag),
			Profile:  s.Profile,
		}
		switch s.CodecType {
		case "video":
			out.Width, out.Height = s.Width, s.Height
			out.SAR, out.DAR = cleanRatio(s.SAR), cleanRatio(s.DAR)
			out.FrameRate, out.VFR = frameRate(s.RFrameRate, s.AvgFrameRate)
			out.Frames, _ = strconv.ParseInt(first(s.NbFrames, s.NbReadPackets), 10, 64)
			if s.FieldOrder != "unknown" {
				out.FieldOrder = s.FieldOrder
			}
			out.PixFmt = s.PixFmt
			out.BitDepth = bitDepth(s.BitsPerRaw, s.PixFmt)
			out.ColorPrimaries = nz(s.ColorPrim)
			out.ColorTransfer = nz(s.ColorTrc)
			out.ColorMatrix = nz(s.ColorSpace)
			switch s.ColorTrc {
			case "smpte2084":
				out.HDR = "pq"
			case "arib-std-b67":
				out.HDR = "hlg"
			}
			out.Rotation = rotation(s)
			out.AttachedPic = s.Disposition.AttachedPic == 1
			out.Duration = parseFloat(s.Duration)
		case "audio":
			out.Channels = s.Channels
			out.Layout = s.Layout
			out.SampleRate, _ = strconv.Atoi(s.SampleRate)
			out.Duration = parseFloat(s.Duration)
		}
		m.Streams = append(m.Streams, out)
	}
	if tc == "" {
		tc = ft["timecode"]
	}
	if tc != "" {
		m.Timecode, m.DropFrame = normTimecode(tc)
	}
	return m
}

// classify decides the asset kind from the probe.
func classify(p *ffProbe, m *storage.Media) string {
	f := p.Format.FormatName
	if f == "tty" || strings.HasSuffix(f, "_pipe") && !imageFormat(f) {
		return KindOther
	}
	hasVideo, hasAudio, still := false, false, false
	for _, s := range m.Streams {
		switch s.Type {
		case "video":
			if s.AttachedPic || s.Codec == "ansi" || s.Codec == "bintext" || s.Codec == "xbin" || s.Codec == "idf" {
				continue
			}
			if imageFormat(f) || (s.Frames <= 1 && m.Duration == 0 && isImageCodec(s.Codec)) {
				still = true
				continue
			}
			hasVideo = true
		case "audio":
			hasAudio = true
		}
	}
	switch {
	case hasVideo:
		return KindVideo
	case still:
		return KindImage
	case hasAudio:
		return KindAudio
	}
	return KindOther
}

func imageFormat(f string) bool {
	return f == "image2" || strings.HasSuffix(f, "_pipe") && isImageCodec(strings.TrimSuffix(f, "_pipe")) ||
		f == "png_pipe" || f == "jpeg_pipe" || f == "tiff_pipe" || f == "webp_pipe" || f == "bmp_pipe" || f == "dpx_pipe" || f == "exr_pipe"
}

func isImageCodec(c string) bool {
	switch c {
	case "png", "mjpeg", "jpeg", "tiff", "bmp", "webp", "dpx", "exr", "gif", "jpeg2000", "ppm", "pgm", "targa", "sgi", "hdr", "jpegxl", "qoi":
		return true
	}
	return false
}

// unsupportedReason says why FFmpeg cannot make a proxy of this source, or
// "" when it can.
func unsupportedReason(path string, m *storage.Media) string {
	if e, _ := storage.MediaExtOf(path); e.NoDecoder != "" {
		return e.NoDecoder + " is not decodable by FFmpeg"
	}
	if m == nil {
		return ""
	}
	for _, s := range m.Streams {
		if s.Type == "video" && !s.AttachedPic && (s.Codec == "" || s.Codec == "unknown" || s.Codec == "none") {
			tag := s.CodecTag
			if tag == "" {
				tag = "?"
			}
			return fmt.Sprintf("unknown video codec (tag %s) in stream %d: FFmpeg cannot decode it", tag, s.Index)
		}
	}
	return ""
}

func containerName(f ffFormat) string {
	n := f.FormatName
	switch {
	case strings.HasPrefix(n, "mov,mp4"):
		brand := strings.TrimSpace(lowerKeys(f.Tags)["major_brand"])
		switch brand {
		case "qt", "":
			return "mov"
		case "M4A":
			return "m4a"
		}
		return "mp4"
	case strings.HasSuffix(n, "_pipe") || n == "image2":
		return strings.TrimSuffix(n, "_pipe")
	}
	if i := strings.IndexByte(n, ','); i > 0 {
		return n[:i]
	}
	return n
}

// frameRate returns the exact frame rate fraction and whether the stream
// looks variable-frame-rate (average differs from the base rate).
func frameRate(r, avg string) (string, bool) {
	rr, okr := parseRat(r)
	ra, oka := parseRat(avg)
	switch {
	case okr && oka:
		if rr.Cmp(ra) == 0 {
			return ratString(rr), false
		}
		fr, _ := rr.Float64()
		fa, _ := ra.Float64()
		if math.Abs(fr-fa)/fr < 0.002 {
			return ratString(rr), false
		}
		return ratString(ra), true
	case okr:
		return ratString(rr), false
	case oka:
		return ratString(ra), false
	}
	return "", false
}

// ratString writes a rational as num/den, always with the denominator
// (25/1, 24000/1001), as ffprobe does.
func ratString(r *big.Rat) string { return r.Num().String() + "/" + r.Denom().String() }

func parseRat(s string) (*big.Rat, bool) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0/0" || s == "0/1" || s == "N/A" {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || r.Sign() <= 0 {
		return nil, false
	}
	return r, true
}

func ratFloat(s string) float64 {
	r, ok := parseRat(s)
	if !ok {
		return 0
	}
	f, _ := r.Float64()
	return f
}

func cleanRatio(s string) string {
	if s == "0:1" || s == "N/A" {
		return ""
	}
	return s
}

func bitDepth(raw, pixFmt string) int {
	if n, err := strconv.Atoi(raw); err == nil && n > 0 {
		return n
	}
	switch {
	case strings.Contains(pixFmt, "16"):
		return 16
	case strings.Contains(pixFmt, "12"):
		return 12
	case strings.Contains(pixFmt, "10"):
		return 10
	case pixFmt == "":
		return 0
	}
	return 8
}

// rotation returns the clockwise rotation needed for display, 0, 90, 180 or
// 270 (the old "rotate" tag convention).
func rotation(s ffStream) int {
	deg := 0.0
	found := false
	for _, sd := range s.SideDataList {
		if sd.Type == "Display Matrix" {
			deg, found = -sd.Rotation, true
		}
	}
	if !found {
		if v, err := strconv.ParseFloat(s.Tags["rotate"], 64); err == nil {
			deg = v
		}
	}
	r := int(math.Round(deg/90)) * 90 % 360
	if r < 0 {
		r += 360
	}
	return r
}

// normTimecode returns HH:MM:SS:FF with ';' before the frames when the
// timecode is drop-frame (';' or '.' anywhere in the input).
func normTimecode(tc string) (string, bool) {
	tc = strings.TrimSpace(tc)
	drop := strings.ContainsAny(tc, ";.")
	parts := strings.FieldsFunc(tc, func(r rune) bool { return r == ':' || r == ';' || r == '.' })
	if len(parts) != 4 {
		return tc, drop
	}
	sep := ":"
	if drop {
		sep = ";"
	}
	return parts[0] + ":" + parts[1] + ":" + parts[2] + sep + parts[3], drop
}

func parseFloat(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

func lowerKeys(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func nz(s string) string {
	if s == "unknown" {
		return ""
	}
	return s
}

// excerpt returns the last n bytes of s, trimmed, starting at a line.
func excerpt(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = s[len(s)-n:]
		if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
			s = s[i+1:]
		}
	}
	return s
}

// fourCC is ffprobe's codec_tag_string when it is a four-character code
// of printable characters ("avc1", "apcn"); "" (codec_tag omitted) for no
// tag ("[0][0][0][0]") or a numeric one that ffprobe prints with bytes in
// brackets (an MPEG-TS stream type "[27][0][0][0]", a WAV format tag
// "[1][0][0][0]"): not a fourcc, and `codec` already names the codec.
func fourCC(tag string) string {
	if len(tag) != 4 || strings.Contains(tag, "[") {
		return ""
	}
	for i := 0; i < len(tag); i++ {
		if tag[i] < 0x20 || tag[i] > 0x7e {
			return ""
		}
	}
	return tag
}
