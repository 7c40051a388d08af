// Package daemon is ingestd's App: it provisions the catalog, the ingest
// pipeline and the HTTP API from a validated config, runs them as services
// under one supervisor, talks to systemd (READY, STATUS, WATCHDOG,
// STOPPING, RELOADING) and reloads on SIGHUP; Run runs it as a process
// (run.go). The command line is cmd/ingestd, a client of daemon/api.
//
// It owns wiring and lifecycle only. It must not hash files, touch Badger
// directly, or parse HTTP requests: those belong to daemon/ingest,
// storage/catalog and daemon/api. Each pipeline stage (ingest, transcode,
// sequences, analysis, disk guard, cards, hub S3 and webhook) is one
// registration in its own file, stage_<name>.go (stage.go): its services,
// routes, status section, metrics, doctor check and reload. Provision,
// /v1/status, /metrics, doctor and the SIGHUP reload loop over them;
// docs/architecture.md shows how to add one.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/daemon/diskguard"
	"github.com/ingestd/ingestd/daemon/ingest"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
)

// Version is set at build time (-ldflags "-X .../daemon.Version=...").
var Version = "dev"

// App is one running daemon. Create with New, then Provision, then Run.
// The stages come from the registry (registerStage in stage_<name>.go).
type App struct {
	cfg     *config.Config
	log     *slog.Logger
	started time.Time

	cat         *catalog.Catalog
	pipe        *ingest.Pipeline
	api         *api.Server
	ln          net.Listener
	applianceID string

	services []Service
	stages   []provisioned // the registered stages, provisioned (stage.go)
	st       shared        // stages that other stages use (stage.go)
	mu       sync.Mutex    // serialises Reload
	ready    atomic.Bool
	apiBeats atomic.Uint64
}

// CatalogDir is where the Badger catalog lives: its own directory under
// state_dir (transcode writes state_dir/media beside it).
func CatalogDir(stateDir string) string { return filepath.Join(stateDir, "catalog") }

// New returns an App for a validated config. Nothing is opened yet.
func New(cfg *config.Config, log *slog.Logger) *App {
	return &App{cfg: cfg, log: log, started: time.Now()}
}

// Provision opens the catalog, settles the appliance id, binds the API
// listener and builds the services. On error everything already opened is
// closed again.
func (a *App) Provision() (err error) {
	log := a.log.With("component", "daemon")
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if err := os.MkdirAll(a.cfg.StateDir, 0o750); err != nil {
		return fmt.Errorf("create state dir %s: %w", a.cfg.StateDir, err)
	}
	catDir := CatalogDir(a.cfg.StateDir)
	for _, w := range a.cfg.VolumeWarnings() {
		log.Warn("volume not checked", "key", w.Key, "warning", w.Msg)
	}
	for _, w := range a.cfg.PermissionWarnings() {
		log.Warn("config file permissions", "key", w.Key, "warning", w.Msg)
	}
	// A full state_dir: a clear error instead of Badger's SIGBUS on its
	// memory-mapped files (diskguard.CheckOpen).
	if err := diskguard.CheckOpen(a.cfg.StateDir, a.cfg.Disk); err != nil {
		return err
	}
	// The identity file outside Badger makes Open refuse a catalog that is
	// not the one this state dir had (catalog.ErrIdentityMismatch, exit 65).
	a.cat, err = catalog.Open(catDir, catalog.Options{Logger: a.log, IdentityFile: IdentityFile(a.cfg.StateDir)})
	if err != nil {
		return fmt.Errorf("open catalog in %s: %w", catDir, err)
	}
	a.applianceID, err = a.cat.ApplianceID(a.cfg.ApplianceID)
	if err != nil {
		return fmt.Errorf("appliance id: %w", err)
	}
	token, err := readToken(a.cfg.API.TokenFile)
	if err != nil {
		return err
	}
	a.pipe, err = ingest.New(ingestConfig(a.cfg), a.cat, a.log)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	a.api = api.New(api.Options{Store: a.cat, Token: token, Listen: a.cfg.API.Listen, Status: a.statusDoc, Log: a.log})
	a.ln, err = net.Listen("tcp", a.cfg.API.Listen)
	if err != nil {
		return fmt.Errorf("api listen %s: %w", a.cfg.API.Listen, err)
	}
	if _, err := a.cat.AppendEvent(storage.Event{Type: storage.EvApplianceStarted, Detail: "ingestd " + Version + " on " + a.applianceID}); err != nil {
		return fmt.Errorf("record start: %w", err)
	}
	wd, _ := sd.SdWatchdogEnabled(false)
	a.services = []Service{
		{Name: "api", Run: func(ctx context.Context) error { return a.api.Serve(ctx, a.ln) }},
		{Name: "catalog-gc", Run: a.cat.RunGC, Restart: true},
		{Name: "catalog-health", Run: a.cat.Health},
		{Name: "catalog-identity", Run: func(ctx context.Context) error {
			return a.cat.RunIdentity(ctx, catalog.DefaultIdentityInterval)
		}},
		{Name: "systemd", Run: (&Watchdog{
			Log:      a.log.With("component", "watchdog"),
			Interval: wd,
			Probes: []Probe{
				{Name: "ingest", Count: a.pipe.Progress},
				{Name: "api", Count: a.probeAPI},
			},
			Status: a.statusLine,
			Ready:  a.ready.Load, // EXTEND_TIMEOUT_USEC until READY=1
		}).Run},
		{Name: "ready", Run: a.waitReady},
	}
	if err := a.provisionStages(); err != nil { // stage.go: every registered stage
		return err
	}
	a.mountOps() // /metrics, /v1/admin/backup (ops.go)
	log.Info("provisioned", "version", Version, "appliance_id", a.applianceID, "catalog_id", a.cat.CatalogID(), "state_dir", a.cfg.StateDir,
		"api", a.ln.Addr().String(), "volumes", len(a.cfg.Volumes), "auth", token != "", "watchdog", wd)
	return nil
}

