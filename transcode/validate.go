package transcode

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"image/jpeg"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/ingestd/ingestd/storage"
)

// countFrames counts the packets of the first video stream (demux only, no
// decode): the frame count of sources whose container does not store it.
// format is the probed container (storage.Media.Container).
func countFrames(ctx context.Context, ffprobe, format, path string) (int64, error) {
	in, err := inputArgs(format, path)
	if err != nil {
		return 0, fmt.Errorf("count frames %s: %w", path, err)
	}
	p, err := runProbe(ctx, ffprobe, path, in, "-select_streams", "v:0", "-count_packets", "-show_entries", "stream=nb_read_packets")
	if err != nil {
		return 0, err
	}
	if len(p.Streams) == 0 {
		return 0, fmt.Errorf("count frames %s: no video stream", path)
	}
	return strconv.ParseInt(p.Streams[0].NbReadPackets, 10, 64)
}

// proxyReport is what validation measured on an output.
type proxyReport struct {
	Frames   int64
	Duration float64
}

// validateVideo checks a video proxy against its source and the rules: H.264
// High yuv420p, the planned even size, no B-frames, no rotation, frame count
// and duration within one frame of the source, timecode kept, stereo 48 kHz
// AAC-LC first audio track when the source had audio, then exactly the
// planned source audio tracks (checkSourceTracks), keyframes at most
// GOPSeconds apart, moov before mdat.
func validateVideo(ctx context.Context, ffprobe, out string, src *storage.Media, srcFrames int64, cfg Config, pl plan) (proxyReport, error) {
	var rep proxyReport
	p, err := runProbe(ctx, ffprobe, out, ownInput(fmtMP4, out), "-show_format", "-show_streams", "-count_packets")
	if err != nil {
		return rep, err
	}
	m := convertProbe(p)
	var problems []string
	bad := func(f string, a ...any) { problems = append(problems, fmt.Sprintf(f, a...)) }
	var vs *ffStream
	var audio []ffStream
	for i := range p.Streams {
		s := p.Streams[i]
		switch s.CodecType {
		case "video":
			if vs == nil {
				vs = &p.Streams[i]
			}
		case "audio":
			audio = append(audio, s)
		}
	}
	if vs == nil {
		return rep, fmt.Errorf("validate %s: no video stream", out)
	}
	if vs.CodecName != "h264" || vs.Profile != "High" {
		bad("video is %s %s, want h264 High", vs.CodecName, vs.Profile)
	}
	if vs.PixFmt != "yuv420p" {
		bad("pix_fmt %s, want yuv420p", vs.PixFmt)
	}
	if vs.Width != pl.Width || vs.Height != pl.Height || vs.Width%2 != 0 || vs.Height%2 != 0 {
		bad("size %dx%d, want %dx%d", vs.Width, vs.Height, pl.Width, pl.Height)
	}
	if vs.HasBFrames != 0 {
		bad("has_b_frames=%d, want 0", vs.HasBFrames)
	}
	if r := rotation(*vs); r != 0 {
		bad("rotation %d left in output", r)
	}
	rep.Frames, _ = strconv.ParseInt(vs.NbReadPackets, 10, 64)
	rep.Duration = parseFloat(vs.Duration)
	sv, _ := videoStream(src)
	fps := ratFloat(sv.FrameRate)
	if fps <= 0 {
		fps = 25
	}
	if srcFrames > 0 && absInt(rep.Frames-srcFrames) > 1 {
		bad("%d frames, source has %d", rep.Frames, srcFrames)
	}
	srcDur := sv.Duration
	if srcDur == 0 && srcFrames > 0 && !sv.VFR {
		srcDur = float64(srcFrames) / fps
	}
	if srcDur == 0 {
		srcDur = src.Duration
	}
	if srcDur > 0 && math.Abs(rep.Duration-srcDur) > 1/fps+0.002 {
		bad("duration %.3fs, source %.3fs", rep.Duration, srcDur)
	}
	if src.Timecode != "" && m.Timecode != src.Timecode {
		bad("timecode %q, source %q", m.Timecode, src.Timecode)
	}
	if len(audioStreams(src)) > 0 {
		if len(audio) == 0 {
			bad("no audio track, source has audio")
		} else if a := audio[0]; a.CodecName != "aac" || a.Profile != "LC" || a.SampleRate != "48000" || a.Channels != 2 {
			bad("first audio is %s %s %s Hz %d ch, want aac LC 48000 Hz stereo", a.CodecName, a.Profile, a.SampleRate, a.Channels)
		}
	}
	checkSourceTracks(audio, pl.Audio, rep.Duration, fps, bad)
	keys, before, last, err := keyframeTimes(ctx, ffprobe, out)
	if err != nil {
		return rep, err
	}
	if len(keys) == 0 || keys[0] > 1e-6+firstPTS(keys) {
		bad("no keyframe at the start")
	}
	limit := cfg.GOPSeconds + 0.5/fps + 1e-3
	for i := 1; i < len(keys); i++ {
		// A longer gap is the encoder's fault only if a frame came where
		// a keyframe was due; where frames are sparse (a variable frame
		// rate dropping in low light, frames lost to a damaged stream)
		// the next frame is the first that can be one.
		if keys[i]-keys[i-1] > limit && before[i] >= keys[i-1]+cfg.GOPSeconds-1e-3 {
			bad("keyframes %.3fs apart at %.3fs, limit %gs", keys[i]-keys[i-1], keys[i-1], cfg.GOPSeconds)
			break
		}
	}
	if len(keys) > 0 && last-keys[len(keys)-1] > limit {
		bad("last keyframe at %.3fs, last frame at %.3fs", keys[len(keys)-1], last)
	}
	if ok, err := moovFirst(out); err != nil {
		return rep, err
	} else if !ok {
		bad("moov after mdat (not faststart)")
	}
	if len(problems) > 0 {
		return rep, fmt.Errorf("validate %s: %s", out, strings.Join(problems, "; "))
	}
	return rep, nil
}

