package s3push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/ingestd/ingestd/storage"
)

// EvClipProxyReady is cardsvc's clip.proxy_ready: Path is the clip id.
const EvClipProxyReady = "clip.proxy_ready"

// clipQ prefixes a clip id in the push queue (asset ids are plain hex).
const clipQ = "clip:"

// ClipKey is the object key of a clip's file: <prefix>/<appliance>/clips/<id>/<name>.
func (p *Pusher) ClipKey(clipID, name string) string {
	return path.Join(p.cfg.Prefix, p.appID, "clips", clipID, name)
}

// pushClip uploads the clip document (state "clips/<id>") as clip.json and
// its whole-clip proxy <state_dir>/clips/<id>/proxy.mp4.
func (p *Pusher) pushClip(ctx context.Context, id string) error {
	var doc json.RawMessage
	err := p.cat.GetState("clips/"+id, &doc)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read clip %s: %w", id, err)
	}
	if _, err := p.uploadFile(ctx, p.ClipKey(id, "proxy.mp4"), filepath.Join(p.stateDir, "clips", id, "proxy.mp4"), "video/mp4", nil); err != nil {
		return err
	}
	_, err = p.uploadBytes(ctx, p.ClipKey(id, "clip.json"), doc, "application/json")
	return err
}

// pushItem pushes one queue item: an asset id, clipQ + a clip id or
// seqQ + a sequence id.
func (p *Pusher) pushItem(ctx context.Context, id string) error {
	if c, ok := strings.CutPrefix(id, clipQ); ok {
		return p.pushClip(ctx, c)
	}
	if c, ok := strings.CutPrefix(id, cardQ); ok {
		return p.pushCardReport(ctx, c) // cards.go
	}
	if c, ok := strings.CutPrefix(id, seqQ); ok {
		return p.pushSequence(ctx, c)
	}
	return p.pushAsset(ctx, id)
}
