package main_test

// Issue 10, items 12, 15 and 16: what the public documents (API, feed,
// webhook, asset.json in the bucket, CLI) say about paths must be exact and
// current. Names found on a volume are untrusted bytes, not necessarily
// UTF-8; a location the content left must read as removed, and every asset
// whose locations change gets an event with its id.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ingestd/ingestd/internal/miniotest"
	"github.com/ingestd/ingestd/storage"
)

// secDocsLoc is a location as the JSON says it, path_b64 included.
type secDocsLoc struct {
	Volume     string    `json:"volume"`
	Path       string    `json:"path"`
	PathB64    *string   `json:"path_b64"`
	AssetID    string    `json:"asset_id"`
	State      string    `json:"state"`
	Removed    time.Time `json:"removed"`
	ReplacedBy string    `json:"replaced_by"`
}

// raw is the location's exact name: path_b64 when present, else path.
func (l secDocsLoc) raw(t *testing.T) string {
	t.Helper()
	if l.PathB64 == nil {
		return l.Path
	}
	b, err := base64.StdEncoding.DecodeString(*l.PathB64)
	if err != nil {
		t.Fatalf("path_b64 %q: %v", *l.PathB64, err)
	}
	return string(b)
}

// secDocsAsset reads GET /v1/assets/{id} as raw JSON.
func secDocsAsset(t *testing.T, e *env, id string) []secDocsLoc {
	t.Helper()
	code, body := e.get("/v1/assets/"+id, e.token)
	if code != 200 {
		t.Fatalf("GET asset %s: %d %s", id, code, body)
	}
	return secDocsLocs(t, body)
}

