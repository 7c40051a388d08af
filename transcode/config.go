package transcode

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Config is the `proxy:` section of the daemon configuration.
type Config struct {
	// Enabled turns the transcode stage on (default true). When off, assets
	// are still probed (kind and media) but no proxy jobs run.
	Enabled *bool `yaml:"enabled"`
	// GPU is auto (use a GPU where a trial run works), off, or require
	// (refuse to start without a working NVIDIA decode or encode path).
	GPU string `yaml:"gpu"`
	// MaxHeight caps the proxy height in pixels (default 720); sources are
	// never upscaled.
	MaxHeight int `yaml:"max_height"`
	// VideoBitrate is the H.264 target bitrate (default "3M").
	VideoBitrate string `yaml:"video_bitrate"`
	// AudioBitrate is the AAC bitrate (default "160k").
	AudioBitrate string `yaml:"audio_bitrate"`
	// SourceAudio adds the source's audio to video proxies as extra AAC
	// tracks after the stereo mix (default true) when the mix loses
	// separation: more than one audio stream, or a stream of more than two
	// channels (see sourceTracks). False: the mix is the only track.
	SourceAudio *bool `yaml:"source_audio"`
	// Preset is the libx264 preset (default "veryfast").
	Preset string `yaml:"preset"`
	// GOPSeconds is the closed GOP length in seconds, at most 1 (default 1).
	GOPSeconds float64 `yaml:"gop_seconds"`
	// FilmstripTiles is the number of evenly spaced tiles in filmstrip.jpg
	// (default 10); FilmstripHeight is the height of one tile (default 90).
	FilmstripTiles  int `yaml:"filmstrip_tiles"`
	FilmstripHeight int `yaml:"filmstrip_height"`
	// PosterAt is where the poster frame is taken, as a fraction of the
	// duration (default 0.1).
	PosterAt float64 `yaml:"poster_at"`
	// ImageMaxEdge caps the long edge of image proxies (default 2048).
	ImageMaxEdge int `yaml:"image_max_edge"`
	// CPUJobs and GPUJobs are the concurrent jobs per lane (defaults 1 and
	// 2); NVENCSessions caps concurrent NVENC encodes (default 3).
	CPUJobs       int `yaml:"cpu_jobs"`
	GPUJobs       int `yaml:"gpu_jobs"`
	NVENCSessions int `yaml:"nvenc_sessions"`
	// Threads passed to FFmpeg per job (-threads); 0 lets FFmpeg choose.
	Threads int `yaml:"threads"`
	// StallTimeout kills a job whose FFmpeg progress stops for this long
	// (default 2m).
	StallTimeout time.Duration `yaml:"stall_timeout"`
}

// Lane and GPU mode names.
const (
	GPUAuto    = "auto"
	GPUOff     = "off"
	GPURequire = "require"

	LaneCPU = "cpu"
	LaneGPU = "gpu"
)

// SetDefaults fills zero values with the defaults documented on Config.
func (c *Config) SetDefaults() {
	if c.Enabled == nil {
		t := true
		c.Enabled = &t
	}
	if c.GPU == "" {
		c.GPU = GPUAuto
	}
	if c.MaxHeight == 0 {
		c.MaxHeight = 720
	}
	if c.VideoBitrate == "" {
		c.VideoBitrate = "3M"
	}
	if c.AudioBitrate == "" {
		c.AudioBitrate = "160k"
	}
	if c.SourceAudio == nil {
		t := true
		c.SourceAudio = &t
	}
	if c.Preset == "" {
		c.Preset = "veryfast"
	}
	if c.GOPSeconds == 0 {
		c.GOPSeconds = 1
	}
	if c.FilmstripTiles == 0 {
		c.FilmstripTiles = 10
	}
	if c.FilmstripHeight == 0 {
		c.FilmstripHeight = 90
	}
	if c.PosterAt == 0 {
		c.PosterAt = 0.1
	}
	if c.ImageMaxEdge == 0 {
		c.ImageMaxEdge = 2048
	}
	if c.CPUJobs == 0 {
		c.CPUJobs = 1
	}
	if c.GPUJobs == 0 {
		c.GPUJobs = 2
	}
	if c.NVENCSessions == 0 {
		c.NVENCSessions = 3
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = 2 * time.Minute
	}
}

