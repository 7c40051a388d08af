package cardsvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/daemon/cards/ascmhl"
	"github.com/ingestd/ingestd/storage"
)

// destVol is one configured destination: a volume and its folder template.
type destVol struct {
	Volume
	tmpl    string
	formats []ascmhl.Format // its ASC MHL hash formats (hashes:, else cards.hashes)
}

func formatNames(fs []ascmhl.Format) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, string(f))
	}
	return out
}

// destFormats are the hash formats of record destination i: those of the
// configured destination at the same place on the same volume, else of
// the first on that volume, else cards.hashes.
func (s *Service) destFormats(rec *Record, i int) []ascmhl.Format {
	if i < len(s.dests) && i < len(rec.Destinations) && s.dests[i].Name == rec.Destinations[i].Volume {
		return s.dests[i].formats
	}
	for _, d := range s.dests {
		if i < len(rec.Destinations) && d.Name == rec.Destinations[i].Volume {
			return d.formats
		}
	}
	return s.cfg.Formats()
}

// DestState is one destination of a card (record and status).
type DestState = wire.DestState

// rateMeter smooths a byte counter into bytes/s.
type rateMeter struct {
	last  int64
	lastT time.Time
	rate  float64
}

func (m *rateMeter) add(n int64, now time.Time) float64 {
	if !m.lastT.IsZero() {
		if dt := now.Sub(m.lastT).Seconds(); dt > 0.05 {
			r := float64(n-m.last) / dt
			if m.rate == 0 {
				m.rate = r
			} else {
				m.rate = 0.6*m.rate + 0.4*r
			}
			m.last, m.lastT = n, now
		}
		return m.rate
	}
	m.last, m.lastT = n, now
	return 0
}

func allVerified(rec *Record) bool {
	for _, d := range rec.Destinations {
		if d.State != cards.DestVerified {
			return false
		}
	}
	return len(rec.Destinations) > 0
}

// copiesGone marks each verified destination of rec whose copy is no
// longer there (goneCopy) pending again, with the reason in Error, and
// reports whether any was.
func (s *Service) copiesGone(rec *Record, log *slog.Logger) bool {
	gone := false
	for i := range rec.Destinations {
		d := &rec.Destinations[i]
		if root, ok := s.vols[d.Volume]; ok && d.State == cards.DestVerified {
			// A hung mount is not looked into (the lstat would block the
			// card): its copy cannot be vouched for now.
			if why := s.destOffline(d.Volume, root); hung(why) {
				log.Warn("verified copy of the card cannot be checked: copying it again", "volume", d.Volume, "path", d.Path, "reason", why)
				d.State, d.Error = cards.DestPending, "verified copy cannot be checked ("+why+"): copying again"
				gone = true
				continue
			}
		}
		probe, ok := goneCopy(s.vols, *d)
		if !ok {
			continue
		}
		log.Warn("verified copy of the card is gone: copying it again", "volume", d.Volume, "path", d.Path, "missing", probe)
		d.State, d.Error = cards.DestPending, "verified copy gone (missing "+probe+"): copying again"
		gone = true
	}
	return gone
}

// goneCopy reports whether destination d is verified but its copy is no
// longer where it was written (its folder, or the ASC MHL generation it
// recorded, is missing: moved, deleted, or its volume not mounted), and
// the path looked for. vols maps volume names to their roots; a volume no
// longer configured is not looked at.
func goneCopy(vols map[string]string, d DestState) (string, bool) {
	probe, ok := copyProbe(vols, d)
	if !ok {
		return "", false
	}
	_, err := os.Lstat(probe)
	return probe, err != nil
}

// copyProbe is the path whose absence says destination d's verified copy
// is gone (see goneCopy); false when d is not verified or its volume is no
// longer configured.
func copyProbe(vols map[string]string, d DestState) (string, bool) {
	root, ok := vols[d.Volume]
	if d.State != cards.DestVerified || !ok {
		return "", false
	}
	probe := filepath.Join(root, filepath.FromSlash(d.Path), ascmhl.FolderName)
	if d.Generation != "" {
		probe = filepath.Join(probe, d.Generation)
	}
	return probe, true
}

func firstVerified(rec *Record) int {
	for i, d := range rec.Destinations {
		if d.State == cards.DestVerified {
			return i
		}
	}
	return -1
}

// claim marks a card key busy (one card pass or cascade at a time).
func (s *Service) claim(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy[key] {
		return false
	}
	s.busy[key] = true
	return true
}

func (s *Service) unclaim(key string) {
	s.mu.Lock()
	delete(s.busy, key)
	s.mu.Unlock()
}

func (s *Service) destDir(d DestState) (string, string, bool) {
	root, ok := s.vols[d.Volume]
	if !ok {
		return "", "", false
	}
	return root, filepath.Join(root, filepath.FromSlash(d.Path)), true
}

// migrate gives a record written before destinations existed its one.
func migrate(rec *Record) {
	if len(rec.Destinations) > 0 || rec.Volume == "" {
		return
	}
	st := cards.DestPending
	switch rec.Status {
	case StateOffloaded:
		st = cards.DestVerified
	case StateFailed:
		st = cards.DestFailed
	}
	rec.Destinations = []DestState{{Volume: rec.Volume, Path: rec.Folder, State: st, Generation: rec.Generation, Error: rec.Reason}}
	rec.SafeToFormat = rec.Status == StateOffloaded
}

