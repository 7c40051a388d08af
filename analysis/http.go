package analysis

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path"
	"regexp"
	"strings"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/storage"
)

// ReThumbnail matches the name of a per-shot thumbnail output,
// shots/NNNNN.jpg (listed in the asset's analysis outputs).
var ReThumbnail = regexp.MustCompile(`^` + OutThumb + `/[0-9]{5}\.jpg$`)

// Handler serves GET and HEAD /v1/assets/{id}/analysis.json, shots.jpg,
// shots/NNNNN.jpg, transcript.vtt and enrichment/{name}.json from state_dir/media (Range,
// ETag). It does not need the stage to run: outputs of an earlier run are
// served.
func Handler(stateDir string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, _ := strings.CutPrefix(r.URL.Path, "/v1/assets/")
		id, what, _ := strings.Cut(rest, "/")
		ctype := map[string]string{OutJSON: "application/json", OutShots: "image/jpeg", OutTranscript: "text/vtt; charset=utf-8"}[what]
		if ReThumbnail.MatchString(what) {
			ctype = "image/jpeg"
		}
		if n, ok := strings.CutPrefix(what, OutEnrichDir+"/"); ok && reEnricherName.MatchString(strings.TrimSuffix(n, ".json")) && strings.HasSuffix(n, ".json") {
			ctype = "application/json"
		}
		if ctype == "" {
			writeErr(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
			return
		}
		if !validID(id) {
			writeErr(w, http.StatusBadRequest, "id must be 64 lowercase hex characters")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeErr(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		f, err := os.Open(storage.OutputPath(stateDir, id, what))
		if err != nil {
			writeErr(w, http.StatusNotFound, fmt.Sprintf("asset %s has no %s", id, what))
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			writeErr(w, http.StatusNotFound, fmt.Sprintf("asset %s has no %s", id, what))
			return
		}
		h := w.Header()
		h.Set("Content-Type", ctype)
		h.Set("ETag", fmt.Sprintf(`"%s-%x-%x"`, strings.ReplaceAll(strings.TrimSuffix(what, ".jpg"), "/", "-"), fi.Size(), fi.ModTime().UnixNano()))
		h.Set("Cache-Control", "private, max-age=60")
		h.Set("X-Content-Type-Options", "nosniff")
		api.ServeContent(w, r, path.Base(what), fi.ModTime(), f)
	})
}

func validID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func writeErr(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{msg})
}