// sourceAudio is proxy.source_audio (true when unset).
func (c Config) sourceAudio() bool { return c.SourceAudio == nil || *c.SourceAudio }

// Validate checks the section without side effects; errors name the key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, msg string, args ...any) {
		errs = append(errs, fmt.Errorf("proxy.%s: "+msg, append([]any{key}, args...)...))
	}
	switch c.GPU {
	case GPUAuto, GPUOff, GPURequire:
	default:
		bad("gpu", "must be auto, off or require, not %q", c.GPU)
	}
	if c.MaxHeight < 16 || c.MaxHeight > 4320 {
		bad("max_height", "must be between 16 and 4320, not %d", c.MaxHeight)
	}
	if !validBitrate(c.VideoBitrate) {
		bad("video_bitrate", "must be a bitrate like 3M or 2500k, not %q", c.VideoBitrate)
	}
	if !validBitrate(c.AudioBitrate) {
		bad("audio_bitrate", "must be a bitrate like 160k, not %q", c.AudioBitrate)
	}
	if c.GOPSeconds <= 0 || c.GOPSeconds > 1 {
		bad("gop_seconds", "must be more than 0 and at most 1, not %g", c.GOPSeconds)
	}
	if c.FilmstripTiles < 1 || c.FilmstripTiles > 100 {
		bad("filmstrip_tiles", "must be between 1 and 100, not %d", c.FilmstripTiles)
	}
	if c.FilmstripHeight < 16 || c.FilmstripHeight > 1080 {
		bad("filmstrip_height", "must be between 16 and 1080, not %d", c.FilmstripHeight)
	}
	if c.PosterAt < 0 || c.PosterAt > 1 {
		bad("poster_at", "must be a fraction between 0 and 1, not %g", c.PosterAt)
	}
	if c.ImageMaxEdge < 16 {
		bad("image_max_edge", "must be at least 16, not %d", c.ImageMaxEdge)
	}
	if c.CPUJobs < 1 {
		bad("cpu_jobs", "must be at least 1, not %d", c.CPUJobs)
	}
	if c.GPUJobs < 0 {
		bad("gpu_jobs", "must not be negative, not %d", c.GPUJobs)
	}
	if c.NVENCSessions < 0 {
		bad("nvenc_sessions", "must not be negative, not %d", c.NVENCSessions)
	}
	if c.Threads < 0 {
		bad("threads", "must not be negative, not %d", c.Threads)
	}
	if c.StallTimeout < time.Second {
		bad("stall_timeout", "must be at least 1s, not %s", c.StallTimeout)
	}
	return errors.Join(errs...)
}

func validBitrate(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return false
	}
	s = strings.TrimRight(s, "kKmM")
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && r != '.' {
			return false
		}
	}
	return true
}

// Tools are the external binaries and volume roots the stage needs.
type Tools struct {
	// FFmpeg and FFprobe come from the top-level config keys ffmpeg: and
	// ffprobe:; empty means look them up in PATH.
	FFmpeg  string
	FFprobe string
	// Volumes maps volume names to their root directories, to resolve an
	// asset's location (volume, relative path) to the master file. A volume
	// missing here is resolved through the catalog's volume record (Path).
	Volumes map[string]string
}

func (t Tools) withDefaults() (Tools, error) {
	if t.FFmpeg == "" {
		p, err := exec.LookPath("ffmpeg")
		if err != nil {
			return t, fmt.Errorf("ffmpeg not found in PATH: %w", err)
		}
		t.FFmpeg = p
	}
	if t.FFprobe == "" {
		p, err := exec.LookPath("ffprobe")
		if err != nil {
			return t, fmt.Errorf("ffprobe not found in PATH: %w", err)
		}
		t.FFprobe = p
	}
	return t, nil
}
