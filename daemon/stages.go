package daemon

// Wiring of the later stages into the App: the transcode stage (probe,
// proxies, media routes) and hub sync (S3 pusher, webhook notifier). Each is
// a supervised Run(ctx) service; each adds a section to /v1/status.

import (
	"fmt"
	"path/filepath"
	"reflect"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/daemon/cards/cardsvc"
	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/daemon/diskguard"
	"github.com/ingestd/ingestd/sync/s3push"
	"github.com/ingestd/ingestd/sync/webhook"
	"github.com/ingestd/ingestd/transcode"
)

// CatalogDir is where the Badger catalog lives: its own directory under
// state_dir (transcode writes state_dir/media beside it).
func CatalogDir(stateDir string) string { return filepath.Join(stateDir, "catalog") }

// ProxyStatus is the `proxy` section of /v1/status: the transcode stage's
// own status, plus Error when the stage could not be started.
type ProxyStatus struct {
	transcode.Status
	Error string `json:"error,omitempty"`
}

// SyncStatus is the `sync` section of /v1/status; a target that is not
// configured is omitted.
type SyncStatus struct {
	S3      *s3push.Status  `json:"s3,omitempty"`
	Webhook *webhook.Status `json:"webhook,omitempty"`
}

// stages holds the stage services built in Provision.
type stages struct {
	transcode *transcode.Service
	proxyErr  string
	pusher    *s3push.Pusher
	notifier  *webhook.Notifier
	disk      *diskguard.Guard // free-space floor (stages_disk.go)
	diskCards bool             // cards: configured at start (restart-only); read without a.cfg, which a reload swaps
	cards     *cardsvc.Service // card offload (cardsvc.go); nil without cards:
}

// provisionStages builds the transcode stage and the configured hub
// targets, and registers their services, routes and status sections. A
// transcode stage that cannot find its tools is reported (log, status) and
// left out: ingest and cataloging go on without it. A bad hub section is an
// error (config Validate already checked it).
func (a *App) provisionStages() error {
	log := a.log.With("component", "daemon")
	cfg := a.cfg
	tools := transcode.Tools{FFmpeg: cfg.FFmpeg, FFprobe: cfg.FFprobe, Volumes: map[string]string{}}
	for _, v := range cfg.Volumes {
		p := v.Path
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		tools.Volumes[v.Name] = p
	}
	svc, err := transcode.New(cfg.Proxy, tools, cfg.StateDir, a.cat, a.log)
	if err != nil {
		a.st.proxyErr = err.Error()
		log.Error("transcode stage not started: assets are cataloged without media or proxies", "err", err)
	} else {
		a.st.transcode = svc
		a.AddService(Service{Name: "transcode", Run: svc.Run})
		a.api.Handle("/v1/assets/{id}/{output}", svc.Handler())
	}
	if err := a.provisionSequences(); err != nil {
		return err
	}
	if err := a.provisionAnalysis(); err != nil {
		return err
	}
	var sync SyncStatus
	if c := cfg.Hub.S3; c != nil {
		p, err := s3push.New(*c, a.applianceID, cfg.StateDir, a.cat, a.log)
		if err != nil {
			return fmt.Errorf("hub.s3: %w", err)
		}
		a.st.pusher = p
		a.AddService(Service{Name: "s3push", Run: p.Run, Restart: true})
		sync.S3 = &s3push.Status{}
	}
	if c := cfg.Hub.Webhook; c != nil && c.Enabled() {
		n, err := webhook.New(*c, a.applianceID, a.cat, a.log)
		if err != nil {
			return fmt.Errorf("hub.webhook: %w", err)
		}
		a.st.notifier = n
		a.AddService(Service{Name: "webhook", Run: n.Run, Restart: true})
		sync.Webhook = &webhook.Status{}
	}
	if err := a.provisionDisk(); err != nil {
		return err
	}
	a.AddStatus(a.stageStatus)
	return nil
}

