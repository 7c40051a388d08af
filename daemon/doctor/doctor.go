// Package doctor is `ingestd doctor`: it checks, from the config alone, what
// the daemon needs from the machine (FFmpeg and the encoders and hardware
// lanes that really work, inotify limits, the state dir, each volume and its
// filesystem, the hub bucket and webhook) and says, for each finding, how to
// fix it.
//
// Run does the machine's checks itself; a pipeline stage's own checks (the
// hub's S3 and webhook probes: S3, Webhook) come in Options.Checks, from the
// stage's registration in package daemon (daemon.Doctor fills them).
//
// It must not open the catalog (a running daemon holds Badger's lock), write
// anything on the volumes, or send events to the hub: the S3 check writes,
// reads and deletes one probe object of its own, and the webhook check is a
// HEAD request.
package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ingestd/ingestd/daemon/config"
)

// Level is a finding's severity.
type Level string

const (
	OK   Level = "OK"
	Warn Level = "WARN"
	Fail Level = "FAIL"
)

// Finding is one check's result. Fix says what to do when Level is not OK.
type Finding struct {
	Check   string `json:"check"`
	Level   Level  `json:"level"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// Report is every finding, in the order the checks ran.
type Report struct {
	Findings []Finding `json:"findings"`
	OK       bool      `json:"ok"` // no FAIL
	Warnings int       `json:"warnings"`
	Failures int       `json:"failures"`
}

// Options tune a run.
type Options struct {
	// ConfigErr is the config's Validate error, reported as a finding
	// (the other checks still run on the parsed, defaulted config).
	ConfigErr error
	// ConfigPath names the file in the config finding.
	ConfigPath string
	// Timeout bounds each network check (default 15s).
	Timeout time.Duration
	// CatalogDir is where the daemon keeps Badger (daemon.CatalogDir);
	// empty skips the catalog finding. It is never opened.
	CatalogDir string
	// IdentityFile is the catalog identity file (daemon.IdentityFile);
	// with CatalogDir, the catalog identity finding. Nothing is opened.
	IdentityFile string
	// MinFreeBytes below which the state dir FAILs (default 512 MiB); below
	// 8x it, or 5% of the filesystem, it WARNs.
	MinFreeBytes uint64
	// Checks are the registered stages' checks (daemon.Doctor passes
	// them), run after the machine's, in order.
	Checks []Check
}

// A Check is one stage's part of the report: it looks at its own config
// section (and returns nothing when the stage is not configured), may
// reach the network within opts.Timeout, and must keep to the package's
// rules (no catalog, no writes on volumes, no events to the hub).
type Check func(ctx context.Context, cfg *config.Config, opts Options) []Finding

// S3 is the hub.s3 stage's check (checkS3); nothing without hub.s3.
func S3(ctx context.Context, cfg *config.Config, opts Options) []Finding {
	if cfg.Hub.S3 == nil {
		return nil
	}
	return checkS3(ctx, cfg, opts.Timeout)
}

// Webhook is the hub.webhook stage's check (checkWebhook); nothing
// without an enabled hub.webhook.
func Webhook(ctx context.Context, cfg *config.Config, opts Options) []Finding {
	if w := cfg.Hub.Webhook; w == nil || !w.Enabled() {
		return nil
	}
	return checkWebhook(ctx, cfg, opts.Timeout)
}

// Run performs every check for cfg (parsed and defaulted).
func Run(ctx context.Context, cfg *config.Config, opts Options) Report {
	if opts.Timeout <= 0 {
		opts.Timeout = 15 * time.Second
	}
	if opts.MinFreeBytes == 0 {
		opts.MinFreeBytes = 512 << 20
	}
	var r Report
	add := func(fs ...Finding) { r.Findings = append(r.Findings, fs...) }

	name := opts.ConfigPath
	if name == "" {
		name = "embedded defaults"
	}
	if opts.ConfigErr != nil {
		add(Finding{Check: "config", Level: Fail, Message: name + ": " + opts.ConfigErr.Error(),
			Fix: "correct the key named above; check again with `ingestd validate -config " + opts.ConfigPath + "`"})
	} else {
		add(Finding{Check: "config", Level: OK, Message: name + " is valid"})
	}
	for _, w := range cfg.VolumeWarnings() {
		add(Finding{Check: "volumes", Level: Warn, Message: w.String(),
			Fix: "check the mount (a hung NFS/SMB share: the server, the network, `umount -f`); the daemon runs with the volume offline meanwhile"})
	}
	for _, w := range cfg.PermissionWarnings() {
		add(Finding{Check: "permissions", Level: Warn, Message: w.String(),
			Fix: "secrets 0640 owned by root, group of the daemon (ingestd); state_dir 0750"})
	}
	add(checkTools(ctx, cfg)...)
	add(checkInotify(cfg)...)
	add(checkStateDir(cfg, opts.MinFreeBytes)...)
	add(checkDiskFloor(cfg)...)
	if opts.CatalogDir != "" {
		add(checkCatalog(opts.CatalogDir))
		if opts.IdentityFile != "" {
			add(checkIdentity(opts.CatalogDir, opts.IdentityFile))
		}
	}
	add(checkVolumes(cfg)...)
	add(checkUnit(cfg)...) // the installed service's sandbox and user (unit.go)
	for _, c := range opts.Checks {
		add(c(ctx, cfg, opts)...)
	}
	r.OK = true
	for _, f := range r.Findings {
		switch f.Level {
		case Fail:
			r.Failures++
			r.OK = false
		case Warn:
			r.Warnings++
		}
	}
	return r
}

// WriteText prints the report for people: one line per finding, the fix
// indented under it, and a summary.
func (r Report) WriteText(w io.Writer) {
	for _, f := range r.Findings {
		fmt.Fprintf(w, "%-4s  %-14s %s\n", f.Level, f.Check, oneLine(f.Message))
		if f.Fix != "" && f.Level != OK {
			fmt.Fprintf(w, "      %-14s fix: %s\n", "", oneLine(f.Fix))
		}
	}
	switch {
	case r.Failures > 0:
		fmt.Fprintf(w, "\n%d failed, %d warnings: ingestd will not work as configured\n", r.Failures, r.Warnings)
	case r.Warnings > 0:
		fmt.Fprintf(w, "\nno failures, %d warnings\n", r.Warnings)
	default:
		fmt.Fprintln(w, "\nall checks passed")
	}
}

// WriteJSON prints the report as JSON for scripts.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
