package hubstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// Defaults of NewS3 and HTTPClient for a zero timeout.
const (
	// DefaultTimeout bounds connecting, the TLS handshake and the wait for
	// a response's headers once the request is sent.
	DefaultTimeout = 30 * time.Second
	// DefaultStallTimeout: a connection on which no byte moved, either
	// way, for this long while a request is in progress is closed and the
	// request fails (ErrUnavailable, retryable).
	DefaultStallTimeout = 60 * time.Second
)

// HTTPClient is the S3 client's HTTP client: the SDK's buildable client, so
// that AWS_CA_BUNDLE keeps working, with
//
//   - timeout on connecting, on the TLS handshake, and on the wait for a
//     response's headers once the request is sent;
//   - stall on every connection: a read or write that moves no byte for
//     that long, in either direction, fails with ErrStalled (a hub that
//     accepts and never answers, stops reading an upload midway, or stops
//     sending a response midway). Activity either way re-arms it, so a
//     long upload waiting on nothing but its own writes is not cut.
//
// The default HTTP client of aws-sdk-go-v2 has none of these: a hub that
// accepts a connection and never answers would stall an upload forever.
func HTTPClient(timeout, stall time.Duration) *awshttp.BuildableClient {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if stall <= 0 {
		stall = DefaultStallTimeout
	}
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) {
			d.Timeout = timeout
		}).
		WithTransportOptions(func(t *http.Transport) {
			t.TLSHandshakeTimeout = timeout
			t.ResponseHeaderTimeout = timeout
			// Close pooled connections before their stall deadline does.
			t.IdleConnTimeout = min(t.IdleConnTimeout, stall/2)
			dial := t.DialContext
			if dial == nil {
				dial = (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext
			}
			t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := dial(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return newStallConn(c, stall), nil
			}
		})
}

// ErrStalled is the cause of a request cut by hub.s3.stall_timeout.
var ErrStalled = errors.New("no bytes moved")

// stallError is what a stalled read or write returns: a net.Error whose
// Timeout() is true (the SDK and the pusher retry it) naming the timeout.
type stallError struct {
	op      string
	timeout time.Duration
}

func (e *stallError) Error() string {
	return fmt.Sprintf("%s: %v for %s (hub.s3.stall_timeout): stall timeout", e.op, ErrStalled, e.timeout)
}
func (e *stallError) Timeout() bool   { return true }
func (e *stallError) Temporary() bool { return true }
func (e *stallError) Unwrap() []error { return []error{ErrStalled, os.ErrDeadlineExceeded} }

// stallConn fails a read or write once no byte moved on the connection,
// either way, for stall. Bytes queued in the kernel's send buffer count:
// while that queue changes (the hub is still taking an upload we already
// handed over), the connection is moving. The transport always has a read
// pending, so a hub that accepts and never answers is caught too.
type stallConn struct {
	net.Conn
	stall   time.Duration
	moved   atomic.Int64 // unix nanoseconds of the last progress
	outq    atomic.Int64 // send-queue length seen at the last check
	stalled atomic.Bool
}

func newStallConn(c net.Conn, stall time.Duration) net.Conn {
	sc := &stallConn{Conn: c, stall: stall}
	sc.outq.Store(-1)
	sc.progress(false)
	return sc
}

// progress records that bytes moved and pushes the deadline out. After a
// write it notes the send queue, whose shrinking shows the hub taking
// what was written.
func (c *stallConn) progress(wrote bool) {
	now := time.Now()
	c.moved.Store(now.UnixNano())
	_ = c.Conn.SetDeadline(now.Add(c.stall))
	if wrote {
		c.outq.Store(sendQueue(c.Conn))
	}
}

// expired is called when a deadline passed: it reports whether the
// connection is really stalled, else re-arms the deadline.
func (c *stallConn) expired() bool {
	if q, prev := sendQueue(c.Conn), c.outq.Load(); q >= 0 && prev >= 0 && q < prev {
		c.outq.Store(q)
		c.progress(false)
		return false
	}
	last := time.Unix(0, c.moved.Load())
	if time.Since(last) < c.stall {
		_ = c.Conn.SetDeadline(last.Add(c.stall))
		return false
	}
	c.stalled.Store(true)
	return true
}

// fail turns the errors of a stalled connection (the deadline, or the
// close that followed on the other side) into a stallError.
func (c *stallConn) fail(op string, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) || c.stalled.Load() {
		return &stallError{op: op, timeout: c.stall}
	}
	return err
}

func (c *stallConn) Read(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		if n > 0 {
			c.progress(false)
		}
		if err != nil && n == 0 && errors.Is(err, os.ErrDeadlineExceeded) && !c.expired() {
			continue
		}
		if err != nil {
			err = c.fail("read", err)
		}
		return n, err
	}
}

func (c *stallConn) Write(p []byte) (int, error) {
	total := 0
	for {
		n, err := c.Conn.Write(p[total:])
		total += n
		if n > 0 {
			c.progress(true)
		}
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && (n > 0 || !c.expired()) {
			continue
		}
		if err != nil {
			err = c.fail("write", err)
		}
		return total, err
	}
}

// MaxErrorBody is the most of a hub's error answer (status 300 and up)
// read: aws-sdk-go-v2 copies a whole error body into memory before it
// parses it, so an endless one (a broken proxy, a hostile endpoint over
// plain HTTP) would grow the daemon without bound. An S3 error document
// is a few hundred bytes.
const MaxErrorBody = 1 << 20

// MaxAnswerBody is the most of a hub's successful answer read, but for an
// object's bytes (GetObject, streamed to the caller): the SDK parses a
// listing (ListParts, ListObjectsV2) or a multipart answer into memory as
// it reads it, so an endless one would grow the daemon as an error body
// would. The largest the daemon asks for, ListParts of 10,000 parts, is
// about 3 MB.
const MaxAnswerBody = 16 << 20

// capErrorBodies is the S3 client's HTTP client with every error answer's
// body cut at MaxErrorBody, and every other answer's but an object's
// bytes at MaxAnswerBody (the SDK then fails to parse it: an error all
// the same). It wraps the SDK's buildable client after the configuration
// loaded it, so AWS_CA_BUNDLE still applies.
type capErrorBodies struct {
	next interface {
		Do(*http.Request) (*http.Response, error)
	}
}

func (c capErrorBodies) Do(r *http.Request) (*http.Response, error) {
	resp, err := c.next.Do(r)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	switch {
	case resp.StatusCode >= 300:
		resp.Body = cappedBody{Reader: io.LimitReader(resp.Body, MaxErrorBody), Closer: resp.Body}
	case !objectGet(r):
		resp.Body = cappedBody{Reader: io.LimitReader(resp.Body, MaxAnswerBody), Closer: resp.Body}
	}
	return resp, err
}

// objectGet reports whether r asks for an object's bytes (GetObject), not
// a listing or a multipart upload's parts.
func objectGet(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	q := r.URL.Query()
	for _, k := range []string{"list-type", "uploadId", "uploads", "prefix", "delimiter", "location", "versions", "acl", "tagging"} {
		if q.Has(k) {
			return false
		}
	}
	return true
}

type cappedBody struct {
	io.Reader
	io.Closer
}
