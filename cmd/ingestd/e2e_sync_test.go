package main_test

// End to end through hub sync: the real binary pushes a clip's proxies and
// asset.json to a real MinIO and POSTs the feed to a webhook receiver
// (httptest: the hub's side is the one fake allowed).

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/internal/miniotest"
	"github.com/ingestd/ingestd/storage"
)

// syncedAfter: asset id has an asset.synced event after its last event of typ.
func syncedAfter(evs []storage.Event, id, typ string) bool {
	if id == "" {
		return false
	}
	seen, synced := false, false
	for _, ev := range evs {
		if ev.AssetID != id {
			continue
		}
		switch ev.Type {
		case typ:
			seen, synced = true, false
		case storage.EvAssetSynced:
			synced = seen
		}
	}
	return synced
}

// hook is the hub's webhook receiver.
type hook struct {
	mu      sync.Mutex
	keys    []string
	auth    []string
	batches [][]storage.Event
	app     []string
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p struct {
		ApplianceID string          `json:"appliance_id"`
		Events      []storage.Event `json:"events"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&p) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.keys = append(h.keys, r.Header.Get("Idempotency-Key"))
	h.auth = append(h.auth, r.Header.Get("Authorization"))
	h.batches = append(h.batches, p.Events)
	h.app = append(h.app, p.ApplianceID)
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// events returns the events received, in arrival order, without batches
// sent again (delivery is at least once: a repeated batch carries the same
// Idempotency-Key as its first sending).
func (h *hook) events() []storage.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	var all []storage.Event
	seen := map[string]bool{}
	for i, b := range h.batches {
		if seen[h.keys[i]] {
			continue
		}
		seen[h.keys[i]] = true
		all = append(all, b...)
	}
	return all
}

func TestHubSync(t *testing.T) {
	const bucket = "studio-hub"
	m := miniotest.Start(t)
	m.CreateBucket(t, bucket)
	rx := &hook{}
	hub := httptest.NewServer(rx)
	defer hub.Close()
	dir := t.TempDir()
	hubToken := filepath.Join(dir, "hub-token")
	if err := os.WriteFile(hubToken, []byte("hub-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "", "appliance_id: box1\nproxy:\n  gpu: off\n  filmstrip_tiles: 4\nhub:\n"+
		"  s3:\n    endpoint: "+m.Endpoint+"\n    bucket: "+bucket+"\n    prefix: edge\n    path_style: true\n    retry_min: 200ms\n    retry_max: 2s\n"+
		"  webhook:\n    url: "+hub.URL+"/ingestd/events\n    token_file: "+hubToken+"\n    batch_size: 3\n    retry_min: 200ms\n    retry_max: 2s\n")
	e.extraEnv = miniotest.Env()
	e.start()

	// Made by one step, read by later ones.
	ctx := context.Background()
	var objs []miniotest.Object
	var ss struct {
		S3 struct {
			Bucket         string    `json:"bucket"`
			BacklogObjects int       `json:"backlog_objects"`
			LastSuccess    time.Time `json:"last_success"`
			AssetsSynced   int       `json:"assets_synced"`
			BytesUploaded  int64     `json:"bytes_uploaded"`
		} `json:"s3"`
		Webhook struct {
			URL       string `json:"url"`
			Delivered uint64 `json:"delivered_seq"`
		} `json:"webhook"`
	}
	e.step(t, "catalog, proxy, analysis, sync: the bucket holds exactly the documented objects", func(t *testing.T) {
		clip := makeClip(t, t.TempDir(), "A001_C002.mov", 2, 550, false)
		master, err := os.ReadFile(clip)
		if err != nil {
			t.Fatal(err)
		}
		e.dropFile(clip, "A001_C002.mov")
		e.writeFile("notes.txt", []byte("sync notes\n"))
		var clipID, notesID string
		evs := e.waitFeed(mediaTimeout, "both files cataloged", hasPaths(storage.EvLocationAdded, "A001_C002.mov", "notes.txt"))
		clipID, notesID = assetOf(evs, "A001_C002.mov"), assetOf(evs, "notes.txt")
		// Settled: the clip synced after its analysis (which follows
		// proxy.ready), the text file after it was probed (asset.json is
		// rewritten on every change of the asset).
		e.waitFeed(mediaTimeout, "asset.synced after proxy.ready, analysis.ready / probe", func(evs []storage.Event) bool {
			return syncedAfter(evs, clipID, storage.EvProxyReady) && syncedAfter(evs, clipID, storage.EvAnalysisReady) &&
				syncedAfter(evs, notesID, storage.EvAssetUpdated)
		})

		doc, err := e.client().Asset(ctx, clipID)
		if err != nil {
			t.Fatal(err)
		}
		if doc.Proxy == nil || doc.Proxy.Status != "ready" || doc.Sync == nil || doc.Sync.Status != "synced" {
			t.Fatalf("clip proxy %+v sync %+v, want ready and synced", doc.Proxy, doc.Sync)
		}

		// The bucket holds exactly asset.json + the proxy outputs + the
		// analysis outputs (analysis.json, shots.jpg, shots/NNNNN.jpg) of the clip, and asset.json of
		// the text file: byte-identical to the local outputs, nothing else, no
		// master.
		objs = m.List(t, bucket)
		want := map[string]bool{}
		if doc.Analysis == nil || !slices.Contains(doc.Analysis.Outputs, "shots.jpg") {
			t.Fatalf("clip analysis %+v: want outputs with shots.jpg", doc.Analysis)
		}
		for _, o := range append(append([]string{"asset.json"}, doc.Analysis.Outputs...), doc.Proxy.Outputs...) {
			want[path.Join("edge/box1/assets", clipID, o)] = true
		}
		want[path.Join("edge/box1/assets", notesID, "asset.json")] = true
		var got []string
		for _, o := range objs {
			got = append(got, o.Key)
		}
		wantKeys := make([]string, 0, len(want))
		for k := range want {
			wantKeys = append(wantKeys, k)
		}
		sort.Strings(wantKeys)
		if !slices.Equal(got, wantKeys) {
			t.Fatalf("bucket holds\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantKeys, "\n"))
		}
		for _, name := range []string{"proxy.mp4", "poster.jpg", "filmstrip.jpg"} {
			if !slices.Contains(doc.Proxy.Outputs, name) {
				t.Errorf("outputs %v lack %s", doc.Proxy.Outputs, name)
			}
		}
		for _, o := range objs {
			body := m.Get(t, bucket, o.Key)
			if bytes.Equal(body, master) || bytes.Equal(body, []byte("sync notes\n")) {
				t.Fatalf("a master was uploaded as %s", o.Key)
			}
			name := path.Base(o.Key)
			if path.Base(path.Dir(o.Key)) == "shots" {
				name = "shots/" + name // a per-shot thumbnail of the analysis
			}
			if name == "asset.json" {
				var a storage.AssetDoc
				if err := json.Unmarshal(body, &a); err != nil {
					t.Fatalf("%s: %v", o.Key, err)
				}
				if a.Sync == nil || a.Sync.Status != "synced" || !strings.Contains(o.Key, a.ID) {
					t.Errorf("%s: id %s sync %+v", o.Key, a.ID, a.Sync)
				}
				if a.ID == clipID && (a.Proxy == nil || a.Proxy.Status != "ready" || a.Media == nil) {
					t.Errorf("clip asset.json without ready proxy/media: %s", body)
				}
				continue
			}
			local, err := os.ReadFile(storage.OutputPath(e.state, clipID, name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body, local) {
				t.Errorf("%s differs from the local %s (%d vs %d bytes)", o.Key, name, len(body), len(local))
			}
		}
	})
	e.step(t, "status: the sync section", func(t *testing.T) {
		// Status: the sync section, API and CLI.
		st, err := e.client().Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		redecodeJSON(t, st.Sync, &ss)
		if ss.S3.Bucket != bucket || ss.S3.AssetsSynced < 2 || ss.S3.BytesUploaded == 0 || ss.S3.LastSuccess.IsZero() || ss.Webhook.URL == "" {
			t.Errorf("status sync section: %+v", ss)
		}
		out, _, code := e.cli("status")
		if code != 0 || !strings.Contains(out, "sync s3") || !strings.Contains(out, "s3://"+bucket+"/edge") || !strings.Contains(out, "sync webhook") {
			t.Errorf("ingestd status (%d):\n%s", code, out)
		}
	})
	e.step(t, "a restart uploads nothing again", func(t *testing.T) {
		// A restart uploads nothing again: every object keeps its ETag and
		// LastModified, and a new file still syncs (the pusher runs).
		time.Sleep(1100 * time.Millisecond) // LastModified has 1 s resolution on some servers
		e.stop()
		e.start()
		e.writeFile("later.txt", []byte("after the restart\n"))
		var laterID string
		e.waitFeed(mediaTimeout, "later.txt synced", func(evs []storage.Event) bool {
			laterID = assetOf(evs, "later.txt")
			return syncedAfter(evs, laterID, storage.EvAssetUpdated)
		})
		after := map[string]miniotest.Object{}
		for _, o := range m.List(t, bucket) {
			after[o.Key] = o
		}
		for _, o := range objs {
			a, ok := after[o.Key]
			if !ok || a.ETag != o.ETag || !a.Modified.Equal(o.Modified) {
				t.Errorf("%s rewritten after a restart: %+v -> %+v", o.Key, o, a)
			}
		}
		if len(after) != len(objs)+1 {
			t.Errorf("after the restart the bucket has %d objects, want %d", len(after), len(objs)+1)
		}
		laterJSON := m.Get(t, bucket, path.Join("edge/box1/assets", laterID, "asset.json"))
		// The pusher counts an upload's bytes when the upload returns, just
		// after its asset.synced is visible: give the counter a moment.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			st, err := e.client().Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			redecodeJSON(t, st.Sync, &ss)
			if ss.S3.BytesUploaded >= int64(len(laterJSON)) || time.Now().After(deadline) {
				break
			}
		}
		// Only later.txt's asset.json (once, or twice when its first version
		// went up before the probe) was sent since the restart.
		if ss.S3.BytesUploaded < int64(len(laterJSON)) || ss.S3.BytesUploaded > 2*int64(len(laterJSON)) {
			t.Errorf("after the restart %d bytes uploaded, want only later.txt's asset.json (%d)", ss.S3.BytesUploaded, len(laterJSON))
		}
	})
	e.step(t, "webhook: every event in order, batched", func(t *testing.T) {
		// Webhook: every feed event, in seq order, in batches of at most 3 with
		// Idempotency-Key box1-<catalog_id>-<first>-<last> and the hub token.
		feed := e.feedAll()
		st, err := e.client().Status(context.Background())
		if err != nil || st.CatalogID == "" {
			t.Fatalf("status: catalog_id %q, %v", st.CatalogID, err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for len(rx.events()) < len(feed) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		gotEv := rx.events()
		if len(gotEv) < len(feed) {
			t.Fatalf("webhook got %d events, feed has %d", len(gotEv), len(feed))
		}
		for i, ev := range feed {
			if gotEv[i].Seq != ev.Seq || gotEv[i].Type != ev.Type || gotEv[i].AssetID != ev.AssetID {
				t.Fatalf("webhook event %d is %+v, feed has %+v", i, gotEv[i], ev)
			}
		}
		rx.mu.Lock()
		defer rx.mu.Unlock()
		for i, b := range rx.batches {
			if len(b) == 0 || len(b) > 3 {
				t.Errorf("batch %d has %d events", i, len(b))
				continue
			}
			if k := fmt.Sprintf("box1-%s-%d-%d", st.CatalogID, b[0].Seq, b[len(b)-1].Seq); rx.keys[i] != k {
				t.Errorf("batch %d Idempotency-Key %q, want %q", i, rx.keys[i], k)
			}
			if rx.auth[i] != "Bearer hub-secret" || rx.app[i] != "box1" {
				t.Errorf("batch %d auth %q appliance %q", i, rx.auth[i], rx.app[i])
			}
		}
		types := map[string]bool{}
		for _, ev := range gotEv {
			types[ev.Type] = true
		}
		for _, typ := range []string{storage.EvAssetCataloged, storage.EvAssetUpdated, storage.EvProxyReady, storage.EvAssetSynced, storage.EvApplianceStarted} {
			if !types[typ] {
				t.Errorf("webhook never got %s", typ)
			}
		}
	})
}

// TestWebhookParkedUntilSIGHUP: a 4xx from the hub parks the batch (shown
// in status), nothing after it is sent, and a SIGHUP sends the same batch
// again with the same Idempotency-Key.
func TestWebhookParkedUntilSIGHUP(t *testing.T) {
	var mu sync.Mutex
	reject := true
	var posts []string // Idempotency-Key of every POST, accepted or not
	rx := &hook{}      // the accepted batches
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		rej := reject
		posts = append(posts, r.Header.Get("Idempotency-Key"))
		mu.Unlock()
		if rej {
			http.Error(w, `{"error":"schema mismatch"}`, http.StatusUnprocessableEntity)
			return
		}
		rx.ServeHTTP(w, r)
	}))
	defer hub.Close()
	e := newEnv(t, "", "appliance_id: box1\nhub:\n  webhook:\n    url: "+hub.URL+"\n    batch_size: 2\n    retry_min: 100ms\n    retry_max: 1s\n")
	e.start()
	e.writeFile("a.txt", []byte("parked a\n"))
	e.waitFeed(60*time.Second, "a.txt cataloged", hasPaths(storage.EvLocationAdded, "a.txt"))

	var parkedKey string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st, err := e.client().Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var ss struct {
			Webhook struct {
				Parked *struct {
					First uint64 `json:"first_seq"`
					Last  uint64 `json:"last_seq"`
					Code  int    `json:"code"`
				} `json:"parked"`
			} `json:"webhook"`
		}
		redecodeJSON(t, st.Sync, &ss)
		if p := ss.Webhook.Parked; p != nil {
			if p.Code != http.StatusUnprocessableEntity {
				t.Errorf("parked code %d, want 422", p.Code)
			}
			parkedKey = fmt.Sprintf("box1-%s-%d-%d", st.CatalogID, p.First, p.Last)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook never parked: %+v\n%s", st.Sync, e.stderr.String())
		}
	}
	out, _, _ := e.cli("status")
	if !strings.Contains(out, "webhook parked") || !strings.Contains(out, "422") {
		t.Errorf("ingestd status does not show the parked batch:\n%s", out)
	}
	// Parked means parked: no retries and nothing newer is sent.
	time.Sleep(1500 * time.Millisecond)
	mu.Lock()
	sent := len(posts)
	mu.Unlock()
	if sent != 1 {
		t.Errorf("%d POSTs while parked, want 1", sent)
	}

	mu.Lock()
	reject = false
	mu.Unlock()
	e.proc.Process.Signal(syscall.SIGHUP)
	feed := e.feedAll()
	deadline := time.Now().Add(60 * time.Second)
	for len(rx.events()) < len(feed) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	keys := append([]string(nil), posts...)
	mu.Unlock()
	if len(keys) < 2 || keys[0] != parkedKey || keys[1] != parkedKey {
		t.Errorf("POST keys %v: want the parked batch %s, then the same batch again after SIGHUP", keys, parkedKey)
	}
	got := rx.events()
	if len(got) < len(feed) {
		t.Fatalf("after SIGHUP the hub got %d events, feed has %d", len(got), len(feed))
	}
	for i, ev := range feed {
		if got[i].Seq != ev.Seq {
			t.Fatalf("event %d: seq %d, feed %d", i, got[i].Seq, ev.Seq)
		}
	}
	e.stop()
}

// TestHubOutage: with the hub down, the backlog and the error show in the
// status (API and CLI) and nothing is lost; when the hub comes up the
// backlog drains by itself.
func TestHubOutage(t *testing.T) {
	const bucket = "studio-hub"
	miniotest.Require(t)
	addr := freeAddr(t) // nothing listens there yet
	e := newEnv(t, "", "appliance_id: box1\nhub:\n  s3:\n    endpoint: http://"+addr+"\n    bucket: "+bucket+
		"\n    prefix: edge\n    path_style: true\n    retry_min: 200ms\n    retry_max: 1s\n")
	e.extraEnv = miniotest.Env()
	e.start()
	e.writeFile("a.txt", []byte("during the outage\n"))
	evs := e.waitFeed(60*time.Second, "a.txt cataloged", hasPaths(storage.EvLocationAdded, "a.txt"))
	id := assetOf(evs, "a.txt")

	s3status := func() wire.S3Status { return hubS3Status(t, e) }
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		s := s3status()
		if s.LastError != "" && s.BacklogAssets >= 1 && s.BacklogObjects >= 1 {
			if !strings.Contains(s.LastError, addr) && !strings.Contains(s.LastError, "connect") {
				t.Logf("last_error does not name the endpoint: %s", s.LastError)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no backlog/error in status during the outage: %+v", s)
		}
	}
	out, _, _ := e.cli("status")
	if !strings.Contains(out, "s3 error") || !strings.Contains(out, "backlog 1 assets") {
		t.Errorf("ingestd status during the outage:\n%s", out)
	}
	for _, ev := range e.feedAll() {
		if ev.Type == storage.EvAssetSynced {
			t.Fatalf("asset.synced during the outage: %+v", ev)
		}
	}

	m := miniotest.StartAt(t, addr)
	m.CreateBucket(t, bucket)
	e.waitFeed(60*time.Second, "asset.synced after the hub came back", hasAssetEvent(storage.EvAssetSynced, &id))
	// The status counters follow the event within moments.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		s := s3status()
		if s.BacklogAssets == 0 && s.BacklogObjects == 0 && !s.LastSuccess.IsZero() && s.AssetsSynced >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status after recovery: %+v", s)
		}
	}
	if len(m.Get(t, bucket, "edge/box1/assets/"+id+"/asset.json")) == 0 {
		t.Error("empty asset.json")
	}
	e.stop()
}

// faultHub is a reverse proxy in front of the real MinIO that answers, while
// a fault is set, every request with that S3 error instead (the Host header
// is kept, so SigV4 signatures still verify when it passes through).
type faultHub struct {
	srv   *httptest.Server
	mu    sync.Mutex
	fault string // "" passes through
	seen  map[string]int
}

var faultReplies = map[string]struct {
	code       int
	s3code     string
	retryAfter string
}{
	"slowdown": {http.StatusServiceUnavailable, "SlowDown", "1"},
	"internal": {http.StatusInternalServerError, "InternalError", ""},
	"badauth":  {http.StatusForbidden, "SignatureDoesNotMatch", ""},
	"nobucket": {http.StatusNotFound, "NoSuchBucket", ""},
}

func newFaultHub(t *testing.T, target string) *faultHub {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	f := &faultHub{seen: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		fault := f.fault
		f.seen[fault]++
		f.mu.Unlock()
		rep, ok := faultReplies[fault]
		if !ok {
			rp.ServeHTTP(w, r)
			return
		}
		io.Copy(io.Discard, r.Body)
		if rep.retryAfter != "" {
			w.Header().Set("Retry-After", rep.retryAfter)
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(rep.code)
		if r.Method != http.MethodHead {
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected %s</Message><Resource>%s</Resource><RequestId>fault</RequestId></Error>`,
				rep.s3code, fault, r.URL.Path)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *faultHub) set(fault string) {
	f.mu.Lock()
	f.fault = fault
	f.mu.Unlock()
}

