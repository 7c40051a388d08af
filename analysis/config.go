// Package analysis is the edge analysis stage: technical QC and structure
// of every video and audio asset, from FFmpeg alone. After the transcode
// stage has cut an asset's proxy (event proxy.ready), it runs, on its own
// lane, one FFmpeg pass over the proxy's video (720p, cheap to decode):
// blackdetect, freezedetect and select's scene score (shot boundaries, one
// thumbnail per shot); and one over the MASTER's audio, audio only (the
// first audio stream the proxy's mix uses, in its own layout, so that a 5.1
// programme is measured as 5.1): silencedetect, astats (clipping) and
// ebur128 (EBU R128 integrated loudness, range, true peak). A master that is
// offline or unreadable is replaced by the proxy's mix, and analysis.json
// says so (audio_source, audio_note). Times are those of the source (the
// proxy keeps the master's frames and start timecode), given as seconds,
// frames and source timecode. The result is checked against the configured
// rules (pass/warn/fail, with the reason), written to
// state_dir/media/<id>/analysis.json and shots.jpg, summarised in the asset
// document's `analysis` section, and announced by analysis.ready (or
// analysis.failed).
//
// It uses transcode's Runner (process group, stall watchdog) and input
// builders (file protocol only, forced demuxer). It reads ingestd's own
// proxies and, for audio, the master at the location the transcode stage
// resolves (SetMaster), read-only; it writes only under state_dir/media.
// Its jobs are persisted in the catalog's state (analysis/job/<id>) and
// survive a restart. Enrichers (enrich.go) are external commands, treated
// as untrusted: each runs in a process group of its own (killed with it
// at its timeout and when it exits), without the daemon's environment
// (which may hold S3 credentials), and what it answers and the files it
// lists are checked before anything of it is installed.
package analysis

import (
	"errors"
	"fmt"
	"time"
)

// Config is the `analysis:` section of the daemon configuration.
type Config struct {
	// Enabled turns the stage on (default true).
	Enabled *bool `yaml:"enabled"`
	// Jobs is the number of analyses run at once (default 1).
	Jobs int `yaml:"jobs"`
	// StallTimeout kills an analysis whose FFmpeg makes no progress for
	// this long (default 2m).
	StallTimeout time.Duration `yaml:"stall_timeout"`
	// Timeout kills the FFmpeg passes of an analysis that run longer than
	// this in all (a 10-hour file on a slow box); the asset's analysis
	// then fails with that reason and the queue goes on (default 2h).
	// Enrichers have their own timeouts.
	Timeout time.Duration `yaml:"timeout"`
	// SceneThreshold is the scene score (0..1, FFmpeg select's scene) above
	// which a frame starts a new shot (default 0.3).
	SceneThreshold float64 `yaml:"scene_threshold"`
	// MaxThumbnails caps the per-shot thumbnails kept (default 200).
	MaxThumbnails int `yaml:"max_thumbnails"`
	// Rules are the QC verdicts' thresholds.
	Rules Rules `yaml:"rules"`
	// Enrichers are external commands run after the FFmpeg analysis of
	// each asset (transcripts, tags…), in order (enrich.go).
	Enrichers []Enricher `yaml:"enrichers"`
}

// Rules are the QC thresholds. A zero duration or dimension disables its
// rule (except those with a default).
type Rules struct {
	// LoudnessTarget in LUFS (default -23) and LoudnessTolerance in LU
	// (default 1): outside target±tolerance warns, outside twice the
	// tolerance fails.
	LoudnessTarget    *float64 `yaml:"loudness_target"`
	LoudnessTolerance float64  `yaml:"loudness_tolerance"`
	// MaxTruePeak in dBTP (default -1): above it fails.
	MaxTruePeak *float64 `yaml:"max_true_peak"`
	// MaxBlack, MaxFreeze, MaxSilence: the longest segment allowed (default
	// 2s, 2s, 5s); longer fails.
	MaxBlack   time.Duration `yaml:"max_black"`
	MaxFreeze  time.Duration `yaml:"max_freeze"`
	MaxSilence time.Duration `yaml:"max_silence"`
	// MinDuration: a shorter programme fails (default 0: off).
	MinDuration time.Duration `yaml:"min_duration"`
	// FrameRate (e.g. "25" or "24000/1001"), Width, Height: what the master
	// must have; another value warns (default "": off).
	FrameRate string `yaml:"frame_rate"`
	Width     int    `yaml:"width"`
	Height    int    `yaml:"height"`
}

