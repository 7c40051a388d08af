// Package transcode owns media analysis and derived media: it probes each
// cataloged file that can be media (a media extension or a media signature
// in its first 4 KiB, sniff.go) with ffprobe (kind and media), cuts frame-accurate proxies,
// posters, filmstrips and waveforms with the local FFmpeg (on the GPU where a
// trial run proves it works, else on the CPU), keeps a job queue that
// survives restarts, and serves the outputs over HTTP.
//
// It reads masters from the watched volumes but never writes to them; it
// writes only under state_dir/media (storage.OutputPath). It talks to the
// catalog only through its API (Consume, Asset, UpdateAsset, state records)
// and never touches Badger, the network or the hub.
package transcode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ingestd/ingestd/internal/slots"
	"github.com/ingestd/ingestd/storage"
)

// Catalog is the part of *catalog.Catalog this stage uses (the real
// boundary to the store). UpdateAsset writes the asset and its event in one
// transaction; Consume delivers each event at least once, in order, and
// advances the cursor only after fn returns nil.
type Catalog interface {
	Asset(id string) (storage.AssetDoc, error)
	Assets(after string, limit int) ([]storage.AssetDoc, error)
	Volume(name string) (storage.Volume, error)
	UpdateAsset(id, eventType, detail string, fn func(*storage.Asset) error) ([]storage.Event, error)
	Consume(ctx context.Context, cursor string, batch int, fn func([]storage.Event) error) error
	PutState(key string, v any) error
	DeleteState(key string) error
	ListState(prefix string, fn func(key string, raw []byte) error) error
}

// Proxy statuses on storage.ProxyInfo.
const (
	StatusQueued      = "queued"
	StatusReady       = "ready"
	StatusFailed      = "failed"
	StatusUnsupported = "unsupported"
)

// errNoSource: no present location of the asset can be read now.
var errNoSource = errors.New("no readable location")

const (
	cursorName = "transcode"
	jobPrefix  = "transcode/job/"
)

// job is one asset waiting for (or being cut into) its proxies. It is
// persisted under transcode/job/<id> from before the asset is marked queued
// until after the result is recorded, so a restart re-queues it.
type job struct {
	ID       string    `json:"id"`
	Queued   time.Time `json:"queued"`
	Retry    bool      `json:"retry,omitempty"`     // run even if the asset already has a final status
	ForceCPU bool      `json:"force_cpu,omitempty"` // the GPU lane failed on it once

	lane     string
	running  bool
	cfg      Config // settings the job runs with (taken at its start)
	encoder  string
	started  time.Time
	duration float64
	prog     Progress
	ext      *laneJob // another stage's work on the lane (RunOnLane)
}

// Service is the transcode stage. Create it with New, run it with Run.
type Service struct {
	cfg      Config
	tools    Tools
	stateDir string
	cat      Catalog
	log      *slog.Logger

	mu       sync.Mutex
	caps     Capabilities
	detected bool
	jobs     map[string]*job   // queued or running, by asset id
	queue    map[string][]*job // lane -> FIFO of queued jobs
	wake     map[string]chan struct{}
	nvenc    *slots.Slots // NVENC session slots

	// Lane workers: Run sets wctx and wg; workers counts the running
	// workers per lane, resized is closed (and replaced) by a Reload so
	// that idle workers above a lowered lane size exit.
	wctx     context.Context
	wg       *sync.WaitGroup
	workers  map[string]int
	resized  chan struct{}
	done     map[string]int
	doneLane map[string]map[string]int // lane -> final status -> count (for /metrics)
	// gate, when set, is waited on before each job (the state dir's free
	// space floor, daemon/diskguard); an error (ctx done) ends the worker.
	gate func(ctx context.Context) error
	// skipImage, when set, says a still at (volume, path) is a frame of a
	// sequence whose own proxy covers it (daemon/sequences): such an image
	// gets no proxy of its own (SetSkipImageProxy).
	skipImage func(volume, path string) bool
	// onReady, when set, amends the asset in the update that records its
	// proxy.ready (SetOnReady).
	onReady func(a *storage.Asset)
}

// SetGate makes every job wait for gate before it starts (call before
// Run). A job waiting there is re-queued by the next start if the daemon
// stops meanwhile.
func (s *Service) SetGate(gate func(ctx context.Context) error) { s.gate = gate }

