package daemon

import (
	"context"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/daemon/cards"
	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/daemon/doctor"
	"github.com/ingestd/ingestd/daemon/metrics"
	"github.com/ingestd/ingestd/sync/webhook"
	"github.com/ingestd/ingestd/transcode"
)

// TestStagesRegistered: every stage of the pipeline is registered once,
// in dependency order (transcode before the stages that use it, the disk
// guard before cards).
func TestStagesRegistered(t *testing.T) {
	want := []string{"ingest", "transcode", "sequences", "analysis", "s3", "webhook", "disk", "cards", "console"}
	if got := Stages(); !slices.Equal(got, want) {
		t.Fatalf("registered stages %v, want %v", got, want)
	}
	defer func() {
		if recover() == nil {
			t.Error("a second registration of a name did not panic")
		}
	}()
	registerStage(Stage{Name: "ingest"})
}

// withStage registers s for the test only.
func withStage(t *testing.T, s Stage) {
	t.Helper()
	saved := slices.Clone(registry)
	registerStage(s)
	t.Cleanup(func() { registry = saved })
}

// TestRegisteredStageIsWired is the contract of a registration: a stage
// added in one place gets its service supervised, its route served behind
// the API's auth, its public route served (GET only), its status hook, its metrics, its doctor check and its
// reload (with its keys in the report), without any other edit.
func TestRegisteredStageIsWired(t *testing.T) {
	desc := metrics.NewDesc("test_stage_items", "Items of the test stage.")
	var statusCalls, reloads int
	withStage(t, Stage{
		Name:  "probe",
		Order: orderCards + 1,
		Provision: func(a *App) (*Parts, error) {
			return &Parts{
				Services: []Service{{Name: "probe", Run: func(ctx context.Context) error { <-ctx.Done(); return nil }, Restart: true}},
				Routes: []Route{{"/v1/probe", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					api.WriteJSON(w, http.StatusOK, map[string]string{"probe": "ok"})
				})}},
				Public: []Route{{"/probe/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					io.WriteString(w, "static page")
				})}},
				Status: func(*wire.Status) { statusCalls++ },
				Metrics: []metrics.Part{{Descs: []*prometheus.Desc{desc}, Collect: func(emit metrics.Emit) {
					emit(desc, prometheus.GaugeValue, 42)
				}}},
				Reload: func(old, nu *config.Config, r *ReloadReport) error {
					reloads++
					if old.HashWorkers != nu.HashWorkers {
						r.Apply("probe.workers")
					}
					return nil
				},
			}, nil
		},
		Doctor: func(ctx context.Context, cfg *config.Config, opts doctor.Options) []doctor.Finding {
			return []doctor.Finding{{Check: "probe", Level: doctor.OK, Message: "probe stage checked"}}
		},
	})
	c := testConfig(t)
	a := New(c, quiet)
	if err := a.Provision(); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if s, ok := serviceNames(a)["probe"]; !ok || !s.Restart {
		t.Errorf("probe service %+v present=%v, want present with Restart", s, ok)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.API().Serve(ctx, a.ln) }()
	defer func() { cancel(); <-served }()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + a.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/v1/probe"); code != 200 || !strings.Contains(body, `"probe":"ok"`) {
		t.Errorf("GET /v1/probe: %d %s", code, body)
	}
	if code, body := get("/probe/x.html"); code != 200 || body != "static page" {
		t.Errorf("GET /probe/x.html (public route): %d %s", code, body)
	}
	post, _ := http.NewRequest(http.MethodPost, "http://"+a.Addr().String()+"/probe/x.html", nil)
	post.Header.Set(api.RequestHeader, "1")
	if resp, err := http.DefaultClient.Do(post); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST to a public route: %d, want 405 (GET and HEAD only)", resp.StatusCode)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "ingestd_test_stage_items 42") {
		t.Errorf("/metrics lacks the stage's series: %d\n%s", code, body)
	}
	statusJSON(t, a)
	if statusCalls != 1 {
		t.Errorf("status hook called %d times for one /v1/status, want 1", statusCalls)
	}
	nc := *c
	nc.HashWorkers = c.HashWorkers + 1
	r, err := a.ReloadConfig(&nc)
	if err != nil {
		t.Fatal(err)
	}
	if reloads != 1 || !slices.Contains(r.Applied, "probe.workers") {
		t.Errorf("reload: %d calls, report %+v; want 1 call and probe.workers applied", reloads, r)
	}
	rep := Doctor(context.Background(), c, doctor.Options{MinFreeBytes: 1})
	found := false
	for _, f := range rep.Findings {
		found = found || f.Check == "probe"
	}
	if !found {
		t.Errorf("doctor did not run the stage's check: %+v", rep.Findings)
	}
}

