package sequences

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
)

// ListDoc is GET /v1/sequences.
type ListDoc = wire.SequencesPage

var errStop = errors.New("stop")

// Handler serves GET (and HEAD) /v1/sequences, /v1/sequences/{id},
// /v1/sequences/{id}/proxy and /v1/sequences/{id}/poster. Outputs are
// served from state_dir/sequences with Range, ETag and If-None-Match.
func Handler(cat *catalog.Catalog, stateDir string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/sequences", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		after := q.Get("after")
		if after != "" && !ValidID(after) {
			api.WriteError(w, http.StatusBadRequest, "after must be a sequence id (32 lowercase hex characters)", "after")
			return
		}
		limit, err := api.ParseLimit(q)
		if err != nil {
			api.WriteError(w, http.StatusBadRequest, err.Error(), "limit")
			return
		}
		doc := ListDoc{Sequences: []Record{}}
		more := false
		err = cat.ListState("sequences/", func(key string, raw []byte) error {
			id := strings.TrimPrefix(key, "sequences/")
			if id <= after {
				return nil
			}
			if len(doc.Sequences) == limit {
				more = true
				return errStop
			}
			var rec Record
			if err := json.Unmarshal(raw, &rec); err != nil {
				return err
			}
			doc.Sequences = append(doc.Sequences, rec)
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			api.WriteError(w, http.StatusInternalServerError, err.Error(), "")
			return
		}
		if more {
			doc.Next = doc.Sequences[len(doc.Sequences)-1].ID
		}
		api.WriteJSON(w, http.StatusOK, doc)
	})
	mux.HandleFunc("GET /v1/sequences/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !ValidID(id) {
			api.WriteError(w, http.StatusBadRequest, "id must be 32 lowercase hex characters", "id")
			return
		}
		var rec Record
		err := cat.GetState(recordKey(id), &rec)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			api.WriteError(w, http.StatusNotFound, "no sequence "+id, "id")
		case err != nil:
			api.WriteError(w, http.StatusInternalServerError, err.Error(), "")
		default:
			api.WriteJSON(w, http.StatusOK, rec)
		}
	})
	serve := func(name, ctype string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			id := r.PathValue("id")
			if !ValidID(id) {
				api.WriteError(w, http.StatusBadRequest, "id must be 32 lowercase hex characters", "id")
				return
			}
			f, err := os.Open(outputPath(stateDir, id, name))
			if err != nil {
				api.WriteError(w, http.StatusNotFound, "no "+strings.TrimSuffix(name, ".mp4")+" for sequence "+id, "id")
				return
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil || !fi.Mode().IsRegular() {
				api.WriteError(w, http.StatusNotFound, "no "+name+" for sequence "+id, "id")
				return
			}
			h := w.Header()
			h.Set("Content-Type", ctype)
			// Replaced only by rename, so size+mtime names a version.
			h.Set("ETag", fmt.Sprintf(`"seq-%x-%x"`, fi.Size(), fi.ModTime().UnixNano()))
			h.Set("Cache-Control", "private, max-age=60")
			h.Set("X-Content-Type-Options", "nosniff")
			api.ServeContent(w, r, name, fi.ModTime(), f)
		}
	}
	mux.HandleFunc("GET /v1/sequences/{id}/proxy", serve(OutProxy, "video/mp4"))
	mux.HandleFunc("GET /v1/sequences/{id}/poster", serve(OutPoster, "image/jpeg"))
	return mux
}

func outputPath(stateDir, id, name string) string { return Dir(stateDir, id) + "/" + name }
