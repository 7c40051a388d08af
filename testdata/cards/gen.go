// Package cards builds camera card trees with real media for tests: the
// folder layout and sidecars a camera writes, with essence cut by FFmpeg
// from lavfi sources, so the offload, clip grouping and proxies run on
// files FFmpeg really decodes.
//
// It owns only the files it writes under the root it is given; it must not
// touch the catalog or the daemon.
package cards

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

//go:embed sidecars/p2_clip.xml
var p2Template string

// P2Span is one span of a P2 shot: a clip of its own on the card (one
// video-only MXF, one mono MXF per audio channel, a CLIP XML), placed at
// Offset frames into the shot.
type P2Span struct {
	Clip     string // 6 characters, e.g. "0001AB"
	Offset   int64  // OffsetInShot, in frames
	Frames   int    // video frames (25 fps)
	Timecode string // start timecode HH:MM:SS:FF
	Next     string // clip name of the shot's next span ("" for the last)
}

// P2GlobalClipID is the GlobalClipID the template gives clip.
func P2GlobalClipID(clip string) string {
	return "060A2B340101010501010D43130000" + clip + "6A1F0D8E3B0C5A0080458201D2B0"
}

// P2Shot writes the spans of one shot into the P2 card rooted at root:
// CONTENTS/CLIP/<clip>.XML, CONTENTS/VIDEO/<clip>.MXF (DNxHR LB OP-Atom,
// 320x180, 25 fps, with timecode), CONTENTS/AUDIO/<clip>NN.MXF (channel NN:
// a mono 48 kHz 24-bit OP-Atom sine of 220·(NN+1) Hz) and
// CONTENTS/ICON/<clip>.BMP. A card holding several shots gets one call per
// shot.
func P2Shot(ctx context.Context, ffmpeg, root, shotID string, spans []P2Span, channels int) error {
	for _, sub := range []string{"CLIP", "VIDEO", "AUDIO", "ICON"} {
		if err := os.MkdirAll(filepath.Join(root, "CONTENTS", sub), 0o755); err != nil {
			return err
		}
	}
	for _, sp := range spans {
		c := filepath.Join(root, "CONTENTS")
		if err := run(ctx, ffmpeg, "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25",
			"-frames:v", fmt.Sprint(sp.Frames), "-c:v", "dnxhd", "-profile:v", "dnxhr_lb", "-pix_fmt", "yuv422p",
			"-timecode", sp.Timecode, "-f", "mxf_opatom", filepath.Join(c, "VIDEO", sp.Clip+".MXF")); err != nil {
			return err
		}
		secs := float64(sp.Frames) / 25
		for ch := 0; ch < channels; ch++ {
			if err := run(ctx, ffmpeg, "-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=%d:sample_rate=48000", 220*(ch+1)),
				"-t", fmt.Sprint(secs), "-ac", "1", "-c:a", "pcm_s24le", "-mxf_audio_edit_rate", "25",
				"-f", "mxf_opatom", filepath.Join(c, "AUDIO", fmt.Sprintf("%s%02d.MXF", sp.Clip, ch))); err != nil {
				return err
			}
		}
		audio := strings.Repeat("\t\t\t<Audio>\n\t\t\t\t<AudioFormat>MXF</AudioFormat>\n\t\t\t\t<SamplingRate>48000</SamplingRate>\n\t\t\t\t<BitsPerSample>24</BitsPerSample>\n\t\t\t</Audio>\n", channels)
		x := strings.NewReplacer("{{CLIP}}", sp.Clip, "{{SHOT}}", shotID, "{{OFFSET}}", fmt.Sprint(sp.Offset),
			"{{DURATION}}", fmt.Sprint(sp.Frames), "{{TC}}", sp.Timecode, "1001/30000", "1/25", "29.97p", "25p").Replace(p2Template)
		// The template lists two channels; write the ones asked for.
		if i, j := strings.Index(x, "\t\t\t<Audio>"), strings.LastIndex(x, "</Audio>\n"); i >= 0 && j > i {
			x = x[:i] + audio + x[j+len("</Audio>\n"):]
		}
		if sp.Next != "" {
			conn := "</GlobalShotID>\n\t\t\t<Connection>\n\t\t\t\t<Next>\n\t\t\t\t\t<GlobalClipID>" + P2GlobalClipID(sp.Next) +
				"</GlobalClipID>\n\t\t\t\t</Next>\n\t\t\t</Connection>"
			x = strings.Replace(x, "</GlobalShotID>", conn, 1)
		}
		if err := os.WriteFile(filepath.Join(c, "CLIP", sp.Clip+".XML"), []byte(x), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(c, "ICON", sp.Clip+".BMP"), []byte("BM icon "+sp.Clip), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// GoProChapters writes clip num as chapters GX01nnnn.MP4, GX02nnnn.MP4 ...
// into DCIM/100GOPRO under root: H.264 320x180 at 25 fps with AAC audio,
// frames frames each, plus the GL01nnnn.LRV low-res and GX01nnnn.THM
// thumbnail a GoPro writes beside them.
func GoProChapters(ctx context.Context, ffmpeg, root string, num, chapters, frames int) error {
	dir := filepath.Join(root, "DCIM", "100GOPRO")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	secs := float64(frames) / 25
	for ch := 1; ch <= chapters; ch++ {
		if err := run(ctx, ffmpeg, "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=320x180:rate=25:duration=%g", secs),
			"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=48000:duration=%g", secs),
			"-c:v", "libx264", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
			filepath.Join(dir, fmt.Sprintf("GX%02d%04d.MP4", ch, num))); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("GL01%04d.LRV", num)), []byte("low-res"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, fmt.Sprintf("GX01%04d.THM", num)), []byte("thumbnail"), 0o644)
}

func run(ctx context.Context, ffmpeg string, args ...string) error {
	cmd := exec.CommandContext(ctx, ffmpeg, append([]string{"-hide_banner", "-nostdin", "-y", "-v", "error"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ffmpeg %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return nil
}
