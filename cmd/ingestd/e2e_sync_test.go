package main_test

// End to end through hub sync: the real binary pushes a clip's proxies and
// asset.json to a real MinIO and POSTs the feed to a webhook receiver
// (httptest: the hub's side is the one fake allowed).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ingestd/ingestd/storage"
)

// MinIO is started the way sync/internal/miniotest does it (that package is
// internal to sync/): the binary from $INGESTD_MINIO,
// ~/.cache/ingestd-tools/bin/minio (scripts/deps.sh) or PATH.
const (
	minioUser   = "ingestd-e2e"
	minioSecret = "ingestd-e2e-secret"
)

type minioServer struct {
	endpoint string
	log      string
}

func minioBinary() (string, error) {
	if p := os.Getenv("INGESTD_MINIO"); p != "" {
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "ingestd-tools", "bin", "minio")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	return "", errors.New("minio binary not found (set INGESTD_MINIO or run scripts/deps.sh)")
}

// startMinio runs a MinIO server on a free port with a temp data dir and
// creates bucket; it is stopped at cleanup.
func startMinio(t *testing.T, bucket string) *minioServer {
	t.Helper()
	needMinio(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return startMinioAt(t, addr, bucket)
}

// needMinio skips (fails on CI) when there is no MinIO binary.
func needMinio(t *testing.T) string {
	t.Helper()
	bin, err := minioBinary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return bin
}

// startMinioAt is startMinio on a given address.
func startMinioAt(t *testing.T, addr, bucket string) *minioServer {
	t.Helper()
	bin := needMinio(t)
	dir := t.TempDir()
	m := &minioServer{endpoint: "http://" + addr, log: filepath.Join(dir, "minio.log")}
	logf, err := os.Create(m.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "server", "--quiet", "--address", addr, "--console-address", "127.0.0.1:0", filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+minioUser, "MINIO_ROOT_PASSWORD="+minioSecret,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(m.endpoint + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-done:
			b, _ := os.ReadFile(m.log)
			t.Fatalf("minio exited: %s", b)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("minio did not become live within 60s")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := m.client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return m
}

func (m *minioServer) client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint:               aws.String(m.endpoint),
		Region:                     "us-east-1",
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(minioUser, minioSecret, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// env gives the daemon the server's credentials through the default chain.
func (m *minioServer) env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + minioUser, "AWS_SECRET_ACCESS_KEY=" + minioSecret,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull}
}

type object struct {
	key      string
	etag     string
	modified time.Time
	size     int64
}

// list returns every object of the bucket, sorted by key.
func (m *minioServer) list(t *testing.T, bucket string) []object {
	t.Helper()
	var out []object
	p := s3.NewListObjectsV2Paginator(m.client(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			out = append(out, object{key: aws.ToString(o.Key), etag: aws.ToString(o.ETag), modified: aws.ToTime(o.LastModified), size: aws.ToInt64(o.Size)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

func (m *minioServer) get(t *testing.T, bucket, key string) []byte {
	t.Helper()
	o, err := m.client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer o.Body.Close()
	b, err := io.ReadAll(o.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

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
	m := startMinio(t, bucket)
	rx := &hook{}
	hub := httptest.NewServer(rx)
	defer hub.Close()
	dir := t.TempDir()
	hubToken := filepath.Join(dir, "hub-token")
	if err := os.WriteFile(hubToken, []byte("hub-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "", "appliance_id: box1\nproxy:\n  gpu: off\n  filmstrip_tiles: 4\nhub:\n"+
		"  s3:\n    endpoint: "+m.endpoint+"\n    bucket: "+bucket+"\n    prefix: edge\n    path_style: true\n    retry_min: 200ms\n    retry_max: 2s\n"+
		"  webhook:\n    url: "+hub.URL+"/ingestd/events\n    token_file: "+hubToken+"\n    batch_size: 3\n    retry_min: 200ms\n    retry_max: 2s\n")
	e.extraEnv = m.env()
	e.start()

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
	// Settled: the clip synced after proxy.ready, the text file after it
	// was probed (asset.json is rewritten on every change of the asset).
	evs = e.waitFeed(mediaTimeout, "asset.synced after proxy.ready / probe", func(evs []storage.Event) bool {
		return syncedAfter(evs, clipID, storage.EvProxyReady) && syncedAfter(evs, notesID, storage.EvAssetUpdated)
	})

	ctx := context.Background()
	doc, err := e.client().Asset(ctx, clipID)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Proxy == nil || doc.Proxy.Status != "ready" || doc.Sync == nil || doc.Sync.Status != "synced" {
		t.Fatalf("clip proxy %+v sync %+v, want ready and synced", doc.Proxy, doc.Sync)
	}

	// The bucket holds exactly asset.json + the proxy outputs of the clip,
	// and asset.json of the text file: byte-identical to the local outputs,
	// nothing else, no master.
	objs := m.list(t, bucket)
	want := map[string]bool{}
	for _, o := range append([]string{"asset.json"}, doc.Proxy.Outputs...) {
		want[path.Join("edge/box1/assets", clipID, o)] = true
	}
	want[path.Join("edge/box1/assets", notesID, "asset.json")] = true
	var got []string
	for _, o := range objs {
		got = append(got, o.key)
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
		body := m.get(t, bucket, o.key)
		if bytes.Equal(body, master) || bytes.Equal(body, []byte("sync notes\n")) {
			t.Fatalf("a master was uploaded as %s", o.key)
		}
		name := path.Base(o.key)
		if name == "asset.json" {
			var a storage.AssetDoc
			if err := json.Unmarshal(body, &a); err != nil {
				t.Fatalf("%s: %v", o.key, err)
			}
			if a.Sync == nil || a.Sync.Status != "synced" || !strings.Contains(o.key, a.ID) {
				t.Errorf("%s: id %s sync %+v", o.key, a.ID, a.Sync)
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
			t.Errorf("%s differs from the local %s (%d vs %d bytes)", o.key, name, len(body), len(local))
		}
	}

	// Status: the sync section, API and CLI.
	st, err := e.client().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
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
	redecodeJSON(t, st.Sync, &ss)
	if ss.S3.Bucket != bucket || ss.S3.AssetsSynced < 2 || ss.S3.BytesUploaded == 0 || ss.S3.LastSuccess.IsZero() || ss.Webhook.URL == "" {
		t.Errorf("status sync section: %+v", ss)
	}
	out, _, code := e.cli("status")
	if code != 0 || !strings.Contains(out, "sync s3") || !strings.Contains(out, "s3://"+bucket+"/edge") || !strings.Contains(out, "sync webhook") {
		t.Errorf("ingestd status (%d):\n%s", code, out)
	}

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
	after := map[string]object{}
	for _, o := range m.list(t, bucket) {
		after[o.key] = o
	}
	for _, o := range objs {
		a, ok := after[o.key]
		if !ok || a.etag != o.etag || !a.modified.Equal(o.modified) {
			t.Errorf("%s rewritten after a restart: %+v -> %+v", o.key, o, a)
		}
	}
	if len(after) != len(objs)+1 {
		t.Errorf("after the restart the bucket has %d objects, want %d", len(after), len(objs)+1)
	}
	st, err = e.client().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	redecodeJSON(t, st.Sync, &ss)
	laterJSON := m.get(t, bucket, path.Join("edge/box1/assets", laterID, "asset.json"))
	// Only later.txt's asset.json (once, or twice when its first version
	// went up before the probe) was sent since the restart.
	if ss.S3.BytesUploaded < int64(len(laterJSON)) || ss.S3.BytesUploaded > 2*int64(len(laterJSON)) {
		t.Errorf("after the restart %d bytes uploaded, want only later.txt's asset.json (%d)", ss.S3.BytesUploaded, len(laterJSON))
	}

	// Webhook: every feed event, in seq order, in batches of at most 3 with
	// Idempotency-Key box1-<first>-<last> and the hub token.
	feed := e.feedAll()
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
		if k := fmt.Sprintf("box1-%d-%d", b[0].Seq, b[len(b)-1].Seq); rx.keys[i] != k {
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
			parkedKey = fmt.Sprintf("box1-%d-%d", p.First, p.Last)
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
	needMinio(t)
	addr := freeAddr(t) // nothing listens there yet
	e := newEnv(t, "", "appliance_id: box1\nhub:\n  s3:\n    endpoint: http://"+addr+"\n    bucket: "+bucket+
		"\n    prefix: edge\n    path_style: true\n    retry_min: 200ms\n    retry_max: 1s\n")
	e.extraEnv = (&minioServer{}).env()
	e.start()
	e.writeFile("a.txt", []byte("during the outage\n"))
	evs := e.waitFeed(60*time.Second, "a.txt cataloged", hasPaths(storage.EvLocationAdded, "a.txt"))
	id := assetOf(evs, "a.txt")

	type s3st struct {
		BacklogAssets  int       `json:"backlog_assets"`
		BacklogObjects int       `json:"backlog_objects"`
		BacklogBytes   int64     `json:"backlog_bytes"`
		LastError      string    `json:"last_error"`
		LastSuccess    time.Time `json:"last_success"`
		AssetsSynced   int       `json:"assets_synced"`
	}
	s3status := func() s3st {
		st, err := e.client().Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var ss struct {
			S3 s3st `json:"s3"`
		}
		redecodeJSON(t, st.Sync, &ss)
		return ss.S3
	}
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

	m := startMinioAt(t, addr, bucket)
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
	if len(m.get(t, bucket, "edge/box1/assets/"+id+"/asset.json")) == 0 {
		t.Error("empty asset.json")
	}
	e.stop()
}
