package transcode

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/ingestd/ingestd/storage"
)

// plan is one FFmpeg invocation that makes the main proxy of a source.
type plan struct {
	Lane    string   // cpu | gpu
	Encoder string   // libx264 | h264_nvenc
	Args    []string // after baseArgs, output path last
	Width   int
	Height  int
	Profile string // profile name recorded on the asset
	// Audio lists the audio tracks of a video proxy in output order: the
	// stereo mix first, then the source audio tracks (sourceTracks). Empty
	// for a silent source.
	Audio []audioTrack
}

// audioTrack is one AAC-LC 48 kHz audio track of a video proxy.
type audioTrack struct {
	// Title is the track name written as the track's handler name (MP4
	// hdlr box, ffprobe tags.handler_name): "Mix" for the mix and
	// "A<n> (stream <k>)" or "A<n> (stream <k> ch <c>)" for source tracks.
	// Empty for a mix that is the only track (named like before: FFmpeg's
	// default SoundHandler).
	Title    string
	Channels int    // 1, 2, or the channels of Layout
	Layout   string // output channel layout: mono, stereo, 5.1, …
	Bitrate  string // -b:a for this track
	// Stream is the source stream's index in the input (-1 for the mix);
	// Channel the 1-based source channel of a split channel, 0 when the
	// track carries the whole stream.
	Stream  int
	Channel int
	// Duration of the source stream in seconds (0: unknown).
	Duration float64
}

// Bitrates of the source audio tracks: mono 96k, stereo 160k, and 64k per
// channel for multichannel layouts (5.1: 384k, 7.1: 512k).
const (
	monoBitrate       = "96k"
	stereoBitrate     = "160k"
	perChannelBitrate = 64 // kbit/s
)

// aacLayouts maps the source channel layouts (ffprobe names) that FFmpeg's
// native AAC encoder writes without a PCE to the layout of the track. Side
// and back surrounds are the same AAC channel elements, so 5.1(side) becomes
// 5.1 without a remix. Any other layout with more than two channels (quad,
// 2.1, 6.1, 7.1(wide), …) cannot be kept as one AAC-LC track without a
// remix, so it is split into one mono track per channel like an unknown
// layout.
var aacLayouts = map[string]string{
	"3.0": "3.0", "4.0": "4.0", "5.0": "5.0", "5.0(side)": "5.0",
	"5.1": "5.1", "5.1(side)": "5.1", "7.1": "7.1",
}

// layoutChannels is the channel count of each aacLayouts value.
var layoutChannels = map[string]int{"3.0": 3, "4.0": 4, "5.0": 5, "5.1": 6, "7.1": 8}

// videoStream returns the first real video stream.
func videoStream(m *storage.Media) (storage.Stream, bool) {
	for _, s := range m.Streams {
		if s.Type == "video" && !s.AttachedPic {
			return s, true
		}
	}
	return storage.Stream{}, false
}

func audioStreams(m *storage.Media) []storage.Stream {
	var out []storage.Stream
	for _, s := range m.Streams {
		if s.Type == "audio" && s.Channels > 0 {
			out = append(out, s)
		}
	}
	return out
}

// proxyDims returns the square-pixel output size: the display aspect of the
// source (SAR applied, rotation applied), height at most maxH, never
// upscaled, both even.
func proxyDims(v storage.Stream, maxH int) (int, int) {
	w, h := float64(v.Width), float64(v.Height)
	if r, ok := parseRat(strings.Replace(v.SAR, ":", "/", 1)); ok {
		f, _ := r.Float64()
		w *= f
	}
	if v.Rotation == 90 || v.Rotation == 270 {
		w, h = h, w
	}
	th := math.Min(h, float64(maxH))
	tw := w * th / h
	return even(tw), even(th)
}

func even(f float64) int {
	n := int(math.Round(f/2)) * 2
	if n < 2 {
		n = 2
	}
	return n
}

// gopFrames is the keyframe interval in frames: at most gopSeconds.
func gopFrames(rate string, gopSeconds float64) int {
	r, ok := parseRat(rate)
	if !ok {
		return 25
	}
	f, _ := new(big.Rat).Mul(r, new(big.Rat).SetFloat64(gopSeconds)).Float64()
	g := int(math.Floor(f + 1e-9))
	if g < 1 {
		g = 1
	}
	return g
}

