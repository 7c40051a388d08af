package daemon

// The ingest stage (daemon/ingest): volumes → watch → settle → hash →
// catalog. The pipeline itself is built by Provision before any stage (the
// App's readiness, watchdog and disk pause use it); this registration adds
// its service, its part of /v1/status (volumes, queues, ingest), its
// metrics, the console's rescan action and its reload.

import (
	"errors"
	"net/http"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/daemon/ingest"
	"github.com/ingestd/ingestd/daemon/metrics"
)

func init() {
	registerStage(Stage{Name: "ingest", Order: orderIngest, Provision: provisionIngest})
}

func provisionIngest(a *App) (*Parts, error) {
	pipe := a.pipe
	return &Parts{
		Services: []Service{{Name: "ingest", Run: pipe.Run}},
		Routes:   []Route{{"/v1/volumes/{name}/rescan", postOnly(a.rescanHandler)}},
		Status: func(doc *wire.Status) {
			st := pipe.Status()
			doc.Queues = wire.Queues{Settling: st.Queues.Settling, Hashing: st.Queues.Hashing}
			doc.Ingest = wire.IngestStats{FilesSeen: st.FilesSeen, FilesHashed: st.FilesHashed, BytesHashed: st.BytesHashed}
			for _, v := range st.Volumes {
				doc.Volumes = append(doc.Volumes, wire.VolumeStatus{
					Name: v.Name, Path: v.Path, Online: v.Online, Reason: v.Reason,
					WatchMode: v.WatchMode, Watches: v.Watches, Files: v.Files, Bytes: v.Bytes,
					LastScan: v.LastScan, LastScanSeconds: v.LastScanDuration.Seconds(), Scanning: v.Scanning,
					StalledSeconds: v.Stalled.Seconds(),
				})
			}
		},
		Metrics: []metrics.Part{metrics.Ingest(pipe.Status)},
		// Live: settle, rescan, ignore, hash_workers and volumes (added,
		// removed or moved volumes are watched or dropped at once).
		Reload: func(old, nu *config.Config, r *ReloadReport) error {
			if err := pipe.Reload(ingestConfig(nu)); err != nil {
				return err
			}
			for _, k := range []struct {
				key  string
				o, n any
			}{{"settle", old.Settle, nu.Settle}, {"rescan", old.Rescan, nu.Rescan}, {"ignore", old.Ignore, nu.Ignore},
				{"hash_workers", old.HashWorkers, nu.HashWorkers}, {"volumes", old.Volumes, nu.Volumes}} {
				r.Apply(changedKeys(k.key, k.o, k.n)...)
			}
			return nil
		},
	}, nil
}

// rescanHandler is POST /v1/volumes/{name}/rescan (console action).
func (a *App) rescanHandler(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := a.pipe.Rescan(name); err != nil {
		if errors.Is(err, ingest.ErrNoVolume) {
			api.WriteError(w, http.StatusNotFound, "no volume "+name, "volume")
			return
		}
		if errors.Is(err, ingest.ErrVolumeStarting) {
			w.Header().Set("Retry-After", "1")
			api.WriteError(w, http.StatusServiceUnavailable, "volume "+name+" is starting: retry in a moment", "volume")
			return
		}
		api.WriteError(w, http.StatusInternalServerError, err.Error(), "")
		return
	}
	a.log.Info("rescan requested", "component", "console", "volume", name)
	api.WriteJSON(w, http.StatusAccepted, map[string]string{"status": "rescan requested", "volume": name})
}

// ingestConfig maps the daemon config onto the pipeline's.
func ingestConfig(c *config.Config) ingest.Config {
	ic := ingest.Config{
		Settle:      c.Settle.D(),
		Rescan:      c.Rescan.D(),
		Ignore:      c.Ignore,
		HashWorkers: c.HashWorkers,
		StateDir:    c.StateDir,
	}
	for _, v := range c.Volumes {
		ic.Volumes = append(ic.Volumes, ingest.Volume{Name: v.Name, Path: v.Path}) // absolute: config.Validate
	}
	return ic
}
