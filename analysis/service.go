package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/transcode"
)

// Catalog is the part of *catalog.Catalog this stage uses.
type Catalog interface {
	Asset(id string) (storage.AssetDoc, error)
	UpdateAsset(id, eventType, detail string, fn func(*storage.Asset) error) ([]storage.Event, error)
	Consume(ctx context.Context, cursor string, batch int, fn func([]storage.Event) error) error
	PutState(key string, v any) error
	DeleteState(key string) error
	ListState(prefix string, fn func(key string, raw []byte) error) error
}

// Analysis statuses on storage.AnalysisInfo.
const (
	StatusQueued = "queued"
	StatusReady  = "ready"
	StatusFailed = "failed"
)

const (
	cursorName = "analysis"
	jobPrefix  = "analysis/job/"
)

type job struct {
	ID     string    `json:"id"`
	Queued time.Time `json:"queued"`
}

// Status is the stage's section of /v1/status (docs/api.md, Edge
// analysis), RunningJob one analysis in progress and EnricherStatus one
// enricher in Status: the API's typed documents (package daemon/api/wire).
type (
	Status         = wire.AnalysisStatus
	RunningJob     = wire.AnalysisJob
	EnricherStatus = wire.EnricherStatus
)

// Service is the analysis stage. Create it with New, run it with Run.
type Service struct {
	cfg      Config
	ffmpeg   string
	stateDir string
	cat      Catalog
	log      *slog.Logger

	mu      sync.Mutex
	queue   []string
	pending map[string]bool // queued or running
	running map[string]*RunningJob
	done    map[string]int
	enrich  []EnricherStatus
	wake    chan struct{}
	// busy, when set, reports that the proxy stage has work queued: an
	// analysis waits until it has none (SetProxyBusy).
	busy func() bool
	// master, when set, resolves an asset's master on its volume
	// (SetMaster); unset, audio is measured on the proxy.
	master func(storage.AssetDoc) (string, error)
}

// SetMaster makes the audio pass measure the master found by resolve
// (transcode.Service.MasterPath: the first present location) instead of
// the proxy's mix (call before Run). When resolve fails, or FFmpeg cannot
// read the master, the audio is measured on the proxy and analysis.json's
// audio_note says why.
func (s *Service) SetMaster(resolve func(storage.AssetDoc) (string, error)) { s.master = resolve }

// SetProxyBusy makes each analysis wait while busy reports proxy jobs
// queued, so that analysis never delays a proxy (call before Run). The
// FFmpeg of an analysis also runs at a lower CPU priority (nice 10).
func (s *Service) SetProxyBusy(busy func() bool) { s.busy = busy }

// New checks cfg and returns a stopped Service.
func New(cfg Config, ffmpeg, stateDir string, cat Catalog, log *slog.Logger) (*Service, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if ffmpeg == "" {
		ffmpeg = "ffmpeg"
	}
	if log == nil {
		log = slog.Default()
	}
	cfg.Enrichers = slices.Clone(cfg.Enrichers) // not the caller's
	for i := range cfg.Enrichers {
		cfg.Enrichers[i].ffmpeg = ffmpeg
	}
	s := &Service{cfg: cfg, ffmpeg: ffmpeg, stateDir: stateDir, cat: cat, log: log.With("component", "analysis"),
		pending: map[string]bool{}, running: map[string]*RunningJob{}, done: map[string]int{}, wake: make(chan struct{}, 1)}
	for _, e := range cfg.Enrichers {
		s.enrich = append(s.enrich, EnricherStatus{Name: e.Name})
	}
	return s, nil
}

// Status returns a snapshot of the stage.
func (s *Service) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Enabled: s.cfg.On(), Slots: s.cfg.Jobs, Queued: len(s.queue), Running: []RunningJob{},
		Done: map[string]int{StatusReady: 0, StatusFailed: 0}, Enrichers: append([]EnricherStatus{}, s.enrich...)}
	for _, j := range s.running {
		st.Running = append(st.Running, *j)
	}
	sort.Slice(st.Running, func(a, b int) bool { return st.Running[a].AssetID < st.Running[b].AssetID })
	for k, v := range s.done {
		st.Done[k] = v
	}
	return st
}

