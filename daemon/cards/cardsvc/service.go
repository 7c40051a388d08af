// Package cardsvc runs camera-card offload inside the daemon: it watches
// mounts under the configured roots, identifies each card, offloads a new
// or incomplete one into the offload volume (package cards does the copy,
// verification and ASC MHL), records card and clip records and card events
// in the catalog, and attaches the card origin and camera metadata to the
// assets the ingest pipeline catalogs from the copy. The fixity check is
// not its own: it is package daemon/cards/fixity (fixity.go here only keeps
// the old names for callers).
//
// It must not hash files for the catalog nor write locations: the ingest
// pipeline catalogs the offloaded files like any other file of the volume.
// The content ids it records on clips and origins (contentids.go) are the
// catalog's where the ingest hashed a copy, else read from a verified copy
// by package cards, never written into the catalog as assets.
// It never writes to a card.
package cardsvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
)

// Card states shown in the status.
const (
	StateIdentifying = "identifying"
	StateCopying     = "copying"
	StateVerifying   = "verifying"
	StateOffloaded   = "offloaded" // every destination verified: safe to format
	StatePartial     = "partial"   // a verified copy exists; other destinations pending or failed: NOT safe to format
	StateCascading   = "cascading" // (status) filling destinations from the first verified copy, card released
	StateFailed      = "failed"
	StateIgnored     = "ignored" // a mount without a camera-card layout
)

// Record is what the catalog keeps about a card: storage's card record,
// which this service writes (catalog.PutCard) and others read.
type Record = storage.Card

// ClipPart is one file of a clip.
type ClipPart = storage.ClipPart

// ClipCard is one card a clip's parts were offloaded from.
type ClipCard = storage.ClipCard

// ClipDoc is a clip as served at /v1/clips/{id}: storage's clip record,
// which this service writes (catalog.PutClip) and others read.
type ClipDoc = storage.Clip

// pending is what still has to be attached to an asset (state key
// "cards/pending/<asset id>") once the pipeline has cataloged it.
type pending struct {
	Origin storage.OriginInfo `json:"origin"`
	Meta   *cards.CameraMeta  `json:"meta,omitempty"`
}

// CardStatus is one present card in the status.
type CardStatus = wire.CardStatus

// MaxSkippedShown caps the skipped entries listed in the status and events.
const MaxSkippedShown = 50

func capSkipped(s []cards.Skipped) []cards.Skipped {
	if len(s) > MaxSkippedShown {
		return s[:MaxSkippedShown]
	}
	return s
}

// Status is the `cards` section of /v1/status.
type Status = wire.CardsStatus

// Volume is a configured volume root.
type Volume struct {
	Name string
	Path string // absolute
}

// Service is the running card offload. Build with New; Run it.
type Service struct {
	cfg     cards.Config
	cat     *catalog.Catalog
	log     *slog.Logger
	vols    map[string]string
	fixity  *Fixity
	offload Volume    // the first destination's volume
	dests   []destVol // the destinations in effect
	runCtx  context.Context

	// unmount ejects a card (cards.eject_when_safe); syscall.Unmount.
	unmount func(mountPoint string) error

	clipProxy *clipProxyConfig // nil: no whole-clip proxies
	clipMu    sync.Mutex       // serialises read-modify-write of clip records
	clipWG    sync.WaitGroup   // clip proxies on the transcode lane (clipproxy.go)

	mu        sync.Mutex
	present   map[string]*present    // by mount point
	claimed   map[string]bool        // destination folders handed out (volume + NUL + folder)
	busy      map[string]bool        // card keys with a card pass or cascade running
	cascading map[string]*CardStatus // by card key: cascades in progress
	idsBusy   map[string]bool        // card keys with a content id job running (contentids.go)
	idWait    time.Duration          // how long that job waits for the ingest (0: DefaultIDWait; <0: not at all)

	// Destination checks running, by volume name + NUL + root, and their
	// timeout (0: DestCheckTimeout; destcheck.go).
	destChecks   flight[string] // destination checks in progress (destcheck.go)
	reportWrites flight[error]  // report writes to destinations in progress (report.go)
	destTimeout  time.Duration
	vouchEvery   time.Duration // 0: VouchEvery (vouch.go)
	storeEvery   time.Duration // 0: StoreRetry (storeCard)
	version      string        // ingestd's, in each ASC MHL generation (SetVersion)
	wg           sync.WaitGroup

	// reportState is the state dir report files are written to ("": no
	// report files); reportTimers debounce rewrites per card (report.go).
	reportState   string
	reportMu      sync.Mutex
	reportTimers  map[string]*time.Timer
	reportStopped bool           // after Run: no more rewrites
	reportWG      sync.WaitGroup // rewrites running

	// space, when set, is the free-space guard a pass or a fill waits on
	// before it writes (space.go).
	space *Space
}

