// Package hubfeed is the reference implementation of what a hub does with
// the feeds of a fleet of ingestd appliances (docs/api.md, Cursor semantics;
// docs/scale.md): it follows GET /v1/feed of each appliance with a long poll,
// hands every batch to the hub's sink, and only then persists that
// appliance's cursor (a small JSON file, written to a temp file, fsynced and
// renamed), so delivery is at least once and the sink dedupes on Key
// (appliance_id, catalog_id, seq). Connection errors and daemon restarts are
// retried with jittered exponential backoff; a re-created catalog (another
// catalog_id) or a feed behind the cursor (a catalog restored from an older
// backup) is reported through OnReset and the cursor is moved as docs/api.md
// says, never skipped silently. seq is contiguous (docs/api.md), so a gap
// means events the appliance lost (or a catalog written before numbers were
// contiguous): with DetectGaps each gap is reported (OnGap, a warning,
// Stats), never fatal; the events around it are delivered.
//
// It owns the cursor files under Config.StateDir and nothing else. It is NOT
// used by the daemon: it only speaks the public HTTP API, as a hub written
// in any language would (its own types for the documents); of ingestd it
// imports only two small helpers (internal/atomicfile for cursors,
// internal/backoff for retries), never a stage.
package hubfeed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ingestd/ingestd/internal/backoff"
)

// Source is one appliance the hub follows.
type Source struct {
	// Name names the cursor file (<StateDir>/<Name>.cursor.json) and the
	// log lines: [A-Za-z0-9._-], unique. The appliance_id the appliance
	// reports is kept in the cursor and checked on every (re)connect.
	Name  string
	URL   string // base URL, e.g. http://10.0.0.5:8470
	Token string // bearer token (api.token_file on the appliance); "" for none
}

// Event is one feed event. Raw is the event exactly as received, unknown
// fields included, for a hub that stores or forwards it.
type Event struct {
	Seq     uint64          `json:"seq"`
	Type    string          `json:"type"`
	AssetID string          `json:"asset_id,omitempty"`
	Volume  string          `json:"volume,omitempty"`
	Path    string          `json:"path,omitempty"`
	PathB64 string          `json:"path_b64,omitempty"`
	Time    time.Time       `json:"time"`
	Detail  string          `json:"detail,omitempty"`
	Raw     json.RawMessage `json:"-"`
}

// Batch is what one feed request returned for one appliance, in seq order.
type Batch struct {
	Source      string
	ApplianceID string
	CatalogID   string // "" for an appliance that does not report one
	Events      []Event
}

// Key identifies an event across a fleet and across catalog resets: the
// sink dedupes on it (a batch may be delivered again after a crash).
type Key struct {
	ApplianceID string
	CatalogID   string
	Seq         uint64
}

// Key returns the dedupe key of b.Events[i].
func (b Batch) Key(i int) Key {
	return Key{ApplianceID: b.ApplianceID, CatalogID: b.CatalogID, Seq: b.Events[i].Seq}
}

// Reset reports that an appliance's feed no longer continues the cursor.
type Reset struct {
	Source       string
	ApplianceID  string
	OldCatalogID string
	NewCatalogID string
	OldAfter     uint64 // the cursor before
	NewAfter     uint64 // the cursor from now on
	// Reason: ReasonCatalogChanged (ingestd reset-catalog: re-read from 0,
	// and re-list /v1/assets) or ReasonFeedBehind (the catalog's last seq is
	// below the cursor, e.g. restored from a backup: re-read from its last
	// seq; numbers above it will be used again by new events).
	Reason string
}

// Reset reasons.
const (
	ReasonCatalogChanged = "catalog_id changed"
	ReasonFeedBehind     = "feed behind cursor"
)

// Gap reports seq numbers skipped between two consecutive events: After,
// then Seq, with nothing between. The feed promises contiguous numbers
// (docs/api.md), so a gap is an alert: events lost on the appliance, or
// older events of a catalog written before numbers were contiguous.
type Gap struct {
	Source      string
	ApplianceID string
	After, Seq  uint64
}

// Missing is how many numbers the gap skips.
func (g Gap) Missing() uint64 { return g.Seq - g.After - 1 }