// On reports whether the stage is enabled.
func (c Config) On() bool { return c.Enabled == nil || *c.Enabled }

// SetDefaults fills zero values with the defaults documented on Config.
func (c *Config) SetDefaults() {
	if c.Enabled == nil {
		t := true
		c.Enabled = &t
	}
	if c.Jobs == 0 {
		c.Jobs = 1
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = 2 * time.Minute
	}
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Hour
	}
	if c.SceneThreshold == 0 {
		c.SceneThreshold = 0.3
	}
	if c.MaxThumbnails == 0 {
		c.MaxThumbnails = 200
	}
	for i := range c.Enrichers {
		c.Enrichers[i].setDefaults()
	}
	r := &c.Rules
	if r.LoudnessTarget == nil {
		v := -23.0
		r.LoudnessTarget = &v
	}
	if r.LoudnessTolerance == 0 {
		r.LoudnessTolerance = 1
	}
	if r.MaxTruePeak == nil {
		v := -1.0
		r.MaxTruePeak = &v
	}
	if r.MaxBlack == 0 {
		r.MaxBlack = 2 * time.Second
	}
	if r.MaxFreeze == 0 {
		r.MaxFreeze = 2 * time.Second
	}
	if r.MaxSilence == 0 {
		r.MaxSilence = 5 * time.Second
	}
}

// Validate checks a defaulted Config; each error names its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(k, f string, a ...any) { errs = append(errs, fmt.Errorf("analysis."+k+": "+f, a...)) }
	if c.Jobs < 1 || c.Jobs > 64 {
		bad("jobs", "must be 1..64, got %d", c.Jobs)
	}
	if c.StallTimeout < time.Second {
		bad("stall_timeout", "must be at least 1s, got %s", c.StallTimeout)
	}
	if c.Timeout < time.Second {
		bad("timeout", "must be at least 1s, got %s", c.Timeout)
	}
	if c.SceneThreshold <= 0 || c.SceneThreshold >= 1 {
		bad("scene_threshold", "must be between 0 and 1, got %g", c.SceneThreshold)
	}
	if c.MaxThumbnails < 1 || c.MaxThumbnails > 10000 {
		bad("max_thumbnails", "must be 1..10000, got %d", c.MaxThumbnails)
	}
	r := c.Rules
	if r.LoudnessTarget != nil && (*r.LoudnessTarget > 0 || *r.LoudnessTarget < -70) {
		bad("rules.loudness_target", "must be between -70 and 0 LUFS, got %g", *r.LoudnessTarget)
	}
	if r.LoudnessTolerance < 0 || r.LoudnessTolerance > 20 {
		bad("rules.loudness_tolerance", "must be 0..20 LU, got %g", r.LoudnessTolerance)
	}
	for k, d := range map[string]time.Duration{"max_black": r.MaxBlack, "max_freeze": r.MaxFreeze, "max_silence": r.MaxSilence, "min_duration": r.MinDuration} {
		if d < 0 {
			bad("rules."+k, "must not be negative, got %s", d)
		}
	}
	if r.FrameRate != "" {
		if _, err := parseRate(r.FrameRate); err != nil {
			bad("rules.frame_rate", "%v", err)
		}
	}
	if r.Width < 0 || r.Height < 0 {
		bad("rules.width", "width and height must not be negative")
	}
	seen := map[string]bool{}
	for i, e := range c.Enrichers {
		if err := e.validate(i, seen); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
