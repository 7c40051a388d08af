package daemon

import (
	"github.com/ingestd/ingestd/analysis"
	"github.com/ingestd/ingestd/daemon/api"
)

// provisionAnalysis registers /v1/assets/{id}/analysis.json, shots.jpg,
// transcript.vtt and enrichment/{name}.json
// and, unless analysis.enabled is false or the transcode stage is not
// running (no proxies to analyse), the analysis stage (package analysis):
// technical QC and shots of each proxy once it is ready, waiting while
// proxy jobs are queued (analysis never delays a proxy). Restart-only.
func (a *App) provisionAnalysis() error {
	cfg := a.cfg
	h := analysis.Handler(cfg.StateDir)
	a.api.Handle("/v1/assets/{id}/analysis.json", h)
	a.api.Handle("/v1/assets/{id}/shots.jpg", h)
	a.api.Handle("/v1/assets/{id}/transcript.vtt", h)
	a.api.Handle("/v1/assets/{id}/enrichment/{name}", h)
	if !cfg.Analysis.On() || a.st.transcode == nil {
		return nil
	}
	svc, err := analysis.New(cfg.Analysis, cfg.FFmpeg, cfg.StateDir, a.cat, a.log)
	if err != nil {
		return err
	}
	ts := a.st.transcode
	svc.SetProxyBusy(func() bool { return ts.Status().Queued > 0 })
	a.AddService(Service{Name: "analysis", Run: svc.Run, Restart: true})
	a.AddStatus(func(st *api.Status) { st.Analysis = svc.Status() })
	return nil
}
