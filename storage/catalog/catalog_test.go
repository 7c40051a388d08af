package catalog

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/storage"
)

func TestReopenKeepsEverythingAndSeqKeepsIncreasing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cat")
	c, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r1, r2 := rec("v", "a", "one", 1, 1), rec("v", "b", "two", 1, 2)
	for _, r := range []storage.FileRecord{r1, r2} {
		if _, err := c.PutFile(r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.SetVolume(storage.Volume{Name: "v", Path: "/mnt/v", Online: true}); err != nil {
		t.Fatal(err)
	}
	before := allEvents(t, c)
	lastBefore := c.LastSeq()
	docBefore, _ := c.Asset(id("one"))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := c.PutFile(r1); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}

	c = open(t, dir, Options{})
	if c.LastSeq() != lastBefore {
		t.Fatalf("last seq %d after reopen, was %d", c.LastSeq(), lastBefore)
	}
	if after := allEvents(t, c); !reflect.DeepEqual(after, before) {
		t.Fatalf("events differ after reopen")
	}
	if doc, _ := c.Asset(id("one")); !reflect.DeepEqual(doc, docBefore) {
		t.Fatalf("asset differs after reopen: %+v vs %+v", doc, docBefore)
	}
	if v, err := c.Volume("v"); err != nil || !v.Online || v.Path != "/mnt/v" {
		t.Fatalf("volume %+v %v", v, err)
	}
	// A restart re-reporting unchanged files writes nothing.
	for _, r := range []storage.FileRecord{r1, r2} {
		if evs, err := c.PutFile(r); err != nil || len(evs) != 0 {
			t.Fatalf("re-put after reopen: %v %v", types(evs), err)
		}
	}
	e, err := c.AppendEvent(storage.Event{Type: storage.EvApplianceStarted})
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq <= lastBefore {
		t.Fatalf("seq %d reused after reopen (last was %d)", e.Seq, lastBefore)
	}
}

func TestOpenTwiceFailsClearly(t *testing.T) {
	_, dir := newCat(t, Options{})
	c2, err := Open(dir, Options{})
	if err == nil {
		c2.Close()
		t.Fatal("second open of the same dir succeeded")
	}
	if want := "catalog " + dir + " is in use by another process"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}

func TestWait(t *testing.T) {
	c, _ := newCat(t, Options{})
	if _, err := c.AppendEvent(storage.Event{Type: "test"}); err != nil {
		t.Fatal(err)
	}
	last := c.LastSeq()

	// Already past: returns at once, even with a dead context.
	dead, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Wait(dead, last-1); err != nil {
		t.Fatalf("wait for an existing event: %v", err)
	}

	// Wakes on a new event.
	done := make(chan error, 1)
	go func() { done <- c.Wait(context.Background(), last) }()
	select {
	case err := <-done:
		t.Fatalf("wait returned before any new event: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := c.AppendEvent(storage.Event{Type: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("wait: %v", err)
	}

	// Returns on cancel.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- c.Wait(ctx, c.LastSeq()) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("wait after cancel: %v", err)
	}

	// A write that emits no event does not wake waiters.
	go func() { done <- c.Wait(context.Background(), c.LastSeq()) }()
	if err := c.PutState("k", 1); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("woken without an event: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	// Returns on Close.
	c.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("wait after close: %v", err)
	}
}