// setStep records the step and progress of running job id.
func (s *Service) setStep(id, step string, progress float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.running[id]; j != nil {
		j.Step, j.Progress = step, progress
	}
}

// enriched counts an enricher's result for the status.
func (s *Service) enriched(id string, i int, en Enrichment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i >= len(s.enrich) {
		return
	}
	e := &s.enrich[i]
	if en.Status == StatusReady {
		e.Ready++
		return
	}
	now := time.Now().UTC()
	e.Failed++
	e.LastError, e.LastErrorAsset, e.LastErrorAt = en.Error, id, &now
}

// Run re-queues the jobs left by a previous run, starts cfg.Jobs workers
// and queues every asset whose proxy becomes ready, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	var loaded []job
	err := s.cat.ListState(jobPrefix, func(key string, raw []byte) error {
		var j job
		if json.Unmarshal(raw, &j) != nil || j.ID == "" {
			j.ID = strings.TrimPrefix(key, jobPrefix)
		}
		loaded = append(loaded, j)
		return nil
	})
	if err != nil {
		return fmt.Errorf("analysis: load jobs: %w", err)
	}
	sort.Slice(loaded, func(a, b int) bool { return loaded[a].Queued.Before(loaded[b].Queued) })
	for _, j := range loaded {
		s.push(j.ID)
	}
	var wg sync.WaitGroup
	for range s.cfg.Jobs {
		wg.Add(1)
		go func() { defer wg.Done(); s.worker(ctx) }()
	}
	err = s.cat.Consume(ctx, cursorName, 64, func(evs []storage.Event) error {
		for _, e := range evs {
			if e.Type != storage.EvProxyReady || e.AssetID == "" {
				continue
			}
			if err := s.queueAsset(e.AssetID); err != nil {
				return err
			}
		}
		return nil
	})
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("analysis: consume events: %w", err)
	}
	return nil
}

// MarkQueued sets the analysis of a video or audio asset to queued. The
// transcode stage calls it in the update that records proxy.ready
// (transcode.Service.SetOnReady), so that queueing costs no event of its
// own: the hub gets one asset.json for the proxy and the queued analysis.
func MarkQueued(a *storage.Asset) {
	if a.Kind == transcode.KindVideo || a.Kind == transcode.KindAudio {
		a.Analysis = &storage.AnalysisInfo{Status: StatusQueued, At: time.Now().UTC()}
	}
}

// queueAsset persists a job for a video or audio asset and queues it.
// Unless its proxy.ready already marked it queued (MarkQueued), the asset
// is marked queued by an asset.updated event.
func (s *Service) queueAsset(id string) error {
	doc, err := s.cat.Asset(id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("asset %s: %w", id, err)
	}
	if doc.Kind != transcode.KindVideo && doc.Kind != transcode.KindAudio {
		return nil
	}
	s.mu.Lock()
	busy := s.pending[id]
	s.mu.Unlock()
	if busy {
		return nil
	}
	if err := s.cat.PutState(jobPrefix+id, job{ID: id, Queued: time.Now().UTC()}); err != nil {
		return fmt.Errorf("persist analysis job %s: %w", id, err)
	}
	if doc.Analysis == nil || doc.Analysis.Status != StatusQueued {
		if _, err := s.cat.UpdateAsset(id, storage.EvAssetUpdated, "analysis queued", func(a *storage.Asset) error {
			MarkQueued(a)
			return nil
		}); err != nil {
			return fmt.Errorf("update asset %s: %w", id, err)
		}
	}
	s.push(id)
	return nil
}

