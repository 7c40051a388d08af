// Package sequences generates numbered frame sequences with FFmpeg for the
// sequence tests: one per format FFmpeg can write here (DPX, EXR, TIFF,
// PNG, JPEG), 160x90 testsrc2 frames named <base>.%0<pad>d.<ext>. DPX and
// EXR frames can carry a frame rate and a start timecode in their headers,
// as scanners and renderers write them (FFmpeg's own DPX and EXR encoders
// write no timecode; FFmpeg's EXR encoder writes framesPerSecond, its DPX
// encoder no frame rate): Render patches them in (DPX film and TV headers;
// EXR framesPerSecond and timeCode attributes).
//
// It owns only the files it writes into the directory it is given; it must
// not touch the catalog or any daemon package.
package sequences

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Spec describes one sequence to write.
type Spec struct {
	Base    string // e.g. "shot_010." (separator included)
	Ext     string // dpx | exr | tif | tiff | png | jpg | jpeg
	Padding int    // digits of the frame number (default 4)
	First   int64  // first frame number
	Frames  int    // frames to render (numbered First, First+1, ...)
	Skip    []int64
	// FPS and Timecode go into DPX and EXR headers when set (integer fps;
	// timecode HH:MM:SS:FF of frame First).
	FPS      int
	Timecode string
	W, H     int // default 160x90
}

// Formats are the formats Write supports, with the FFmpeg encoder and
// pixel format used for each.
var Formats = map[string][2]string{
	"dpx":  {"dpx", "rgb48le"},
	"exr":  {"exr", "gbrpf32le"},
	"tif":  {"tiff", "rgb24"},
	"tiff": {"tiff", "rgb24"},
	"png":  {"png", "rgb24"},
	"jpg":  {"mjpeg", "yuvj420p"},
	"jpeg": {"mjpeg", "yuvj420p"},
}

// Name is the file name of frame n of s.
func (s Spec) Name(n int64) string {
	p := s.Padding
	if p == 0 {
		p = 4
	}
	return fmt.Sprintf("%s%0*d.%s", s.Base, p, n, s.Ext)
}

// Numbers are the frame numbers Write writes (First.., without Skip).
func (s Spec) Numbers() []int64 {
	var out []int64
	for i := 0; i < s.Frames; i++ {
		n := s.First + int64(i)
		skip := false
		for _, k := range s.Skip {
			skip = skip || k == n
		}
		if !skip {
			out = append(out, n)
		}
	}
	return out
}

// Render writes every frame of s into dir (a temp dir: callers copy or
// move frames into a watched folder as they need) and returns their paths
// in frame order.
func Render(ffmpeg, dir string, s Spec) ([]string, error) {
	enc, ok := Formats[strings.ToLower(s.Ext)]
	if !ok {
		return nil, fmt.Errorf("sequences: no encoder for %q", s.Ext)
	}
	w, h := s.W, s.H
	if w == 0 {
		w, h = 160, 90
	}
	tmp, err := os.MkdirTemp(dir, ".render")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	// Render into a private folder with FFmpeg's own image2 numbering (the
	// generator's output, never a watched folder), then rename.
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
		"-i", fmt.Sprintf("testsrc2=s=%dx%d:r=24", w, h), "-frames:v", fmt.Sprint(s.Frames),
		"-c:v", enc[0], "-pix_fmt", enc[1], "-start_number", "0", "-f", "image2", filepath.Join(tmp, "f%06d.img")}
	if out, err := exec.Command(ffmpeg, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ffmpeg %s: %w: %s", s.Ext, err, out)
	}
	var paths []string
	for i := 0; i < s.Frames; i++ {
		n := s.First + int64(i)
		src := filepath.Join(tmp, fmt.Sprintf("f%06d.img", i))
		skip := false
		for _, k := range s.Skip {
			skip = skip || k == n
		}
		if skip {
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		if s.FPS > 0 || s.Timecode != "" {
			tc := ""
			if s.Timecode != "" {
				tc, err = addFrames(s.Timecode, s.FPS, i)
				if err != nil {
					return nil, err
				}
			}
			switch strings.ToLower(s.Ext) {
			case "dpx":
				b, err = patchDPX(b, s.FPS, tc)
			case "exr":
				b, err = patchEXR(b, s.FPS, tc)
			}
			if err != nil {
				return nil, err
			}
		}
		dst := filepath.Join(dir, s.Name(n))
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return nil, err
		}
		paths = append(paths, dst)
	}
	return paths, nil
}

