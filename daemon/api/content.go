package api

import (
	"bytes"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// cleanPath is the path ServeMux would redirect p to: "." and ".."
// elements resolved, repeated slashes collapsed, the trailing slash kept.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if strings.HasSuffix(p, "/") && np != "/" {
		np += "/"
	}
	return np
}

// jsonErrors turns an error answer written with another content type
// (http.Error's text/plain from http.ServeContent's 416, ServeMux's 405)
// into the API's JSON error body (docs/api.md, Errors): the text written
// becomes the "error" field. JSON answers and 1xx-3xx pass through.
type jsonErrors struct {
	http.ResponseWriter
	code  int          // the error status held back; 0: passing through
	text  bytes.Buffer // what the handler wrote as the error's text
	wrote bool
}

func (j *jsonErrors) WriteHeader(code int) {
	if j.wrote || j.code != 0 {
		return
	}
	ct := j.Header().Get("Content-Type")
	if code >= 400 && !strings.HasPrefix(ct, "application/json") {
		j.code = code
		return
	}
	j.wrote = true
	j.ResponseWriter.WriteHeader(code)
}

func (j *jsonErrors) Write(p []byte) (int, error) {
	if !j.wrote && j.code == 0 {
		j.WriteHeader(http.StatusOK)
	}
	if j.code != 0 {
		if j.text.Len() < 1024 {
			j.text.Write(p)
		}
		return len(p), nil
	}
	return j.ResponseWriter.Write(p)
}

// ReadFrom keeps io.Copy (http.ServeContent) from bypassing Write, and
// keeps sendfile for a body that passes through.
func (j *jsonErrors) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := j.ResponseWriter.(io.ReaderFrom); ok && j.wrote && j.code == 0 {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{j}, r)
}

func (j *jsonErrors) Flush() {
	if j.code == 0 {
		_ = http.NewResponseController(j.ResponseWriter).Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (deadlines).
func (j *jsonErrors) Unwrap() http.ResponseWriter { return j.ResponseWriter }

// finish writes the held-back error as JSON.
func (j *jsonErrors) finish() {
	if j.code == 0 {
		return
	}
	msg := strings.TrimSpace(j.text.String())
	if msg == "" {
		msg = strings.ToLower(http.StatusText(j.code))
	}
	h := j.ResponseWriter.Header()
	h.Del("Content-Length")
	WriteError(j.ResponseWriter, j.code, msg, "")
}

// ServeContent is http.ServeContent for the API's downloads (proxies,
// posters, clip proxies): Range, If-None-Match and If-Modified-Since as
// there, plus what docs/api.md promises on every answer: `Accept-Ranges:
// bytes`, and on a 304 also `Last-Modified` (which http.ServeContent drops
// when an ETag is set). Errors (416) get the JSON error body when the
// handler is mounted with Server.Handle. Set ETag and Content-Type first.
func ServeContent(w http.ResponseWriter, r *http.Request, name string, modtime time.Time, content io.ReadSeeker) {
	w.Header().Set("Accept-Ranges", "bytes")
	size, err := content.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = content.Seek(0, io.SeekStart)
	}
	if err != nil {
		size = -1
	}
	http.ServeContent(&notModified{ResponseWriter: w, modtime: modtime, size: size}, r, name, modtime, content)
}

// notModified puts Last-Modified back on a 304, and gives every 416 the
// `Content-Range: bytes */<size>` docs/api.md promises (http.ServeContent
// sets it for a range past the end, not for a malformed or backwards one).
type notModified struct {
	http.ResponseWriter
	modtime time.Time
	size    int64 // -1: unknown
}

func (n *notModified) WriteHeader(code int) {
	if code == http.StatusNotModified && !n.modtime.IsZero() {
		n.Header().Set("Last-Modified", n.modtime.UTC().Format(http.TimeFormat))
	}
	if code == http.StatusRequestedRangeNotSatisfiable && n.size >= 0 && n.Header().Get("Content-Range") == "" {
		n.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(n.size, 10))
	}
	n.ResponseWriter.WriteHeader(code)
}

func (n *notModified) Unwrap() http.ResponseWriter { return n.ResponseWriter }

func (n *notModified) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := n.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{n.ResponseWriter}, r)
}

// routeMux is the API's ServeMux, recording each pattern registered (the
// contract test compares them with docs/api.md: a route served but not
// documented fails it).
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// Routes lists the patterns the server serves (New's and Handle's), in the
// order registered, as http.ServeMux patterns ("/v1/assets/{id}").
func (s *Server) Routes() []string { return append([]string(nil), s.mux.patterns...) }
