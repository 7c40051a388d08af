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

	"github.com/ingestd/ingestd/daemon/api/wire"
)

// Status is the document served at GET /v1/status, and its core parts:
// the wire types (package daemon/api/wire).
type (
	Status        = wire.Status
	VolumeStatus  = wire.VolumeStatus
	Queues        = wire.Queues
	IngestStats   = wire.IngestStats
	CatalogStatus = wire.CatalogStatus
)

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
		var ed wire.Error
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
func (c *Client) Status(ctx context.Context) (wire.Status, error) {
	var s wire.Status
	return s, c.Get(ctx, "/v1/status", nil, &s)
}

// Feed fetches GET /v1/feed.
func (c *Client) Feed(ctx context.Context, after uint64, limit int, wait time.Duration) (wire.Feed, error) {
	q := url.Values{"after": {strconv.FormatUint(after, 10)}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	var d wire.Feed
	return d, c.Get(ctx, "/v1/feed", q, &d)
}

// Assets fetches GET /v1/assets.
func (c *Client) Assets(ctx context.Context, after string, limit int) (wire.AssetsPage, error) {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var d wire.AssetsPage
	return d, c.Get(ctx, "/v1/assets", q, &d)
}

// Asset fetches GET /v1/assets/{id}.
func (c *Client) Asset(ctx context.Context, id string) (wire.Asset, error) {
	var d wire.Asset
	return d, c.Get(ctx, "/v1/assets/"+url.PathEscape(id), nil, &d)
}
