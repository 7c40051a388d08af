package daemon

// The transcode stage (package transcode): probe, proxies, posters,
// filmstrips and the media routes. A stage that cannot find its tools is
// reported (log, the proxy section of /v1/status) and left out: ingest and
// cataloging go on without it.

import (
	"errors"
	"net/http"
	"slices"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/daemon/metrics"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/transcode"
)

func init() {
	registerStage(Stage{Name: "transcode", Order: orderTranscode, Provision: provisionTranscode})
}

func provisionTranscode(a *App) (*Parts, error) {
	cfg := a.cfg
	tools := transcode.Tools{FFmpeg: cfg.FFmpeg, FFprobe: cfg.FFprobe, Volumes: map[string]string{}}
	for _, v := range cfg.Volumes {
		tools.Volumes[v.Name] = v.Path // absolute: config.Validate
	}
	p := &Parts{
		Routes: []Route{{"/v1/assets/{id}/retry", postOnly(a.retryHandler)}},
		Reload: a.reloadTranscode,
	}
	svc, err := transcode.New(cfg.Proxy, tools, cfg.StateDir, a.cat, a.log)
	if err != nil {
		a.st.proxyErr = err.Error()
		a.log.Error("transcode stage not started: assets are cataloged without media or proxies", "component", "daemon", "err", err)
		p.Status = func(doc *wire.Status) { doc.Proxy = proxySection(nil, a.st.proxyErr) }
		return p, nil
	}
	a.st.transcode = svc
	p.Services = []Service{{Name: "transcode", Run: svc.Run}}
	p.Routes = append(p.Routes, Route{"/v1/assets/{id}/{output}", svc.Handler()})
	p.Status = func(doc *wire.Status) {
		st := svc.Status()
		doc.Proxy = proxySection(&st, "")
	}
	p.Metrics = []metrics.Part{metrics.Proxy(func() (transcode.Status, bool) { return svc.Status(), true })}
	return p, nil
}

// reloadTranscode: live are the lane sizes, nvenc_sessions, stall_timeout
// and the output settings (for jobs started after the reload);
// restart-only are proxy.gpu, proxy.enabled, the whole proxy section when
// the stage is not running, and ffmpeg/ffprobe (also used by sequences,
// analysis and cards).
func (a *App) reloadTranscode(old, nu *config.Config, r *ReloadReport) error {
	if old.FFmpeg != nu.FFmpeg || old.FFprobe != nu.FFprobe {
		r.NeedRestart("ffmpeg/ffprobe")
	}
	nu.FFmpeg, nu.FFprobe = old.FFmpeg, old.FFprobe
	changed := changedKeys("proxy", old.Proxy, nu.Proxy)
	if len(changed) == 0 {
		return nil
	}
	svc := a.st.transcode
	if svc == nil {
		r.NeedRestart("proxy") // the stage is not running: nothing to reload
		nu.Proxy = old.Proxy
		return nil
	}
	restart := transcode.RestartKeys(old.Proxy, nu.Proxy)
	r.NeedRestart(restart...)
	nu.Proxy.GPU, nu.Proxy.Enabled = old.Proxy.GPU, old.Proxy.Enabled
	if err := svc.Reload(nu.Proxy); err != nil {
		a.log.Error("proxy settings not reloaded, keeping the running ones", "component", "daemon", "err", err)
		nu.Proxy = old.Proxy
		return nil
	}
	for _, k := range changed {
		if !slices.Contains(restart, k) {
			r.Apply(k)
		}
	}
	return nil
}

// retryHandler is POST /v1/assets/{id}/retry (console action): queue the
// asset's proxy again.
func (a *App) retryHandler(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !api.ValidID(id) {
		api.WriteError(w, http.StatusBadRequest, "id must be 64 lowercase hex characters", "id")
		return
	}
	svc := a.st.transcode
	if svc == nil {
		api.WriteError(w, http.StatusConflict, "the transcode stage is not running: "+a.st.proxyErr, "")
		return
	}
	if _, err := a.cat.Asset(id); errors.Is(err, storage.ErrNotFound) {
		api.WriteError(w, http.StatusNotFound, "no asset "+id, "id")
		return
	}
	if err := svc.Retry(id); err != nil {
		api.WriteError(w, http.StatusConflict, err.Error(), "")
		return
	}
	a.log.Info("proxy retry requested", "component", "console", "asset_id", id)
	api.WriteJSON(w, http.StatusAccepted, map[string]string{"status": "queued", "asset_id": id})
}
