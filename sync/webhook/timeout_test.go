package webhook

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHTTPClientTimeouts: the notifier's client gives up on a hub that
// accepts and never answers, or answers headers and stalls mid-body,
// within the configured timeout, and its retries and errors reach the log
// with the URL's query masked.
func TestHTTPClientTimeouts(t *testing.T) {
	const timeout = 700 * time.Millisecond
	for _, tc := range []struct {
		name  string
		serve func(net.Conn, *bufio.Reader)
	}{
		{"never answers", func(c net.Conn, br *bufio.Reader) { _, _ = io.Copy(io.Discard, br) }},
		{"stalls mid-body", func(c net.Conn, br *bufio.Reader) {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")
			_, _ = io.Copy(io.Discard, br)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() { defer c.Close(); tc.serve(c, bufio.NewReader(c)) }()
				}
			}()
			cfg := Config{URL: "http://" + ln.Addr().String() + "/events?token=SECRET9", Timeout: timeout}
			cfg.SetDefaults()
			hc := HTTPClient(cfg)
			t0 := time.Now()
			resp, err := hc.Post(cfg.URL, "application/json", strings.NewReader("{}"))
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if err == nil {
				t.Fatal("request succeeded against a stalled hub")
			}
			if took := time.Since(t0); took > 3*timeout {
				t.Errorf("gave up after %s, want about %s", took, timeout)
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("error is not a timeout: %v", err)
			}

			// The leveled logger masks the query in what retryablehttp logs.
			var buf bytes.Buffer
			l := leveledLogger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			l.Error("request failed", "error", err, "url", cfg.URL)
			l.Debug("retrying request", "request", "POST "+cfg.URL)
			if out := buf.String(); strings.Contains(out, "SECRET9") || !strings.Contains(out, "token=REDACTED") {
				t.Errorf("log:\n%s", out)
			}
		})
	}
}
