package daemon

// The sections of GET /v1/status as wire documents (package
// daemon/api/wire, the contract's typed form). The transcode, S3, webhook,
// analysis and fixity status types are the wire types themselves
// (aliases); the cards and disk stages keep types of their own (paths with
// _b64 companions, a guard's internal state), converted here field by
// field. TestSectionsLoseNoField fails when a stage's status gains a field
// that its section does not carry.

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
func cardsSection(st cardsvc.Status) *wire.CardsStatus {
	out := &wire.CardsStatus{Fixity: st.Fixity}
	if st.Cards != nil {
		out.Cards = make([]wire.CardStatus, 0, len(st.Cards))
	}
	for _, c := range st.Cards {
		w := wire.CardStatus{Mount: c.Mount, Label: c.Label, Key: c.Key, Layout: string(c.Layout), State: c.State,
			Message: c.Message, Dest: c.Dest, FilesDone: c.FilesDone, FilesTotal: c.FilesTotal, BytesDone: c.BytesDone,
			BytesTotal: c.BytesTotal, File: c.File, FailedPath: c.FailedPath, Reason: c.Reason, SafeToFormat: c.SafeToFormat}
		if c.Destinations != nil {
			w.Destinations = make([]wire.DestState, 0, len(c.Destinations))
			for _, d := range c.Destinations {
				w.Destinations = append(w.Destinations, wire.DestState(d))
			}
		}
		for _, s := range c.Skipped {
			w.Skipped = append(w.Skipped, wire.Skipped(s))
		}
		for _, m := range c.Manifests {
			wm := wire.ManifestCheck{File: m.File, Format: m.Format, OK: m.OK, Checked: m.Checked, Matched: m.Matched, Error: m.Error}
			for _, x := range m.Mismatches {
				wm.Mismatches = append(wm.Mismatches, wire.ManifestMismatch(x))
			}
			w.Manifests = append(w.Manifests, wm)
		}
		out.Cards = append(out.Cards, w)
	}
	return out
}

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
