package api_test

// Unit tests of what the web console adds to the API: the session cookie
// and its CSRF rule (session.go), the filtered asset listing (search.go)
// and the event stream (stream.go), against a real catalog.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
)

func serveConsole(t *testing.T, token string, n int) (*httptest.Server, *api.Server) {
	t.Helper()
	cat := fixture(t, n)
	console := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "console") })
	s := api.New(api.Options{Store: cat, Token: token, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Status: func(context.Context) any { return map[string]any{"last_seq": cat.LastSeq()} }})
	s.HandlePublic("/{$}", console)
	s.HandlePublic("/ui/", console)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, s
}

func consoleDo(t *testing.T, method, url string, hdr map[string]string, body string, cookie *http.Cookie) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestSessionLoginCookieCSRF(t *testing.T) {
	ts, s := serveConsole(t, "s3cret", 1)
	// A state-changing endpoint to exercise the CSRF rule.
	s.Handle("/v1/poke", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { api.WriteJSON(w, 202, map[string]string{"ok": "1"}) }))
	jsonCT := map[string]string{"Content-Type": "application/json"}

	// Console files and /v1/session are public; data is not.
	for _, c := range []struct {
		path string
		want int
	}{{"/", 200}, {"/ui/app.js", 200}, {"/v1/session", 200}, {"/healthz", 200}, {"/v1/status", 401}, {"/ui/../v1/status", 401}, {"/nope", 401}} {
		if r := consoleDo(t, "GET", ts.URL+c.path, nil, "", nil); r.StatusCode != c.want {
			t.Errorf("GET %s without auth: %d, want %d", c.path, r.StatusCode, c.want)
		}
	}
	// Login: JSON only, right token only.
	for _, c := range []struct {
		name string
		hdr  map[string]string
		body string
		want int
	}{
		{"form post", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "token=s3cret", 415},
		{"wrong token", jsonCT, `{"token":"nope"}`, 401},
		{"bad body", jsonCT, `{`, 400},
		{"right token", jsonCT, `{"token":"s3cret"}`, 200},
	} {
		r := consoleDo(t, "POST", ts.URL+"/v1/session", c.hdr, c.body, nil)
		if r.StatusCode != c.want {
			t.Errorf("login %s: %d, want %d", c.name, r.StatusCode, c.want)
		}
		if c.want != 200 && len(r.Cookies()) > 0 {
			t.Errorf("login %s set a cookie", c.name)
		}
	}
	r := consoleDo(t, "POST", ts.URL+"/v1/session", jsonCT, `{"token":"s3cret"}`, nil)
	var doc api.SessionDoc
	json.NewDecoder(r.Body).Decode(&doc)
	var ck *http.Cookie
	for _, c := range r.Cookies() {
		if c.Name == api.SessionCookie {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || doc.CSRF == "" || !doc.Authenticated {
		t.Fatalf("login: cookie %+v, doc %+v", ck, doc)
	}
	sess := &http.Cookie{Name: ck.Name, Value: ck.Value}
	for _, c := range []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		cookie *http.Cookie
		want   int
	}{
		{"GET with cookie", "GET", "/v1/status", nil, sess, 200},
		{"GET with forged cookie", "GET", "/v1/status", nil, &http.Cookie{Name: api.SessionCookie, Value: "x"}, 401},
		{"POST with cookie, no CSRF", "POST", "/v1/poke", map[string]string{api.RequestHeader: "1"}, sess, 403},
		{"POST with cookie, wrong CSRF", "POST", "/v1/poke", map[string]string{api.CSRFHeader: "00"}, sess, 403},
		{"POST with cookie and CSRF", "POST", "/v1/poke", map[string]string{api.CSRFHeader: doc.CSRF}, sess, 202},
		{"POST with bearer", "POST", "/v1/poke", map[string]string{"Authorization": "Bearer s3cret"}, nil, 202},
		{"cookie with a wrong bearer", "GET", "/v1/status", map[string]string{"Authorization": "Bearer nope"}, sess, 401},
		{"logout without CSRF", "DELETE", "/v1/session", nil, sess, 403},
		{"logout", "DELETE", "/v1/session", map[string]string{api.CSRFHeader: doc.CSRF}, sess, 200},
		{"GET after logout", "GET", "/v1/status", nil, sess, 401},
	} {
		if r := consoleDo(t, c.method, ts.URL+c.path, c.hdr, "", c.cookie); r.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", c.name, r.StatusCode, c.want)
		}
	}
}

func TestSessionTokenless(t *testing.T) {
	ts, _ := serveConsole(t, "", 1)
	r := consoleDo(t, "GET", ts.URL+"/v1/session", nil, "", nil)
	var doc api.SessionDoc
	json.NewDecoder(r.Body).Decode(&doc)
	if r.StatusCode != 200 || doc.Auth != "none" || !doc.Authenticated {
		t.Errorf("GET /v1/session tokenless: %d %+v", r.StatusCode, doc)
	}
	if r := consoleDo(t, "POST", ts.URL+"/v1/session", map[string]string{"Content-Type": "application/json"}, `{"token":""}`, nil); r.StatusCode != 405 {
		t.Errorf("login without a token configured: %d, want 405", r.StatusCode)
	}
}

