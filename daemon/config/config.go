// Package config owns ingestd's YAML configuration: strict decoding (unknown
// keys are errors), defaults, and Validate, which names the bad key.
//
// Phases, in the manner of Caddy: Parse (strict decode) -> SetDefaults ->
// Validate (fast; its only side effect is stat of configured paths). It must
// not open the catalog, create directories, start goroutines or touch the
// network: the daemon package does all of that after a config is valid.
//
// Sections for later stages (proxy:, hub:) are composed here from the
// transcode and sync packages' Config structs (stages.go); their own
// SetDefaults and Validate run from here, errors naming the full key.
package config

import (
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/ingestd/ingestd/analysis"
	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/daemon/diskguard"
	"github.com/ingestd/ingestd/daemon/sequences"
	"github.com/ingestd/ingestd/transcode"
)

// Defaults applied by SetDefaults to keys left empty.
const (
	DefaultStateDir = "/var/lib/ingestd"
	DefaultSettle   = 5 * time.Second
	DefaultRescan   = 5 * time.Minute
	DefaultListen   = "127.0.0.1:8470"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML is the embedded configuration used when no -config is given
// (`make run` on a fresh clone): watch ./watch, state ./state, API on
// 127.0.0.1:8470, no cloud target.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// Config is the whole daemon configuration.
type Config struct {
	// ApplianceID names this box in events and on the hub. Optional: when
	// empty, one is generated once and kept in state_dir.
	ApplianceID string `yaml:"appliance_id"`
	// StateDir holds the catalog, derived media and small state files.
	StateDir string `yaml:"state_dir"`
	// Settle is how long a file's size and mtime must stay unchanged
	// before it is ingested.
	Settle Duration `yaml:"settle"`
	// Rescan is the period of the reconcile walk (NAS mounts deliver no
	// inotify events for writes by other hosts).
	Rescan Duration `yaml:"rescan"`
	// Ignore adds glob patterns (matched against each path element) to the
	// built-in ignore list.
	Ignore []string `yaml:"ignore"`
	// HashWorkers bounds how many files are hashed in parallel.
	HashWorkers int `yaml:"hash_workers"`
	// FFmpeg and FFprobe are the binaries used by the transcode stage;
	// default: looked up in PATH.
	FFmpeg  string `yaml:"ffmpeg"`
	FFprobe string `yaml:"ffprobe"`

	Log     Log      `yaml:"log"`
	API     API      `yaml:"api"`
	Volumes []Volume `yaml:"volumes"`

	// Proxy is the transcode stage (proxies, posters, filmstrips).
	Proxy transcode.Config `yaml:"proxy"`
	// Sequences groups numbered frames into sequences (daemon/sequences).
	Sequences sequences.Config `yaml:"sequences"`
	// Analysis is technical QC and shots of each proxy (package analysis).
	Analysis analysis.Config `yaml:"analysis"`
	// Hub is the cloud sync target (S3 bucket, webhook); absent: no sync.
	Hub HubConfig `yaml:"hub"`
	// Cards is camera-card offload (daemon/cards); absent: off.
	Cards *cards.Config `yaml:"cards"`
	// Fixity schedules re-reading masters against their hashes.
	Fixity cards.FixityConfig `yaml:"fixity"`
	// Disk is the free-space floor of the state dir and offload volume
	// (daemon/diskguard).
	Disk diskguard.Config `yaml:"disk"`

	volumeWarnings []Warning // set by Validate (VolumeWarnings)
}

// VolumeCheckTimeout bounds Validate's look at each volume's root: a root
// on a mount that does not answer (a hung NFS or SMB share) is not a bad
// config, and must not keep the daemon from starting; it is not checked,
// said so in VolumeWarnings, and starts offline (daemon/watch).
var VolumeCheckTimeout = 15 * time.Second

// VolumeWarnings are the volumes Validate could not look at (their mount
// did not answer within VolumeCheckTimeout).
func (c *Config) VolumeWarnings() []Warning { return c.volumeWarnings }

// volumeRoot is what Validate saw of a volume's root.
type volumeRoot struct {
	fi       os.FileInfo
	err      error
	real     string // symlinks resolved
	answered bool
}

// lookAtRoots stats each volume's root and resolves its symlinks, all at once,
// waiting at most VolumeCheckTimeout in all.
func lookAtRoots(vols []Volume) []volumeRoot {
	out := make([]volumeRoot, len(vols))
	done := make([]chan volumeRoot, len(vols))
	for i, v := range vols {
		p := v.Path
		done[i] = make(chan volumeRoot, 1)
		go func() {
			var r volumeRoot
			r.fi, r.err = os.Stat(p)
			if abs, err := filepath.Abs(p); err == nil {
				r.real = RealPath(filepath.Clean(abs))
			}
			r.answered = true
			done[i] <- r
		}()
	}
	// One deadline for all; a root that answered by then counts even
	// when its answer is read after it.
	expired := make(chan struct{})
	t := time.AfterFunc(VolumeCheckTimeout, func() { close(expired) })
	defer t.Stop()
	for i := range vols {
		select {
		case out[i] = <-done[i]:
		case <-expired:
			select {
			case out[i] = <-done[i]:
			default:
			}
		}
	}
	return out
}

// Log configures the daemon's slog output on stderr.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error (default info)
	Format string `yaml:"format"` // text | json (default text)
}

