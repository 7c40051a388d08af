// Package s3push pushes proxies and metadata to the hub's S3 bucket: it
// consumes the catalog's event log through a persisted cursor, keeps a
// persisted backlog of assets to push, uploads each asset's derived outputs
// and its asset.json (idempotently: HEAD compares size and the BLAKE3 kept in
// object metadata), resumes multipart uploads across restarts from part
// state kept in the catalog, and records asset.synced. The push state
// belongs to one destination (endpoint, bucket, prefix, appliance id): a
// restart with another replays the event log on a new cursor so that the
// new place gets everything (checkDestination). It talks to the
// bucket only through a hubstore.Store: the S3 store wrapped with
// hubstore.Retry (per-request retries with backoff) and hubstore.Limit (the
// time-of-day bandwidth schedule shared by all uploads); its own queue backs
// off between rounds after a failure.
//
// Layout (docs/api.md): <prefix>/<appliance_id>/assets/<asset_id>/
// {asset.json, the outputs of outputs.go}, and clips/, sequences/ and
// cards/<id>/ (items.go). The files: s3push.go the service and its status,
// queue.go the persisted queue, push.go an asset's push, multipart.go
// resumable multipart uploads, items.go the other item kinds, check.go the
// probe.
//
// It reads only derived files under state_dir (storage.OutputPath, and the
// item kinds' folders) and the catalog. It must never read, upload, write or
// delete anything under the watched volumes (masters never leave the
// building), and never deletes objects in the bucket but its own probe
// object (Check).
package s3push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/internal/backoff"
	"github.com/ingestd/ingestd/internal/redact"
	"github.com/ingestd/ingestd/internal/slots"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
	"github.com/ingestd/ingestd/sync/hubstore"
)

// State keys in the catalog.
const (
	cursorName   = "s3push"
	destKey      = "s3push/destination" // destination: where the push state applies
	pendingPfx   = "s3push/pending/"    // + asset id: asset waiting to be pushed
	assetPfx     = "s3push/asset/"      // + asset id: what was last pushed
	multipartPfx = "s3push/mpu/"        // + object key: resumable multipart upload
	consumeBatch = 256
)

// wrapHTTPClient, when set (tests only), wraps the S3 client's HTTP client,
// e.g. to count UploadPart requests or inject faults.
var wrapHTTPClient func(s3.HTTPClient) s3.HTTPClient

// openStore opens the bucket (one attempt per call); tests may put a
// hubstore.MemHub's store in its place.
var openStore = func(c hubstore.S3Config) (hubstore.Store, error) { return hubstore.NewS3(c) }

// Pusher is the hub upload service.
type Pusher struct {
	cfg      Config
	appID    string
	stateDir string
	cat      *catalog.Catalog
	log      *slog.Logger
	where    string         // the hub, for messages
	store    hubstore.Store // s3 with retries and the bandwidth limit
	lim      *hubstore.Limiter
	slots    *slots.Slots

	cursor  string          // the event-log cursor of this destination (checkDestination)
	runCtx  context.Context // set by Run; Reload starts extra workers in it
	runWG   *sync.WaitGroup
	workers int

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every queue change
	queue    []string
	queued   map[string]bool
	backlog  map[string]backlogItem
	gen      map[string]uint64
	working  map[string]bool
	inflight map[*progress]struct{}
	failures int
	pause    time.Time
	// attemptFailures counts S3 request attempts that failed in transport
	// (refused, reset, timed out, stalled), SDK retries included.
	attemptFailures uint64

	lastSuccess time.Time
	lastError   string
	lastErrorAt time.Time
	synced      uint64
	uploaded    int64
	skipped     uint64
}

type backlogItem struct {
	objects int
	bytes   int64
}

// Status is the pusher's section of /v1/status and InFlight one upload in
// progress: the API's typed documents (package daemon/api/wire).
type (
	Status   = wire.S3Status
	InFlight = wire.InFlight
)

