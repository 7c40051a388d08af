package webhook

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
)

const app = "edge-test"

// hub is the fake hub receiver (httptest): answer decides each reply by
// request number (0-based); every request is recorded.
type hub struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []received
	answer func(n int, w http.ResponseWriter) bool // true: handled
}

type received struct {
	key, auth string
	payload   Payload
	status    int // 0 until answered
}

func newHub(t *testing.T) *hub {
	h := &hub{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p Payload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("hub: bad body %q: %v", body, err)
		}
		h.mu.Lock()
		n := len(h.reqs)
		h.reqs = append(h.reqs, received{key: r.Header.Get("Idempotency-Key"), auth: r.Header.Get("Authorization"), payload: p})
		ans := h.answer
		h.mu.Unlock()
		if ans != nil {
			rec := &statusRecorder{ResponseWriter: w}
			if ans(n, rec) {
				h.mu.Lock()
				h.reqs[n].status = rec.code
				h.mu.Unlock()
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
		h.mu.Lock()
		h.reqs[n].status = http.StatusNoContent
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(c int) { s.code = c; s.ResponseWriter.WriteHeader(c) }

func (h *hub) set(f func(n int, w http.ResponseWriter) bool) {
	h.mu.Lock()
	h.answer = f
	h.mu.Unlock()
}

func (h *hub) requests() []received {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]received(nil), h.reqs...)
}

// delivered lists the seqs of events in 2xx answers, in arrival order,
// counting a batch whose Idempotency-Key was already accepted once, as the
// contract tells a hub to (delivery is at least once: a request the
// notifier gave up on when it stopped may still reach the hub).
func (h *hub) delivered() []uint64 {
	var s []uint64
	seen := map[string]bool{}
	for _, r := range h.requests() {
		if r.status >= 200 && r.status < 300 && !seen[r.key] {
			seen[r.key] = true
			for _, e := range r.payload.Events {
				s = append(s, e.Seq)
			}
		}
	}
	return s
}

func addEvents(t *testing.T, cat *catalog.Catalog, n int) []uint64 {
	var seqs []uint64
	for i := range n {
		e, err := cat.AppendEvent(storage.Event{Type: storage.EvCardOffloaded, Volume: "cards", Path: fmt.Sprintf("A%03d", i)})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, e.Seq)
	}
	return seqs
}

func config(t *testing.T, h *hub) Config {
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{URL: h.srv.URL + "/hooks/ingestd", TokenFile: tok, BatchSize: 10, Timeout: 2 * time.Second,
		RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond}
	c.SetDefaults()
	return c
}

