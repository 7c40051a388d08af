package daemon

// The sections of GET /v1/status as wire documents (package
// daemon/api/wire, the contract's typed form). The stages' status types
// are the wire types themselves (aliases), but for the disk guard's, which
// carries internal state and is converted here field by field.
// TestSectionsLoseNoField fails when a stage's status gains a field that
// its section does not carry.

import (
	"github.com/ingestd/ingestd/analysis"
	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/daemon/cards/cardsvc"
	"github.com/ingestd/ingestd/daemon/diskguard"
	"github.com/ingestd/ingestd/sync/s3push"
	"github.com/ingestd/ingestd/sync/webhook"
	"github.com/ingestd/ingestd/transcode"
)

// proxySection is the `proxy` section: the transcode stage's status, or
// (st nil) an empty one with the error that kept the stage from starting.
func proxySection(st *transcode.Status, startErr string) *wire.ProxyStatus {
	if st == nil {
		return &wire.ProxyStatus{Error: startErr, TranscodeStatus: wire.TranscodeStatus{
			Lanes: []wire.LaneStatus{}, Running: []wire.JobStatus{}, Done: map[string]int{}}}
	}
	return &wire.ProxyStatus{TranscodeStatus: *st, Error: startErr}
}

// syncSection is the `sync` section; nil when no hub target runs.
func syncSection(s3 *s3push.Status, hook *webhook.Status) *wire.SyncStatus {
	if s3 == nil && hook == nil {
		return nil
	}
	return &wire.SyncStatus{S3: s3, Webhook: hook}
}

// cardsSection is the `cards` section.
func cardsSection(st cardsvc.Status) *wire.CardsStatus { return &st }

// diskSection is the `disk` section: the guard's paths and the writers
// paused now.
func diskSection(st diskguard.Status, paused []string) *wire.DiskStatus {
	out := &wire.DiskStatus{MinFree: st.MinFree, Low: st.Low, Paused: paused}
	if st.Paths != nil {
		out.Paths = make([]wire.DiskPath, 0, len(st.Paths))
	}
	for _, p := range st.Paths {
		out.Paths = append(out.Paths, wire.DiskPath{Name: p.Name, Path: p.Path, FreeBytes: p.FreeBytes, TotalBytes: p.TotalBytes,
			MinFreeBytes: p.MinFreeBytes, Low: p.Low, Error: p.Error})
	}
	return out
}

// analysisSection is the `analysis` section.
func analysisSection(st analysis.Status) *wire.AnalysisStatus { return &st }