// SetSkipImageProxy makes an image asset whose every present location
// satisfies skip (a frame of a sequence) get kind and media but no proxy
// job: the sequence's proxy shows it. Call before Run.
func (s *Service) SetSkipImageProxy(skip func(volume, path string) bool) { s.skipImage = skip }

// SetOnReady makes fn amend each asset in the same update that records its
// proxy.ready (the analysis stage marks the asset's analysis queued there,
// so that the hub sees one change of the asset, not two). Call before Run.
func (s *Service) SetOnReady(fn func(a *storage.Asset)) { s.onReady = fn }

// sequenceFrame reports whether every present location of doc is a
// sequence frame by skipImage.
func (s *Service) sequenceFrame(doc storage.AssetDoc) bool {
	if s.skipImage == nil {
		return false
	}
	n := 0
	for _, l := range doc.Locations {
		if l.State != storage.LocPresent && l.State != "" {
			continue
		}
		if !s.skipImage(l.Volume, l.Path) {
			return false
		}
		n++
	}
	return n > 0
}

// New checks the configuration and tools and returns a stopped Service.
// tools.Volumes maps volume names to roots (see Tools); cat is the
// *catalog.Catalog.
func New(cfg Config, tools Tools, stateDir string, cat Catalog, log *slog.Logger) (*Service, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t, err := tools.withDefaults()
	if err != nil {
		return nil, err
	}
	if stateDir == "" {
		return nil, errors.New("transcode: state dir is empty")
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Service{
		cfg: cfg, tools: t, stateDir: stateDir, cat: cat,
		log:      log.With("component", "transcode"),
		jobs:     map[string]*job{},
		queue:    map[string][]*job{},
		wake:     map[string]chan struct{}{LaneCPU: make(chan struct{}, 1), LaneGPU: make(chan struct{}, 1)},
		nvenc:    slots.New(max(cfg.NVENCSessions, 1)),
		workers:  map[string]int{},
		resized:  make(chan struct{}),
		done:     map[string]int{},
		doneLane: map[string]map[string]int{},
	}
	return s, nil
}

// Run detects the hardware, re-queues jobs left from a previous run, starts
// the lane workers and consumes the catalog's event log until ctx ends. A
// cancelled job stays persisted and runs again on the next start.
func (s *Service) Run(ctx context.Context) error {
	defer s.failLaneJobs() // lane.go: queued work of other stages is not left waiting
	caps, err := Detect(ctx, s.tools, s.cfg.GPU)
	if err != nil {
		return fmt.Errorf("transcode: detect hardware: %w", err)
	}
	s.mu.Lock()
	s.caps, s.detected = caps, true
	s.mu.Unlock()
	s.log.Info("hardware detected", "lanes", caps.Lanes(), "nvdec", caps.NVDEC, "scale_cuda", caps.ScaleCUDA,
		"nvenc", caps.NVENC, "vaapi", caps.VAAPI, "qsv", caps.QSV)

	if err := s.loadJobs(); err != nil {
		return err
	}
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	s.mu.Lock()
	s.wctx, s.wg = wctx, &wg
	s.startWorkersLocked()
	s.mu.Unlock()
	// Assets cataloged while their volume was unreadable were never probed.
	if err := s.sweep(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("sweep for unprobed assets", "err", err)
	}
	err = s.cat.Consume(ctx, cursorName, 64, func(evs []storage.Event) error {
		for _, e := range evs {
			switch e.Type {
			case storage.EvAssetCataloged, storage.EvLocationAdded, storage.EvLocationChanged:
				if e.AssetID == "" {
					continue
				}
				if err := s.consider(ctx, e.AssetID); err != nil {
					return err
				}
				if e.Type == storage.EvLocationAdded {
					s.unpark(e.AssetID)
				}
			case storage.EvVolumeOnline:
				// Parked jobs (master unreadable) and unprobed assets get
				// another chance now that a volume is back.
				if err := s.loadJobs(); err != nil {
					return err
				}
				if err := s.sweep(ctx); err != nil {
					return err
				}
			}
		}
		return nil
	})
	stop()
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("transcode: consume events: %w", err)
	}
	return nil
}

