// Package webhook notifies the hub of catalog changes: it consumes the event
// log through a persisted cursor and POSTs batches of feed events, in order,
// as {"appliance_id": ..., "catalog_id": ..., "events": [...]} with a bearer token and an
// Idempotency-Key per batch, retrying with jittered exponential backoff
// (github.com/hashicorp/go-retryablehttp).
//
// A batch the hub rejects with a 4xx other than 408 and 429, or answers
// with a redirect (3xx, never followed), is parked: the
// notifier stops, reports the batch and the hub's answer in Status, and
// does not advance its cursor. It is un-parked by a restart or config reload
// (a new Notifier) or by calling Unpark (wired to the API), which sends the
// same batch again with the same Idempotency-Key.
//
// It reads the catalog (events, its own state keys under "webhook/") and the
// token file. It must not write assets, touch the volumes or the bucket.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/internal/backoff"
	"github.com/ingestd/ingestd/internal/redact"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
)

// Defaults applied by SetDefaults.
const (
	DefaultBatchSize = 100
	DefaultTimeout   = 10 * time.Second
	DefaultRetries   = 4
	DefaultRetryMin  = time.Second
	DefaultRetryMax  = 5 * time.Minute
)

// State keys in the catalog.
const (
	cursorName  = "webhook"
	keyAcked    = "webhook/acked"    // last seq the hub acknowledged
	keyInflight = "webhook/inflight" // the batch being sent: {first, last}
)

// Config is the yaml section hub.webhook. An empty URL disables it.
type Config struct {
	URL       string `yaml:"url"`
	TokenFile string `yaml:"token_file"` // bearer token (trimmed); re-read for every batch
	BatchSize int    `yaml:"batch_size"` // events per POST (default 100)
	// Timeout of one HTTP attempt (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// Retries inside one delivery round (default 4); after them the round
	// fails and the next one starts after a longer backoff.
	Retries int `yaml:"retries"`
	// RetryMin and RetryMax bound the jittered exponential backoff (1s, 5m).
	RetryMin time.Duration `yaml:"retry_min"`
	RetryMax time.Duration `yaml:"retry_max"`
}

// Enabled reports whether a URL is configured.
func (c Config) Enabled() bool { return c.URL != "" }

// SetDefaults fills keys left empty.
func (c *Config) SetDefaults() {
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Retries == 0 {
		c.Retries = DefaultRetries
	}
	if c.RetryMin == 0 {
		c.RetryMin = DefaultRetryMin
	}
	if c.RetryMax == 0 {
		c.RetryMax = DefaultRetryMax
	}
}

func keyErr(key, format string, args ...any) error {
	return fmt.Errorf("hub.webhook.%s: %s", key, fmt.Sprintf(format, args...))
}

// Validate checks a defaulted config; errors name the key. It only stats
// the token file.
func (c Config) Validate() error {
	if c.URL == "" {
		return nil
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return keyErr("url", "invalid URL %q: want http(s)://host/path", redact.URL(c.URL))
	}
	if u.User != nil {
		return keyErr("url", "must not contain user info (user:password@): put the hub's token in hub.webhook.token_file")
	}
	if c.TokenFile != "" {
		fi, err := os.Stat(c.TokenFile)
		if err != nil {
			return keyErr("token_file", "%s does not exist", c.TokenFile)
		}
		if fi.IsDir() {
			return keyErr("token_file", "%s is a directory", c.TokenFile)
		}
	}
	if c.BatchSize < 1 || c.BatchSize > 10000 {
		return keyErr("batch_size", "must be between 1 and 10000, got %d", c.BatchSize)
	}
	if c.Timeout <= 0 {
		return keyErr("timeout", "must be positive, got %s", c.Timeout)
	}
	if c.Retries < 0 || c.Retries > 100 {
		return keyErr("retries", "must be between 0 and 100, got %d", c.Retries)
	}
	if c.RetryMin <= 0 || c.RetryMax < c.RetryMin {
		return keyErr("retry_max", "need 0 < retry_min (%s) <= retry_max (%s)", c.RetryMin, c.RetryMax)
	}
	return nil
}

