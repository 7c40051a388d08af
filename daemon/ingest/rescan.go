package ingest

import (
	"errors"
	"fmt"
)

// ErrNoVolume is returned by Rescan for a volume name not configured.
var ErrNoVolume = errors.New("no such volume")

// ErrVolumeStarting is returned by Rescan for a configured volume whose
// watcher has not started yet (the pipeline is starting up or applying a
// reload): the request can be repeated in a moment.
var ErrVolumeStarting = errors.New("volume not started yet")

// Rescan asks a volume for an identity check and a reconcile walk now
// (the console's "rescan" action, POST /v1/volumes/{name}/rescan). An
// offline volume is checked again at once and walked when it is back.
// A request while one is pending is merged with it.
func (p *Pipeline) Rescan(name string) error {
	p.mu.Lock()
	v := p.vols[name]
	configured := false
	for _, vc := range p.cfg.Volumes {
		configured = configured || vc.Name == name
	}
	p.mu.Unlock()
	if v == nil && configured {
		return fmt.Errorf("rescan %q: %w", name, ErrVolumeStarting)
	}
	if v == nil {
		return fmt.Errorf("rescan %q: %w", name, ErrNoVolume)
	}
	signal(v.checkReq)
	v.requestRescan()
	return nil
}
