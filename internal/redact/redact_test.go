package redact_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/redact"
)

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://hub.example/events", "https://hub.example/events"},
		{"https://hub.example/events?token=SECRET", "https://hub.example/events?token=REDACTED"},
		{"https://hub.example/events?a=1&token=SECRET&b=", "https://hub.example/events?a=REDACTED&token=REDACTED&b=REDACTED"},
		{"https://hub.example/e?SECRET", "https://hub.example/e?REDACTED"},
		{"https://hub.example/e?SECRET#frag", "https://hub.example/e?REDACTED#REDACTED"},
		{"https://hub.example/e#SECRET", "https://hub.example/e#REDACTED"},
		{"https://hub.example/e?", "https://hub.example/e?"},
		{"http://user:SECRET@minio:9000", "http://REDACTED@minio:9000"},
		{"http://SECRET@minio:9000/b", "http://REDACTED@minio:9000/b"},
		{"http://us@er:SE@CRET@minio:9000/p?q=SECRET", "http://REDACTED@minio:9000/p?q=REDACTED"},
		{"http://minio:9000/a@b", "http://minio:9000/a@b"}, // '@' in the path is not userinfo
		{"user:SECRET@minio:9000", "REDACTED@minio:9000"},
		{"HTTPS://U:SECRET@H/?T=SECRET", "HTTPS://REDACTED@H/?T=REDACTED"},
		{"%zz://u:SECRET@h?x=SECRET", "%zz://REDACTED@h?x=REDACTED"}, // not parseable by net/url: masked anyway
		{"", ""},
	} {
		if got := redact.URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(redact.URL(tc.in), "SECRET") {
			t.Errorf("URL(%q) leaks the secret", tc.in)
		}
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"no url here", "no url here"},
		{`Post "http://127.0.0.1:1/hook?token=SECRET": dial tcp 127.0.0.1:1: connect: connection refused`,
			`Post "http://127.0.0.1:1/hook?token=REDACTED": dial tcp 127.0.0.1:1: connect: connection refused`},
		{"get https://u:SECRET@a/x and http://b/y?k=SECRET;", "get https://REDACTED@a/x and http://b/y?k=REDACTED"}, // the value runs to the end of the URL
		{`url="http://h/p?t=SECRET" next`, `url="http://h/p?t=REDACTED" next`},
		{`"Put \"http://h/p?t=SECRET\": EOF"`, `"Put \"http://h/p?t=REDACTED\": EOF"`},
		{"<http://h/?t=SECRET>", "<http://h/?t=REDACTED>"},
		{"ftp://h/?t=keep", "ftp://h/?t=keep"}, // only http(s) URLs
	} {
		got := redact.String(tc.in)
		if got != tc.want {
			t.Errorf("String(%q) =\n %q, want\n %q", tc.in, got, tc.want)
		}
	}
}

// TestErrorNetHTTP: the error net/http returns embeds the request URL with
// its query (url.Error); Error masks it and keeps the chain.
func TestErrorNetHTTP(t *testing.T) {
	c := &http.Client{Timeout: 2 * time.Second}
	_, err := c.Get("http://user:SECRETPW@127.0.0.1:1/hook?token=SECRET123")
	if err == nil {
		t.Fatal("want a connection error")
	}
	if !strings.Contains(err.Error(), "SECRET123") {
		t.Fatalf("premise: net/http's error should embed the query: %v", err)
	}
	red := redact.Error(fmt.Errorf("post batch: %w", err))
	if s := red.Error(); strings.Contains(s, "SECRET") || !strings.Contains(s, "token=REDACTED") {
		t.Errorf("Error() = %q", s)
	}
	var ue *url.Error
	if !errors.As(red, &ue) {
		t.Error("errors.As lost the *url.Error")
	}
	if redact.Error(nil) != nil {
		t.Error("Error(nil) != nil")
	}
	plain := fs.ErrNotExist
	if redact.Error(plain) != plain {
		t.Error("an error without a URL should come back as is")
	}
	if !errors.Is(redact.Error(fmt.Errorf("http://h/?t=x: %w", fs.ErrNotExist)), fs.ErrNotExist) {
		t.Error("errors.Is lost the cause")
	}
}

func TestHandler(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		var h slog.Handler = slog.NewTextHandler(&buf, nil)
		if format == "json" {
			h = slog.NewJSONHandler(&buf, nil)
		}
		u, _ := url.Parse("https://u:SECRET1@hub/x?token=SECRET2")
		log := slog.New(redact.Handler(h)).With("endpoint", "http://k:SECRET3@minio:9000").WithGroup("g")
		log.Error("post to https://hub/?token=SECRET4 failed",
			"url", "https://hub/?token=SECRET5",
			"err", errors.New(`Post "https://hub/?token=SECRET6": EOF`),
			"u", u,
			slog.Group("inner", "url", "http://hub/?t=SECRET7"),
			"n", 3)
		out := buf.String()
		if strings.Contains(out, "SECRET") {
			t.Errorf("%s: a secret reached the log:\n%s", format, out)
		}
		for _, want := range []string{"token=REDACTED", "REDACTED@minio:9000", "n"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: %q missing from:\n%s", format, want, out)
			}
		}
	}
	h := redact.Handler(slog.NewTextHandler(&bytes.Buffer{}, nil))
	if redact.Handler(h) != h {
		t.Error("Handler wraps twice")
	}
	if !h.Enabled(context.Background(), slog.LevelInfo) || h.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("Enabled not passed through")
	}
}