func interlaced(v storage.Stream) bool {
	switch v.FieldOrder {
	case "tt", "bb", "tb", "bt":
		return true
	}
	return false
}

// toneMap returns the CPU filters that map PQ/HLG to SDR BT.709 with zscale
// and tonemap (both present in Debian's FFmpeg 5.1).
func toneMap(v storage.Stream) string {
	tin := "smpte2084"
	if v.HDR == "hlg" {
		tin = "arib-std-b67"
	}
	prim := first(v.ColorPrimaries, "bt2020")
	mat := first(v.ColorMatrix, "bt2020nc")
	return fmt.Sprintf("zscale=tin=%s:pin=%s:min=%s:t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv", tin, prim, mat)
}

// audioMix returns the filter graph part that mixes every audio stream of
// input 0 to one 48 kHz stereo stream labelled [aout], or "" when there is
// no audio. Mono goes to both sides; stereo stays; known multichannel
// layouts (5.1, …) use libswresample's standard downmix; unknown layouts
// put odd channels left and even channels right.
func audioMix(m *storage.Media) string {
	as := audioStreams(m)
	if len(as) == 0 {
		return ""
	}
	var parts, labels []string
	for i, s := range as {
		var f string
		switch {
		case s.Channels == 1:
			f = "pan=stereo|c0=c0|c1=c0"
		case s.Channels == 2 && (s.Layout == "" || s.Layout == "unknown"):
			f = "pan=stereo|c0=c0|c1=c1"
		case s.Layout != "" && s.Layout != "unknown":
			f = "aformat=channel_layouts=stereo"
		default:
			var l, r []string
			for c := 0; c < s.Channels; c++ {
				if c%2 == 0 {
					l = append(l, "c"+strconv.Itoa(c))
				} else {
					r = append(r, "c"+strconv.Itoa(c))
				}
			}
			f = "pan=stereo|c0<" + strings.Join(l, "+") + "|c1<" + strings.Join(r, "+")
		}
		lab := fmt.Sprintf("[a%d]", i)
		parts = append(parts, fmt.Sprintf("[0:%d]%s%s", s.Index, f, lab))
		labels = append(labels, lab)
	}
	mix := labels[0] + "aresample=48000[aout]"
	if len(labels) > 1 {
		mix = strings.Join(labels, "") + fmt.Sprintf("amix=inputs=%d:duration=longest,aresample=48000[aout]", len(labels))
	}
	return strings.Join(append(parts, mix), ";")
}

// sourceTracks returns the source audio tracks that follow the mix in a
// video proxy, or nil when the mix loses nothing (no audio, or one stream of
// at most two channels). One mono stream gives a mono track, a stereo
// stream a stereo track, a stream in an AAC layout (aacLayouts) one track
// in that layout, and any other stream of more than two channels (no,
// unknown or non-AAC layout: discrete channels) one mono track per channel.
// Tracks are numbered A1, A2, … in order; stream k is the k-th audio stream
// of the source (1-based, as ffprobe's a:k-1), ch c its c-th channel.
func sourceTracks(m *storage.Media) []audioTrack {
	as := audioStreams(m)
	if len(as) == 0 || len(as) == 1 && as[0].Channels <= 2 {
		return nil
	}
	ordinal := map[int]int{} // stream index -> 1-based audio stream number
	for _, s := range m.Streams {
		if s.Type == "audio" {
			ordinal[s.Index] = len(ordinal) + 1
		}
	}
	var out []audioTrack
	add := func(t audioTrack, s storage.Stream, k int) {
		n := len(out) + 1
		t.Stream, t.Duration = s.Index, s.Duration
		if t.Channel > 0 {
			t.Title = fmt.Sprintf("A%d (stream %d ch %d)", n, k, t.Channel)
		} else {
			t.Title = fmt.Sprintf("A%d (stream %d)", n, k)
		}
		out = append(out, t)
	}
	for _, s := range as {
		k := ordinal[s.Index]
		switch l := aacLayouts[s.Layout]; {
		case s.Channels == 1:
			add(audioTrack{Channels: 1, Layout: "mono", Bitrate: monoBitrate}, s, k)
		case s.Channels == 2:
			add(audioTrack{Channels: 2, Layout: "stereo", Bitrate: stereoBitrate}, s, k)
		case l != "" && layoutChannels[l] == s.Channels:
			add(audioTrack{Channels: s.Channels, Layout: l, Bitrate: fmt.Sprintf("%dk", perChannelBitrate*s.Channels)}, s, k)
		default:
			for c := 1; c <= s.Channels; c++ {
				add(audioTrack{Channels: 1, Layout: "mono", Bitrate: monoBitrate, Channel: c}, s, k)
			}
		}
	}
	return out
}