// checkSourceTracks compares the proxy's audio tracks with the plan: as
// many tracks as planned, and each source track (after the mix) AAC-LC
// 48 kHz with the planned channels and name, as long as its source stream
// (the video when the stream's duration is unknown) within one video frame
// — or one AAC frame (1024 samples, 21.3 ms) where that is longer, since
// AAC ends on a whole frame.
func checkSourceTracks(audio []ffStream, want []audioTrack, videoDur, fps float64, bad func(string, ...any)) {
	if len(audio) != len(want) {
		bad("%d audio tracks, want %d", len(audio), len(want))
		return
	}
	tol := math.Max(1/fps, 1024.0/48000) + 0.002
	for i := 1; i < len(want); i++ {
		a, w := audio[i], want[i]
		if a.CodecName != "aac" || a.Profile != "LC" || a.SampleRate != "48000" || a.Channels != w.Channels {
			bad("audio track %d is %s %s %s Hz %d ch, want aac LC 48000 Hz %d ch", i+1, a.CodecName, a.Profile, a.SampleRate, a.Channels, w.Channels)
		}
		if name := lowerKeys(a.Tags)["handler_name"]; name != w.Title {
			bad("audio track %d is named %q, want %q", i+1, name, w.Title)
		}
		d, ref := parseFloat(a.Duration), w.Duration
		if ref <= 0 {
			ref = videoDur
		}
		if ref > 0 && math.Abs(d-ref) > tol {
			bad("audio track %d lasts %.3fs, source %.3fs", i+1, d, ref)
		}
	}
}

func firstPTS(keys []float64) float64 {
	if len(keys) == 0 {
		return 0
	}
	return keys[0]
}

// keyframeTimes returns the pts of the keyframes of the first video stream,
// for each the pts of the packet before it (its own for the first packet;
// no B-frames in a proxy: decode order is time order), and the pts of its
// last packet.
func keyframeTimes(ctx context.Context, ffprobe, path string) (keys, before []float64, last float64, err error) {
	p, err := runPackets(ctx, ffprobe, path)
	if err != nil {
		return nil, nil, 0, err
	}
	for i, pk := range p {
		t := parseFloat(pk.PTSTime)
		if strings.HasPrefix(pk.Flags, "K") {
			prev := t
			if i > 0 {
				prev = last
			}
			keys, before = append(keys, t), append(before, prev)
		}
		if t > last {
			last = t
		}
	}
	return keys, before, last, nil
}