// offloadCard reads the identified card at m into the destinations that
// need it; a verified copy then fills the others (cascade).
func (s *Service) offloadCard(ctx context.Context, m cards.Mount, id cards.Identity, log *slog.Logger) {
	mp := m.MountPoint
	key, label := id.Key(), id.DisplayLabel()
	if !s.claim(key) {
		s.update(mp, func(c *CardStatus) {
			c.State, c.Message = StateCascading, "destinations being filled from the verified copy: NOT safe to format yet"
		})
		return
	}
	// Handed over to a cascade (which claims the key itself) or released.
	claimed := true
	release := func() {
		if claimed {
			claimed = false
			s.unclaim(key)
		}
	}
	defer release()
	// Each destination volume is checked once per insertion (a hung mount
	// costs DestCheckTimeout once, not at every step).
	checked := map[string]string{}
	offline := func(vol, root string) string {
		why, ok := checked[vol]
		if !ok {
			why = s.destOffline(vol, root)
			checked[vol] = why
		}
		return why
	}
	rec, err := s.cat.Card(key)
	switch {
	case err == nil:
		migrate(&rec)
		if s.copiesGone(&rec, log) {
			// Never "already offloaded" on the record's word alone: the
			// card is read again to the destinations that lost theirs.
			rec.SafeToFormat, rec.Status = false, StateCopying
		}
		if rec.SafeToFormat && allVerified(&rec) {
			log.Info("card already offloaded", "label", label, "key", key, "dest", rec.Volume+"/"+rec.Folder)
			s.update(mp, func(c *CardStatus) {
				c.State, c.Message, c.Dest = StateOffloaded, "already offloaded: safe to eject, SAFE TO FORMAT", rec.Volume+"/"+rec.Folder
				c.FilesDone, c.FilesTotal, c.BytesDone, c.BytesTotal = rec.Files, rec.Files, rec.Bytes, rec.Bytes
				c.Skipped = capSkipped(rec.Skipped)
				c.Manifests, c.Message = rec.Manifests, c.Message+manifestNote(rec.Manifests)
				c.Destinations, c.SafeToFormat = append([]DestState(nil), rec.Destinations...), true
			})
			s.eject(mp)
			return
		}
		log.Info("resuming card offload", "label", label, "primary", rec.Volume+"/"+rec.Folder, "last_failure", rec.Reason)
	case errors.Is(err, storage.ErrNotFound):
		rec = Record{Key: key, Identity: wire.CardIdentity(id), Label: label, Layout: id.Layout}
		now := time.Now()
		for _, d := range s.dests {
			folder, derr := cards.DestPath(d.tmpl, id, now)
			if derr != nil {
				log.Error("destination", "volume", d.Name, "err", derr)
				return
			}
			if hung(offline(d.Name, d.Path)) {
				// Its folders cannot be listed now: claimed without
				// looking, and again before the volume is written.
				if err := s.cat.PutState(uncheckedKey(key, d.Name), folder); err != nil {
					log.Error("destination", "volume", d.Name, "err", err)
					return
				}
				rec.Destinations = append(rec.Destinations, DestState{Volume: d.Name, Path: s.claimIn(d.Volume, folder, false), State: cards.DestPending})
				continue
			}
			rec.Destinations = append(rec.Destinations, DestState{Volume: d.Name, Path: s.claimFolderIn(d.Volume, folder), State: cards.DestPending})
		}
		rec.Volume, rec.Folder = rec.Destinations[0].Volume, rec.Destinations[0].Path
	default:
		log.Error("read card record", "err", err)
		s.update(mp, func(c *CardStatus) { c.State, c.Reason = StateFailed, err.Error() })
		return
	}
	// Which destinations the card is read to: those not verified; with
	// cascade only one of them (the first that can be written; the next
	// when it fails on its own), unless a verified copy exists.
	var pass []int
	fv := firstVerified(&rec)
	for i, d := range rec.Destinations {
		if d.State == cards.DestVerified {
			continue
		}
		if s.cfg.Cascade && fv >= 0 {
			continue
		}
		pass = append(pass, i)
	}
	if len(pass) == 0 {
		// A verified copy exists: the rest is filled from it.
		s.update(mp, func(c *CardStatus) {
			c.State, c.Message = StatePartial, "card read complete: filling the other destinations from the verified copy; NOT safe to format yet"
			c.Destinations = append([]DestState(nil), rec.Destinations...)
		})
		release()
		s.startCascade(key)
		return
	}
	// Free space (space.go): a destination below disk.min_free is left
	// out of the pass, pending, and filled from the verified copy once it
	// has room, so that it does not hold the others; the pass waits only
	// while every one is low, or the state dir is.
	lowVols := map[string]bool{}
	{
		var vols []string
		for _, i := range pass {
			if v := rec.Destinations[i].Volume; !slices.Contains(vols, v) {
				vols = append(vols, v)
			}
		}
		waited := false
		low, err := s.waitSpace(ctx, vols, func(low []string) bool {
			return !slices.Contains(low, SpaceStateDir) && len(low) < len(vols)
		}, func(low []string) {
			waited = true
			s.update(mp, func(c *CardStatus) { c.Message = lowMessage(low) + ": nothing copied yet, NOT safe to eject" })
		})
		if err != nil {
			return // card pulled or daemon stopping: nothing was written
		}
		if waited {
			s.update(mp, func(c *CardStatus) { c.Message = "" })
		}
		for _, v := range low {
			lowVols[v] = true
		}
	}

	// used are the destinations of the pass (rec.Destinations indices, in
	// the order of dsts and of the progress and results).
	var used []int
	meters := make([]destMeter, len(rec.Destinations))
	opts := cards.Options{
		MHLFormats: s.cfg.Formats(),
		Logger:     s.log,
		Creator:    ascmhl.Creator{ToolVersion: s.version},
		Progress: func(p cards.Progress) {
			now := time.Now()
			s.update(mp, func(c *CardStatus) {
				c.FilesDone, c.FilesTotal, c.BytesDone, c.BytesTotal, c.File = p.FilesDone, p.FilesTotal, p.BytesDone, p.BytesTotal, p.File
				if p.FilesDone == p.FilesTotal {
					c.State = StateVerifying // re-reads and the ASC MHL generations
					c.Message = "verifying the copies, writing the ASC MHL: NOT safe to eject"
				}
				for j, dp := range p.Dests {
					if j < len(used) && used[j] < len(c.Destinations) {
						i := used[j]
						progressInto(&c.Destinations[i], dp, &meters[i], now)
					}
				}
			})
		},
	}
	if s.cfg.ReadMBps > 0 {
		lim := rate.NewLimiter(rate.Limit(s.cfg.ReadMBps<<20), 1<<20)
		opts.SourceReader = func(_ string, f *os.File) io.ReadCloser {
			return &limitedReader{f: f, lim: lim, ctx: ctx}
		}
	}
	var dsts []cards.Destination
	var res cards.Result
	var oerr error
	next := 0 // pass[next:] not tried yet
	for {
		// Remember the folders before copying: after a crash (or past
		// midnight with {date}) the card resumes into the same places.
		dsts, used = nil, nil
		for next < len(pass) {
			i := pass[next]
			next++
			rec.Destinations[i].State, rec.Destinations[i].Error, rec.Destinations[i].FailedPath = cards.DestCopying, "", ""
			root, ok := s.vols[rec.Destinations[i].Volume]
			if !ok {
				rec.Destinations[i].State, rec.Destinations[i].Error = cards.DestFailed, "volume "+rec.Destinations[i].Volume+" not configured"
				continue
			}
			if why := offline(rec.Destinations[i].Volume, root); why != "" {
				rec.Destinations[i].State, rec.Destinations[i].Error = cards.DestFailed, why
				log.Warn("destination not written", "volume", rec.Destinations[i].Volume, "reason", why)
				continue
			}
			if lowVols[rec.Destinations[i].Volume] {
				rec.Destinations[i].State, rec.Destinations[i].Error = cards.DestPending, lowMessage([]string{rec.Destinations[i].Volume})+
					" (filled from the verified copy once it has room)"
				log.Warn("destination not written: below disk.min_free; filled from the verified copy once it has room", "volume", rec.Destinations[i].Volume)
				continue
			}
			if err := s.recheckFolder(&rec, i); err != nil {
				rec.Destinations[i].State, rec.Destinations[i].Error = cards.DestFailed, err.Error()
				log.Warn("destination not written", "volume", rec.Destinations[i].Volume, "err", err)
				continue
			}
			root, dir, ok := s.destDir(rec.Destinations[i]) // its folder may have been claimed again
			if !ok {
				rec.Destinations[i].State = cards.DestPending
				continue
			}
			fs := s.destFormats(&rec, i)
			rec.Destinations[i].Hashes = formatNames(fs)
			dsts = append(dsts, cards.Destination{Name: rec.Destinations[i].Volume, Dir: dir, Root: root, Formats: fs})
			used = append(used, i)
			if s.cfg.Cascade {
				break // one read from the card; the others are filled from it
			}
		}
		if rec.Status == "" || rec.Status == StateFailed {
			rec.Status = StateCopying
		}
		rec.SafeToFormat = false
		if err := s.cat.PutCard(rec); err != nil {
			log.Error("store card record", "err", err)
		}
		s.update(mp, func(c *CardStatus) {
			c.State, c.Dest = StateCopying, rec.Volume+"/"+rec.Folder
			c.Message = fmt.Sprintf("copying to %d destination(s): NOT safe to eject", len(dsts))
			c.Destinations, c.SafeToFormat = append([]DestState(nil), rec.Destinations...), false
		})
		res, oerr = cards.Result{}, nil
		if len(dsts) > 0 {
			res, oerr = cards.OffloadMulti(ctx, mp, dsts, opts)
		} else {
			oerr = errors.New("no destination can be written") // the card is not read
		}
		if len(dsts) > 0 {
			rec.Started, rec.Finished = res.Started, res.Finished
			rec.Skipped = capSkipped(res.Skipped)
			rec.Manifests = capManifests(res.Manifests) // manifests.go
			rec.Files, rec.Bytes, rec.Layout = max(len(res.Files), res.FilesTotal), res.Bytes, res.Layout
		}
		for j, i := range used {
			if j >= len(res.Dests) {
				break
			}
			dr := res.Dests[j]
			d := &rec.Destinations[i]
			d.State, d.Generation, d.FailedPath, d.Error = dr.State, dr.Generation, dr.FailedPath, dr.Reason
			d.BytesTotal, d.RateBps, d.ETASeconds = res.Bytes, 0, 0
			d.BytesDone, d.BytesVerified = dr.BytesWritten, dr.BytesVerified
			if dr.State == cards.DestVerified {
				d.BytesDone, d.BytesVerified = res.Bytes, res.Bytes
			}
		}
		// Cascade: a destination that failed on its own (full, tampered
		// with, not answering) hands the card to the next.
		if s.cfg.Cascade && len(dsts) > 0 && firstVerified(&rec) < 0 && oerr != nil && !res.CardFailed && ctx.Err() == nil && next < len(pass) {
			log.Warn("cascade: destination failed, reading the card into the next", "volume", rec.Destinations[used[0]].Volume, "err", oerr)
			continue
		}
		break
	}
	fv = firstVerified(&rec)
	if fv < 0 && errors.Is(oerr, cards.ErrReadSource) && !s.stopping() &&
		goneSoon(func() bool { return stillMounted(s.cfg.Mountinfo, m) }, CardGoneWait, 100*time.Millisecond) {
		// A card pulled from its reader fails a read (EIO) a moment before
		// its mount goes away: it was removed, not unreadable.
		oerr = fmt.Errorf("%w: %w", cards.ErrSourceGone, oerr)
	}
	if fv < 0 {
		reason := res.Reason
		switch {
		case errors.Is(oerr, context.Canceled) && stillMounted(s.cfg.Mountinfo, m):
			reason = "interrupted: daemon stopping (resumes when it starts again)"
		case errors.Is(oerr, cards.ErrSourceGone) || errors.Is(oerr, context.Canceled) || !exists(mp):
			reason = sourceGoneReason(reason)
		case len(dsts) == 0:
			reason = "no destination can be written:"
			for _, d := range rec.Destinations {
				reason += " " + d.Volume + ": " + d.Error + ";"
			}
			reason = strings.TrimSuffix(reason, ";") + " (re-insert the card once a destination is back)"
		}
		rec.Status, rec.FailedPath, rec.Reason = StateFailed, res.FailedPath, reason
		log.Warn("card offload failed: NOT safe to format", "label", label, "file", res.FailedPath, "reason", reason)
		filesDone := len(res.Files)
		for _, dr := range res.Dests {
			filesDone = max(filesDone, dr.FilesVerified)
		}
		if errors.Is(oerr, context.Canceled) || errors.Is(oerr, cards.ErrSourceGone) {
			// The card's failure, not theirs: each says why.
			for _, i := range used {
				if d := &rec.Destinations[i]; d.State == cards.DestFailed {
					d.Error = reason
				}
			}
		}
		if err := s.cat.PutCard(rec); err != nil {
			log.Error("store card record", "err", err)
		}
		fields := map[string]any{"label": label, "layout": res.Layout, "file": res.FailedPath, "reason": reason,
			"files_done": filesDone, "files": rec.Files, "bytes": rec.Bytes, "partial": true, "destinations": rec.Destinations}
		if len(res.Skipped) > 0 {
			fields["skipped"] = capSkipped(res.Skipped)
		}
		detail, _ := json.Marshal(fields)
		if _, err := s.cat.AppendEvent(storage.Event{Type: storage.EvCardFailed, Volume: rec.Volume, Path: rec.Folder, Detail: string(detail)}); err != nil {
			log.Error("record card.failed", "err", err)
		}
		s.update(mp, func(c *CardStatus) {
			c.State, c.FailedPath, c.Reason, c.Message = StateFailed, res.FailedPath, reason, "offload failed: NOT safe to eject, NOT SAFE TO FORMAT; re-insert resumes"
			c.Skipped = capSkipped(res.Skipped)
			c.Destinations, c.SafeToFormat = append([]DestState(nil), rec.Destinations...), false
		})
		return
	}
	// A verified copy: the failed ones are filled from it.
	for i := range rec.Destinations {
		if rec.Destinations[i].State == cards.DestFailed {
			rec.Destinations[i].State = cards.DestPending
		}
	}
	firstCopy := rec.Generation == ""
	primary := rec.Destinations[fv]
	rec.Volume, rec.Folder = primary.Volume, primary.Path
	rec.Generation, rec.FailedPath, rec.Reason = primary.Generation, "", ""
	if res.Generation == "" || res.Dst == "" || (len(res.Dests) > 0 && res.Dests[0].State != cards.DestVerified) {
		for _, dr := range res.Dests {
			if dr.State == cards.DestVerified {
				res.Dst, res.Generation = dr.Dst, dr.Generation
				break
			}
		}
	}
	if allVerified(&rec) {
		rec.Status = StateOffloaded
	} else {
		rec.Status = StatePartial
	}
	// The verified copies recorded first, waiting for the catalog if it
	// refuses (its filesystem full): what follows is written after it.
	if !s.storeCard(rec, log) {
		return // daemon stopping: the card resumes at the next start
	}
	origin := cards.Origin(id, res)
	// The content ids (BLAKE3) are not computed by the card pass: the
	// job that fills them in after this (contentids.go) is recorded
	// first, with what it must attach once they are known.
	var job idJob
	if firstCopy || len(rec.Clips) == 0 {
		rec.Clips = nil
		meta, err := s.recordClips(&rec, res, origin)
		if err != nil {
			log.Warn("clips", "err", err)
		}
		job.Origin, job.Meta = &origin, meta
	}
	if err := s.storeFiles(key, res.Files); err != nil { // report.go: per-file hashes for the offload report
		log.Warn("offload report", "err", err)
	}
	if err := s.cat.PutState(idsKey(key), job); err != nil {
		log.Error("record content id job", "err", err)
	}
	if err := s.cat.PutCard(rec); err != nil {
		log.Error("store card record", "err", err)
	}
	fields := map[string]any{"label": label, "layout": res.Layout, "files": len(res.Files), "bytes": res.Bytes,
		"copied": res.Copied, "resumed": res.Resumed, "clips": len(rec.Clips), "generation": rec.Generation, "key": key,
		"destinations": rec.Destinations, "safe_to_format": false}
	if len(res.Skipped) > 0 {
		fields["skipped"] = capSkipped(res.Skipped)
	}
	if len(rec.Manifests) > 0 {
		fields["manifests"] = rec.Manifests
	}
	detail, _ := json.Marshal(fields)
	if _, err := s.cat.AppendEvent(storage.Event{Type: storage.EvCardOffloaded, Volume: rec.Volume, Path: rec.Folder, Detail: string(detail)}); err != nil {
		log.Error("record card.offloaded", "err", err)
	}
	all := allVerified(&rec)
	s.update(mp, func(c *CardStatus) {
		c.FailedPath, c.Reason = "", ""
		if all {
			c.State, c.Message = StateOffloaded, "offloaded: safe to eject; finishing SAFE TO FORMAT checks"
		} else {
			c.State, c.Message = StatePartial, fmt.Sprintf("card read complete, verified at %d of %d destinations: NOT SAFE TO FORMAT until the others are filled from the verified copy",
				countVerified(&rec), len(rec.Destinations))
		}
		if len(res.Skipped) > 0 {
			c.Message += fmt.Sprintf("; %d entries not copied (not regular files, see skipped)", len(res.Skipped))
		}
		c.Skipped = capSkipped(res.Skipped)
		c.Manifests, c.Message = rec.Manifests, c.Message+manifestNote(rec.Manifests)
		c.FilesDone, c.FilesTotal, c.BytesDone, c.BytesTotal, c.File = len(res.Files), len(res.Files), res.Bytes, res.Bytes, ""
		c.Destinations = append([]DestState(nil), rec.Destinations...)
	})
	// Origins for assets the pipeline already cataloged (files are
	// renamed into place one by one, each after its own verification).
	for _, f := range res.Files {
		s.apply(f.BLAKE3)
	}
	if all {
		s.markSafe(&rec, log)
		s.startContentIDs(key) // after card.safe: not on the card's critical path
		return
	}
	release()
	s.startContentIDs(key)
	s.startCascade(key)
}

