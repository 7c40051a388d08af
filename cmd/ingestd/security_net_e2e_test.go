package main_test

// Issue 10, items 7, 8, 9 and 13 (the Bearer half), end to end against the
// real binary: secrets in hub URLs never reach logs, status, metrics or
// doctor; a hub that hangs is timed out, retried and reported, then the
// upload completes through a fault-injecting proxy in front of real MinIO;
// a tokenless loopback API refuses foreign Host headers and cross-site
// form posts; the Bearer scheme is case-insensitive.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	osexec "os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/miniotest"
	"github.com/ingestd/ingestd/storage"
)

// snetStatus fetches /v1/status as a generic document.
func snetStatus(t *testing.T, e *env) map[string]any {
	t.Helper()
	code, body := e.get("/v1/status", e.token)
	if code != 200 {
		t.Fatalf("/v1/status: %d %s", code, body)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// snetField walks a status document: snetField(doc, "sync", "s3", "last_error").
func snetField(doc map[string]any, keys ...string) any {
	var v any = doc
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func snetWait(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	t0 := time.Now()
	for !cond() {
		if time.Since(t0) > timeout {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(t0)
}

// snetClosedURL is an http URL on 127.0.0.1 where nothing listens.
func snetClosedURL(t *testing.T) string {
	t.Helper()
	return "http://" + freeAddr(t)
}

// TestSecurity7URLSecretsRedacted: a webhook URL carrying ?token=SECRET123
// (the hub unreachable, so net/http errors embedding the URL are produced
// and retried, at debug level) leaks the secret nowhere: not in the
// daemon's stderr, /v1/status, /metrics, nor `ingestd doctor` (text and
// JSON). A hub.s3.endpoint with user:password@ is refused by `validate`
// and `run` naming the key, without echoing the password.
func TestSecurity7URLSecretsRedacted(t *testing.T) {
	const secret = "SECRET123"
	hookURL := snetClosedURL(t) + "/ingestd/events?token=" + secret + "&x=1"
	e := newEnv(t, "", "log:\n  level: debug\nhub:\n  webhook:\n    url: \""+hookURL+"\"\n    timeout: 1s\n    retries: 1\n    retry_min: 100ms\n    retry_max: 300ms\n")
	e.start()
	e.writeFile("notes.txt", []byte("a note\n"))
	e.waitFeed(30*time.Second, "notes.txt cataloged", hasPaths(storage.EvLocationAdded, "notes.txt"))
	var lastErr string
	snetWait(t, 30*time.Second, "the webhook's failure in /v1/status", func() bool {
		s, _ := snetField(snetStatus(t, e), "sync", "webhook", "last_error").(string)
		lastErr = s
		return s != "" && strings.Contains(e.stderr.String(), "connection refused")
	})
	// Premise: the failing URL was reported, with the secret masked.
	if !strings.Contains(lastErr, "token=REDACTED") {
		t.Errorf("last_error %q does not show the masked URL", lastErr)
	}
	_, statusBody := e.get("/v1/status", "")
	code, metricsBody := e.get("/metrics", "")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	doctorOut, doctorErr, _ := runBin(t, "doctor", "-config", e.cfgPath)
	doctorJSON, _, _ := runBin(t, "doctor", "-json", "-config", e.cfgPath)
	e.stop()
	logs := e.stderr.String()
	if !strings.Contains(logs, "token=REDACTED") {
		t.Errorf("the log never names the (masked) webhook URL; premise broken:\n%s", logs)
	}
	if !strings.Contains(doctorOut+doctorJSON, "webhook") {
		t.Errorf("doctor did not check the webhook:\n%s", doctorOut)
	}
	for name, text := range map[string]string{
		"stderr log": logs, "/v1/status": string(statusBody), "/metrics": string(metricsBody),
		"doctor": doctorOut + doctorErr, "doctor -json": doctorJSON,
	} {
		if strings.Contains(text, secret) {
			t.Errorf("%s leaks %s:\n%s", name, secret, text)
		}
	}

	// Userinfo in hub.s3.endpoint is refused, without echoing it.
	const pw = "PassW0rdXYZ"
	for _, ep := range []string{"http://AKIAEXAMPLE:" + pw + "@127.0.0.1:9000", "http://" + pw + "@127.0.0.1:9000"} {
		bad := newEnv(t, "", "hub:\n  s3:\n    endpoint: \""+ep+"\"\n    bucket: studio-hub\n")
		out, errOut, code := runBin(t, "validate", "-config", bad.cfgPath)
		if code == 0 || !strings.Contains(errOut, "hub.s3.endpoint") || strings.Contains(out+errOut, pw) {
			t.Errorf("validate with %s: exit %d, stdout %q stderr %q; want non-zero naming hub.s3.endpoint without the password", ep, code, out, errOut)
		}
		runErr, runCode := snetRunBin(t, "run", "-config", bad.cfgPath)
		if runCode == 0 || !strings.Contains(runErr, "hub.s3.endpoint") || strings.Contains(runErr, pw) {
			t.Errorf("run with %s: exit %d, stderr %q; want refused naming hub.s3.endpoint without the password", ep, runCode, runErr)
		}
		dOut, dErr, _ := runBin(t, "doctor", "-config", bad.cfgPath)
		if strings.Contains(dOut+dErr, pw) {
			t.Errorf("doctor echoes the endpoint's password:\n%s%s", dOut, dErr)
		}
	}
	// Userinfo in the webhook URL too.
	bad := newEnv(t, "", "hub:\n  webhook:\n    url: \"https://hub:"+pw+"@hub.example/events\"\n")
	if out, errOut, code := runBin(t, "validate", "-config", bad.cfgPath); code == 0 || !strings.Contains(errOut, "hub.webhook.url") || strings.Contains(out+errOut, pw) {
		t.Errorf("validate with userinfo in hub.webhook.url: exit %d %q %q", code, out, errOut)
	}
}

// snetRunBin runs the binary to completion within a minute (run must
// refuse the config at once, not start) and returns stderr and the status.
func snetRunBin(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := osexec.CommandContext(ctx, binPath, args...)
	var errb strings.Builder
	cmd.Stderr = &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("ingestd %v did not exit:\n%s", args, errb.String())
	}
	code := 0
	if ee, ok := err.(*osexec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return errb.String(), code
}

// snetProxy is a fault-injecting TCP proxy in front of MinIO. The mode of
// a connection is fixed when it is accepted:
//
//	hang:    read what comes, never answer;
//	midbody: answer each request with headers and part of an error body,
//	         then stall (a HEAD, which has no body, gets a plain 404);
//	pass:    forward both ways to MinIO.
type snetProxy struct {
	ln     net.Listener
	target string
	mode   atomic.Value // string
	mu     sync.Mutex
	conns  map[string]int
	open   []net.Conn
}

func snetStartProxy(t *testing.T, target string) *snetProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &snetProxy{ln: ln, target: target, conns: map[string]int{}}
	p.mode.Store("hang")
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.open {
			c.Close()
		}
		p.mu.Unlock()
	})
	return p
}

func (p *snetProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *snetProxy) count(mode string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns[mode]
}

func (p *snetProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		mode := p.mode.Load().(string)
		p.mu.Lock()
		p.conns[mode]++
		p.open = append(p.open, c)
		p.mu.Unlock()
		go p.handle(c, mode)
	}
}

func (p *snetProxy) handle(c net.Conn, mode string) {
	defer c.Close()
	switch mode {
	case "hang":
		_, _ = io.Copy(io.Discard, c) // until the client gives up
	case "midbody":
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			if req.Method == http.MethodHead {
				fmt.Fprint(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
				continue
			}
			fmt.Fprint(c, "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/xml\r\nContent-Length: 4096\r\n\r\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>Internal")
			_, _ = io.Copy(io.Discard, br) // stall until the client gives up
			return
		}
	default:
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			return
		}
		defer up.Close()
		done := make(chan struct{}, 2)
		go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
		go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
		<-done
	}
}