func newNotifier(t *testing.T, cfg Config, cat *catalog.Catalog) *Notifier {
	n, err := New(cfg, app, cat, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func equalSeqs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Events arrive once each, in order, in batches with a bearer token and the
// batch's Idempotency-Key; the cursor survives a restart.
func TestDeliverInOrder(t *testing.T) {
	h := newHub(t)
	dir := t.TempDir()
	cat := catalogtest.Open(t, dir)
	defer cat.Close()
	want := addEvents(t, cat, 25)
	cfg := config(t, h)
	n := newNotifier(t, cfg, cat)
	stop := testutil.Start(t, "notifier", n.Run)
	testutil.WaitFor(t, 30*time.Second, "25 events delivered", func() bool { return len(h.delivered()) >= 25 })
	more := addEvents(t, cat, 7)
	want = append(want, more...)
	// The hub records a batch before the notifier reads its answer: wait
	// for the notifier to have stored its cursor too, or stopping it would
	// cancel the last request and the restart would rightly send it again.
	testutil.WaitFor(t, 30*time.Second, "32 events delivered and acknowledged", func() bool {
		return len(h.delivered()) >= 32 && n.Status().Delivered == want[len(want)-1]
	})
	stop()
	if got := h.delivered(); !equalSeqs(got, want) {
		t.Fatalf("delivered %v\nwant %v", got, want)
	}
	for _, r := range h.requests() {
		evs := r.payload.Events
		if len(evs) == 0 || len(evs) > cfg.BatchSize {
			t.Errorf("batch of %d events", len(evs))
			continue
		}
		if k := IdempotencyKey(app, cat.CatalogID(), evs[0].Seq, evs[len(evs)-1].Seq); r.key != k {
			t.Errorf("Idempotency-Key %q, want %q", r.key, k)
		}
		if r.auth != "Bearer s3cret-token" {
			t.Errorf("Authorization %q", r.auth)
		}
		if r.payload.ApplianceID != app {
			t.Errorf("appliance_id %q", r.payload.ApplianceID)
		}
	}
	if s := n.Status(); s.Delivered != want[len(want)-1] || s.Events != 32 || s.Parked != nil {
		t.Errorf("status %+v", s)
	}

	// Restart: nothing is sent again.
	before := len(h.requests())
	stop2 := testutil.Start(t, "notifier", newNotifier(t, cfg, cat).Run)
	time.Sleep(500 * time.Millisecond)
	stop2()
	if after := len(h.requests()); after != before {
		t.Errorf("restart re-sent %d batches", after-before)
	}
}

// Transient failures are retried with the same Idempotency-Key until the hub
// accepts the batch; nothing is lost or reordered.
func TestRetries(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fails int
		reply func(w http.ResponseWriter)
	}{
		{"500", 3, func(w http.ResponseWriter) { http.Error(w, "boom", 500) }},
		{"503 with retry-after", 2, func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}},
		{"429", 2, func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "slow down", http.StatusTooManyRequests)
		}},
		{"408", 1, func(w http.ResponseWriter) { http.Error(w, "timeout", http.StatusRequestTimeout) }},
		// The client gives up after 500 ms; what the hub does later is unseen.
		{"timeout", 2, func(w http.ResponseWriter) { time.Sleep(1500 * time.Millisecond) }},
		// More failures than retries in one round: the round fails, Run
		// backs off and the next round sends the same batch again.
		{"500 beyond one round", 12, func(w http.ResponseWriter) { http.Error(w, "down", 500) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t)
			cat := catalogtest.Open(t, t.TempDir())
			defer cat.Close()
			want := addEvents(t, cat, 5)
			h.set(func(n int, w http.ResponseWriter) bool {
				if n < tc.fails {
					tc.reply(w)
					return true
				}
				return false
			})
			cfg := config(t, h)
			cfg.Timeout = 500 * time.Millisecond
			nt := newNotifier(t, cfg, cat)
			stop := testutil.Start(t, "notifier", nt.Run)
			testutil.WaitFor(t, 30*time.Second, "delivery", func() bool { return len(h.delivered()) >= 5 })
			stop()
			reqs := h.requests()
			if len(reqs) != tc.fails+1 {
				t.Errorf("%d requests, want %d", len(reqs), tc.fails+1)
			}
			for _, r := range reqs {
				if r.key != reqs[0].key {
					t.Errorf("Idempotency-Key changed across retries: %q then %q", reqs[0].key, r.key)
				}
			}
			if got := h.delivered(); !equalSeqs(got, want) {
				t.Errorf("delivered %v, want %v", got, want)
			}
			if tc.name == "500 beyond one round" && nt.Status().LastError == "" {
				t.Errorf("no last_error after a failed round")
			}
		})
	}
}

// A 400 parks the batch: a clear error in Status, no retry loop, the cursor
// stays; Unpark sends the same batch again with the same key.
func TestParkOn4xx(t *testing.T) {
	h := newHub(t)
	dir := t.TempDir()
	cat := catalogtest.Open(t, dir)
	defer cat.Close()
	want := addEvents(t, cat, 4)
	reject := true
	var mu sync.Mutex
	h.set(func(n int, w http.ResponseWriter) bool {
		mu.Lock()
		defer mu.Unlock()
		if reject {
			http.Error(w, `{"error":"unknown appliance"}`, 400)
			return true
		}
		return false
	})
	nt := newNotifier(t, config(t, h), cat)
	stop := testutil.Start(t, "notifier", nt.Run)
	testutil.WaitFor(t, 30*time.Second, "parked", func() bool { return nt.Status().Parked != nil })
	time.Sleep(time.Second)
	if n := len(h.requests()); n != 1 {
		t.Errorf("%d requests for a rejected batch, want 1 (parked, not retried)", n)
	}
	s := nt.Status()
	p := s.Parked
	if p.Code != 400 || p.First != want[0] || p.Last != want[3] || !strings.Contains(p.Error, "unknown appliance") || p.Unpark == "" {
		t.Errorf("parked = %+v", p)
	}
	if !strings.Contains(s.LastError, "400") {
		t.Errorf("last_error %q does not give the code", s.LastError)
	}
	var cursor uint64
	if err := cat.GetState("cursor/webhook", &cursor); err == nil && cursor != 0 {
		t.Errorf("cursor advanced to %d past a parked batch", cursor)
	}
	mu.Lock()
	reject = false
	mu.Unlock()
	nt.Unpark()
	testutil.WaitFor(t, 30*time.Second, "delivery after unpark", func() bool { return len(h.delivered()) == 4 })
	stop()
	reqs := h.requests()
	if reqs[0].key != reqs[1].key {
		t.Errorf("un-parked batch sent with key %q, first try %q", reqs[1].key, reqs[0].key)
	}
	if nt.Status().Parked != nil {
		t.Errorf("still parked after delivery")
	}
}