// sweep considers every asset that was never probed (kind empty).
func (s *Service) sweep(ctx context.Context) error {
	after := ""
	for {
		docs, err := s.cat.Assets(after, 500)
		if err != nil {
			return fmt.Errorf("list assets after %q: %w", after, err)
		}
		if len(docs) == 0 {
			return nil
		}
		for _, d := range docs {
			if d.Kind == "" {
				if err := s.consider(ctx, d.ID); err != nil {
					return err
				}
			}
		}
		after = docs[len(docs)-1].ID
	}
}

// unpark re-queues a parked job of asset id (its master was unreadable).
func (s *Service) unpark(id string) {
	s.mu.Lock()
	_, inMem := s.jobs[id]
	s.mu.Unlock()
	if inMem {
		return
	}
	var j job
	found := false
	_ = s.cat.ListState(jobPrefix+id, func(_ string, raw []byte) error {
		found = json.Unmarshal(raw, &j) == nil
		return nil
	})
	if found && j.ID == id {
		var m *storage.Media
		if doc, err := s.cat.Asset(id); err == nil {
			m = doc.Media
		}
		s.enqueue(&j, m)
	}
}

// loadJobs re-queues the jobs persisted by a previous run.
func (s *Service) loadJobs() error {
	var loaded []*job
	err := s.cat.ListState(jobPrefix, func(key string, raw []byte) error {
		var j job
		if err := json.Unmarshal(raw, &j); err != nil {
			s.log.Warn("dropping unreadable job record", "key", key, "err", err)
			return nil
		}
		if j.ID == "" {
			j.ID = strings.TrimPrefix(key, jobPrefix)
		}
		loaded = append(loaded, &j)
		return nil
	})
	if err != nil {
		return fmt.Errorf("transcode: load jobs: %w", err)
	}
	sort.Slice(loaded, func(a, b int) bool { return loaded[a].Queued.Before(loaded[b].Queued) })
	for _, j := range loaded {
		var m *storage.Media
		if doc, err := s.cat.Asset(j.ID); err == nil {
			m = doc.Media
		}
		s.enqueue(j, m)
	}
	if len(loaded) > 0 {
		s.log.Info("re-queued jobs from the last run", "jobs", len(loaded))
	}
	return nil
}

