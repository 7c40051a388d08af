// Package api serves ingestd's HTTP API (docs/api.md is its contract):
// /healthz, /v1/status, the /v1/feed event log with long-polling, and
// /v1/assets. It also holds the typed Client the CLI and tests use.
//
// It owns request parsing, authentication and JSON encoding. It must not
// write to the catalog, open Badger or read the watched volumes: it reads
// through the Store interface (satisfied by *catalog.Catalog) and a status
// function supplied by the daemon. Later stages add their endpoints with
// Server.Handle (Server.HandlePublic for static files served without
// authentication: the web console's pages) and their status sections
// through the status function.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/storage"
)

// Limits on query parameters. Larger values are clamped, not rejected.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
	MaxWait      = 60 * time.Second
)

// Store is the read side of the catalog that the API serves.
// *catalog.Catalog implements it. Asset returns an error wrapping
// storage.ErrNotFound for an unknown id; Wait returns when an event with a
// seq above after exists or ctx is done.
type Store interface {
	Events(after uint64, limit int) ([]storage.Event, error)
	LastSeq() uint64
	Wait(ctx context.Context, after uint64) error
	Asset(id string) (storage.AssetDoc, error)
	Assets(after string, limit int) ([]storage.AssetDoc, error)
	// AssetEvents returns up to limit published events of asset id: with
	// newestFirst false those with seq above cursor, oldest first; with
	// newestFirst true those below cursor (0: from the newest), newest
	// first. An unknown id wraps storage.ErrNotFound.
	AssetEvents(id string, cursor uint64, limit int, newestFirst bool) ([]storage.Event, error)
}

// Options configure a Server.
type Options struct {
	Store Store
	// Token, when not empty, is required as `Authorization: Bearer <token>`
	// on every path but /healthz (the scheme in any case, RFC 7235).
	Token string
	// Listen is the configured listen address (api.listen). Without a
	// token on a loopback listener, only Host headers naming the listener
	// (loopback IP, localhost or this address, with its port) are served:
	// see checkHost. Serve adds the listener's own address.
	Listen string
	// Status returns the /v1/status document (normally a Status value).
	Status func(ctx context.Context) any
	Log    *slog.Logger
}

// Server is the HTTP API. Create it with New, add handlers with Handle
// before Serve.
type Server struct {
	opts     Options
	mux      *routeMux
	log      *slog.Logger
	token    atomic.Pointer[[32]byte]   // SHA-256 of the token; nil: none
	hosts    atomic.Pointer[hostPolicy] // nil: any Host
	sessions *sessions                  // console logins (session.go)
	public   []string                   // HandlePublic's patterns
}

// New builds the API's routes.
func New(opts Options) *Server {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	s := &Server{opts: opts, mux: &routeMux{ServeMux: http.NewServeMux()}, log: opts.Log.With("component", "api"), sessions: newSessions()}
	if opts.Token != "" {
		h := sha256.Sum256([]byte(opts.Token))
		s.token.Store(&h)
	}
	s.setHosts(opts.Listen, "")
	s.mux.Handle("/healthz", get(http.HandlerFunc(s.healthz)))
	s.mux.Handle("/v1/status", get(http.HandlerFunc(s.status)))
	s.mux.Handle("/v1/feed", get(http.HandlerFunc(s.feed)))
	s.mux.Handle("/v1/assets", get(http.HandlerFunc(s.assets)))
	s.mux.Handle("/v1/assets/{id}", get(http.HandlerFunc(s.asset)))
	s.mux.Handle("/v1/assets/{id}/events", get(http.HandlerFunc(s.assetEvents)))
	s.mux.HandleFunc("/v1/session", s.session)
	s.mux.Handle("/v1/events/stream", get(http.HandlerFunc(s.stream)))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path, "")
	})
	return s
}

// Handle adds an endpoint (e.g. the transcode stage's media routes:
// "/v1/assets/{id}/{output}"). It is served behind the same
// authentication, with a write deadline of ExtraWriteTimeout (downloads of
// proxies take longer than API answers). Pattern follows http.ServeMux.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(ExtraWriteTimeout))
		jw := &jsonErrors{ResponseWriter: w}
		h.ServeHTTP(jw, r)
		jw.finish()
	}))
}

