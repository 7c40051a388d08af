package s3push

import (
	"context"
	"fmt"
	"path"
	"time"

	"github.com/ingestd/ingestd/sync/hubstore"
)

// MaxClockSkew is the largest difference between our clock and the hub's
// that Check accepts (S3 refuses requests beyond 15 minutes).
const MaxClockSkew = hubstore.MaxClockSkew

// Check is the hub probe doctor runs too (hubstore.Probe): it puts, reads
// back and deletes a probe object under <prefix>/<appliance_id>/ through
// the pusher's store, and compares our clock with the store's.
func (p *Pusher) Check(ctx context.Context) error {
	r, err := hubstore.Probe(ctx, p.store, path.Join(p.cfg.Prefix, p.appID))
	if err != nil {
		return err
	}
	if r.Skew > MaxClockSkew || r.Skew < -MaxClockSkew {
		return fmt.Errorf("clock skew %s against %s exceeds %s: fix NTP", r.Skew.Round(time.Second), p.where, MaxClockSkew)
	}
	p.log.Info("hub check passed", "bucket", p.cfg.Bucket, "clock_skew", r.Skew.Round(time.Millisecond))
	return nil
}
