package s3push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"path/filepath"

	"github.com/ingestd/ingestd/storage"
)

// EvSequenceProxyReady is daemon/sequences' sequence.proxy_ready: Path is
// the sequence id.
const EvSequenceProxyReady = "sequence.proxy_ready"

// seqQ prefixes a sequence id in the push queue.
const seqQ = "seq:"

// SequenceKey is the object key of a sequence's file:
// <prefix>/<appliance>/sequences/<id>/<name>.
func (p *Pusher) SequenceKey(id, name string) string {
	return path.Join(p.cfg.Prefix, p.appID, "sequences", id, name)
}

// pushSequence uploads the sequence record (state "sequences/<id>") as
// sequence.json, with its proxy and poster from
// <state_dir>/sequences/<id>/. A sequence removed meanwhile is skipped.
func (p *Pusher) pushSequence(ctx context.Context, id string) error {
	var doc json.RawMessage
	err := p.cat.GetState("sequences/"+id, &doc)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read sequence %s: %w", id, err)
	}
	dir := filepath.Join(p.stateDir, "sequences", id)
	if _, err := p.uploadFile(ctx, p.SequenceKey(id, "proxy.mp4"), filepath.Join(dir, "proxy.mp4"), "video/mp4", nil); err != nil {
		return err
	}
	if _, err := p.uploadFile(ctx, p.SequenceKey(id, "poster.jpg"), filepath.Join(dir, "poster.jpg"), "image/jpeg", nil); err != nil {
		return err
	}
	_, err = p.uploadBytes(ctx, p.SequenceKey(id, "sequence.json"), doc, "application/json")
	return err
}
