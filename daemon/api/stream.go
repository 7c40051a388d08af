package api

// GET /v1/events/stream: server-sent events for the web console (one
// connection per browser tab instead of a long-poll plus status polling).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Stream limits.
const (
	// StreamStatusEvery is how often the stream looks at /v1/status; a
	// status event is sent only when the document changed.
	StreamStatusEvery = time.Second
	// StreamPing is the keep-alive comment interval (proxies close idle
	// connections).
	StreamPing = 15 * time.Second
	// MaxStreams caps concurrent streams; more are 503.
	MaxStreams = 64
)

var streamsOpen atomic.Int64

// stream serves GET /v1/events/stream?after=SEQ&status=0|1: the feed's
// events (`event: feed`, `id:` = seq, data = the event as in /v1/feed) from
// after (default: the Last-Event-ID header, else the current last seq, i.e.
// new events only), and (unless status=0) the /v1/status document
// (`event: status`) at once and whenever it changes (checked every second).
// A stream opened with a session cookie ends within a second of the
// session's end (logout, expiry).
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after := s.opts.Store.LastSeq()
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			after = n
		}
	}
	if q.Get("after") != "" {
		n, err := parseUint(q, "after")
		if err != nil {
			WriteError(w, http.StatusBadRequest, err.Error(), "after")
			return
		}
		// An EventSource reconnecting by itself asks its URL again, with
		// the stale ?after= it was opened with, and Last-Event-ID: resume
		// from the later of the two instead of sending again every event
		// since the tab opened the stream.
		if lei, err := strconv.ParseUint(r.Header.Get("Last-Event-ID"), 10, 64); err != nil || lei < n {
			after = n
		}
	}
	withStatus := true
	switch q.Get("status") {
	case "", "1", "true":
	case "0", "false":
		withStatus = false
	default:
		WriteError(w, http.StatusBadRequest, "status must be 0 or 1", "status")
		return
	}
	if streamsOpen.Add(1) > MaxStreams {
		streamsOpen.Add(-1)
		w.Header().Set("Retry-After", "10")
		WriteError(w, http.StatusServiceUnavailable, fmt.Sprintf("too many event streams open (at most %d)", MaxStreams), "")
		return
	}
	defer streamsOpen.Add(-1)

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	ctx := r.Context()
	sess := requestSession(r)
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte("retry: 3000\n\n")) {
		return
	}
	var lastStatus []byte
	sendStatus := func() bool {
		if !withStatus || s.opts.Status == nil {
			return true
		}
		b, err := json.Marshal(s.opts.Status(ctx))
		if err != nil || bytes.Equal(b, lastStatus) {
			return true
		}
		lastStatus = b
		return write(fmt.Appendf(nil, "event: status\ndata: %s\n\n", b))
	}
	if !sendStatus() {
		return
	}
	lastWrite, lastCheck := time.Now(), time.Now()
	for {
		// A stream opened with the console's cookie ends with its session
		// (logout, expiry): nothing more is sent to a logged-out tab.
		if sess != nil && !s.sessions.alive(sess, time.Now()) {
			return
		}
		evs, err := s.opts.Store.Events(after, MaxLimit)
		if err != nil {
			s.log.Error("event stream", "after", after, "err", err)
			return
		}
		if len(evs) > 0 {
			var buf bytes.Buffer
			for _, ev := range evs {
				b, err := json.Marshal(ev)
				if err != nil {
					continue
				}
				fmt.Fprintf(&buf, "event: feed\nid: %d\ndata: %s\n\n", ev.Seq, b)
				after = ev.Seq
			}
			if !write(buf.Bytes()) {
				return
			}
			lastWrite = time.Now()
		}
		if len(evs) < MaxLimit { // no more backlog: wait for the next event
			wait := max(StreamStatusEvery-time.Since(lastCheck), 10*time.Millisecond)
			waitCtx, cancel := context.WithTimeout(ctx, wait)
			_ = s.opts.Store.Wait(waitCtx, after)
			cancel()
		}
		if ctx.Err() != nil {
			return
		}
		if time.Since(lastCheck) >= StreamStatusEvery {
			lastCheck = time.Now()
			if !sendStatus() {
				return
			}
		}
		if time.Since(lastWrite) > StreamPing {
			if !write([]byte(": ping\n\n")) {
				return
			}
			lastWrite = time.Now()
		}
	}
}
