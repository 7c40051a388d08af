// Package sequences groups numbered frame files (name.%04d.ext: DPX, EXR,
// TIFF, PNG, JPEG) into sequence records, and cuts one H.264 proxy and one
// poster per sequence once it has settled.
//
// It reads the event log with its own cursor ("sequences"): a location
// event on a frame-like name marks that folder for a rescan; the rescan
// lists the folder and keeps only the frames the catalog holds as present
// (settled and hashed by ingest), so a frame still being written by a
// render is never part of a record or a proxy. It owns the state keys
// "sequences/<id>" (the records), "seqfolder/<folder key>" (the ids of a
// folder) and "seqscan/<folder key>" (folders to rescan, so a crash loses
// none), the files under state_dir/sequences/<id>/, and the events
// sequence.updated, sequence.removed, sequence.proxy_ready and
// sequence.proxy_failed.
//
// It must not touch assets, locations or per-asset outputs: every frame
// stays an ordinary asset that ingest catalogs and transcode proxies. It
// only reads the volumes (a folder listing, one frame's header and
// ffprobe, and the frames FFmpeg decodes through a concat list it writes
// into its own state directory) and never writes to them.
package sequences

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/zeebo/blake3"

	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
	"github.com/ingestd/ingestd/transcode"
)

// Events appended by the stage; Path is the sequence id, Volume its volume.
const (
	EvSequenceUpdated     = "sequence.updated"      // record created or its frames changed; Detail: pattern and range
	EvSequenceRemoved     = "sequence.removed"      // fewer than min_frames frames left; record and outputs deleted
	EvSequenceProxyReady  = "sequence.proxy_ready"  // proxy.mp4 and poster.jpg in place; Detail: the proxy JSON
	EvSequenceProxyFailed = "sequence.proxy_failed" // the cut failed; Detail: the proxy JSON with the error
)

// Proxy statuses.
const (
	ProxyPending = "pending" // waiting for the sequence to settle
	ProxyReady   = "ready"
	ProxyFailed  = "failed"
)

// MaxMissingRanges caps the gaps listed in a record (missing_frames counts all).
const MaxMissingRanges = 1000

// Record is a sequence as stored (state "sequences/<id>") and served at
// /v1/sequences/{id}: the wire document itself.
type Record = wire.Sequence

// Proxy is the state of a sequence's proxy and poster.
type Proxy = wire.SequenceProxy

// Volume is a configured volume root.
type Volume struct {
	Name string
	Path string // absolute
}

// Service is the sequence stage. Build with New; Run it.
type Service struct {
	cfg      Config
	proxy    transcode.Config
	ffmpeg   string
	ffprobe  string
	stateDir string
	vols     map[string]string
	cat      *catalog.Catalog
	log      *slog.Logger
	rate     *big.Rat

	mu      sync.Mutex
	dirty   map[string]folderRef // by folder key
	pending map[string]time.Time // sequence id -> changed, proxy not current
	wake    chan struct{}
	cutting string

	frames frameCache // IsFrame's folder listings
}

type folderRef struct {
	Volume string    `json:"volume"`
	Folder string    `json:"folder"`
	At     time.Time `json:"at"`
}

// New builds the stage. proxy is the transcode section (profile of the
// sequence proxy: max height, bitrate, preset, GOP, stall timeout).
func New(cfg Config, proxy transcode.Config, ffmpeg, ffprobe, stateDir string, vols []Volume, cat *catalog.Catalog, log *slog.Logger) (*Service, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	proxy.SetDefaults()
	r, _ := ParseRate(cfg.FPS)
	s := &Service{cfg: cfg, proxy: proxy, ffmpeg: ffmpeg, ffprobe: ffprobe, stateDir: stateDir,
		vols: map[string]string{}, cat: cat, log: log.With("component", "sequences"), rate: r,
		dirty: map[string]folderRef{}, pending: map[string]time.Time{}, wake: make(chan struct{}, 1)}
	for _, v := range vols {
		s.vols[v.Name] = v.Path
	}
	return s, nil
}

// Dir is where a sequence's outputs live: <state_dir>/sequences/<id>.
func Dir(stateDir, id string) string { return filepath.Join(stateDir, "sequences", id) }

// Output names under Dir.
const (
	OutProxy  = "proxy.mp4"
	OutPoster = "poster.jpg"
)

func recordKey(id string) string { return "sequences/" + id }

