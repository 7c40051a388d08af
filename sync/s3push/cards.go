package s3push

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// EvCardReportReady is cardsvc's card.report_ready: Path is the card id
// and <state_dir>/cards/<id>/report.html and report.json were (re)written.
const EvCardReportReady = "card.report_ready"

// cardQ prefixes a card id in the push queue.
const cardQ = "card:"

// CardKey is the object key of a card's file: <prefix>/<appliance>/cards/<id>/<name>.
func (p *Pusher) CardKey(id, name string) string {
	return path.Join(p.cfg.Prefix, p.appID, "cards", id, name)
}

// pushCardReport uploads a card's offload report (report.html, then
// report.json) from <state_dir>/cards/<id>/. Only these two names are ever
// uploaded under cards/<id>/: never a master. A card without report files
// (removed state dir) is skipped.
func (p *Pusher) pushCardReport(ctx context.Context, id string) error {
	dir := filepath.Join(p.stateDir, "cards", id)
	if _, err := os.Lstat(filepath.Join(dir, "report.json")); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if _, err := p.uploadFile(ctx, p.CardKey(id, "report.html"), filepath.Join(dir, "report.html"), "text/html; charset=utf-8", nil); err != nil {
		return fmt.Errorf("card %s report: %w", id, err)
	}
	if _, err := p.uploadFile(ctx, p.CardKey(id, "report.json"), filepath.Join(dir, "report.json"), "application/json", nil); err != nil {
		return fmt.Errorf("card %s report: %w", id, err)
	}
	return nil
}