func secDocsLocs(t *testing.T, body []byte) []secDocsLoc {
	t.Helper()
	var doc struct {
		Locations []secDocsLoc `json:"locations"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("asset document: %v\n%s", err, body)
	}
	return doc.Locations
}

// secDocsByRaw maps a document's locations by exact name.
func secDocsByRaw(t *testing.T, locs []secDocsLoc) map[string]secDocsLoc {
	t.Helper()
	m := map[string]secDocsLoc{}
	for _, l := range locs {
		r := l.raw(t)
		if _, dup := m[r]; dup {
			t.Fatalf("location %q listed twice: %+v", r, locs)
		}
		m[r] = l
	}
	return m
}

// secDocsFeedRaw reads the whole feed as raw JSON events.
func secDocsFeedRaw(t *testing.T, e *env) []map[string]any {
	t.Helper()
	code, body := e.get("/v1/feed?after=0&limit=1000", e.token)
	if code != 200 {
		t.Fatalf("feed: %d %s", code, body)
	}
	var d struct {
		Events []map[string]any `json:"events"`
	}
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	return d.Events
}

// TestSecurity12InvalidUTF8Names: two files whose names differ only in
// bytes that are not UTF-8 are two distinct locations everywhere: the feed
// and the asset document carry each exact name in path_b64, and the CLI
// prints them escaped and distinguishable.
func TestSecurity12InvalidUTF8Names(t *testing.T) {
	rx := &hook{} // the hub's webhook receiver decodes path_b64 as a hub would
	hub := httptest.NewServer(rx)
	defer hub.Close()
	e := newEnv(t, "", "hub:\n  webhook:\n    url: "+hub.URL+"/ingestd/events\n    retry_min: 200ms\n    retry_max: 2s\n")
	e.start()
	names := []string{"a\xff.mov", "a\xfe.mov"}
	content := []byte("the same bytes under two names that JSON alone cannot tell apart\n")
	for _, n := range names {
		e.writeFile(n, content)
	}
	evs := e.waitFeed(60*time.Second, "both names cataloged", hasPaths(storage.EvLocationAdded, names...))
	id := assetOf(evs, names[0])
	if id == "" || assetOf(evs, names[1]) != id {
		t.Fatalf("asset ids %q %q, want one asset", id, assetOf(evs, names[1]))
	}

	// The feed, read raw: path is lossy, path_b64 exact.
	seen := map[string]bool{}
	for _, ev := range secDocsFeedRaw(t, e) {
		if ev["type"] != storage.EvLocationAdded {
			continue
		}
		b64, ok := ev["path_b64"].(string)
		if !ok {
			t.Fatalf("location.added without path_b64 for a non-UTF-8 name: %v", ev)
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		if ev["path"] != "a\ufffd.mov" {
			t.Errorf("display path %q", ev["path"])
		}
		seen[string(raw)] = true
	}
	if !seen[names[0]] || !seen[names[1]] {
		t.Fatalf("feed path_b64 names %v, want %q", seen, names)
	}

	// The asset document: two locations, each path_b64 the exact name.
	locs := secDocsByRaw(t, secDocsAsset(t, e, id))
	if len(locs) != 2 {
		t.Fatalf("asset locations %+v, want 2", locs)
	}
	for _, n := range names {
		l, ok := locs[n]
		if !ok || l.PathB64 == nil || l.State != storage.LocPresent {
			t.Fatalf("location %q: %+v (all: %+v)", n, l, locs)
		}
		if _, err := os.Stat(filepath.Join(e.watch, l.raw(t))); err != nil {
			t.Errorf("path_b64 of %q does not name the file: %v", n, err)
		}
	}
	// The webhook bodies carry the same events: each exact name arrives.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		got := countPaths(rx.events(), storage.EvLocationAdded)
		if got[names[0]] == 1 && got[names[1]] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook location.added paths %v, want each of %q once", got, names)
		}
	}

	// An ordinary name carries no path_b64.
	e.writeFile("plain.mov", []byte("plain\n"))
	evs = e.waitFeed(60*time.Second, "plain.mov cataloged", hasPaths(storage.EvLocationAdded, "plain.mov"))
	for _, l := range secDocsAsset(t, e, assetOf(evs, "plain.mov")) {
		if l.PathB64 != nil {
			t.Errorf("path_b64 on a UTF-8 name: %+v", l)
		}
	}

	// The CLI: both names escaped, Go-quoted, nothing raw on the terminal.
	out, errOut, code := e.cli("asset", id)
	if code != 0 {
		t.Fatalf("ingestd asset: %d %s", code, errOut)
	}
	for _, want := range []string{`"a\xff.mov"`, `"a\xfe.mov"`} {
		if !strings.Contains(out, want) {
			t.Errorf("ingestd asset lacks %s:\n%s", want, out)
		}
	}
	if !utf8.ValidString(out) || strings.ContainsRune(out, utf8.RuneError) {
		t.Errorf("ingestd asset printed raw or replaced bytes:\n%q", out)
	}
	out, _, code = e.cli("assets")
	if code != 0 || !utf8.ValidString(out) || strings.ContainsRune(out, utf8.RuneError) || !strings.Contains(out, `footage:"a\x`) {
		t.Errorf("ingestd assets (%d):\n%q", code, out)
	}
	// --json round-trips the bytes through the client's decoder.
	out, _, code = e.cli("asset", id, "--json")
	var doc storage.AssetDoc
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Locations) != 2 {
		t.Fatalf("ingestd asset --json (%d):\n%s", code, out)
	}
	got := map[string]bool{doc.Locations[0].Path: true, doc.Locations[1].Path: true}
	if !got[names[0]] || !got[names[1]] {
		t.Errorf("asset --json paths %v, want %q", got, names)
	}
	e.stop()
}

