package daemon

// The analysis stage (package analysis): technical QC and shots of each
// proxy once it is ready, enrichers after it, and the analysis routes.

import (
	"github.com/ingestd/ingestd/analysis"
	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/daemon/config"
)

func init() {
	registerStage(Stage{Name: "analysis", Order: orderAnalysis, Provision: provisionAnalysis})
}

// provisionAnalysis registers /v1/assets/{id}/analysis.json, shots.jpg,
// transcript.vtt and enrichment/{name}.json and, unless analysis.enabled is false or the transcode stage is not
// running (no proxies to analyse), the stage, waiting while proxy jobs are
// queued (analysis never delays a proxy). Restart-only.
func provisionAnalysis(a *App) (*Parts, error) {
	cfg := a.cfg
	h := analysis.Handler(cfg.StateDir)
	p := &Parts{
		Routes: []Route{{"/v1/assets/{id}/analysis.json", h}, {"/v1/assets/{id}/shots.jpg", h}, {"/v1/assets/{id}/shots/{name}", h},
			{"/v1/assets/{id}/transcript.vtt", h}, {"/v1/assets/{id}/enrichment/{name}", h}},
		Reload: restartOnly("analysis", func(c *config.Config) *analysis.Config { return &c.Analysis }),
	}
	ts := a.st.transcode
	if !cfg.Analysis.On() || ts == nil {
		return p, nil
	}
	svc, err := analysis.New(cfg.Analysis, cfg.FFmpeg, cfg.StateDir, a.cat, a.log)
	if err != nil {
		return nil, err
	}
	svc.SetProxyBusy(func() bool { return ts.Status().Queued > 0 })
	svc.SetMaster(ts.MasterPath)       // loudness, true peak, clipping, silence of the master itself
	ts.SetOnReady(analysis.MarkQueued) // queued with proxy.ready: one asset change
	p.Services = []Service{{Name: "analysis", Run: svc.Run, Restart: true}}
	p.Status = func(doc *wire.Status) { doc.Analysis = analysisSection(svc.Status()) }
	return p, nil
}
