package sequences

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ingestd/ingestd/transcode"
)

// Job is one sequence proxy and poster cut.
type Job struct {
	FFmpeg, FFprobe string
	Files           []string // absolute paths of the present frames, in frame order
	Format          string   // FFmpeg demuxer every frame must open with (dpx_pipe, exr_pipe, png_pipe, tiff_pipe, image2)
	Linear          bool     // scene-linear frames (EXR): converted to BT.709 before the 8-bit encode
	Rate            *big.Rat
	Timecode        string // start timecode of the first frame ("" for none)
	Dir             string // output directory (state_dir/sequences/<id>)
	Profile         transcode.Config
	Log             *slog.Logger
}

// CutResult is what Cut wrote.
type CutResult struct {
	Frames        int64
	Width, Height int
	Bytes         int64
}

// listName is the concat list Cut writes into Dir (never on a volume).
const listName = ".frames.ffconcat"

// Cut writes Dir/proxy.mp4 (H.264, one frame per present frame at Rate,
// the transcode profile's max height, bitrate, preset and closed GOP, a
// tmcd track when Timecode is set) and Dir/poster.jpg (the middle present
// frame at the proxy's size). The frames are read through a concat list
// that names each one as a literal file: (never an image2 pattern or
// glob), opened with the file protocol only and with Format only. Each
// output is written to a temp name, checked (the proxy's frame count
// must equal len(Files)) and renamed into place.
func Cut(ctx context.Context, j Job) (CutResult, error) {
	var res CutResult
	if len(j.Files) == 0 {
		return res, fmt.Errorf("sequence proxy: no frames")
	}
	if j.Format == "" {
		return res, fmt.Errorf("sequence proxy: frame format unknown")
	}
	if err := os.MkdirAll(j.Dir, 0o755); err != nil {
		return res, err
	}
	lst := filepath.Join(j.Dir, listName)
	if err := writeList(lst, j.Files, j.Format); err != nil {
		return res, err
	}
	defer os.Remove(lst)
	num, den := j.Rate.Num().String(), j.Rate.Denom().String()
	fps, _ := j.Rate.Float64()
	gop := max(1, int(fps*j.Profile.GOPSeconds+0.5))
	vf := filterChain(j, "setpts=N*"+den+"/("+num+"*TB)")
	tmp := filepath.Join(j.Dir, ".proxy.tmp.mp4")
	defer os.Remove(tmp)
	args := []string{"-protocol_whitelist", "file", "-format_whitelist", "concat," + j.Format,
		"-f", "concat", "-safe", "0", "-i", transcode.Literal(lst),
		"-map", "0:v:0", "-vf", vf, "-fps_mode", "passthrough", "-r", num + "/" + den,
		"-c:v", "libx264", "-profile:v", "high", "-preset", j.Profile.Preset, "-pix_fmt", "yuv420p",
		"-b:v", j.Profile.VideoBitrate, "-maxrate", j.Profile.VideoBitrate,
		"-g", strconv.Itoa(gop), "-keyint_min", strconv.Itoa(gop), "-sc_threshold", "0", "-flags", "+cgop", "-bf", "0"}
	if j.Profile.Threads > 0 {
		args = append(args, "-threads", strconv.Itoa(j.Profile.Threads))
	}
	if tc := usableTimecode(j.Timecode, fps); tc != "" {
		args = append(args, "-timecode", tc)
	}
	args = append(args, "-an", "-movflags", "+faststart", "-f", "mp4", transcode.Literal(tmp))
	run := &transcode.Runner{FFmpeg: j.FFmpeg, Stall: j.Profile.StallTimeout, Log: j.Log}
	stderr, err := run.RunCapture(ctx, args, nil, nil)
	if err != nil {
		return res, fmt.Errorf("sequence proxy: %w", err)
	}
	n, w, h, err := probeProxy(ctx, j.FFprobe, tmp)
	if err != nil {
		return res, err
	}
	// The concat demuxer ends the input at a frame it cannot open (another
	// format than its siblings: refused by the whitelist) and FFmpeg still
	// exits 0: the count tells.
	if n != int64(len(j.Files)) {
		return res, fmt.Errorf("sequence proxy: %d frames, the sequence has %d; ffmpeg said: %s", n, len(j.Files), strings.TrimSpace(stderr))
	}
	res.Frames, res.Width, res.Height = n, w, h

	// Poster: the middle present frame, opened alone with the same demuxer.
	mid := j.Files[len(j.Files)/2]
	in, err := transcode.InputArgs(j.Format, mid)
	if err != nil {
		return res, err
	}
	ptmp := filepath.Join(j.Dir, ".poster.tmp.jpg")
	defer os.Remove(ptmp)
	pargs := append(in, "-map", "0:v:0", "-vf", filterChain(j, ""), "-frames:v", "1",
		"-c:v", "mjpeg", "-q:v", "3", "-pix_fmt", "yuvj420p", "-f", "mjpeg", transcode.Literal(ptmp))
	if err := run.Run(ctx, pargs, nil, nil); err != nil {
		return res, fmt.Errorf("sequence poster: %w", err)
	}
	if fi, err := os.Stat(ptmp); err != nil || fi.Size() == 0 {
		return res, fmt.Errorf("sequence poster: nothing written")
	}
	if err := os.Rename(tmp, filepath.Join(j.Dir, OutProxy)); err != nil {
		return res, err
	}
	if err := os.Rename(ptmp, filepath.Join(j.Dir, OutPoster)); err != nil {
		return res, err
	}
	if fi, err := os.Stat(filepath.Join(j.Dir, OutProxy)); err == nil {
		res.Bytes = fi.Size()
	}
	return res, nil
}

