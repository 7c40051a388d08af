package sequences

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/ingestd/ingestd/storage"
)

// Config is the `sequences:` section of the daemon configuration.
type Config struct {
	// Enabled turns sequence grouping on (default true).
	Enabled *bool `yaml:"enabled"`
	// MinFrames is how many cataloged frames of one pattern in one folder
	// make a sequence (default 3).
	MinFrames int `yaml:"min_frames"`
	// Settle is how long a sequence must stay unchanged (no frame added,
	// rewritten or removed) before its proxy and poster are cut (default
	// 30s). The record itself follows every change.
	Settle time.Duration `yaml:"settle"`
	// FPS is the frame rate of a sequence whose first frame's header gives
	// none (DPX film/TV header, EXR framesPerSecond): an integer or a
	// fraction such as 24000/1001 (default "24").
	FPS string `yaml:"fps"`
	// Extensions are the frame file extensions considered, lower case,
	// without the dot (default dpx, exr, tif, tiff, png, jpg, jpeg).
	Extensions []string `yaml:"extensions"`
	// FrameProxies keeps the image proxy (proxy.jpg) of each frame
	// (default true). False: a still that is a frame of a sequence when
	// transcode probes it gets no proxy of its own (the sequence proxy
	// shows it); the first frames of a render, before min_frames of them
	// exist, still get theirs.
	FrameProxies *bool `yaml:"frame_proxies"`
}

// DefaultExtensions are the frame formats grouped by default: the frame
// formats of storage's media-extension table (dpx, exr, tif, tiff, png,
// jpg, jpeg).
var DefaultExtensions = storage.FrameExtensions()

// SetDefaults fills zero values with the defaults documented on Config.
func (c *Config) SetDefaults() {
	if c.Enabled == nil {
		t := true
		c.Enabled = &t
	}
	if c.MinFrames == 0 {
		c.MinFrames = 3
	}
	if c.Settle == 0 {
		c.Settle = 30 * time.Second
	}
	if c.FPS == "" {
		c.FPS = "24"
	}
	if c.FrameProxies == nil {
		t := true
		c.FrameProxies = &t
	}
	if len(c.Extensions) == 0 {
		c.Extensions = slices.Clone(DefaultExtensions)
	}
}

// On reports whether grouping is enabled (true when unset).
func (c Config) On() bool { return c.Enabled == nil || *c.Enabled }

// Validate checks the section without side effects; errors name the key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, msg string, args ...any) {
		errs = append(errs, fmt.Errorf("sequences.%s: "+msg, append([]any{key}, args...)...))
	}
	if c.MinFrames < 2 || c.MinFrames > 1000 {
		bad("min_frames", "must be between 2 and 1000, not %d", c.MinFrames)
	}
	if c.Settle < 100*time.Millisecond || c.Settle > 24*time.Hour {
		bad("settle", "must be between 100ms and 24h, not %s", c.Settle)
	}
	if _, err := ParseRate(c.FPS); err != nil {
		bad("fps", "%v", err)
	}
	for i, e := range c.Extensions {
		if !slices.Contains(DefaultExtensions, e) {
			bad(fmt.Sprintf("extensions[%d]", i), "must be one of %s, not %q", strings.Join(DefaultExtensions, ", "), e)
		}
	}
	return errors.Join(errs...)
}

// ParseRate parses a frame rate written as an integer, a decimal or a
// fraction ("24", "23.976", "24000/1001") into a reduced fraction between
// 1 and 1000 frames per second.
func ParseRate(s string) (*big.Rat, error) {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok || r.Sign() <= 0 || r.Cmp(big.NewRat(1000, 1)) > 0 || r.Cmp(big.NewRat(1, 1)) < 0 {
		return nil, fmt.Errorf("frame rate must be a number or fraction between 1 and 1000, not %q", s)
	}
	return r, nil
}
