package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/storage"
)

// reloadLimits is what /v1/status shows of the live-reloadable limits.
type reloadLimits struct {
	CPUSlots    int
	RateBytes   float64
	Concurrency int
}

func (e *env) limits() reloadLimits {
	e.t.Helper()
	code, body := e.get("/v1/status", "")
	if code != 200 {
		e.t.Fatalf("/v1/status: %d %s", code, body)
	}
	var doc struct {
		Proxy struct {
			Lanes []struct {
				Name  string `json:"name"`
				Slots int    `json:"slots"`
			} `json:"lanes"`
		} `json:"proxy"`
		Sync struct {
			S3 struct {
				RateLimitBytes float64 `json:"rate_limit_bytes"`
				Concurrency    int     `json:"concurrency"`
			} `json:"s3"`
		} `json:"sync"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		e.t.Fatalf("/v1/status: %v", err)
	}
	l := reloadLimits{RateBytes: doc.Sync.S3.RateLimitBytes, Concurrency: doc.Sync.S3.Concurrency}
	for _, ln := range doc.Proxy.Lanes {
		if ln.Name == "cpu" {
			l.CPUSlots = ln.Slots
		}
	}
	return l
}

func (e *env) waitLimits(what string, want reloadLimits) {
	e.t.Helper()
	var got reloadLimits
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got = e.limits(); got == want {
			return
		}
	}
	e.t.Fatalf("%s: status shows %+v, want %+v", what, got, want)
}

func reloadYAML(cpuJobs int, rate string, conc int) string {
	return fmt.Sprintf("proxy:\n  gpu: off\n  cpu_jobs: %d\nhub:\n  s3:\n    endpoint: http://127.0.0.1:1\n    bucket: reload-hub\n"+
		"    path_style: true\n    concurrency: %d\n    bandwidth:\n      - {from: \"00:00\", to: \"00:00\", rate: %q}\n", cpuJobs, conc, rate)
}

// TestReloadLimits: SIGHUP applies proxy.cpu_jobs and hub.s3 bandwidth and
// concurrency in the running daemon (same process, no second
// appliance.started); an invalid config on SIGHUP keeps the old values.
func TestReloadLimits(t *testing.T) {
	testenv.Need(t, "ffmpeg")
	e := newEnv(t, "", reloadYAML(1, "1MiB/s", 2))
	e.start()
	pid := e.proc.Process.Pid
	e.waitLimits("at start", reloadLimits{CPUSlots: 1, RateBytes: 1 << 20, Concurrency: 2})
	base, err := os.ReadFile(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	head := string(base[:strings.Index(string(base), "proxy:")])
	rejected := func() int { return strings.Count(e.stderr.String(), "reload rejected") }

	if err := os.WriteFile(e.cfgPath, []byte(head+reloadYAML(3, "5MiB/s", 6)), 0o644); err != nil {
		t.Fatal(err)
	}
	e.proc.Process.Signal(syscall.SIGHUP)
	want := reloadLimits{CPUSlots: 3, RateBytes: 5 << 20, Concurrency: 6}
	e.waitLimits("after SIGHUP", want)
	if strings.Contains(e.stderr.String(), "takes effect after a restart") {
		t.Errorf("live keys logged as restart-only:\n%s", e.stderr.String())
	}

	// Invalid (hub.s3.concurrency above 64): nothing of it is applied, not
	// even the valid cpu_jobs and bandwidth changes.
	if err := os.WriteFile(e.cfgPath, []byte(head+reloadYAML(1, "2MiB/s", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	e.proc.Process.Signal(syscall.SIGHUP)
	for deadline := time.Now().Add(30 * time.Second); rejected() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("invalid reload not rejected:\n%s", e.stderr.String())
		}
	}
	if got := e.limits(); got != want {
		t.Errorf("after a rejected reload: %+v, want the old %+v", got, want)
	}

	select {
	case <-e.exited:
		t.Fatalf("daemon exited (%d)", e.exitCode)
	default:
	}
	if e.proc.Process.Pid != pid {
		t.Errorf("pid changed")
	}
	n := 0
	for _, ev := range e.feedAll() {
		if ev.Type == storage.EvApplianceStarted {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d appliance.started events, want 1 (no restart)", n)
	}
	e.stop()
}