// TestSecurity8HubHangs: hub.s3.endpoint is a proxy that first accepts and
// never answers, then answers headers and stalls mid-body, then passes
// through to real MinIO. Each phase: /v1/status shows sync.s3.last_error
// naming the timeout within a few timeouts, the log says so, the pusher
// keeps retrying (new connections); once the proxy passes through, the
// asset's asset.json reaches the bucket.
func TestSecurity8HubHangs(t *testing.T) {
	const bucket = "studio-hub"
	m := miniotest.Start(t)
	m.CreateBucket(t, bucket)
	px := snetStartProxy(t, strings.TrimPrefix(m.Endpoint, "http://"))
	e := newEnv(t, "", "appliance_id: box8\nhub:\n  s3:\n    endpoint: "+px.URL()+"\n    bucket: "+bucket+"\n    prefix: edge\n    path_style: true\n"+
		"    timeout: 1s\n    stall_timeout: 2s\n    retry_min: 200ms\n    retry_max: 1s\n")
	e.extraEnv = miniotest.Env()
	e.start()
	e.writeFile("notes.txt", []byte("hub hangs\n"))
	evs := e.waitFeed(30*time.Second, "notes.txt cataloged", hasPaths(storage.EvLocationAdded, "notes.txt"))
	id := assetOf(evs, "notes.txt")
	if id == "" {
		t.Fatal("no asset id for notes.txt")
	}

	phase := func(mode, want string) {
		t.Helper()
		px.mode.Store(mode)
		since := time.Now().UTC()
		before := px.count(mode)
		var lastErr string
		took := snetWait(t, 30*time.Second, mode+": last_error naming the timeout", func() bool {
			doc := snetStatus(t, e)
			s, _ := snetField(doc, "sync", "s3", "last_error").(string)
			at, _ := snetField(doc, "sync", "s3", "last_error_at").(string)
			ts, _ := time.Parse(time.RFC3339Nano, at)
			lastErr = s
			return strings.Contains(s, want) && ts.After(since)
		})
		// One failed attempt costs at most timeout/stall_timeout (+ the
		// backoff before it started): well under 10 s.
		if took > 10*time.Second {
			t.Errorf("%s: the timeout reached /v1/status only after %s", mode, took)
		}
		if !strings.Contains(lastErr, "timed out") {
			t.Errorf("%s: last_error %q does not say the hub timed out", mode, lastErr)
		}
		snetWait(t, 30*time.Second, mode+": retries (new connections)", func() bool { return px.count(mode)-before >= 3 })
		doc := snetStatus(t, e)
		if n, _ := snetField(doc, "sync", "s3", "assets_synced").(float64); n != 0 {
			t.Errorf("%s: %v assets synced through a hub that never answers", mode, n)
		}
		t.Logf("%s: reported after %s, %d connections: %s", mode, took.Round(time.Millisecond), px.count(mode)-before, lastErr)
	}
	phase("hang", "timeout awaiting response headers")
	phase("midbody", "stall timeout")
	if logs := e.stderr.String(); !strings.Contains(logs, "hub request failed") || !strings.Contains(logs, "timeout awaiting response headers") || !strings.Contains(logs, "stall timeout") {
		t.Errorf("the log does not report the timeouts:\n%s", logs)
	}
	if objs := m.List(t, bucket); len(objs) != 0 {
		t.Fatalf("objects reached the bucket through a hung hub: %v", objs)
	}

	// The hub recovers: the same daemon completes the upload.
	px.mode.Store("pass")
	e.waitFeed(60*time.Second, "asset.synced after the hub recovered", func(evs []storage.Event) bool {
		for _, ev := range evs {
			if ev.Type == storage.EvAssetSynced && ev.AssetID == id {
				return true
			}
		}
		return false
	})
	key := "edge/box8/assets/" + id + "/asset.json"
	var doc storage.AssetDoc
	if err := json.Unmarshal(m.Get(t, bucket, key), &doc); err != nil || doc.ID != id {
		t.Fatalf("%s: %v %+v", key, err, doc)
	}
	if px.count("pass") == 0 {
		t.Error("the upload did not go through the proxy")
	}
	e.stop()
}