// SetSpace makes each card pass and each fill from a verified copy wait
// for free space on what it writes (call before Run; space.go).
func (s *Service) SetSpace(sp *Space) { s.space = sp }

type present struct {
	st     CardStatus
	cancel context.CancelFunc
	m      cards.Mount     // as the watcher saw it
	id     *cards.Identity // once identified
	// fpBusy: a look at the card's content (vouch.go) has not returned;
	// fpNext: no look before then.
	fpBusy bool
	fpNext time.Time
	// ejectPending: safe, its eject failed (busy): tried again, ejectWhy
	// shown meanwhile (eject.go).
	ejectPending bool
	ejectWhy     string
	// Set while the card's verified copies cannot be vouched for
	// (vouch.go): why, the message shown before, and the one shown now.
	unvouched, safeMsg, unvouchedMsg string
}

// New builds the service. vols are all configured volumes (the fixity
// check reads them); cfg.OffloadTo must be one of them.
func New(cfg cards.Config, vols []Volume, cat *catalog.Catalog, fixity *Fixity, log *slog.Logger) (*Service, error) {
	s := &Service{cfg: cfg, cat: cat, log: log.With("component", "cards"), vols: map[string]string{}, fixity: fixity, present: map[string]*present{},
		busy: map[string]bool{}, cascading: map[string]*CardStatus{}, unmount: func(mp string) error { return syscall.Unmount(mp, 0) }}
	for _, v := range vols {
		s.vols[v.Name] = v.Path
	}
	if s.cfg.Path == "" {
		s.cfg.Path = cards.DefaultPath
	}
	for i, d := range s.cfg.Dests() {
		root, ok := s.vols[d.Volume]
		if !ok {
			key := "cards.offload_to"
			if len(cfg.Destinations) > 0 {
				key = fmt.Sprintf("cards.destinations[%d].volume", i)
			}
			return nil, fmt.Errorf("%s: no volume named %q", key, d.Volume)
		}
		tmpl := d.Path
		if tmpl == "" {
			tmpl = s.cfg.Path
		}
		s.dests = append(s.dests, destVol{Volume: Volume{Name: d.Volume, Path: root}, tmpl: tmpl, formats: s.cfg.DestFormats(i)})
	}
	s.offload = s.dests[0].Volume
	return s, nil
}

// Run watches mounts and applies pending origins until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	s.runCtx = ctx
	s.mu.Unlock()
	s.markInterrupted()
	errc := make(chan error, 1)
	go func() { errc <- s.consume(ctx) }()
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.retryLoop(ctx) }()
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.vouchLoop(ctx) }()
	w := &cards.MountWatcher{
		Roots: s.cfg.MountRoots, Mountinfo: s.cfg.Mountinfo, Interval: s.cfg.Poll, Logger: s.log,
		OnMount:   func(m cards.Mount) { s.mounted(ctx, m) },
		OnUnmount: s.unmounted,
	}
	err := w.Run(ctx)
	cancel()
	s.wg.Wait()
	s.stopReports()
	if cerr := <-errc; cerr != nil && !errors.Is(cerr, context.Canceled) && err == nil {
		err = cerr
	}
	s.clipWG.Wait() // clip proxies waiting for their lane turn (consume is done: no more start)
	return err
}