// Payload is the body of every POST.
type Payload struct {
	ApplianceID string `json:"appliance_id"`
	// CatalogID is the catalog whose feed the seqs number (GET
	// /v1/status catalog_id): a re-created catalog numbers from 1 again.
	CatalogID string          `json:"catalog_id"`
	Events    []storage.Event `json:"events"`
}

// IdempotencyKey of a batch: deterministic from the appliance, its
// catalog and the batch's first and last seq, so a retry after a crash
// reuses it, and the first batches of a re-created catalog (seqs from 1
// again) do not repeat the old catalog's keys.
func IdempotencyKey(applianceID, catalogID string, first, last uint64) string {
	return fmt.Sprintf("%s-%s-%d-%d", applianceID, catalogID, first, last)
}

// Parked describes a batch the hub rejected; Status is the notifier's
// section of /v1/status. Both are the API's typed documents (package
// daemon/api/wire).
type (
	Parked = wire.Parked
	Status = wire.WebhookStatus
)

// Notifier is the webhook service.
type Notifier struct {
	cfg    Config
	appID  string
	cat    *catalog.Catalog
	log    *slog.Logger
	client *retryablehttp.Client
	unpark chan struct{}

	mu sync.Mutex
	st Status
}

var errParked = errors.New("batch parked")

// New builds a notifier; it does not touch the network.
func New(cfg Config, applianceID string, cat *catalog.Catalog, log *slog.Logger) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, errors.New("hub.webhook.url: required")
	}
	if cat == nil {
		return nil, errors.New("webhook: nil catalog")
	}
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "webhook")
	rc := &retryablehttp.Client{
		HTTPClient: HTTPClient(cfg),
		// The library logs the request URL (query included) and net/http's
		// errors, which embed it too: mask them (internal/redact).
		Logger:       leveledLogger{log},
		RetryWaitMin: cfg.RetryMin,
		RetryWaitMax: min(cfg.RetryMax, 30*time.Second),
		RetryMax:     cfg.Retries,
		CheckRetry:   checkRetry,
		Backoff:      Backoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	n := &Notifier{cfg: cfg, appID: applianceID, cat: cat, log: log, client: rc, unpark: make(chan struct{}, 1)}
	n.st.URL = redact.URL(cfg.URL)
	return n, nil
}

// HTTPClient is the notifier's HTTP client: cfg.Timeout bounds each whole
// attempt (connect, TLS, headers and body, http.Client.Timeout), and the
// transport bounds connecting (cleanhttp: 30s dial, 10s TLS handshake)
// and the wait for response headers, each to at most cfg.Timeout.
func HTTPClient(cfg Config) *http.Client {
	hc := cleanhttp.DefaultPooledClient()
	hc.Timeout = cfg.Timeout
	if t, ok := hc.Transport.(*http.Transport); ok {
		t.ResponseHeaderTimeout = cfg.Timeout
		t.TLSHandshakeTimeout = min(t.TLSHandshakeTimeout, cfg.Timeout)
		d := &net.Dialer{Timeout: min(30*time.Second, cfg.Timeout), KeepAlive: 30 * time.Second}
		t.DialContext = d.DialContext
	}
	// A redirect is the hub's answer, never followed: net/http would turn
	// the POST of a 301/302/303 into a GET without the batch and take the
	// page it lands on (a login form) as acceptance, losing the events, or
	// send the batch (307/308) to a URL nobody configured. post parks it.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return hc
}

// leveledLogger is a retryablehttp.LeveledLogger on slog whose values
// pass through internal/redact (the daemon's handler does it too; this
// keeps a notifier built with any logger safe).
type leveledLogger struct{ l *slog.Logger }

