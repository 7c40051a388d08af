package daemon

import (
	"context"
	"path/filepath"
	"reflect"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/daemon/cards/cardsvc"
	"github.com/ingestd/ingestd/daemon/config"
)

// provisionCards wires the fixity check (always: `ingestd verify` calls
// POST /v1/verify) and, with a cards: section, the card offload service.
func (a *App) provisionCards() error {
	var vols []cardsvc.Volume
	for _, v := range a.cfg.Volumes {
		p := v.Path
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		vols = append(vols, cardsvc.Volume{Name: v.Name, Path: p})
	}
	fx := cardsvc.NewFixity(a.cfg.Fixity, vols, a.cat, a.log)
	a.AddService(Service{Name: "fixity", Run: fx.Run})
	a.api.Handle("/v1/verify", cardsvc.VerifyHandler(fx))
	clips := cardsvc.ClipsHandler(a.cat)
	// No method in these patterns: the handlers' own GET routes answer
	// another method with 405 and Allow (a method pattern here would leave
	// it to the catch-all 404).
	a.api.Handle("/v1/clips", clips)
	a.api.Handle("/v1/clips/{id}", clips)
	a.api.Handle("/v1/cards", clips)
	a.api.Handle("/v1/clips/{id}/proxy", cardsvc.ClipProxyHandler(a.cfg.StateDir))
	reports := cardsvc.ReportHandler(a.cat, a.cfg.StateDir, a.log)
	a.api.Handle("/v1/cards/{id}/report", reports)
	a.api.Handle("/v1/cards/{id}/report.json", reports)
	if a.cfg.Cards == nil {
		a.AddStatus(func(s *api.Status) { s.Cards = cardsvc.Status{Cards: []cardsvc.CardStatus{}, Fixity: fx.Status()} })
		return nil
	}
	svc, err := cardsvc.New(*a.cfg.Cards, vols, a.cat, fx, a.log)
	if err != nil {
		return err
	}
	a.st.cards = svc
	// Offload reports: files in state_dir/cards/<id>/ (cardsvc/report.go).
	svc.SetReports(a.cfg.StateDir)
	svc.SetGate(a.diskGate()) // state dir and every card destination volume above disk.min_free
	svc.SetClipProxy(a.cfg.StateDir, a.cfg.FFmpeg, a.cfg.FFprobe, a.cfg.Proxy.AudioBitrate, a.cfg.Proxy.SourceAudio == nil || *a.cfg.Proxy.SourceAudio)
	a.AddService(Service{Name: "cards", Run: func(ctx context.Context) error { return svc.Run(ctx) }})
	a.AddStatus(func(s *api.Status) { s.Cards = svc.Status() })
	return nil
}

// cardsRestartKeys names the cards: and fixity: keys a reload cannot apply.
func cardsRestartKeys(old, nu *config.Config) []string {
	var ks []string
	if !reflect.DeepEqual(old.Cards, nu.Cards) {
		ks = append(ks, "cards")
	}
	if !reflect.DeepEqual(old.Fixity, nu.Fixity) {
		ks = append(ks, "fixity")
	}
	return ks
}