// HandlePublic adds an endpoint served WITHOUT authentication, GET and
// HEAD only, with the API's write deadline: static files that hold no
// data (the web console's pages, daemon/console; the page logs in through
// /v1/session). pattern is a path: "/x/{$}" serves exactly "/x/", "/x/"
// everything under it, "/x" exactly "/x"; no method, no wildcards.
func (s *Server) HandlePublic(pattern string, h http.Handler) {
	if strings.Contains(strings.TrimSuffix(pattern, "{$}"), "{") || !strings.HasPrefix(pattern, "/") {
		panic("api: HandlePublic pattern " + pattern + " is not a plain path")
	}
	s.public = append(s.public, pattern)
	s.mux.Handle(pattern, get(h))
}

// Write deadlines: API answers (a long-poll lasts up to MaxWait) and
// handlers added with Handle.
const (
	WriteTimeout      = MaxWait + 15*time.Second
	ExtraWriteTimeout = time.Hour
)

// Handler returns the whole API: recovery, authentication, routes.
func (s *Server) Handler() http.Handler {
	return s.recover(s.baseHeaders(s.checkHost(s.auth(s.checkUnsafe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(WriteTimeout))
		// An id is one path element: reject traversal before ServeMux
		// cleans the path and answers with a redirect.
		if rest, ok := strings.CutPrefix(r.URL.Path, "/v1/assets/"); ok && !ValidID(rest) && !s.extra(r) {
			WriteError(w, http.StatusBadRequest, "id must be 64 lowercase hex characters", "id")
			return
		}
		// ServeMux would answer a path that is not clean ("//v1/status",
		// "/v1/./feed") with a redirect and an HTML body: the API never
		// redirects, and every error body is JSON.
		if c := cleanPath(r.URL.Path); c != r.URL.Path {
			WriteError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s (not a canonical path; did you mean %s?)", r.URL.Path, c), "")
			return
		}
		s.mux.ServeHTTP(w, r)
	}))))))
}

// baseHeaders sets what every answer carries, errors and media included:
// no MIME sniffing, no framing (clickjacking). A handler may set its own
// Content-Security-Policy (the console's pages, the card report);
// WriteJSON's answers carry one that allows nothing.
func (s *Server) baseHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

// extra reports whether r matches a handler added with Handle (e.g.
// /v1/assets/{id}/proxy.mp4), which then parses its own path.
func (s *Server) extra(r *http.Request) bool {
	_, pattern := s.mux.Handler(r)
	return pattern != "" && pattern != "/" && pattern != "/v1/assets/{id}"
}

// isPublic reports whether path is served without authentication: /healthz,
// the console's login endpoint and what HandlePublic added (static files,
// no data in them), for a clean path only.
func (s *Server) isPublic(path string) bool {
	if path == "/healthz" || path == "/v1/session" {
		return true
	}
	if cleanPath(path) != path {
		return false
	}
	for _, p := range s.public {
		switch {
		case strings.HasSuffix(p, "/{$}"):
			if path == strings.TrimSuffix(p, "{$}") {
				return true
			}
		case strings.HasSuffix(p, "/"):
			if strings.HasPrefix(path, p) {
				return true
			}
		case path == p:
			return true
		}
	}
	return false
}

// Serve serves on ln until ctx is done, then shuts down; long-polls end
// as soon as ctx is cancelled.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.setHosts(s.opts.Listen, ln.Addr().String())
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		// No server-wide WriteTimeout: Handler sets a deadline per request
		// (WriteTimeout, or ExtraWriteTimeout for added handlers).
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		BaseContext:    func(net.Listener) context.Context { return ctx },
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc
	return nil
}

