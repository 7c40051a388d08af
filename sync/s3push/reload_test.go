package s3push

import (
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testutil"
)

func TestRestartKeys(t *testing.T) {
	a := Config{Bucket: "b", Concurrency: 4}
	b := a
	b.Concurrency, b.Bandwidth = 8, []Window{{From: "00:00", To: "00:00", Rate: "1MiB/s"}}
	if ks := RestartKeys(a, b); len(ks) != 0 {
		t.Fatalf("live keys reported as restart keys: %v", ks)
	}
	b.Bucket, b.PartSize = "c", 6<<20
	if ks := RestartKeys(a, b); len(ks) != 2 || ks[0] != "hub.s3.bucket" || ks[1] != "hub.s3.part_size" {
		t.Fatalf("restart keys %v", ks)
	}
}

// Reload against a running pusher (MinIO): limits change in Status, an
// invalid config changes nothing, and an upload still completes after the
// concurrency is lowered and raised.
func TestPusherReload(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.Concurrency = 1
	cfg.Bandwidth = []Window{{From: "00:00", To: "00:00", Rate: "2MiB/s"}}
	p := e.pusher(cfg)
	testutil.Start(t, "pusher", p.Run)
	if st := p.Status(); st.Concurrency != 1 || st.RateLimitBytes != 2<<20 {
		t.Fatalf("before: %+v", st)
	}
	nc := cfg
	nc.Concurrency = 6
	nc.Bandwidth = []Window{{From: "00:00", To: "00:00", Rate: "50MiB/s"}}
	if err := p.Reload(nc); err != nil {
		t.Fatal(err)
	}
	if st := p.Status(); st.Concurrency != 6 || st.RateLimitBytes != 50<<20 {
		t.Fatalf("after: concurrency %d rate %v", st.Concurrency, st.RateLimitBytes)
	}
	bad := nc
	bad.Concurrency = 1000
	if err := p.Reload(bad); err == nil {
		t.Fatal("invalid concurrency accepted")
	}
	bad = nc
	bad.Bandwidth = []Window{{From: "25:00", To: "00:00", Rate: "1MiB/s"}}
	if err := p.Reload(bad); err == nil {
		t.Fatal("invalid bandwidth accepted")
	}
	if st := p.Status(); st.Concurrency != 6 || st.RateLimitBytes != 50<<20 {
		t.Fatalf("after rejected reloads: concurrency %d rate %v", st.Concurrency, st.RateLimitBytes)
	}
	since := time.Now()
	id := e.asset("reload/a.mov", map[string][]byte{"proxy.mp4": randBytes(3<<20, 7)})
	testutil.WaitFor(t, 30*time.Second, "asset synced after reload", func() bool { return e.synced(id, since) })
}

// An upload in flight speeds up when a reload lifts the bandwidth limit:
// at 512 KiB/s the 8 MiB object would take 16 s.
func TestReloadBandwidthInFlight(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.Bandwidth = []Window{{From: "00:00", To: "00:00", Rate: "512KiB/s"}}
	p := e.pusher(cfg)
	testutil.Start(t, "pusher", p.Run)
	since := time.Now()
	id := e.asset("reload/big.mov", map[string][]byte{"proxy.mp4": randBytes(8<<20, 9)})
	testutil.WaitFor(t, 30*time.Second, "upload in flight", func() bool {
		for _, f := range p.Status().InFlight {
			if f.Total == 8<<20 && f.Bytes > 0 {
				return true
			}
		}
		return false
	})
	t0 := time.Now()
	var before int64
	for _, f := range p.Status().InFlight {
		before = max(before, f.Bytes)
	}
	nc := cfg
	nc.Bandwidth = nil
	if err := p.Reload(nc); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "proxy uploaded", func() bool {
		st := p.Status()
		return st.BytesUploaded >= 8<<20 && len(st.InFlight) == 0 && st.BacklogAssets == 0
	})
	el := time.Since(t0)
	if !e.synced(id, since) {
		t.Error("asset not synced")
	}
	t.Logf("in flight at reload (%v after the asset): %d of %d bytes; rest took %v after the limit was lifted; limiter granted %d", t0.Sub(since), before, 8<<20, el, p.Limiter().Granted())
	if el > 8*time.Second {
		t.Errorf("upload took %v after the limit was lifted: the in-flight upload kept the old rate", el)
	}
}
