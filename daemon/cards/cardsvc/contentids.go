package cardsvc

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/daemon/watch"
	"github.com/ingestd/ingestd/storage"
)

// The content ids (BLAKE3, the catalog's asset ids) of a card's files are
// not computed while the card is read: verifying the copies needs only
// the offload hash (xxh128), and a card is safe to format without them.
// Once a card has a verified copy, a job per card fills them in: the
// catalog's id where the ingest hashed a copy to the card's xxh128 (no
// second read; the ingest catalogs the verified copies like any file of
// the volume, and the job waits up to DefaultIDWait for it to catalog
// those its built-in rules do not skip), else read from a verified copy
// (cards.ContentIDs, which checks the copy still has the card's xxh128).
// It then completes what waited for the ids: the clips' part asset ids,
// the pending origins and camera metadata, the report's per-file BLAKE3
// (report rewritten: card.report_ready) and whole-clip proxies whose parts
// are ready. The job is recorded in the catalog (idsKey) before the card
// is announced safe and removed when every id is filled in, so a stop or
// a failure resumes it (retryLoop).

// idJob is what the content id job of a card attaches once the ids are
// known (state key "cards/ids/<card key>").
type idJob struct {
	// Origin, when set, is written as the pending origin of every file
	// (recordClips left out those without an id); nil when the clips were
	// recorded by an earlier offload of the card.
	Origin *storage.OriginInfo          `json:"origin,omitempty"`
	Meta   map[string]*cards.CameraMeta `json:"meta,omitempty"` // camera metadata by card path
}

func idsKey(key string) string { return "cards/ids/" + key }

// DefaultIDWait is how long the content id job waits for the ingest to
// catalog the copies (its settle time, 5 s by default, and its hashing)
// before it reads those still missing itself.
const DefaultIDWait = 30 * time.Second

// idRecheck spaces the job's catalog lookups while it waits.
const idRecheck = 500 * time.Millisecond

// ingestSkips reports whether the ingest's built-in rules skip the file at
// volume path p (a dot-name, a partial suffix... at any depth): the
// catalog will not have it, it is not waited for.
func ingestSkips(p string) bool {
	parts := strings.Split(p, "/")
	for i, name := range parts {
		if (*watch.Ignore)(nil).Match(strings.Join(parts[:i+1], "/"), name) {
			return true
		}
	}
	return false
}

// startContentIDs runs the content id job of the card with key in the
// background, unless it is running already.
func (s *Service) startContentIDs(key string) {
	s.mu.Lock()
	ctx := s.runCtx
	if ctx == nil || ctx.Err() != nil || s.idsBusy[key] {
		s.mu.Unlock()
		return
	}
	if s.idsBusy == nil {
		s.idsBusy = map[string]bool{}
	}
	s.idsBusy[key] = true
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.idsBusy, key)
			s.mu.Unlock()
		}()
		if err := s.contentIDs(ctx, key); err != nil && ctx.Err() == nil {
			s.log.Warn("content ids of the card's files: retried", "card", key, "err", err, "retry_in", s.cfg.RetryInterval)
		}
	}()
}

// resumeContentIDs starts the jobs still recorded (retryLoop).
func (s *Service) resumeContentIDs() {
	var keys []string
	err := s.cat.ListState("cards/ids/", func(k string, _ []byte) error {
		keys = append(keys, strings.TrimPrefix(k, "cards/ids/"))
		return nil
	})
	if err != nil {
		s.log.Error("list content id jobs", "err", err)
	}
	for _, k := range keys {
		s.startContentIDs(k)
	}
}