func countVerified(rec *Record) int {
	n := 0
	for _, d := range rec.Destinations {
		if d.State == cards.DestVerified {
			n++
		}
	}
	return n
}

// destMeter smooths a destination's progress: its write rate and its
// re-read rate.
type destMeter struct{ written, verified rateMeter }

// progressInto copies dp into d with its rate and ETA. A destination whose
// every byte is written and that is re-reading them is "verifying" (it
// showed "copying 100%" with a write rate decaying to nothing and an ETA
// growing to hours while a slow share was re-read); its rate is then the
// re-read rate. The ETA is until written and verified: the two run side
// by side (each file is re-read once written), so it is the later of the
// two ends at their own rates (before anything is re-read, as if re-read
// at the write rate).
func progressInto(d *DestState, dp cards.DestProgress, m *destMeter, now time.Time) {
	d.State, d.BytesDone, d.BytesVerified, d.BytesTotal = dp.State, dp.BytesWritten, dp.BytesVerified, dp.BytesTotal
	wr := m.written.add(dp.BytesWritten, now)
	vr := m.verified.add(dp.BytesVerified, now)
	d.RateBps, d.ETASeconds = wr, 0
	switch {
	case dp.State == cards.DestFailed:
		d.Error, d.FailedPath = dp.Error, dp.FailedPath
		d.RateBps = 0
		return
	case dp.State == cards.DestCopying && dp.BytesTotal > 0 && dp.BytesWritten >= dp.BytesTotal:
		d.State, d.RateBps = cards.DestVerifying, vr
	}
	toWrite, toVerify := float64(max(dp.BytesTotal-dp.BytesWritten, 0)), float64(max(dp.BytesTotal-dp.BytesVerified, 0))
	switch {
	case d.State != cards.DestCopying && d.State != cards.DestVerifying:
	case vr > 1:
		d.ETASeconds = toVerify / vr
		if toWrite > 0 && wr > 1 {
			d.ETASeconds = max(d.ETASeconds, toWrite/wr)
		}
	case wr > 1:
		d.ETASeconds = (toWrite + toVerify) / wr
	}
}