// New builds a pusher. It validates cfg and prepares the S3 client; it does
// not touch the network (see Check) nor start anything (see Run).
func New(cfg Config, applianceID, stateDir string, cat *catalog.Catalog, log *slog.Logger) (*Pusher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if applianceID == "" || strings.ContainsAny(applianceID, "/ ") {
		return nil, fmt.Errorf("s3push: invalid appliance id %q", applianceID)
	}
	if cat == nil {
		return nil, errors.New("s3push: nil catalog")
	}
	if log == nil {
		log = slog.Default()
	}
	sched, _ := hubstore.ParseSchedule(cfg.Bandwidth)
	sc := hubstore.S3Config{Endpoint: cfg.Endpoint, Region: cfg.Region, Bucket: cfg.Bucket, PathStyle: cfg.PathStyle,
		Timeout: cfg.Timeout, StallTimeout: cfg.StallTimeout, WrapHTTPClient: wrapHTTPClient}
	st, err := openStore(sc)
	if err != nil {
		return nil, fmt.Errorf("s3push: %w", err)
	}
	p := &Pusher{
		cfg: cfg, appID: applianceID, stateDir: stateDir, cat: cat,
		cursor:   cursorName,
		log:      log.With("component", "s3push"),
		where:    sc.Name(),
		lim:      hubstore.NewLimiter(sched, nil),
		slots:    slots.New(cfg.Concurrency),
		changed:  make(chan struct{}),
		queued:   map[string]bool{},
		backlog:  map[string]backlogItem{},
		gen:      map[string]uint64{},
		working:  map[string]bool{},
		inflight: map[*progress]struct{}{},
	}
	// hubstore.S3 makes one attempt per call: Retry makes three, with
	// the waits of the SDK's own retryer, then the queue backs off
	// (hub.s3.retry_min/retry_max) before the next round.
	p.store = hubstore.Retry(hubstore.Limit(st, p.lim), hubstore.RetryOptions{Attempts: 3, Observe: p.observe})
	return p, nil
}

// Key is the object key of an asset's file name.
func (p *Pusher) Key(assetID, name string) string {
	return path.Join(p.cfg.Prefix, p.appID, "assets", assetID, name)
}

// Limiter is the shared bandwidth limiter (for status and tests).
func (p *Pusher) Limiter() *hubstore.Limiter { return p.lim }

// observe sees every failed request attempt (hubstore.Retry): a transport
// failure (refused, reset, timed out, stalled) is counted, logged and shown
// in Status at once, not only after the last attempt.
func (p *Pusher) observe(op string, err error) {
	var ne net.Error
	if !errors.As(err, &ne) {
		return
	}
	p.mu.Lock()
	p.attemptFailures++
	p.setErrorLocked(err)
	p.mu.Unlock()
	p.log.Warn("hub request failed; retrying", "op", op, "err", err)
}