// TestSecurity9LoopbackHostAndForms: a daemon on loopback without a token
// refuses a foreign Host header (DNS rebinding) on every endpoint, the
// backup included, and a cross-site form post to POST /v1/verify; the CLI
// (`ingestd verify`, `ingestd status`) still works.
func TestSecurity9LoopbackHostAndForms(t *testing.T) {
	e := newEnv(t, "", "")
	e.start()
	e.writeFile("clip.bin", []byte("master bytes\n"))
	e.waitFeed(30*time.Second, "clip.bin cataloged", hasPaths(storage.EvLocationAdded, "clip.bin"))
	_, port, _ := net.SplitHostPort(e.addr)
	do := func(method, path, host string, hdr map[string]string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+e.addr+path, strings.NewReader("volume=footage"))
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
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/v1/admin/backup", "/v1/status", "/v1/feed", "/v1/assets", "/metrics"} {
		for _, host := range []string{"evil.example:" + port, "evil.example", "rebind.attacker.test:" + port} {
			code, body := do("GET", path, host, nil)
			var ed struct {
				Error string `json:"error"`
			}
			if code != http.StatusMisdirectedRequest || json.Unmarshal([]byte(body), &ed) != nil || ed.Error == "" {
				t.Errorf("GET %s Host %s: %d %.200q, want 421 with a JSON error", path, host, code, body)
			}
		}
	}
	// The listener's own names are served.
	for _, host := range []string{"", "localhost:" + port, "127.0.0.1:" + port} {
		if code, body := do("GET", "/v1/status", host, nil); code != 200 {
			t.Errorf("GET /v1/status Host %q: %d %s", host, code, body)
		}
	}
	if code, body := do("GET", "/v1/admin/backup", "", nil); code != 200 || len(body) == 0 {
		t.Errorf("backup with the right Host: %d (%d bytes)", code, len(body))
	}

	// A cross-site form post cannot start a check.
	for _, ct := range []string{"application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain"} {
		code, body := do("POST", "/v1/verify?volume=footage", "", map[string]string{"Content-Type": ct})
		if code != http.StatusForbidden || !strings.Contains(body, "X-Ingestd-Request") {
			t.Errorf("form post (%s) to /v1/verify: %d %s, want 403", ct, code, body)
		}
	}
	// Nor a rebinding page's post with the header.
	if code, _ := do("POST", "/v1/verify?volume=footage", "evil.example:"+port, map[string]string{"X-Ingestd-Request": "1"}); code != http.StatusMisdirectedRequest {
		t.Errorf("post with a foreign Host: %d, want 421", code)
	}
	if st := snetStatus(t, e); snetField(st, "cards", "fixity", "last_end") != nil {
		t.Errorf("a refused post started a check: %v", snetField(st, "cards", "fixity"))
	}
	// The CLI sends the header.
	out, errOut, code := e.cli("verify", "--volume", "footage")
	if code != 0 || !strings.Contains(out, "verified 1 files") {
		t.Errorf("ingestd verify: exit %d\n%s\n%s", code, out, errOut)
	}
	if out, errOut, code := e.cli("status"); code != 0 {
		t.Errorf("ingestd status: exit %d\n%s\n%s", code, out, errOut)
	}
	e.stop()
}