// get allows GET and HEAD only.
func get(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			WriteError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed", "")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) auth(next http.Handler) http.Handler {
	if s.opts.Token == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.isPublic(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		if !s.validToken(r.Header.Get("Authorization")) {
			// The console's session cookie (session.go) stands for the
			// token; what it sends to change state needs its CSRF token.
			if sess := s.sessions.get(r, time.Now()); sess != nil && r.Header.Get("Authorization") == "" {
				if unsafeMethod(r.Method) && !sess.csrfOK(r) {
					WriteError(w, http.StatusForbidden, "a "+r.Method+" with the session cookie needs the "+CSRFHeader+" header of the session", "")
					return
				}
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, sess)))
				return
			}
			if r.Header.Get("Authorization") != "" {
				s.sessions.slowFail() // a wrong token: as slow to guess here as at the login
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="ingestd"`)
			WriteError(w, http.StatusUnauthorized, "missing or invalid bearer token", "")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// validToken reports whether an Authorization header carries the token:
// the "Bearer" scheme in any case (RFC 7235), compared in constant time
// (both sides hashed first, so neither length nor content leaks).
func (s *Server) validToken(header string) bool {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(cred)))
	t := s.token.Load()
	return t != nil && subtle.ConstantTimeCompare(sum[:], t[:]) == 1
}

// SetToken replaces the token (api.token_file rewritten, on reload) and
// reports whether it changed; a change ends every console session (and
// with them their event streams): the old token and what it opened stop
// working at once. Turning the token on or off needs a restart (the Host
// and unsafe-request checks are chosen at start): an error.
func (s *Server) SetToken(tok string) (bool, error) {
	if s.opts.Token == "" || tok == "" {
		return false, errors.New("api: adding or removing api.token_file needs a restart")
	}
	h := sha256.Sum256([]byte(tok))
	if old := s.token.Load(); old != nil && *old == h {
		return false, nil
	}
	s.token.Store(&h)
	s.sessions.reset()
	return true, nil
}

// RequestHeader must be present (any value; the CLI sends "1") on a
// state-changing request (any method but GET, HEAD and OPTIONS) when no
// token is configured: a browser cannot send it cross-site without a CORS
// preflight, which the API never grants, so a web page cannot make a
// loopback daemon act (a form post to /v1/verify). A request whose
// Content-Type is application/json is accepted too, for the same reason.
const RequestHeader = "X-Ingestd-Request"

// Reads are guarded too: a browser marks what another site's page makes
// it fetch (Sec-Fetch-Site cross-site or same-site: another port of
// localhost is the same site), and without a token such a request is
// refused unless it is the top-level opening of a page (a link to the
// console). Another site's page could otherwise make the daemon search
// the catalog or stream a proxy into an <img> or <video> of its own.
// Clients that send no Sec-Fetch-* headers (the CLI, curl, a hub) are not
// browsers and are unaffected.
func (s *Server) checkUnsafe(next http.Handler) http.Handler {
	if s.opts.Token != "" {
		return next // the bearer token already proves the caller
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if site := r.Header.Get("Sec-Fetch-Site"); (site == "cross-site" || site == "same-site") && !topLevelOpen(r) {
			WriteError(w, http.StatusForbidden, "a request made by another site's page ("+site+") is refused without a token: open the console itself", "")
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if r.Header.Get(RequestHeader) == "" && mt != "application/json" {
				WriteError(w, http.StatusForbidden, "a "+r.Method+" without a token needs the "+RequestHeader+" header (or Content-Type: application/json)", "")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// topLevelOpen reports whether r is a browser opening a page in a tab
// (a GET navigation of a document, not a frame, image, script or fetch).
func topLevelOpen(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		r.Header.Get("Sec-Fetch-Mode") == "navigate" && r.Header.Get("Sec-Fetch-Dest") == "document"
}

// hostPolicy is the set of Host headers a tokenless loopback API serves.
type hostPolicy struct {
	port  string
	names map[string]bool // lowercase host names besides loopback IPs
}

// setHosts turns the host check on when there is no token and the API
// listens on loopback: listen is the configured address, bound the
// listener's (its port wins, e.g. for ":0").
func (s *Server) setHosts(listen, bound string) {
	if s.opts.Token != "" {
		s.hosts.Store(nil)
		return
	}
	addr := bound
	if addr == "" {
		addr = listen
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "0" || !loopbackHost(host) {
		s.hosts.Store(nil)
		return
	}
	p := &hostPolicy{port: port, names: map[string]bool{"localhost": true}}
	for _, a := range []string{listen, bound} {
		if h, _, err := net.SplitHostPort(a); err == nil && h != "" {
			p.names[strings.ToLower(strings.TrimSuffix(h, "."))] = true
		}
	}
	s.hosts.Store(p)
}

// loopbackHost: a loopback IP or localhost.
func loopbackHost(h string) bool {
	if strings.EqualFold(strings.TrimSuffix(h, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// AllowedHost reports whether a tokenless loopback API listening on port
// (with the extra names, e.g. the configured listen host) serves a request
// whose Host header is host: a loopback IP, localhost or one of names,
// with port (no port only for port 80).
func AllowedHost(host, port string, names map[string]bool) bool {
	h, p, err := net.SplitHostPort(host)
	if err != nil {
		h, p = host, "80"
		if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			h = h[1 : len(h)-1]
		}
	}
	if p != port || h == "" {
		return false
	}
	if ip := net.ParseIP(h); ip != nil {
		return ip.IsLoopback()
	}
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	return h == "localhost" || names[h]
}

// checkHost refuses, on a tokenless loopback API, a Host header that is
// not the listener's: a web page whose name an attacker re-points at
// 127.0.0.1 (DNS rebinding) sends its own name and could otherwise read
// the API, the backup included, through the victim's browser.
func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := s.hosts.Load(); p != nil && !AllowedHost(r.Host, p.port, p.names) {
			WriteError(w, http.StatusMisdirectedRequest, fmt.Sprintf("host %q is not served here: use 127.0.0.1:%s or localhost:%s (or configure api.token_file)", r.Host, p.port, p.port), "")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panic", "path", r.URL.Path, "panic", v)
				WriteError(w, http.StatusInternalServerError, "internal error", "")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// JSONCSP is the Content-Security-Policy of every JSON answer: nothing
// in it may run or load, and it may not be framed.
const JSONCSP = "default-src 'none'; frame-ancestors 'none'; sandbox"

// ErrorDoc is the body of every non-2xx response.
type ErrorDoc = wire.Error

// WriteError writes an ErrorDoc with the given status.
func WriteError(w http.ResponseWriter, code int, msg, param string) {
	WriteJSON(w, code, ErrorDoc{Error: msg, Param: param})
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", JSONCSP)
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("request failed", "path", r.URL.Path, "err", err)
	WriteError(w, http.StatusInternalServerError, "internal error", "")
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, wire.Health{Status: "ok"})
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	var doc any = map[string]any{"last_seq": s.opts.Store.LastSeq()}
	if s.opts.Status != nil {
		doc = s.opts.Status(r.Context())
	}
	WriteJSON(w, http.StatusOK, doc)
}

// FeedDoc is the body of GET /v1/feed (and of an asset's events).
type FeedDoc = wire.Feed

func (s *Server) feed(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, err := parseUint(q, "after")
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error(), "after")
		return
	}
	limit, err := parseLimit(q)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error(), "limit")
		return
	}
	wait, err := parseWait(q)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error(), "wait")
		return
	}
	if wait > 0 && s.opts.Store.LastSeq() <= after {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		err := s.opts.Store.Wait(ctx, after)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			s.internal(w, r, err)
			return
		}
	}
	evs, err := s.opts.Store.Events(after, limit)
	if err != nil {
		s.internal(w, r, fmt.Errorf("events after %d: %w", after, err))
		return
	}
	WriteJSON(w, http.StatusOK, feedDoc(evs, after))
}

// feedDoc is a page of events: next is the last seq in it, or cursor (the
// one the page was read after or before) when it is empty.
func feedDoc(evs []storage.Event, cursor uint64) FeedDoc {
	doc := FeedDoc{Events: evs, Next: cursor}
	if doc.Events == nil {
		doc.Events = []storage.Event{}
	}
	if n := len(evs); n > 0 {
		doc.Next = evs[n-1].Seq
	}
	return doc
}

// AssetsDoc is the body of GET /v1/assets (Scanned: how many assets a
// filtered request read, search.go).
type AssetsDoc = wire.AssetsPage

func (s *Server) assets(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after := q.Get("after")
	if after != "" && !ValidID(after) {
		WriteError(w, http.StatusBadRequest, "after must be an asset id (64 lowercase hex characters)", "after")
		return
	}
	limit, err := parseLimit(q)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error(), "limit")
		return
	}
	f, param, err := parseFilter(q)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error(), param)
		return
	}
	if !f.empty() {
		s.searchAssets(w, r, f, after, limit)
		return
	}
	docs, err := s.opts.Store.Assets(after, limit)
	if err != nil {
		s.internal(w, r, fmt.Errorf("assets after %q: %w", after, err))
		return
	}
	out := AssetsDoc{Assets: docs}
	if out.Assets == nil {
		out.Assets = []storage.AssetDoc{}
	}
	if len(docs) == limit {
		out.Next = docs[len(docs)-1].ID
	}
	WriteJSON(w, http.StatusOK, out)
}

func (s *Server) asset(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !ValidID(id) {
		WriteError(w, http.StatusBadRequest, "id must be 64 lowercase hex characters", "id")
		return
	}
	doc, err := s.opts.Store.Asset(id)
	if errors.Is(err, storage.ErrNotFound) {
		WriteError(w, http.StatusNotFound, "no asset "+id, "id")
		return
	}
	if err != nil {
		s.internal(w, r, fmt.Errorf("asset %s: %w", id, err))
		return
	}
	if doc.Locations == nil {
		doc.Locations = []storage.Location{}
	}
	WriteJSON(w, http.StatusOK, doc)
}

// assetEvents serves GET /v1/assets/{id}/events: the asset's events, paged
// with a seq cursor (after= oldest first; order=desc with before= newest
// first), each page one seek in the catalog's per-asset index.
func (s *Server) assetEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !ValidID(id) {
		WriteError(w, http.StatusBadRequest, "id must be 64 lowercase hex characters", "id")
		return
	}
	q := r.URL.Query()
	limit, err := parseLimit(q)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error(), "limit")
		return
	}
	var desc bool
	switch q.Get("order") {
	case "", "asc":
	case "desc":
		desc = true
	default:
		WriteError(w, http.StatusBadRequest, "order must be asc or desc, got "+strconv.Quote(q.Get("order")), "order")
		return
	}
	param, other := "after", "before"
	if desc {
		param, other = other, param
	}
	if q.Get(other) != "" {
		WriteError(w, http.StatusBadRequest, other+" is not a cursor of order="+map[bool]string{false: "asc", true: "desc"}[desc]+"; use "+param, other)
		return
	}
	cursor, err := parseUint(q, param)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error(), param)
		return
	}
	evs, err := s.opts.Store.AssetEvents(id, cursor, limit, desc)
	if errors.Is(err, storage.ErrNotFound) {
		WriteError(w, http.StatusNotFound, "no asset "+id, "id")
		return
	}
	if err != nil {
		s.internal(w, r, fmt.Errorf("events of asset %s: %w", id, err))
		return
	}
	WriteJSON(w, http.StatusOK, feedDoc(evs, cursor))
}

var reID = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ValidID reports whether id looks like an asset id: 64 lowercase hex.
func ValidID(id string) bool { return reID.MatchString(id) }

type query interface{ Get(string) string }

func parseUint(q query, name string) (uint64, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s must be a non-negative integer, got %q", name, v)
	}
	return n, nil
}

// ParseLimit reads the `limit` query parameter of a listing: DefaultLimit
// when absent, an error (400, param "limit") unless a positive integer,
// clamped to MaxLimit (docs/api.md: larger values are clamped).
func ParseLimit(q query) (int, error) { return parseLimit(q) }

func parseLimit(q query) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if errors.Is(err, strconv.ErrRange) && digits(v) {
		return MaxLimit, nil // a positive integer beyond int64: clamped like any above MaxLimit
	}
	if err != nil || n < 1 {
		return 0, fmt.Errorf("limit must be a positive integer, got %q", v)
	}
	return int(min(n, MaxLimit)), nil
}

// digits reports whether v is a non-empty run of ASCII digits (no sign).
func digits(v string) bool {
	for _, c := range []byte(v) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return v != ""
}

func parseWait(q query) (time.Duration, error) {
	v := q.Get("wait")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		// Bare integers are seconds, clamped like durations (any number of
		// digits: a huge one is still a wait longer than MaxWait).
		n, ierr := strconv.ParseUint(v, 10, 64)
		switch {
		case errors.Is(ierr, strconv.ErrRange) && digits(v), ierr == nil && n > uint64(MaxWait/time.Second):
			return MaxWait, nil
		case ierr != nil:
			return 0, fmt.Errorf("wait must be a duration like 30s, got %q", v)
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 {
		return 0, fmt.Errorf("wait must not be negative, got %q", v)
	}
	return min(d, MaxWait), nil
}
