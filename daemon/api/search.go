package api

// Filtered asset listing (GET /v1/assets with q, kind, proxy, since, until): the
// catalog has no secondary index on names, so a filtered page scans assets
// in id order from `after`, at most SearchScanCap of them per request, and
// returns the matches with a cursor to continue. The cost of one request is
// bounded (SearchScanCap asset documents read), whatever the catalog size.

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ingestd/ingestd/storage"
)

// SearchScanCap is how many assets one filtered request reads at most.
const SearchScanCap = 20000

type assetFilter struct {
	q            string // lowercase substring of a location's volume/path, or an id prefix
	kind         string
	proxy        string // proxy status; "none" for an asset without one
	since, until time.Time
}

func (f assetFilter) empty() bool {
	return f.q == "" && f.kind == "" && f.proxy == "" && f.since.IsZero() && f.until.IsZero()
}

func parseDate(v string, end bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	t, err := time.Parse("2006-01-02", v)
	if err != nil {
		return time.Time{}, fmt.Errorf("must be an RFC 3339 time or a date YYYY-MM-DD, got %q", v)
	}
	if end {
		t = t.Add(24 * time.Hour) // a date as `until` includes that day
	}
	return t, nil
}

func parseFilter(q query) (assetFilter, string, error) {
	f := assetFilter{q: strings.ToLower(strings.TrimSpace(q.Get("q"))), kind: q.Get("kind")}
	if len(f.q) > 256 {
		return f, "q", fmt.Errorf("q is at most 256 bytes")
	}
	switch f.kind {
	case "", "video", "audio", "image", "other", "unknown":
	default:
		return f, "kind", fmt.Errorf("kind must be video, audio, image, other or unknown, got %q", f.kind)
	}
	switch f.proxy = q.Get("proxy"); f.proxy {
	case "", "queued", "running", "ready", "failed", "unsupported", "none":
	default:
		return f, "proxy", fmt.Errorf("proxy must be queued, running, ready, failed, unsupported or none, got %q", f.proxy)
	}
	var err error
	if v := q.Get("since"); v != "" {
		if f.since, err = parseDate(v, false); err != nil {
			return f, "since", fmt.Errorf("since %w", err)
		}
	}
	if v := q.Get("until"); v != "" {
		if f.until, err = parseDate(v, true); err != nil {
			return f, "until", fmt.Errorf("until %w", err)
		}
	}
	return f, "", nil
}

func (f assetFilter) match(d *storage.AssetDoc) bool {
	if f.kind != "" {
		k := d.Kind
		if k == "" {
			k = "unknown"
		}
		if k != f.kind {
			return false
		}
	}
	if f.proxy != "" {
		p := "none"
		if d.Proxy != nil {
			p = d.Proxy.Status
		}
		if p != f.proxy {
			return false
		}
	}
	if !f.since.IsZero() && d.FirstSeen.Before(f.since) {
		return false
	}
	if !f.until.IsZero() && !d.FirstSeen.Before(f.until) {
		return false
	}
	if f.q == "" || strings.HasPrefix(d.ID, f.q) {
		return true
	}
	for _, l := range d.Locations {
		if strings.Contains(strings.ToLower(l.Volume+"/"+l.Path), f.q) {
			return true
		}
	}
	return false
}

// searchAssets answers a filtered listing: matches in id order, next the
// cursor to continue ("" when the catalog was scanned to its end), scanned
// how many assets this request read.
func (s *Server) searchAssets(w http.ResponseWriter, r *http.Request, f assetFilter, after string, limit int) {
	out := AssetsDoc{Assets: []storage.AssetDoc{}}
	scanned := 0
	cur := after
	for scanned < SearchScanCap && len(out.Assets) < limit {
		batch := min(MaxLimit, SearchScanCap-scanned)
		docs, err := s.opts.Store.Assets(cur, batch)
		if err != nil {
			s.internal(w, r, fmt.Errorf("search assets after %q: %w", cur, err))
			return
		}
		for i := range docs {
			scanned++
			cur = docs[i].ID
			if f.match(&docs[i]) {
				if docs[i].Locations == nil {
					docs[i].Locations = []storage.Location{}
				}
				out.Assets = append(out.Assets, docs[i])
				if len(out.Assets) == limit {
					break
				}
			}
		}
		if len(docs) < batch && len(out.Assets) < limit {
			cur = "" // reached the end of the catalog
			break
		}
	}
	out.Next = cur
	out.Scanned = &scanned
	WriteJSON(w, http.StatusOK, out)
}
