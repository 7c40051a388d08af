package cards

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/ingestd/ingestd/daemon/cards/ascmhl"
)

// Config is the `cards:` section of the daemon configuration. Absent: no
// camera-card offload.
type Config struct {
	// MountRoots are the folders under which a new mount is a camera card
	// (default /media, /run/media, /mnt/cards). The roots themselves are
	// never cards.
	MountRoots []string `yaml:"mount_roots"`
	// OffloadTo names the volume (volumes[].name) cards are copied into:
	// the one-destination form of Destinations (one of the two is
	// required). The copies are then cataloged like any other file there.
	OffloadTo string `yaml:"offload_to"`
	// Destinations: the card is read once and written to each of them in
	// parallel; each is verified on its own and gets its own ascmhl/
	// history. The first is the primary copy (clip records point at it).
	Destinations []DestConfig `yaml:"destinations"`
	// Cascade: copy to the first destination at card speed, release the
	// card, then fill the others from that verified copy.
	Cascade bool `yaml:"cascade"`
	// EjectWhenSafe unmounts the card once it is safe to format.
	EjectWhenSafe bool `yaml:"eject_when_safe"`
	// RetryInterval is how often a destination left failed is filled again
	// from the first verified copy (default 1m).
	RetryInterval time.Duration `yaml:"retry_interval"`
	// Path is the destination folder inside that volume, a template with
	// {date} {time} {label} {layout} {uuid} {fingerprint} (default
	// "{date}/{label}").
	Path string `yaml:"path"`
	// Mountinfo is the file polled for mounts (default
	// /proc/self/mountinfo).
	Mountinfo string `yaml:"mountinfo"`
	// Poll is how often mounts are polled (default 2s).
	Poll time.Duration `yaml:"poll"`
	// Hashes are the ASC MHL hash formats written (default [xxh128]); one
	// of c4, md5, sha1, xxh128, xxh3, xxh64.
	Hashes []string `yaml:"hashes"`
	// ReadMBps caps how fast a card is read, in MB/s (0: no cap). Useful
	// when offloads share a NAS link with editors.
	ReadMBps int `yaml:"read_mbps"`
}

// DestConfig is one cards.destinations entry.
type DestConfig struct {
	Volume string `yaml:"volume"` // volumes[].name
	Path   string `yaml:"path"`   // folder template like cards.path (default cards.path)
	// Hashes are this destination's ASC MHL hash formats (default
	// cards.hashes): e.g. md5 for a client shuttle, xxh128 on the RAID.
	// The card is still read once, hashed in every format named.
	Hashes []string `yaml:"hashes"`
}

// DestFormats are the parsed hash formats of destination i (after
// Validate): its own hashes, else cards.hashes.
func (c *Config) DestFormats(i int) []ascmhl.Format {
	ds := c.Dests()
	if i < 0 || i >= len(ds) || len(ds[i].Hashes) == 0 {
		return c.Formats()
	}
	var fs []ascmhl.Format
	for _, h := range ds[i].Hashes {
		if f, err := ascmhl.ParseFormat(h); err == nil {
			fs = append(fs, f)
		}
	}
	return fs
}

// Dests returns the destinations in effect (after SetDefaults):
// Destinations, or offload_to with path.
func (c *Config) Dests() []DestConfig {
	if len(c.Destinations) > 0 {
		return c.Destinations
	}
	return []DestConfig{{Volume: c.OffloadTo, Path: c.Path}}
}

// Defaults of Config.
var DefaultMountRoots = []string{"/media", "/run/media", "/mnt/cards"}

const (
	DefaultPath = "{date}/{label}"
	DefaultPoll = 2 * time.Second
)

// SetDefaults fills the keys left empty.
func (c *Config) SetDefaults() {
	if len(c.MountRoots) == 0 {
		c.MountRoots = append([]string(nil), DefaultMountRoots...)
	}
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if c.Mountinfo == "" {
		c.Mountinfo = "/proc/self/mountinfo"
	}
	if c.Poll == 0 {
		c.Poll = DefaultPoll
	}
	if len(c.Hashes) == 0 {
		c.Hashes = []string{string(ascmhl.DefaultFormat)}
	}
	for i := range c.Destinations {
		if c.Destinations[i].Path == "" {
			c.Destinations[i].Path = c.Path
		}
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = DefaultRetryInterval
	}
}