// A batch interrupted by a restart is sent again with the same bounds and
// Idempotency-Key even when more events arrived meanwhile.
func TestKeyStableAcrossRestart(t *testing.T) {
	h := newHub(t)
	dir := t.TempDir()
	cat := catalogtest.Open(t, dir)
	defer cat.Close()
	first := addEvents(t, cat, 3)
	h.set(func(n int, w http.ResponseWriter) bool { http.Error(w, "down", http.StatusBadGateway); return true })
	cfg := config(t, h)
	stop := testutil.Start(t, "notifier", newNotifier(t, cfg, cat).Run)
	testutil.WaitFor(t, 30*time.Second, "a failed attempt", func() bool { return len(h.requests()) >= 1 })
	stop()
	down := h.requests()
	more := addEvents(t, cat, 4)

	h.set(nil)
	stop2 := testutil.Start(t, "notifier", newNotifier(t, cfg, cat).Run)
	testutil.WaitFor(t, 30*time.Second, "delivery", func() bool { return len(h.delivered()) >= 7 })
	stop2()
	reqs := h.requests()[len(down):]
	if reqs[0].key != down[0].key || !equalSeqs(seqsOf(reqs[0]), first) {
		t.Errorf("after restart first batch %q %v; before %q %v", reqs[0].key, seqsOf(reqs[0]), down[0].key, first)
	}
	if got := h.delivered(); !equalSeqs(got, append(first, more...)) {
		t.Errorf("delivered %v", got)
	}
}

func seqsOf(r received) []uint64 {
	var s []uint64
	for _, e := range r.payload.Events {
		s = append(s, e.Seq)
	}
	return s
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "tok")
	os.WriteFile(tok, []byte("x"), 0o600)
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"disabled", Config{}, ""},
		{"ok", Config{URL: "https://hub.example.com/hook", TokenFile: tok}, ""},
		{"bad url", Config{URL: "hub.example.com"}, "hub.webhook.url"},
		{"missing token", Config{URL: "https://hub.example.com/hook", TokenFile: dir + "/nope"}, "hub.webhook.token_file"},
		{"token dir", Config{URL: "https://hub.example.com/hook", TokenFile: dir}, "hub.webhook.token_file"},
		{"batch", Config{URL: "https://hub.example.com/hook", BatchSize: -1}, "hub.webhook.batch_size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			c.SetDefaults()
			err := c.Validate()
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestBackoffJitter(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 50 {
		d := Backoff(time.Second, time.Minute, 3, nil)
		if d < 4*time.Second || d > 8*time.Second {
			t.Fatalf("attempt 3: %s outside [4s, 8s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("only %d distinct delays in 50: no jitter", len(seen))
	}
	if d := Backoff(time.Second, time.Minute, 30, nil); d > time.Minute {
		t.Errorf("capped backoff %s > max", d)
	}
	resp := &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"7"}}}
	if d := Backoff(time.Second, time.Minute, 1, resp); d != 7*time.Second {
		t.Errorf("Retry-After 7: %s", d)
	}
}