// TestSecurity13BearerScheme: the Authorization scheme is matched without
// regard to case (RFC 7235); the token itself is not.
func TestSecurity13BearerScheme(t *testing.T) {
	const token = "Tok-13-secret"
	e := newEnv(t, token, "")
	e.start()
	for _, tc := range []struct {
		auth string
		want int
	}{
		{"Bearer " + token, 200},
		{"bearer " + token, 200},
		{"BEARER " + token, 200},
		{"BeArEr  " + token, 200},
		{"Bearer " + strings.ToLower(token), 401},
		{"Basic " + token, 401},
		{token, 401},
		{"Bearer", 401},
	} {
		req, _ := http.NewRequest("GET", "http://"+e.addr+"/v1/status", nil)
		req.Header.Set("Authorization", tc.auth)
		code, err := httpDo(req)
		if err != nil {
			t.Fatal(err)
		}
		if code != tc.want {
			t.Errorf("Authorization %q: %d, want %d", tc.auth, code, tc.want)
		}
	}
	// A foreign Host is fine with a token (the token is the defence).
	req, _ := http.NewRequest("GET", "http://"+e.addr+"/v1/status", nil)
	req.Host = "ingestd.studio.example"
	req.Header.Set("Authorization", "bearer "+token)
	if code, err := httpDo(req); err != nil || code != 200 {
		t.Errorf("with the token and another Host: %d %v", code, err)
	}
	e.stop()
}

// snetGoroutines reads go_goroutines from /metrics.
func snetGoroutines(t *testing.T, e *env) int {
	t.Helper()
	code, body := e.get("/metrics", e.token)
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			var n int
			fmt.Sscan(v, &n)
			return n
		}
	}
	t.Fatal("no go_goroutines in /metrics")
	return 0
}