// consider probes a newly seen asset once and queues its proxy job.
func (s *Service) consider(ctx context.Context, id string) error {
	s.mu.Lock()
	_, busy := s.jobs[id]
	s.mu.Unlock()
	if busy {
		return nil
	}
	doc, err := s.cat.Asset(id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("asset %s: %w", id, err)
	}
	if doc.Kind != "" {
		return nil // already probed; a failed asset is retried only on request
	}
	root, rel, err := s.masterLoc(doc)
	if err != nil {
		s.log.Debug("no readable location yet", "asset", id, "err", err)
		return nil
	}
	src := filepath.Join(root, rel)
	var m *storage.Media
	var kind string
	var perr error
	probe, serr := worthProbing(root, rel)
	if serr != nil {
		s.log.Debug("cannot sniff, probing", "asset", id, "err", serr)
	}
	if probe {
		m, kind, perr = Probe(ctx, s.tools.FFprobe, src)
	} else {
		// Not media by name or content: what ffprobe's "Invalid data"
		// would have recorded, without starting it (see worthProbing).
		perr = fmt.Errorf("%s: %w: no media signature", src, ErrProbe)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// What the name says it is: a media extension ffprobe cannot read is
	// corrupt (failed) or undecodable (unsupported), anything else a document.
	ext, isMedia := storage.MediaExtOf(src)
	var status, reason string
	var refused *RefusedError
	switch {
	case errors.As(perr, &refused) && (refused.Reference() || ext.NoDecoder == ""):
		// A playlist, a list of other files or a container that is not
		// accepted: cataloged as what it is, never opened again.
		kind, m = KindOther, &storage.Media{Container: refused.Format}
		if refused.Reference() || isMedia {
			status, reason = StatusUnsupported, refused.Reason()
		}
	case perr != nil && ext.NoDecoder != "":
		kind, status, reason = ext.Kind, StatusUnsupported, unsupportedReason(src, nil)
	case perr != nil && isMedia:
		kind, status, reason = ext.Kind, StatusFailed, perr.Error()
	case perr != nil:
		kind = KindOther
	default:
		if r := unsupportedReason(src, m); r != "" {
			status, reason = StatusUnsupported, r
		} else if kind != KindOther && *s.cfg.Enabled { // enabled is restart-only: no lock needed
			status = StatusQueued
			if kind == KindImage && s.sequenceFrame(doc) {
				status = "" // the sequence's proxy shows it
			}
		}
	}
	switch status {
	case StatusQueued:
		j := &job{ID: id, Queued: time.Now().UTC()}
		if err := s.cat.PutState(jobPrefix+id, j); err != nil {
			return fmt.Errorf("persist job %s: %w", id, err)
		}
		if _, err := s.cat.UpdateAsset(id, storage.EvAssetUpdated, "probed: "+kind, func(a *storage.Asset) error {
			a.Kind, a.Media = kind, a.Camera.FillMedia(m) // camera facts: the card service's
			a.Proxy = &storage.ProxyInfo{Status: StatusQueued, At: time.Now().UTC()}
			return nil
		}); err != nil {
			return fmt.Errorf("update asset %s: %w", id, err)
		}
		s.enqueue(j, m)
	case StatusFailed, StatusUnsupported:
		s.log.Warn("no proxy", "asset", id, "path", src, "status", status, "reason", reason)
		// Served by the API: no absolute server path (the log keeps them).
		reason = ScrubPaths(reason, s.pathPrefixes(doc))
		if _, err := s.cat.UpdateAsset(id, storage.EvProxyFailed, reason, func(a *storage.Asset) error {
			a.Kind, a.Media = kind, a.Camera.FillMedia(m) // camera facts: the card service's
			a.Proxy = &storage.ProxyInfo{Status: status, Error: reason, At: time.Now().UTC()}
			return nil
		}); err != nil {
			return fmt.Errorf("update asset %s: %w", id, err)
		}
	default:
		if _, err := s.cat.UpdateAsset(id, storage.EvAssetUpdated, "probed: "+kind, func(a *storage.Asset) error {
			a.Kind, a.Media = kind, a.Camera.FillMedia(m) // camera facts: the card service's
			return nil
		}); err != nil {
			return fmt.Errorf("update asset %s: %w", id, err)
		}
	}
	return nil
}

// masterPath returns the first present, readable location of the asset.
func (s *Service) masterPath(doc storage.AssetDoc) (string, error) {
	root, rel, err := s.masterLoc(doc)
	if err != nil {
		return "", err
	}
	return filepath.Join(root, rel), nil
}

// MasterPath is masterPath for other stages (the analysis stage measures
// the master's audio): the first present, readable location of the asset.
func (s *Service) MasterPath(doc storage.AssetDoc) (string, error) { return s.masterPath(doc) }

// masterLoc is masterPath as the volume root and the path below it.
func (s *Service) masterLoc(doc storage.AssetDoc) (root, rel string, err error) {
	var tried []string
	for _, l := range doc.Locations {
		if l.State != storage.LocPresent && l.State != "" {
			continue
		}
		root := s.tools.Volumes[l.Volume]
		if root == "" {
			if v, err := s.cat.Volume(l.Volume); err == nil && v.Online {
				root = v.Path
			}
		}
		if root == "" {
			tried = append(tried, l.Volume+": no root")
			continue
		}
		p := filepath.Join(root, filepath.FromSlash(l.Path))
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return root, filepath.FromSlash(l.Path), nil
		}
		tried = append(tried, p)
	}
	return "", "", fmt.Errorf("asset %s: %w (%s)", doc.ID, errNoSource, strings.Join(tried, ", "))
}

// pathPrefixes maps the absolute server paths an FFmpeg or ffprobe error
// about asset doc can name to what may be served instead: each volume root
// to the volume's name, the state dir to "state_dir" (for ScrubPaths).
func (s *Service) pathPrefixes(doc storage.AssetDoc) map[string]string {
	out := map[string]string{s.stateDir: "state_dir"}
	for name, root := range s.tools.Volumes {
		if root != "" {
			out[root] = name
		}
	}
	for _, l := range doc.Locations {
		if _, ok := s.tools.Volumes[l.Volume]; ok {
			continue
		}
		if v, err := s.cat.Volume(l.Volume); err == nil && v.Path != "" {
			out[v.Path] = l.Volume
		}
	}
	return out
}

