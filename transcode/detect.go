package transcode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ingestd/ingestd/daemon/api/wire"
)

// Capabilities is what the trial runs found working. Each trial runs on its
// own, so one broken feature does not hide the others.
type Capabilities wire.Capabilities // the fields of the served document, with the stage's methods

// GPU reports whether the NVIDIA pipeline (NVDEC + scale_cuda) is usable.
func (c Capabilities) GPU() bool {
	if !c.CUDA || !c.ScaleCUDA {
		return false
	}
	for _, ok := range c.NVDEC {
		if ok {
			return true
		}
	}
	return false
}

// Lanes lists the lanes the capabilities allow.
func (c Capabilities) Lanes() []string {
	if c.GPU() {
		return []string{LaneGPU, LaneCPU}
	}
	return []string{LaneCPU}
}

// ErrNoGPU is returned by Detect when gpu is "require" and no NVIDIA
// pipeline works.
var ErrNoGPU = errors.New("no usable GPU pipeline")

// nvdecSamples are the codecs tried for NVDEC: codec key -> encoder args to
// make a tiny sample on the CPU.
var nvdecSamples = []struct {
	key, ext string
	args     []string
	dlFormat string
}{
	{"h264", "mp4", []string{"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"}, "nv12"},
	{"hevc", "mp4", []string{"-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-x265-params", "log-level=error"}, "nv12"},
	{"hevc10", "mp4", []string{"-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le", "-x265-params", "log-level=error"}, "p010le"},
	{"mpeg2video", "mpg", []string{"-c:v", "mpeg2video", "-pix_fmt", "yuv420p"}, "nv12"},
}

// Detect runs short FFmpeg trials, each on its own, to find which hardware
// paths really work (the -hwaccels and -encoders lists only say what was
// compiled in). gpu "off" skips the GPU trials; "require" returns ErrNoGPU
// (with the capabilities) when the NVIDIA pipeline does not work.
func Detect(ctx context.Context, tools Tools, gpu string) (Capabilities, error) {
	c := Capabilities{GPUMode: gpu, NVDEC: map[string]bool{}, Errors: map[string]string{}}
	tools, err := tools.withDefaults()
	if err != nil {
		return c, err
	}
	r := &Runner{FFmpeg: tools.FFmpeg, Stall: 20 * time.Second, WaitDelay: time.Second}
	try := func(name string, args ...string) bool {
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		err := r.Run(tctx, args, nil, nil)
		if err != nil {
			c.Errors[name] = shortErr(err)
			return false
		}
		return true
	}
	src := []string{"-f", "lavfi", "-i", "testsrc2=size=256x144:rate=25", "-frames:v", "10"}
	c.LibX264 = try("libx264", append(src, "-c:v", "libx264", "-f", "null", "-")...)
	if gpu == GPUOff {
		return c, nil
	}
	c.NVENC = try("nvenc", append(src, "-c:v", "h264_nvenc", "-f", "null", "-")...)
	c.CUDA = try("cuda", "-init_hw_device", "cuda=cu", "-f", "lavfi", "-i", "nullsrc=size=64x64", "-frames:v", "1", "-f", "null", "-")
	if c.CUDA {
		c.ScaleCUDA = try("scale_cuda", append([]string{"-init_hw_device", "cuda=cu", "-filter_hw_device", "cu"},
			append(src, "-vf", "format=nv12,hwupload,scale_cuda=128:72,hwdownload,format=nv12", "-f", "null", "-")...)...)
		dir, err := os.MkdirTemp("", "ingestd-detect-")
		if err == nil {
			defer os.RemoveAll(dir)
			for _, s := range nvdecSamples {
				sample := filepath.Join(dir, s.key+"."+s.ext)
				if !try("sample-"+s.key, append(append(append([]string{}, src...), s.args...), sample)...) {
					continue
				}
				delete(c.Errors, "sample-"+s.key)
				// hwdownload fails unless the frames really are CUDA frames, so a
				// silent fallback to software decoding cannot pass.
				sf := fmtMP4
				if s.ext == "mpg" {
					sf = "mpeg"
				}
				in := append([]string{"-hwaccel", "cuda", "-hwaccel_output_format", "cuda"}, ownInput(sf, sample)...)
				c.NVDEC[s.key] = try("nvdec-"+s.key, append(in, "-vf", "hwdownload,format="+s.dlFormat, "-f", "null", "-")...)
			}
		}
	}
	nodes, _ := filepath.Glob("/dev/dri/renderD*")
	sort.Strings(nodes)
	for _, n := range nodes {
		if try("vaapi-"+filepath.Base(n), append([]string{"-init_hw_device", "vaapi=va:" + n, "-filter_hw_device", "va"},
			append(src, "-vf", "format=nv12,hwupload", "-c:v", "h264_vaapi", "-f", "null", "-")...)...) {
			c.VAAPI = n
			break
		}
	}
	if len(nodes) == 0 {
		c.Errors["vaapi"] = "no /dev/dri/renderD* device"
	}
	c.QSV = try("qsv", append([]string{"-init_hw_device", "qsv=qs"}, append(src, "-c:v", "h264_qsv", "-f", "null", "-")...)...)
	if gpu == GPURequire && !c.GPU() {
		return c, fmt.Errorf("proxy.gpu is require: %w (%s)", ErrNoGPU, c.summary())
	}
	return c, nil
}

func (c Capabilities) summary() string {
	var parts []string
	for _, k := range []string{"cuda", "scale_cuda", "nvenc", "nvdec-h264"} {
		if e, ok := c.Errors[k]; ok {
			parts = append(parts, k+": "+e)
		}
	}
	return strings.Join(parts, "; ")
}

// shortErr keeps the first line of FFmpeg's complaint.
func shortErr(err error) string {
	var re *RunError
	if errors.As(err, &re) && re.Stderr != "" {
		s := strings.TrimSpace(re.Stderr)
		lines := strings.Split(s, "\n")
		s = lines[0]
		if len(s) > 200 {
			s = s[:200]
		}
		return s
	}
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Error()
	}
	return err.Error()
}