// filterChain is the picture conversion for the 8-bit proxy and poster:
// EXR (scene-linear) gets zscale's linear to BT.709 transfer (primaries
// taken as BT.709, nominal peak 100 nits; no tone mapping: values above 1
// clip); every format is then scaled to at most max_height (never up,
// even dimensions) and converted to 4:2:0. pre goes first.
func filterChain(j Job, pre string) string {
	var f []string
	if pre != "" {
		f = append(f, pre)
	}
	if j.Linear {
		f = append(f, "zscale=tin=linear:pin=bt709:min=gbr:t=bt709:p=bt709:npl=100", "format=gbrp")
	}
	f = append(f, fmt.Sprintf("scale=w=-2:h=trunc(min(ih\\,%d)/2)*2", j.Profile.MaxHeight), "format=yuv420p")
	return strings.Join(f, ",")
}

// writeList writes the ffconcat list: each frame as a literal file:
// path, opened with the file protocol and format only (image2 also with
// pattern_type none, so a name is never expanded into other files).
func writeList(lst string, files []string, format string) error {
	var b strings.Builder
	b.WriteString("ffconcat version 1.0\n")
	for _, p := range files {
		if !filepath.IsAbs(p) || strings.ContainsAny(p, "\n\r") {
			return fmt.Errorf("sequence proxy: unusable frame name %q", p)
		}
		fmt.Fprintf(&b, "file '%s'\n", strings.ReplaceAll(transcode.Literal(p), "'", `'\''`))
		fmt.Fprintf(&b, "option format_whitelist %s\noption protocol_whitelist file\n", format)
		if format == "image2" {
			b.WriteString("option pattern_type none\n")
		}
	}
	return os.WriteFile(lst, []byte(b.String()), 0o600)
}

// probeProxy counts the video packets of an MP4 ingestd wrote and reads
// its size.
func probeProxy(ctx context.Context, ffprobe, file string) (n int64, w, h int, err error) {
	in, err := transcode.InputArgs("mov", file)
	if err != nil {
		return 0, 0, 0, err
	}
	cmd := exec.CommandContext(ctx, ffprobe, append([]string{"-v", "error", "-select_streams", "v:0", "-count_packets",
		"-show_entries", "stream=nb_read_packets,width,height", "-of", "csv=p=0:nk=0"}, in...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("ffprobe %s: %w: %s", file, err, stderr.String())
	}
	for _, kv := range strings.Split(strings.TrimSpace(string(out)), ",") {
		k, v, _ := strings.Cut(kv, "=")
		x, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "nb_read_packets":
			n = x
		case "width":
			w = int(x)
		case "height":
			h = int(x)
		}
	}
	if n == 0 {
		return 0, 0, 0, fmt.Errorf("ffprobe %s: no video frames (%q)", file, out)
	}
	return n, w, h, nil
}

// usableTimecode returns tc as the MP4 muxer accepts it at fps: ""
// when its frames field does not fit the rate, and non-drop-frame unless
// the rate is a multiple of 29.97.
func usableTimecode(tc string, fps float64) string {
	if len(tc) != 11 {
		return ""
	}
	ff, err := strconv.Atoi(tc[9:])
	if err != nil || float64(ff) >= fps+0.5 {
		return ""
	}
	if tc[8] == ';' {
		if m := fps * 1.001 / 30; fps < 29 || m-float64(int(m+0.5)) > 0.01 || float64(int(m+0.5))-m > 0.01 {
			tc = tc[:8] + ":" + tc[9:]
		}
	}
	return tc
}
