package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ingestd/ingestd/storage"
)

// Status is the document served at GET /v1/status.
type Status struct {
	Version     string         `json:"version"`
	ApplianceID string         `json:"appliance_id"`
	CatalogID   string         `json:"catalog_id"` // new only after ingestd reset-catalog: the feed restarted at seq 1
	Started     time.Time      `json:"started"`
	Ready       bool           `json:"ready"`
	Volumes     []VolumeStatus `json:"volumes"`
	Queues      Queues         `json:"queues"`
	Ingest      IngestStats    `json:"ingest"`
	Catalog     CatalogStatus  `json:"catalog"`
	// Sections of later stages (transcode lanes, hub sync), present when
	// those stages run.
	Proxy any `json:"proxy,omitempty"`
	Sync  any `json:"sync,omitempty"`
	// Cards: present camera cards and the fixity check (daemon/cards/cardsvc).
	Cards any `json:"cards,omitempty"`
	// Disk: free space of the state dir and offload volume against
	// disk.min_free, and whether writers are paused (daemon/diskguard).
	Disk any `json:"disk,omitempty"`
	// Analysis: the edge analysis stage's queue, running jobs and
	// enrichers (package analysis), present when it runs.
	Analysis any `json:"analysis,omitempty"`
}

// VolumeStatus is one watched volume in Status.
type VolumeStatus struct {
	Name      string    `json:"name"`
	Path      string    `json:"path"`
	Online    bool      `json:"online"`
	Reason    string    `json:"reason,omitempty"`
	WatchMode string    `json:"watch_mode"` // "inotify", "walk" or "none" (offline)
	Watches   int       `json:"watches"`
	Files     int64     `json:"files"`
	Bytes     int64     `json:"bytes"`
	LastScan  time.Time `json:"last_scan"`
	// LastScanSeconds is how long the last reconcile walk took.
	LastScanSeconds float64 `json:"last_scan_seconds"`
	Scanning        bool    `json:"scanning"`
	// StalledSeconds is how long the running walk has had no answer from
	// the filesystem, once over 30 s (a hung NAS mount); absent otherwise.
	StalledSeconds float64 `json:"stalled_seconds,omitempty"`
}

// Queues are the ingest pipeline's queue depths.
type Queues struct {
	Settling int `json:"settling"`
	Hashing  int `json:"hashing"`
}

// IngestStats are the pipeline's counters since start.
type IngestStats struct {
	FilesSeen   uint64 `json:"files_seen"`   // new or changed files queued to settle
	FilesHashed uint64 `json:"files_hashed"` // files read and hashed (unchanged files are only stat'ed)
	BytesHashed uint64 `json:"bytes_hashed"`
}

// CatalogStatus describes the catalog.
type CatalogStatus struct {
	LastSeq   uint64 `json:"last_seq"`
	LSMBytes  int64  `json:"lsm_bytes"`
	VlogBytes int64  `json:"vlog_bytes"`
}

// Client talks to a running daemon's API. It is what the CLI uses.
type Client struct {
	Base  string // e.g. http://127.0.0.1:8470
	Token string // bearer token, empty for none
	HTTP  *http.Client
}

// Error is a non-2xx answer from the API.
type Error struct {
	Code  int
	Msg   string
	Param string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("api: %d %s", e.Code, e.Msg)
	if e.Param != "" {
		s += " (param " + e.Param + ")"
	}
	return s
}

// NewRequest builds a request to path (with query) carrying the bearer
// token, if any, and RequestHeader, which a state-changing request (POST)
// to a daemon without a token needs.
func (c *Client) NewRequest(ctx context.Context, method, path string, q url.Values, body io.Reader) (*http.Request, error) {
	u := strings.TrimSuffix(c.Base, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", u, err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	req.Header.Set(RequestHeader, "1")
	return req, nil
}

// Get fetches path (with query) and decodes the JSON answer into v.
func (c *Client) Get(ctx context.Context, path string, q url.Values, v any) error {
	req, err := c.NewRequest(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return err
	}
	u := req.URL.String()
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: MaxWait + 10*time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read %s: %w", u, err)
	}
	if resp.StatusCode/100 != 2 {
		var ed ErrorDoc
		if json.Unmarshal(body, &ed) != nil || ed.Error == "" {
			ed.Error = strings.TrimSpace(string(body))
		}
		return &Error{Code: resp.StatusCode, Msg: ed.Error, Param: ed.Param}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode %s: %w", u, err)
	}
	return nil
}

// Status fetches GET /v1/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	return s, c.Get(ctx, "/v1/status", nil, &s)
}

// Feed fetches GET /v1/feed.
func (c *Client) Feed(ctx context.Context, after uint64, limit int, wait time.Duration) (FeedDoc, error) {
	q := url.Values{"after": {strconv.FormatUint(after, 10)}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	var d FeedDoc
	return d, c.Get(ctx, "/v1/feed", q, &d)
}

// Assets fetches GET /v1/assets.
func (c *Client) Assets(ctx context.Context, after string, limit int) (AssetsDoc, error) {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var d AssetsDoc
	return d, c.Get(ctx, "/v1/assets", q, &d)
}

// Asset fetches GET /v1/assets/{id}.
func (c *Client) Asset(ctx context.Context, id string) (storage.AssetDoc, error) {
	var d storage.AssetDoc
	return d, c.Get(ctx, "/v1/assets/"+url.PathEscape(id), nil, &d)
}
