package main_test

// The console's server side as an attacker sees it (issue 13 red team):
// the real daemon over real HTTP, no browser needed.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ingestd/ingestd/storage"
)

// consoleLogin logs in with the token and returns the session cookie and
// its CSRF token.
func consoleLogin(t *testing.T, base, token string, hdr map[string]string) (*http.Cookie, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/v1/session", strings.NewReader(`{"token":"`+token+`"}`))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		CSRF string `json:"csrf"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != 200 {
		t.Fatalf("login: %d %v", resp.StatusCode, err)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "ingestd_session" {
			return c, doc.CSRF
		}
	}
	t.Fatalf("login set no session cookie: %v", resp.Header)
	return nil, ""
}

func TestConsoleE2EAttackHTTP(t *testing.T) {
	const token = "console-attack-token"
	e := newEnv(t, token, "")
	e.start()
	defer e.stop()
	base := "http://" + e.addr

	// Behind a reverse proxy that terminates TLS (docs/console.md: "the
	// cookie is then Secure"), the daemon sees plain HTTP and the proxy's
	// X-Forwarded-Proto / Forwarded header: the cookie must be Secure.
	t.Run("SecureCookieBehindTLSProxy", func(t *testing.T) {
		for _, h := range []map[string]string{{"X-Forwarded-Proto": "https"}, {"Forwarded": `for=192.0.2.60;proto=https;by=203.0.113.43`}} {
			c, _ := consoleLogin(t, base, token, h)
			if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
				t.Errorf("login through a TLS proxy (%v): cookie %+v, want Secure, HttpOnly, SameSite=Strict", h, c)
			}
		}
		if c, _ := consoleLogin(t, base, token, nil); c.Secure {
			t.Errorf("login over plain HTTP (loopback): cookie Secure, which a browser would not send back")
		}
	})

	// Every answer carries nosniff and frame denial: errors, JSON, static
	// files, media routes, the event stream.
	t.Run("SecurityHeadersEverywhere", func(t *testing.T) {
		c, _ := consoleLogin(t, base, token, nil)
		for _, p := range []struct {
			path   string
			cookie bool
			code   int
		}{
			{"/", false, 200}, {"/ui/app.js", false, 200}, {"/ui/nope.js", false, 404}, {"/ui/%2e%2e/go.mod", false, 401},
			{"/healthz", false, 200}, {"/v1/status", false, 401}, {"/v1/status", true, 200}, {"/v1/nope", true, 404},
			{"/v1/assets/ZZ/proxy", true, 400}, {"/v1/assets/" + strings.Repeat("ab", 32) + "/proxy", true, 404},
			{"/v1/session", false, 200}, {"/v1/feed?after=x", true, 400},
		} {
			req, _ := http.NewRequest("GET", base+p.path, nil)
			req.URL.Opaque = p.path
			if p.cookie {
				req.AddCookie(c)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			h := resp.Header
			if resp.StatusCode != p.code || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" ||
				!strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Errorf("GET %s: %d (want %d), nosniff %q, X-Frame-Options %q, CSP %q", p.path, resp.StatusCode, p.code,
					h.Get("X-Content-Type-Options"), h.Get("X-Frame-Options"), h.Get("Content-Security-Policy"))
			}
			if strings.HasPrefix(h.Get("Content-Type"), "application/json") && !strings.HasSuffix(p.path, "/proxy") && !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
				t.Errorf("GET %s: JSON with CSP %q, want default-src 'none'", p.path, h.Get("Content-Security-Policy"))
			}
		}
	})

	// An event stream opened with the cookie must end when the session
	// does: logging out (or a stolen cookie's owner logging out) must stop
	// the status and every new file path flowing to it.
	t.Run("StreamEndsWithSession", func(t *testing.T) {
		c, csrf := consoleLogin(t, base, token, nil)
		req, _ := http.NewRequest("GET", base+"/v1/events/stream", nil)
		req.AddCookie(c)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("stream with the cookie: %d", resp.StatusCode)
		}
		lines := make(chan string, 1024)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		waitLine := func(what, prefix string) {
			t.Helper()
			deadline := time.After(15 * time.Second)
			for {
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatalf("stream ended before %s", what)
					}
					if strings.HasPrefix(l, prefix) {
						return
					}
				case <-deadline:
					t.Fatalf("no %s on the stream", what)
				}
			}
		}
		waitLine("status event", "event: status")
		del, _ := http.NewRequest("DELETE", base+"/v1/session", nil)
		del.AddCookie(c)
		del.Header.Set("X-Ingestd-CSRF", csrf)
		if code, err := httpDo(del); err != nil || code != 200 {
			t.Fatalf("logout: %d %v", code, err)
		}
		// A file written after the logout must not reach the stream.
		e.writeFile("after-logout.txt", []byte("written after the logout\n"))
		deadline := time.After(10 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					return // ended: right
				}
				if strings.Contains(l, "after-logout.txt") {
					t.Fatalf("the stream of a logged-out session got a new file's event: %s", l)
				}
			case <-deadline:
				t.Fatal("the event stream of a logged-out session is still open 10 s after the logout")
			}
		}
	})

	// The login answers wrong tokens slowly, one at a time; a wrong bearer
	// token on any other endpoint must be as slow, or the login's limit is
	// bypassed by guessing on /v1/status. Only a lower bound is asserted:
	// it cannot fail on a slow machine.
	t.Run("TokenGuessingThrottled", func(t *testing.T) {
		const n = 8
		start := time.Now()
		var wg sync.WaitGroup
		codes := make([]int, n)
		for i := range n {
			wg.Go(func() {
				req, _ := newReq("GET", base+"/v1/status", "guess-"+strings.Repeat("x", i))
				codes[i], _ = httpDo(req)
			})
		}
		wg.Wait()
		took := time.Since(start)
		for i, c := range codes {
			if c != 401 {
				t.Errorf("guess %d: %d, want 401", i, c)
			}
		}
		if took < (n-1)*400*time.Millisecond {
			t.Errorf("%d wrong bearer tokens answered in %v: guessing the token on the API is not throttled like the login (500 ms each, one at a time)", n, took)
		}
		// The right token is not held up behind guesses.
		if code, _ := e.get("/v1/status", token); code != 200 {
			t.Errorf("/v1/status with the token: %d", code)
		}
	})
}

