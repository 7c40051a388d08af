package ingest

import "fmt"

// ErrNoVolume is returned by Rescan for a volume name not configured.
var ErrNoVolume = fmt.Errorf("no such volume")

// Rescan asks a volume for an identity check and a reconcile walk now
// (the console's "rescan" action, POST /v1/volumes/{name}/rescan). An
// offline volume is checked again at once and walked when it is back.
// A request while one is pending is merged with it.
func (p *Pipeline) Rescan(name string) error {
	p.mu.Lock()
	v := p.vols[name]
	p.mu.Unlock()
	if v == nil {
		return fmt.Errorf("rescan %q: %w", name, ErrNoVolume)
	}
	signal(v.checkReq)
	v.requestRescan()
	return nil
}