func (s *Service) push(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending[id] {
		return
	}
	s.pending[id] = true
	s.queue = append(s.queue, id)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Service) worker(ctx context.Context) {
	for {
		s.mu.Lock()
		var id string
		if len(s.queue) > 0 {
			id, s.queue = s.queue[0], s.queue[1:]
			s.running[id] = &RunningJob{AssetID: id, Started: time.Now().UTC(), Step: "waiting"}
			if len(s.queue) > 0 {
				select {
				case s.wake <- struct{}{}:
				default:
				}
			}
		}
		s.mu.Unlock()
		if id == "" {
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
				continue
			}
		}
		for s.busy != nil && s.busy() {
			select {
			case <-ctx.Done():
				return // the job's record re-queues it at the next start
			case <-time.After(time.Second):
			}
		}
		s.runJob(ctx, id)
		s.mu.Lock()
		delete(s.running, id)
		delete(s.pending, id)
		s.mu.Unlock()
	}
}

// runJob analyses one asset and records the result or the failure; a job
// interrupted by shutdown keeps its record and runs at the next start.
func (s *Service) runJob(ctx context.Context, id string) {
	log := s.log.With("asset", id)
	res, err := s.analyseAsset(ctx, id)
	if ctx.Err() != nil {
		log.Info("analysis interrupted, left queued for the next start")
		return
	}
	now := time.Now().UTC()
	if err != nil {
		msg := transcode.ScrubPaths(err.Error(), map[string]string{s.stateDir: "state_dir"})
		if len(msg) > 1500 {
			msg = msg[:1500] + "…"
		}
		log.Warn("analysis failed", "err", err)
		if _, uerr := s.cat.UpdateAsset(id, storage.EvAnalysisFailed, msg, func(a *storage.Asset) error {
			a.Analysis = &storage.AnalysisInfo{Status: StatusFailed, Error: msg, At: now}
			return nil
		}); uerr != nil && !errors.Is(uerr, storage.ErrNotFound) {
			log.Error("record analysis failure", "err", uerr)
			return
		}
		s.finish(id, StatusFailed)
		return
	}
	outs := []string{OutJSON}
	if len(res.Shots) > 0 && res.Video {
		outs = append(outs, OutShots)
	}
	for _, sh := range res.Shots {
		if sh.Thumbnail != "" {
			outs = append(outs, sh.Thumbnail) // shots/NNNNN.jpg
		}
	}
	en, _ := enrichOutputs(res.Enrichments)
	outs = append(outs, en...)
	if _, uerr := s.cat.UpdateAsset(id, storage.EvAnalysisReady, res.Verdict, func(a *storage.Asset) error {
		a.Analysis = &storage.AnalysisInfo{Status: StatusReady, Verdict: res.Verdict, Checks: res.Checks,
			Shots: len(res.Shots), Loudness: res.Loudness, Outputs: outs, At: now}
		return nil
	}); uerr != nil && !errors.Is(uerr, storage.ErrNotFound) {
		log.Error("record analysis", "err", uerr)
		return
	}
	log.Info("analysis ready", "verdict", res.Verdict, "shots", len(res.Shots), "elapsed", res.Elapsed)
	s.finish(id, StatusReady)
}

func (s *Service) finish(id, status string) {
	if err := s.cat.DeleteState(jobPrefix + id); err != nil {
		s.log.Error("delete analysis job record", "asset", id, "err", err)
	}
	s.mu.Lock()
	s.done[status]++
	s.mu.Unlock()
}