// markSafe records the card safe to format once every destination is
// verified: the record first (synced), then card.safe, then the eject.
func (s *Service) markSafe(rec *Record, log *slog.Logger) {
	now := time.Now().UTC()
	rec.SafeToFormat, rec.SafeAt, rec.Status = true, &now, StateOffloaded
	// PutCard commits and syncs the catalog (every write is synced): the
	// card record, clips and pending origins written before are durable.
	if !s.storeCard(*rec, log) {
		return // daemon stopping: announced at the next start (retryLoop)
	}
	mp := s.mountOf(rec.Key)
	ejected, ejectErr := false, ""
	if s.cfg.EjectWhenSafe && mp != "" {
		ejected, ejectErr = s.tryEject(mp)
	}
	var dsts []map[string]string
	for _, d := range rec.Destinations {
		dsts = append(dsts, map[string]string{"volume": d.Volume, "path": d.Path, "generation": d.Generation})
	}
	fields := map[string]any{"label": rec.Label, "key": rec.Key, "files": rec.Files, "bytes": rec.Bytes, "destinations": dsts, "ejected": ejected}
	if ejectErr != "" {
		fields["eject_error"] = ejectErr
	}
	detail, _ := json.Marshal(fields)
	if _, err := s.cat.AppendEvent(storage.Event{Type: storage.EvCardSafe, Volume: rec.Volume, Path: rec.Folder, Detail: string(detail)}); err != nil {
		log.Error("record card.safe", "err", err)
	}
	log.Info("card safe to format", "label", rec.Label, "key", rec.Key, "destinations", len(rec.Destinations))
	s.supersede(rec, log)
	s.writeReport(rec.Key, true) // report.go: report files next to ascmhl/, card.report_ready
	verified := fmt.Sprintf("%d destinations verified", len(rec.Destinations))
	if len(rec.Destinations) == 1 {
		verified = "1 destination verified"
	}
	msg := "offloaded: safe to eject, SAFE TO FORMAT (" + verified + ")"
	if ejected {
		msg += "; ejected"
	}
	if ejectErr != "" {
		msg += "; " + ejectErr
	}
	if len(rec.Skipped) > 0 {
		msg += fmt.Sprintf("; %d entries not copied (not regular files, see skipped)", len(rec.Skipped))
	}
	msg += manifestNote(rec.Manifests)
	s.updateKey(rec.Key, func(c *CardStatus) {
		c.State, c.Message, c.SafeToFormat = StateOffloaded, msg, true
		c.Destinations = append([]DestState(nil), rec.Destinations...)
	})
}