// TestSecurity15RemovedLocations: a deleted file, and the old name of a
// moved one, stay in the asset document as state removed with the time,
// as docs/api.md says; the CLI shows them so.
func TestSecurity15RemovedLocations(t *testing.T) {
	e := newEnv(t, "", "")
	e.start()
	content := []byte("content kept at one path, deleted at another\n")
	e.writeFile("gone.txt", content)
	e.writeFile("keep/copy.txt", content)
	evs := e.waitFeed(60*time.Second, "both cataloged", hasPaths(storage.EvLocationAdded, "gone.txt", "keep/copy.txt"))
	id := assetOf(evs, "gone.txt")

	if err := os.Remove(filepath.Join(e.watch, "gone.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(e.watch, "moved"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(e.watch, "keep/copy.txt"), filepath.Join(e.watch, "moved/copy.txt")); err != nil {
		t.Fatal(err)
	}
	evs = e.waitFeed(60*time.Second, "removal and move seen", func(evs []storage.Event) bool {
		return hasPaths(storage.EvLocationRemoved, "gone.txt", "keep/copy.txt")(evs) && hasPaths(storage.EvLocationAdded, "moved/copy.txt")(evs)
	})
	for _, ev := range evs {
		if ev.Path == "gone.txt" || ev.Path == "keep/copy.txt" || ev.Path == "moved/copy.txt" {
			if ev.AssetID != id {
				t.Errorf("event without the asset's id: %+v", ev)
			}
		}
	}

	locs := secDocsByRaw(t, secDocsAsset(t, e, id))
	want := map[string]string{"gone.txt": storage.LocRemoved, "keep/copy.txt": storage.LocRemoved, "moved/copy.txt": storage.LocPresent}
	if len(locs) != len(want) {
		t.Fatalf("locations %+v, want %v", locs, want)
	}
	for p, st := range want {
		l := locs[p]
		if l.State != st || l.AssetID != id || l.Volume != "footage" {
			t.Errorf("%s: %+v, want state %s", p, l, st)
		}
		if (st == storage.LocRemoved) == l.Removed.IsZero() {
			t.Errorf("%s: removed time %v with state %s", p, l.Removed, st)
		}
	}
	// The listing shows the same document.
	code, body := e.get("/v1/assets?limit=1000", "")
	var list struct {
		Assets []json.RawMessage `json:"assets"`
	}
	if code != 200 || json.Unmarshal(body, &list) != nil {
		t.Fatalf("assets: %d %s", code, body)
	}
	found := false
	for _, a := range list.Assets {
		if strings.Contains(string(a), id) {
			found = true
			if n := len(secDocsLocs(t, a)); n != 3 {
				t.Errorf("listing has %d locations, want 3: %s", n, a)
			}
		}
	}
	if !found {
		t.Errorf("asset %s not listed", id)
	}

	out, _, code := e.cli("asset", id)
	if code != 0 {
		t.Fatalf("ingestd asset: %d", code)
	}
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasSuffix(line, "gone.txt"), strings.HasSuffix(line, "keep/copy.txt"):
			if !strings.Contains(line, "removed 20") {
				t.Errorf("removed location shown as %q", line)
			}
		case strings.HasSuffix(line, "moved/copy.txt"):
			if !strings.Contains(line, "present") {
				t.Errorf("present location shown as %q", line)
			}
		}
	}
	if out, _, _ := e.cli("assets"); !strings.Contains(out, "moved/copy.txt (2 removed)") {
		t.Errorf("ingestd assets:\n%s", out)
	}
	e.stop()
}

