package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/api"
)

// TestAPIContract: what docs/api.md promises of every answer, through the
// real Handler with added handlers as the daemon mounts them: JSON error
// bodies (416 from a download, 405 from a handler's own method routes),
// no redirects, and the download headers on 200, 206 and 304.
func TestAPIContract(t *testing.T) {
	cat := fixture(t, 1)
	ts, s := serve(t, cat, "")
	body := strings.Repeat("proxy bytes ", 100)
	mod := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	s.Handle("/v1/things/{id}/proxy", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		w.Header().Set("ETag", `"proxy-1"`)
		api.ServeContent(w, r, "proxy.mp4", mod, strings.NewReader(body))
	}))
	inner := http.NewServeMux() // a handler with its own method routes (like the clips)
	inner.HandleFunc("GET /v1/list", func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, 200, map[string]any{"items": []string{}})
	})
	s.Handle("/v1/list", inner)

	lastMod := mod.Format(http.TimeFormat)
	for _, tc := range []struct {
		name, method, path string
		hdr                map[string]string
		code               int
		ctype              string
		headers            map[string]string // want exactly
		jsonErr            bool
	}{
		{name: "download", method: "GET", path: "/v1/things/a/proxy", code: 200, ctype: "video/mp4",
			headers: map[string]string{"Accept-Ranges": "bytes", "Last-Modified": lastMod, "ETag": `"proxy-1"`}},
		{name: "range", method: "GET", path: "/v1/things/a/proxy", hdr: map[string]string{"Range": "bytes=0-9"}, code: 206, ctype: "video/mp4",
			headers: map[string]string{"Accept-Ranges": "bytes", "Last-Modified": lastMod, "Content-Range": "bytes 0-9/1200"}},
		{name: "if-none-match", method: "GET", path: "/v1/things/a/proxy", hdr: map[string]string{"If-None-Match": `"proxy-1"`}, code: 304,
			headers: map[string]string{"Accept-Ranges": "bytes", "Last-Modified": lastMod, "ETag": `"proxy-1"`}},
		{name: "if-modified-since", method: "GET", path: "/v1/things/a/proxy", hdr: map[string]string{"If-Modified-Since": lastMod}, code: 304,
			headers: map[string]string{"Accept-Ranges": "bytes", "Last-Modified": lastMod}},
		{name: "range past the end", method: "GET", path: "/v1/things/a/proxy", hdr: map[string]string{"Range": "bytes=5000-"}, code: 416,
			ctype: "application/json", jsonErr: true, headers: map[string]string{"Content-Range": "bytes */1200"}},
		// A malformed or backwards range is refused as unsatisfiable
		// too (RFC 9110 allows ignoring or rejecting it): with the size a
		// client needs to ask again (Content-Range: bytes */size).
		{name: "backwards range", method: "GET", path: "/v1/things/a/proxy", hdr: map[string]string{"Range": "bytes=5-2"}, code: 416,
			ctype: "application/json", jsonErr: true, headers: map[string]string{"Content-Range": "bytes */1200"}},
		{name: "malformed range", method: "GET", path: "/v1/things/a/proxy", hdr: map[string]string{"Range": "bytes=abc"}, code: 416,
			ctype: "application/json", jsonErr: true, headers: map[string]string{"Content-Range": "bytes */1200"}},
		{name: "method of an inner route", method: "DELETE", path: "/v1/list", hdr: map[string]string{api.RequestHeader: "1"}, code: 405,
			ctype: "application/json", jsonErr: true},
		{name: "inner route", method: "GET", path: "/v1/list", code: 200, ctype: "application/json"},
		{name: "double slash", method: "GET", path: "//v1/status", code: 404, ctype: "application/json", jsonErr: true},
		{name: "dot segment", method: "GET", path: "/v1/./feed", code: 404, ctype: "application/json", jsonErr: true},
		{name: "trailing dot-dot", method: "GET", path: "/v1/feed/..", code: 404, ctype: "application/json", jsonErr: true},
		{name: "clean path", method: "GET", path: "/v1/feed", code: 200, ctype: "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, ts.URL, nil)
			req.URL.Path = tc.path // as sent, not cleaned by the client
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			// No redirect following: the API must not redirect.
			resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("%s %s: %d, want %d: %q", tc.method, tc.path, resp.StatusCode, tc.code, b)
			}
			if ct := resp.Header.Get("Content-Type"); tc.ctype != "" && ct != tc.ctype {
				t.Errorf("Content-Type %q, want %q", ct, tc.ctype)
			}
			for k, v := range tc.headers {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if tc.code == 304 && len(b) != 0 {
				t.Errorf("304 with a body: %q", b)
			}
			if tc.jsonErr {
				var e api.ErrorDoc
				if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
					t.Errorf("body %q is not the JSON error body: %v", b, err)
				}
				if tc.code == 405 && resp.Header.Get("Allow") == "" {
					t.Error("405 without Allow")
				}
			}
		})
	}
}