// Run consumes the event log and uploads until ctx is cancelled. Hub
// failures (outage, bad credentials, missing bucket) never end it: they are
// reported in Status and retried with exponential backoff and jitter.
func (p *Pusher) Run(ctx context.Context) error {
	if err := p.checkDestination(); err != nil {
		return err
	}
	if err := p.loadBacklog(); err != nil {
		return err
	}
	p.log.Info("starting", "bucket", p.cfg.Bucket, "endpoint", redact.URL(p.cfg.Endpoint), "prefix", p.cfg.Prefix,
		"timeout", p.cfg.Timeout, "stall_timeout", p.cfg.StallTimeout,
		"backlog", len(p.backlog), "rate_limit", hubstore.RateString(p.lim.Rate()))
	var wg sync.WaitGroup
	p.mu.Lock()
	p.runCtx, p.runWG = ctx, &wg
	p.startWorkersLocked(p.cfg.Concurrency)
	p.mu.Unlock()
	err := p.consume(ctx)
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// destination is what the push state in the catalog applies to: the
// server, bucket and key prefix every object went to.
type destination struct {
	Where  string `json:"where"` // endpoint (redacted) or AWS region
	Bucket string `json:"bucket"`
	Prefix string `json:"prefix"` // <prefix>/<appliance_id>
	// Cursor is the event-log cursor feeding this destination's backlog:
	// a new destination starts one at 0, replaying the log.
	Cursor string `json:"cursor"`
}

// checkDestination compares the destination with the one the push state
// was recorded for. After a restart with another endpoint, bucket, prefix
// or appliance_id, what was pushed is not at the new place: the per-asset
// push state and resumable uploads are dropped and the event log is
// replayed from its start on a new cursor, so every asset and item is
// pushed again (objects already there are found by HEAD and skipped).
func (p *Pusher) checkDestination() error {
	cur := destination{Where: p.where, Bucket: p.cfg.Bucket, Prefix: path.Join(p.cfg.Prefix, p.appID), Cursor: cursorName}
	var old destination
	err := p.cat.GetState(destKey, &old)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		// First run, or a catalog pushed by a version before this record:
		// the state is taken to be this destination's.
		return p.cat.PutState(destKey, cur)
	case err != nil:
		return fmt.Errorf("s3push: read %s: %w", destKey, err)
	}
	if old.Cursor == "" {
		old.Cursor = cursorName
	}
	cur.Cursor = old.Cursor
	if old == cur {
		p.cursor = old.Cursor
		return nil
	}
	// A cursor never used before (a destination seen earlier must not
	// resume its old cursor: it would skip what changed since).
	cur.Cursor = fmt.Sprintf("%s@%d", cursorName, time.Now().UnixNano())
	p.log.Warn("hub destination changed: every asset and item is pushed again (objects already there are skipped)",
		"was", old.Where+" "+old.Bucket+"/"+old.Prefix, "now", cur.Where+" "+cur.Bucket+"/"+cur.Prefix)
	for _, pfx := range []string{assetPfx, multipartPfx} {
		var keys []string
		if err := p.cat.ListState(pfx, func(k string, _ []byte) error { keys = append(keys, k); return nil }); err != nil {
			return fmt.Errorf("s3push: list %s: %w", pfx, err)
		}
		for _, k := range keys {
			if err := p.cat.DeleteState(k); err != nil {
				return fmt.Errorf("s3push: %w", err)
			}
		}
	}
	if err := p.cat.PutState(destKey, cur); err != nil {
		return fmt.Errorf("s3push: %w", err)
	}
	p.cursor = cur.Cursor
	return nil
}

// consume feeds the backlog from the event log. Consume persists the cursor
// once fn returns nil; fn persists the backlog first, so a crash in between
// replays events, which is harmless (pushes are idempotent).
func (p *Pusher) consume(ctx context.Context) error {
	fails := 0
	for ctx.Err() == nil {
		err := p.cat.Consume(ctx, p.cursor, consumeBatch, p.enqueueEvents)
		if ctx.Err() != nil {
			return nil
		}
		// Consume only returns on failure (or cancellation): wait before
		// calling it again so that no failure turns into a busy loop.
		fails++
		p.log.Error("consume event log", "err", err)
		if !backoff.Sleep(ctx, backoff.Jitter(p.cfg.RetryMin, p.cfg.RetryMax, fails-1)) {
			return nil
		}
	}
	return nil
}

func (p *Pusher) setErrorLocked(err error) {
	p.lastError = redact.String(err.Error())
	p.lastErrorAt = time.Now().UTC()
}

// Status reports backlog, in-flight uploads, last success and last error.
func (p *Pusher) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.lim.Rate()
	s := Status{
		Endpoint: redact.URL(p.cfg.Endpoint), Bucket: p.cfg.Bucket, Prefix: p.cfg.Prefix,
		BacklogAssets: len(p.backlog),
		LastSuccess:   p.lastSuccess, LastError: p.lastError, LastErrorAt: p.lastErrorAt,
		RateLimit: hubstore.RateString(r), RateLimitBytes: r, Concurrency: p.cfg.Concurrency,
		AssetsSynced: p.synced, BytesUploaded: p.uploaded, ObjectsSkipped: p.skipped,
		AttemptFailures: p.attemptFailures,
		InFlight:        []InFlight{},
	}
	if time.Now().Before(p.pause) {
		s.RetryAt = p.pause
	}
	for _, b := range p.backlog {
		s.BacklogObjects += b.objects
		s.BacklogBytes += b.bytes
	}
	for pr := range p.inflight {
		f := InFlight{Key: pr.key, Bytes: pr.done.Load(), Total: pr.total}
		if el := time.Since(pr.started).Seconds(); el > 0 {
			f.Rate = float64(f.Bytes) / el
		}
		s.InFlight = append(s.InFlight, f)
	}
	slices.SortFunc(s.InFlight, func(a, b InFlight) int { return strings.Compare(a.Key, b.Key) })
	return s
}