// sourceTrackFilters returns the filter graph chains of the source tracks,
// labelled [s1], [s2], … (each reads its source stream again; FFmpeg
// decodes it once).
func sourceTrackFilters(ts []audioTrack) []string {
	var out []string
	for i, t := range ts {
		var f string
		switch {
		case t.Channel > 0:
			f = fmt.Sprintf("pan=mono|c0=c%d", t.Channel-1)
		case t.Channels == 1:
			f = "pan=mono|c0=c0"
		case t.Channels == 2:
			f = "pan=stereo|c0=c0|c1=c1"
		default:
			f = "aformat=channel_layouts=" + t.Layout
		}
		out = append(out, fmt.Sprintf("[0:%d]%s,aresample=48000[s%d]", t.Stream, f, i+1))
	}
	return out
}

// gpuOK reports whether the NVIDIA pipeline can take this source.
func gpuOK(c Capabilities, v storage.Stream) bool {
	if !c.CUDA || !c.ScaleCUDA || v.Rotation != 0 {
		return false
	}
	switch v.PixFmt {
	case "", "yuv420p", "yuvj420p", "nv12", "yuv420p10le", "p010le":
	default:
		return false // NVDEC decodes 4:2:0 only (no 4:2:2/4:4:4 H.264, no ProRes)
	}
	key := v.Codec
	if v.BitDepth > 8 {
		key += "10"
	}
	if !c.NVDEC[key] {
		return false
	}
	maxW := 4096
	if v.Codec == "hevc" || v.Codec == "av1" || v.Codec == "vp9" {
		maxW = 8192
	}
	return v.Width <= maxW && v.Height <= maxW
}

// videoPlan builds the proxy command for a video source on the given lane:
// the proxy alone (the bare encode the bench compares the job with).
func videoPlan(cfg Config, caps Capabilities, m *storage.Media, src, out, lane string) (plan, error) {
	return videoJobPlan(cfg, caps, m, src, out, lane, derived{})
}

// derived are the outputs a video job takes from the proxy's own FFmpeg
// run: the decoded, scaled (tone-mapped, deinterlaced, rotated) frames are
// split into the proxy encoder, a poster branch and a filmstrip branch, and
// the stereo mix into the AAC encoder and a PCM branch for the waveform, so
// the master is read and decoded once per job. Times are seconds from the
// first video frame (the proxy's timeline).
type derived struct {
	Poster     string  // poster JPEG path, "" for none
	PosterAt   float64 // the poster is the first frame at or after this
	Filmstrip  string  // filmstrip JPEG path, "" for none
	Duration   float64 // video duration: the filmstrip spacing
	LastPick   float64 // no poster or tile is picked later than this (lastPick)
	HasLast    bool    // LastPick is set (the frame count is known)
	Tiles      int     // filmstrip frames, side by side in one row
	TileHeight int     // filmstrip height in pixels
	PCM        bool    // the mix as 48 kHz stereo s16le on stdout (waveform)
}

// posterFilter picks the first frame at or after at seconds (one frame only).
// at is rounded down to the millisecond, so that a time at a frame's start
// never rounds past it.
func posterFilter(at float64) string {
	return fmt.Sprintf("setpts=PTS-STARTPTS,select='gte(t\\,%s)*eq(selected_n\\,0)',format=yuvj420p", strconv.FormatFloat(math.Floor(at*1000)/1000, 'f', 3, 64))
}