// TestSecurity16OverwriteUpdatesOldAsset: a file rewritten with other
// content takes its path away from the old content. The old asset gets an
// event with its id (asset.updated, on the feed and the webhook), and its
// asset.json in the bucket is rewritten to show the path removed and
// replaced, so the hub no longer believes the old content is there.
func TestSecurity16OverwriteUpdatesOldAsset(t *testing.T) {
	const bucket = "studio-hub"
	m := miniotest.Start(t)
	m.CreateBucket(t, bucket)
	rx := &hook{}
	hub := httptest.NewServer(rx)
	defer hub.Close()
	e := newEnv(t, "", "appliance_id: box1\nproxy:\n  gpu: off\nhub:\n"+
		"  s3:\n    endpoint: "+m.Endpoint+"\n    bucket: "+bucket+"\n    prefix: edge\n    path_style: true\n    retry_min: 200ms\n    retry_max: 2s\n"+
		"  webhook:\n    url: "+hub.URL+"/ingestd/events\n    retry_min: 200ms\n    retry_max: 2s\n")
	e.extraEnv = miniotest.Env()
	e.start()
	key := func(id string) string { return "edge/box1/assets/" + id + "/asset.json" }
	bucketLocs := func(id string) map[string]secDocsLoc {
		return secDocsByRaw(t, secDocsLocs(t, m.Get(t, bucket, key(id))))
	}

	const name = "reel/A001.txt"
	e.writeFile(name, []byte("content X, first take\n"))
	evs := e.waitFeed(mediaTimeout, "X cataloged and synced", func(evs []storage.Event) bool {
		return syncedAfter(evs, assetOf(evs, name), storage.EvLocationAdded)
	})
	x := assetOf(evs, name)
	if l := bucketLocs(x)[name]; l.State != storage.LocPresent {
		t.Fatalf("X's first asset.json: %+v", bucketLocs(x))
	}

	e.writeFile(name, []byte("content Y, which replaced X at the same path\n"))
	var y string
	evs = e.waitFeed(mediaTimeout, "X's asset.updated synced", func(evs []storage.Event) bool {
		for _, ev := range evs {
			if ev.Type == storage.EvLocationChanged && ev.Path == name {
				y = ev.AssetID
			}
		}
		var upd bool
		for _, ev := range evs {
			upd = upd || ev.Type == storage.EvAssetUpdated && ev.AssetID == x && ev.Path == name
		}
		return y != "" && upd && syncedAfter(evs, x, storage.EvAssetUpdated) && syncedAfter(evs, y, storage.EvLocationChanged)
	})
	if y == x {
		t.Fatalf("location.changed kept the old id %s", x)
	}
	for _, ev := range evs {
		if ev.Type == storage.EvAssetUpdated && ev.AssetID == x && ev.Path == name &&
			(ev.Volume != "footage" || ev.Detail != "location replaced by "+y) {
			t.Errorf("asset.updated for X: %+v", ev)
		}
	}

	// The bucket: X's asset.json no longer claims the path; Y's does.
	lx := bucketLocs(x)[name]
	if lx.State != storage.LocRemoved || lx.ReplacedBy != y || lx.Removed.IsZero() {
		t.Errorf("X's asset.json after the overwrite: %+v", bucketLocs(x))
	}
	if ly := bucketLocs(y)[name]; ly.State != storage.LocPresent {
		t.Errorf("Y's asset.json: %+v", bucketLocs(y))
	}
	// The API says the same.
	if l := secDocsByRaw(t, secDocsAsset(t, e, x))[name]; l.State != storage.LocRemoved || l.ReplacedBy != y {
		t.Errorf("API document of X: %+v", l)
	}

	// The hub's webhook got the event carrying X's id.
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := false
		for _, ev := range rx.events() {
			got = got || ev.Type == storage.EvAssetUpdated && ev.AssetID == x && ev.Path == name
		}
		if got {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook never delivered asset.updated for X; got:\n%s", dumpEvents(rx.events()))
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Deleting the file: Y's asset.json shows the path removed too.
	if err := os.Remove(filepath.Join(e.watch, name)); err != nil {
		t.Fatal(err)
	}
	e.waitFeed(mediaTimeout, "Y synced after the removal", func(evs []storage.Event) bool {
		return syncedAfter(evs, y, storage.EvLocationRemoved)
	})
	if l := bucketLocs(y)[name]; l.State != storage.LocRemoved || l.ReplacedBy != "" || l.Removed.IsZero() {
		t.Errorf("Y's asset.json after deletion: %+v", bucketLocs(y))
	}
	ctx := context.Background()
	if doc, err := e.client().Asset(ctx, y); err != nil || len(doc.Locations) != 1 || doc.Locations[0].State != storage.LocRemoved {
		t.Errorf("API document of Y: %+v %v", doc.Locations, err)
	}
	e.stop()
}