// stageStatus fills the proxy and sync sections of /v1/status.
func (a *App) stageStatus(doc *api.Status) {
	ps := ProxyStatus{Error: a.st.proxyErr}
	if a.st.transcode != nil {
		ps.Status = a.st.transcode.Status()
	} else {
		ps.Status = transcode.Status{Lanes: []transcode.LaneStatus{}, Running: []transcode.JobStatus{}, Done: map[string]int{}}
	}
	doc.Proxy = ps
	var ss SyncStatus
	if a.st.pusher != nil {
		s := a.st.pusher.Status()
		ss.S3 = &s
	}
	if a.st.notifier != nil {
		s := a.st.notifier.Status()
		ss.Webhook = &s
	}
	if ss.S3 != nil || ss.Webhook != nil {
		doc.Sync = ss
	}
}

// reloadStages handles the stage sections on SIGHUP. Live: the transcode
// stage's lane sizes, nvenc_sessions, stall_timeout and output settings
// (for jobs started after the reload), and hub.s3 bandwidth and
// concurrency (uploads in flight included). Restart-only, logged and kept
// at their running values in cfg: proxy.gpu, proxy.enabled, the other
// hub.s3 keys, adding or removing hub.s3, hub.webhook and ffmpeg/ffprobe.
// The webhook token file is re-read for every batch anyway, and a parked
// webhook batch is un-parked (sent again) by a reload.
func (a *App) reloadStages(cfg *config.Config) {
	log := a.log.With("component", "daemon")
	restart := func(k string) { log.Warn("config key changed; takes effect after a restart", "key", k) }
	if !reflect.DeepEqual(a.cfg.Proxy, cfg.Proxy) {
		if a.st.transcode == nil {
			restart("proxy") // the stage is not running: nothing to reload
			cfg.Proxy = a.cfg.Proxy
		} else {
			for _, k := range transcode.RestartKeys(a.cfg.Proxy, cfg.Proxy) {
				restart(k)
			}
			cfg.Proxy.GPU, cfg.Proxy.Enabled = a.cfg.Proxy.GPU, a.cfg.Proxy.Enabled
			if err := a.st.transcode.Reload(cfg.Proxy); err != nil {
				log.Error("proxy settings not reloaded, keeping the running ones", "err", err)
				cfg.Proxy = a.cfg.Proxy
			}
		}
	}
	old, nu := a.cfg.Hub.S3, cfg.Hub.S3
	switch {
	case old == nil && nu == nil:
	case old == nil || nu == nil || a.st.pusher == nil:
		if !reflect.DeepEqual(old, nu) {
			restart("hub.s3")
		}
		cfg.Hub.S3 = old
	case !reflect.DeepEqual(*old, *nu):
		for _, k := range s3push.RestartKeys(*old, *nu) {
			restart(k)
		}
		m := *old
		m.Concurrency, m.Bandwidth = nu.Concurrency, nu.Bandwidth
		if err := a.st.pusher.Reload(m); err != nil {
			log.Error("hub.s3 limits not reloaded, keeping the running ones", "err", err)
			m = *old
		}
		cfg.Hub.S3 = &m
	}
	if !reflect.DeepEqual(a.cfg.Sequences, cfg.Sequences) {
		restart("sequences")
		cfg.Sequences = a.cfg.Sequences
	}
	if !reflect.DeepEqual(a.cfg.Analysis, cfg.Analysis) {
		restart("analysis")
		cfg.Analysis = a.cfg.Analysis
	}
	if !reflect.DeepEqual(a.cfg.Hub.Webhook, cfg.Hub.Webhook) {
		restart("hub.webhook")
		cfg.Hub.Webhook = a.cfg.Hub.Webhook
	}
	if a.cfg.FFmpeg != cfg.FFmpeg || a.cfg.FFprobe != cfg.FFprobe {
		restart("ffmpeg/ffprobe")
	}
	cfg.FFmpeg, cfg.FFprobe = a.cfg.FFmpeg, a.cfg.FFprobe
	if a.st.notifier != nil {
		a.st.notifier.Unpark()
	}
	a.reloadDisk(cfg.Disk)
}
