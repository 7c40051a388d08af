package daemon

// Operations endpoints of the App: GET /metrics (Prometheus) and
// GET /v1/admin/backup (the catalog's backup stream). Both are served by
// the API server, behind its bearer token when one is configured.

import (
	"net/http"
	"time"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/daemon/metrics"
	"github.com/ingestd/ingestd/storage/catalog"
)

// BackupPath is the API path of the online catalog backup.
const BackupPath = "/v1/admin/backup"

// mountOps adds /metrics (the catalog's series and every provisioned
// stage's) and the backup endpoint. Call after the stages are provisioned.
func (a *App) mountOps() {
	cat := a.cat
	// The API stops serving before the catalog closes, so holding the
	// pointer (not re-reading a.cat, which Close clears) is safe.
	a.api.Handle("/metrics", getOnly(metrics.Handler(metrics.Sources{Version: Version, Parts: append([]metrics.Part{
		metrics.Catalog(func() (int64, int64, uint64) {
			lsm, vlog := cat.Size()
			return lsm, vlog, cat.LastSeq()
		})}, a.stageMetrics()...)})))
	a.api.Handle(BackupPath, getOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.serveBackup(w, r, cat)
	})))
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