// lastPick is how late a poster or filmstrip tile may be picked in a clip
// of frames frames lasting duration seconds: half a millisecond before the
// start of its last frame, so that a short clip (one frame, or fewer
// frames than tiles) still yields every picture instead of none. ok is
// false when the frame count is unknown (no limit).
func lastPick(duration float64, frames int64) (at float64, ok bool) {
	if frames <= 0 || duration <= 0 {
		return 0, false
	}
	return max(0, duration*float64(frames-1)/float64(frames)-0.0005), true
}

// filmstripFilter tiles n evenly spaced frames of a clip of duration
// seconds into one row of height h: tile k is the first frame at or after
// (k+0.5)*duration/n.
//
// With hasLast no tile is picked later than last (lastPick): a clip with
// fewer frames than tiles fills the tiles it has (the rest stay black).
func filmstripFilter(duration float64, n, h int, last float64, hasLast bool) string {
	if duration <= 0 {
		duration = 1
	}
	step := duration / float64(n)
	at := fmt.Sprintf("(selected_n+0.5)*%.6f", step)
	if hasLast {
		at = fmt.Sprintf("min(%s\\,%.6f)", at, last)
	}
	return fmt.Sprintf("setpts=PTS-STARTPTS,select='gte(t\\,%s)*lt(selected_n\\,%d)',scale=-2:%d,setsar=1,tile=%dx1,format=yuvj420p", at, n, h, n)
}

