package daemon

// Running the daemon as a process: the config file, the logger, signals
// (SIGTERM/SIGINT stop with a drain, a second one exits at once, SIGHUP
// reloads) and systemd's STOPPING notification. The command line that
// calls Run lives in cmd/ingestd.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/internal/redact"
	"github.com/ingestd/ingestd/storage/catalog"
)

// Run runs the daemon until ctx ends or SIGTERM/SIGINT: configPath is the
// config file ("" for the embedded defaults: ./watch, ./state,
// 127.0.0.1:8470), re-read on SIGHUP; the log goes to logTo. The error is
// what the process exit status reports: a *config.Error for a bad config,
// catalog.ErrIdentityMismatch for a catalog that is not the recorded one.
func Run(ctx context.Context, configPath string, logTo io.Writer) error {
	cfg, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	log := NewLogger(cfg.Log, logTo)
	app := New(cfg, log)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := app.Provision(); err != nil {
		return err
	}
	// Reloads run beside the signal loop, one at a time, a SIGHUP during
	// one coalesced into one more: config.Validate stats every volume, and
	// a stat on a hung NFS or FUSE mount blocks; SIGTERM must still stop
	// the daemon (before, it waited behind the reload until systemd's
	// SIGKILL).
	reloads := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-reloads:
				reload(ctx, app, configPath, log)
			}
		}
	}()
	go func() {
		for s := range sigs {
			switch {
			case s == syscall.SIGHUP:
				select {
				case reloads <- struct{}{}:
				default: // one is already pending: it reads the file after this signal
				}
			case ctx.Err() != nil:
				// A second SIGINT/SIGTERM: the operator does not want to wait
				// for the drain. The catalog recovers like after a crash.
				log.Warn("second signal; exiting without draining", "component", "daemon", "signal", s.String())
				os.Exit(1)
			default:
				log.Info("stopping", "component", "daemon", "signal", s.String())
				notify(log, "STOPPING=1", "STATUS=stopping")
				cancel()
			}
		}
	}()
	return app.Run(ctx)
}

// loadConfig loads FILE, or the embedded defaults when path is empty
// (creating ./watch, which they name).
func loadConfig(path string) (*config.Config, error) {
	if path != "" {
		return config.Load(path)
	}
	c, err := config.Parse(config.DefaultYAML())
	if err != nil {
		return nil, err
	}
	for _, v := range c.Volumes {
		if err := os.MkdirAll(v.Path, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", v.Path, err)
		}
	}
	c.SetDefaults()
	return c, c.Validate()
}

// reload re-reads the config on SIGHUP; an invalid one is rejected and
// the running config kept.
func reload(ctx context.Context, app *App, path string, log *slog.Logger) {
	log = log.With("component", "daemon")
	cfg, err := loadConfig(path)
	if err != nil {
		log.Error("reload rejected; keeping the running config", "err", err)
		return
	}
	if ctx.Err() != nil {
		log.Info("stopping; the reload read meanwhile is not applied")
		return
	}
	if err := app.Reload(cfg); err != nil {
		log.Error("reload failed", "err", err)
	}
}

// NewLogger builds the slog logger for a config's log section.
func NewLogger(c config.Log, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	// redact.Handler: no URL secret (userinfo, query) reaches the log.
	if c.Format == "json" {
		return slog.New(redact.Handler(slog.NewJSONHandler(w, opts)))
	}
	return slog.New(redact.Handler(slog.NewTextHandler(w, opts)))
}

// IdentityFile is the catalog identity file in a state dir (see
// storage/catalog identity.go): the appliance id, catalog id and last seq,
// kept outside Badger so a catalog that lost its MANIFEST or its directory
// is refused instead of silently starting empty.
func IdentityFile(stateDir string) string {
	return filepath.Join(stateDir, catalog.IdentityFileName)
}

// DialAddr turns a listen address (api.listen) into one a local client
// can dial: an unspecified host (":8470", "0.0.0.0:8470") becomes
// 127.0.0.1.
func DialAddr(listen string) string { return dialAddr(listen) }