func (f *faultHub) count(fault string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[fault]
}

// TestHubFaults: the real daemon in front of a hub that throttles (503
// SlowDown), fails (500 InternalError), rejects the credentials (403) and
// lost its bucket (404 NoSuchBucket), one after the other. Each time: ingest
// goes on (the new file is cataloged), /v1/status shows the backlog, a
// last_error that names the cause (and credentials rejected / bucket does
// not exist for the two that need an operator) and retry_at (backing off,
// not looping); no asset.synced while the hub fails; once the hub is back
// the backlog drains by itself and every file's asset.json is in the
// bucket. Neither the S3 secret nor the API token appears in the daemon's
// log.
func TestHubFaults(t *testing.T) {
	const bucket = "studio-hub"
	const apiToken = "api-token-7f3a9c"
	m := miniotest.Start(t)
	m.CreateBucket(t, bucket)
	fh := newFaultHub(t, m.Endpoint)
	e := newEnv(t, apiToken, "appliance_id: box1\nhub:\n  s3:\n    endpoint: "+fh.srv.URL+"\n    bucket: "+bucket+
		"\n    prefix: edge\n    path_style: true\n    retry_min: 200ms\n    retry_max: 1s\n")
	e.extraEnv = miniotest.Env()
	e.start()

	s3status := func() wire.S3Status { return hubS3Status(t, e) }
	ids := map[string]string{}
	for _, tc := range []struct{ fault, want string }{
		{"slowdown", "StatusCode: 503"}, // a HEAD has no body: its code is the status
		{"internal", "StatusCode: 500"},
		{"badauth", "credentials rejected"},
		{"nobucket", "bucket does not exist"},
	} {
		e.step(t, tc.fault, func(t *testing.T) {
			fh.set(tc.fault)
			t0 := time.Now()
			name := tc.fault + ".txt"
			e.writeFile(name, []byte("written while the hub answers "+tc.fault+"\n"))
			evs := e.waitFeed(60*time.Second, name+" cataloged during the fault", hasPaths(storage.EvLocationAdded, name))
			id := assetOf(evs, name)
			ids[name] = id
			var s wire.S3Status
			snetWait(t, 60*time.Second, "the fault in /v1/status", func() bool {
				s = s3status()
				return s.BacklogAssets >= 1 && s.LastErrorAt.After(t0) && strings.Contains(s.LastError, tc.want) && !s.RetryAt.IsZero()
			})
			// Backing off, not looping: a few rounds, not hundreds.
			n0 := fh.count(tc.fault)
			time.Sleep(1500 * time.Millisecond)
			if n := fh.count(tc.fault) - n0; n > 60 {
				t.Errorf("%d requests to a failing hub in 1.5 s: not backing off", n)
			}
			for _, ev := range e.feedAll() {
				if ev.Type == storage.EvAssetSynced && ev.AssetID == id {
					t.Fatalf("asset.synced while the hub answers %s: %+v", tc.fault, ev)
				}
			}
			fh.set("")
			e.waitFeed(60*time.Second, name+" synced after the hub recovered", hasAssetEvent(storage.EvAssetSynced, &id))
			snetWait(t, 30*time.Second, "backlog drained", func() bool { s = s3status(); return s.BacklogAssets == 0 })
		})
	}
	for name, id := range ids {
		if b := m.Get(t, bucket, "edge/box1/assets/"+id+"/asset.json"); !bytes.Contains(b, []byte(`"`+name+`"`)) || !bytes.Contains(b, []byte(`"synced"`)) {
			t.Errorf("asset.json of %s: %s", name, b)
		}
	}
	e.stop()
	log := e.stderr.String()
	for _, secret := range []string{miniotest.SecretKey, apiToken} {
		if strings.Contains(log, secret) {
			t.Errorf("the daemon's log holds the secret %q", secret)
		}
	}
}

