package daemon

// The sections of GET /v1/status as wire documents: each stage keeps its
// own status type, and these convert it into the section the API serves
// (package daemon/api/wire, the contract's typed form). Every field is
// named; TestSectionsLoseNoField fails when a stage adds a field that the
// wire type (and docs/api.md) lack.

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
	p := &wire.ProxyStatus{Error: startErr}
	if st == nil {
		p.Lanes, p.Running, p.Done = []wire.LaneStatus{}, []wire.JobStatus{}, map[string]int{}
		return p
	}
	p.TranscodeStatus = wire.TranscodeStatus{Enabled: st.Enabled, Detected: st.Detected,
		Capabilities: wire.Capabilities(st.Capabilities), Queued: st.Queued, Done: st.Done, DoneByLane: st.DoneByLane}
	if st.Lanes != nil {
		p.Lanes = make([]wire.LaneStatus, 0, len(st.Lanes))
		for _, l := range st.Lanes {
			p.Lanes = append(p.Lanes, wire.LaneStatus(l))
		}
	}
	if st.Running != nil {
		p.Running = make([]wire.JobStatus, 0, len(st.Running))
		for _, j := range st.Running {
			p.Running = append(p.Running, wire.JobStatus(j))
		}
	}
	return p
}

// syncSection is the `sync` section; nil when no hub target runs.
func syncSection(s3 *s3push.Status, hook *webhook.Status) *wire.SyncStatus {
	if s3 == nil && hook == nil {
		return nil
	}
	out := &wire.SyncStatus{}
	if s := s3; s != nil {
		w := &wire.S3Status{Endpoint: s.Endpoint, Bucket: s.Bucket, Prefix: s.Prefix,
			BacklogAssets: s.BacklogAssets, BacklogObjects: s.BacklogObjects, BacklogBytes: s.BacklogBytes,
			LastSuccess: s.LastSuccess, LastError: s.LastError, LastErrorAt: s.LastErrorAt, RetryAt: s.RetryAt,
			RateLimit: s.RateLimit, RateLimitBytes: s.RateLimitBytes, Concurrency: s.Concurrency,
			AssetsSynced: s.AssetsSynced, BytesUploaded: s.BytesUploaded, ObjectsSkipped: s.ObjectsSkipped,
			AttemptFailures: s.AttemptFailures}
		if s.InFlight != nil {
			w.InFlight = make([]wire.InFlight, 0, len(s.InFlight))
			for _, f := range s.InFlight {
				w.InFlight = append(w.InFlight, wire.InFlight(f))
			}
		}
		out.S3 = w
	}
	if h := hook; h != nil {
		w := &wire.WebhookStatus{URL: h.URL, Delivered: h.Delivered, LastSuccess: h.LastSuccess, LastError: h.LastError,
			LastErrorAt: h.LastErrorAt, Batches: h.Batches, Events: h.Events}
		if h.Parked != nil {
			p := wire.Parked(*h.Parked)
			w.Parked = &p
		}
		out.Webhook = w
	}
	return out
}

// cardsSection is the `cards` section.
func cardsSection(st cardsvc.Status) *wire.CardsStatus {
	out := &wire.CardsStatus{Fixity: wire.FixityStatus(st.Fixity)}
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
func analysisSection(st analysis.Status) *wire.AnalysisStatus {
	out := &wire.AnalysisStatus{Enabled: st.Enabled, Slots: st.Slots, Queued: st.Queued, Done: st.Done}
	if st.Running != nil {
		out.Running = make([]wire.AnalysisJob, 0, len(st.Running))
		for _, j := range st.Running {
			out.Running = append(out.Running, wire.AnalysisJob(j))
		}
	}
	if st.Enrichers != nil {
		out.Enrichers = make([]wire.EnricherStatus, 0, len(st.Enrichers))
		for _, e := range st.Enrichers {
			out.Enrichers = append(out.Enrichers, wire.EnricherStatus(e))
		}
	}
	return out
}