// A hub that answers a batch with a redirect (an http→https rewrite, a
// login page, a moved endpoint) has not accepted it. net/http would follow
// a 301/302/303 with a GET without the body, and count the login page's
// 200 as delivery: the events were lost. The notifier never follows a
// redirect: the batch is parked with the code and the Location, nothing is
// sent to the other URL, and the cursor stays; un-parked (the hub fixed),
// the same batch is delivered.
func TestRedirectParksNotFollowed(t *testing.T) {
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			var mu sync.Mutex
			var posts []received
			var elsewhere []string
			redirect := true
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				if r.URL.Path != "/hooks/ingestd" {
					elsewhere = append(elsewhere, r.Method+" "+r.URL.Path+" auth="+r.Header.Get("Authorization"))
					w.WriteHeader(http.StatusOK) // a login page
					return
				}
				body, _ := io.ReadAll(r.Body)
				var p Payload
				_ = json.Unmarshal(body, &p)
				if redirect {
					posts = append(posts, received{key: r.Header.Get("Idempotency-Key"), payload: p, status: code})
					http.Redirect(w, r, "/login?next=events", code)
					return
				}
				posts = append(posts, received{key: r.Header.Get("Idempotency-Key"), payload: p, status: http.StatusNoContent})
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			cat := catalogtest.Open(t, t.TempDir())
			defer cat.Close()
			want := addEvents(t, cat, 3)
			h := &hub{srv: srv}
			nt := newNotifier(t, config(t, h), cat)
			stop := testutil.Start(t, "notifier", nt.Run)
			defer stop()
			testutil.WaitFor(t, 30*time.Second, "parked (or, wrongly, delivered)", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return nt.Status().Parked != nil || nt.Status().Delivered != 0 || len(elsewhere) > 0 || len(posts) > 1
			})
			time.Sleep(300 * time.Millisecond)
			mu.Lock()
			if len(elsewhere) != 0 {
				t.Errorf("the notifier followed the redirect: %v", elsewhere)
			}
			if len(posts) != 1 {
				t.Errorf("%d POSTs of a redirected batch, want 1 (parked, not retried)", len(posts))
			}
			mu.Unlock()
			s := nt.Status()
			if s.Parked == nil {
				t.Fatalf("not parked after a %d: status %+v", code, s)
			}
			if p := s.Parked; p.Code != code || p.First != want[0] || p.Last != want[2] || !strings.Contains(p.Error, "/login?next=") {
				t.Errorf("parked = %+v, want code %d, events %d..%d and the Location", p, code, want[0], want[2])
			}
			if s.Delivered != 0 {
				t.Errorf("delivered_seq %d after a redirect, want 0", s.Delivered)
			}
			mu.Lock()
			redirect = false
			mu.Unlock()
			nt.Unpark()
			testutil.WaitFor(t, 30*time.Second, "delivery after unpark", func() bool { return nt.Status().Delivered == want[2] })
			mu.Lock()
			defer mu.Unlock()
			last := posts[len(posts)-1]
			if last.key != posts[0].key || len(last.payload.Events) != 3 {
				t.Errorf("un-parked batch: key %q (first %q), %d events", last.key, posts[0].key, len(last.payload.Events))
			}
		})
	}
}

