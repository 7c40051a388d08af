package daemon

// The frame-sequence stage (daemon/sequences): numbered frames grouped into
// sequences, their proxies and posters, and the /v1/sequences routes.

import (
	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/daemon/sequences"
)

func init() {
	registerStage(Stage{Name: "sequences", Order: orderSequences, Provision: provisionSequences})
}

// provisionSequences registers the /v1/sequences routes and, unless
// sequences.enabled is false, the stage. With sequences.frame_proxies
// false, transcode asks it whether a still is a sequence frame before
// queuing its image proxy. Restart-only.
func provisionSequences(a *App) (*Parts, error) {
	cfg := a.cfg
	// No method in these patterns: the handler's own GET routes answer
	// another method with 405 and Allow.
	h := sequences.Handler(a.cat, cfg.StateDir)
	p := &Parts{
		Routes: []Route{{"/v1/sequences", h}, {"/v1/sequences/{id}", h}, {"/v1/sequences/{id}/proxy", h}, {"/v1/sequences/{id}/poster", h}},
		Reload: restartOnly("sequences", func(c *config.Config) *sequences.Config { return &c.Sequences }),
	}
	if !cfg.Sequences.On() {
		return p, nil
	}
	var vols []sequences.Volume
	for _, v := range cfg.Volumes {
		vols = append(vols, sequences.Volume{Name: v.Name, Path: v.Path}) // absolute: config.Validate
	}
	svc, err := sequences.New(cfg.Sequences, cfg.Proxy, cfg.FFmpeg, cfg.FFprobe, cfg.StateDir, vols, a.cat, a.log)
	if err != nil {
		return nil, err
	}
	if !*cfg.Sequences.FrameProxies && a.st.transcode != nil {
		a.st.transcode.SetSkipImageProxy(svc.IsFrame)
	}
	p.Services = []Service{{Name: "sequences", Run: svc.Run, Restart: true}}
	return p, nil
}
