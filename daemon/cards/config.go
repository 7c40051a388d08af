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
	// OffloadTo names the volume (volumes[].name) cards are copied into;
	// required. The copies are then cataloged like any other file there.
	OffloadTo string `yaml:"offload_to"`
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
}

// Validate checks the section on its own (the daemon checks that
// offload_to names a volume). Errors name the key ("cards.path: ...").
func (c *Config) Validate() error {
	if c.OffloadTo == "" {
		return errors.New("cards.offload_to: required (the name of a volume)")
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