func TestEventsPaging(t *testing.T) {
	c, _ := newCat(t, Options{})
	var seqs []uint64
	for range 5 {
		e, err := c.AppendEvent(storage.Event{Type: storage.EvCardOffloaded, Detail: "card"})
		if err != nil {
			t.Fatal(err)
		}
		if e.Time.IsZero() || e.Seq == 0 {
			t.Fatalf("event not filled: %+v", e)
		}
		seqs = append(seqs, e.Seq)
	}
	at := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	e, err := c.AppendEvent(storage.Event{Seq: 1, Type: "x", Time: at})
	if err != nil || e.Seq <= seqs[4] || !e.Time.Equal(at) {
		t.Fatalf("caller's seq must be replaced, time kept: %+v %v", e, err)
	}
	if _, err := c.AppendEvent(storage.Event{}); err == nil {
		t.Fatal("event without type accepted")
	}
	cases := []struct {
		after uint64
		limit int
		want  []uint64
	}{
		{0, 2, seqs[:2]},
		{seqs[1], 2, seqs[2:4]},
		{seqs[3], 1, seqs[4:5]},
		{e.Seq, 10, nil},
		{^uint64(0), 10, nil},
	}
	for _, tc := range cases {
		evs, err := c.Events(tc.after, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		var got []uint64
		for _, e := range evs {
			got = append(got, e.Seq)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Events(%d, %d) = %v, want %v", tc.after, tc.limit, got, tc.want)
		}
	}
}

func TestConsumeResumesAndRedeliversFailedBatch(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cat")
	c, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for range 10 {
		e, err := c.AppendEvent(storage.Event{Type: "test"})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, e.Seq)
	}
	// Batches of 3: [1-3] succeeds, [4-6] fails.
	boom := errors.New("hub down")
	var batches [][]uint64
	err = c.Consume(context.Background(), "sync", 3, func(evs []storage.Event) error {
		batches = append(batches, seqOf(evs))
		if len(batches) == 2 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("consume error %v, want wrapped %v", err, boom)
	}
	if want := [][]uint64{seqs[0:3], seqs[3:6]}; !reflect.DeepEqual(batches, want) {
		t.Fatalf("batches %v, want %v", batches, want)
	}
	var cur uint64
	if err := c.GetState("cursor/sync", &cur); err != nil || cur != seqs[2] {
		t.Fatalf("cursor %d %v, want %d", cur, err, seqs[2])
	}
	c.Close()

	// After a restart the failed batch comes again, nothing before it.
	c = open(t, dir, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	batches = nil
	done := make(chan error, 1)
	go func() {
		done <- c.Consume(ctx, "sync", 3, func(evs []storage.Event) error {
			batches = append(batches, seqOf(evs))
			if evs[len(evs)-1].Type == "late" {
				cancel()
			}
			return nil
		})
	}()
	// Consume catches up, waits, and picks up a new event.
	time.Sleep(50 * time.Millisecond)
	e, err := c.AppendEvent(storage.Event{Type: "late"})
	if err != nil {
		t.Fatal(err)
	}
	var err2 error
	select {
	case err2 = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("consume did not deliver the new event")
	}
	if !errors.Is(err2, context.Canceled) {
		t.Fatalf("consume returned %v, want context.Canceled", err2)
	}
	var got []uint64
	for _, b := range batches {
		got = append(got, b...)
	}
	if want := append(append([]uint64{}, seqs[3:]...), e.Seq); !reflect.DeepEqual(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	if err := c.GetState("cursor/sync", &cur); err != nil || cur != e.Seq {
		t.Fatalf("cursor %d %v, want %d", cur, err, e.Seq)
	}
	// Another consumer has its own cursor and starts from the beginning.
	n := 0
	ctx2, cancel2 := context.WithCancel(context.Background())
	c.Consume(ctx2, "webhook", 100, func(evs []storage.Event) error { n += len(evs); cancel2(); return nil })
	if n != 11 {
		t.Fatalf("second consumer saw %d events, want 11", n)
	}
}

func seqOf(evs []storage.Event) []uint64 {
	var s []uint64
	for _, e := range evs {
		s = append(s, e.Seq)
	}
	return s
}

func TestState(t *testing.T) {
	c, _ := newCat(t, Options{})
	type job struct {
		ID    string `json:"id"`
		Tries int    `json:"tries"`
	}
	for _, k := range []string{"job/b", "job/a", "jobs", "other/job/c", "job/c"} {
		if err := c.PutState(k, job{ID: k, Tries: len(k)}); err != nil {
			t.Fatal(err)
		}
	}
	var j job
	if err := c.GetState("job/a", &j); err != nil || j != (job{"job/a", 5}) {
		t.Fatalf("get %+v %v", j, err)
	}
	if err := c.GetState("job/zz", &j); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	if err := c.DeleteState("job/c"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteState("job/never"); err != nil {
		t.Fatalf("delete missing key: %v", err)
	}
	var keys []string
	err := c.ListState("job/", func(k string, raw []byte) error {
		keys = append(keys, k+"="+string(raw))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`job/a={"id":"job/a","tries":5}`, `job/b={"id":"job/b","tries":5}`}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("list %q, want %q", keys, want)
	}
	stop := errors.New("stop")
	if err := c.ListState("", func(string, []byte) error { return stop }); err != stop {
		t.Fatalf("callback error: %v", err)
	}
	if err := c.PutState("", 1); err == nil {
		t.Fatal("empty key accepted")
	}
	if c.LastSeq() != 0 {
		t.Fatal("state writes must not emit events")
	}
}

func TestVolumes(t *testing.T) {
	c, _ := newCat(t, Options{})
	if _, err := c.Volume("footage"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown volume: %v", err)
	}
	steps := []struct {
		v      storage.Volume
		want   []string
		detail string
	}{
		{storage.Volume{Name: "footage", Path: "/mnt/f", Online: true, Dev: 7, Marker: "m1"}, nil, ""},
		{storage.Volume{Name: "footage", Path: "/mnt/f", Online: true, Dev: 7, Marker: "m1"}, nil, ""},
		{storage.Volume{Name: "footage", Path: "/mnt/f", Online: false, Dev: 7, Marker: "m1", Reason: "root missing"}, []string{storage.EvVolumeOffline}, "root missing"},
		{storage.Volume{Name: "footage", Path: "/mnt/f", Online: false, Dev: 7, Marker: "m1", Reason: "marker gone"}, nil, ""},
		{storage.Volume{Name: "footage", Path: "/mnt/f", Online: true, Dev: 8, Marker: "m1"}, []string{storage.EvVolumeOnline}, ""},
		{storage.Volume{Name: "cards", Path: "/media/c", Online: false, Reason: "not mounted"}, []string{storage.EvVolumeOffline}, "not mounted"},
	}
	for i, s := range steps {
		evs, err := c.SetVolume(s.v)
		if err != nil {
			t.Fatal(err)
		}
		if got := types(evs); !reflect.DeepEqual(got, append([]string{}, s.want...)) {
			t.Fatalf("step %d: events %v, want %v", i, got, s.want)
		}
		if len(evs) > 0 && (evs[0].Detail != s.detail || evs[0].Volume != s.v.Name) {
			t.Fatalf("step %d: event %+v", i, evs[0])
		}
		got, err := c.Volume(s.v.Name)
		if err != nil {
			t.Fatal(err)
		}
		if got.Dev != s.v.Dev || got.Reason != s.v.Reason || got.Online != s.v.Online {
			t.Fatalf("step %d: stored %+v", i, got)
		}
		if len(evs) > 0 && !got.Changed.Equal(evs[0].Time) {
			t.Fatalf("step %d: changed %v, event at %v", i, got.Changed, evs[0].Time)
		}
	}
}

func TestAssetsAndUpdateAsset(t *testing.T) {
	c, _ := newCat(t, Options{})
	var ids []string
	for i, s := range []string{"a", "b", "c", "d", "e"} {
		r := rec("v", s+".mov", s, 1, uint64(i+1))
		if _, err := c.PutFile(r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.Hashes.BLAKE3)
	}
	sortStrings(ids)
	var got []string
	after := ""
	for {
		page, err := c.Assets(after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 2 {
			t.Fatalf("page of %d", len(page))
		}
		for _, d := range page {
			if len(d.Locations) != 1 {
				t.Fatalf("asset %s locations %+v", d.ID, d.Locations)
			}
			got = append(got, d.ID)
		}
		after = page[len(page)-1].ID
	}
	if !reflect.DeepEqual(got, ids) {
		t.Fatalf("paged ids %v, want %v", got, ids)
	}
	if _, err := c.Asset(strings.Repeat("0", 64)); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown asset: %v", err)
	}

	target := ids[2]
	evs, err := c.UpdateAsset(target, storage.EvProxyReady, "ok", func(a *storage.Asset) error {
		a.Kind = "video"
		a.Proxy = &storage.ProxyInfo{Status: "ready", Outputs: []string{"proxy.mp4"}}
		a.ID = "tampered"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Type != storage.EvProxyReady || evs[0].AssetID != target || evs[0].Detail != "ok" {
		t.Fatalf("events %+v", evs)
	}
	doc, _ := c.Asset(target)
	if doc.ID != target || doc.Kind != "video" || doc.Proxy == nil || doc.Proxy.Status != "ready" {
		t.Fatalf("updated asset %+v", doc.Asset)
	}
	last := c.LastSeq()
	boom := errors.New("boom")
	if _, err := c.UpdateAsset(target, storage.EvAssetUpdated, "", func(a *storage.Asset) error {
		a.Kind = "audio"
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("fn error: %v", err)
	}
	if doc, _ := c.Asset(target); doc.Kind != "video" || c.LastSeq() != last {
		t.Fatal("failed update wrote something")
	}
	if evs, err := c.UpdateAsset(target, "", "", func(a *storage.Asset) error { a.Kind = "image"; return nil }); err != nil || len(evs) != 0 {
		t.Fatalf("update without event: %v %v", evs, err)
	}
	if _, err := c.UpdateAsset(strings.Repeat("0", 64), storage.EvAssetUpdated, "", func(*storage.Asset) error { return nil }); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("update unknown: %v", err)
	}
}

func sortStrings(s []string) {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}

func TestApplianceID(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cat")
	c, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	gen, err := c.ApplianceID("")
	if err != nil || !regexp.MustCompile(`^edge-[0-9a-f]{8}$`).MatchString(gen) {
		t.Fatalf("generated %q %v", gen, err)
	}
	if again, _ := c.ApplianceID(""); again != gen {
		t.Fatalf("second call %q, first %q", again, gen)
	}
	c.Close()
	c = open(t, dir, Options{})
	if again, _ := c.ApplianceID(""); again != gen {
		t.Fatalf("after reopen %q, before %q", again, gen)
	}
	if got, _ := c.ApplianceID("studio-a"); got != "studio-a" {
		t.Fatalf("configured id %q", got)
	}
	if got, _ := c.ApplianceID(""); got != "studio-a" {
		t.Fatalf("configured id not kept: %q", got)
	}
}

func TestBackupRestore(t *testing.T) {
	c, _ := newCat(t, Options{})
	for i, s := range []string{"a", "b", "c"} {
		if _, err := c.PutFile(rec("v", s, s, 1, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	c.RemoveLocation("v", "b", "deleted")
	c.PutState("cursor/sync", 2)
	var buf bytes.Buffer
	if err := c.Backup(&buf); err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(t.TempDir(), "restored")
	if err := Restore(dir, bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	r := open(t, dir, Options{})
	wantAssets, _ := c.Assets("", 100)
	gotAssets, _ := r.Assets("", 100)
	if len(gotAssets) != 3 || !reflect.DeepEqual(gotAssets, wantAssets) {
		t.Fatalf("assets differ after restore:\n%+v\n%+v", gotAssets, wantAssets)
	}
	if !reflect.DeepEqual(allEvents(t, r), allEvents(t, c)) || r.LastSeq() != c.LastSeq() {
		t.Fatal("events differ after restore")
	}
	if l, err := r.Location("v", "b"); err != nil || l.State != storage.LocRemoved {
		t.Fatalf("removed location %+v %v", l, err)
	}
	var cur int
	if err := r.GetState("cursor/sync", &cur); err != nil || cur != 2 {
		t.Fatalf("state %d %v", cur, err)
	}
	if e, err := r.AppendEvent(storage.Event{Type: "x"}); err != nil || e.Seq <= c.LastSeq() {
		t.Fatalf("seq after restore %d (last %d) %v", e.Seq, c.LastSeq(), err)
	}

	busy := t.TempDir()
	keep := filepath.Join(busy, "keep")
	os.WriteFile(keep, []byte("x"), 0o600)
	err := Restore(busy, bytes.NewReader(buf.Bytes()))
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("restore into non-empty dir: %v", err)
	}
	if ents, _ := os.ReadDir(busy); len(ents) != 1 {
		t.Fatalf("restore touched a non-empty dir: %d entries", len(ents))
	}
}

func TestRunGCStopsOnCancel(t *testing.T) {
	c, _ := newCat(t, Options{GCInterval: 5 * time.Millisecond})
	for i := range 50 {
		if err := c.PutState("big", bytes.Repeat([]byte{byte(i)}, 4096)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.RunGC(ctx) }()
	time.Sleep(30 * time.Millisecond) // several GC rounds
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("RunGC returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunGC did not stop")
	}
	if lsm, vlog := c.Size(); lsm < 0 || vlog < 0 {
		t.Fatalf("size %d %d", lsm, vlog)
	}
}
