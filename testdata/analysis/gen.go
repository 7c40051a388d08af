// Package analysis generates clips with known technical faults and
// structure for the analysis stage's tests: a black segment, a frozen
// stretch, a silence and hard cuts at known frames, with a known start
// timecode. It owns only the files it is asked to write.
package analysis

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Known is what the QC clip holds (25 fps, 300 frames = 12 s, start
// timecode 01:00:00:00, 48 kHz stereo 440 Hz tone):
//   - frames 0–49: testsrc2 (moving);
//   - frames 50–99: black (BlackStart..BlackEnd);
//   - frames 100–149: testsrc (moving), frame 149 then held: frames
//     149–199 identical (FreezeStart..FreezeEnd);
//   - frames 200–299: negated testsrc2 (moving);
//   - audio silent from 2.0 s to 4.0 s (SilenceStart..SilenceEnd).
//
// Hard cuts (shot starts) at frames 0, 50, 100 and 200.
var Known = struct {
	FPS                      float64
	Frames                   int
	Timecode                 string
	BlackStart, BlackEnd     int // frames, end exclusive
	FreezeStart, FreezeEnd   int
	SilenceStart, SilenceEnd float64 // seconds
	Cuts                     []int
}{25, 300, "01:00:00:00", 50, 100, 149, 200, 2.0, 4.0, []int{0, 50, 100, 200}}

// QCClip writes the clip described by Known to path (a .mov, H.264 and
// PCM, 320x240). With audio false the clip has no audio stream.
func QCClip(ctx context.Context, ffmpeg, path string, audio bool) error {
	graph := "[0:v]trim=end_frame=50,setpts=PTS-STARTPTS[a0];" +
		"[1:v]trim=end_frame=50,setpts=PTS-STARTPTS[b0];" +
		"[2:v]trim=end_frame=50,setpts=PTS-STARTPTS,tpad=stop=50:stop_mode=clone[c];" +
		"[3:v]trim=end_frame=100,setpts=PTS-STARTPTS,negate[d];" +
		"[a0][b0][c][d]concat=n=4:v=1:a=0,format=yuv420p[v]"
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y",
		"-f", "lavfi", "-i", "testsrc2=s=320x240:r=25",
		"-f", "lavfi", "-i", "color=c=black:s=320x240:r=25",
		"-f", "lavfi", "-i", "testsrc=s=320x240:r=25",
		"-f", "lavfi", "-i", "testsrc2=s=320x240:r=25"}
	maps := []string{"-map", "[v]"}
	if audio {
		args = append(args, "-f", "lavfi", "-i", "sine=f=440:r=48000:d=12")
		graph += ";[4:a]volume=0:enable='between(t,2,4)',pan=stereo|c0=c0|c1=c0[a]"
		maps = append(maps, "-map", "[a]", "-c:a", "pcm_s16le")
	}
	args = append(args, "-filter_complex", graph)
	args = append(args, maps...)
	args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-frames:v", "300",
		"-timecode", "01:00:00:00", path)
	if out, err := exec.CommandContext(ctx, ffmpeg, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("generate %s: %w: %s", path, err, out)
	}
	return nil
}

// LongFPS, LongSize and LongPiece describe the long clip: 1 fps, 32x18,
// made of a 60 s piece repeated.
const (
	LongFPS   = 1
	LongSize  = "32x18"
	LongPiece = 60 // seconds
)

// LongClip writes a clip of the given length (a whole number of minutes,
// e.g. 10 hours) to path cheaply: a 60 s piece (testsrc2 at 1 fps, 32x18,
// H.264; with audio an 8 kHz mono 440 Hz tone, AAC) encoded once beside
// path, then stream-copied end to end by the concat demuxer. Ten hours
// take seconds to write and about 80 MB.
func LongClip(ctx context.Context, ffmpeg, path string, minutes int, audio bool) error {
	if minutes < 1 {
		return fmt.Errorf("long clip: %d minutes", minutes)
	}
	dir := filepath.Dir(path)
	piece := filepath.Join(dir, ".long-piece.mov")
	a := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=s=%s:r=%d:d=%d", LongSize, LongFPS, LongPiece)}
	if audio {
		a = append(a, "-f", "lavfi", "-i", fmt.Sprintf("sine=f=440:sample_rate=8000:d=%d", LongPiece), "-c:a", "aac", "-b:a", "16k")
	}
	a = append(a, "-c:v", "libx264", "-g", "60", "-pix_fmt", "yuv420p", "-shortest", piece)
	if b, err := exec.CommandContext(ctx, ffmpeg, a...).CombinedOutput(); err != nil {
		return fmt.Errorf("long clip piece: %w: %s", err, b)
	}
	defer os.Remove(piece)
	list := filepath.Join(dir, ".long-list.txt")
	if err := os.WriteFile(list, []byte(strings.Repeat("file '.long-piece.mov'\n", minutes*60/LongPiece)), 0o644); err != nil {
		return err
	}
	defer os.Remove(list)
	if b, err := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-f", "concat", "-safe", "0", "-i", list, "-c", "copy", path).CombinedOutput(); err != nil {
		return fmt.Errorf("long clip concat: %w: %s", err, b)
	}
	return nil
}

var reSummary = regexp.MustCompile(`(?m)^\s+(I|LRA|Peak):\s+(\S+)`)

// Ebur128 runs FFmpeg's own ebur128 filter (peak=true) on the first audio
// stream of path, separately from ingestd, and returns its summary: "I"
// (LUFS), "LRA" (LU) and "Peak" (true peak, dBTP).
func Ebur128(ctx context.Context, ffmpeg, path string) (map[string]float64, error) {
	out, err := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-nostats", "-nostdin", "-i", path, "-map", "0:a:0",
		"-af", "ebur128=peak=true", "-f", "null", "-").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ebur128 %s: %w: %s", path, err, out)
	}
	s := string(out)
	i := strings.LastIndex(s, "Summary:")
	if i < 0 {
		return nil, fmt.Errorf("ebur128 %s: no summary: %s", path, s)
	}
	m := map[string]float64{}
	for _, x := range reSummary.FindAllStringSubmatch(s[i:], -1) {
		if _, seen := m[x[1]]; !seen {
			m[x[1]], _ = strconv.ParseFloat(x[2], 64)
		}
	}
	if len(m) != 3 {
		return nil, fmt.Errorf("ebur128 %s: summary unreadable: %s", path, s[i:])
	}
	return m, nil
}