// StoreRetry is how often a card record the catalog refused (its
// filesystem full) is offered again (storeCard).
const StoreRetry = 5 * time.Second

// storeCard stores rec; while the catalog refuses it (the state dir's
// filesystem below what the store needs) it is offered again every
// StoreRetry until it is taken, or the daemon stops (false). Meanwhile the
// card says it is verified but NOT safe to format yet, and why: a card is
// announced safe only once that is durable, and a verified pass is never
// left unrecorded (a trial saw one stay "finishing" for good after the
// state dir filled, until the card was read again whole).
func (s *Service) storeCard(rec Record, log *slog.Logger) bool {
	every := s.storeEvery
	if every <= 0 {
		every = StoreRetry
	}
	for tries := 0; ; tries++ {
		err := s.cat.PutCard(rec)
		if err == nil {
			if tries > 0 {
				log.Info("card record stored", "key", rec.Key, "tries", tries+1)
			}
			return true
		}
		if tries == 0 {
			log.Error("store card record: NOT safe to format until it is recorded; tried again", "key", rec.Key, "err", err, "every", every)
		}
		msg := "verified, but NOT SAFE TO FORMAT yet: the offload cannot be recorded (" + err.Error() + "); tried again every " + every.String()
		s.updateKey(rec.Key, func(c *CardStatus) { c.Message, c.SafeToFormat = msg, false })
		s.mu.Lock()
		ctx := s.runCtx
		s.mu.Unlock()
		if ctx == nil {
			return false
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// Superseded starts the reason of a failed card record whose card was
// offloaded again, changed (supersede).
const Superseded = wire.CardSuperseded

// supersede notes, on each failed record of the card safe now (the same
// filesystem UUID, another content: it changed between two insertions,
// e.g. written to while it was read), that the card was offloaded again
// since, as what: that record's reason says so instead of standing as an
// open failure. It stays NOT safe to format: its pass never finished.
func (s *Service) supersede(rec *Record, log *slog.Logger) {
	if rec.Identity.UUID == "" {
		return // no filesystem identity: nothing ties two contents to one card
	}
	var old []Record
	if err := s.cat.Cards(func(r Record) error {
		if r.Key != rec.Key && r.Identity.UUID == rec.Identity.UUID && r.Status == StateFailed && !strings.HasPrefix(r.Reason, Superseded) {
			old = append(old, r)
		}
		return nil
	}); err != nil {
		log.Warn("list card records", "err", err)
		return
	}
	for _, r := range old {
		was := r.Reason
		r.Reason = Superseded + rec.Label + " (id " + CardID(rec.Key) + ", " + rec.Volume + "/" + rec.Folder + ")"
		if was != "" {
			r.Reason += "; it had failed: " + was
		}
		if err := s.cat.PutCard(r); err != nil {
			log.Warn("store card record", "key", r.Key, "err", err)
			continue
		}
		log.Info("earlier failed record of this card superseded", "key", r.Key, "folder", r.Volume+"/"+r.Folder)
	}
}

// eject unmounts an already safe card when cards.eject_when_safe.
func (s *Service) eject(mp string) {
	if !s.cfg.EjectWhenSafe {
		return
	}
	if _, why := s.tryEject(mp); why != "" {
		s.update(mp, func(c *CardStatus) { c.Message += "; " + why })
	}
}

// mountOf is where the card with key is mounted now ("" when not).
func (s *Service) mountOf(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for mp, p := range s.present {
		if p.st.Key == key {
			return mp
		}
	}
	return ""
}

// stopping says whether the daemon is stopping (Run's context done).
func (s *Service) stopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runCtx != nil && s.runCtx.Err() != nil
}

// CardGoneWait is how long a card whose read failed is watched for its
// mount going away (a pull) before the read error is taken as the reason.
const CardGoneWait = 3 * time.Second

// goneSoon says whether mounted turns false within wait, looking every
// every.
func goneSoon(mounted func() bool, wait, every time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		if !mounted() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(every)
	}
}

// sourceGoneReason is the reason of a pass the card was pulled in: it
// starts with cards.ErrSourceGone (docs/api.md, card.failed: what a hub
// matches on), said once, then what failed ("read X: …"), without the
// bare "context canceled" of a pass cancelled by the unmount.
func sourceGoneReason(reason string) string {
	gone := cards.ErrSourceGone.Error()
	r := strings.Replace(reason, gone+": ", "", 1)
	r = strings.TrimSuffix(r, ": "+gone)
	if r == gone || r == "" || r == context.Canceled.Error() {
		return gone
	}
	return gone + ": " + r
}

// updateKey updates the status of the card with key, present or cascading.
func (s *Service) updateKey(key string, fn func(*CardStatus)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.present {
		if p.st.Key == key {
			fn(&p.st)
		}
	}
	if c, ok := s.cascading[key]; ok {
		fn(c)
	}
}

// startCascade fills the card's destinations that are not verified from
// its first verified copy, in the background (the card is not needed).
func (s *Service) startCascade(key string) {
	s.mu.Lock()
	ctx := s.runCtx
	s.mu.Unlock()
	if ctx == nil || ctx.Err() != nil || !s.claim(key) {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.unclaim(key)
		s.cascade(ctx, key)
	}()
}

func (s *Service) cascade(ctx context.Context, key string) {
	log := s.log.With("card", key)
	rec, err := s.cat.Card(key)
	if err != nil {
		log.Error("read card record", "err", err)
		return
	}
	migrate(&rec)
	fv := firstVerified(&rec)
	if fv < 0 || rec.SafeToFormat {
		return
	}
	_, from, ok := s.destDir(rec.Destinations[fv])
	if !ok {
		return
	}
	st := &CardStatus{Label: rec.Label, Key: key, Layout: rec.Layout, State: StateCascading, Dest: rec.Volume + "/" + rec.Folder,
		Message:      "filling destinations from the verified copy " + rec.Destinations[fv].Volume + "/" + rec.Destinations[fv].Path + ": NOT safe to format yet",
		Destinations: append([]DestState(nil), rec.Destinations...), FilesTotal: rec.Files, BytesTotal: rec.Bytes}
	s.mu.Lock()
	s.cascading[key] = st
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.cascading, key)
		s.mu.Unlock()
	}()
	// Rounds: the destinations with room are filled; those below
	// disk.min_free wait (pending, saying so) for room on their own volume
	// only, not on the one the copy is read from, and are filled in the
	// next round, once one of them has room.
	var only map[int]bool // the next round's destinations (nil: every one not verified)
	for {
		waiting, err := s.fillRound(ctx, log, &rec, key, from, only)
		if err != nil || len(waiting) == 0 {
			if err != nil {
				return // daemon stopping: resumes on the next start
			}
			break
		}
		var vols []string
		only = map[int]bool{}
		for _, i := range waiting {
			only[i] = true
			if !slices.Contains(vols, rec.Destinations[i].Volume) {
				vols = append(vols, rec.Destinations[i].Volume)
			}
		}
		if _, err := s.waitSpace(ctx, vols, func(low []string) bool {
			return !slices.Contains(low, SpaceStateDir) && len(low) < len(vols)
		}, func([]string) {}); err != nil {
			return
		}
	}
	if allVerified(&rec) {
		s.markSafe(&rec, log)
	}
}