func (g leveledLogger) log(lvl slog.Level, msg string, kv []any) {
	for i, v := range kv {
		switch x := v.(type) {
		case string:
			kv[i] = redact.String(x)
		case error:
			kv[i] = redact.String(x.Error())
		}
	}
	g.l.Log(context.Background(), lvl, redact.String(msg), kv...)
}

func (g leveledLogger) Error(msg string, kv ...any) { g.log(slog.LevelError, msg, kv) }
func (g leveledLogger) Info(msg string, kv ...any)  { g.log(slog.LevelInfo, msg, kv) }
func (g leveledLogger) Debug(msg string, kv ...any) { g.log(slog.LevelDebug, msg, kv) }
func (g leveledLogger) Warn(msg string, kv ...any)  { g.log(slog.LevelWarn, msg, kv) }

// checkRetry retries connection errors, timeouts, 408, 429 and 5xx (but
// 501); every other answer is final (a 3xx included: HTTPClient does not
// follow it, post parks the batch).
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	}
	switch c := resp.StatusCode; {
	case c == http.StatusRequestTimeout, c == http.StatusTooManyRequests:
		return true, nil
	case c >= 500 && c != http.StatusNotImplemented:
		return true, nil
	}
	return false, nil
}

// Backoff is exponential from lo to hi with jitter in [d/2, d], so a fleet
// of appliances does not retry in lockstep. A Retry-After in seconds on 429
// or 503 is honoured up to hi.
func Backoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			return min(time.Duration(s)*time.Second, hi)
		}
	}
	return backoff.Jitter(lo, hi, attempt)
}

// Run delivers events until ctx is cancelled. Hub failures never end it.
func (n *Notifier) Run(ctx context.Context) error {
	var acked uint64
	if err := n.cat.GetState(keyAcked, &acked); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("webhook: read state: %w", err)
	}
	n.mu.Lock()
	n.st.Delivered = acked
	n.mu.Unlock()
	n.log.Info("starting", "url", redact.URL(n.cfg.URL), "delivered_seq", acked, "timeout", n.cfg.Timeout)
	fails := 0
	for ctx.Err() == nil {
		err := n.cat.Consume(ctx, cursorName, n.cfg.BatchSize, func(evs []storage.Event) error {
			return n.deliver(ctx, evs)
		})
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errParked) {
			select {
			case <-ctx.Done():
				return nil
			case <-n.unpark:
				n.log.Info("un-parked; sending the parked batch again")
				n.mu.Lock()
				n.st.Parked = nil
				n.mu.Unlock()
				fails = 0
				continue
			}
		}
		fails++
		n.setError(err)
		d := Backoff(n.cfg.RetryMin, n.cfg.RetryMax, fails, nil)
		n.log.Warn("delivery failed; backing off", "retry_in", d.Round(time.Millisecond), "err", err)
		if !backoff.Sleep(ctx, d) {
			return nil
		}
	}
	return nil
}

// Unpark resumes a parked notifier (no-op otherwise).
func (n *Notifier) Unpark() {
	select {
	case n.unpark <- struct{}{}:
	default:
	}
}

// Status reports delivery progress and the parked batch, if any.
func (n *Notifier) Status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.st
	if s.Parked != nil {
		p := *s.Parked
		s.Parked = &p
	}
	return s
}

func (n *Notifier) setError(err error) {
	n.mu.Lock()
	n.st.LastError = redact.String(err.Error())
	n.st.LastErrorAt = time.Now().UTC()
	n.mu.Unlock()
}

type inflight struct {
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
}