// validateAudio checks an M4A proxy: AAC-LC 48 kHz stereo, duration within
// 50 ms of the source's longest audio stream, moov first.
func validateAudio(ctx context.Context, ffprobe, out string, src *storage.Media) (proxyReport, error) {
	var rep proxyReport
	p, err := runProbe(ctx, ffprobe, out, ownInput(fmtMP4, out), "-show_format", "-show_streams")
	if err != nil {
		return rep, err
	}
	var problems []string
	bad := func(f string, a ...any) { problems = append(problems, fmt.Sprintf(f, a...)) }
	if len(p.Streams) != 1 || p.Streams[0].CodecType != "audio" {
		bad("%d streams, want one audio stream", len(p.Streams))
	} else if a := p.Streams[0]; a.CodecName != "aac" || a.Profile != "LC" || a.SampleRate != "48000" || a.Channels != 2 {
		bad("audio is %s %s %s Hz %d ch, want aac LC 48000 Hz stereo", a.CodecName, a.Profile, a.SampleRate, a.Channels)
	}
	rep.Duration = parseFloat(p.Format.Duration)
	want := src.Duration
	for _, s := range audioStreams(src) {
		want = math.Max(want, s.Duration)
	}
	if want > 0 && math.Abs(rep.Duration-want) > 0.05 {
		bad("duration %.3fs, source %.3fs", rep.Duration, want)
	}
	if ok, err := moovFirst(out); err != nil {
		return rep, err
	} else if !ok {
		bad("moov after mdat (not faststart)")
	}
	if len(problems) > 0 {
		return rep, fmt.Errorf("validate %s: %s", out, strings.Join(problems, "; "))
	}
	return rep, nil
}

// validateImage checks a JPEG output's codec and size (w or h 0: any).
func validateImage(ctx context.Context, ffprobe, out string, w, h int) error {
	p, err := runProbe(ctx, ffprobe, out, ownInput(fmtJPEG, out), "-show_streams")
	if err != nil {
		return err
	}
	if len(p.Streams) != 1 || p.Streams[0].CodecName != "mjpeg" {
		return fmt.Errorf("validate %s: not a single JPEG picture", out)
	}
	if s := p.Streams[0]; w > 0 && s.Width != w || h > 0 && s.Height != h {
		return fmt.Errorf("validate %s: size %dx%d, want %dx%d", out, s.Width, s.Height, w, h)
	}
	return nil
}

// validateJPEG checks a poster or filmstrip by decoding it whole, in
// process (no ffprobe run): a complete baseline JPEG of the given size (w or
// h 0: any).
func validateJPEG(out string, w, h int) error {
	f, err := os.Open(out)
	if err != nil {
		return fmt.Errorf("validate %s: %w", out, err)
	}
	defer f.Close()
	img, err := jpeg.Decode(bufio.NewReader(f))
	if err != nil {
		return fmt.Errorf("validate %s: not a complete JPEG: %w", out, err)
	}
	if b := img.Bounds(); w > 0 && b.Dx() != w || h > 0 && b.Dy() != h {
		return fmt.Errorf("validate %s: size %dx%d, want %dx%d", out, b.Dx(), b.Dy(), w, h)
	}
	return nil
}

// moovFirst reports whether the top-level moov box comes before mdat.
func moovFirst(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("faststart check %s: %w", path, err)
	}
	defer f.Close()
	var off int64
	hdr := make([]byte, 16)
	for {
		if _, err := f.ReadAt(hdr[:8], off); err != nil {
			if err == io.EOF {
				return false, fmt.Errorf("faststart check %s: no moov or mdat box", path)
			}
			return false, fmt.Errorf("faststart check %s: %w", path, err)
		}
		size := int64(binary.BigEndian.Uint32(hdr[:4]))
		typ := string(hdr[4:8])
		switch typ {
		case "moov":
			return true, nil
		case "mdat":
			return false, nil
		}
		if size == 1 {
			if _, err := f.ReadAt(hdr[8:16], off+8); err != nil {
				return false, fmt.Errorf("faststart check %s: %w", path, err)
			}
			size = int64(binary.BigEndian.Uint64(hdr[8:16]))
		}
		if size < 8 {
			return false, fmt.Errorf("faststart check %s: bad box %q size %d", path, typ, size)
		}
		off += size
	}
}

func absInt(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
