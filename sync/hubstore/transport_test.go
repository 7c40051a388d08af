package hubstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// hangServer accepts connections and runs serve on each; it counts them.
func hangServer(t *testing.T, serve func(net.Conn)) (string, *atomic.Int64) {
	t.Helper()
	// A small receive buffer: what the server does not read stays in the
	// client's send queue, as over a real network.
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	done := make(chan struct{})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); close(done) })
	return "http://" + ln.Addr().String(), &n
}

// readRequest reads one request's header and body (Content-Length).
func readRequest(c net.Conn) bool {
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil {
		return false
	}
	_, err = io.Copy(io.Discard, req.Body)
	return err == nil
}

func TestHTTPClientTimeouts(t *testing.T) {
	const timeout, stall = 700 * time.Millisecond, 900 * time.Millisecond
	for _, tc := range []struct {
		name  string
		serve func(net.Conn)
		body  io.Reader // request body; nil: GET
		want  string    // in the error
		// max is how long the request may take before failing.
		max time.Duration
	}{
		{"accepts, never answers", func(c net.Conn) { readRequest(c); time.Sleep(10 * time.Second) }, nil, "timeout awaiting response headers", 3 * timeout},
		{"never reads the upload", func(c net.Conn) { time.Sleep(10 * time.Second) },
			// Bytes entering the kernel's send buffer (which grows while
			// it fills) count as moving: a few rounds before it is full.
			bytes.NewReader(make([]byte, 64<<20)), "stall timeout", 6 * stall},
		{"headers then stalls mid-body", func(c net.Conn) {
			readRequest(c)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nfirst bytes")
			time.Sleep(10 * time.Second)
		}, nil, "stall timeout", 3 * stall},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, conns := hangServer(t, tc.serve)
			hc := HTTPClient(timeout, stall)
			method := http.MethodGet
			if tc.body != nil {
				method = http.MethodPut
			}
			req, _ := http.NewRequest(method, url+"/b/k", tc.body)
			t0 := time.Now()
			resp, err := hc.Do(req)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			took := time.Since(t0)
			if err == nil {
				t.Fatal("request succeeded against a stalled server")
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("error is not a net.Error timeout: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if took > tc.max {
				t.Errorf("took %s, want < %s", took, tc.max)
			}
			if conns.Load() < 1 {
				t.Error("no connection reached the server")
			}
			t.Logf("failed after %s: %v", took.Round(time.Millisecond), err)
		})
	}
}

// TestHTTPClientSlowButMoving: an upload that takes several stall timeouts
// in all, with bytes moving all along, is not cut.
func TestHTTPClientSlowButMoving(t *testing.T) {
	// The reader pauses a tenth of the stall timeout between reads: a
	// loaded CI machine may delay a read several times over without a
	// false stall.
	const stall = 1500 * time.Millisecond
	url, _ := hangServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		buf := make([]byte, 16<<10)
		var got int64
		for {
			time.Sleep(stall / 10) // a slow reader: the client's writes block
			n, err := req.Body.Read(buf)
			got += int64(n)
			if err != nil {
				break
			}
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	// timeout (response headers) well above: the test is about the stall
	// watchdog, and the headers' wait starts once the body is in the
	// kernel's send queue, not at the hub.
	hc := HTTPClient(30*time.Second, stall)
	body := make([]byte, 40*16<<10) // 40 slow reads: about 4 stall timeouts
	req, _ := http.NewRequest(http.MethodPut, url+"/b/k", bytes.NewReader(body))
	t0 := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("slow but steady upload cut after %s: %v", time.Since(t0), err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" || time.Since(t0) < 3*stall {
		t.Errorf("answer %q after %s", b, time.Since(t0))
	}
}

// A hub (or anything between, over plain HTTP) that answers with an
// endless body: the SDK copies a whole error body into memory before it
// parses it, and parses a listing into memory as it reads it, so the
// daemon grew without bound. The client reads at most MaxErrorBody of an
// error and MaxAnswerBody of a listing, and fails the call; the server
// sees the connection closed after about that much. A store that lists
// parts page after page without end fails too.
func TestEndlessAnswersCapped(t *testing.T) {
	cases := []struct {
		name   string
		status int
		open   string // the XML before the endless filler
		filler string
		cap    int64
		call   func(st *S3) error
	}{
		{"error body", http.StatusInternalServerError, "<?xml version=\"1.0\"?><Error><Code>InternalError</Code><Message>", "x",
			MaxErrorBody, func(st *S3) error {
				_, err := st.Put(context.Background(), "edge/x", strings.NewReader("hello"), 5,
					PutOptions{ContentType: "text/plain", CRC32C: CRC32C([]byte("hello"))})
				return err
			}},
		{"listing", http.StatusOK, "<?xml version=\"1.0\"?><ListPartsResult><Bucket>b</Bucket><Key>edge/x</Key><UploadId>u</UploadId>",
			"<Part><PartNumber>1</PartNumber><ETag>\"e\"</ETag><Size>5</Size></Part>",
			MaxAnswerBody, func(st *S3) error {
				_, err := st.ListParts(context.Background(), "edge/x", "u")
				return err
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const stream = 256 << 20
			var sent atomic.Int64
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.open)
				chunk := bytes.Repeat([]byte(tc.filler), (64<<10)/len(tc.filler))
				for sent.Load() < stream {
					n, err := w.Write(chunk)
					sent.Add(int64(n))
					if err != nil {
						return
					}
				}
			})}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go srv.Serve(ln)
			t.Cleanup(func() { srv.Close() })
			st := testS3(t, "http://"+ln.Addr().String())
			err = tc.call(st)
			if err == nil {
				t.Fatal("the call succeeded")
			}
			time.Sleep(200 * time.Millisecond)
			if n := sent.Load(); n > 4*tc.cap+(8<<20) {
				t.Errorf("the client read %d MiB of an endless body, want about %d MiB at most", n>>20, tc.cap>>20)
			}
			t.Logf("server sent %d KiB before the client hung up; error: %.200v", sent.Load()>>10, err)
		})
	}
}

// A store whose part listing says "truncated" forever, with no part and
// the same marker, or new markers without end: an error, not a loop.
func TestListPartsWithoutEnd(t *testing.T) {
	for _, same := range []bool{true, false} {
		var pages atomic.Int64
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := pages.Add(1)
			marker := "7"
			if !same {
				marker = fmt.Sprint(n)
			}
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprintf(w, `<?xml version="1.0"?><ListPartsResult><Bucket>b</Bucket><Key>edge/x</Key><UploadId>u</UploadId>`+
				`<IsTruncated>true</IsTruncated><NextPartNumberMarker>%s</NextPartNumberMarker></ListPartsResult>`, marker)
		})}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln)
		st := testS3(t, "http://"+ln.Addr().String())
		if _, err := st.ListParts(context.Background(), "edge/x", "u"); err == nil {
			t.Errorf("same marker %v: listing without end succeeded", same)
		}
		srv.Close()
		t.Logf("same marker %v: %d pages asked", same, pages.Load())
	}
}

// testS3 is an S3 store at endpoint with test credentials.
func testS3(t *testing.T, endpoint string) *S3 {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	st, err := NewS3(S3Config{Endpoint: endpoint, Region: "us-east-1", Bucket: "b", PathStyle: true,
		Timeout: 5 * time.Second, StallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return st
}