// deliver posts evs (one Consume batch) in one or more batches. A batch
// interrupted by a crash is sent again with the same bounds, hence the same
// Idempotency-Key, even when more events have arrived since.
func (n *Notifier) deliver(ctx context.Context, evs []storage.Event) error {
	var acked uint64
	if err := n.cat.GetState(keyAcked, &acked); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("read delivered seq: %w", err)
	}
	for len(evs) > 0 && evs[0].Seq <= acked {
		evs = evs[1:]
	}
	for len(evs) > 0 {
		batch := evs
		var inf inflight
		err := n.cat.GetState(keyInflight, &inf)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("read in-flight batch: %w", err)
		}
		if err == nil && inf.First == batch[0].Seq {
			for i, e := range batch {
				if e.Seq > inf.Last {
					batch = batch[:i]
					break
				}
			}
		}
		first, last := batch[0].Seq, batch[len(batch)-1].Seq
		if err := n.cat.PutState(keyInflight, inflight{First: first, Last: last}); err != nil {
			return fmt.Errorf("record in-flight batch: %w", err)
		}
		if err := n.post(ctx, batch); err != nil {
			return err
		}
		if err := n.cat.PutState(keyAcked, last); err != nil {
			return fmt.Errorf("record delivered seq %d: %w", last, err)
		}
		_ = n.cat.DeleteState(keyInflight)
		n.mu.Lock()
		n.st.Delivered = last
		n.st.LastSuccess = time.Now().UTC()
		n.st.Batches++
		n.st.Events += uint64(len(batch))
		n.mu.Unlock()
		evs = evs[len(batch):]
	}
	return nil
}

func (n *Notifier) token() (string, error) {
	if n.cfg.TokenFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(n.cfg.TokenFile)
	if err != nil {
		return "", fmt.Errorf("hub.webhook.token_file: %w", err)
	}
	// A configured token that reads empty (a file truncated while it is
	// rotated) or that cannot be a header value is an error (the round is
	// retried), never a batch sent without it or a hub's 401 that parks.
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("hub.webhook.token_file %s is empty", n.cfg.TokenFile)
	}
	if strings.ContainsFunc(tok, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fmt.Errorf("hub.webhook.token_file %s: the token holds a line break or control character", n.cfg.TokenFile)
	}
	return tok, nil
}

// post sends one batch; errParked when the hub rejects it for good.
func (n *Notifier) post(ctx context.Context, batch []storage.Event) error {
	first, last := batch[0].Seq, batch[len(batch)-1].Seq
	catID := n.cat.CatalogID()
	body, err := json.Marshal(Payload{ApplianceID: n.appID, CatalogID: catID, Events: batch})
	if err != nil {
		return fmt.Errorf("encode events %d..%d: %w", first, last, err)
	}
	tok, err := n.token()
	if err != nil {
		return err
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, n.cfg.URL,
		retryablehttp.ReaderFunc(func() (io.Reader, error) { return bytes.NewReader(body), nil }))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", IdempotencyKey(n.appID, catID, first, last))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return redact.Error(fmt.Errorf("post events %d..%d to %s: %w", first, last, redact.URL(n.cfg.URL), err))
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return nil
	case code >= 300 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests:
		why := strings.TrimSpace(string(msg))
		if code < 400 {
			// Not accepted, and not to be followed (HTTPClient): the
			// operator points hub.webhook.url at where the hub says.
			loc := resp.Header.Get("Location")
			if u, err := resp.Location(); err == nil {
				loc = u.String()
			}
			why = fmt.Sprintf("redirected to %s; ingestd does not follow redirects: set hub.webhook.url to the hub's final URL", redact.URL(loc))
		}
		p := &Parked{
			First: first, Last: last, Code: code, Since: time.Now().UTC(),
			Error:  redact.String(fmt.Sprintf("hub rejected events %d..%d: %s: %s", first, last, resp.Status, why)),
			Unpark: "fix the hub or hub.webhook config, then reload or restart ingestd (or call Unpark through the API); the same batch is sent again",
		}
		n.mu.Lock()
		n.st.Parked = p
		n.st.LastError = p.Error
		n.st.LastErrorAt = p.Since
		n.mu.Unlock()
		n.log.Error("batch parked", "first_seq", first, "last_seq", last, "code", code, "err", p.Error)
		return errParked
	}
	return redact.Error(fmt.Errorf("post events %d..%d to %s: %s: %s", first, last, redact.URL(n.cfg.URL), resp.Status, strings.TrimSpace(string(msg))))
}