// consoleStreamIDs opens the event stream (without status) with the query
// and Last-Event-ID given and returns the ids of the first n feed events.
func consoleStreamIDs(t *testing.T, base, query, lastID string, n int) []string {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/v1/events/stream?status=0"+query, nil)
	req.Header.Set("X-Ingestd-Request", "1")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("stream%s: %d", query, resp.StatusCode)
	}
	ids := make(chan []string, 1)
	go func() {
		var got []string
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() && len(got) < n {
			if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				got = append(got, id)
			}
		}
		ids <- got
	}()
	select {
	case got := <-ids:
		return got
	case <-time.After(15 * time.Second):
		t.Fatalf("stream%s (Last-Event-ID %q): fewer than %d events in 15 s", query, lastID, n)
		return nil
	}
}

// TestConsoleE2EStreamResume: a stream resumes after the last event a tab
// got, without gaps, and an EventSource reconnecting by itself (its URL's
// old ?after= plus Last-Event-ID) is not sent again what it already had.
func TestConsoleE2EStreamResume(t *testing.T) {
	e := newEnv(t, "", "")
	e.start()
	defer e.stop()
	base := "http://" + e.addr
	for i := range 4 {
		e.writeFile(fmt.Sprintf("resume-%d.txt", i), []byte(fmt.Sprintf("file %d\n", i)))
	}
	evs := e.waitFeed(30*time.Second, "four files cataloged", func(evs []storage.Event) bool {
		return len(countPaths(evs, storage.EvLocationAdded)) >= 4
	})
	if len(evs) < 8 {
		t.Fatalf("feed: %s", dumpEvents(evs))
	}
	want := func(from, n int) []string {
		var s []string
		for _, ev := range evs[from : from+n] {
			s = append(s, fmt.Sprint(ev.Seq))
		}
		return s
	}
	mid := fmt.Sprint(evs[3].Seq)
	for _, c := range []struct {
		what, query, lastID string
		from                int
	}{
		{"?after=0", "&after=0", "", 0},
		{"Last-Event-ID alone", "", mid, 4},
		{"a reconnect: stale ?after=0 and Last-Event-ID", "&after=0", mid, 4},
		{"?after= later than Last-Event-ID", "&after=" + mid, fmt.Sprint(evs[1].Seq), 4},
	} {
		if got, w := consoleStreamIDs(t, base, c.query, c.lastID, 4), want(c.from, 4); strings.Join(got, ",") != strings.Join(w, ",") {
			t.Errorf("%s: ids %v, want %v", c.what, got, w)
		}
	}
}

// TestConsoleE2ETokenRotation: rewriting api.token_file and reloading
// (SIGHUP) replaces the token at once: the old token and every console
// session it opened are refused, an open event stream ends, and the new
// token works. Before, the old token stayed valid until a restart.
func TestConsoleE2ETokenRotation(t *testing.T) {
	const oldTok, newTok = "rotate-old-token", "rotate-new-token"
	e := newEnv(t, oldTok, "")
	e.start()
	defer e.stop()
	base := "http://" + e.addr
	c, _ := consoleLogin(t, base, oldTok, nil)
	withCookie := func(path string) int {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.AddCookie(c)
		code, err := httpDo(req)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	if code := withCookie("/v1/status"); code != 200 {
		t.Fatalf("status with the session: %d", code)
	}
	req, _ := http.NewRequest("GET", base+"/v1/events/stream", nil)
	req.AddCookie(c)
	stream, err := http.DefaultClient.Do(req)
	if err != nil || stream.StatusCode != 200 {
		t.Fatalf("stream: %v %v", stream, err)
	}
	defer stream.Body.Close()
	ended := make(chan struct{})
	go func() { io.Copy(io.Discard, stream.Body); close(ended) }()

	if err := os.WriteFile(filepath.Join(e.dir, "token"), []byte(newTok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.proc.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, _ := e.get("/v1/status", newTok)
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new token is still refused 15 s after the reload: %d", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _ := e.get("/v1/status", oldTok); code != 401 {
		t.Errorf("the old token after the rotation: %d, want 401", code)
	}
	if code := withCookie("/v1/status"); code != 401 {
		t.Errorf("a session opened with the old token: %d, want 401", code)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Errorf("the event stream of a session opened with the old token is still open 10 s after the rotation")
	}
	c2, _ := consoleLogin(t, base, newTok, nil)
	c = c2
	if code := withCookie("/v1/status"); code != 200 {
		t.Errorf("a session with the new token: %d", code)
	}
	if !strings.Contains(e.stderr.String(), "api token replaced") {
		t.Errorf("the rotation is not logged:\n%s", e.stderr.String())
	}
}