// addFrames returns tc plus n frames at fps (non-drop-frame).
func addFrames(tc string, fps, n int) (string, error) {
	var h, m, s, f int
	if _, err := fmt.Sscanf(tc, "%d:%d:%d:%d", &h, &m, &s, &f); err != nil || fps <= 0 {
		return "", fmt.Errorf("sequences: timecode %q at %d fps", tc, fps)
	}
	t := ((h*60+m)*60+s)*fps + f + n
	return fmt.Sprintf("%02d:%02d:%02d:%02d", t/fps/3600%24, t/fps/60%60, t/fps%60, t%fps), nil
}

// bcd packs HH:MM:SS:FF as SMPTE 12M BCD, hours in the top byte.
func bcd(tc string) uint32 {
	var v uint32
	for _, part := range strings.Split(tc, ":") {
		var x uint32
		fmt.Sscanf(part, "%d", &x)
		v = v<<8 | (x/10)<<4 | x%10
	}
	return v
}

// patchDPX extends FFmpeg's 1664-byte DPX header to the full 2048 bytes
// (film and TV headers, undefined fields all ones) and sets the film and
// TV frame rates and the TV time code.
func patchDPX(b []byte, fps int, tc string) ([]byte, error) {
	var bo binary.ByteOrder = binary.BigEndian
	switch string(b[:4]) {
	case "XPDS":
		bo = binary.LittleEndian
	case "SDPX":
	default:
		return nil, fmt.Errorf("sequences: not a DPX file")
	}
	off := bo.Uint32(b[4:])
	if off != 1664 || bo.Uint32(b[808:]) != 1664 {
		return nil, fmt.Errorf("sequences: unexpected DPX image offset %d", off)
	}
	ext := bytes.Repeat([]byte{0xFF}, 2048-1664)
	out := append(append(append([]byte{}, b[:1664]...), ext...), b[1664:]...)
	bo.PutUint32(out[4:], 2048)
	bo.PutUint32(out[16:], uint32(len(out)))
	bo.PutUint32(out[808:], 2048)
	if fps > 0 {
		bo.PutUint32(out[1724:], math.Float32bits(float32(fps)))
		bo.PutUint32(out[1940:], math.Float32bits(float32(fps)))
	}
	if tc != "" {
		bo.PutUint32(out[1920:], bcd(tc))
	}
	return out, nil
}

// patchEXR sets framesPerSecond (in place when FFmpeg wrote it) and adds a
// timeCode attribute at the end of an EXR header, moving the chunk offset
// table that follows by as much.
func patchEXR(b []byte, fps int, tc string) ([]byte, error) {
	if len(b) < 8 || !bytes.Equal(b[:4], []byte{0x76, 0x2f, 0x31, 0x01}) {
		return nil, fmt.Errorf("sequences: not an EXR file")
	}
	b = append([]byte{}, b...)
	i := 8
	for {
		j := bytes.IndexByte(b[i:], 0)
		if j < 0 {
			return nil, fmt.Errorf("sequences: EXR header truncated")
		}
		if j == 0 {
			break // end of header
		}
		name := string(b[i : i+j])
		i += j + 1
		j = bytes.IndexByte(b[i:], 0)
		i += j + 1
		size := int(binary.LittleEndian.Uint32(b[i:]))
		// FFmpeg's encoder writes framesPerSecond itself: set it in place.
		if name == "framesPerSecond" && size == 8 && fps > 0 {
			binary.LittleEndian.PutUint32(b[i+4:], uint32(fps))
			binary.LittleEndian.PutUint32(b[i+8:], 1)
			fps = 0
		}
		i += 4 + size
	}
	var attrs []byte
	add := func(name, typ string, v []byte) {
		attrs = append(attrs, name...)
		attrs = append(attrs, 0)
		attrs = append(attrs, typ...)
		attrs = append(attrs, 0)
		attrs = binary.LittleEndian.AppendUint32(attrs, uint32(len(v)))
		attrs = append(attrs, v...)
	}
	if fps > 0 {
		v := binary.LittleEndian.AppendUint32(nil, uint32(fps))
		add("framesPerSecond", "rational", binary.LittleEndian.AppendUint32(v, 1))
	}
	if tc != "" {
		v := binary.LittleEndian.AppendUint32(nil, bcd(tc))
		add("timeCode", "timecode", binary.LittleEndian.AppendUint32(v, 0))
	}
	table := i + 1
	first := binary.LittleEndian.Uint64(b[table:])
	n := (int(first) - table) / 8
	if n <= 0 || table+8*n > len(b) {
		return nil, fmt.Errorf("sequences: EXR offset table not understood")
	}
	out := append(append(append([]byte{}, b[:i]...), attrs...), b[i:]...)
	for k := 0; k < n; k++ {
		at := table + len(attrs) + 8*k
		binary.LittleEndian.PutUint64(out[at:], binary.LittleEndian.Uint64(out[at:])+uint64(len(attrs)))
	}
	return out, nil
}