func TestAssetsSearch(t *testing.T) {
	ts, _ := serveConsole(t, "", 30) // clip-00.mov … clip-29.mov, no kind
	list := func(q string) (api.AssetsDoc, int) {
		var d api.AssetsDoc
		code := get(t, ts.URL+"/v1/assets?"+q, "", &d)
		return d, code
	}
	for _, c := range []struct {
		q     string
		want  int
		code  int
		param string
	}{
		{"q=clip-1", 10, 200, ""},
		{"q=CLIP-07", 1, 200, ""},
		{"q=footage/clip-2", 10, 200, ""},
		{"q=nothing", 0, 200, ""},
		{"kind=unknown", 30, 200, ""},
		{"kind=video", 0, 200, ""},
		{"proxy=none&q=clip-0", 10, 200, ""},
		{"proxy=failed", 0, 200, ""},
		{"since=2000-01-01", 30, 200, ""},
		{"until=2000-01-01", 0, 200, ""},
		{"q=" + fmt.Sprintf("%063x", 0), 15, 200, ""}, // id prefix: ids 0x1…0xf
		{"kind=film", 0, 400, "kind"},
		{"proxy=maybe", 0, 400, "proxy"},
		{"since=yesterday", 0, 400, "since"},
	} {
		d, code := list(c.q)
		if code != c.code {
			t.Errorf("%s: status %d, want %d", c.q, code, c.code)
			continue
		}
		if code == 200 && (len(d.Assets) != c.want || d.Scanned == nil || *d.Scanned != 30 || d.Next != "") {
			t.Errorf("%s: %d assets (scanned %v, next %q), want %d, scanned 30, next \"\"", c.q, len(d.Assets), d.Scanned, d.Next, c.want)
		}
	}
	// Paging a filtered listing: next continues where the page ended.
	d, _ := list("q=clip&limit=7")
	seen := len(d.Assets)
	for d.Next != "" {
		d, _ = list("q=clip&limit=7&after=" + d.Next)
		seen += len(d.Assets)
	}
	if seen != 30 {
		t.Errorf("paged search saw %d assets, want 30", seen)
	}
	// No filter: the plain listing, without `scanned`.
	if d, _ := list("limit=5"); len(d.Assets) != 5 || d.Scanned != nil {
		t.Errorf("plain listing: %d assets, scanned %v", len(d.Assets), d.Scanned)
	}
}

func TestEventStream(t *testing.T) {
	ts, _ := serveConsole(t, "", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/v1/events/stream?after=0", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("stream: %d %q", resp.StatusCode, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	var types []string
	for sc.Scan() && len(types) < 1 {
		if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			types = append(types, ev)
		}
	}
	if len(types) == 0 || types[0] != "status" {
		t.Fatalf("first stream event %v, want status", types)
	}
	for _, c := range []struct{ q, param string }{{"after=x", "after"}, {"status=2", "status"}} {
		var e api.ErrorDoc
		if code := get(t, ts.URL+"/v1/events/stream?"+c.q, "", &e); code != 400 || e.Param != c.param {
			t.Errorf("stream?%s: %d %+v", c.q, code, e)
		}
	}
}

// TestEventStreamTails: events appended after the stream opened arrive
// as `event: feed` with their seq as id.
func TestEventStreamTails(t *testing.T) {
	cat := fixture(t, 0)
	s := api.New(api.Options{Store: cat, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/v1/events/stream?status=0", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	go func() {
		time.Sleep(200 * time.Millisecond)
		putFile(t, cat, "new.mov", 41)
	}()
	sc := bufio.NewScanner(resp.Body)
	var id string
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "id: "); ok {
			id = v
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok && id != "" {
			var ev storage.Event
			if err := json.Unmarshal([]byte(v), &ev); err != nil || fmt.Sprint(ev.Seq) != id || ev.Path != "new.mov" {
				t.Fatalf("feed event %q (id %s): %v", v, id, err)
			}
			return
		}
	}
	t.Fatalf("no feed event on the stream: %v", sc.Err())
}

// BenchmarkAssetsSearchCap: one filtered request that matches nothing
// reads SearchScanCap (20,000) assets, the most any filtered request
// reads, whatever the catalog size.
func BenchmarkAssetsSearchCap(b *testing.B) {
	cat := benchCatalog(b, api.SearchScanCap+100)
	s := api.New(api.Options{Store: cat, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	b.ResetTimer()
	for b.Loop() {
		resp, err := http.Get(ts.URL + "/v1/assets?q=no-such-name&limit=50")
		if err != nil {
			b.Fatal(err)
		}
		var d api.AssetsDoc
		json.NewDecoder(resp.Body).Decode(&d)
		resp.Body.Close()
		if d.Scanned == nil || *d.Scanned != api.SearchScanCap || d.Next == "" {
			b.Fatalf("scanned %v next %q", d.Scanned, d.Next)
		}
	}
}

func benchCatalog(tb testing.TB, n int) *catalog.Catalog {
	tb.Helper()
	cat := catalogtest.Open(tb, tb.TempDir())
	for i := range n {
		rec := storage.FileRecord{Volume: "footage", Path: fmt.Sprintf("day %d/A%03d_C%04d.mov", i/1000, i%997, i), Size: int64(100 + i),
			MTime: time.Unix(1700000000, 0).UTC(), Inode: uint64(1000 + i), Dev: 1,
			Hashes: storage.Hashes{BLAKE3: fmt.Sprintf("%064x", i+1), XXH128: fmt.Sprintf("%032x", i+1)}}
		if _, err := cat.PutFile(rec); err != nil {
			tb.Fatal(err)
		}
	}
	return cat
}