// contentIDs is the job of card key (see above).
func (s *Service) contentIDs(ctx context.Context, key string) error {
	var job idJob
	if err := s.cat.GetState(idsKey(key), &job); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("card %s: content id job: %w", key, err)
	}
	rec, err := s.cat.Card(key)
	if err != nil {
		return fmt.Errorf("card %s: %w", key, err)
	}
	migrate(&rec)
	var stored []ReportFile
	if err := s.cat.GetState(filesKey(key), &stored); err != nil {
		return fmt.Errorf("card %s: file hashes: %w", key, err)
	}
	files := make([]cards.FileResult, len(stored))
	for i, f := range stored {
		files[i] = cards.FileResult{Path: f.Path, Size: f.Size, BLAKE3: f.BLAKE3, XXH128: f.XXH128}
	}
	// The catalog's id of a copy the ingest hashed: same size and the
	// card's xxh128, at a verified destination of this card.
	known := func(f cards.FileResult) string {
		for _, d := range rec.Destinations {
			if d.State != cards.DestVerified {
				continue
			}
			loc, err := s.cat.Location(d.Volume, path.Join(d.Path, f.Path))
			if err != nil || loc.State != storage.LocPresent || loc.Size != f.Size {
				continue
			}
			if a, err := s.cat.Asset(loc.AssetID); err == nil && a.Hashes.XXH128 == f.XXH128 && a.Hashes.BLAKE3 == loc.AssetID {
				return loc.AssetID
			}
		}
		return ""
	}
	s.waitIngest(ctx, &rec, files, known)
	var read int
	var herr error = errors.New("no verified copy")
	for _, d := range rec.Destinations {
		if d.State != cards.DestVerified {
			continue
		}
		root, dir, ok := s.destDir(d)
		if !ok {
			continue
		}
		if why := s.destOffline(d.Volume, root); why != "" {
			herr = errors.New(why)
			continue
		}
		var n int
		n, herr = cards.ContentIDs(ctx, root, dir, files, known)
		read += n
		if herr == nil {
			break
		}
		s.log.Warn("content ids from a verified copy", "card", key, "volume", d.Volume, "path", d.Path, "err", herr)
	}
	ids := map[string]string{}
	for _, f := range files {
		if f.BLAKE3 != "" {
			ids[f.Path] = f.BLAKE3
		}
	}
	if err := s.attachIDs(&rec, job, stored, ids); err != nil {
		return err
	}
	if len(ids) < len(files) {
		return fmt.Errorf("card %s: %d of %d content ids: %w", key, len(ids), len(files), herr)
	}
	if err := s.cat.DeleteState(idsKey(key)); err != nil {
		return fmt.Errorf("card %s: %w", key, err)
	}
	s.log.Info("content ids of the card's files filled in", "card", key, "files", len(files), "read", read)
	// What waited for the ids: origins of assets already cataloged,
	// whole-clip proxies whose parts are ready, the report.
	for _, id := range ids {
		s.apply(id)
	}
	for _, id := range ids {
		s.startClipProxy(ctx, id)
	}
	s.writeReport(key, false)
	return nil
}

// waitIngest fills in the ids the catalog knows, waiting (up to the
// Service's idWait) for the ingest to catalog the copies of the others it
// will catalog.
func (s *Service) waitIngest(ctx context.Context, rec *Record, files []cards.FileResult, known func(cards.FileResult) string) {
	wait := s.idWait
	if wait == 0 {
		wait = DefaultIDWait
	}
	fv := firstVerified(rec)
	if fv < 0 || wait < 0 {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		after := s.cat.LastSeq()
		waiting := 0
		for i := range files {
			if files[i].BLAKE3 != "" {
				continue
			}
			if files[i].BLAKE3 = known(files[i]); files[i].BLAKE3 == "" && !ingestSkips(path.Join(rec.Destinations[fv].Path, files[i].Path)) {
				waiting++
			}
		}
		if waiting == 0 || s.cat.Wait(wctx, after) != nil {
			return
		}
		select {
		case <-wctx.Done():
			return
		case <-time.After(idRecheck):
		}
	}
}

// attachIDs records the content ids found (ids, by card path) where they
// were left out: the report's file hashes, the clips' parts of this card,
// the pending origins.
func (s *Service) attachIDs(rec *Record, job idJob, stored []ReportFile, ids map[string]string) error {
	changed := false
	for i, f := range stored {
		if id := ids[f.Path]; id != "" && f.BLAKE3 == "" {
			stored[i].BLAKE3, changed = id, true
		}
	}
	if changed {
		if err := s.cat.PutState(filesKey(rec.Key), stored); err != nil {
			return fmt.Errorf("card %s: store file hashes: %w", rec.Key, err)
		}
	}
	for _, cid := range rec.Clips {
		if err := s.fillClip(cid, rec, ids); err != nil {
			return err
		}
	}
	if job.Origin != nil {
		for p, id := range ids {
			if err := s.cat.PutState(pendingKey(id), pending{Origin: *job.Origin, Meta: job.Meta[p]}); err != nil {
				return fmt.Errorf("card %s: pending origin of %s: %w", rec.Key, p, err)
			}
		}
	}
	return nil
}

// fillClip sets the asset id of clip cid's parts from card rec that have
// none (a part's path is the card path below one of its destinations).
func (s *Service) fillClip(cid string, rec *Record, ids map[string]string) error {
	s.clipMu.Lock()
	defer s.clipMu.Unlock()
	doc, err := s.cat.Clip(cid)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("clip %s: %w", cid, err)
	}
	changed := false
	for i, p := range doc.Parts {
		if p.AssetID != "" || p.Card != rec.Key {
			continue
		}
		for _, d := range rec.Destinations {
			if rel, ok := strings.CutPrefix(p.Path, d.Path+"/"); ok && ids[rel] != "" {
				doc.Parts[i].AssetID, changed = ids[rel], true
				break
			}
		}
	}
	if !changed {
		return nil
	}
	if err := s.cat.PutClip(doc); err != nil {
		return fmt.Errorf("clip %s: %w", cid, err)
	}
	return s.indexClipParts(doc)
}