// Config configures a Consumer.
type Config struct {
	Sources  []Source
	StateDir string // cursor files; must exist
	// Deliver hands a batch to the hub. The cursor moves past the batch only
	// after it returns nil; an error retries the same batch after a backoff.
	// It must be idempotent on Batch.Key (at-least-once delivery). Calls for
	// different sources run concurrently; one source's calls are in order.
	Deliver func(ctx context.Context, b Batch) error
	// OnReset, when set, is told of every reset before the moved cursor is
	// persisted (a crash in between reports it again).
	OnReset func(Reset)
	// DetectGaps reports gaps in seq (OnGap, a warning, Stats); they are
	// never fatal. Off by default, for catalogs whose older events predate
	// contiguous numbering.
	DetectGaps bool
	OnGap      func(Gap)
	Wait       time.Duration // long-poll wait; default 30s, at most 60s
	Limit      int           // events per request; default 500 (the API clamps at 1000)
	RetryMin   time.Duration // backoff on errors: default 250ms, doubling with jitter
	RetryMax   time.Duration // up to this; default 30s
	// StatusEvery re-checks /v1/status (catalog_id, last_seq) at least this
	// often while polls come back empty; default 1m. It is always checked
	// after a connection error or an appliance.started event.
	StatusEvery time.Duration
	HTTP        *http.Client // default: a client with a timeout of Wait+15s (a timeout must exceed Wait)
	Logger      *slog.Logger
}

// SourceStats is a snapshot of one source.
type SourceStats struct {
	Source      string
	ApplianceID string
	CatalogID   string
	After       uint64 // persisted cursor
	Connected   bool   // the last request succeeded
	Events      uint64 // events delivered since start
	Batches     uint64
	Errors      uint64 // failed requests, refused answers, failed deliveries or cursor writes
	Resets      uint64
	Gaps        uint64 // gaps seen (DetectGaps)
	GapSeqs     uint64 // numbers skipped in them
	LastError   string
	LastErrorAt time.Time
}

// Consumer follows every source until its context ends.
type Consumer struct {
	cfg  Config
	log  *slog.Logger
	mu   sync.Mutex
	stat map[string]*SourceStats
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

// New checks cfg and returns a Consumer; nothing is read or started yet.
func New(cfg Config) (*Consumer, error) {
	if cfg.Deliver == nil {
		return nil, errors.New("hubfeed: Deliver is required")
	}
	if cfg.StateDir == "" {
		return nil, errors.New("hubfeed: StateDir is required")
	}
	if len(cfg.Sources) == 0 {
		return nil, errors.New("hubfeed: no sources")
	}
	seen := map[string]bool{}
	for i, s := range cfg.Sources {
		if !nameRE.MatchString(s.Name) || s.Name == "." || s.Name == ".." {
			return nil, fmt.Errorf("hubfeed: sources[%d].name %q: want [A-Za-z0-9._-]", i, s.Name)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("hubfeed: sources[%d].name %q: duplicate", i, s.Name)
		}
		seen[s.Name] = true
		u, err := url.Parse(s.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("hubfeed: sources[%d].url %q: want http(s)://host[:port]", i, s.URL)
		}
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 30 * time.Second
	}
	cfg.Wait = min(cfg.Wait, 60*time.Second)
	if cfg.Limit <= 0 {
		cfg.Limit = 500
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 250 * time.Millisecond
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(30*time.Second, cfg.RetryMin)
	}
	if cfg.StatusEvery <= 0 {
		cfg.StatusEvery = time.Minute
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: cfg.Wait + 15*time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Consumer{cfg: cfg, log: cfg.Logger.With("component", "hubfeed"), stat: map[string]*SourceStats{}}
	for _, s := range cfg.Sources {
		c.stat[s.Name] = &SourceStats{Source: s.Name}
	}
	return c, nil
}

// Run follows every source until ctx ends, then returns nil. It returns an
// error only when a cursor file cannot be read at start (a corrupt cursor
// is never replaced by a guess).
func (c *Consumer) Run(ctx context.Context) error {
	cursors := make([]Cursor, len(c.cfg.Sources))
	for i, s := range c.cfg.Sources {
		cur, err := LoadCursor(c.cfg.StateDir, s.Name)
		if err != nil {
			return err
		}
		cursors[i] = cur
		c.update(s.Name, func(st *SourceStats) {
			st.ApplianceID, st.CatalogID, st.After = cur.ApplianceID, cur.CatalogID, cur.After
		})
	}
	var wg sync.WaitGroup
	for i, s := range c.cfg.Sources {
		wg.Go(func() { c.follow(ctx, s, cursors[i]) })
	}
	wg.Wait()
	return nil
}

// Stats returns a snapshot per source, in the order of Config.Sources.
func (c *Consumer) Stats() []SourceStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]SourceStats, 0, len(c.cfg.Sources))
	for _, s := range c.cfg.Sources {
		out = append(out, *c.stat[s.Name])
	}
	return out
}