// Interrupted is the reason of a card whose pass the daemon stopped in
// (killed, crashed, the power lost): its record said copying.
const Interrupted = "interrupted: the daemon stopped during the offload (resumes when the card is inserted again)"

// markInterrupted records, at start, the cards a pass was running for when
// the daemon last stopped without finishing it as failed (Interrupted):
// no card record says copying while nothing copies it. A card still
// inserted is then offloaded again (it resumes) like any other.
func (s *Service) markInterrupted() {
	var recs []Record
	if err := s.cat.Cards(func(rec Record) error {
		if rec.Status == StateCopying {
			recs = append(recs, rec)
		}
		return nil
	}); err != nil {
		s.log.Error("list card records", "err", err)
		return
	}
	for _, rec := range recs {
		rec.Status, rec.Reason, rec.SafeToFormat = StateFailed, Interrupted, false
		for i := range rec.Destinations {
			if d := &rec.Destinations[i]; d.State == cards.DestCopying || d.State == cards.DestVerifying {
				d.State, d.Error = cards.DestFailed, Interrupted
			}
		}
		if err := s.cat.PutCard(rec); err != nil {
			s.log.Error("store card record", "key", rec.Key, "err", err)
			continue
		}
		s.log.Warn("card offload interrupted when the daemon stopped: NOT safe to format; re-insert the card to resume", "label", rec.Label, "key", rec.Key)
	}
}

// Status is the cards section of /v1/status.
func (s *Service) Status() Status {
	s.mu.Lock()
	st := Status{Cards: []CardStatus{}}
	for _, p := range s.present {
		c := p.st
		c.Destinations = append([]DestState{}, c.Destinations...)
		st.Cards = append(st.Cards, c)
	}
	for _, c := range s.cascading {
		cc := *c
		cc.Destinations = append([]DestState{}, c.Destinations...)
		st.Cards = append(st.Cards, cc)
	}
	s.mu.Unlock()
	sort.Slice(st.Cards, func(i, j int) bool {
		if st.Cards[i].Mount != st.Cards[j].Mount {
			return st.Cards[i].Mount < st.Cards[j].Mount
		}
		return st.Cards[i].Key < st.Cards[j].Key
	})
	if s.fixity != nil {
		st.Fixity = s.fixity.Status()
	}
	return st
}

func (s *Service) update(mp string, fn func(*CardStatus)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.present[mp]; ok {
		fn(&p.st)
	}
}

func (s *Service) mounted(ctx context.Context, m cards.Mount) {
	cctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	if old, ok := s.present[m.MountPoint]; ok {
		old.cancel()
	}
	s.present[m.MountPoint] = &present{st: CardStatus{Mount: m.MountPoint, State: StateIdentifying}, cancel: cancel, m: m}
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		s.handle(cctx, m)
	}()
}

func (s *Service) unmounted(m cards.Mount) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.present[m.MountPoint]; ok {
		p.cancel()
		delete(s.present, m.MountPoint)
	}
}

// handle identifies and, when needed, offloads the card mounted at m.
func (s *Service) handle(ctx context.Context, m cards.Mount) {
	mp := m.MountPoint
	log := s.log.With("mount", mp)
	id, err := cards.Identify(mp, cards.IdentifyOptions{Mountinfo: s.cfg.Mountinfo})
	if err != nil {
		log.Warn("identify card", "err", err)
		s.update(mp, func(c *CardStatus) { c.State, c.Reason = StateFailed, err.Error() })
		return
	}
	if id.Layout == cards.LayoutUnknown {
		// A USB disk or stick without a camera layout: not ours to copy.
		log.Info("mount is not a camera card; ignored", "fstype", m.FSType)
		s.update(mp, func(c *CardStatus) {
			c.State, c.Label, c.Message = StateIgnored, id.DisplayLabel(), "not a camera card layout"
		})
		return
	}
	key := id.Key()
	label := id.DisplayLabel()
	s.mu.Lock()
	if p, ok := s.present[mp]; ok && ctx.Err() == nil {
		p.id = &id
		p.st.Label, p.st.Key, p.st.Layout = label, key, id.Layout
	}
	s.mu.Unlock()
	s.offloadCard(ctx, m, id, log)
}

