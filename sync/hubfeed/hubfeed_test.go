package hubfeed

// The appliances here are httptest servers serving the documented feed and
// status (docs/api.md): the hub-side fake. The real daemons are followed by
// the fleet test in cmd/ingestd (TestFleet).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil"
)

// fakeAppliance serves /v1/status and /v1/feed (after, limit, wait).
type fakeAppliance struct {
	mu        sync.Mutex
	id        string
	catalogID string
	token     string
	events    []Event
	changed   chan struct{}
	down      int // answer this many requests with 503
	hang      int // hold this many requests without an answer until the client gives up
	requests  int
	backwards bool // serve an event with seq <= after (a broken feed)
}

func newFake(t *testing.T, id string) (*fakeAppliance, *httptest.Server) {
	f := &fakeAppliance{id: id, catalogID: "cat-" + id, changed: make(chan struct{})}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

// add appends events with the given seqs (gaps allowed).
func (f *fakeAppliance) add(seqs ...uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range seqs {
		f.events = append(f.events, Event{Seq: s, Type: "location.added", AssetID: fmt.Sprintf("%s-%d", f.id, s), Time: time.Now().UTC()})
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

// reset re-creates the catalog: another catalog_id, the feed starts at 1.
func (f *fakeAppliance) reset(catalogID string) {
	f.mu.Lock()
	f.catalogID, f.events = catalogID, nil
	f.mu.Unlock()
}

func (f *fakeAppliance) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
		f.mu.Unlock()
		http.Error(w, `{"error":"missing or invalid bearer token"}`, http.StatusUnauthorized)
		return
	}
	if f.hang > 0 {
		f.hang--
		f.mu.Unlock()
		<-r.Context().Done()
		return
	}
	if f.down > 0 {
		f.down--
		f.mu.Unlock()
		http.Error(w, `{"error":"down"}`, http.StatusServiceUnavailable)
		return
	}
	f.mu.Unlock()
	switch r.URL.Path {
	case "/v1/status":
		f.mu.Lock()
		var last uint64
		if n := len(f.events); n > 0 {
			last = f.events[n-1].Seq
		}
		doc := map[string]any{"appliance_id": f.id, "catalog_id": f.catalogID, "catalog": map[string]any{"last_seq": last}, "unknown": 1}
		f.mu.Unlock()
		json.NewEncoder(w).Encode(doc)
	case "/v1/feed":
		after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		wait, _ := time.ParseDuration(r.URL.Query().Get("wait"))
		deadline := time.After(wait)
		for {
			f.mu.Lock()
			var out []json.RawMessage
			for _, ev := range f.events {
				if (ev.Seq > after || f.backwards) && len(out) < limit {
					b, _ := json.Marshal(struct {
						Event
						Extra string `json:"future_field"`
					}{ev, "x"})
					out = append(out, b)
				}
			}
			ch := f.changed
			f.mu.Unlock()
			if len(out) > 0 {
				json.NewEncoder(w).Encode(map[string]any{"events": out, "next": 0})
				return
			}
			select {
			case <-ch:
			case <-deadline:
				w.Write([]byte(`{"events":[],"next":` + strconv.FormatUint(after, 10) + `}`))
				return
			case <-r.Context().Done():
				return
			}
		}
	default:
		http.NotFound(w, r)
	}
}

// sink collects delivered batches; fail makes the next n deliveries fail.
type sink struct {
	mu      sync.Mutex
	batches []Batch
	fail    int
	resets  []Reset
	gaps    []Gap
}

func (s *sink) deliver(_ context.Context, b Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 {
		s.fail--
		return errors.New("hub database unavailable")
	}
	s.batches = append(s.batches, b)
	return nil
}

// keys returns every delivered key, duplicates included, in delivery order.
func (s *sink) keys() []Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ks []Key
	for _, b := range s.batches {
		for i := range b.Events {
			ks = append(ks, b.Key(i))
		}
	}
	return ks
}