// enqueue puts j on the lane that suits its source.
func (s *Service) enqueue(j *job, m *storage.Media) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.jobs[j.ID]; ok && s.jobs[j.ID] != j {
		return
	}
	lane := LaneCPU
	if !j.ForceCPU && s.cfg.GPU != GPUOff && s.cfg.GPUJobs > 0 && m != nil {
		if v, ok := videoStream(m); ok && gpuOK(s.caps, v) {
			lane = LaneGPU
		}
	}
	j.lane, j.running = lane, false
	s.jobs[j.ID] = j
	s.queue[lane] = append(s.queue[lane], j)
	select {
	case s.wake[lane] <- struct{}{}:
	default:
	}
}

// next blocks until a job is queued on lane or ctx ends.
func (s *Service) next(ctx context.Context, lane string) *job {
	for {
		s.mu.Lock()
		if s.workers[lane] > s.laneSizeLocked(lane) {
			s.workers[lane]-- // the lane was made smaller by a reload
			more := len(s.queue[lane]) > 0
			s.mu.Unlock()
			if more { // pass on a wake-up this worker may have taken
				select {
				case s.wake[lane] <- struct{}{}:
				default:
				}
			}
			return nil
		}
		resized := s.resized
		if q := s.queue[lane]; len(q) > 0 {
			j := q[0]
			s.queue[lane] = q[1:]
			j.running, j.started, j.prog = true, time.Now(), Progress{}
			more := len(s.queue[lane]) > 0
			s.mu.Unlock()
			if more {
				select {
				case s.wake[lane] <- struct{}{}:
				default:
				}
			}
			return j
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake[lane]:
		case <-resized:
		}
	}
}

func (s *Service) worker(ctx context.Context, lane string) {
	for {
		j := s.next(ctx, lane)
		if j == nil {
			return
		}
		if s.gate != nil && s.gate(ctx) != nil {
			if j.ext != nil {
				s.mu.Lock()
				delete(s.jobs, j.ID)
				s.mu.Unlock()
				j.ext.done <- ErrNotRunning
			}
			return // stopping; the job's record re-queues it at the next start
		}
		s.runJob(ctx, j, lane)
	}
}

// forget drops a finished job from memory and from the catalog state.
func (s *Service) forget(j *job) {
	s.mu.Lock()
	delete(s.jobs, j.ID)
	s.mu.Unlock()
	if err := s.cat.DeleteState(jobPrefix + j.ID); err != nil {
		s.log.Error("delete job record", "asset", j.ID, "err", err)
	}
}

func terminal(p *storage.ProxyInfo) bool {
	return p != nil && (p.Status == StatusReady || p.Status == StatusFailed || p.Status == StatusUnsupported)
}

