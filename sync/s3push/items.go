package s3push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/ingestd/ingestd/storage"
	"github.com/ingestd/ingestd/storage/catalog"
)

// Events of the other stages that queue an item for upload; Path is the
// item's id.
const (
	// EvClipProxyReady is cardsvc's clip.proxy_ready.
	EvClipProxyReady = "clip.proxy_ready"
	// EvSequenceProxyReady is daemon/sequences' sequence.proxy_ready.
	EvSequenceProxyReady = "sequence.proxy_ready"
	// EvCardReportReady is cardsvc's card.report_ready:
	// <state_dir>/cards/<id>/report.html and report.json were (re)written.
	EvCardReportReady = "card.report_ready"
)

// itemKind is a kind of push-queue item other than an asset: a record in
// the catalog's state and files under <state_dir>/<dir>/<id>/, uploaded to
// <prefix>/<appliance>/<dir>/<id>/ (files first, in order, then the
// record). A new kind is one more entry in itemKinds.
type itemKind struct {
	event string // the event that queues it
	queue string // prefix of its id in the push queue (asset ids are plain hex)
	dir   string // folder under state_dir and in the bucket
	state string // catalog state key prefix of the record (raw JSON); "" none
	// record, when set, reads the item's typed record from the catalog
	// (instead of state); a missing one is a wrapped storage.ErrNotFound.
	record func(cat *catalog.Catalog, id string) (any, error)
	doc    string // object name of the record
	files  []itemFile
	// needs names a file without which the item is skipped (a removed
	// state dir); "" pushes regardless.
	needs string
	// wrap, when set, formats errors ("card %s report: %w" with the id).
	wrap string
}

type itemFile struct{ name, contentType string }

var itemKinds = []itemKind{
	{event: EvClipProxyReady, queue: "clip:", dir: "clips", record: clipRecord, doc: "clip.json",
		files: []itemFile{{"proxy.mp4", "video/mp4"}}},
	// Only these two names are ever uploaded under cards/<id>/: never a
	// master.
	{event: EvCardReportReady, queue: "card:", dir: "cards", needs: "report.json", wrap: "card %s report: %w",
		files: []itemFile{{"report.html", "text/html; charset=utf-8"}, {"report.json", "application/json"}}},
	{event: EvSequenceProxyReady, queue: "seq:", dir: "sequences", state: "sequences/", doc: "sequence.json",
		files: []itemFile{{"proxy.mp4", "video/mp4"}, {"poster.jpg", "image/jpeg"}}},
}

// clipRecord is the card service's clip record (storage.Clip), uploaded as
// clip.json: the JSON GET /v1/clips/{id} serves.
func clipRecord(cat *catalog.Catalog, id string) (any, error) { return cat.Clip(id) }

// kindOfEvent is the item kind an event queues, or nil.
func kindOfEvent(typ string) *itemKind {
	for i := range itemKinds {
		if itemKinds[i].event == typ {
			return &itemKinds[i]
		}
	}
	return nil
}

func (p *Pusher) itemKey(dir, id, name string) string {
	return path.Join(p.cfg.Prefix, p.appID, dir, id, name)
}

// pushItem pushes one queue item: an asset id, or an item kind's queue
// prefix and id.
func (p *Pusher) pushItem(ctx context.Context, id string) error {
	for i := range itemKinds {
		if c, ok := strings.CutPrefix(id, itemKinds[i].queue); ok {
			err := p.pushKind(ctx, &itemKinds[i], c)
			if err != nil && itemKinds[i].wrap != "" {
				err = fmt.Errorf(itemKinds[i].wrap, c, err)
			}
			return err
		}
	}
	return p.pushAsset(ctx, id)
}

// pushKind uploads an item's files, then its record. An item whose record
// or needed file is gone (removed meanwhile) is skipped.
func (p *Pusher) pushKind(ctx context.Context, k *itemKind, id string) error {
	var doc json.RawMessage
	switch {
	case k.record != nil:
		v, err := k.record(p.cat, id)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read record: %w", err)
		}
		if doc, err = json.Marshal(v); err != nil {
			return fmt.Errorf("encode %s record %s: %w", k.dir, id, err)
		}
	case k.state != "":
		err := p.cat.GetState(k.state+id, &doc)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s %s: %w", strings.TrimSuffix(k.state, "s/"), id, err)
		}
	}
	dir := filepath.Join(p.stateDir, k.dir, id)
	if k.needs != "" {
		if _, err := os.Lstat(filepath.Join(dir, k.needs)); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	for _, f := range k.files {
		if _, err := p.uploadFile(ctx, p.itemKey(k.dir, id, f.name), filepath.Join(dir, f.name), f.contentType, nil); err != nil {
			return err
		}
	}
	if k.doc == "" {
		return nil
	}
	_, err := p.uploadBytes(ctx, p.itemKey(k.dir, id, k.doc), doc, "application/json")
	return err
}
