package doctor

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/transcode"
)

const installFFmpeg = "install FFmpeg (Debian/Ubuntu: apt install ffmpeg; Fedora/RHEL: dnf install ffmpeg, from RPM Fusion for libx264) or set the ffmpeg:/ffprobe: keys to its path"

// resolve finds a configured binary: a path as given, a bare name in PATH.
func resolve(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("not configured")
	}
	return exec.LookPath(name)
}

// version runs `bin -version` and returns its first line.
func version(ctx context.Context, bin string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-hide_banner", "-version").Output()
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(out), "\n")
	line, _, _ = strings.Cut(line, " Copyright")
	return strings.TrimSpace(line), nil
}

func checkTools(ctx context.Context, cfg *config.Config) []Finding {
	var fs []Finding
	paths := map[string]string{}
	for _, t := range []struct{ key, name string }{{"ffmpeg", cfg.FFmpeg}, {"ffprobe", cfg.FFprobe}} {
		p, err := resolve(t.name)
		if err != nil {
			fs = append(fs, Finding{Check: t.key, Level: Fail, Message: fmt.Sprintf("%s not found (%q): %v; no media probe or proxies", t.key, t.name, err), Fix: installFFmpeg})
			continue
		}
		v, err := version(ctx, p)
		if err != nil {
			fs = append(fs, Finding{Check: t.key, Level: Fail, Message: fmt.Sprintf("%s -version failed: %v", p, err), Fix: "reinstall FFmpeg or point " + t.key + ": at a working binary"})
			continue
		}
		paths[t.key] = p
		fs = append(fs, Finding{Check: t.key, Level: OK, Message: p + ": " + v})
	}
	if paths["ffmpeg"] == "" || paths["ffprobe"] == "" {
		return fs
	}
	enabled := cfg.Proxy.Enabled == nil || *cfg.Proxy.Enabled
	gpu := cfg.Proxy.GPU
	if gpu == "" {
		gpu = transcode.GPUAuto
	}
	caps, derr := transcode.Detect(ctx, transcode.Tools{FFmpeg: paths["ffmpeg"], FFprobe: paths["ffprobe"]}, gpu)
	// The CPU lane: libx264 and aac must encode.
	lvl := Fail
	if !enabled {
		lvl = Warn
	}
	if caps.LibX264 {
		fs = append(fs, Finding{Check: "libx264", Level: OK, Message: "libx264 encodes (trial run)"})
	} else {
		fs = append(fs, Finding{Check: "libx264", Level: lvl, Message: "libx264 does not encode: " + caps.Errors["libx264"] + " (Fedora/EPEL ffmpeg-free is built without it); no CPU video proxies",
			Fix: "install an FFmpeg with libx264 (Fedora/RHEL: RPM Fusion `dnf swap ffmpeg-free ffmpeg --allowerasing`; Debian: apt install ffmpeg)"})
	}
	if err := trial(ctx, paths["ffmpeg"], "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000:duration=0.2", "-c:a", "aac", "-f", "null", "-"); err != nil {
		fs = append(fs, Finding{Check: "aac", Level: lvl, Message: "the aac encoder does not work: " + err.Error() + "; no audio in proxies", Fix: "install a full FFmpeg build (the native aac encoder is part of every standard build)"})
	} else {
		fs = append(fs, Finding{Check: "aac", Level: OK, Message: "aac encodes (trial run)"})
	}
	// Hardware lanes.
	switch {
	case gpu == transcode.GPUOff:
		fs = append(fs, Finding{Check: "gpu lane", Level: OK, Message: "proxy.gpu is off: CPU lane only"})
	case caps.GPU():
		var codecs []string
		for c, ok := range caps.NVDEC {
			if ok {
				codecs = append(codecs, c)
			}
		}
		sort.Strings(codecs)
		fs = append(fs, Finding{Check: "gpu lane", Level: OK, Message: fmt.Sprintf("NVIDIA pipeline works: CUDA, scale_cuda, NVDEC for %s; NVENC %v", strings.Join(codecs, ", "), yesNo(caps.NVENC))})
	default:
		l := OK
		fix := ""
		if gpu == transcode.GPURequire {
			l = Fail
			fix = "proxy.gpu is require: install the NVIDIA driver and an FFmpeg built with CUDA/NVDEC, make /dev/nvidia* reachable (no PrivateDevices=yes; SupplementaryGroups=video render), or set proxy.gpu: auto"
		}
		fs = append(fs, Finding{Check: "gpu lane", Level: l, Message: "no usable NVIDIA pipeline (" + gpuWhy(caps) + "): proxies run on the CPU lane", Fix: fix})
	}
	var extra []string
	if caps.NVENC {
		extra = append(extra, "h264_nvenc")
	}
	if caps.VAAPI != "" {
		extra = append(extra, "h264_vaapi on "+caps.VAAPI)
	}
	if caps.QSV {
		extra = append(extra, "h264_qsv")
	}
	if len(extra) > 0 {
		fs = append(fs, Finding{Check: "hw encoders", Level: OK, Message: "working hardware encoders: " + strings.Join(extra, ", ")})
	} else if gpu != transcode.GPUOff {
		fs = append(fs, Finding{Check: "hw encoders", Level: OK, Message: "no hardware encoder works (NVENC, VAAPI, QSV trials failed); encoding uses libx264"})
	}
	if derr != nil && gpu != transcode.GPURequire {
		fs = append(fs, Finding{Check: "detect", Level: Warn, Message: "hardware detection: " + derr.Error()})
	}
	return fs
}

func gpuWhy(c transcode.Capabilities) string {
	for _, k := range []string{"cuda", "scale_cuda", "nvdec-h264"} {
		if e, ok := c.Errors[k]; ok && e != "" {
			return k + ": " + e
		}
	}
	if !c.CUDA {
		return "no CUDA device"
	}
	return "NVDEC decodes none of the tried codecs"
}

func yesNo(b bool) string {
	if b {
		return "works"
	}
	return "unavailable"
}

// trial runs one short FFmpeg command and returns its first error line.
func trial(ctx context.Context, ffmpeg string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ffmpeg, append([]string{"-hide_banner", "-nostdin", "-loglevel", "error"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		if line == "" {
			line = err.Error()
		}
		return fmt.Errorf("%s", line)
	}
	return nil
}