// readToken reads the API token file (trimmed); empty path: no auth. Who
// may read it is checked by config.PermissionWarnings (logged above).
func readToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := config.ReadFile(path) // regular file, capped: as validate checks it
	if err != nil {
		return "", fmt.Errorf("api token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("api token file %s is empty", path)
	}
	return tok, nil
}

// AddService adds a service to run under the supervisor (a stage's are
// added by its registration). Call between Provision and Run.
func (a *App) AddService(s Service) { a.services = append(a.services, s) }

// API returns the HTTP API, to add handlers before Run.
func (a *App) API() *api.Server { return a.api }

// Config is the running config (stages read their sections from it).
func (a *App) Config() *config.Config { return a.cfg }

// Addr is the API's bound address (after Provision).
func (a *App) Addr() net.Addr { return a.ln.Addr() }

// Run supervises the services until ctx is cancelled (graceful stop, nil)
// or one fails (its error). The catalog is closed before Run returns.
func (a *App) Run(ctx context.Context) error {
	log := a.log.With("component", "daemon")
	sup := &Supervisor{Log: log}
	err := sup.Run(ctx, a.services)
	if cerr := a.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		log.Error("stopped with error", "err", err)
	} else {
		log.Info("stopped")
	}
	return err
}

// Close closes what Provision opened. Safe to call twice.
func (a *App) Close() error {
	var errs []error
	if a.ln != nil {
		a.ln.Close() // already closed by Serve on a normal stop
	}
	if a.cat != nil {
		if err := a.cat.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close catalog: %w", err))
		}
		a.cat = nil
	}
	return errors.Join(errs...)
}

// waitReady sends READY=1 once the catalog is open (it is, after
// Provision), the API listens (bound in Provision, served by now) and the
// pipeline watches every volume.
func (a *App) waitReady(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-a.pipe.Ready():
	}
	a.ready.Store(true)
	notify(a.log, "READY=1", "STATUS="+a.statusLine())
	a.log.Info("ready", "component", "daemon", "status", a.statusLine())
	return nil
}

// Reload applies a new config (SIGHUP). The caller validated it. Keys that
// need a restart are reported and keep their old values (ReloadConfig).
func (a *App) Reload(cfg *config.Config) error {
	_, err := a.ReloadConfig(cfg)
	return err
}