// TestReloadReport: one SIGHUP's report names, per key, what each stage
// applied live and what needs a restart, and the running config keeps
// the restart-only values.
func TestReloadReport(t *testing.T) {
	a, c, logs := provisionLogged(t)
	nc := *c
	nc.Settle = config.Duration(2 * c.Settle.D())
	nc.Proxy.CPUJobs = c.Proxy.CPUJobs + 2
	nc.Proxy.GPU = transcode.GPURequire
	nc.Disk.MinFree = "1MiB"
	nc.Hub.Webhook = &webhook.Config{URL: "http://127.0.0.1:1/events"}
	nc.API.Listen = "127.0.0.1:1"
	f := false
	nc.Sequences.Enabled = &f
	r, err := a.ReloadConfig(&nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"settle", "proxy.cpu_jobs", "disk.min_free"} {
		if !slices.Contains(r.Applied, k) {
			t.Errorf("%s not reported applied: %+v", k, r)
		}
	}
	for _, k := range []string{"proxy.gpu", "hub.webhook", "api", "sequences"} {
		if !slices.Contains(r.Restart, k) {
			t.Errorf("%s not reported restart-only: %+v", k, r)
		}
		if !strings.Contains(logs.String(), "key="+k+"\n") && !strings.Contains(logs.String(), "key="+k+" ") {
			t.Errorf("restart-only %s not logged:\n%s", k, logs.String())
		}
	}
	for _, k := range r.Applied {
		if slices.Contains(r.Restart, k) {
			t.Errorf("%s reported both applied and restart-only", k)
		}
	}
	got := a.Config()
	if got.Settle != nc.Settle || got.Proxy.CPUJobs != nc.Proxy.CPUJobs || got.Disk.MinFree != "1MiB" {
		t.Errorf("live keys not in the running config: %+v", got)
	}
	if got.Proxy.GPU != c.Proxy.GPU || got.Hub.Webhook != nil || got.API != c.API || *got.Sequences.Enabled != *c.Sequences.Enabled {
		t.Errorf("restart-only keys changed the running config: gpu %q webhook %+v api %+v", got.Proxy.GPU, got.Hub.Webhook, got.API)
	}
	if !strings.Contains(logs.String(), "config reloaded") {
		t.Errorf("no 'config reloaded' line:\n%s", logs.String())
	}
	// The same config again: nothing changed, nothing reported.
	r, err = a.ReloadConfig(got)
	if err != nil || len(r.Applied)+len(r.Restart) != 0 {
		t.Errorf("an unchanged reload reported %+v (%v)", r, err)
	}
}

// TestChangedKeys names fields by their YAML key.
func TestChangedKeys(t *testing.T) {
	a := transcode.Config{CPUJobs: 1, Preset: "fast"}
	b := a
	b.CPUJobs, b.MaxHeight = 2, 720
	if got := changedKeys("proxy", a, b); !slices.Equal(got, []string{"proxy.max_height", "proxy.cpu_jobs"}) {
		t.Errorf("changedKeys = %v", got)
	}
	if got := changedKeys("proxy", a, a); len(got) != 0 {
		t.Errorf("no change: %v", got)
	}
	var none *webhook.Config
	if got := changedKeys("hub.webhook", none, &webhook.Config{URL: "x"}); !slices.Equal(got, []string{"hub.webhook"}) {
		t.Errorf("added section: %v", got)
	}
	if got := changedKeys("settle", config.Duration(1), config.Duration(2)); !slices.Equal(got, []string{"settle"}) {
		t.Errorf("scalar: %v", got)
	}
}

// TestArchitectureExample: the registration docs/architecture.md shows as
// the worked example is the real one, verbatim.
func TestArchitectureExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "## Adding a stage")
	_, rest, ok2 := strings.Cut(rest, "```go\n")
	block, _, ok3 := strings.Cut(rest, "```")
	if !ok || !ok2 || !ok3 || len(block) < 200 {
		t.Fatal("docs/architecture.md: no go block under '## Adding a stage'")
	}
	src, err := os.ReadFile("stage_webhook.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), block) {
		t.Error("the example in docs/architecture.md differs from daemon/stage_webhook.go: copy the registration again")
	}
}

// TestReloadKeepsCardDestinationsGuarded: cards: is restart-only, so a
// reload that adds it neither starts offloads nor changes what the disk
// guard treats as a card destination (floor), while disk.min_free is live.
func TestReloadKeepsCardDestinationsGuarded(t *testing.T) {
	a, c, _ := provisionLogged(t)
	names := func() map[string]bool {
		m := map[string]bool{}
		for _, p := range a.st.disk.Status().Paths {
			m[p.Name] = true
		}
		return m
	}
	if before := names(); !before[diskVolumePrefix+"footage"] || before[diskOffloadPrefix+"footage"] {
		t.Fatalf("guarded paths at start: %v", before)
	}
	nc := *c
	nc.Cards = &cards.Config{OffloadTo: "footage"}
	r, err := a.ReloadConfig(&nc)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(r.Restart, "cards") || a.Config().Cards != nil {
		t.Errorf("cards: not restart-only: %+v, running %+v", r, a.Config().Cards)
	}
	if after := names(); after[diskOffloadPrefix+"footage"] || !after[diskVolumePrefix+"footage"] {
		t.Errorf("a restart-only cards: section changed the guarded paths: %v", after)
	}
}
