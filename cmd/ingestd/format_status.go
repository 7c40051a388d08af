package main

// The human-readable `ingestd status`: the core lines, one block per
// section (proxy, sync, cards, disk), the volume table and the progress
// of long work (bars on a terminal, plain lines when piped).

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/ingestd/ingestd/daemon/api/wire"
)

func printStatus(w io.Writer, s wire.Status, now time.Time) {
	state := "starting"
	if s.Ready {
		state = "ready"
	}
	fmt.Fprintf(w, "ingestd %s\tappliance %s\tup %s\t%s\n", s.Version, s.ApplianceID,
		now.Sub(s.Started).Round(time.Second), state)
	fmt.Fprintf(w, "catalog %s\tlast seq %d\t%s\n", s.CatalogID, s.Catalog.LastSeq, humanBytes(s.Catalog.LSMBytes+s.Catalog.VlogBytes))
	fmt.Fprintf(w, "queues\tsettling %d\thashing %d\n", s.Queues.Settling, s.Queues.Hashing)
	fmt.Fprintf(w, "ingest\t%d files seen\t%s hashed\n", s.Ingest.FilesSeen, humanBytes(int64(s.Ingest.BytesHashed)))
	if s.Proxy != nil {
		printProxyStatus(w, *s.Proxy)
	}
	if s.Sync != nil {
		printSyncStatus(w, *s.Sync, now)
	}
	if s.Cards != nil {
		printCards(w, *s.Cards)
	}
	if s.Disk != nil {
		printDisk(w, *s.Disk)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "VOLUME\tSTATE\tMODE\tFILES\tSIZE\tLAST SCAN\tPATH")
	for _, v := range s.Volumes {
		st := "online"
		if !v.Online {
			st = "offline"
			if v.Reason != "" {
				st += " (" + v.Reason + ")"
			}
		}
		if v.Scanning {
			st += ", scanning"
		}
		if v.StalledSeconds > 0 {
			st += fmt.Sprintf(", NO ANSWER from the filesystem for %s (hung mount?)", time.Duration(v.StalledSeconds*float64(time.Second)).Round(time.Second))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", v.Name, st, v.WatchMode, v.Files, humanBytes(v.Bytes), humanTime(v.LastScan), quote(v.Path))
	}
}

// printProxyStatus writes the proxy section, e.g.
//
//	proxy    queued 2    running 1    done ready 120, failed 2    lanes cpu 1/1 (0 queued)
//	  job    ab12…  cpu  libx264  34% (41.0s of 120.0s)  3.1x
func printProxyStatus(w io.Writer, p wire.ProxyStatus) {
	if p.Error != "" {
		fmt.Fprintf(w, "proxy\tnot running: %s\n", quote(p.Error))
		return
	}
	if !p.Enabled {
		fmt.Fprintf(w, "proxy\tdisabled (probe only)\n")
	}
	var done []string
	keys := make([]string, 0, len(p.Done))
	for k := range p.Done {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		done = append(done, fmt.Sprintf("%s %d", k, p.Done[k]))
	}
	if len(done) == 0 {
		done = []string{"none"}
	}
	var lanes []string
	for _, l := range p.Lanes {
		lanes = append(lanes, fmt.Sprintf("%s %d/%d (%d queued)", l.Name, l.Running, l.Slots, l.Queued))
	}
	if len(lanes) == 0 && !p.Detected {
		lanes = []string{"detecting"}
	}
	fmt.Fprintf(w, "proxy\tqueued %d\trunning %d\tdone %s\tlanes %s\n", p.Queued, len(p.Running), strings.Join(done, ", "), strings.Join(lanes, ", "))
	for _, j := range p.Running {
		pct := "?"
		if j.DurationUS > 0 {
			pct = fmt.Sprintf("%.0f%%", 100*float64(j.OutTimeUS)/float64(j.DurationUS))
		}
		fmt.Fprintf(w, "  job\t%s\t%s %s\t%s (%.1fs of %.1fs)\t%.1fx\n", short(j.AssetID), j.Lane, j.Encoder, pct,
			float64(j.OutTimeUS)/1e6, float64(j.DurationUS)/1e6, j.Speed)
	}
}

// printSyncStatus writes the sync section, e.g.
//
//	sync s3  backlog 3 assets, 9 objects, 15.6 MiB  last success …  rate limit unlimited
func printSyncStatus(w io.Writer, s wire.SyncStatus, now time.Time) {
	if c := s.S3; c != nil {
		fmt.Fprintf(w, "sync s3\ts3://%s/%s\tbacklog %d assets, %d objects, %s\tsynced %d (%s uploaded)\trate limit %s\n",
			c.Bucket, c.Prefix, c.BacklogAssets, c.BacklogObjects, humanBytes(c.BacklogBytes),
			c.AssetsSynced, humanBytes(c.BytesUploaded), c.RateLimit)
		fmt.Fprintf(w, "  s3\tlast success %s\n", humanTime(c.LastSuccess))
		for _, f := range c.InFlight {
			fmt.Fprintf(w, "  upload\t%s\t%s of %s\t%s/s\n", quote(f.Key), humanBytes(f.Bytes), humanBytes(f.Total), humanBytes(int64(f.Rate)))
		}
		if c.LastError != "" {
			fmt.Fprintf(w, "  s3 error\t%s\t%s\n", humanTime(c.LastErrorAt), quote(c.LastError))
		}
		if !c.RetryAt.IsZero() {
			fmt.Fprintf(w, "  s3 retry\tin %s\n", c.RetryAt.Sub(now).Round(time.Second))
		}
	}
	if h := s.Webhook; h != nil {
		fmt.Fprintf(w, "sync webhook\t%s\tdelivered seq %d\t%d events in %d batches\tlast success %s\n",
			quote(h.URL), h.Delivered, h.Events, h.Batches, humanTime(h.LastSuccess))
		if h.LastError != "" {
			fmt.Fprintf(w, "  webhook error\t%s\t%s\n", humanTime(h.LastErrorAt), quote(h.LastError))
		}
		if p := h.Parked; p != nil {
			fmt.Fprintf(w, "  webhook parked\tseq %d..%d (%d)\t%s\t%s\n", p.First, p.Last, p.Code, quote(p.Error), p.Unpark)
		}
	}
}

// printCards writes the cards section: one line per present card, and the
// fixity check when one ran.
func printCards(w io.Writer, st wire.CardsStatus) {
	for _, c := range st.Cards {
		label := c.Label
		if label == "" {
			label = "?"
		}
		state := c.State
		if c.Message != "" {
			state = c.Message
		}
		line := fmt.Sprintf("card %s\t%s\t%d/%d files\t%s/%s", quote(label), state, c.FilesDone, c.FilesTotal, humanBytes(c.BytesDone), humanBytes(c.BytesTotal))
		if c.Dest != "" {
			line += "\t-> " + quote(c.Dest)
		}
		if c.Reason != "" {
			line += "\t" + quote(c.FailedPath) + ": " + c.Reason
		}
		if c.Key != "" && c.State != wire.CardIgnored {
			if c.SafeToFormat {
				line += "\tSAFE TO FORMAT"
			} else {
				line += "\tNOT SAFE TO FORMAT"
			}
		}
		fmt.Fprintf(w, "%s\t(%s)\n", line, quote(c.Mount))
		if c.State != wire.CardIgnored {
			for _, d := range c.Destinations {
				printCardDest(w, d)
			}
		}
	}
	fx := st.Fixity
	switch {
	case fx.Running:
		fmt.Fprintf(w, "fixity\trunning (%s)\t%d/%d files\t%s/%s\n", fx.Trigger, fx.FilesDone, fx.FilesTotal, humanBytes(fx.BytesDone), humanBytes(fx.BytesTotal))
	case !fx.LastEnd.IsZero():
		fmt.Fprintf(w, "fixity\tlast %s\t%d files\t%d corrupt\t%d missing\n", fx.LastEnd.UTC().Format("2006-01-02 15:04:05Z"), fx.LastFiles, fx.LastCorrupt, fx.LastMissing)
	}
}

// printCardDest writes one destination of a card: its state, and why it
// failed (the bytes, rate and ETA of one being written are in the
// progress section: statusProgress).
func printCardDest(w io.Writer, d wire.DestState) {
	line := fmt.Sprintf("  dest %s -> %s\t%s", quote(d.Volume), quote(d.Path), d.State)
	if d.Error != "" {
		line += "\t" + quote(d.FailedPath) + ": " + d.Error
	}
	fmt.Fprintln(w, line)
}

// printDisk writes the disk section: the guard's state and each path.
func printDisk(w io.Writer, st wire.DiskStatus) {
	state := "ok"
	if st.Low {
		state = "LOW: paused " + strings.Join(st.Paused, ", ")
	}
	fmt.Fprintf(w, "disk\t%s\tmin_free %s\n", state, st.MinFree)
	for _, p := range st.Paths {
		mark := ""
		if p.Low {
			mark = "\tbelow the floor"
		}
		if p.Error != "" {
			mark += "\t" + p.Error
		}
		fmt.Fprintf(w, "  %s\t%s free of %s (floor %s)%s\t%s\n", p.Name, humanBytes(int64(p.FreeBytes)),
			humanBytes(int64(p.TotalBytes)), humanBytes(int64(p.MinFreeBytes)), mark, quote(p.Path))
	}
}

// progressItem is one piece of long work in the status document.
type progressItem struct {
	kind   string  // scan | proxy | card | upload
	name   string  // volume, asset id, card -> volume, object key
	frac   float64 // 0..1; <0: unknown
	detail string
}

// statusProgress extracts long work from a status document: reconcile
// walks in progress, running proxy jobs (FFmpeg progress), card copies,
// uploads.
func statusProgress(s wire.Status) []progressItem {
	var items []progressItem
	for _, v := range s.Volumes {
		if v.Scanning {
			d := fmt.Sprintf("%d files, %s so far", v.Files, humanBytes(v.Bytes))
			if v.LastScan.IsZero() {
				d = "initial scan: " + d
			} else if v.LastScanSeconds > 0 {
				d += fmt.Sprintf(" (last walk took %.1fs)", v.LastScanSeconds)
			}
			items = append(items, progressItem{kind: "scan", name: v.Name, frac: -1, detail: d})
		}
	}
	if s.Proxy != nil {
		for _, j := range s.Proxy.Running {
			it := progressItem{kind: "proxy", name: short(j.AssetID), frac: -1}
			if j.DurationUS > 0 {
				it.frac = min(float64(j.OutTimeUS)/float64(j.DurationUS), 1)
				it.detail = fmt.Sprintf("%s / %s", progUS(j.OutTimeUS), progUS(j.DurationUS))
			} else {
				it.detail = progUS(j.OutTimeUS)
			}
			if j.Speed > 0 {
				it.detail += fmt.Sprintf("  %.1fx", j.Speed)
			}
			it.detail += "  " + j.Lane + " " + j.Encoder
			items = append(items, it)
		}
	}
	if s.Cards != nil {
		for _, c := range s.Cards.Cards {
			for _, d := range c.Destinations {
				if d.State != wire.DestCopying && d.State != wire.DestVerifying {
					continue
				}
				it := progressItem{kind: "card", name: c.Label + " -> " + d.Volume, frac: -1}
				if d.BytesTotal > 0 {
					it.frac = min(float64(d.BytesDone)/float64(d.BytesTotal), 1)
				}
				it.detail = humanBytes(d.BytesDone) + " / " + humanBytes(d.BytesTotal) + "  " + d.State
				if d.RateBps > 0 {
					it.detail += "  " + humanBytes(int64(d.RateBps)) + "/s"
				}
				if d.ETASeconds > 0 {
					it.detail += "  ETA " + (time.Duration(d.ETASeconds) * time.Second).String()
				}
				items = append(items, it)
			}
		}
	}
	if s.Sync != nil && s.Sync.S3 != nil {
		for _, f := range s.Sync.S3.InFlight {
			it := progressItem{kind: "upload", name: f.Key, frac: -1, detail: humanBytes(f.Bytes)}
			if f.Total > 0 {
				it.frac = min(float64(f.Bytes)/float64(f.Total), 1)
				it.detail = humanBytes(f.Bytes) + " / " + humanBytes(f.Total)
			}
			if f.Rate > 0 {
				it.detail += "  " + humanBytes(int64(f.Rate)) + "/s"
			}
			items = append(items, it)
		}
	}
	return items
}

// printProgress writes the long work: bars when tty, else plain lines
// ("progress<TAB>proxy<TAB>ab12…<TAB>45%<TAB>detail").
func printProgress(w io.Writer, s wire.Status, tty bool, cols int) {
	items := statusProgress(s)
	var backlog *wire.S3Status
	if s.Sync != nil && s.Sync.S3 != nil && s.Sync.S3.BacklogObjects > 0 {
		backlog = s.Sync.S3
	}
	if len(items) == 0 && backlog == nil {
		return
	}
	fmt.Fprintln(w)
	for _, it := range items {
		pct := "-"
		if it.frac >= 0 {
			pct = fmt.Sprintf("%.0f%%", it.frac*100)
		}
		if !tty {
			fmt.Fprintf(w, "progress\t%s\t%s\t%s\t%s\n", it.kind, quote(it.name), pct, it.detail)
			continue
		}
		label := fmt.Sprintf("%-6s %s", it.kind, quote(it.name))
		width := max(10, min(40, cols-len(it.detail)-30))
		fmt.Fprintf(w, "%-28s %s %4s  %s\n", progTrim(label, 28), progBar(it.frac, width), pct, it.detail)
	}
	if backlog != nil {
		line := fmt.Sprintf("%d objects, %s in %d assets", backlog.BacklogObjects, humanBytes(backlog.BacklogBytes), backlog.BacklogAssets)
		if tty {
			fmt.Fprintf(w, "%-28s %s\n", "sync backlog", line)
		} else {
			fmt.Fprintf(w, "progress\tsync-backlog\t-\t-\t%s\n", line)
		}
	}
}