// API configures the HTTP API.
type API struct {
	// Listen is host:port. A non-loopback address requires TokenFile.
	Listen string `yaml:"listen"`
	// TokenFile holds the bearer token (trimmed). When set, every endpoint
	// but /healthz requires `Authorization: Bearer <token>`.
	TokenFile string `yaml:"token_file"`
}

// Volume is one watched root.
type Volume struct {
	Name string `yaml:"name"`
	Path string `yaml:"path"`
}

// Error is a configuration error. Key is the dotted key path
// ("volumes[1].name"), empty when the error concerns the whole file.
// Its message reads `config: KEY: MSG`.
type Error struct {
	Key  string
	Line int // 0 when unknown
	Msg  string
}

func (e *Error) Error() string {
	s := "config: "
	if e.Key != "" {
		s += e.Key + ": "
	}
	s += e.Msg
	if e.Line > 0 {
		s += fmt.Sprintf(" (line %d)", e.Line)
	}
	return s
}

func errf(key string, format string, args ...any) *Error {
	return &Error{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Load reads, decodes, defaults and validates the file at path.
func Load(path string) (*Config, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, &Error{Msg: err.Error()}
	}
	return LoadBytes(data)
}

// LoadBytes is Load for an in-memory document.
func LoadBytes(data []byte) (*Config, error) {
	c, err := Parse(data)
	if err != nil {
		return nil, err
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// SetDefaults fills keys left empty. Relative paths are kept as written
// (they are relative to the daemon's working directory; Validate makes
// volume paths absolute).
func (c *Config) SetDefaults() {
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if c.Settle == 0 {
		c.Settle = Duration(DefaultSettle)
	}
	if c.Rescan == 0 {
		c.Rescan = Duration(DefaultRescan)
	}
	if c.HashWorkers == 0 {
		c.HashWorkers = min(max(runtime.NumCPU(), 1), 4)
	}
	if c.FFmpeg == "" {
		c.FFmpeg = lookPath("ffmpeg")
	}
	if c.FFprobe == "" {
		c.FFprobe = lookPath("ffprobe")
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.API.Listen == "" {
		c.API.Listen = DefaultListen
	}
	c.setStageDefaults() // every stage section (stages.go)
}

func lookPath(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return name // resolved again (and reported) by the stage that runs it
}

var (
	reApplianceID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	reVolumeName  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
)

// Validate checks a defaulted config and returns the first problem as an
// *Error naming the key. It only stats paths. On success every
// volumes[].path is absolute and clean (relative ones are resolved against
// the working directory), so no consumer makes them absolute again.
func (c *Config) Validate() error {
	if c.ApplianceID != "" && !reApplianceID.MatchString(c.ApplianceID) {
		return errf("appliance_id", "invalid id %q (letters, digits, '.', '_', '-'; at most 64)", c.ApplianceID)
	}
	if c.StateDir == "" {
		return errf("state_dir", "required")
	}
	if fi, err := os.Stat(c.StateDir); err == nil && !fi.IsDir() {
		return errf("state_dir", "%s is not a directory", c.StateDir)
	}
	if c.Settle <= 0 {
		return errf("settle", "must be positive, got %s", c.Settle)
	}
	if c.Rescan < Duration(time.Second) {
		return errf("rescan", "must be at least 1s, got %s", c.Rescan)
	}
	for i, p := range c.Ignore {
		if p == "" || strings.Contains(p, "/") {
			return errf(fmt.Sprintf("ignore[%d]", i), "invalid pattern %q (a glob for one path element)", p)
		}
		if _, err := filepath.Match(p, ""); err != nil {
			return errf(fmt.Sprintf("ignore[%d]", i), "invalid pattern %q: %v", p, err)
		}
	}
	if c.HashWorkers < 1 || c.HashWorkers > 256 {
		return errf("hash_workers", "must be between 1 and 256, got %d", c.HashWorkers)
	}
	for _, b := range []struct{ key, path string }{{"ffmpeg", c.FFmpeg}, {"ffprobe", c.FFprobe}} {
		if strings.ContainsRune(b.path, filepath.Separator) {
			if _, err := os.Stat(b.path); err != nil {
				return errf(b.key, "%s does not exist", b.path)
			}
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return errf("log.level", "invalid level %q (debug, info, warn, error)", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return errf("log.format", "invalid format %q (text, json)", c.Log.Format)
	}
	if err := c.validateAPI(); err != nil {
		return err
	}
	if err := c.validateStages(); err != nil {
		return err
	}
	if err := c.validateCards(); err != nil {
		return err
	}
	return c.validateVolumes()
}

func (c *Config) validateAPI() error {
	host, port, err := net.SplitHostPort(c.API.Listen)
	if err != nil {
		return errf("api.listen", "invalid address %q: want host:port", c.API.Listen)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return errf("api.listen", "invalid port in %q", c.API.Listen)
	}
	if c.API.TokenFile == "" && !IsLoopback(host) {
		return errf("api.token_file", "required when api.listen (%s) is not a loopback address", c.API.Listen)
	}
	if c.API.TokenFile != "" {
		fi, err := os.Stat(c.API.TokenFile)
		if err != nil {
			return errf("api.token_file", "%s does not exist", c.API.TokenFile)
		}
		if fi.IsDir() {
			return errf("api.token_file", "%s is a directory", c.API.TokenFile)
		}
		// The same test as the daemon's start: validate must not pass a
		// token file that run refuses.
		b, err := ReadFile(c.API.TokenFile)
		if err != nil {
			return errf("api.token_file", "%v", err)
		}
		if strings.TrimSpace(string(b)) == "" {
			return errf("api.token_file", "%s is empty", c.API.TokenFile)
		}
	}
	return nil
}

// IsLoopback reports whether host (from host:port) only accepts local
// connections. An empty host means every interface: not loopback.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Config) validateVolumes() error {
	if len(c.Volumes) == 0 {
		return errf("volumes", "at least one volume is required")
	}
	names := map[string]int{}
	paths := make([]string, len(c.Volumes))
	real := make([]string, len(c.Volumes)) // paths with symlinks resolved
	roots := lookAtRoots(c.Volumes)
	c.volumeWarnings = nil
	for i, v := range c.Volumes {
		key := fmt.Sprintf("volumes[%d]", i)
		if v.Name == "" {
			return errf(key+".name", "required")
		}
		if !reVolumeName.MatchString(v.Name) {
			return errf(key+".name", "invalid name %q (lowercase letters, digits, '.', '_', '-')", v.Name)
		}
		if j, dup := names[v.Name]; dup {
			return errf(key+".name", "duplicate volume name %q (also volumes[%d])", v.Name, j)
		}
		names[v.Name] = i
		if v.Path == "" {
			return errf(key+".path", "required")
		}
		abs, err := filepath.Abs(v.Path)
		if err != nil {
			return errf(key+".path", "%v", err)
		}
		paths[i] = filepath.Clean(abs)
		r := roots[i]
		switch {
		case !r.answered:
			// Compared as written only; the watch finds it offline.
			r.real = paths[i]
			c.volumeWarnings = append(c.volumeWarnings, Warning{Key: key + ".path",
				Msg: fmt.Sprintf("%s did not answer within %s (a hung mount?): not checked; volume %s starts offline", v.Path, VolumeCheckTimeout, v.Name)})
		case errors.Is(r.err, os.ErrNotExist):
			return errf(key+".path", "%s does not exist", v.Path)
		case r.err != nil:
			return errf(key+".path", "%v", r.err)
		case !r.fi.IsDir():
			return errf(key+".path", "%s is not a directory", v.Path)
		}
		// Compared as written and with symlinks resolved: a link to
		// another volume (or to the state dir) is the same tree, ingested
		// twice or ingesting the catalog's own files.
		real[i] = r.real
		for j := 0; j < i; j++ {
			if overlaps(paths[i], paths[j]) || overlaps(real[i], real[j]) {
				return errf(key+".path", "%s overlaps volumes[%d].path %s%s", v.Path, j, c.Volumes[j].Path, via(paths[i], paths[j], real[i], real[j]))
			}
		}
	}
	if sd, err := filepath.Abs(c.StateDir); err == nil {
		sd = filepath.Clean(sd)
		rsd := RealPath(sd)
		for i, p := range paths {
			if within(sd, p) || within(rsd, real[i]) {
				return errf("state_dir", "%s is inside volumes[%d].path %s%s", c.StateDir, i, c.Volumes[i].Path, via(sd, p, rsd, real[i]))
			}
			if within(p, sd) || within(real[i], rsd) {
				return errf(fmt.Sprintf("volumes[%d].path", i), "%s is inside state_dir %s%s", c.Volumes[i].Path, c.StateDir, via(p, sd, real[i], rsd))
			}
		}
	}
	if c.Cards != nil {
		// A volume under a card mount root would be taken for a card when
		// it is a mount (a NAS at /media/nas offloaded into itself); a
		// mount root inside a volume has every card's files ingested in
		// place from the card as well as from its offload copy.
		for j, r := range c.Cards.MountRoots {
			r = filepath.Clean(r)
			rr := RealPath(r)
			for i, p := range paths {
				if overlaps(p, r) || overlaps(real[i], rr) {
					return errf(fmt.Sprintf("volumes[%d].path", i), "%s overlaps cards.mount_roots[%d] %s%s (cards are mounted there; mount the volume elsewhere or set cards.mount_roots)",
						c.Volumes[i].Path, j, r, via(p, r, real[i], rr))
				}
			}
		}
	}
	// The one place volume paths are made absolute: every stage (ingest's
	// watch roots, transcode, sequences, cards, the disk guard) takes them
	// from here, and watch events carry paths joined onto the root.
	for i, p := range paths {
		c.Volumes[i].Path = p
	}
	return nil
}

// overlaps reports whether a and b are the same folder or one is below the other.
func overlaps(a, b string) bool { return within(a, b) || within(b, a) }

// via names the resolved paths ra and rb when symlinks made them differ
// from a and b as written.
func via(a, b, ra, rb string) string {
	if a == ra && b == rb {
		return ""
	}
	return fmt.Sprintf(" (through symlinks: %s and %s)", ra, rb)
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	if p == dir {
		return true
	}
	return strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}
