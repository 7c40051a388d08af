package s3push

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ingestd/ingestd/internal/backoff"
	"github.com/ingestd/ingestd/storage"
)

// The push queue: items (asset ids, and the item kinds' prefixed ids) fed
// from the event log, persisted in the catalog (pendingPfx) until pushed,
// worked on by Concurrency workers, and paused as a whole after a failure
// (jittered backoff between retry_min and retry_max).

func (p *Pusher) enqueueEvents(evs []storage.Event) error {
	var ids []string
	seen := map[string]bool{}
	for _, e := range evs {
		if k := kindOfEvent(e.Type); k != nil {
			if e.Path != "" && !validItemID(e.Path, 32) {
				// The id becomes a bucket key and a folder under state_dir:
				// never one that could leave either.
				p.log.Warn("event names no valid item id; not uploaded", "seq", e.Seq, "type", e.Type, "id", e.Path)
				continue
			}
			if e.Path != "" && !seen[k.queue+e.Path] {
				seen[k.queue+e.Path] = true
				ids = append(ids, k.queue+e.Path)
			}
			continue
		}
		// asset.synced is our own record of a finished push: nothing changed
		// that the bucket lacks.
		if e.AssetID == "" || e.Type == storage.EvAssetSynced || seen[e.AssetID] {
			continue
		}
		if !validItemID(e.AssetID, 64) {
			p.log.Warn("event names no valid asset id; not uploaded", "seq", e.Seq, "type", e.Type, "asset", e.AssetID)
			continue
		}
		seen[e.AssetID] = true
		ids = append(ids, e.AssetID)
	}
	if len(ids) == 0 {
		return nil
	}
	est := make([]backlogItem, len(ids))
	for i, id := range ids {
		est[i] = p.estimate(id)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now().UTC()
	for i, id := range ids {
		if err := p.cat.PutState(pendingPfx+id, pendingRec{Since: now}); err != nil {
			return fmt.Errorf("persist backlog %s: %w", id, err)
		}
		p.addLocked(id, est[i])
	}
	p.notifyLocked()
	return nil
}

type pendingRec struct {
	Since time.Time `json:"since"`
}

func (p *Pusher) loadBacklog() error {
	var ids []string
	err := p.cat.ListState(pendingPfx, func(key string, _ []byte) error {
		id := key[strings.LastIndex(key, "/")+1:]
		if id != "" {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load backlog: %w", err)
	}
	est := make([]backlogItem, len(ids))
	for i, id := range ids {
		est[i] = p.estimate(id)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, id := range ids {
		p.addLocked(id, est[i])
	}
	p.notifyLocked()
	return nil
}

// addLocked queues id (once) and bumps its generation so a worker busy with
// it knows to push it again.
func (p *Pusher) addLocked(id string, est backlogItem) {
	p.gen[id]++
	p.backlog[id] = est
	if !p.queued[id] && !p.working[id] {
		p.queued[id] = true
		p.queue = append(p.queue, id)
	}
}

// estimate sizes the objects of an asset for the backlog figures.
func (p *Pusher) estimate(id string) backlogItem {
	b := backlogItem{objects: 1, bytes: 4 << 10}
	doc, err := p.cat.Asset(id)
	if err != nil {
		return b
	}
	for _, name := range outputsOf(doc.Asset) {
		if fi, err := statFile(storage.OutputPath(p.stateDir, id, name)); err == nil {
			b.objects++
			b.bytes += fi
		}
	}
	return b
}

func (p *Pusher) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// next blocks until an asset may be pushed (queue not empty, not backing
// off) and marks it as being worked on.
func (p *Pusher) next(ctx context.Context) (string, uint64, bool) {
	for {
		p.mu.Lock()
		wait := p.changed
		if d := time.Until(p.pause); d > 0 {
			p.mu.Unlock()
			select {
			case <-ctx.Done():
				return "", 0, false
			case <-time.After(d):
			}
			continue
		}
		if len(p.queue) > 0 {
			id := p.queue[0]
			p.queue = p.queue[1:]
			delete(p.queued, id)
			p.working[id] = true
			g := p.gen[id]
			p.mu.Unlock()
			return id, g, true
		}
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", 0, false
		case <-wait:
		}
	}
}

func (p *Pusher) worker(ctx context.Context) {
	for {
		id, g, ok := p.next(ctx)
		if !ok {
			return
		}
		err := p.pushItem(ctx, id)
		p.finish(ctx, id, g, err)
	}
}

// finish records the outcome of one push.
func (p *Pusher) finish(ctx context.Context, id string, g uint64, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.working, id)
	switch {
	case err == nil || errors.Is(err, errPermanent):
		if err != nil {
			p.setErrorLocked(err)
		} else {
			p.failures = 0
		}
		if p.gen[id] == g {
			if derr := p.cat.DeleteState(pendingPfx + id); derr != nil {
				p.log.Error("drop from backlog", "asset", id, "err", derr)
			}
			delete(p.backlog, id)
			delete(p.gen, id)
		} else if !p.queued[id] { // changed while we pushed it
			p.queued[id] = true
			p.queue = append(p.queue, id)
		}
	default:
		if ctx.Err() != nil {
			return // shutting down: the asset stays in the persisted backlog
		}
		p.failures++
		d := backoff.Jitter(p.cfg.RetryMin, p.cfg.RetryMax, p.failures-1)
		p.pause = time.Now().Add(d)
		p.setErrorLocked(err)
		p.log.Warn("push failed; backing off", "asset", id, "retry_in", d.Round(time.Millisecond), "err", err)
		if !p.queued[id] {
			p.queued[id] = true
			p.queue = append([]string{id}, p.queue...)
		}
	}
	p.notifyLocked()
}

// validItemID reports whether id is n lowercase hex digits: an asset id
// (64) or a clip, sequence or card id (32), the only ids that name a
// folder of the bucket and of state_dir.
func validItemID(id string, n int) bool {
	if len(id) != n {
		return false
	}
	for _, c := range []byte(id) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
