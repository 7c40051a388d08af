package transcode

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/storage"
)

// Status is the stage's section of /v1/status, LaneStatus one lane's
// load and JobStatus one running job (progress is OutTimeUS /
// DurationUS): the API's typed documents (package daemon/api/wire).
type (
	Status     = wire.TranscodeStatus
	LaneStatus = wire.LaneStatus
	JobStatus  = wire.JobStatus
)

// Status returns a snapshot of lanes, queue and running jobs.
func (s *Service) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Enabled: *s.cfg.Enabled, Detected: s.detected, Capabilities: wire.Capabilities(s.caps), Running: []JobStatus{}, Done: map[string]int{}}
	if len(s.caps.Errors) > 0 {
		// Trial errors can name the trial's temp files: no absolute paths served.
		st.Capabilities.Errors = make(map[string]string, len(s.caps.Errors))
		for k, v := range s.caps.Errors {
			st.Capabilities.Errors[k] = ScrubPaths(v, map[string]string{s.stateDir: "state_dir"})
		}
	}
	for k, v := range s.done {
		st.Done[k] = v
	}
	st.DoneByLane = map[string]map[string]int{}
	for lane, m := range s.doneLane {
		st.DoneByLane[lane] = maps.Clone(m)
	}
	lanes := map[string]*LaneStatus{LaneCPU: {Name: LaneCPU, Slots: s.cfg.CPUJobs}}
	if s.caps.GPU() && s.cfg.GPU != GPUOff {
		lanes[LaneGPU] = &LaneStatus{Name: LaneGPU, Slots: s.cfg.GPUJobs}
	}
	for _, j := range s.jobs {
		l := lanes[j.lane]
		if l == nil {
			l = &LaneStatus{Name: j.lane}
			lanes[j.lane] = l
		}
		if j.running {
			l.Running++
			if j.ext != nil {
				continue // another stage's lane job (RunOnLane): not an asset
			}
			st.Running = append(st.Running, JobStatus{AssetID: j.ID, Lane: j.lane, Encoder: j.encoder, Started: j.started,
				OutTimeUS: j.prog.OutTimeUS, DurationUS: int64(j.duration * 1e6), Frame: j.prog.Frame, Speed: j.prog.Speed})
		} else {
			l.Queued++
			st.Queued++
		}
	}
	for _, name := range []string{LaneGPU, LaneCPU} {
		if l := lanes[name]; l != nil {
			st.Lanes = append(st.Lanes, *l)
		}
	}
	return st
}

// routes maps the URL's last element to the files that may answer it, in
// order, and their content types.
var routes = map[string][]struct{ file, ctype string }{
	"proxy":     {{OutProxyVideo, "video/mp4"}, {OutProxyAudio, "audio/mp4"}, {OutProxyImage, "image/jpeg"}},
	"poster":    {{OutPoster, "image/jpeg"}},
	"filmstrip": {{OutFilmstrip, "image/jpeg"}},
	"waveform":  {{OutWaveform, "application/json"}},
}

// Handler serves GET and HEAD /v1/assets/{id}/proxy|poster|filmstrip|waveform
// from state_dir/media with Range, ETag and If-None-Match (api.ServeContent:
// Accept-Ranges and Last-Modified on every answer, 304 included).
// It parses the path itself, so it can be mounted under any pattern that
// routes those paths to it (e.g. "/v1/assets/{id}/{output}"). Only derived
// outputs are served: never a master. Errors are JSON {"error": …}.
func (s *Service) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/v1/assets/")
		id, what, ok2 := strings.Cut(rest, "/")
		rs, known := routes[what]
		if !ok || !ok2 || !known {
			writeErr(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path, "")
			return
		}
		if !validID(id) {
			writeErr(w, http.StatusBadRequest, "id must be 64 lowercase hex characters", "id")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeErr(w, http.StatusMethodNotAllowed, "method not allowed", "")
			return
		}
		for _, c := range rs {
			p := storage.OutputPath(s.stateDir, id, c.file)
			f, err := os.Open(p)
			if err != nil {
				continue
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			h := w.Header()
			h.Set("Content-Type", c.ctype)
			// Outputs are replaced only by rename, so size+mtime names a version.
			h.Set("ETag", fmt.Sprintf(`"%s-%x-%x"`, strings.TrimSuffix(c.file, filepath.Ext(c.file)), fi.Size(), fi.ModTime().UnixNano()))
			h.Set("Cache-Control", "private, max-age=60")
			h.Set("X-Content-Type-Options", "nosniff")
			api.ServeContent(w, r, c.file, fi.ModTime(), f)
			return
		}
		writeErr(w, http.StatusNotFound, fmt.Sprintf("asset %s has no %s", id, what), "")
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

func writeErr(w http.ResponseWriter, code int, msg, param string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
		Param string `json:"param,omitempty"`
	}{msg, param})
}