// fillRound fills, from the verified copy at from, each destination of
// rec not verified (among only, when set) that is online and has room; it
// returns the indices of those left pending for want of space, or ctx's
// error when the daemon stops.
func (s *Service) fillRound(ctx context.Context, log *slog.Logger, rec *Record, key, from string, only map[int]bool) ([]int, error) {
	var waiting []int
	for i := range rec.Destinations {
		d := &rec.Destinations[i]
		if d.State == cards.DestVerified || (only != nil && !only[i]) {
			continue
		}
		root, ok := s.vols[d.Volume]
		if !ok {
			d.State, d.Error = cards.DestFailed, "volume "+d.Volume+" not configured"
			continue
		}
		if why := s.destOffline(d.Volume, root); why != "" {
			d.State, d.Error = cards.DestFailed, why
			log.Warn("destination not filled", "volume", d.Volume, "reason", why, "retry_in", s.cfg.RetryInterval)
			if err := s.cat.PutCard(*rec); err != nil {
				log.Error("store card record", "err", err)
			}
			s.updateKey(key, func(c *CardStatus) {
				if i < len(c.Destinations) {
					c.Destinations[i] = *d
				}
			})
			continue
		}
		if err := s.recheckFolder(rec, i); err != nil {
			d.State, d.Error = cards.DestFailed, err.Error()
			log.Warn("destination not filled", "volume", d.Volume, "err", err, "retry_in", s.cfg.RetryInterval)
			continue
		}
		root, dir, ok := s.destDir(*d) // its folder may have been claimed again
		if !ok {
			continue
		}
		if low := s.lowNow([]string{d.Volume}); len(low) > 0 {
			// Its last failure stays in the log and the events; the
			// status says what it waits for now.
			d.State, d.Error, d.FailedPath = cards.DestPending, lowMessage(low), ""
			dd := *d
			s.updateKey(key, func(c *CardStatus) {
				if i < len(c.Destinations) {
					c.Destinations[i] = dd
				}
			})
			waiting = append(waiting, i)
			continue
		}
		d.State, d.Error, d.FailedPath = cards.DestCopying, "", ""
		d.Hashes = formatNames(s.destFormats(rec, i))
		s.updateKey(key, func(c *CardStatus) {
			if i < len(c.Destinations) {
				c.Destinations[i] = *d
			}
		})
		var meter destMeter
		log.Info("filling destination from the verified copy", "from", from, "dst", dir)
		res, err := cards.Offload(ctx, from, dir, cards.Options{
			MHLFormats: s.destFormats(rec, i), Logger: s.log, DestRoot: root, FromCopy: true,
			Creator: ascmhl.Creator{ToolVersion: s.version},
			Progress: func(p cards.Progress) {
				if len(p.Dests) == 0 {
					return
				}
				now := time.Now()
				s.updateKey(key, func(c *CardStatus) {
					if i < len(c.Destinations) {
						progressInto(&c.Destinations[i], p.Dests[0], &meter, now)
					}
				})
			},
		})
		if ctx.Err() != nil {
			return nil, ctx.Err() // daemon stopping: resumes on the next start
		}
		d.BytesTotal, d.RateBps, d.ETASeconds = res.Bytes, 0, 0
		if err != nil {
			d.State, d.FailedPath, d.Error = cards.DestFailed, res.FailedPath, "filling from the verified copy: "+res.Reason
			log.Warn("filling destination from the verified copy failed; retried", "dst", dir, "err", err, "retry_in", s.cfg.RetryInterval)
		} else {
			d.State, d.Generation, d.BytesDone, d.BytesVerified = cards.DestVerified, res.Generation, res.Bytes, res.Bytes
		}
		if err := s.cat.PutCard(*rec); err != nil {
			log.Error("store card record", "err", err)
		}
		s.updateKey(key, func(c *CardStatus) {
			if i < len(c.Destinations) {
				c.Destinations[i] = *d
			}
		})
	}
	return waiting, nil
}

// retryLoop fills, every cards.retry_interval (and at start, after a
// restart), the destinations left failed or pending of cards that have a
// verified copy.
func (s *Service) retryLoop(ctx context.Context) {
	every := s.cfg.RetryInterval
	if every <= 0 {
		every = cards.DefaultRetryInterval
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var keys []string
		err := s.cat.Cards(func(rec Record) error {
			migrate(&rec)
			if !rec.SafeToFormat && firstVerified(&rec) >= 0 && !allVerified(&rec) {
				keys = append(keys, rec.Key)
			}
			if !rec.SafeToFormat && allVerified(&rec) {
				keys = append(keys, rec.Key) // crashed before card.safe
			}
			return nil
		})
		if err != nil {
			s.log.Error("list card records to retry", "err", err)
		}
		for _, k := range keys {
			s.startCascade(k)
		}
		s.resumeContentIDs() // contentids.go: jobs left by a stop or a failure

		t.Reset(every)
	}
}