func (c *Consumer) update(name string, f func(*SourceStats)) {
	c.mu.Lock()
	f(c.stat[name])
	c.mu.Unlock()
}

func (c *Consumer) fail(name string, err error) {
	c.update(name, func(st *SourceStats) {
		st.Errors++
		st.Connected = false
		st.LastError, st.LastErrorAt = err.Error(), time.Now()
	})
}

// follow is one source's loop: check identity, poll, deliver, persist.
func (c *Consumer) follow(ctx context.Context, src Source, cur Cursor) {
	log := c.log.With("source", src.Name)
	tries := 0 // failed attempts since the last success: the backoff's exponent
	check, lastCheck := true, time.Time{}
	retry := func(err error) bool {
		c.fail(src.Name, err)
		d := backoff.Jitter(c.cfg.RetryMin, c.cfg.RetryMax, tries)
		tries++
		log.Warn("hub feed: retrying", "err", err, "in", d.Round(time.Millisecond))
		return backoff.Sleep(ctx, d)
	}
	for ctx.Err() == nil {
		if check || time.Since(lastCheck) >= c.cfg.StatusEvery {
			next, err := c.checkIdentity(ctx, src, cur, log)
			if err != nil {
				if !retry(err) {
					return
				}
				continue
			}
			cur, check, lastCheck = next, false, time.Now()
		}
		evs, err := c.poll(ctx, src, cur.After)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			check = true
			if !retry(err) {
				return
			}
			continue
		}
		c.update(src.Name, func(st *SourceStats) { st.Connected = true })
		tries = 0
		if len(evs) == 0 {
			continue
		}
		if c.cfg.DetectGaps {
			c.gaps(src, cur, evs, log)
		}
		b := Batch{Source: src.Name, ApplianceID: cur.ApplianceID, CatalogID: cur.CatalogID, Events: evs}
		for {
			err := c.cfg.Deliver(ctx, b)
			if err == nil {
				break
			}
			if ctx.Err() != nil || !retry(fmt.Errorf("deliver %s seq %d..%d: %w", src.Name, evs[0].Seq, evs[len(evs)-1].Seq, err)) {
				return
			}
		}
		tries = 0
		next := cur
		next.After, next.Updated = evs[len(evs)-1].Seq, time.Now().UTC()
		for {
			err := SaveCursor(c.cfg.StateDir, next)
			if err == nil {
				break
			}
			if !retry(err) {
				return
			}
		}
		cur = next
		c.update(src.Name, func(st *SourceStats) {
			st.After = cur.After
			st.Events += uint64(len(evs))
			st.Batches++
		})
		for _, ev := range evs {
			if ev.Type == "appliance.started" {
				check = true // the daemon restarted: confirm catalog_id and last_seq
			}
		}
	}
}

func (c *Consumer) gaps(src Source, cur Cursor, evs []Event, log *slog.Logger) {
	prev := cur.After
	for _, ev := range evs {
		if ev.Seq > prev+1 { // from after=0 the first event is seq 1
			g := Gap{Source: src.Name, ApplianceID: cur.ApplianceID, After: prev, Seq: ev.Seq}
			log.Warn("hub feed: gap in seq", "appliance_id", g.ApplianceID, "after", g.After, "seq", g.Seq, "missing", g.Missing())
			c.update(src.Name, func(st *SourceStats) { st.Gaps++; st.GapSeqs += g.Missing() })
			if c.cfg.OnGap != nil {
				c.cfg.OnGap(g)
			}
		}
		prev = ev.Seq
	}
}

// statusDoc is the part of GET /v1/status the hub needs.
type statusDoc struct {
	ApplianceID string `json:"appliance_id"`
	CatalogID   string `json:"catalog_id"`
	Catalog     struct {
		LastSeq uint64 `json:"last_seq"`
	} `json:"catalog"`
}

