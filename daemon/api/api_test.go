package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
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

// fixture opens a real catalog in a temp dir with n files cataloged.
func fixture(t *testing.T, n int) *catalog.Catalog {
	t.Helper()
	cat := catalogtest.Open(t, t.TempDir())
	for i := range n {
		putFile(t, cat, fmt.Sprintf("clip-%02d.mov", i), i)
	}
	return cat
}

func putFile(t *testing.T, cat *catalog.Catalog, path string, i int) storage.FileRecord {
	t.Helper()
	id := fmt.Sprintf("%064x", i+1)
	rec := storage.FileRecord{Volume: "footage", Path: path, Size: int64(100 + i), MTime: time.Unix(1700000000, 0).UTC(),
		Inode: uint64(1000 + i), Dev: 1, Hashes: storage.Hashes{BLAKE3: id, XXH128: fmt.Sprintf("%032x", i+1)}}
	if _, err := cat.PutFile(rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func serve(t *testing.T, cat *catalog.Catalog, token string) (*httptest.Server, *api.Server) {
	t.Helper()
	s := api.New(api.Options{Store: cat, Token: token, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, s
}

func get(t *testing.T, url, token string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: content-type %q", url, ct)
	}
	body, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("%s: %d %q: %v", url, resp.StatusCode, body, err)
		}
	}
	return resp.StatusCode
}

func TestFeedPaging(t *testing.T) {
	cat := fixture(t, 5)
	ts, _ := serve(t, cat, "")
	var all []storage.Event
	var after uint64
	for range 100 {
		var d api.FeedDoc
		if code := get(t, fmt.Sprintf("%s/v1/feed?after=%d&limit=3", ts.URL, after), "", &d); code != 200 {
			t.Fatalf("status %d", code)
		}
		if len(d.Events) > 3 {
			t.Fatalf("limit 3 returned %d", len(d.Events))
		}
		if len(d.Events) == 0 {
			if d.Next != after {
				t.Errorf("empty page: next %d, want after %d", d.Next, after)
			}
			break
		}
		if d.Next != d.Events[len(d.Events)-1].Seq {
			t.Errorf("next %d is not the last seq %d", d.Next, d.Events[len(d.Events)-1].Seq)
		}
		all = append(all, d.Events...)
		after = d.Next
	}
	want, err := cat.Events(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(want) || len(all) < 5 {
		t.Fatalf("paged %d events, catalog has %d", len(all), len(want))
	}
	for i := range all {
		if all[i].Seq != want[i].Seq || all[i].Type != want[i].Type || all[i].Path != want[i].Path {
			t.Errorf("event %d: %+v, want %+v", i, all[i], want[i])
		}
		if i > 0 && all[i].Seq <= all[i-1].Seq {
			t.Errorf("seq not increasing: %d after %d", all[i].Seq, all[i-1].Seq)
		}
	}
	var d api.FeedDoc
	get(t, ts.URL+"/v1/feed?limit=100000", "", &d)
	if len(d.Events) != len(want) {
		t.Errorf("clamped limit returned %d events", len(d.Events))
	}
	// docs/api.md: values above 1000 are clamped, whatever their size
	// (beyond int64 too), here and in every listing; so is a wait in
	// seconds beyond 60 s (here answered at once: events are there).
	for _, q := range []string{"limit=1" + strings.Repeat("0", 40), "limit=18446744073709551616", "wait=1" + strings.Repeat("0", 30), "wait=100000"} {
		var d api.FeedDoc
		if code := get(t, ts.URL+"/v1/feed?"+q, "", &d); code != 200 || len(d.Events) != len(want) {
			t.Errorf("feed?%s: %d with %d events, want 200 with %d (clamped)", q, code, len(d.Events), len(want))
		}
	}
	var ad api.AssetsDoc
	if code := get(t, ts.URL+"/v1/assets?limit=99999999999999999999999", "", &ad); code != 200 {
		t.Errorf("assets?limit=<beyond int64>: %d, want 200 (clamped)", code)
	}
	var raw map[string]any
	get(t, fmt.Sprintf("%s/v1/feed?after=%d", ts.URL, cat.LastSeq()), "", &raw)
	if evs, ok := raw["events"].([]any); !ok || len(evs) != 0 {
		t.Errorf("empty feed: events %#v, want []", raw["events"])
	}
}

// TestFeedLongPoll: a waiting request returns the event that arrives
// during the wait; a request whose wait runs out returns [] and next=after.
func TestFeedLongPoll(t *testing.T) {
	cat := fixture(t, 1)
	ts, _ := serve(t, cat, "")
	last := cat.LastSeq()
	got := make(chan api.FeedDoc, 1)
	go func() {
		var d api.FeedDoc
		get(t, fmt.Sprintf("%s/v1/feed?after=%d&wait=60s", ts.URL, last), "", &d)
		got <- d
	}()
	time.Sleep(200 * time.Millisecond) // let the request start waiting
	select {
	case d := <-got:
		t.Fatalf("long-poll returned before any event: %+v", d)
	default:
	}
	putFile(t, cat, "late.mov", 7)
	d := <-got
	if len(d.Events) == 0 || d.Events[0].Seq <= last || d.Events[0].Path != "late.mov" {
		t.Fatalf("long-poll got %+v", d)
	}
	var empty api.FeedDoc
	get(t, fmt.Sprintf("%s/v1/feed?after=%d&wait=50ms", ts.URL, cat.LastSeq()), "", &empty)
	if len(empty.Events) != 0 || empty.Next != cat.LastSeq() {
		t.Errorf("timed-out wait: %+v", empty)
	}
}

// TestLongPollEndsOnShutdown: cancelling Serve's context ends a waiting
// request promptly instead of holding shutdown for the whole wait.
func TestLongPollEndsOnShutdown(t *testing.T) {
	cat := fixture(t, 0)
	s := api.New(api.Options{Store: cat, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	got := make(chan int, 1)
	go func() {
		got <- get(t, fmt.Sprintf("http://%s/v1/feed?after=%d&wait=60s", ln.Addr(), cat.LastSeq()), "", nil)
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("long-poll held past shutdown")
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

func TestAssets(t *testing.T) {
	cat := fixture(t, 5)
	ts, _ := serve(t, cat, "")
	var ids []string
	after := ""
	for range 10 {
		var d api.AssetsDoc
		if code := get(t, ts.URL+"/v1/assets?limit=2&after="+after, "", &d); code != 200 {
			t.Fatalf("status %d", code)
		}
		for _, a := range d.Assets {
			ids = append(ids, a.ID)
			if len(a.Locations) != 1 || a.Locations[0].Volume != "footage" {
				t.Errorf("asset %s locations %+v", a.ID, a.Locations)
			}
		}
		if d.Next == "" {
			break
		}
		after = d.Next
	}
	if len(ids) != 5 {
		t.Fatalf("listed %d assets, want 5: %v", len(ids), ids)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Errorf("ids not ascending: %s after %s", ids[i], ids[i-1])
		}
	}
	var doc storage.AssetDoc
	if code := get(t, ts.URL+"/v1/assets/"+ids[2], "", &doc); code != 200 || doc.ID != ids[2] || doc.Hashes.BLAKE3 != ids[2] || len(doc.Locations) != 1 {
		t.Errorf("asset %s: %d %+v", ids[2], code, doc)
	}
	var e api.ErrorDoc
	if code := get(t, ts.URL+"/v1/assets/"+strings.Repeat("f", 64), "", &e); code != 404 || e.Param != "id" {
		t.Errorf("unknown id: %d %+v", code, e)
	}
}

func TestBadParams(t *testing.T) {
	cat := fixture(t, 1)
	ts, _ := serve(t, cat, "")
	cases := []struct{ name, path, param string }{
		{"negative after", "/v1/feed?after=-1", "after"},
		{"garbage after", "/v1/feed?after=x", "after"},
		{"overflowing after", "/v1/feed?after=184467440737095516160", "after"},
		{"zero limit", "/v1/feed?limit=0", "limit"},
		{"negative limit", "/v1/feed?limit=-1", "limit"},
		{"garbage wait", "/v1/feed?wait=soon", "wait"},
		{"negative wait", "/v1/feed?wait=-5s", "wait"},
		{"assets after not an id", "/v1/assets?after=zz", "after"},
		{"assets after traversal", "/v1/assets?after=..%2F..%2Fx", "after"},
		{"assets bad limit", "/v1/assets?limit=ten", "limit"},
		{"uppercase id", "/v1/assets/" + strings.Repeat("F", 64), "id"},
		{"short id", "/v1/assets/abc", "id"},
		{"traversal id", "/v1/assets/..%2f..%2fetc%2fpasswd", "id"},
		{"dot-dot id", "/v1/assets/..", "id"},
		{"nested id", "/v1/assets/" + strings.Repeat("a", 64) + "/../x", "id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var e api.ErrorDoc
			if code := get(t, ts.URL+tc.path, "", &e); code != 400 || e.Param != tc.param || e.Error == "" {
				t.Errorf("%s: %d %+v, want 400 param %s", tc.path, code, e, tc.param)
			}
		})
	}
	var e api.ErrorDoc
	if code := get(t, ts.URL+"/v2/feed", "", &e); code != 404 || e.Error == "" {
		t.Errorf("unknown route: %d %+v", code, e)
	}
	resp, err := http.Post(ts.URL+"/v1/feed", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") == "" {
		t.Errorf("POST: %d allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestAuth(t *testing.T) {
	cat := fixture(t, 1)
	ts, s := serve(t, cat, "tok")
	s.Handle("/v1/extra", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { api.WriteJSON(w, 200, map[string]int{"x": 1}) }))
	for _, p := range []string{"/v1/status", "/v1/feed", "/v1/assets", "/v1/extra", "/nope"} {
		for _, tok := range []string{"", "bad", "tokk", "to"} {
			if code := get(t, ts.URL+p, tok, nil); code != 401 {
				t.Errorf("%s with token %q: %d, want 401", p, tok, code)
			}
		}
		want := 200
		if p == "/nope" {
			want = 404
		}
		if code := get(t, ts.URL+p, "tok", nil); code != want {
			t.Errorf("%s with token: %d, want %d", p, code, want)
		}
	}
	if code := get(t, ts.URL+"/healthz", "", nil); code != 200 {
		t.Errorf("healthz without token: %d", code)
	}
}

// TestExtraHandler: a stage's handler under /v1/assets/{id}/{output} is
// reached (behind auth) while traversal is still refused.
func TestExtraHandler(t *testing.T) {
	cat := fixture(t, 0)
	ts, s := serve(t, cat, "tok")
	s.Handle("/v1/assets/{id}/{output}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, 200, map[string]string{"id": r.PathValue("id"), "output": r.PathValue("output")})
	}))
	id := strings.Repeat("b", 64)
	var got map[string]string
	if code := get(t, ts.URL+"/v1/assets/"+id+"/proxy", "tok", &got); code != 200 || got["output"] != "proxy" || got["id"] != id {
		t.Errorf("extra handler: %d %v", code, got)
	}
	if code := get(t, ts.URL+"/v1/assets/"+id+"/proxy", "", nil); code != 401 {
		t.Errorf("extra handler without token: %d", code)
	}
	var e api.ErrorDoc
	if code := get(t, ts.URL+"/v1/assets/x/../../etc/proxy", "tok", &e); code != 400 || e.Param != "id" {
		t.Errorf("traversal: %d %+v", code, e)
	}
}

// TestClient checks the typed client against the same server.
func TestClient(t *testing.T) {
	cat := fixture(t, 2)
	ts, _ := serve(t, cat, "tok")
	c := &api.Client{Base: ts.URL, Token: "tok"}
	ctx := context.Background()
	d, err := c.Feed(ctx, 0, 1, 0)
	if err != nil || len(d.Events) != 1 {
		t.Fatalf("feed: %+v %v", d, err)
	}
	as, err := c.Assets(ctx, "", 10)
	if err != nil || len(as.Assets) != 2 {
		t.Fatalf("assets: %+v %v", as, err)
	}
	_, err = c.Asset(ctx, "nope")
	if ae, ok := err.(*api.Error); !ok || ae.Code != 400 || ae.Param != "id" {
		t.Errorf("bad id: %v", err)
	}
	bad := &api.Client{Base: ts.URL}
	if _, err := bad.Status(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("no token: %v", err)
	}
}