// analyseAsset runs the analysis of asset id's proxy and installs its
// outputs (by rename) beside the proxy.
func (s *Service) analyseAsset(ctx context.Context, id string) (*Result, error) {
	doc, err := s.cat.Asset(id)
	if err != nil {
		return nil, fmt.Errorf("asset %s: %w", id, err)
	}
	in, err := s.inputOf(doc)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(storage.OutputPath(s.stateDir, id, OutJSON))
	work, err := os.MkdirTemp(dir, ".analysis-")
	if err != nil {
		return nil, fmt.Errorf("asset %s: work dir: %w", id, err)
	}
	defer os.RemoveAll(work)
	r := transcode.Runner{FFmpeg: s.ffmpeg, Stall: s.cfg.StallTimeout, Log: s.log, Nice: 10}
	progress := func(f float64) { s.setStep(id, "ffmpeg", f) }
	progress(0)
	actx, cancel := context.WithTimeoutCause(ctx, s.cfg.Timeout,
		fmt.Errorf("analysis timed out after %s (analysis.timeout; programme %s)", s.cfg.Timeout, time.Duration(in.duration*float64(time.Second)).Round(time.Second)))
	defer cancel()
	res, err := analyseProgress(actx, r, in, s.cfg, work, progress)
	if err != nil && in.master != nil && ctx.Err() == nil && actx.Err() == nil {
		// The master went offline or FFmpeg cannot read it: measure the
		// proxy's mix instead, and say so.
		note := "master unreadable, measured on the proxy: " +
			transcode.ScrubPaths(firstLine(err.Error()), map[string]string{s.stateDir: "state_dir", filepath.Dir(in.master.path): "master"})
		s.log.Warn("master audio unreadable; measuring the proxy", "asset", id, "master", in.master.path, "err", err)
		in.master, in.audioNote, in.downmix = nil, note, in.proxyDownmix
		res, err = analyseProgress(actx, r, in, s.cfg, work, progress)
	}
	if err != nil && in.audio && in.video && strings.Contains(err.Error(), "matches no streams") {
		// The master has audio the proxy does not carry: video only.
		s.log.Warn("proxy has no audio stream; analysing its video only", "asset", id)
		in.audio = false
		res, err = analyseProgress(actx, r, in, s.cfg, work, progress)
	}
	if err != nil && ctx.Err() == nil && actx.Err() != nil {
		err = context.Cause(actx) // killed at analysis.timeout, not a failure of FFmpeg's own
	}
	if err != nil {
		return nil, fmt.Errorf("asset %s: analyse %s: %w", id, filepath.Base(in.path), err)
	}
	res.AssetID, res.Source, res.At = id, filepath.Base(in.path), time.Now().UTC()
	check(res, in, s.cfg.Rules)
	// The enrichers' 16 kHz mono WAV, extracted once per asset.
	var wav string
	var wavErr error
	if len(s.cfg.Enrichers) > 0 && in.audio {
		wav = filepath.Join(work, "audio16k.wav")
		s.setStep(id, "audio16k", 1)
		if wavErr = extractWAV(actx, r, in, wav); wavErr != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			wav = ""
		}
	}
	for i, e := range s.cfg.Enrichers {
		s.setStep(id, "enricher:"+e.Name, 1)
		req := EnrichRequest{AssetID: id, Kind: doc.Kind, Proxy: in.path, Duration: in.duration,
			FrameRate: in.frameRate, StartTC: in.timecode, Analysis: res, Asset: &doc, Audio: wav}
		en := Enrichment{Name: e.Name, Status: StatusFailed, Error: fmt.Sprintf("16 kHz WAV: %v", wavErr)}
		if wavErr == nil {
			en = enrichRetry(ctx, e, req, work)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if en.Error != "" {
			en.Error = transcode.ScrubPaths(en.Error, map[string]string{s.stateDir: "state_dir"})
			s.log.Warn("enricher failed", "asset", id, "enricher", e.Name, "err", en.Error)
		}
		s.enriched(id, i, en)
		res.Enrichments = append(res.Enrichments, en)
	}
	if err := writeEnrichOutputs(work, id, res.Enrichments); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("asset %s: encode analysis: %w", id, err)
	}
	if err := os.WriteFile(filepath.Join(work, OutJSON), b, 0o644); err != nil {
		return nil, fmt.Errorf("asset %s: write analysis: %w", id, err)
	}
	// Install: thumbnails folder, contact sheet, then analysis.json last.
	_ = os.RemoveAll(filepath.Join(dir, OutThumb))
	if err := os.Rename(filepath.Join(work, OutThumb), filepath.Join(dir, OutThumb)); err != nil {
		return nil, fmt.Errorf("asset %s: install thumbnails: %w", id, err)
	}
	if _, err := os.Stat(filepath.Join(work, OutShots)); err == nil {
		if err := os.Rename(filepath.Join(work, OutShots), filepath.Join(dir, OutShots)); err != nil {
			return nil, fmt.Errorf("asset %s: install %s: %w", id, OutShots, err)
		}
	}
	for _, n := range []string{"enrich", OutEnrichDir, OutTranscript} {
		_ = os.RemoveAll(filepath.Join(dir, n))
		if _, err := os.Lstat(filepath.Join(work, n)); err == nil {
			if err := os.Rename(filepath.Join(work, n), filepath.Join(dir, n)); err != nil {
				return nil, fmt.Errorf("asset %s: install enricher output %s: %w", id, n, err)
			}
		}
	}
	if err := os.Rename(filepath.Join(work, OutJSON), filepath.Join(dir, OutJSON)); err != nil {
		return nil, fmt.Errorf("asset %s: install %s: %w", id, OutJSON, err)
	}
	return res, nil
}