// checkIdentity reads /v1/status and returns the cursor to continue from:
// the same one, one adopted by a first connect, or one moved by a reset
// (reported, then persisted). Another appliance_id at the source's URL is
// an error: that cursor is never applied to another appliance's feed.
func (c *Consumer) checkIdentity(ctx context.Context, src Source, cur Cursor, log *slog.Logger) (Cursor, error) {
	var st statusDoc
	if err := c.get(ctx, src, "/v1/status", nil, &st); err != nil {
		return cur, err
	}
	if st.ApplianceID == "" {
		return cur, fmt.Errorf("source %s (%s): /v1/status has no appliance_id", src.Name, src.URL)
	}
	next := cur
	next.Source = src.Name
	switch {
	case cur.ApplianceID == "":
		next.ApplianceID, next.CatalogID = st.ApplianceID, st.CatalogID
	case cur.ApplianceID != st.ApplianceID:
		return cur, fmt.Errorf("source %s (%s) answers as appliance %q but its cursor %s belongs to %q: refusing to follow (fix the URL, or remove the cursor file to start over)",
			src.Name, src.URL, st.ApplianceID, cursorPath(c.cfg.StateDir, src.Name), cur.ApplianceID)
	}
	var r *Reset
	switch {
	case cur.ApplianceID != "" && cur.CatalogID != "" && st.CatalogID != "" && cur.CatalogID != st.CatalogID:
		r = &Reset{Reason: ReasonCatalogChanged, NewAfter: 0}
	case cur.ApplianceID != "" && st.Catalog.LastSeq < cur.After:
		r = &Reset{Reason: ReasonFeedBehind, NewAfter: st.Catalog.LastSeq}
	}
	if cur.CatalogID == "" {
		next.CatalogID = st.CatalogID
	}
	if r != nil {
		r.Source, r.ApplianceID = src.Name, st.ApplianceID
		r.OldCatalogID, r.NewCatalogID, r.OldAfter = cur.CatalogID, st.CatalogID, cur.After
		log.Warn("hub feed: reset: the appliance's feed does not continue the cursor", "appliance_id", r.ApplianceID,
			"reason", r.Reason, "old_catalog_id", r.OldCatalogID, "new_catalog_id", r.NewCatalogID, "old_after", r.OldAfter, "new_after", r.NewAfter)
		if c.cfg.OnReset != nil {
			c.cfg.OnReset(*r)
		}
		next.CatalogID, next.After = st.CatalogID, r.NewAfter
		c.update(src.Name, func(s *SourceStats) { s.Resets++ })
	}
	if next != cur {
		next.Updated = time.Now().UTC()
		if err := SaveCursor(c.cfg.StateDir, next); err != nil {
			return cur, err
		}
	}
	c.update(src.Name, func(s *SourceStats) {
		s.ApplianceID, s.CatalogID, s.After = next.ApplianceID, next.CatalogID, next.After
	})
	return next, nil
}

// poll is one long-poll request; it checks the answer keeps the contract
// (seq > after, strictly increasing) before anything is delivered.
func (c *Consumer) poll(ctx context.Context, src Source, after uint64) ([]Event, error) {
	q := url.Values{
		"after": {strconv.FormatUint(after, 10)},
		"limit": {strconv.Itoa(c.cfg.Limit)},
		"wait":  {c.cfg.Wait.String()},
	}
	var d struct {
		Events []json.RawMessage `json:"events"`
		Next   uint64            `json:"next"`
	}
	if err := c.get(ctx, src, "/v1/feed", q, &d); err != nil {
		return nil, err
	}
	evs := make([]Event, 0, len(d.Events))
	prev := after
	for _, raw := range d.Events {
		var ev Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("source %s: feed after %d: event %s: %w", src.Name, after, raw, err)
		}
		if ev.Seq <= prev {
			return nil, fmt.Errorf("source %s: feed after %d: seq %d follows %d (the feed went backwards): not delivered", src.Name, after, ev.Seq, prev)
		}
		ev.Raw = raw
		prev = ev.Seq
		evs = append(evs, ev)
	}
	return evs, nil
}

func (c *Consumer) get(ctx context.Context, src Source, path string, q url.Values, v any) error {
	u := strings.TrimSuffix(src.URL, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("source %s: %w", src.Name, err)
	}
	if src.Token != "" {
		req.Header.Set("Authorization", "Bearer "+src.Token)
	}
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("source %s: %w", src.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("source %s: read %s: %w", src.Name, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("source %s: GET %s: %s: %.200s", src.Name, path, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("source %s: decode %s: %w", src.Name, path, err)
	}
	return nil
}