func (s *sink) config(dir string, srcs ...Source) Config {
	return Config{
		Sources: srcs, StateDir: dir, Deliver: s.deliver, DetectGaps: true,
		OnReset:  func(r Reset) { s.mu.Lock(); s.resets = append(s.resets, r); s.mu.Unlock() },
		OnGap:    func(g Gap) { s.mu.Lock(); s.gaps = append(s.gaps, g); s.mu.Unlock() },
		Wait:     time.Second,
		Limit:    3,
		RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
	}
}

// run starts a consumer; the returned stop cancels it and waits for Run.
func run(t *testing.T, cfg Config) (*Consumer, func()) {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, testutil.Start(t, "consumer", c.Run)
}

func wantKeys(app, cat string, seqs ...uint64) []Key {
	var ks []Key
	for _, s := range seqs {
		ks = append(ks, Key{app, cat, s})
	}
	return ks
}

func sortedKeys(ks []Key) []Key {
	ks = slices.Clone(ks)
	slices.SortFunc(ks, func(a, b Key) int {
		if a.ApplianceID != b.ApplianceID {
			if a.ApplianceID < b.ApplianceID {
				return -1
			}
			return 1
		}
		return int(a.Seq) - int(b.Seq)
	})
	return ks
}

// Two appliances with gapped seqs, events arriving while the consumer
// long-polls: every event once, in order per appliance, raw events keep
// unknown fields, the cursors hold the last seq, and the gaps are reported.
func TestFollowTwoAppliances(t *testing.T) {
	dir := t.TempDir()
	a, sa := newFake(t, "box-a")
	b, sb := newFake(t, "box-b")
	b.token = "secret-b"
	a.add(1, 2, 3, 4, 5)
	s := &sink{}
	c, stop := run(t, s.config(dir, Source{Name: "a", URL: sa.URL}, Source{Name: "b", URL: sb.URL, Token: "secret-b"}))
	testutil.WaitFor(t, 10*time.Second, "a's first events", func() bool { return len(s.keys()) == 5 })
	b.add(1, 2, 40) // 3..39 skipped: a crash after a leased block
	a.add(9)
	testutil.WaitFor(t, 10*time.Second, "all events", func() bool { return len(s.keys()) == 9 })
	stop()

	got := sortedKeys(s.keys())
	want := append(wantKeys("box-a", "cat-box-a", 1, 2, 3, 4, 5, 9), wantKeys("box-b", "cat-box-b", 1, 2, 40)...)
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	for _, bt := range s.batches {
		if len(bt.Events) > 3 {
			t.Errorf("batch of %d events with limit 3", len(bt.Events))
		}
		for _, ev := range bt.Events {
			var m map[string]any
			if err := json.Unmarshal(ev.Raw, &m); err != nil || m["future_field"] != "x" || ev.AssetID != fmt.Sprintf("%s-%d", bt.ApplianceID, ev.Seq) {
				t.Errorf("event %+v raw %s: unknown field or asset id lost", ev, ev.Raw)
			}
		}
	}
	for name, want := range map[string]Cursor{"a": {Source: "a", ApplianceID: "box-a", CatalogID: "cat-box-a", After: 9}, "b": {Source: "b", ApplianceID: "box-b", CatalogID: "cat-box-b", After: 40}} {
		cur, err := LoadCursor(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		cur.Updated = time.Time{}
		if cur != want {
			t.Errorf("cursor %s = %+v, want %+v", name, cur, want)
		}
	}
	gaps := []Gap{{Source: "a", ApplianceID: "box-a", After: 5, Seq: 9}, {Source: "b", ApplianceID: "box-b", After: 2, Seq: 40}}
	slices.SortFunc(s.gaps, func(x, y Gap) int { return int(x.Seq) - int(y.Seq) })
	if !slices.Equal(s.gaps, gaps) {
		t.Errorf("gaps %+v, want %+v", s.gaps, gaps)
	}
	st := c.Stats()
	if st[0].Events != 6 || st[1].Events != 3 || st[1].Gaps != 1 || st[1].GapSeqs != 37 || st[0].After != 9 || !st[1].Connected {
		t.Errorf("stats %+v", st)
	}
	if len(s.resets) != 0 {
		t.Errorf("resets %+v", s.resets)
	}
}

// Numbers missing before the first event are a gap too (the feed starts
// at 1); without DetectGaps nothing is reported and all is delivered.
func TestGapAtStart(t *testing.T) {
	for _, detect := range []bool{true, false} {
		a, sa := newFake(t, "box-a")
		a.add(3, 4)
		s := &sink{}
		cfg := s.config(t.TempDir(), Source{Name: "a", URL: sa.URL})
		cfg.DetectGaps = detect
		c, stop := run(t, cfg)
		testutil.WaitFor(t, 10*time.Second, "events", func() bool { return len(s.keys()) == 2 })
		stop()
		var want []Gap
		if detect {
			want = []Gap{{Source: "a", ApplianceID: "box-a", After: 0, Seq: 3}}
		}
		if !slices.Equal(s.gaps, want) || c.Stats()[0].GapSeqs != uint64(len(want))*2 {
			t.Errorf("DetectGaps %v: gaps %+v stats %+v, want %+v", detect, s.gaps, c.Stats()[0], want)
		}
	}
}

// A consumer stopped and started again continues from the persisted
// cursor: nothing delivered twice after a clean stop.
func TestRestartFromCursor(t *testing.T) {
	dir := t.TempDir()
	a, sa := newFake(t, "box-a")
	a.add(1, 2, 3)
	s := &sink{}
	cfg := s.config(dir, Source{Name: "a", URL: sa.URL})
	_, stop := run(t, cfg)
	testutil.WaitFor(t, 10*time.Second, "first events", func() bool { return len(s.keys()) == 3 })
	stop()
	a.add(7, 8)
	s2 := &sink{}
	cfg.Deliver = s2.deliver
	_, stop = run(t, cfg)
	testutil.WaitFor(t, 10*time.Second, "events after restart", func() bool { return len(s2.keys()) == 2 })
	stop()
	if got, want := s2.keys(), wantKeys("box-a", "cat-box-a", 7, 8); !slices.Equal(got, want) {
		t.Fatalf("after restart delivered %v, want %v", got, want)
	}
}

// A hub that crashes after its sink took a batch but before the cursor was
// written gets that batch again (at least once); dedupe on Key leaves each
// event once. A failing sink is retried with the same batch.
func TestAtLeastOnceAcrossCrash(t *testing.T) {
	dir := t.TempDir()
	a, sa := newFake(t, "box-a")
	a.add(1, 2, 3)
	var mu sync.Mutex
	var got []Key
	ctx, cancel := context.WithCancel(context.Background())
	crashed := false
	cfg := Config{Sources: []Source{{Name: "a", URL: sa.URL}}, StateDir: dir, Wait: time.Second, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond,
		Deliver: func(_ context.Context, b Batch) error {
			mu.Lock()
			defer mu.Unlock()
			for i := range b.Events {
				got = append(got, b.Key(i))
			}
			if !crashed { // the hub stored the batch, then died before the cursor
				crashed = true
				cancel()
				return errors.New("crash")
			}
			return nil
		}}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if cur, _ := LoadCursor(dir, "a"); cur.After != 0 {
		t.Fatalf("cursor moved to %d although the batch was not acknowledged", cur.After)
	}
	s := &sink{fail: 2}
	cfg.Deliver = s.deliver
	c2, stop := run(t, cfg)
	testutil.WaitFor(t, 10*time.Second, "redelivery", func() bool { return len(s.keys()) == 3 })
	stop()
	all := append(slices.Clone(got), s.keys()...)
	if len(all) != 6 {
		t.Fatalf("deliveries %v, want the batch twice", all)
	}
	seen := map[Key]bool{}
	for _, k := range all {
		seen[k] = true
	}
	if len(seen) != 3 {
		t.Fatalf("after dedupe %d events, want 3", len(seen))
	}
	if st := c2.Stats()[0]; st.Errors != 2 || st.After != 3 {
		t.Errorf("stats %+v: want the 2 failed deliveries counted and the cursor at 3", st)
	}
}

// An appliance that is down (503, then not listening at all) is retried
// with backoff until it answers; nothing is lost or repeated.
func TestOutageBackoff(t *testing.T) {
	dir := t.TempDir()
	a, sa := newFake(t, "box-a")
	a.add(1)
	a.down = 4
	s := &sink{}
	cfg := s.config(dir, Source{Name: "a", URL: sa.URL})
	c, stop := run(t, cfg)
	testutil.WaitFor(t, 10*time.Second, "delivery after the outage", func() bool { return len(s.keys()) == 1 })
	if st := c.Stats()[0]; st.Errors < 4 || st.LastError == "" {
		t.Errorf("stats %+v: want 4 errors counted", st)
	}
	// The appliance goes away (a kill): connection refused until it is back.
	sa.CloseClientConnections()
	addr := sa.Listener.Addr().String()
	sa.Close()
	time.Sleep(200 * time.Millisecond)
	a.add(2)
	srv := &http.Server{Handler: a}
	ln := listenRetry(t, addr)
	go srv.Serve(ln)
	defer srv.Close()
	testutil.WaitFor(t, 10*time.Second, "delivery after the restart", func() bool { return len(s.keys()) == 2 })
	stop()
	if got, want := s.keys(), wantKeys("box-a", "cat-box-a", 1, 2); !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
}

// listenRetry listens on addr again (the port was just released).
func listenRetry(t *testing.T, addr string) net.Listener {
	t.Helper()
	for i := 0; ; i++ {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln
		}
		if i == 50 {
			t.Fatalf("listen %s again: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An appliance that accepts and never answers (a wedged process, a
// half-open connection) costs one client timeout, then is retried.
func TestHungAppliance(t *testing.T) {
	a, sa := newFake(t, "box-a")
	a.add(1, 2)
	a.hang = 2
	s := &sink{}
	cfg := s.config(t.TempDir(), Source{Name: "a", URL: sa.URL})
	cfg.HTTP = &http.Client{Timeout: 200 * time.Millisecond}
	cfg.Wait = 100 * time.Millisecond
	c, stop := run(t, cfg)
	testutil.WaitFor(t, 10*time.Second, "delivery after the hung requests", func() bool { return len(s.keys()) == 2 })
	stop()
	if st := c.Stats()[0]; st.Errors != 2 || !strings.Contains(st.LastError, "Timeout") {
		t.Errorf("stats %+v: want the 2 hung requests counted as timeouts", st)
	}
}

// ingestd reset-catalog: another catalog_id and a feed restarting at 1.
// The consumer reports the reset, re-reads from 0, and the new catalog's
// events have keys distinct from the old ones.
func TestCatalogReset(t *testing.T) {
	dir := t.TempDir()
	a, sa := newFake(t, "box-a")
	a.add(1, 2, 3, 4)
	s := &sink{}
	cfg := s.config(dir, Source{Name: "a", URL: sa.URL})
	_, stop := run(t, cfg)
	testutil.WaitFor(t, 10*time.Second, "old catalog's events", func() bool { return len(s.keys()) == 4 })
	stop()
	a.reset("cat-new")
	a.add(1, 2)
	_, stop = run(t, cfg)
	testutil.WaitFor(t, 10*time.Second, "new catalog's events", func() bool { return len(s.keys()) == 6 })
	stop()
	want := append(wantKeys("box-a", "cat-box-a", 1, 2, 3, 4), wantKeys("box-a", "cat-new", 1, 2)...)
	if got := s.keys(); !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	wantReset := []Reset{{Source: "a", ApplianceID: "box-a", OldCatalogID: "cat-box-a", NewCatalogID: "cat-new", OldAfter: 4, NewAfter: 0, Reason: ReasonCatalogChanged}}
	if !slices.Equal(s.resets, wantReset) {
		t.Fatalf("resets %+v, want %+v", s.resets, wantReset)
	}
	if cur, _ := LoadCursor(dir, "a"); cur.CatalogID != "cat-new" || cur.After != 2 {
		t.Errorf("cursor %+v", cur)
	}
}

// A catalog restored from an older backup keeps its catalog_id but its
// last seq is below the cursor: reported, and re-read from its last seq.
func TestFeedBehindCursor(t *testing.T) {
	dir := t.TempDir()
	a, sa := newFake(t, "box-a")
	a.add(1, 2, 3)
	if err := SaveCursor(dir, Cursor{Source: "a", ApplianceID: "box-a", CatalogID: "cat-box-a", After: 50}); err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	_, stop := run(t, s.config(dir, Source{Name: "a", URL: sa.URL}))
	testutil.WaitFor(t, 10*time.Second, "the reset", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.resets) == 1 })
	a.add(4, 5) // new events after the restore
	testutil.WaitFor(t, 10*time.Second, "events after the restore", func() bool { return len(s.keys()) == 2 })
	stop()
	if got, want := s.keys(), wantKeys("box-a", "cat-box-a", 4, 5); !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	if r := s.resets[0]; r.Reason != ReasonFeedBehind || r.OldAfter != 50 || r.NewAfter != 3 {
		t.Fatalf("reset %+v", r)
	}
}

// A cursor is never applied to another appliance's feed (swapped IPs):
// nothing is delivered and the error says why.
func TestWrongAppliance(t *testing.T) {
	dir := t.TempDir()
	b, sb := newFake(t, "box-b")
	b.add(1, 2)
	if err := SaveCursor(dir, Cursor{Source: "a", ApplianceID: "box-a", CatalogID: "cat-box-a", After: 1}); err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	c, stop := run(t, s.config(dir, Source{Name: "a", URL: sb.URL}))
	testutil.WaitFor(t, 10*time.Second, "the refusal", func() bool { return c.Stats()[0].Errors >= 2 })
	stop()
	if len(s.keys()) != 0 {
		t.Fatalf("delivered %v from the wrong appliance", s.keys())
	}
	if st := c.Stats()[0]; !strings.Contains(st.LastError, `answers as appliance "box-b"`) {
		t.Errorf("last error %q", st.LastError)
	}
}

// A feed answer that goes backwards is not delivered.
func TestFeedBackwardsRefused(t *testing.T) {
	dir := t.TempDir()
	a, sa := newFake(t, "box-a")
	a.add(1, 2)
	s := &sink{}
	cfg := s.config(dir, Source{Name: "a", URL: sa.URL})
	_, stop := run(t, cfg)
	testutil.WaitFor(t, 10*time.Second, "events", func() bool { return len(s.keys()) == 2 })
	a.mu.Lock()
	a.backwards = true
	a.mu.Unlock()
	a.add(3)
	time.Sleep(300 * time.Millisecond)
	stop()
	if got := s.keys(); len(got) != 2 {
		t.Fatalf("delivered %v from a feed that went backwards", got)
	}
}

func TestConfigAndCursorErrors(t *testing.T) {
	dir := t.TempDir()
	ok := Config{StateDir: dir, Deliver: func(context.Context, Batch) error { return nil }, Sources: []Source{{Name: "a", URL: "http://127.0.0.1:1"}}}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"no deliver", func(c *Config) { c.Deliver = nil }},
		{"no state", func(c *Config) { c.StateDir = "" }},
		{"no sources", func(c *Config) { c.Sources = nil }},
		{"bad name", func(c *Config) { c.Sources = []Source{{Name: "../x", URL: "http://h"}} }},
		{"dup name", func(c *Config) { c.Sources = append(c.Sources, c.Sources[0]) }},
		{"bad url", func(c *Config) { c.Sources = []Source{{Name: "a", URL: "ftp://h"}} }},
	} {
		cfg := ok
		tc.mod(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted it", tc.name)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "a.cursor.json"), []byte("{trunc"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := New(ok)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "a.cursor.json") {
		t.Fatalf("Run with a corrupt cursor: %v", err)
	}
}