// recordClips groups the offloaded copy into clips and stores them, with
// the pending origin and camera metadata of every file whose content id
// is known (parts and origins of the others are filled in by the content
// id job, contentids.go). It returns the camera metadata by card path.
func (s *Service) recordClips(rec *Record, res cards.Result, origin storage.OriginInfo) (map[string]*cards.CameraMeta, error) {
	byPath := map[string]string{}
	for _, f := range res.Files {
		byPath[f.Path] = f.BLAKE3
	}
	meta := map[string]*cards.CameraMeta{}
	clips, err := cards.Clips(res.Dst, res.Layout)
	card := ClipCard{Key: rec.Key, Label: rec.Label, Folder: rec.Folder, OffloadAt: origin.OffloadAt}
	for _, c := range clips {
		id, shot := clipID(rec.Key, c.Name), shotID(c)
		if shot != "" {
			id = clipID("shot", shot)
		}
		doc := ClipDoc{ID: id, Name: c.Name, Layout: c.Layout, CardLabel: rec.Label, CardKey: rec.Key,
			Volume: rec.Volume, Folder: rec.Folder, OffloadAt: origin.OffloadAt, Meta: (*storage.ClipMeta)(c.Meta), Cards: []ClipCard{card}}
		offsets, spanNo, spans := spanInfo(res.Dst, rec.Key, c)
		doc.Spans, doc.Incomplete = spans, incomplete(spans)
		for _, role := range []struct {
			name  string
			paths []string
		}{{"video", c.Video}, {"audio", c.Audio}, {"sidecar", c.Sidecars}} {
			for _, p := range role.paths {
				doc.Parts = append(doc.Parts, ClipPart{Role: role.name, Path: path.Join(rec.Folder, p), AssetID: byPath[p],
					Card: rec.Key, Offset: offsets[p], Span: spanNo[p]})
				if role.name != "sidecar" && c.Meta != nil {
					meta[p] = c.Meta
				}
			}
		}
		id, perr := s.putClip(doc, shot != "", clipID(rec.Key, c.Name))
		if perr != nil {
			return meta, perr
		}
		rec.Clips = append(rec.Clips, id)
	}
	for _, f := range res.Files {
		if f.BLAKE3 == "" {
			continue // contentids.go
		}
		if err := s.cat.PutState(pendingKey(f.BLAKE3), pending{Origin: origin, Meta: meta[f.Path]}); err != nil {
			return meta, err
		}
	}
	return meta, err
}

// consume applies pending origins when the pipeline catalogs (or
// transcode probes) an asset.
func (s *Service) consume(ctx context.Context) error {
	// First start: pending origins only exist for cards offloaded from now
	// on, so the cursor starts at the end of the log (no replay of a large
	// existing catalog).
	var pos uint64
	if err := s.cat.GetState("cursor/cards", &pos); errors.Is(err, storage.ErrNotFound) {
		if err := s.cat.PutState("cursor/cards", s.cat.LastSeq()); err != nil {
			s.log.Warn("start event cursor", "err", err)
		}
	}
	for {
		err := s.cat.Consume(ctx, "cards", 500, func(evs []storage.Event) error {
			for _, ev := range evs {
				switch ev.Type {
				// The first of these for an asset with a pending origin
				// applies it (apply is a lookup otherwise).
				case storage.EvAssetCataloged, storage.EvLocationAdded, storage.EvAssetUpdated, storage.EvProxyFailed, storage.EvProxyReady:
					if ev.AssetID != "" {
						s.apply(ev.AssetID)
					}
					if ev.Type == storage.EvProxyReady {
						s.startClipProxy(ctx, ev.AssetID) // clipproxy.go
					}
					s.reportTrigger(ev.AssetID) // report.go: media or poster landed
				case EvClipProxyReady:
					s.reportTriggerClip(ev.Path)
				}
			}
			return nil
		})
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("consume events", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(5 * time.Second):
		}
	}
}