func (s *Service) runJob(ctx context.Context, j *job, lane string) {
	if j.ext != nil {
		s.runLaneJob(ctx, j) // lane.go
		return
	}
	log := s.log.With("asset", j.ID, "lane", lane)
	doc, err := s.cat.Asset(j.ID)
	if errors.Is(err, storage.ErrNotFound) {
		s.forget(j)
		return
	}
	if err != nil {
		log.Error("read asset", "err", err)
		s.requeueLater(ctx, j)
		return
	}
	if terminal(doc.Proxy) && !j.Retry {
		// Finished before a restart, its record not yet deleted: never twice.
		s.forget(j)
		return
	}
	res, err := s.cut(ctx, j, doc, lane)
	if errors.Is(err, errNoSource) {
		// Volume offline or file moved: park the job (its record stays) until
		// a volume comes online or the content appears at a new path.
		log.Warn("master not readable, job parked", "err", err)
		s.mu.Lock()
		delete(s.jobs, j.ID)
		s.mu.Unlock()
		return
	}
	if ctx.Err() != nil {
		// Shutdown: the record stays, the next start re-queues the job.
		log.Info("job interrupted, left queued for the next start")
		s.mu.Lock()
		delete(s.jobs, j.ID)
		s.mu.Unlock()
		return
	}
	if err != nil && lane == LaneGPU {
		log.Warn("gpu pipeline failed, retrying this job on the cpu", "err", err)
		j.ForceCPU = true
		if perr := s.cat.PutState(jobPrefix+j.ID, j); perr != nil {
			log.Error("persist job", "err", perr)
		}
		s.enqueue(j, res.media)
		return
	}
	now := time.Now().UTC()
	if err != nil {
		status, msg := StatusFailed, err.Error()
		var ue unsupportedError
		if errors.As(err, &ue) {
			status = StatusUnsupported
		}
		msg = excerpt(msg, 1500)
		log.Warn("proxy failed", "status", status, "err", msg)
		// Served by the API: no absolute server path (the log keeps them).
		msg = ScrubPaths(msg, s.pathPrefixes(doc))
		if _, uerr := s.cat.UpdateAsset(j.ID, storage.EvProxyFailed, msg, func(a *storage.Asset) error {
			if res.media != nil {
				a.Media = a.Camera.FillMedia(res.media)
				if a.Kind == "" {
					a.Kind = res.kind
				}
			}
			a.Proxy = &storage.ProxyInfo{Status: status, Profile: res.profile, Lane: lane, Error: msg, At: now}
			return nil
		}); uerr != nil {
			log.Error("record failure", "err", uerr)
			s.requeueLater(ctx, j)
			return
		}
		s.bump(status, lane)
		s.forget(j)
		return
	}
	if _, uerr := s.cat.UpdateAsset(j.ID, storage.EvProxyReady, "", func(a *storage.Asset) error {
		a.Media = a.Camera.FillMedia(res.media)
		if a.Kind == "" {
			a.Kind = res.kind
		}
		a.Proxy = &storage.ProxyInfo{Status: StatusReady, Profile: res.profile, Lane: lane, Width: res.width,
			Height: res.height, Frames: res.frames, Bytes: res.bytes, Outputs: res.outputs, At: now}
		if s.onReady != nil {
			s.onReady(a)
		}
		return nil
	}); uerr != nil {
		log.Error("record result", "err", uerr)
		s.requeueLater(ctx, j)
		return
	}
	log.Info("proxy ready", "outputs", res.outputs, "frames", res.frames, "elapsed", time.Since(j.started).Round(time.Millisecond))
	s.bump(StatusReady, lane)
	s.forget(j)
}

func (s *Service) bump(status, lane string) {
	s.mu.Lock()
	s.done[status]++
	if s.doneLane[lane] == nil {
		s.doneLane[lane] = map[string]int{}
	}
	s.doneLane[lane][status]++
	s.mu.Unlock()
}

// requeueLater puts a job back after a catalog error, with a pause.
func (s *Service) requeueLater(ctx context.Context, j *job) {
	go func() {
		select {
		case <-ctx.Done():
			s.mu.Lock()
			delete(s.jobs, j.ID)
			s.mu.Unlock()
		case <-time.After(5 * time.Second):
			s.enqueue(j, nil)
		}
	}()
}

// Retry queues an asset again whatever its proxy status (e.g. failed after
// a fix in FFmpeg or the config). It returns an error when the asset is
// unknown, not media, or already queued.
func (s *Service) Retry(id string) error {
	s.mu.Lock()
	_, busy := s.jobs[id]
	s.mu.Unlock()
	if busy {
		return fmt.Errorf("retry %s: already queued or running", id)
	}
	doc, err := s.cat.Asset(id)
	if err != nil {
		return fmt.Errorf("retry %s: %w", id, err)
	}
	if doc.Kind == KindOther {
		return fmt.Errorf("retry %s: not a media file", id)
	}
	j := &job{ID: id, Queued: time.Now().UTC(), Retry: true}
	if err := s.cat.PutState(jobPrefix+id, j); err != nil {
		return fmt.Errorf("retry %s: persist job: %w", id, err)
	}
	if _, err := s.cat.UpdateAsset(id, storage.EvAssetUpdated, "proxy retry requested", func(a *storage.Asset) error {
		a.Proxy = &storage.ProxyInfo{Status: StatusQueued, At: time.Now().UTC()}
		return nil
	}); err != nil {
		return fmt.Errorf("retry %s: %w", id, err)
	}
	s.enqueue(j, doc.Media)
	return nil
}
