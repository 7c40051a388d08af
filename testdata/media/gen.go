// Package media generates the media zoo used by the transcode tests and
// benchmarks: short, small clips made with FFmpeg's lavfi sources that cover
// the cases a studio NAS holds (ProRes with timecode and several audio
// tracks, DNxHR and MPEG-2 interlaced MXF, XDCAM-style MXF with four
// discrete channels in one stream, rotated and VFR H.264, HEVC 10-bit
// HLG, AVCHD-style MTS, BWF with a time reference, 5.1 audio, stills,
// non-square pixels, a truncated file, an unknown codec and documents).
//
// It owns only the generated files under the directory it is given; it must
// not touch the catalog or the transcode package.
package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Clip is one generated file and what a correct proxy of it looks like.
type Clip struct {
	Name      string // file name inside the zoo directory
	Kind      string // video | audio | image | other
	Status    string // expected proxy status: ready | failed | unsupported | "" (no proxy)
	Frames    int64  // video frames in the source
	FrameRate string // exact source frame rate
	Timecode  string // start timecode, "" when none
	Interlace bool
	Rotation  int
	HDR       string
	VFR       bool
	Audio     int // audio streams in the source
	Channels  int // channels of the first audio stream
	// ProxyAudio is the audio of a correct video proxy (proxy.source_audio
	// on), track by track: the stereo mix first, then the source tracks.
	ProxyAudio []Track
	ProxyW     int // expected proxy width (images: long edge capped)
	ProxyH     int
	args       []string // ffmpeg arguments after the global ones, output last
	post       func(ffmpeg, path string) error
}

// Track is one expected audio track of a video proxy.
type Track struct {
	Title    string // handler name; "" for a mix that is the only track
	Channels int
}

// mixOnly is the audio of a proxy whose source has one stream of at most
// two channels.
var mixOnly = []Track{{"", 2}}

// monoTracks returns the mix and n mono tracks named by name(i), i from 1.
func monoTracks(n int, name func(i int) string) []Track {
	out := []Track{{"Mix", 2}}
	for i := 1; i <= n; i++ {
		out = append(out, Track{name(i), 1})
	}
	return out
}

// Version changes whenever a recipe changes, so cached zoos are rebuilt.
const Version = "zoo-v7"

func lavfiV(spec string) []string { return []string{"-f", "lavfi", "-i", spec} }

