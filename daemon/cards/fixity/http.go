package fixity

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/storage"
)

// Handler serves POST /v1/verify?volume=&path=: the answer is a
// stream of JSON lines (Line), flushed as the check goes; the last is
// "done" (or "error" when the check could not finish). path_b64 (the
// standard base64 of the path's bytes, as in every path_b64 field) names
// a path that is not UTF-8 exactly and takes precedence over path.
func Handler(f *Checker) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			api.WriteError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed", "")
			return
		}
		q := r.URL.Query()
		vols := []string{}
		if v := q.Get("volume"); v != "" {
			if _, ok := f.vols[v]; !ok {
				api.WriteError(w, http.StatusBadRequest, "no volume named "+strconv.Quote(v), "volume")
				return
			}
			vols = append(vols, v)
		} else {
			for n := range f.vols {
				vols = append(vols, n)
			}
			sort.Strings(vols)
		}
		path, err := storage.PathFromB64(q.Get("path"), q.Get("path_b64"))
		if err != nil {
			api.WriteError(w, http.StatusBadRequest, "path_b64 is not standard base64", "path_b64")
			return
		}
		if f.Status().Running {
			api.WriteError(w, http.StatusConflict, ErrBusy.Error(), "")
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		// A check of a whole NAS can take hours: no write deadline (the
		// stream writes a progress line at least every file).
		_ = rc.SetWriteDeadline(time.Time{})
		enc := json.NewEncoder(w)
		emit := func(l Line) {
			_ = enc.Encode(l)
			_ = rc.Flush()
		}
		for _, v := range vols {
			if _, err := f.Check(r.Context(), v, path, "api", emit); err != nil {
				emit(Line{Type: "error", Volume: v, Detail: err.Error()})
				return
			}
		}
	})
}
