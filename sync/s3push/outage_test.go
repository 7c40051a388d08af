package s3push

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/miniotest"
	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/internal/testutil/catalogtest"
)

// outageFor is how long MinIO stays down in TestOutage: 30 s as the issue
// asks; INGESTD_OUTAGE (a Go duration) shortens it for quick local runs.
func outageFor(t *testing.T) time.Duration {
	if s := os.Getenv("INGESTD_OUTAGE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("INGESTD_OUTAGE: %v", err)
		}
		return d
	}
	return 30 * time.Second
}

// MinIO stopped, then restarted: the backlog built meanwhile drains by
// itself, nothing is lost, and the pusher backs off instead of looping.
func TestOutage(t *testing.T) {
	outage := outageFor(t)
	e := newEnv(t)
	cnt := countRequests(t)
	cfg := e.config()
	cfg.RetryMin, cfg.RetryMax = 200*time.Millisecond, 2*time.Second
	p := e.pusher(cfg)
	testutil.Start(t, "pusher", p.Run)

	t0 := time.Now()
	first := e.asset("day1/C001.mov", map[string][]byte{"proxy.mp4": randBytes(300000, 11)})
	testutil.WaitFor(t, 30*time.Second, "first asset synced", func() bool {
		return e.synced(first, t0) && e.pushed(first, "proxy.mp4") && p.Status().BacklogAssets == 0
	})

	e.srv.Stop()
	down := time.Now()
	before := cnt.get("total")
	outs := map[string]map[string][]byte{}
	for i, path := range []string{"day1/C002.mov", "day1/C003.mov", "day1/C004.mov"} {
		o := map[string][]byte{"proxy.mp4": randBytes(200000+i*5<<20, uint64(20+i)), "poster.jpg": randBytes(9000, uint64(30+i))}
		outs[e.asset(path, o)] = o
	}
	testutil.WaitFor(t, 30*time.Second, "the outage reported in status", func() bool {
		s := p.Status()
		// Every failed attempt is reported at once (watchAttempts), maybe
		// before the last proxy-ready event reached the backlog estimate.
		return s.LastError != "" && s.LastErrorAt.After(down) && s.BacklogAssets == 3 && s.BacklogObjects == 3*3
	})
	s := p.Status()
	if !strings.Contains(s.LastError, "hub unreachable at "+e.srv.Endpoint) {
		t.Errorf("last_error %q does not say the hub is unreachable", s.LastError)
	}
	if s.BacklogObjects != 3*3 || s.BacklogBytes < 10<<20 {
		t.Errorf("backlog during outage: %d objects, %d bytes; want 9 objects, > 10 MiB", s.BacklogObjects, s.BacklogBytes)
	}
	if !s.LastSuccess.Before(down) {
		t.Errorf("last success %s is after the outage began %s", s.LastSuccess, down)
	}
	t.Logf("status during outage: backlog %d assets / %d objects / %d bytes, last error %q", s.BacklogAssets, s.BacklogObjects, s.BacklogBytes, s.LastError)
	time.Sleep(time.Until(down.Add(outage)))
	attempts := cnt.get("total") - before
	// Backoff reaches RetryMax (2 s, jittered down to 1 s) after a few
	// rounds; each round is at most a few requests (the SDK's own 3
	// attempts). A busy loop makes thousands.
	if limit := 10 + 4*int(outage/time.Second); attempts > limit {
		t.Errorf("%d requests during a %s outage (limit %d): no backoff?", attempts, outage, limit)
	}
	t.Logf("%d requests during the %s outage", attempts, outage)

	if err := e.srv.Start(); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	testutil.WaitFor(t, 60*time.Second, "backlog drained after recovery", func() bool {
		for id, o := range outs {
			if !e.pushed(id, names(o)...) {
				return false
			}
		}
		return p.Status().BacklogAssets == 0
	})
	t.Logf("backlog drained %s after MinIO came back", time.Since(up).Round(time.Millisecond))
	c := e.srv.Client()
	for id, o := range outs {
		for name, b := range o {
			got, _ := getObject(t, c, keyFor(id, name))
			equalBytes(t, keyFor(id, name), got, b)
		}
		getObject(t, c, keyFor(id, "asset.json"))
	}
	if s := p.Status(); !s.LastSuccess.After(up) {
		t.Errorf("last success %s not after recovery %s", s.LastSuccess, up)
	}
}

// Bad credentials and a missing bucket are reported clearly in Status and
// by Check, and the pusher neither exits nor loops.
func TestHubErrors(t *testing.T) {
	srv := miniotest.Start(t)
	srv.CreateBucket(t, testBucket)
	for _, tc := range []struct {
		name    string
		secret  string
		bucket  string
		want    error
		wantMsg string
	}{
		{"bad credentials", "wrong-secret", testBucket, ErrAuth, "credentials rejected"},
		{"unknown key id", "", testBucket, ErrAuth, "credentials rejected"},
		{"missing bucket", miniotest.SecretKey, "no-such-bucket", ErrNoBucket, `"no-such-bucket": bucket does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.SetEnv(t)
			if tc.secret == "" {
				t.Setenv("AWS_ACCESS_KEY_ID", "nobody")
			} else {
				t.Setenv("AWS_SECRET_ACCESS_KEY", tc.secret)
			}
			e := &env{t: t, srv: srv, stateDir: t.TempDir()}
			e.catDir = e.stateDir + "/catalog"
			e.cat = catalogtest.Open(t, e.catDir)
			defer e.cat.Close()
			cnt := countRequests(t)
			cfg := e.config()
			cfg.Bucket = tc.bucket
			cfg.RetryMin, cfg.RetryMax = 200*time.Millisecond, time.Second
			p := e.pusher(cfg)

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := p.Check(ctx)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("Check: %v; want %v mentioning %q", err, tc.want, tc.wantMsg)
			}

			e.asset("x/C001.mov", map[string][]byte{"proxy.mp4": randBytes(1000, 1)})
			runCtx, stopRun := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.Run(runCtx) }()
			testutil.WaitFor(t, 20*time.Second, "error in status", func() bool { return p.Status().LastError != "" })
			n0 := cnt.get("total")
			time.Sleep(4 * time.Second)
			select {
			case err := <-done:
				t.Fatalf("Run ended on a hub error: %v", err)
			default:
			}
			s := p.Status()
			if !strings.Contains(s.LastError, tc.wantMsg) {
				t.Errorf("status last_error %q does not mention %q", s.LastError, tc.wantMsg)
			}
			if s.BacklogAssets != 1 {
				t.Errorf("backlog %d, want 1 (kept for later)", s.BacklogAssets)
			}
			if n := cnt.get("total") - n0; n > 30 {
				t.Errorf("%d requests in 4 s: crash or busy loop", n)
			}
			if strings.Contains(s.LastError, miniotest.SecretKey) || strings.Contains(s.LastError, "wrong-secret") {
				t.Errorf("a secret leaked into status: %q", s.LastError)
			}
			stopRun()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
}

// Check passes against a healthy hub and leaves no probe behind.
func TestCheck(t *testing.T) {
	e := newEnv(t)
	p := e.pusher(e.config())
	if err := p.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if keys := listKeys(t, e.srv.Client()); len(keys) != 0 {
		t.Errorf("probe objects left: %q", keys)
	}
}
