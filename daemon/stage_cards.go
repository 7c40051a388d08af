package daemon

// The cards stage (daemon/cards/cardsvc): the fixity check (always:
// `ingestd verify` calls POST /v1/verify), the clip and card routes and,
// with a cards: section, camera-card offload gated by the disk guard.

import (
	"context"

	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/daemon/cards/cardsvc"
	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/daemon/metrics"
)

func init() {
	registerStage(Stage{Name: "cards", Order: orderCards, Provision: provisionCards})
}

func provisionCards(a *App) (*Parts, error) {
	var vols []cardsvc.Volume
	for _, v := range a.cfg.Volumes {
		vols = append(vols, cardsvc.Volume{Name: v.Name, Path: v.Path}) // absolute: config.Validate
	}
	fx := cardsvc.NewFixity(a.cfg.Fixity, vols, a.cat, a.log)
	clips := cardsvc.ClipsHandler(a.cat, vols...)
	reports := cardsvc.ReportHandler(a.cat, a.cfg.StateDir, a.log)
	cardsOnly := restartOnly("cards", func(c *config.Config) **cards.Config { return &c.Cards })
	fixityOnly := restartOnly("fixity", func(c *config.Config) *cards.FixityConfig { return &c.Fixity })
	p := &Parts{
		Services: []Service{{Name: "fixity", Run: fx.Run}},
		// No method in these patterns: the handlers' own GET routes answer
		// another method with 405 and Allow (a method pattern here would
		// leave it to the catch-all 404).
		Routes: []Route{
			{"/v1/verify", cardsvc.VerifyHandler(fx)},
			{"/v1/clips", clips}, {"/v1/clips/{id}", clips}, {"/v1/cards", clips},
			{"/v1/clips/{id}/proxy", cardsvc.ClipProxyHandler(a.cfg.StateDir)},
			{"/v1/cards/{id}/report", reports}, {"/v1/cards/{id}/report.json", reports},
		},
		Status: func(doc *wire.Status) {
			doc.Cards = cardsSection(cardsvc.Status{Cards: []cardsvc.CardStatus{}, Fixity: fx.Status()})
		},
		// cards: and fixity: need a restart.
		Reload: func(old, nu *config.Config, r *ReloadReport) error {
			if err := cardsOnly(old, nu, r); err != nil {
				return err
			}
			return fixityOnly(old, nu, r)
		},
	}
	if a.cfg.Cards == nil {
		return p, nil
	}
	svc, err := cardsvc.New(*a.cfg.Cards, vols, a.cat, fx, a.log)
	if err != nil {
		return nil, err
	}
	// Offload reports: files in state_dir/cards/<id>/ (cardsvc/report.go).
	svc.SetReports(a.cfg.StateDir)
	svc.SetVersion(Version)      // the tool version in each ASC MHL generation
	svc.SetSpace(a.cardsSpace()) // the state dir and each destination volume a pass or fill writes, above disk.min_free
	svc.SetClipProxy(a.cfg.StateDir, a.cfg.FFmpeg, a.cfg.FFprobe, a.cfg.Proxy.AudioBitrate, a.cfg.Proxy.SourceAudio == nil || *a.cfg.Proxy.SourceAudio)
	if a.st.transcode != nil { // provisioned first (orderTranscode)
		svc.SetClipProxyLane(a.st.transcode.RunOnLane) // whole-clip proxies are CPU-lane jobs
	}
	p.Services = append(p.Services, Service{Name: "cards", Run: func(ctx context.Context) error { return svc.Run(ctx) }})
	p.Status = func(doc *wire.Status) { doc.Cards = cardsSection(svc.Status()) }
	p.Metrics = []metrics.Part{metrics.Cards(func() []metrics.CardDest {
		var out []metrics.CardDest
		for _, c := range svc.Status().Cards {
			for _, d := range c.Destinations {
				out = append(out, metrics.CardDest{Card: c.Label, Key: c.Key, Dest: d.Volume, State: d.State, Done: d.BytesDone,
					Verified: d.BytesVerified, Total: d.BytesTotal, Rate: d.RateBps, ETA: d.ETASeconds, Safe: c.SafeToFormat})
			}
		}
		return out
	})}
	return p, nil
}
