package api

// Browser sessions for the web console (docs/console.md): with
// api.token_file, the console's login form exchanges the token for a
// session cookie (HttpOnly, SameSite=Strict) that the auth middleware
// accepts like the bearer token; a state-changing request made with the
// cookie must carry the session's CSRF token in CSRFHeader.

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ingestd/ingestd/daemon/api/wire"
)

// Session cookie and CSRF header names, and limits.
const (
	SessionCookie = "ingestd_session"
	CSRFHeader    = "X-Ingestd-CSRF"
	SessionTTL    = 12 * time.Hour
	maxSessions   = 256
	// loginFailDelay slows down guessing: failed logins are answered
	// one at a time, each after this pause.
	loginFailDelay = 500 * time.Millisecond
)

type session struct {
	key     [32]byte // SHA-256 of the cookie value (its key in sessions.byID)
	csrf    string
	expires time.Time
}

// sessions holds the console's logins in memory: a restart logs
// everyone out (the page shows the login form again).
type sessions struct {
	mu       sync.Mutex
	byID     map[[32]byte]*session // keyed by the SHA-256 of the cookie value
	failMu   sync.Mutex
	failWait time.Duration
}

func newSessions() *sessions {
	return &sessions{byID: map[[32]byte]*session{}, failWait: loginFailDelay}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b)
}

// create starts a session; it returns the cookie value and the session.
func (ss *sessions) create(now time.Time) (string, *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, s := range ss.byID {
		if now.After(s.expires) {
			delete(ss.byID, k)
		}
	}
	if len(ss.byID) >= maxSessions { // drop the one closest to expiry
		var oldest [32]byte
		var t time.Time
		for k, s := range ss.byID {
			if t.IsZero() || s.expires.Before(t) {
				oldest, t = k, s.expires
			}
		}
		delete(ss.byID, oldest)
	}
	id := randHex(32)
	s := &session{key: sha256.Sum256([]byte(id)), csrf: randHex(32), expires: now.Add(SessionTTL)}
	ss.byID[s.key] = s
	return id, s
}

// reset ends every session (the token changed).
func (ss *sessions) reset() {
	ss.mu.Lock()
	clear(ss.byID)
	ss.mu.Unlock()
}

// alive reports whether s is still a session: not logged out, not
// expired, not dropped for a newer one. A long request made with the
// cookie (the event stream) asks it to end when the session does.
func (ss *sessions) alive(s *session, now time.Time) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.byID[s.key] == s && !now.After(s.expires)
}

// slowFail answers a wrong credential (a login or a bearer token) one at
// a time, each after failWait: guessing the token is as slow on any
// endpoint as on the login form.
func (ss *sessions) slowFail() {
	ss.failMu.Lock()
	time.Sleep(ss.failWait)
	ss.failMu.Unlock()
}

type sessionKey struct{}

// requestSession returns the session r was authenticated with (the
// console's cookie), or nil (a bearer token, or no authentication).
func requestSession(r *http.Request) *session {
	s, _ := r.Context().Value(sessionKey{}).(*session)
	return s
}

// secureRequest reports whether the browser reached the API over TLS:
// directly, or through a reverse proxy terminating TLS that says so
// (X-Forwarded-Proto or Forwarded: proto=https). The cookie is then
// Secure. Trusting the header cannot weaken anything: it only keeps the
// cookie off plain-HTTP requests of the client that sent it.
func secureRequest(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if p, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ","); strings.EqualFold(strings.TrimSpace(p), "https") {
		return true
	}
	for _, part := range strings.FieldsFunc(strings.ToLower(r.Header.Get("Forwarded")), func(c rune) bool { return c == ';' || c == ',' }) {
		if strings.TrimSpace(part) == "proto=https" {
			return true
		}
	}
	return false
}

// get returns the live session named by r's cookie, or nil.
func (ss *sessions) get(r *http.Request, now time.Time) *session {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	k := sha256.Sum256([]byte(c.Value))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.byID[k]
	if s == nil {
		return nil
	}
	if now.After(s.expires) {
		delete(ss.byID, k)
		return nil
	}
	return s
}

func (ss *sessions) drop(r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		ss.mu.Lock()
		delete(ss.byID, sha256.Sum256([]byte(c.Value)))
		ss.mu.Unlock()
	}
}

// csrfOK reports whether r carries the session's CSRF token.
func (s *session) csrfOK(r *http.Request) bool {
	got := r.Header.Get(CSRFHeader)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

// unsafeMethod: a method that may change state.
func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// SessionDoc is the body of GET and POST /v1/session.
type SessionDoc = wire.Session

// session serves /v1/session (no authentication needed: it is how one
// authenticates): GET says whether the caller is logged in, POST with a
// JSON body {"token": "..."} logs in (sets the cookie), DELETE logs out.
func (s *Server) session(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	if s.opts.Token == "" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			WriteError(w, http.StatusMethodNotAllowed, "no api.token_file configured: there is nothing to log in to", "")
			return
		}
		WriteJSON(w, http.StatusOK, SessionDoc{Auth: "none", Authenticated: true})
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		doc := SessionDoc{Auth: "token"}
		if sess := s.sessions.get(r, now); sess != nil {
			doc.Authenticated, doc.CSRF, doc.Expires = true, sess.csrf, &sess.expires
		} else if s.validToken(r.Header.Get("Authorization")) {
			doc.Authenticated = true
		}
		WriteJSON(w, http.StatusOK, doc)
	case http.MethodPost:
		// JSON only: a cross-site form cannot send it without a CORS
		// preflight (no login CSRF).
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			WriteError(w, http.StatusUnsupportedMediaType, "log in with Content-Type: application/json and {\"token\": \"...\"}", "")
			return
		}
		var body struct {
			Token string `json:"token"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil {
			WriteError(w, http.StatusBadRequest, "body must be {\"token\": \"...\"}", "token")
			return
		}
		if !s.validToken("Bearer " + body.Token) {
			s.sessions.slowFail()
			s.log.Warn("console login refused: wrong token", "remote", r.RemoteAddr)
			WriteError(w, http.StatusUnauthorized, "wrong token", "token")
			return
		}
		id, sess := s.sessions.create(now)
		http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: secureRequest(r), Expires: sess.expires})
		s.log.Info("console login", "remote", r.RemoteAddr)
		WriteJSON(w, http.StatusOK, SessionDoc{Auth: "token", Authenticated: true, CSRF: sess.csrf, Expires: &sess.expires})
	case http.MethodDelete:
		sess := s.sessions.get(r, now)
		if sess != nil && !sess.csrfOK(r) {
			WriteError(w, http.StatusForbidden, "missing or invalid "+CSRFHeader+" header", "")
			return
		}
		s.sessions.drop(r)
		http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: secureRequest(r), MaxAge: -1})
		WriteJSON(w, http.StatusOK, SessionDoc{Auth: "token"})
	default:
		w.Header().Set("Allow", "GET, HEAD, POST, DELETE")
		WriteError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed", "")
	}
}