// TestHubHostileNames: names on a volume are untrusted. Files whose names
// look like traversal, URL escapes, bucket keys of ours, control
// characters, invalid UTF-8 or the longest name ext4 allows, in deep
// folders, put exactly one object each in the bucket, at
// <prefix>/<appliance_id>/assets/<64 hex>/asset.json (nothing else, no
// master), and each asset.json names its path exactly (path_b64 for the
// bytes that are not UTF-8).
func TestHubHostileNames(t *testing.T) {
	const bucket = "studio-hub"
	m := miniotest.Start(t)
	m.CreateBucket(t, bucket)
	e := newEnv(t, "", "appliance_id: box1\nhub:\n  s3:\n    endpoint: "+m.Endpoint+"\n    bucket: "+bucket+
		"\n    prefix: edge\n    path_style: true\n    retry_min: 200ms\n    retry_max: 1s\n")
	e.extraEnv = miniotest.Env()
	e.start()
	names := []string{
		// (a name with a leading dot is never cataloged)
		"%2e%2e%2f%2e%2e%2fescape.txt", "x..\\..\\win.txt", "asset.json", "proxy.mp4", "edge", "a\nb\rc\td.txt",
		"latin1-\xe9t\xe9.txt", "\xff\xfe", "-rf", "*", "%00", "?x=1&y=2#frag",
		"deep/1/2/3/4/5/6/7/8/9/10/" + strings.Repeat("n", 250) + ".mov",
	}
	for i, n := range names {
		e.writeFile(n, []byte(fmt.Sprintf("hostile name %d\n", i)))
	}
	evs := e.waitFeed(60*time.Second, "every hostile name synced", func(evs []storage.Event) bool {
		added, synced := map[string]string{}, map[string]bool{}
		for _, ev := range evs {
			switch ev.Type {
			case storage.EvLocationAdded:
				added[ev.Path] = ev.AssetID
			case storage.EvAssetSynced:
				synced[ev.AssetID] = true
			}
		}
		if len(added) < len(names) {
			return false
		}
		for _, id := range added {
			if !synced[id] {
				return false
			}
		}
		return true
	})
	ids := map[string]bool{}
	for _, ev := range evs {
		if ev.Type == storage.EvLocationAdded {
			ids[ev.AssetID] = true
		}
	}
	keyRE := regexp.MustCompile(`^edge/box1/assets/([0-9a-f]{64})/asset\.json$`)
	objs := m.List(t, bucket)
	if len(objs) != len(names) {
		t.Errorf("%d objects for %d files", len(objs), len(names))
	}
	var all bytes.Buffer
	for _, o := range objs {
		mm := keyRE.FindStringSubmatch(o.Key)
		if mm == nil || !ids[mm[1]] {
			t.Errorf("object %q is not the asset.json of a cataloged file", o.Key)
			continue
		}
		all.Write(m.Get(t, bucket, o.Key))
	}
	for _, n := range names {
		var want []byte
		if utf8.ValidString(n) {
			want, _ = json.Marshal(n)
		} else {
			want = []byte(`"path_b64": "` + base64.StdEncoding.EncodeToString([]byte(n)) + `"`)
		}
		if !bytes.Contains(all.Bytes(), want) {
			t.Errorf("no asset.json names %q (looked for %s)", n, want)
		}
	}
	e.stop()
}

// hubS3Status is the sync.s3 section of the daemon's /v1/status (zero
// when there is none).
func hubS3Status(t *testing.T, e *env) wire.S3Status {
	t.Helper()
	st, err := e.client().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Sync == nil || st.Sync.S3 == nil {
		return wire.S3Status{}
	}
	return *st.Sync.S3
}
