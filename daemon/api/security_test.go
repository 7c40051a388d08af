package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/daemon/api"
)

func TestAllowedHost(t *testing.T) {
	names := map[string]bool{"localhost": true, "box.local": true}
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"127.0.0.1:8470", true},
		{"127.0.0.2:8470", true}, // any loopback IP
		{"localhost:8470", true},
		{"LOCALHOST:8470", true},
		{"localhost.:8470", true},
		{"[::1]:8470", true},
		{"box.local:8470", true}, // the configured listen host
		{"evil.example:8470", false},
		{"evil.example", false},
		{"127.0.0.1:8471", false}, // another port
		{"localhost", false},      // no port means 80
		{"127.0.0.1", false},
		{"[::1]", false},
		{"192.168.1.10:8470", false},
		{"localhost.evil.example:8470", false},
		{"", false},
		{":8470", false},
	} {
		if got := api.AllowedHost(tc.host, "8470", names); got != tc.want {
			t.Errorf("AllowedHost(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
	if !api.AllowedHost("localhost", "80", nil) || !api.AllowedHost("[::1]", "80", nil) {
		t.Error("no port must mean port 80")
	}
}

// serveLn runs the API through Serve on a real loopback listener.
func serveLn(t *testing.T, token, listen string) (string, *api.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := api.New(api.Options{Store: fixture(t, 1), Token: token, Listen: listen, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	s.Handle("/v1/act", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			api.WriteError(w, http.StatusMethodNotAllowed, "POST only", "")
			return
		}
		api.WriteJSON(w, 200, map[string]bool{"done": true})
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String(), s
}

func do(t *testing.T, method, url, host string, hdr map[string]string) (int, api.ErrorDoc) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader("a=b"))
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.ErrorDoc
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
			t.Errorf("%s %s: %d without the JSON error body: %q", method, url, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, e
}

// TestHostCheck: without a token on loopback, only the listener's own
// names are served (DNS rebinding); with a token any Host is.
func TestHostCheck(t *testing.T) {
	addr, _ := serveLn(t, "", "localhost:0")
	_, port, _ := net.SplitHostPort(addr)
	for _, tc := range []struct {
		host string
		want int
	}{
		{"", 200}, // 127.0.0.1:port
		{"localhost:" + port, 200},
		{"[::1]:" + port, 200},
		{"evil.example:" + port, http.StatusMisdirectedRequest},
		{"evil.example", http.StatusMisdirectedRequest},
		{"127.0.0.1:1", http.StatusMisdirectedRequest},
	} {
		for _, p := range []string{"/v1/status", "/v1/assets", "/healthz"} {
			if code, e := do(t, "GET", "http://"+addr+p, tc.host, nil); code != tc.want {
				t.Errorf("GET %s Host %q: %d %q, want %d", p, tc.host, code, e.Error, tc.want)
			}
		}
	}
	taddr, _ := serveLn(t, "tok", "127.0.0.1:0")
	if code, _ := do(t, "GET", "http://"+taddr+"/v1/status", "evil.example", map[string]string{"Authorization": "Bearer tok"}); code != 200 {
		t.Errorf("with a token the Host is not checked: %d", code)
	}
}

// TestUnsafeNeedsHeader: a state-changing request without a token needs
// X-Ingestd-Request or a JSON content type, which a cross-site form
// cannot send.
func TestUnsafeNeedsHeader(t *testing.T) {
	addr, _ := serveLn(t, "", "127.0.0.1:0")
	u := "http://" + addr + "/v1/act"
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"form post", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 403},
		{"multipart", map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, 403},
		{"text/plain", map[string]string{"Content-Type": "text/plain"}, 403},
		{"no content type", nil, 403},
		{"request header", map[string]string{api.RequestHeader: "1"}, 200},
		{"json", map[string]string{"Content-Type": "application/json; charset=utf-8"}, 200},
	} {
		if code, e := do(t, "POST", u, "", tc.hdr); code != tc.want {
			t.Errorf("%s: %d %q, want %d", tc.name, code, e.Error, tc.want)
		}
	}
	if code, _ := do(t, "GET", "http://"+addr+"/v1/status", "", nil); code != 200 {
		t.Errorf("GET needs no header: %d", code)
	}
	// The client sends the header.
	c := &api.Client{Base: "http://" + addr}
	req, err := c.NewRequest(context.Background(), "POST", "/v1/act", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("client POST: %d", resp.StatusCode)
	}
	// With a token, the token is what counts.
	taddr, _ := serveLn(t, "tok", "127.0.0.1:0")
	if code, _ := do(t, "POST", "http://"+taddr+"/v1/act", "", map[string]string{"Authorization": "Bearer tok", "Content-Type": "application/x-www-form-urlencoded"}); code != 200 {
		t.Errorf("POST with the token: %d", code)
	}
	if code, _ := do(t, "POST", "http://"+taddr+"/v1/act", "", map[string]string{api.RequestHeader: "1"}); code != 401 {
		t.Errorf("POST with the header but no token: %d", code)
	}
}

// TestCrossSiteRefused: without a token, what another site's page makes
// a browser fetch (Sec-Fetch-Site cross-site or same-site) is refused,
// reads included, except opening a page in a tab; same-origin requests
// and clients that are not browsers are served; with a token the token
// decides.
func TestCrossSiteRefused(t *testing.T) {
	addr, _ := serveLn(t, "", "127.0.0.1:0")
	nav := map[string]string{"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
	with := func(site string, extra map[string]string) map[string]string {
		h := map[string]string{"Sec-Fetch-Site": site}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	for _, tc := range []struct {
		name, method, path string
		hdr                map[string]string
		want               int
	}{
		{"not a browser", "GET", "/v1/assets", nil, 200},
		{"same origin", "GET", "/v1/assets", with("same-origin", map[string]string{"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}), 200},
		{"typed address", "GET", "/v1/status", with("none", nav), 200},
		{"cross-site fetch", "GET", "/v1/assets", with("cross-site", map[string]string{"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "empty"}), 403},
		{"cross-site video", "GET", "/v1/assets", with("cross-site", map[string]string{"Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "video"}), 403},
		{"cross-site frame", "GET", "/", with("cross-site", map[string]string{"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"}), 403},
		{"same-site (another localhost port)", "GET", "/v1/status", with("same-site", map[string]string{"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}), 403},
		{"cross-site link opened in a tab", "GET", "/v1/status", with("cross-site", nav), 200},
		{"cross-site navigating POST", "POST", "/v1/act", with("cross-site", map[string]string{"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", api.RequestHeader: "1"}), 403},
	} {
		if code, e := do(t, tc.method, "http://"+addr+tc.path, "", tc.hdr); code != tc.want {
			t.Errorf("%s: %s %s: %d %q, want %d", tc.name, tc.method, tc.path, code, e.Error, tc.want)
		}
	}
	taddr, _ := serveLn(t, "tok", "127.0.0.1:0")
	if code, _ := do(t, "GET", "http://"+taddr+"/v1/status", "", map[string]string{"Authorization": "Bearer tok", "Sec-Fetch-Site": "cross-site"}); code != 200 {
		t.Errorf("with a token the token decides: %d", code)
	}
}

// TestBearerScheme: the scheme is case-insensitive (RFC 7235); the token
// is not.
func TestBearerScheme(t *testing.T) {
	addr, _ := serveLn(t, "s3cret-Token", "127.0.0.1:0")
	for _, tc := range []struct {
		auth string
		want int
	}{
		{"Bearer s3cret-Token", 200},
		{"bearer s3cret-Token", 200},
		{"BEARER s3cret-Token", 200},
		{"bEaReR s3cret-Token", 200},
		{"Bearer   s3cret-Token  ", 200},
		{"Bearer s3cret-token", 401},
		{"Bearer s3cret-Token2", 401},
		{"Bearer", 401},
		{"Bearer ", 401},
		{"Basic s3cret-Token", 401},
		{"Bearers3cret-Token", 401},
		{"s3cret-Token", 401},
		{"", 401},
	} {
		if code, _ := do(t, "GET", "http://"+addr+"/v1/status", "", map[string]string{"Authorization": tc.auth}); code != tc.want {
			t.Errorf("Authorization %q: %d, want %d", tc.auth, code, tc.want)
		}
	}
}
