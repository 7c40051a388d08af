package console_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/daemon/console"
)

func TestHandler(t *testing.T) {
	ts := httptest.NewServer(console.Handler())
	defer ts.Close()
	for _, c := range []struct {
		path, ct string
		code     int
	}{
		{"/", "text/html; charset=utf-8", 200},
		{"/ui/app.js", "text/javascript; charset=utf-8", 200},
		{"/ui/pages.js", "text/javascript; charset=utf-8", 200},
		{"/ui/app.css", "text/css; charset=utf-8", 200},
		{"/ui/index.html", "text/html; charset=utf-8", 200},
		{"/ui/", "application/json", 404},
		{"/ui/nope.js", "application/json", 404},
		{"/ui/../console.go", "application/json", 404},
		{"/ui/%2e%2e/console.go", "application/json", 404},
		{"/index.html", "application/json", 404},
	} {
		req, _ := http.NewRequest("GET", ts.URL+c.path, nil)
		req.URL.Opaque = c.path // send the path as written (no client-side cleaning)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || resp.Header.Get("Content-Type") != c.ct {
			t.Errorf("GET %s: %d %q, want %d %q", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.code, c.ct)
		}
		if c.code == 200 {
			h := resp.Header
			if h.Get("Content-Security-Policy") != console.CSP || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
				t.Errorf("GET %s: security headers %v", c.path, h)
			}
		}
	}
}

// TestNoInlineScript: the CSP allows no inline script or style, so the
// files must not need any (a regression would break the page silently).
func TestNoInlineScript(t *testing.T) {
	if strings.Contains(console.CSP, "unsafe-inline") || strings.Contains(console.CSP, "unsafe-eval") {
		t.Fatalf("CSP allows inline code: %s", console.CSP)
	}
	files, _ := filepath.Glob("static/*")
	if len(files) < 5 {
		t.Fatalf("static files: %v", files)
	}
	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|\son[a-z]+\s*=|style\s*=|javascript:|https?://`)
	for _, f := range files {
		if !strings.HasSuffix(f, ".html") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := inline.Find(b); m != nil {
			t.Errorf("%s: %q needs inline code or another origin, which the CSP refuses", f, m)
		}
	}
	// The JS modules fetch nothing from another origin either.
	remote := regexp.MustCompile(`https?://`)
	for _, f := range files {
		if strings.HasSuffix(f, ".js") || strings.HasSuffix(f, ".css") {
			b, _ := os.ReadFile(f)
			if m := remote.Find(b); m != nil {
				t.Errorf("%s refers to another origin (%q): the console must work offline", f, m)
			}
		}
	}
}