// apply attaches a pending origin and camera metadata to asset id when it
// exists, once: the origin, the asset's camera field (storage.Camera, owned
// here) and the media facts the probe left empty. The pending record is
// then dropped: transcode fills media from the camera field itself when it
// replaces media, so nothing is re-added (no further asset.updated).
func (s *Service) apply(id string) {
	if id == "" {
		return
	}
	var p pending
	if err := s.cat.GetState(pendingKey(id), &p); err != nil {
		return
	}
	_, err := s.cat.UpdateAsset(id, storage.EvAssetUpdated, "card origin", func(a *storage.Asset) error {
		before, _ := json.Marshal(a)
		if a.Origin == nil {
			o := p.Origin
			a.Origin = &o
		}
		if p.Meta != nil {
			if a.Camera == nil {
				a.Camera = p.Meta.Record()
			}
			if a.Media == nil {
				a.Media = &storage.Media{}
			}
			a.Camera.FillMedia(a.Media)
		}
		after, _ := json.Marshal(a)
		if string(before) == string(after) {
			return errUnchanged
		}
		return nil
	})
	switch {
	case err == nil, errors.Is(err, errUnchanged):
		// asset.updated is emitted only when something changed.
	case errors.Is(err, storage.ErrNotFound):
		return // not cataloged yet: the event will come
	default:
		s.log.Warn("attach card origin", "asset", id, "err", err)
		return
	}
	if err := s.cat.DeleteState(pendingKey(id)); err != nil {
		s.log.Warn("drop pending origin", "asset", id, "err", err)
	}
}

var errUnchanged = errors.New("unchanged")

func pendingKey(id string) string { return "cards/pending/" + id }

// claimFolder returns folder, or folder-2, folder-3... when another card
// already used it (cards with the same label, e.g. "NO NAME", on one day).
func (s *Service) claimFolder(folder string) string { return s.claimFolderIn(s.offload, folder) }

// claimFolderIn is claimFolder on volume v.
func (s *Service) claimFolderIn(v Volume, folder string) string {
	return s.claimIn(v, folder, true)
}

// claimIn is claimFolderIn; with look false the volume is not looked
// into (its mount does not answer: listing a folder would block), only
// the folders this process handed out are avoided, and the caller must
// claim again before the volume is written (recheckFolder).
func (s *Service) claimIn(v Volume, folder string, look bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.claimed == nil {
		s.claimed = map[string]bool{}
	}
	cand := folder
	for n := 2; ; n++ {
		k := v.Name + "\x00" + cand
		if !s.claimed[k] && (!look || !exists(filepath.Join(v.Path, filepath.FromSlash(cand)))) {
			s.claimed[k] = true
			return cand
		}
		cand = fmt.Sprintf("%s-%d", folder, n)
	}
}

// stillMounted reports whether mount m is still in the mount table (a
// cancelled offload then means the daemon is stopping, not a pulled card).
func stillMounted(mountinfo string, m cards.Mount) bool {
	ms, err := cards.ParseMountinfo(mountinfo)
	if err != nil {
		return false
	}
	for _, n := range ms {
		if n.MountPoint == m.MountPoint && n.ID == m.ID {
			return true
		}
	}
	return false
}

func exists(p string) bool {
	ents, err := os.ReadDir(p)
	return err == nil && len(ents) > 0
}

type limitedReader struct {
	f   *os.File
	lim *rate.Limiter
	ctx context.Context
}

func (r *limitedReader) Read(b []byte) (int, error) {
	if len(b) > r.lim.Burst() {
		b = b[:r.lim.Burst()]
	}
	n, err := r.f.Read(b)
	if n > 0 {
		if werr := r.lim.WaitN(r.ctx, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}

func (r *limitedReader) Close() error { return r.f.Close() }