func folderKey(volume, folder string) string {
	sum := sha256.Sum256([]byte(volume + "\x00" + folder))
	return hex.EncodeToString(sum[:16])
}

// Run consumes the event log, rescans marked folders and cuts proxies of
// settled sequences until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	if err := s.load(); err != nil {
		return err
	}
	s.log.Info("starting", "min_frames", s.cfg.MinFrames, "settle", s.cfg.Settle, "fps", s.cfg.FPS)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.consume(ctx) }()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
		case <-s.wake:
		}
		s.scanDirty(ctx)
		s.cutSettled(ctx)
	}
	wg.Wait()
	return nil
}

// load restores the folders to rescan and the sequences whose proxy is
// not current.
func (s *Service) load() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.cat.ListState("seqscan/", func(key string, raw []byte) error {
		var f folderRef
		if json.Unmarshal(raw, &f) == nil {
			s.dirty[strings.TrimPrefix(key, "seqscan/")] = f
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sequences: load rescans: %w", err)
	}
	err = s.cat.ListState("sequences/", func(key string, raw []byte) error {
		var r Record
		if json.Unmarshal(raw, &r) == nil && !proxyCurrent(&r) {
			s.pending[r.ID] = r.Changed
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sequences: load records: %w", err)
	}
	return nil
}

// proxyCurrent reports whether r's proxy was cut (or failed) from its
// current frames: a failed cut is not retried until the frames change.
func proxyCurrent(r *Record) bool {
	return r.Proxy != nil && r.Proxy.Status != ProxyPending && r.Proxy.Signature == r.Signature
}

// consume marks the folders of frame-like paths for a rescan.
func (s *Service) consume(ctx context.Context) {
	for ctx.Err() == nil {
		err := s.cat.Consume(ctx, "sequences", 500, func(evs []storage.Event) error {
			marked := map[string]folderRef{}
			for _, ev := range evs {
				switch ev.Type {
				case storage.EvLocationAdded, storage.EvLocationChanged, storage.EvLocationRemoved:
				default:
					continue
				}
				if _, ok := s.vols[ev.Volume]; !ok || !utf8.ValidString(ev.Path) {
					continue
				}
				if _, ok := ParseFrame(path.Base(ev.Path), s.cfg.Extensions); !ok {
					continue
				}
				dir := path.Dir(ev.Path)
				if dir == "." {
					dir = ""
				}
				marked[folderKey(ev.Volume, dir)] = folderRef{Volume: ev.Volume, Folder: dir, At: time.Now().UTC()}
			}
			for k, f := range marked {
				if err := s.cat.PutState("seqscan/"+k, f); err != nil {
					return err
				}
			}
			if len(marked) > 0 {
				s.mu.Lock()
				for k, f := range marked {
					s.dirty[k] = f
				}
				s.mu.Unlock()
				s.poke()
			}
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("consume events", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
}

func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// scanDebounce lets a burst of frames land before a folder is listed.
const scanDebounce = 300 * time.Millisecond

// errOffline: the folder's volume is offline (catalog volume record); its
// sequences are kept as they are and the folder is rescanned later.
var errOffline = errors.New("volume offline")

// offlineRetry is how long a folder of an offline volume waits before
// the next try.
const offlineRetry = 5 * time.Second

func (s *Service) scanDirty(ctx context.Context) {
	now := time.Now()
	s.mu.Lock()
	var todo []string
	for k, f := range s.dirty {
		if now.Sub(f.At) >= scanDebounce {
			todo = append(todo, k)
		}
	}
	s.mu.Unlock()
	for _, k := range todo {
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		f := s.dirty[k]
		s.mu.Unlock()
		if err := s.scanFolder(ctx, f.Volume, f.Folder); errors.Is(err, errOffline) {
			// Nothing is removed while the volume is offline: rescan the
			// folder once it is back.
			s.mu.Lock()
			if cur, ok := s.dirty[k]; ok && cur.At.Equal(f.At) {
				cur.At = time.Now().Add(offlineRetry)
				s.dirty[k] = cur
			}
			s.mu.Unlock()
			continue
		} else if err != nil {
			s.log.Warn("scan folder", "volume", f.Volume, "folder", f.Folder, "err", err)
		}
		s.mu.Lock()
		if cur, ok := s.dirty[k]; ok && cur.At.Equal(f.At) {
			delete(s.dirty, k)
			s.mu.Unlock()
			if err := s.cat.DeleteState("seqscan/" + k); err != nil {
				s.log.Warn("forget rescan", "volume", f.Volume, "folder", f.Folder, "err", err)
			}
			continue
		}
		s.mu.Unlock()
	}
}

// frameRef is a cataloged frame.
type frameRef struct {
	Frame
	AssetID string
	Size    int64
}

// maxListing caps the entries read from one folder.
const maxListing = 1 << 20

// scanFolder lists folder of volume, groups the frames the catalog holds
// as present, and creates, updates or removes the folder's records.
func (s *Service) scanFolder(ctx context.Context, volume, folder string) error {
	root, ok := s.vols[volume]
	if !ok {
		return fmt.Errorf("volume %q not configured", volume)
	}
	dir := filepath.Join(root, filepath.FromSlash(folder))
	if !within(dir, root) {
		return fmt.Errorf("folder %q is not inside volume %q", folder, volume)
	}
	if v, err := s.cat.Volume(volume); err == nil && !v.Online {
		return errOffline
	}
	frames, err := s.listFrames(volume, folder, dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	groups := Group(framesOf(frames), s.cfg.MinFrames)
	byName := map[string]frameRef{}
	for _, f := range frames {
		byName[f.Name] = f
	}
	fk := folderKey(volume, folder)
	var before []string
	if err := s.cat.GetState("seqfolder/"+fk, &before); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	var ids []string
	for k, fs := range groups {
		id := ID(volume, folder, k)
		ids = append(ids, id)
		refs := make([]frameRef, len(fs))
		for i, f := range fs {
			refs[i] = byName[f.Name]
		}
		if err := s.update(ctx, volume, folder, k, id, refs); err != nil {
			s.log.Warn("update sequence", "sequence", id, "volume", volume, "folder", folder, "err", err)
		}
	}
	for _, id := range before {
		if !contains(ids, id) {
			s.remove(volume, id)
		}
	}
	if len(ids) == 0 {
		return s.cat.DeleteState("seqfolder/" + fk)
	}
	if !sameSet(before, ids) {
		return s.cat.PutState("seqfolder/"+fk, ids)
	}
	return nil
}

// listFrames returns the regular files of dir whose names parse as frames
// and that the catalog holds as present at volume/folder/name.
func (s *Service) listFrames(volume, folder, dir string) ([]frameRef, error) {
	// A folder (or a parent) swapped for a symlink since ingest walked it
	// must not lead outside the volume.
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	if rr, err := filepath.EvalSymlinks(s.vols[volume]); err != nil || !within(real, rr) {
		return nil, fmt.Errorf("folder %q of volume %q resolves outside the volume", folder, volume)
	}
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	ents, err := d.ReadDir(maxListing)
	if err != nil && len(ents) == 0 {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var out []frameRef
	for _, e := range ents {
		if !e.Type().IsRegular() || !utf8.ValidString(e.Name()) {
			continue
		}
		f, ok := ParseFrame(e.Name(), s.cfg.Extensions)
		if !ok {
			continue
		}
		rel := path.Join(folder, e.Name())
		loc, err := s.cat.Location(volume, rel)
		if err != nil || loc.State != storage.LocPresent {
			continue
		}
		out = append(out, frameRef{Frame: f, AssetID: loc.AssetID, Size: loc.Size})
	}
	return out, nil
}

func framesOf(rs []frameRef) []Frame {
	out := make([]Frame, len(rs))
	for i, r := range rs {
		out[i] = r.Frame
	}
	return out
}

func signature(refs []frameRef) string {
	h := blake3.New()
	for _, r := range refs {
		fmt.Fprintf(h, "%d %s\n", r.Number, r.AssetID)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// update writes the record of sequence id when its frames changed.
func (s *Service) update(ctx context.Context, volume, folder string, k Key, id string, refs []frameRef) error {
	sig := signature(refs)
	var old Record
	err := s.cat.GetState(recordKey(id), &old)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	if err == nil && old.Signature == sig {
		return nil
	}
	r := Record{ID: id, Volume: volume, Folder: folder, Pattern: k.Pattern(), Base: k.Base, Ext: k.Ext, Padding: k.Width,
		First: refs[0].Number, Last: refs[len(refs)-1].Number, Count: len(refs),
		FirstPath: path.Join(folder, refs[0].Name), FirstAssetID: refs[0].AssetID,
		Signature: sig, Changed: time.Now().UTC(), Proxy: old.Proxy}
	r.Missing, r.MissingFrames = Missing(framesOf(refs), MaxMissingRanges)
	if r.Missing == nil {
		r.Missing = []Range{}
	}
	for _, f := range refs {
		r.Bytes += f.Size
	}
	if r.Proxy == nil || r.Proxy.Status != ProxyReady {
		r.Proxy = &Proxy{Status: ProxyPending}
	}
	s.describe(ctx, &r, filepath.Join(s.vols[volume], filepath.FromSlash(r.FirstPath)))
	if err := s.cat.PutState(recordKey(id), r); err != nil {
		return err
	}
	detail := fmt.Sprintf("%s %d-%d: %d frames, %d missing", r.Pattern, r.First, r.Last, r.Count, r.MissingFrames)
	if _, err := s.cat.AppendEvent(storage.Event{Type: EvSequenceUpdated, Volume: volume, Path: id, Detail: detail}); err != nil {
		return err
	}
	s.mu.Lock()
	s.pending[id] = r.Changed
	s.mu.Unlock()
	return nil
}

// describe fills the picture and timing fields from the first frame:
// ffprobe (through transcode.Probe's whitelists) for format, size and
// colour, and the DPX or EXR header for frame rate and timecode.
func (s *Service) describe(ctx context.Context, r *Record, first string) {
	r.FrameRate, r.FrameRateSource = ratString(s.rate), "config"
	m, _, err := transcode.Probe(ctx, s.ffprobe, first)
	if err != nil {
		r.ProbeErr = transcode.ScrubPaths(err.Error(), map[string]string{s.vols[r.Volume]: r.Volume})
		return
	}
	if d, ok := demuxerOf(m.Container, first); ok {
		r.Format = d
	} else {
		r.ProbeErr = fmt.Sprintf("container format %q is not accepted", m.Container)
	}
	for _, st := range m.Streams {
		if st.Type != "video" {
			continue
		}
		r.Codec, r.Width, r.Height, r.PixFmt, r.BitDepth = st.Codec, st.Width, st.Height, st.PixFmt, st.BitDepth
		r.ColorSpace, r.ColorTransfer, r.ColorPrimaries = st.ColorMatrix, st.ColorTransfer, st.ColorPrimaries
		break
	}
	hdrFmt := ""
	switch r.Format {
	case "dpx_pipe":
		hdrFmt = "dpx"
	case "exr_pipe":
		hdrFmt = "exr"
	}
	h, err := ReadHeader(first, hdrFmt)
	if err != nil {
		s.log.Warn("frame header", "sequence", r.ID, "path", r.FirstPath, "err", err)
	}
	if h.Rate != nil {
		r.FrameRate, r.FrameRateSource = ratString(h.Rate), "header"
	}
	r.Timecode = h.Timecode
}

// demuxerOf maps a probed container to the demuxer every frame is opened
// with (transcode's accepted formats; image2 for JPEG).
func demuxerOf(container, path string) (string, bool) {
	args, err := transcode.InputArgs(container, path)
	if err != nil {
		return "", false
	}
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-f" {
			return args[i+1], true
		}
	}
	return "", false
}

func ratString(r *big.Rat) string { return r.Num().String() + "/" + r.Denom().String() }

// remove deletes a sequence that fell below min_frames: record, outputs
// and an event.
func (s *Service) remove(volume, id string) {
	if err := s.cat.DeleteState(recordKey(id)); err != nil {
		s.log.Warn("remove sequence", "sequence", id, "err", err)
		return
	}
	if err := os.RemoveAll(Dir(s.stateDir, id)); err != nil {
		s.log.Warn("remove sequence outputs", "sequence", id, "err", err)
	}
	s.mu.Lock()
	delete(s.pending, id)
	s.mu.Unlock()
	if _, err := s.cat.AppendEvent(storage.Event{Type: EvSequenceRemoved, Volume: volume, Path: id, Detail: "fewer frames than sequences.min_frames"}); err != nil {
		s.log.Warn("sequence event", "sequence", id, "err", err)
	}
}

// cutSettled cuts the proxy of each sequence unchanged for settle.
func (s *Service) cutSettled(ctx context.Context) {
	now := time.Now()
	s.mu.Lock()
	var todo []string
	for id, ch := range s.pending {
		if now.Sub(ch) >= s.cfg.Settle {
			todo = append(todo, id)
		}
	}
	s.mu.Unlock()
	for _, id := range todo {
		if ctx.Err() != nil {
			return
		}
		s.cutOne(ctx, id)
	}
}

func (s *Service) cutOne(ctx context.Context, id string) {
	var r Record
	if err := s.cat.GetState(recordKey(id), &r); err != nil {
		s.mu.Lock()
		delete(s.pending, id)
		s.mu.Unlock()
		return
	}
	if proxyCurrent(&r) {
		s.mu.Lock()
		delete(s.pending, id)
		s.mu.Unlock()
		return
	}
	root := s.vols[r.Volume]
	refs, err := s.listFrames(r.Volume, r.Folder, filepath.Join(root, filepath.FromSlash(r.Folder)))
	var files []string
	if err == nil {
		fs := Group(framesOf(refs), 1)[Key{r.Base, r.Ext, r.Padding}]
		byName := map[string]frameRef{}
		for _, f := range refs {
			byName[f.Name] = f
		}
		var cur []frameRef
		for _, f := range fs {
			cur = append(cur, byName[f.Name])
			files = append(files, filepath.Join(root, filepath.FromSlash(r.Folder), f.Name))
		}
		if signature(cur) != r.Signature {
			// Frames changed since the record: the rescan updates it and
			// the settle period starts again.
			s.mu.Lock()
			s.dirty[folderKey(r.Volume, r.Folder)] = folderRef{Volume: r.Volume, Folder: r.Folder, At: time.Now().UTC()}
			delete(s.pending, id)
			s.mu.Unlock()
			return
		}
	}
	s.mu.Lock()
	s.cutting = id
	s.mu.Unlock()
	p := &Proxy{Status: ProxyReady, Signature: r.Signature, At: time.Now().UTC()}
	if err == nil {
		var res CutResult
		res, err = Cut(ctx, s.job(r, files))
		p.Frames, p.Width, p.Height, p.Bytes, p.Outputs = res.Frames, res.Width, res.Height, res.Bytes, []string{OutProxy, OutPoster}
	}
	s.mu.Lock()
	s.cutting = ""
	s.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		s.log.Warn("sequence proxy", "sequence", id, "pattern", r.Pattern, "err", err)
		p = &Proxy{Status: ProxyFailed, Signature: r.Signature, At: p.At,
			Error: transcode.ScrubPaths(err.Error(), map[string]string{root: r.Volume, s.stateDir: "state_dir"})}
	}
	var cur Record
	if err := s.cat.GetState(recordKey(id), &cur); err != nil || cur.Signature != r.Signature {
		return // changed or removed meanwhile: cut again after it settles
	}
	cur.Proxy = p
	if err := s.cat.PutState(recordKey(id), cur); err != nil {
		s.log.Warn("sequence proxy record", "sequence", id, "err", err)
		return
	}
	s.mu.Lock()
	if s.pending[id].Equal(r.Changed) {
		delete(s.pending, id)
	}
	s.mu.Unlock()
	ev := EvSequenceProxyReady
	if p.Status == ProxyFailed {
		ev = EvSequenceProxyFailed
	}
	detail, _ := json.Marshal(p)
	if _, err := s.cat.AppendEvent(storage.Event{Type: ev, Volume: r.Volume, Path: id, Detail: string(detail)}); err != nil {
		s.log.Warn("sequence event", "sequence", id, "err", err)
	}
}

// job is the cut of record r from files (in frame order).
func (s *Service) job(r Record, files []string) Job {
	rate, err := ParseRate(r.FrameRate)
	if err != nil {
		rate = s.rate
	}
	return Job{FFmpeg: s.ffmpeg, FFprobe: s.ffprobe, Files: files, Format: r.Format, Linear: r.Format == "exr_pipe",
		Rate: rate, Timecode: r.Timecode, Dir: Dir(s.stateDir, r.ID), Profile: s.proxy, Log: s.log}
}

// Status is the `sequences` section of /v1/status.
type Status struct {
	Pending int    `json:"pending"`           // sequences waiting to settle or be cut
	Rescans int    `json:"rescans"`           // folders marked for a rescan
	Cutting string `json:"cutting,omitempty"` // id of the sequence being cut
}

// Status reports the stage's queue.
func (s *Service) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Status{Pending: len(s.pending), Rescans: len(s.dirty), Cutting: s.cutting}
}

func within(p, root string) bool {
	root = filepath.Clean(root)
	p = filepath.Clean(p)
	return p == root || strings.HasPrefix(p, root+string(filepath.Separator))
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !contains(b, x) {
			return false
		}
	}
	return true
}
