package cardsvc

import (
	"log/slog"
	"net/http"

	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/daemon/cards/fixity"
	"github.com/ingestd/ingestd/storage/catalog"
)

// The fixity check is package daemon/cards/fixity. These names keep the
// daemon's wiring and the CLI building until they import it directly.
type (
	Line         = fixity.Line
	FixityStatus = fixity.Status
	Fixity       = fixity.Checker
)

// ErrBusy: a fixity check is already running (fixity.ErrBusy).
var ErrBusy = fixity.ErrBusy

// NewFixity is fixity.New over the configured volumes.
func NewFixity(cfg cards.FixityConfig, vols []Volume, cat *catalog.Catalog, log *slog.Logger) *fixity.Checker {
	fv := make([]fixity.Volume, len(vols))
	for i, v := range vols {
		fv[i] = fixity.Volume{Name: v.Name, Path: v.Path}
	}
	return fixity.New(cfg, fv, cat, log)
}

// VerifyHandler is fixity.Handler (POST /v1/verify).
func VerifyHandler(f *fixity.Checker) http.Handler { return fixity.Handler(f) }