// TestSecurityHostileClients: what a hostile or broken HTTP client can do to
// the API of the real daemon (docs/api.md, Errors and Authentication). A
// client that trickles its headers (slowloris) is cut off after the 5 s
// header timeout while others are served; 300 idle connections do not keep
// a hub from being served; headers over 64 KiB are a 431; 200 long-polls
// whose clients hang up free their goroutines at once, not when their wait
// ends; no CORS header is ever granted (a preflight is refused); and
// neither the token nor a wrong token a client sent reaches the log.
func TestSecurityHostileClients(t *testing.T) {
	const token = "tok-hostile-5d1e8a"
	const wrong = "wrong-token-9c4b"
	e := newEnv(t, token, "")
	e.start()
	base := "http://" + e.addr

	// Slowloris: a header line a second, never the end of the headers.
	slow, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprintf(slow, "GET /v1/status HTTP/1.1\r\nHost: %s\r\n", e.addr)
	cut := make(chan time.Duration, 1)
	go func() {
		t0 := time.Now()
		for i := 0; i < 30; i++ {
			time.Sleep(time.Second)
			if _, err := fmt.Fprintf(slow, "X-Slow-%d: 1\r\n", i); err != nil {
				break
			}
		}
		// The server closed: a read ends at once (EOF or reset).
		slow.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, slow)
		cut <- time.Since(t0)
	}()

	// Idle connections that never send a byte.
	var idle []net.Conn
	for range 300 {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatalf("idle connection: %v", err)
		}
		idle = append(idle, c)
	}
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	t0 := time.Now()
	if code, body := e.get("/v1/status", token); code != 200 {
		t.Fatalf("/v1/status among 300 idle connections and a slowloris: %d %s", code, body)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("/v1/status took %s among idle connections", d)
	}

	// Oversized headers.
	req, _ := http.NewRequest("GET", base+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Big", strings.Repeat("a", 256<<10))
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Errorf("oversized headers: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("256 KiB of headers: %d, want 431", resp.StatusCode)
		}
	}

	// Long-polls whose clients hang up.
	before := snetGoroutines(t, e)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/feed?after=1000000&wait=60s", nil)
			r.Header.Set("Authorization", "Bearer "+token)
			if resp, err := http.DefaultClient.Do(r); err == nil {
				resp.Body.Close()
			}
		}()
	}
	snetWait(t, 20*time.Second, "200 long-polls waiting in the daemon", func() bool { return snetGoroutines(t, e) >= before+200 })
	cancel()
	wg.Wait()
	freed := snetWait(t, 20*time.Second, "the long-polls' goroutines freed", func() bool { return snetGoroutines(t, e) < before+20 })
	t.Logf("200 hung-up long-polls freed in %s", freed)

	// CORS: never granted.
	for _, m := range []string{"GET", "OPTIONS"} {
		req, _ := http.NewRequest(m, base+"/v1/feed", nil)
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "authorization")
		if m == "GET" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for k := range resp.Header {
			if strings.HasPrefix(strings.ToLower(k), "access-control-") {
				t.Errorf("%s with an Origin: CORS header %s: %s", m, k, resp.Header.Get(k))
			}
		}
		if m == "OPTIONS" && resp.StatusCode < 400 {
			t.Errorf("CORS preflight: %d, want refused", resp.StatusCode)
		}
	}

	// A wrong token, in the header and in the query, is a 401 and is not
	// logged either.
	for _, q := range []string{"/v1/status", "/v1/status?token=" + wrong, "/v1/feed?access_token=" + token} {
		req, _ := http.NewRequest("GET", base+q, nil)
		req.Header.Set("Authorization", "Bearer "+wrong)
		if code, err := httpDo(req); err != nil || code != 401 {
			t.Errorf("GET %s with a wrong bearer token: %d %v, want 401", q, code, err)
		}
	}

	select {
	case d := <-cut:
		if d > 15*time.Second {
			t.Errorf("slowloris connection held %s, want cut after the 5 s header timeout", d)
		}
	case <-time.After(40 * time.Second):
		t.Error("slowloris connection still open after 40 s")
	}
	e.stop()
	log := e.stderr.String()
	for _, secret := range []string{token, wrong} {
		if strings.Contains(log, secret) {
			t.Errorf("the daemon's log holds %q", secret)
		}
	}
}