// inputOf picks the asset's proxy and what its probe says of the master.
func (s *Service) inputOf(doc storage.AssetDoc) (input, error) {
	if doc.Proxy == nil || doc.Proxy.Status != transcode.StatusReady {
		return input{}, fmt.Errorf("asset %s: no ready proxy", doc.ID)
	}
	m := doc.Media
	if m == nil {
		m = &storage.Media{}
	}
	in := input{duration: m.Duration, timecode: m.Timecode, format: "mov"}
	audios := 0
	for _, st := range m.Streams {
		if st.Type == "audio" {
			audios++
			in.mono = audios == 1 && st.Channels == 1
			in.downmix = audios > 1 || st.Channels > 2
		}
	}
	for _, st := range m.Streams {
		switch st.Type {
		case "video":
			if !in.video && !st.AttachedPic {
				in.video, in.frameRate, in.vfr, in.width, in.height = true, st.FrameRate, st.VFR, st.Width, st.Height
			}
		case "audio":
			in.audio = true
		}
	}
	name := transcode.OutProxyVideo
	if doc.Kind == transcode.KindAudio {
		name, in.video = transcode.OutProxyAudio, false
	}
	in.path = storage.OutputPath(s.stateDir, doc.ID, name)
	if fi, err := os.Stat(in.path); err != nil || !fi.Mode().IsRegular() {
		return input{}, fmt.Errorf("asset %s: proxy %s missing", doc.ID, name)
	}
	if !in.video && !in.audio {
		return input{}, fmt.Errorf("asset %s: no video or audio stream to analyse", doc.ID)
	}
	in.proxyDownmix = in.downmix
	if in.audio {
		in.master, in.audioNote = s.masterAudioOf(doc, m)
		if in.master != nil {
			in.downmix = false
		}
	}
	return in, nil
}

// masterAudioOf picks the master's audio stream the audio pass measures:
// the first audio stream the proxy's mix uses (one with channels), in the
// master's probed container. It returns nil and the reason when the
// audio must be measured on the proxy.
func (s *Service) masterAudioOf(doc storage.AssetDoc, m *storage.Media) (*masterAudio, string) {
	if s.master == nil {
		return nil, "master not resolvable here, measured on the proxy"
	}
	var as []storage.Stream
	for _, st := range m.Streams {
		if st.Type == "audio" && st.Channels > 0 {
			as = append(as, st)
		}
	}
	if len(as) == 0 || m.Container == "" {
		return nil, "master audio stream not known from its probe, measured on the proxy"
	}
	p, err := s.master(doc)
	if err != nil {
		return nil, "master offline, measured on the proxy"
	}
	ma := &masterAudio{path: p, format: m.Container, stream: as[0].Index}
	if len(as) > 1 && as[0].Channels == 1 && as[1].Channels == 1 {
		ma.right = as[1].Index
	}
	return ma, ""
}

// firstLine is the first line of msg.
func firstLine(msg string) string {
	l, _, _ := strings.Cut(msg, "\n")
	return l
}