// ReloadConfig applies a new, validated config and reports per key what
// was applied live and what needs a restart (kept at its running value).
// The daemon's own keys (state_dir, api, appliance_id) need a restart;
// every registered stage commits its part (Parts.Reload), in order. An
// error from a stage aborts: the running config stays.
func (a *App) ReloadConfig(cfg *config.Config) (ReloadReport, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	log := a.log.With("component", "daemon")
	notify(a.log, "RELOADING=1", "MONOTONIC_USEC="+sd.SdNotifyMonotonicUsec())
	defer notify(a.log, "READY=1")
	var r ReloadReport
	old, nc := a.cfg, *cfg
	for _, k := range []struct {
		key     string
		changed bool
	}{{"state_dir", old.StateDir != nc.StateDir}, {"api", old.API != nc.API}, {"appliance_id", old.ApplianceID != nc.ApplianceID}} {
		if k.changed {
			r.NeedRestart(k.key)
		}
	}
	nc.StateDir, nc.API, nc.ApplianceID = old.StateDir, old.API, old.ApplianceID
	var err error
	for _, s := range a.stages {
		if s.Reload == nil {
			continue
		}
		if err = s.Reload(old, &nc, &r); err != nil {
			err = fmt.Errorf("reload %s: %w", s.name, err)
			break
		}
	}
	for _, k := range r.Restart {
		log.Warn("config key changed; takes effect after a restart", "key", k)
	}
	if err != nil {
		return r, err
	}
	a.rotateToken(&r)
	a.cfg = &nc
	log.Info("config reloaded", "applied", r.Applied, "restart", r.Restart)
	return r, nil
}

// rotateToken re-reads api.token_file on reload: a rewritten token (the
// old one leaked, or is rotated on schedule) replaces the running one at
// once and ends every console session. A file that cannot be read keeps
// the running token (logged).
func (a *App) rotateToken(r *ReloadReport) {
	if a.cfg.API.TokenFile == "" || a.api == nil {
		return
	}
	log := a.log.With("component", "daemon")
	tok, err := readToken(a.cfg.API.TokenFile)
	if err != nil {
		log.Warn("api token not re-read; the running token stays", "err", err)
		return
	}
	changed, err := a.api.SetToken(tok)
	if err != nil {
		log.Warn("api token not replaced", "err", err)
		return
	}
	if changed {
		r.Apply("api.token_file")
		log.Warn("api token replaced from api.token_file: the old token is refused and every console session ended", "path", a.cfg.API.TokenFile)
	}
}

// probeAPI asks the API for /healthz; the counter advances on success, so
// a wedged server stops the watchdog pings.
func (a *App) probeAPI() uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+dialAddr(a.ln.Addr().String())+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return a.apiBeats.Add(1)
		}
	}
	return a.apiBeats.Load()
}

// dialAddr turns a listen address into one a local client can dial.
func dialAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// statusDoc builds GET /v1/status.
func (a *App) statusDoc(ctx context.Context) any {
	doc := wire.Status{
		Version:     Version,
		ApplianceID: a.applianceID,
		Started:     a.started.UTC(),
		Ready:       a.ready.Load(),
		Volumes:     []wire.VolumeStatus{},
	}
	if cat := a.cat; cat != nil {
		doc.CatalogID = cat.CatalogID()
		doc.Catalog.LastSeq = cat.LastSeq()
		doc.Catalog.LSMBytes, doc.Catalog.VlogBytes = cat.Size()
	}
	a.stageStatus(&doc) // volumes, queues, ingest and every stage's section
	return doc
}

// statusLine is the STATUS= text, e.g.
// "watching 2 volumes (1 offline), 1234 files, 0 queued".
func (a *App) statusLine() string {
	st := a.pipe.Status()
	var files int64
	offline := 0
	for _, v := range st.Volumes {
		files += v.Files
		if !v.Online {
			offline++
		}
	}
	s := fmt.Sprintf("watching %d volumes", len(st.Volumes))
	if offline > 0 {
		s += fmt.Sprintf(" (%d offline)", offline)
	}
	return s + fmt.Sprintf(", %d files, %d queued", files, st.Queues.Settling+st.Queues.Hashing)
}
