package s3push

import (
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil"
)

// Concurrent uploads share one limit: every byte sent passes through the
// shared limiter, several uploads are in flight at once, and together they
// take at least as long as the limit allows.
func TestBandwidthAcrossConcurrentUploads(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.Bandwidth = []Window{{From: "00:00", To: "00:00", Rate: "4MiB/s"}}
	const n, size = 3, 6 << 20 // below the multipart threshold: 3 PUTs at once
	ids := make([]string, n)
	var total int64
	for i := range ids {
		ids[i] = e.asset("bw/C00"+string(rune('1'+i))+".mov", nil)
	}
	cnt := countRequests(t)
	p := e.pusher(cfg)
	stop := testutil.Start(t, "pusher", p.Run)
	testutil.WaitFor(t, 30*time.Second, "asset.json of the new assets", func() bool {
		for _, id := range ids {
			if !e.synced(id, time.Time{}) {
				return false
			}
		}
		return p.Status().BacklogAssets == 0
	})
	base := p.Limiter().Granted()
	t0 := time.Now()
	for i, id := range ids {
		e.ready(id, map[string][]byte{"proxy.mp4": randBytes(size, uint64(100+i))})
		total += size
	}
	maxInFlight := 0
	testutil.WaitFor(t, 60*time.Second, "uploads done", func() bool {
		s := p.Status()
		maxInFlight = max(maxInFlight, len(s.InFlight))
		if len(s.InFlight) > 0 && s.RateLimitBytes != 4<<20 {
			t.Fatalf("status rate limit %v", s.RateLimitBytes)
		}
		for _, id := range ids {
			if !e.synced(id, t0) {
				return false
			}
		}
		return true
	})
	el := time.Since(t0)
	stop()
	t.Logf("ops %s", cnt)
	granted := p.Limiter().Granted() - base
	// asset.json documents (a few KiB each) also pass the limiter.
	if granted < total || granted > total+int64(n)*64<<10 {
		t.Errorf("limiter let through %d bytes for %d bytes of proxies", granted, total)
	}
	if maxInFlight < 2 {
		t.Errorf("at most %d upload in flight: uploads were not concurrent", maxInFlight)
	}
	minTime := time.Duration(float64(total-int64(p.Limiter().Burst())) / (4 << 20) * float64(time.Second))
	if el < minTime*9/10 {
		t.Errorf("%d bytes at 4 MiB/s took %s, faster than the limit allows (%s)", total, el, minTime)
	}
	t.Logf("%d MiB in %s with %d uploads in flight (limit 4 MiB/s)", total>>20, el.Round(time.Millisecond), maxInFlight)
}
