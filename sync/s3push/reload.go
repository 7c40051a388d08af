package s3push

import (
	"context"
	"fmt"

	"github.com/ingestd/ingestd/sync/hubstore"
)

// startWorkersLocked brings the asset workers up to n (never down: the
// slots bound the requests, an idle worker costs nothing). p.mu is held.
func (p *Pusher) startWorkersLocked(n int) {
	if p.runCtx == nil || p.runCtx.Err() != nil {
		return
	}
	for ; p.workers < n; p.workers++ {
		p.runWG.Add(1)
		go func(ctx context.Context) { defer p.runWG.Done(); p.worker(ctx) }(p.runCtx)
	}
}

// RestartKeys names the hub.s3 keys that differ between old and nu and
// that Reload cannot apply (they take effect after a restart).
func RestartKeys(old, nu Config) []string {
	var ks []string
	add := func(c bool, k string) {
		if c {
			ks = append(ks, "hub.s3."+k)
		}
	}
	add(old.Endpoint != nu.Endpoint, "endpoint")
	add(old.Region != nu.Region, "region")
	add(old.Bucket != nu.Bucket, "bucket")
	add(old.Prefix != nu.Prefix, "prefix")
	add(old.PathStyle != nu.PathStyle, "path_style")
	add(old.PartSize != nu.PartSize, "part_size")
	add(old.MultipartThreshold != nu.MultipartThreshold, "multipart_threshold")
	add(old.RetryMin != nu.RetryMin, "retry_min")
	add(old.RetryMax != nu.RetryMax, "retry_max")
	add(old.Timeout != nu.Timeout, "timeout")
	add(old.StallTimeout != nu.StallTimeout, "stall_timeout")
	return ks
}

// Reload applies the live keys of cfg: the bandwidth schedule (at once,
// uploads in flight included), concurrency (in-flight requests finish; a
// smaller value holds back new ones until fewer are running). The keys RestartKeys names keep their running values. An invalid
// cfg is rejected and nothing changes.
func (p *Pusher) Reload(cfg Config) error {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	sched, err := hubstore.ParseSchedule(cfg.Bandwidth)
	if err != nil {
		return err
	}
	p.lim.SetSchedule(sched)
	p.slots.Resize(cfg.Concurrency)
	p.mu.Lock()
	old := p.cfg
	p.cfg.Concurrency, p.cfg.Bandwidth = cfg.Concurrency, cfg.Bandwidth
	p.startWorkersLocked(cfg.Concurrency)
	p.mu.Unlock()
	if old.Concurrency != cfg.Concurrency || fmt.Sprint(old.Bandwidth) != fmt.Sprint(cfg.Bandwidth) {
		p.log.Info("limits reloaded", "concurrency", cfg.Concurrency, "rate_limit", hubstore.RateString(p.lim.Rate()))
	}
	return nil
}
