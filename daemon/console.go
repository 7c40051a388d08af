package daemon

// The web console (daemon/console, docs/console.md) and the operator
// actions it offers on the Problems page, each a POST behind the API's
// authentication and CSRF rules (docs/api.md, Console actions).

import (
	"errors"
	"net/http"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/daemon/ingest"
	"github.com/ingestd/ingestd/storage"
)

// postOnly allows POST only.
func postOnly(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			api.WriteError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed", "")
			return
		}
		h(w, r)
	})
}

// mountActions adds POST /v1/assets/{id}/retry, POST
// /v1/volumes/{name}/rescan and POST /v1/sync/webhook/unpark. Call after
// the stages are provisioned.
func (a *App) mountActions() {
	a.api.Handle("/v1/assets/{id}/retry", postOnly(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !api.ValidID(id) {
			api.WriteError(w, http.StatusBadRequest, "id must be 64 lowercase hex characters", "id")
			return
		}
		svc := a.st.transcode
		if svc == nil {
			api.WriteError(w, http.StatusConflict, "the transcode stage is not running: "+a.st.proxyErr, "")
			return
		}
		if _, err := a.cat.Asset(id); errors.Is(err, storage.ErrNotFound) {
			api.WriteError(w, http.StatusNotFound, "no asset "+id, "id")
			return
		}
		if err := svc.Retry(id); err != nil {
			api.WriteError(w, http.StatusConflict, err.Error(), "")
			return
		}
		a.log.Info("proxy retry requested", "component", "console", "asset_id", id)
		api.WriteJSON(w, http.StatusAccepted, map[string]string{"status": "queued", "asset_id": id})
	}))
	a.api.Handle("/v1/volumes/{name}/rescan", postOnly(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := a.pipe.Rescan(name); err != nil {
			if errors.Is(err, ingest.ErrNoVolume) {
				api.WriteError(w, http.StatusNotFound, "no volume "+name, "volume")
				return
			}
			api.WriteError(w, http.StatusInternalServerError, err.Error(), "")
			return
		}
		a.log.Info("rescan requested", "component", "console", "volume", name)
		api.WriteJSON(w, http.StatusAccepted, map[string]string{"status": "rescan requested", "volume": name})
	}))
	a.api.Handle("/v1/sync/webhook/unpark", postOnly(func(w http.ResponseWriter, r *http.Request) {
		n := a.st.notifier
		if n == nil {
			api.WriteError(w, http.StatusNotFound, "no hub.webhook configured", "")
			return
		}
		if n.Status().Parked == nil {
			api.WriteError(w, http.StatusConflict, "the webhook is not parked", "")
			return
		}
		n.Unpark()
		a.log.Info("webhook un-park requested", "component", "console")
		api.WriteJSON(w, http.StatusAccepted, map[string]string{"status": "unparked"})
	}))
}
