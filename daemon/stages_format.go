package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// printStageStatus writes the proxy and sync sections of `ingestd status`
// (human form), e.g.
//
//	proxy    queued 2    running 1    done ready 120, failed 2    lanes cpu 1/1 (0 queued)
//	  job    ab12…  cpu  libx264  34% (41.0s of 120.0s)  3.1x
//	sync s3  backlog 3 assets, 9 objects, 15.6 MiB  last success …  rate limit unlimited
//
// The sections arrive as decoded JSON (any); they are re-decoded into the
// typed status so that the CLI and the API agree on the field names.
func printStageStatus(w io.Writer, proxy, sync any, now time.Time) {
	if proxy != nil {
		var p ProxyStatus
		if redecode(proxy, &p) == nil {
			printProxyStatus(w, p)
		}
	}
	if sync != nil {
		var s SyncStatus
		if redecode(sync, &s) == nil {
			printSyncStatus(w, s, now)
		}
	}
}

func redecode(v any, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func printProxyStatus(w io.Writer, p ProxyStatus) {
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

func printSyncStatus(w io.Writer, s SyncStatus, now time.Time) {
	if c := s.S3; c != nil {
		fmt.Fprintf(w, "sync s3\ts3://%s/%s\tbacklog %d assets, %d objects, %s\tsynced %d (%s uploaded)\trate limit %s\n",
			c.Bucket, c.Prefix, c.BacklogAssets, c.BacklogObjects, HumanBytes(c.BacklogBytes),
			c.AssetsSynced, HumanBytes(c.BytesUploaded), c.RateLimit)
		fmt.Fprintf(w, "  s3\tlast success %s\n", humanTime(c.LastSuccess))
		for _, f := range c.InFlight {
			fmt.Fprintf(w, "  upload\t%s\t%s of %s\t%s/s\n", quote(f.Key), HumanBytes(f.Bytes), HumanBytes(f.Total), HumanBytes(int64(f.Rate)))
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

// short abbreviates an asset id for tables.
func short(id string) string {
	if len(id) > 12 {
		return id[:12] + "…"
	}
	return id
}