// videoJobPlan is videoPlan with the derived outputs d added to the same
// FFmpeg run (outputs after the proxy; the PCM goes to stdout).
func videoJobPlan(cfg Config, caps Capabilities, m *storage.Media, src, out, lane string, d derived) (plan, error) {
	v, ok := videoStream(m)
	if !ok {
		return plan{}, fmt.Errorf("no video stream in %s", src)
	}
	input, err := inputArgs(m.Container, src)
	if err != nil {
		return plan{}, fmt.Errorf("proxy of %s: %w", src, err)
	}
	w, h := proxyDims(v, cfg.MaxHeight)
	p := plan{Lane: lane, Encoder: "libx264", Width: w, Height: h,
		Profile: fmt.Sprintf("h264-high-%dp", h)}

	var in, vf []string
	if lane == LaneGPU {
		in = []string{"-hwaccel", "cuda", "-hwaccel_output_format", "cuda"}
		if interlaced(v) {
			vf = append(vf, "yadif_cuda=mode=send_frame:parity=auto:deint=all")
		}
		dl := "nv12"
		if v.BitDepth > 8 {
			dl = "p010le"
		}
		if caps.NVENC && v.HDR == "" {
			// Stay on the GPU from decode to encode.
			vf = append(vf, fmt.Sprintf("scale_cuda=%d:%d:interp_algo=bicubic:format=nv12", w, h))
			p.Encoder = "h264_nvenc"
		} else {
			vf = append(vf, fmt.Sprintf("scale_cuda=%d:%d:interp_algo=bicubic", w, h), "hwdownload", "format="+dl)
		}
	} else {
		if interlaced(v) {
			vf = append(vf, "bwdif=mode=send_frame:parity=auto:deint=all")
		}
		vf = append(vf, fmt.Sprintf("scale=%d:%d:flags=bicubic", w, h))
	}
	if v.HDR != "" {
		vf = append(vf, toneMap(v))
	}
	if p.Encoder == "libx264" {
		vf = append(vf, "setsar=1", "format=yuv420p")
	} else {
		vf = append(vf, "setsar=1")
	}
	var branches [][2]string // derived video branches after the split: label, filters
	if d.Poster != "" {
		at := d.PosterAt
		if d.HasLast {
			at = min(at, d.LastPick)
		}
		branches = append(branches, [2]string{"poster", posterFilter(at)})
	}
	if d.Filmstrip != "" {
		branches = append(branches, [2]string{"film", filmstripFilter(d.Duration, d.Tiles, d.TileHeight, d.LastPick, d.HasLast)})
	}
	graph := fmt.Sprintf("[0:%d]%s", v.Index, strings.Join(vf, ","))
	if len(branches) == 0 {
		graph += "[vout]"
	} else {
		graph += fmt.Sprintf(",split=%d[vout]", len(branches)+1)
		var chains []string
		for _, b := range branches {
			name, f := b[0], b[1]
			graph += "[" + name + "0]"
			if p.Encoder == "h264_nvenc" {
				// The proxy's frames stay on the GPU: JPEGs need them in memory.
				f = "hwdownload,format=nv12," + f
			}
			chains = append(chains, fmt.Sprintf("[%s0]%s[%s]", name, f, name))
		}
		graph += ";" + strings.Join(chains, ";")
	}
	var extra []audioTrack
	pcm := false
	if am := audioMix(m); am != "" {
		if d.PCM {
			am = strings.TrimSuffix(am, "[aout]") + ",asplit=2[aout][wave]"
			pcm = true
		}
		graph += ";" + am
		p.Audio = []audioTrack{{Channels: 2, Layout: "stereo", Bitrate: cfg.AudioBitrate, Stream: -1}}
		if cfg.sourceAudio() {
			extra = sourceTracks(m)
		}
		if len(extra) > 0 {
			p.Audio[0].Title = "Mix"
			p.Audio = append(p.Audio, extra...)
			graph += ";" + strings.Join(sourceTrackFilters(extra), ";")
		}
	}
	args := append(append(in, input...), "-filter_complex", graph, "-map", "[vout]")
	if len(p.Audio) > 0 {
		args = append(args, "-map", "[aout]")
	}
	for i := range extra {
		args = append(args, "-map", fmt.Sprintf("[s%d]", i+1))
	}
	g := gopFrames(v.FrameRate, cfg.GOPSeconds)
	args = append(args, "-fps_mode", "passthrough", "-map_metadata", "-1", "-map_chapters", "-1")
	if cfg.Threads > 0 {
		args = append(args, "-threads", strconv.Itoa(cfg.Threads))
	}
	if p.Encoder == "h264_nvenc" {
		args = append(args, "-c:v", "h264_nvenc", "-profile:v", "high", "-preset", "p4", "-rc", "vbr",
			"-b:v", cfg.VideoBitrate, "-g", strconv.Itoa(g), "-bf", "0", "-no-scenecut", "1", "-forced-idr", "1", "-strict_gop", "1")
	} else {
		args = append(args, "-c:v", "libx264", "-profile:v", "high", "-preset", cfg.Preset, "-pix_fmt", "yuv420p",
			"-b:v", cfg.VideoBitrate, "-maxrate", cfg.VideoBitrate, "-bufsize", doubleRate(cfg.VideoBitrate),
			"-g", strconv.Itoa(g), "-keyint_min", strconv.Itoa(g), "-sc_threshold", "0", "-flags", "+cgop", "-bf", "0")
	}
	if v.VFR {
		// Frame-count GOPs can exceed the time limit when frames are sparse.
		args = append(args, "-force_key_frames", fmt.Sprintf("expr:gte(t,n_forced*%g)", cfg.GOPSeconds))
	}
	if v.HDR != "" {
		args = append(args, "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709")
	}
	switch {
	case len(extra) > 0:
		args = append(args, "-c:a", "aac", "-ar", "48000")
		for i, t := range p.Audio {
			n := strconv.Itoa(i)
			args = append(args, "-b:a:"+n, t.Bitrate, "-ac:a:"+n, strconv.Itoa(t.Channels), "-metadata:s:a:"+n, "handler_name="+t.Title)
		}
	case len(p.Audio) > 0:
		args = append(args, "-c:a", "aac", "-b:a", cfg.AudioBitrate, "-ar", "48000", "-ac", "2")
	}
	if m.Timecode != "" {
		args = append(args, "-timecode", m.Timecode)
	}
	args = append(args, "-movflags", "+faststart", "-f", "mp4", out)
	if d.Poster != "" {
		args = append(args, "-map", "[poster]", "-fps_mode", "passthrough", "-frames:v", "1",
			"-c:v", "mjpeg", "-q:v", "3", "-f", "image2", "-update", "1", d.Poster)
	}
	if d.Filmstrip != "" {
		args = append(args, "-map", "[film]", "-fps_mode", "passthrough", "-frames:v", "1",
			"-c:v", "mjpeg", "-q:v", "4", "-f", "image2", "-update", "1", d.Filmstrip)
	}
	if pcm {
		args = append(args, pcmOutput("[wave]")...)
	}
	p.Args = args
	return p, nil
}