// Clips returns the recipes (nothing is generated).
func Clips() []Clip {
	sine := func(f int, d string) []string {
		return lavfiV(fmt.Sprintf("sine=frequency=%d:sample_rate=48000:duration=%s", f, d))
	}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	return []Clip{
		{
			Name: "prores_tc_4ch.mov", Kind: "video", Status: "ready", Frames: 24, FrameRate: "24000/1001",
			Timecode: "01:00:00:00", Audio: 4, Channels: 1, ProxyW: 320, ProxyH: 180,
			ProxyAudio: monoTracks(4, func(i int) string { return fmt.Sprintf("A%d (stream %d)", i, i) }),
			args: cat(lavfiV("testsrc2=size=320x180:rate=24000/1001"), sine(440, "1.1"), sine(550, "1.1"), sine(660, "1.1"), sine(770, "1.1"),
				[]string{"-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:a", "-map", "4:a", "-frames:v", "24",
					"-c:v", "prores_ks", "-profile:v", "1", "-c:a", "pcm_s24le", "-timecode", "01:00:00:00",
					"-metadata", "com.apple.quicktime.make=ARRI", "-metadata", "com.apple.quicktime.model=ALEXA Mini", "-movflags", "use_metadata_tags", "-f", "mov"}),
		},
		{
			Name: "dnxhr_tc.mxf", Kind: "video", Status: "ready", Frames: 25, FrameRate: "25/1",
			Timecode: "10:00:00:00", Audio: 2, Channels: 1, ProxyW: 640, ProxyH: 360,
			ProxyAudio: monoTracks(2, func(i int) string { return fmt.Sprintf("A%d (stream %d)", i, i) }),
			args: cat(lavfiV("testsrc2=size=640x360:rate=25:duration=1"), sine(440, "1"), sine(880, "1"),
				[]string{"-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:v", "dnxhd", "-profile:v", "dnxhr_lb",
					"-pix_fmt", "yuv422p", "-c:a", "pcm_s16le", "-timecode", "10:00:00:00", "-f", "mxf"}),
		},
		{
			Name: "mpeg2_interlaced.mxf", Kind: "video", Status: "ready", Frames: 25, FrameRate: "25/1",
			Timecode: "00:59:50:00", Interlace: true, Audio: 1, Channels: 1, ProxyW: 640, ProxyH: 360, ProxyAudio: mixOnly,
			args: cat(lavfiV("testsrc2=size=640x360:rate=50:duration=1"), sine(440, "1"),
				[]string{"-map", "0:v", "-map", "1:a", "-vf", "tinterlace=mode=interleave_top,setfield=tff",
					"-c:v", "mpeg2video", "-flags", "+ilme+ildct", "-top", "1", "-b:v", "4M", "-pix_fmt", "yuv422p",
					"-c:a", "pcm_s16le", "-timecode", "00:59:50:00", "-f", "mxf"}),
		},
		{
			// XDCAM-style: one PCM stream of four discrete channels (no
			// channel layout), 4:2:0 MPEG-2 so the GPU lane can take it.
			Name: "xdcam_discrete_4ch.mxf", Kind: "video", Status: "ready", Frames: 25, FrameRate: "25/1",
			Timecode: "02:00:00:00", Audio: 1, Channels: 4, ProxyW: 640, ProxyH: 360,
			ProxyAudio: monoTracks(4, func(i int) string { return fmt.Sprintf("A%d (stream 1 ch %d)", i, i) }),
			args: cat(lavfiV("testsrc2=size=640x360:rate=25:duration=1"), sine(440, "1"), sine(550, "1"), sine(660, "1"), sine(770, "1"),
				[]string{"-filter_complex", "[1:a][2:a][3:a][4:a]amerge=inputs=4[a]", "-map", "0:v", "-map", "[a]",
					"-c:v", "mpeg2video", "-b:v", "4M", "-pix_fmt", "yuv420p", "-c:a", "pcm_s24le", "-timecode", "02:00:00:00", "-f", "mxf"}),
		},
		{
			Name: "h264_rot90_df.mp4", Kind: "video", Status: "ready", Frames: 30, FrameRate: "30000/1001",
			Timecode: "01:00:00;02", Rotation: 90, Audio: 1, Channels: 2, ProxyW: 180, ProxyH: 320, ProxyAudio: mixOnly,
			args: cat(lavfiV("testsrc2=size=320x180:rate=30000/1001"), lavfiV("sine=frequency=440:sample_rate=44100:duration=1,aformat=channel_layouts=stereo"),
				[]string{"-map", "0:v", "-map", "1:a", "-frames:v", "30", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
					"-c:a", "aac", "-timecode", "01:00:00;02", "-f", "mp4"}),
			// FFmpeg 5.1 writes a display matrix only when stream copying.
			post: func(ffmpeg, p string) error {
				return remux(ffmpeg, p, "-map", "0:v", "-map", "0:a", "-c", "copy", "-timecode", "01:00:00;02", "-metadata:s:v:0", "rotate=90", "-f", "mp4")
			},
		},
		{
			Name: "h264_vfr.mp4", Kind: "video", Status: "ready", Frames: 40, VFR: true, ProxyW: 320, ProxyH: 180,
			args: cat(lavfiV("testsrc2=size=320x180:rate=30:duration=2"),
				[]string{"-vf", "select='lt(t,1)+not(mod(n,3))'", "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "ultrafast",
					"-pix_fmt", "yuv420p", "-f", "mp4"}),
		},
		{
			Name: "hevc10_hlg.mp4", Kind: "video", Status: "ready", Frames: 25, FrameRate: "25/1", HDR: "hlg", ProxyW: 384, ProxyH: 216,
			args: cat(lavfiV("testsrc2=size=384x216:rate=25"),
				[]string{"-frames:v", "25", "-vf", "format=yuv420p10le", "-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1",
					"-x265-params", "log-level=error:colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc",
					"-color_primaries", "bt2020", "-color_trc", "arib-std-b67", "-colorspace", "bt2020nc", "-f", "mp4"}),
		},
		{
			Name: "avchd.mts", Kind: "video", Status: "ready", Frames: 30, FrameRate: "30000/1001", Audio: 1, Channels: 2, ProxyW: 320, ProxyH: 180,
			ProxyAudio: mixOnly,
			args: cat(lavfiV("testsrc2=size=320x180:rate=30000/1001"), lavfiV("sine=frequency=440:sample_rate=48000:duration=1,aformat=channel_layouts=stereo"),
				[]string{"-map", "0:v", "-map", "1:a", "-frames:v", "30", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
					"-c:a", "ac3", "-f", "mpegts"}),
		},
		{
			Name: "anamorphic_pal.mov", Kind: "video", Status: "ready", Frames: 25, FrameRate: "25/1", Audio: 1, Channels: 6,
			ProxyW: 768, ProxyH: 576, ProxyAudio: []Track{{"Mix", 2}, {"A1 (stream 1)", 6}},
			args: cat(lavfiV("testsrc2=size=720x576:rate=25"), lavfiV("sine=frequency=440:sample_rate=48000:duration=1,pan=5.1|FC=c0"),
				[]string{"-map", "0:v", "-map", "1:a", "-frames:v", "25", "-vf", "setsar=16/15", "-c:v", "libx264", "-preset", "ultrafast",
					"-pix_fmt", "yuv420p", "-c:a", "pcm_s16le", "-f", "mov"}),
		},
		{
			Name: "anamorphic_hdv.mov", Kind: "video", Status: "ready", Frames: 25, FrameRate: "25/1", ProxyW: 1280, ProxyH: 720,
			args: cat(lavfiV("testsrc2=size=1440x1080:rate=25"),
				[]string{"-frames:v", "25", "-vf", "setsar=4/3", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "mov"}),
		},
		{
			Name: "bext_tc.wav", Kind: "audio", Status: "ready", Audio: 1, Channels: 2,
			args: cat(lavfiV("sine=frequency=440:sample_rate=48000:duration=1.5,aformat=channel_layouts=stereo"),
				[]string{"-c:a", "pcm_s24le", "-write_bext", "1", "-metadata", "time_reference=172800000", "-f", "wav"}),
		},
		{
			Name: "surround51.wav", Kind: "audio", Status: "ready", Audio: 1, Channels: 6,
			args: cat(lavfiV("sine=frequency=440:sample_rate=48000:duration=1,pan=5.1|FC=c0|LFE=0.5*c0"),
				[]string{"-c:a", "pcm_s16le", "-f", "wav"}),
		},
		{
			Name: "still_wide.png", Kind: "image", Status: "ready", ProxyW: 2048, ProxyH: 683,
			args: cat(lavfiV("testsrc2=size=3000x1000:rate=1"), []string{"-frames:v", "1", "-f", "image2", "-c:v", "png"}),
		},
		{
			Name: "still.tif", Kind: "image", Status: "ready", ProxyW: 333, ProxyH: 201,
			args: cat(lavfiV("testsrc2=size=334x202:rate=1"), []string{"-frames:v", "1", "-vf", "format=rgb48le,crop=333:201", "-pix_fmt", "rgb48le", "-f", "image2", "-c:v", "tiff"}),
		},
		{
			Name: "still.jpg", Kind: "image", Status: "ready", ProxyW: 800, ProxyH: 600,
			args: cat(lavfiV("testsrc2=size=800x600:rate=1"), []string{"-frames:v", "1", "-f", "image2", "-c:v", "mjpeg"}),
		},
		{
			Name: "truncated.mov", Kind: "video", Status: "failed", Frames: 50, FrameRate: "25/1",
			args: cat(lavfiV("testsrc2=size=320x180:rate=25"),
				[]string{"-frames:v", "50", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-f", "mov"}),
			post: func(_, p string) error { return truncate(p, 0.5) },
		},
		{
			Name: "unknown_codec.mov", Kind: "video", Status: "unsupported",
			args: cat(lavfiV("testsrc2=size=320x180:rate=25"),
				[]string{"-frames:v", "5", "-c:v", "prores_ks", "-profile:v", "0", "-f", "mov"}),
			post: func(_, p string) error { return replaceBytes(p, []byte("apco"), []byte("brxq")) },
		},
		{Name: "A001_C002.braw", Kind: "video", Status: "unsupported", post: func(_, p string) error { return writeRandom(p, 4096) }},
		{Name: "notes.txt", Kind: "other", post: func(_, p string) error {
			return os.WriteFile(p, []byte("Shot list\nScene 1 take 3 is the good one.\n"), 0o644)
		}},
		{Name: "project.prproj", Kind: "other", post: func(_, p string) error { return writeRandom(p, 2048) }},
	}
}

// Generate builds every clip into dir (created if needed), skipping files
// already there for this Version. It returns the clips with Name resolved to
// nothing more than the file name; join it with dir.
func Generate(ctx context.Context, ffmpeg, dir string) ([]Clip, error) {
	if ffmpeg == "" {
		ffmpeg = "ffmpeg"
	}
	dir = filepath.Join(dir, Version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("zoo dir %s: %w", dir, err)
	}
	clips := Clips()
	for _, c := range clips {
		dst := filepath.Join(dir, c.Name)
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		tmp := filepath.Join(dir, ".tmp-"+c.Name)
		if len(c.args) > 0 {
			args := append([]string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}, c.args...)
			args = append(args, tmp)
			cmd := exec.CommandContext(ctx, ffmpeg, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				return nil, fmt.Errorf("generate %s: %w: %s", c.Name, err, stderr.String())
			}
		}
		if c.post != nil {
			if err := c.post(ffmpeg, tmp); err != nil {
				return nil, fmt.Errorf("generate %s: %w", c.Name, err)
			}
		}
		if err := os.Rename(tmp, dst); err != nil {
			return nil, fmt.Errorf("generate %s: %w", c.Name, err)
		}
	}
	return clips, nil
}

// Dir returns the zoo directory for this Version under cache.
func Dir(cache string) string { return filepath.Join(cache, Version) }

// remux rewrites p with ffmpeg -i p ARGS.
func remux(ffmpeg, p string, args ...string) error {
	tmp := p + ".remux"
	full := append([]string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", p}, args...)
	var stderr bytes.Buffer
	cmd := exec.Command(ffmpeg, append(full, tmp)...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("remux %s: %w: %s", p, err, stderr.String())
	}
	return os.Rename(tmp, p)
}

func truncate(p string, frac float64) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	return os.Truncate(p, int64(float64(fi.Size())*frac))
}

func replaceBytes(p string, old, new []byte) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if !bytes.Contains(b, old) {
		return fmt.Errorf("%s: %q not found", p, old)
	}
	return os.WriteFile(p, bytes.ReplaceAll(b, old, new), 0o644)
}

// writeRandom writes n deterministic pseudo-random bytes.
func writeRandom(p string, n int) error {
	var out []byte
	seed := sha256.Sum256([]byte(p[strings.LastIndexByte(p, '/')+1:]))
	for len(out) < n {
		seed = sha256.Sum256(seed[:])
		out = append(out, seed[:]...)
	}
	return os.WriteFile(p, out[:n], 0o644)
}
