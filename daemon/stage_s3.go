package daemon

// The hub's S3 stage (sync/s3push): every asset's objects uploaded to the
// hub bucket, resumably, within the bandwidth schedule.

import (
	"fmt"

	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/daemon/doctor"
	"github.com/ingestd/ingestd/daemon/metrics"
	"github.com/ingestd/ingestd/sync/s3push"
)

func init() {
	registerStage(Stage{Name: "s3", Order: orderS3, Provision: provisionS3, Doctor: doctor.S3})
}

// syncOf returns the sync section of doc for the S3 or webhook stage to
// fill in its target (the section is present once either runs).
func syncOf(doc *wire.Status) *wire.SyncStatus {
	if doc.Sync == nil {
		doc.Sync = &wire.SyncStatus{}
	}
	return doc.Sync
}

func provisionS3(a *App) (*Parts, error) {
	p := &Parts{Reload: a.reloadS3(nil)}
	c := a.cfg.Hub.S3
	if c == nil {
		return p, nil
	}
	pusher, err := s3push.New(*c, a.applianceID, a.cfg.StateDir, a.cat, a.log)
	if err != nil {
		return nil, fmt.Errorf("hub.s3: %w", err)
	}
	p.Services = []Service{{Name: "s3push", Run: pusher.Run, Restart: true}} // hub outages are transient
	p.Status = func(doc *wire.Status) {
		st := pusher.Status()
		syncOf(doc).S3 = syncSection(&st, nil).S3
	}
	p.Metrics = []metrics.Part{metrics.S3(func() (s3push.Status, bool) { return pusher.Status(), true })}
	p.Reload = a.reloadS3(pusher)
	return p, nil
}

// reloadS3: live are hub.s3 bandwidth and concurrency (uploads in flight
// included); restart-only are the other hub.s3 keys and adding or removing
// hub.s3 (pusher nil: not running).
func (a *App) reloadS3(pusher *s3push.Pusher) func(old, nu *config.Config, r *ReloadReport) error {
	return func(oc, nc *config.Config, r *ReloadReport) error {
		old, nu := oc.Hub.S3, nc.Hub.S3
		switch {
		case old == nil && nu == nil:
		case old == nil || nu == nil || pusher == nil:
			if len(changedKeys("hub.s3", old, nu)) > 0 {
				r.NeedRestart("hub.s3")
			}
			nc.Hub.S3 = old
		default:
			changed := changedKeys("hub.s3", *old, *nu)
			if len(changed) == 0 {
				return nil
			}
			r.NeedRestart(s3push.RestartKeys(*old, *nu)...)
			m := *old
			m.Concurrency, m.Bandwidth = nu.Concurrency, nu.Bandwidth
			if err := pusher.Reload(m); err != nil {
				a.log.Error("hub.s3 limits not reloaded, keeping the running ones", "component", "daemon", "err", err)
				m = *old
			} else {
				for _, k := range changed {
					if k == "hub.s3.concurrency" || k == "hub.s3.bandwidth" {
						r.Apply(k)
					}
				}
			}
			nc.Hub.S3 = &m
		}
		return nil
	}
}
