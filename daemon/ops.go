package daemon

// Operations endpoints of the App: GET /metrics (Prometheus) and
// GET /v1/admin/backup (the catalog's backup stream). Both are served by
// the API server, behind its bearer token when one is configured.

import (
	"net/http"
	"time"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/daemon/diskguard"
	"github.com/ingestd/ingestd/daemon/metrics"
	"github.com/ingestd/ingestd/storage/catalog"
	"github.com/ingestd/ingestd/sync/s3push"
	"github.com/ingestd/ingestd/sync/webhook"
	"github.com/ingestd/ingestd/transcode"
)

// BackupPath is the API path of the online catalog backup.
const BackupPath = "/v1/admin/backup"

// mountOps adds /metrics and the backup endpoint. Call after the stages
// are provisioned (the collector reads whichever exist).
func (a *App) mountOps() {
	cat := a.cat
	a.api.Handle("/metrics", getOnly(metrics.Handler(a.metricsSources())))
	a.api.Handle(BackupPath, getOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.serveBackup(w, r, cat)
	})))
}

// metricsSources points the collector at the components' Status funcs.
func (a *App) metricsSources() metrics.Sources {
	// The API stops serving before the catalog closes, so holding the
	// pointer (not re-reading a.cat, which Close clears) is safe.
	cat, pipe := a.cat, a.pipe
	src := metrics.Sources{
		Version: Version,
		Ingest:  pipe.Status,
		Catalog: func() (int64, int64, uint64) {
			lsm, vlog := cat.Size()
			return lsm, vlog, cat.LastSeq()
		},
	}
	if svc := a.st.transcode; svc != nil {
		src.Proxy = func() (transcode.Status, bool) { return svc.Status(), true }
	}
	if p := a.st.pusher; p != nil {
		src.S3 = func() (s3push.Status, bool) { return p.Status(), true }
	}
	if g := a.st.disk; g != nil {
		src.Disk = func() (diskguard.Status, bool) { return g.Status(), true }
	}
	if n := a.st.notifier; n != nil {
		src.Webhook = func() (webhook.Status, bool) { return n.Status(), true }
	}
	// The cards service is provisioned after /metrics is mounted: looked
	// up at scrape time.
	src.Cards = func() []metrics.CardDest {
		cs := a.st.cards
		if cs == nil {
			return nil
		}
		var out []metrics.CardDest
		for _, c := range cs.Status().Cards {
			for _, d := range c.Destinations {
				out = append(out, metrics.CardDest{Card: c.Label, Key: c.Key, Dest: d.Volume, State: d.State, Done: d.BytesDone,
					Verified: d.BytesVerified, Total: d.BytesTotal, Rate: d.RateBps, ETA: d.ETASeconds, Safe: c.SafeToFormat})
			}
		}
		return out
	}
	return src
}

func getOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			api.WriteError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed", "")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// serveBackup streams catalog.Backup while the daemon keeps running. A
// failure after the first byte aborts the connection, so the client sees
// a truncated transfer rather than a short file that looks complete.
func (a *App) serveBackup(w http.ResponseWriter, r *http.Request, cat *catalog.Catalog) {
	log := a.log.With("component", "api")
	name := "ingestd-" + a.applianceID + "-" + time.Now().UTC().Format("20060102T150405Z") + ".badger"
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	cw := &countWriter{w: w}
	start := time.Now()
	if err := cat.Backup(cw); err != nil {
		log.Error("backup failed", "err", err, "bytes", cw.n)
		if cw.n == 0 {
			api.WriteError(w, http.StatusInternalServerError, "internal error", "")
			return
		}
		panic(http.ErrAbortHandler)
	}
	log.Info("backup served", "bytes", cw.n, "elapsed", time.Since(start).Round(time.Millisecond), "remote", r.RemoteAddr)
}

type countWriter struct {
	w http.ResponseWriter
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