// pcmOutput is the output part that writes an audio stream as 48 kHz
// stereo s16le to stdout (the waveform's input).
func pcmOutput(stream string) []string {
	return []string{"-map", stream, "-ac", "2", "-ar", "48000", "-c:a", "pcm_s16le", "-f", "s16le", "pipe:1"}
}

func doubleRate(r string) string {
	r = strings.TrimSpace(r)
	unit := ""
	if n := len(r); n > 0 && strings.ContainsAny(r[n-1:], "kKmM") {
		unit, r = r[n-1:], r[:n-1]
	}
	f, err := strconv.ParseFloat(r, 64)
	if err != nil {
		return r + unit
	}
	return strconv.FormatFloat(2*f, 'f', -1, 64) + unit
}

// audioPlan builds the AAC M4A proxy command.
func audioPlan(cfg Config, m *storage.Media, src, out string) (plan, error) {
	return audioJobPlan(cfg, m, src, out, false)
}

// audioJobPlan is audioPlan that, with pcm, also writes the mix as 48 kHz
// stereo s16le to stdout (the waveform) from the same decode.
func audioJobPlan(cfg Config, m *storage.Media, src, out string, pcm bool) (plan, error) {
	am := audioMix(m)
	if am == "" {
		return plan{}, fmt.Errorf("no audio stream in %s", src)
	}
	input, err := inputArgs(m.Container, src)
	if err != nil {
		return plan{}, fmt.Errorf("audio proxy of %s: %w", src, err)
	}
	if pcm {
		am = strings.TrimSuffix(am, "[aout]") + ",asplit=2[aout][wave]"
	}
	args := append(input, "-filter_complex", am, "-map", "[aout]", "-vn", "-map_metadata", "-1",
		"-c:a", "aac", "-b:a", cfg.AudioBitrate, "-ar", "48000", "-ac", "2", "-movflags", "+faststart", "-f", "mp4", out)
	if pcm {
		args = append(args, pcmOutput("[wave]")...)
	}
	return plan{Lane: LaneCPU, Encoder: "aac", Args: args, Profile: "aac-lc-48k-stereo"}, nil
}

// imageDims caps the long edge at maxEdge, never upscaling; square pixels.
func imageDims(v storage.Stream, maxEdge int) (int, int) {
	w, h := float64(v.Width), float64(v.Height)
	if r, ok := parseRat(strings.Replace(v.SAR, ":", "/", 1)); ok {
		f, _ := r.Float64()
		w *= f
	}
	if v.Rotation == 90 || v.Rotation == 270 {
		w, h = h, w
	}
	long := math.Max(w, h)
	if long > float64(maxEdge) {
		w, h = w*float64(maxEdge)/long, h*float64(maxEdge)/long
	}
	return int(math.Max(1, math.Round(w))), int(math.Max(1, math.Round(h)))
}

// imagePlan builds the JPEG proxy of a still.
func imagePlan(cfg Config, m *storage.Media, src, out string) (plan, error) {
	v, ok := videoStream(m)
	if !ok {
		return plan{}, fmt.Errorf("no picture in %s", src)
	}
	input, err := inputArgs(m.Container, src)
	if err != nil {
		return plan{}, fmt.Errorf("image proxy of %s: %w", src, err)
	}
	w, h := imageDims(v, cfg.ImageMaxEdge)
	args := append(input, "-map", fmt.Sprintf("0:%d", v.Index), "-frames:v", "1",
		"-vf", fmt.Sprintf("scale=%d:%d:flags=lanczos,setsar=1,format=yuvj444p", w, h),
		"-map_metadata", "-1", "-c:v", "mjpeg", "-q:v", "3", "-f", "image2", "-update", "1", out)
	return plan{Lane: LaneCPU, Encoder: "mjpeg", Args: args, Width: w, Height: h, Profile: fmt.Sprintf("jpeg-%d", cfg.ImageMaxEdge)}, nil
}

// pcmArgs decodes the first audio track of a proxy to stereo s16le on stdout
// (tests read proxies with it; jobs take the PCM from the proxy run).
func pcmArgs(proxy string) []string {
	return append(ownInput(fmtMP4, proxy), "-map", "0:a:0", "-ac", "2", "-ar", "48000", "-f", "s16le", "-c:a", "pcm_s16le", "pipe:1")
}
