// Package console is ingestd's web console: a few static files (HTML, CSS,
// vanilla JS modules; no framework, no build step) embedded in the binary
// and served by the API listener at "/" and "/ui/" (docs/console.md).
//
// It owns the files and the headers they are served with (a CSP without
// inline script, nosniff, frame denial). It holds no data and no
// authentication: the page reads the documented API (docs/api.md) like any
// other client, logging in through /v1/session when api.token_file is set,
// and gets live updates from one GET /v1/events/stream per tab.
package console

import (
	"bytes"
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var files embed.FS

// CSP is the Content-Security-Policy of every console file: scripts and
// styles from this origin only (no inline script or style attribute
// needed), media and images from the API, no framing.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// built is when this binary's files are taken to be modified (ETag-less
// caching is by Last-Modified; the files change only with the binary).
var built = time.Now().UTC().Truncate(time.Second)

// Handler serves the console: "/" is index.html, "/ui/<name>" a file of
// static/. Anything else is 404.
func Handler() http.Handler {
	static, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := "index.html"
		if r.URL.Path != "/" {
			rest, ok := strings.CutPrefix(r.URL.Path, "/ui/")
			if !ok || rest == "" || !fs.ValidPath(rest) {
				notFound(w)
				return
			}
			name = rest
		}
		b, err := fs.ReadFile(static, name)
		if err != nil {
			notFound(w)
			return
		}
		SecurityHeaders(w.Header())
		ct := mime.TypeByExtension(path.Ext(name))
		if path.Ext(name) == ".js" {
			ct = "text/javascript; charset=utf-8"
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, name, built, bytes.NewReader(b))
	})
}

// SecurityHeaders sets the headers every console page carries.
func SecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// notFound answers like the API: a JSON error body.
func notFound(w http.ResponseWriter) {
	SecurityHeaders(w.Header())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(`{"error":"no such console file"}` + "\n"))
}