// DefaultRetryInterval is the default cards.retry_interval.
const DefaultRetryInterval = time.Minute

// Validate checks the section on its own (the daemon checks that
// offload_to names a volume). Errors name the key ("cards.path: ...").
func (c *Config) Validate() error {
	switch {
	case c.OffloadTo == "" && len(c.Destinations) == 0:
		return errors.New("cards.offload_to: required (the name of a volume), or cards.destinations")
	case c.OffloadTo != "" && len(c.Destinations) > 0:
		return errors.New("cards.destinations: give either offload_to (one destination) or destinations, not both")
	}
	seen := map[string]int{}
	for i, d := range c.Destinations {
		if d.Volume == "" {
			return fmt.Errorf("cards.destinations[%d].volume: required (the name of a volume)", i)
		}
		p := d.Path
		if p == "" {
			p = c.Path
		}
		sample := Identity{Label: "CARD", UUID: "0000-0000", Layout: LayoutGoPro, Fingerprint: "0123456789abcdef"}
		if _, err := DestPath(p, sample, time.Now()); err != nil {
			return fmt.Errorf("cards.destinations[%d].path: %v", i, err)
		}
		for j, h := range d.Hashes {
			if _, err := ascmhl.ParseFormat(h); err != nil {
				return fmt.Errorf("cards.destinations[%d].hashes[%d]: %v", i, j, err)
			}
		}
		k := d.Volume + "\x00" + p
		if j, ok := seen[k]; ok {
			return fmt.Errorf("cards.destinations[%d]: same volume %q and path as destinations[%d]", i, d.Volume, j)
		}
		seen[k] = i
	}
	if c.Cascade && len(c.Dests()) < 2 {
		return errors.New("cards.cascade: needs at least two cards.destinations")
	}
	if c.RetryInterval < 0 || (c.RetryInterval > 0 && c.RetryInterval < 100*time.Millisecond) {
		return fmt.Errorf("cards.retry_interval: must be at least 100ms, got %s", c.RetryInterval)
	}
	for i, r := range c.MountRoots {
		if !filepath.IsAbs(r) || filepath.Clean(r) == "/" {
			return fmt.Errorf("cards.mount_roots[%d]: %q must be an absolute folder other than /", i, r)
		}
	}
	sample := Identity{Label: "CARD", UUID: "0000-0000", Layout: LayoutGoPro, Fingerprint: "0123456789abcdef"}
	if _, err := DestPath(c.Path, sample, time.Now()); err != nil {
		return fmt.Errorf("cards.path: %v", err)
	}
	if c.Poll < 100*time.Millisecond {
		return fmt.Errorf("cards.poll: must be at least 100ms, got %s", c.Poll)
	}
	for i, h := range c.Hashes {
		if _, err := ascmhl.ParseFormat(h); err != nil {
			return fmt.Errorf("cards.hashes[%d]: %v", i, err)
		}
	}
	if c.ReadMBps < 0 {
		return fmt.Errorf("cards.read_mbps: must not be negative, got %d", c.ReadMBps)
	}
	return nil
}

// Formats are the parsed Hashes (after Validate).
func (c *Config) Formats() []ascmhl.Format {
	var fs []ascmhl.Format
	for _, h := range c.Hashes {
		if f, err := ascmhl.ParseFormat(h); err == nil {
			fs = append(fs, f)
		}
	}
	return fs
}

// FixityConfig is the top-level `fixity:` section: a scheduled re-read of
// every master against its cataloged hash. Interval 0 (the default) turns
// the schedule off; `ingestd verify` works either way.
type FixityConfig struct {
	// Interval between two scheduled walks (e.g. 168h); 0: none.
	Interval time.Duration `yaml:"interval"`
	// Volumes limits the scheduled walk to these volume names (default all).
	Volumes []string `yaml:"volumes"`
}

// Validate checks the section; errors name the key.
func (c FixityConfig) Validate(volumes []string) error {
	if c.Interval < 0 || (c.Interval > 0 && c.Interval < time.Minute) {
		return fmt.Errorf("fixity.interval: must be 0 (off) or at least 1m, got %s", c.Interval)
	}
	for i, v := range c.Volumes {
		found := false
		for _, n := range volumes {
			found = found || n == v
		}
		if !found {
			return fmt.Errorf("fixity.volumes[%d]: no volume named %q", i, v)
		}
	}
	return nil
}