// A configured token file that reads empty (truncated while the token is
// rotated) or holds two lines is a failed round, retried with backoff and
// shown in last_error: nothing is sent without the token (a hub's 401
// would park the batch until an operator un-parks it), and the token is
// not quoted in the error. Once the file holds a token, delivery resumes.
func TestTokenFileEmptyOrBrokenIsRetried(t *testing.T) {
	for _, bad := range []string{"", "  \n", "tok-a\ntok-b\n"} {
		h := newHub(t)
		cat := catalogtest.Open(t, t.TempDir())
		want := addEvents(t, cat, 2)
		cfg := config(t, h)
		if err := os.WriteFile(cfg.TokenFile, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		nt := newNotifier(t, cfg, cat)
		stop := testutil.Start(t, "notifier", nt.Run)
		testutil.WaitFor(t, 30*time.Second, "the token error in status", func() bool { return strings.Contains(nt.Status().LastError, "token_file") })
		time.Sleep(300 * time.Millisecond)
		if n := len(h.requests()); n != 0 {
			t.Errorf("token file %q: %d requests sent without a usable token", bad, n)
		}
		if s := nt.Status(); s.Parked != nil || strings.Contains(s.LastError, "tok-a") {
			t.Errorf("token file %q: status %+v", bad, s)
		}
		if err := os.WriteFile(cfg.TokenFile, []byte("s3cret-token\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, 30*time.Second, "delivery once the token is back", func() bool { return len(h.delivered()) == len(want) })
		stop()
		if r := h.requests()[0]; r.auth != "Bearer s3cret-token" {
			t.Errorf("Authorization %q", r.auth)
		}
		cat.Close()
	}
}

// A hub whose answer never ends (a 2xx streaming forever, a 400 with
// megabytes of HTML) costs at most a capped read: the 2xx batch counts as
// delivered at once (not after hub.webhook.timeout), and the parked error
// quotes at most 512 bytes of the answer.
func TestHugeAnswersCapped(t *testing.T) {
	h := newHub(t)
	cat := catalogtest.Open(t, t.TempDir())
	defer cat.Close()
	want := addEvents(t, cat, 3)
	h.set(func(n int, w http.ResponseWriter) bool {
		if n == 0 {
			w.WriteHeader(http.StatusOK)
			chunk := []byte(strings.Repeat("ok ", 1<<12))
			for i := 0; i < 1<<14; i++ { // 192 MiB unless the client hangs up
				if _, err := w.Write(chunk); err != nil {
					break
				}
			}
			return true
		}
		http.Error(w, strings.Repeat("<html>rejected</html>", 1<<16), http.StatusBadRequest)
		return true
	})
	cfg := config(t, h)
	cfg.Timeout = 20 * time.Second
	nt := newNotifier(t, cfg, cat)
	stop := testutil.Start(t, "notifier", nt.Run)
	defer stop()
	t0 := time.Now()
	testutil.WaitFor(t, 15*time.Second, "the streamed 2xx taken as delivery", func() bool { return nt.Status().Delivered == want[2] })
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("delivery took %s behind an endless 2xx body", d)
	}
	more := addEvents(t, cat, 1)
	testutil.WaitFor(t, 15*time.Second, "parked on the huge 400", func() bool { return nt.Status().Parked != nil })
	if p := nt.Status().Parked; p.First != more[0] || len(p.Error) > 1024 {
		t.Errorf("parked batch %d..%d with an error of %d bytes, want batch %d and at most ~512 bytes of the answer", p.First, p.Last, len(p.Error), more[0])
	}
}

// A catalog re-created (`ingestd reset-catalog`) numbers its feed from 1
// again under the same appliance_id. The hub is told to treat a repeated
// Idempotency-Key as already processed: with keys made of the appliance
// and the seqs only, the new catalog's first batches repeated the old
// ones' keys and a hub following the contract dropped them. The key and
// the payload carry the catalog_id.
func TestKeyDiffersAfterCatalogReset(t *testing.T) {
	h := newHub(t)
	cfg := config(t, h)
	var keys []string
	var ids []string
	for range 2 {
		// As the daemon opens it: with its identity (catalog_id).
		dir := t.TempDir()
		cat, err := catalog.Open(filepath.Join(dir, "catalog"), catalog.Options{NoSyncWrites: true, Logger: testutil.Logger(t),
			IdentityFile: filepath.Join(dir, "catalog-identity.json")})
		if err != nil {
			t.Fatal(err)
		}
		addEvents(t, cat, 3)
		before := len(h.requests())
		stop := testutil.Start(t, "notifier", newNotifier(t, cfg, cat).Run)
		testutil.WaitFor(t, 30*time.Second, "delivery", func() bool { return len(h.requests()) > before })
		stop()
		r := h.requests()[before]
		if r.payload.CatalogID != cat.CatalogID() || r.payload.CatalogID == "" {
			t.Errorf("payload catalog_id %q, want %q", r.payload.CatalogID, cat.CatalogID())
		}
		keys = append(keys, r.key)
		ids = append(ids, cat.CatalogID())
		cat.Close()
	}
	if keys[0] == keys[1] {
		t.Errorf("the first batch of a re-created catalog has the old one's Idempotency-Key %q: a hub drops it as a repeat", keys[0])
	}
	for i, k := range keys {
		if want := IdempotencyKey(app, ids[i], 1, 3); k != want || !strings.Contains(k, ids[i]) {
			t.Errorf("Idempotency-Key %q, want %q", k, want)
		}
	}
}
