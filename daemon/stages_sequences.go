package daemon

import (
	"path/filepath"

	"github.com/ingestd/ingestd/daemon/sequences"
)

// provisionSequences registers the /v1/sequences routes and, unless
// sequences.enabled is false, the frame-sequence stage (daemon/sequences).
// With sequences.frame_proxies false, transcode asks it whether a still is
// a sequence frame before queuing its image proxy. Restart-only.
func (a *App) provisionSequences() error {
	cfg := a.cfg
	// No method in these patterns: the handler's own GET routes answer
	// another method with 405 and Allow.
	h := sequences.Handler(a.cat, cfg.StateDir)
	a.api.Handle("/v1/sequences", h)
	a.api.Handle("/v1/sequences/{id}", h)
	a.api.Handle("/v1/sequences/{id}/proxy", h)
	a.api.Handle("/v1/sequences/{id}/poster", h)
	if !cfg.Sequences.On() {
		return nil
	}
	var vols []sequences.Volume
	for _, v := range cfg.Volumes {
		p := v.Path
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		vols = append(vols, sequences.Volume{Name: v.Name, Path: p})
	}
	svc, err := sequences.New(cfg.Sequences, cfg.Proxy, cfg.FFmpeg, cfg.FFprobe, cfg.StateDir, vols, a.cat, a.log)
	if err != nil {
		return err
	}
	if !*cfg.Sequences.FrameProxies && a.st.transcode != nil {
		a.st.transcode.SetSkipImageProxy(svc.IsFrame)
	}
	a.AddService(Service{Name: "sequences", Run: svc.Run, Restart: true})
	return nil
}
