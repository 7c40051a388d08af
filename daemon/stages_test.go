package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/sync/s3push"
	"github.com/ingestd/ingestd/sync/webhook"
	"github.com/ingestd/ingestd/transcode"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func serviceNames(a *App) map[string]Service {
	m := map[string]Service{}
	for _, s := range a.services {
		m[s.Name] = s
	}
	return m
}

func statusJSON(t *testing.T, a *App) map[string]json.RawMessage {
	t.Helper()
	b, err := json.Marshal(a.statusDoc(context.Background()).(wire.Status))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestStagesWired: transcode always, s3push and webhook when configured
// (restarted on error: hub outages are transient), with their sections.
func TestStagesWired(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, tc := range []struct {
		name     string
		s3, hook bool
	}{{"no hub", false, false}, {"s3 only", true, false}, {"s3 and webhook", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t)
			if tc.s3 {
				c.Hub.S3 = &s3push.Config{Endpoint: "http://127.0.0.1:1", Bucket: "studio-hub", Prefix: "edge"}
				c.Hub.S3.SetDefaults()
			}
			if tc.hook {
				c.Hub.Webhook = &webhook.Config{URL: "http://127.0.0.1:1/events"}
				c.Hub.Webhook.SetDefaults()
			}
			a := New(c, quiet)
			if err := a.Provision(); err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			svcs := serviceNames(a)
			if _, ok := svcs["transcode"]; !ok {
				t.Error("no transcode service")
			}
			if s, ok := svcs["s3push"]; ok != tc.s3 || (ok && !s.Restart) {
				t.Errorf("s3push service present=%v restart=%v, want present=%v restart=true", ok, s.Restart, tc.s3)
			}
			if s, ok := svcs["webhook"]; ok != tc.hook || (ok && !s.Restart) {
				t.Errorf("webhook service present=%v restart=%v, want present=%v restart=true", ok, s.Restart, tc.hook)
			}
			st := statusJSON(t, a)
			var ps wire.ProxyStatus
			if err := json.Unmarshal(st["proxy"], &ps); err != nil || !ps.Enabled || ps.Error != "" {
				t.Errorf("proxy section %s (%v)", st["proxy"], err)
			}
			raw, hasSync := st["sync"]
			if hasSync != tc.s3 {
				t.Fatalf("sync section present=%v, want %v: %s", hasSync, tc.s3, raw)
			}
			if hasSync {
				var ss wire.SyncStatus
				if err := json.Unmarshal(raw, &ss); err != nil || ss.S3 == nil || ss.S3.Bucket != "studio-hub" || (ss.Webhook != nil) != tc.hook {
					t.Errorf("sync section %s (%v)", raw, err)
				}
			}
		})
	}
}

// TestStagesWithoutFFmpeg: without ffmpeg/ffprobe the daemon still starts
// (ingest and catalog go on); the proxy section says why there are no proxies.
func TestStagesWithoutFFmpeg(t *testing.T) {
	c := testConfig(t)
	t.Setenv("PATH", t.TempDir())
	c.FFmpeg, c.FFprobe = "", ""
	a := New(c, quiet)
	if err := a.Provision(); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, ok := serviceNames(a)["transcode"]; ok {
		t.Error("transcode service added without ffmpeg")
	}
	var ps wire.ProxyStatus
	if err := json.Unmarshal(statusJSON(t, a)["proxy"], &ps); err != nil || ps.Enabled || !strings.Contains(ps.Error, "not found") {
		t.Errorf("proxy section %+v (%v), want disabled with the error", ps, err)
	}
}

// TestReloadStagesNeedRestart: proxy limits and output settings are live;
// proxy.gpu, hub.webhook (and the other restart-only keys) are logged and
// keep their running values.
func TestReloadStagesNeedRestart(t *testing.T) {
	a, c, logs := provisionLogged(t)
	nc := *c
	nc.Proxy.CPUJobs = 3
	nc.Proxy.MaxHeight = 480
	nc.Proxy.GPU = transcode.GPURequire
	nc.Hub.Webhook = &webhook.Config{URL: "http://127.0.0.1:1/events"}
	if err := a.Reload(&nc); err != nil {
		t.Fatal(err)
	}
	got := a.Config().Proxy
	if got.CPUJobs != 3 || got.MaxHeight != 480 || a.st.transcode.Status().Lanes[0].Slots != 3 {
		t.Errorf("reload did not apply live proxy keys: %+v", got)
	}
	if got.GPU != c.Proxy.GPU || a.Config().Hub.Webhook != nil {
		t.Errorf("reload applied restart-only keys: gpu %q webhook %+v", got.GPU, a.Config().Hub.Webhook)
	}
	for _, k := range []string{"key=proxy.gpu", "key=hub.webhook"} {
		if !strings.Contains(logs.String(), k) {
			t.Errorf("reload did not log %s:\n%s", k, logs.String())
		}
	}
	if strings.Contains(logs.String(), "key=proxy ") {
		t.Errorf("live proxy keys logged as restart-only:\n%s", logs.String())
	}
}

// provisionLogged provisions an App on testConfig whose log is captured;
// it needs the transcode stage (ffmpeg).
func provisionLogged(t *testing.T) (*App, *config.Config, *lockedBuf) {
	t.Helper()
	c := testConfig(t)
	logs := &lockedBuf{}
	a := New(c, slog.New(slog.NewTextHandler(logs, nil)))
	if err := a.Provision(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if a.st.transcode == nil {
		testenv.SkipOrFail(t, "no ffmpeg: transcode stage not running")
	}
	return a, c, logs
}
