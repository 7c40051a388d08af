package main_test

// End-to-end tests of the operations features (owner: operations):
// /metrics behind the token, backup while running and restore offline,
// doctor's exit status, status progress on a pty and through a pipe, and
// that no secret ever reaches the log.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/storage"
)

// metricValue finds `name{labels} value` in a text exposition.
func metricValue(body, series string) (string, bool) {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

func TestMetricsEndpoint(t *testing.T) {
	e := newEnv(t, "metrics-token-1", "")
	e.start()
	code, _ := e.get("/metrics", "")
	if code != http.StatusUnauthorized {
		t.Fatalf("/metrics without the token: %d, want 401", code)
	}
	code, body := e.get("/metrics", e.token)
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	if v, _ := metricValue(string(body), "ingestd_ingest_hashed_bytes_total"); v != "0" {
		t.Fatalf("hashed bytes before any file: %q", v)
	}
	data := bytes.Repeat([]byte("m"), 100_000)
	e.writeFile("clip.mov", data)
	e.waitFeed(60*time.Second, "clip cataloged", hasPaths(storage.EvLocationAdded, "clip.mov"))
	_, body = e.get("/metrics", e.token)
	s := string(body)
	for series, want := range map[string]string{
		"ingestd_ingest_hashed_bytes_total":                    "100000",
		"ingestd_ingest_files_hashed_total":                    "1",
		`ingestd_volume_online{volume="footage"}`:              "1",
		`ingestd_volume_files{volume="footage"}`:               "1",
		`ingestd_build_info{version="e2e-test"}`:               "1",
		`ingestd_queue_depth{stage="settling"}`:                "0",
		`ingestd_proxy_jobs_total{lane="gpu",result="failed"}`: "0",
	} {
		if got, ok := metricValue(s, series); !ok || got != want {
			t.Errorf("%s = %q (present %v), want %q", series, got, ok, want)
		}
	}
	// A real clip: its proxy job is counted by result and lane.
	ffmpeg := testenv.Need(t, "ffmpeg")
	src := filepath.Join(e.dir, "real.mp4")
	if b, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", src).CombinedOutput(); err != nil {
		t.Fatalf("make clip: %v %s", err, b)
	}
	os.Rename(src, filepath.Join(e.watch, "real.mp4"))
	e.waitFeed(120*time.Second, "proxy.ready", func(evs []storage.Event) bool {
		for _, ev := range evs {
			if ev.Type == storage.EvProxyReady {
				return true
			}
		}
		return false
	})
	// The job's counter is bumped when the job returns, just after its
	// proxy.ready is committed: give it a moment rather than racing it.
	var got string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, body = e.get("/metrics", e.token)
		s = string(body)
		if got, _ = metricValue(s, `ingestd_proxy_jobs_total{lane="cpu",result="ready"}`); got == "1" || time.Now().After(deadline) {
			break
		}
	}
	if got != "1" {
		t.Errorf(`proxy_jobs_total{lane="cpu",result="ready"} = %q after one proxy, want 1`, got)
	}
	// The real daemon's exposition, proxy series included, follows the
	// Prometheus naming conventions (promtool check metrics' rules).
	problems, err := promlint.New(strings.NewReader(s)).Lint()
	if err != nil {
		t.Fatalf("lint /metrics: %v", err)
	}
	for _, p := range problems {
		t.Errorf("/metrics: %s: %s", p.Metric, p.Text)
	}
	for _, name := range []string{"# TYPE ingestd_ingest_hashed_bytes_total counter", `ingestd_catalog_size_bytes{part="vlog"}`, "go_goroutines", "process_cpu_seconds_total", `ingestd_queue_depth{stage="proxy_queued"}`} {
		if !strings.Contains(s, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

// TestBackupRestore: backup through the API while the daemon runs, restore
// offline into an empty state dir, and the restored daemon serves the same
// assets and events.
func TestBackupRestore(t *testing.T) {
	e := newEnv(t, "backup-token", "")
	e.start()
	for i, name := range []string{"a.mov", "b/c.wav", "b/d.jpg"} {
		e.writeFile(name, bytes.Repeat([]byte{byte('a' + i)}, 5000*(i+1)))
	}
	e.waitFeed(60*time.Second, "3 files", hasPaths(storage.EvLocationAdded, "a.mov", "b/c.wav", "b/d.jpg"))
	before := e.feedAll()
	ctx := context.Background()
	assetsBefore, err := e.client().Assets(ctx, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	bak := filepath.Join(e.dir, "catalog.bak")
	// Without the token: refused, and no file appears.
	if _, stderr, code := runBin(t, "backup", "-api", "http://"+e.addr, bak); code != 1 || !strings.Contains(stderr, "401") {
		t.Fatalf("backup without token: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(bak); err == nil {
		t.Fatal("a refused backup left a file")
	}
	out, stderr, code := e.cli("backup", bak)
	if code != 0 {
		t.Fatalf("backup: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "written to "+bak) {
		t.Errorf("backup output %q", out)
	}
	fi, err := os.Stat(bak)
	if err != nil || fi.Size() == 0 {
		t.Fatalf("backup file: %v", err)
	}
	// The daemon kept running: a new file is still ingested.
	e.writeFile("after-backup.mov", []byte("later"))
	e.waitFeed(60*time.Second, "file after backup", hasPaths(storage.EvLocationAdded, "after-backup.mov"))
	e.stop()

	// Restore refuses a non-empty state dir (the old one).
	if _, stderr, code := runBin(t, "restore", "-config", e.cfgPath, bak); code != 1 || !strings.Contains(stderr, "not empty") {
		t.Fatalf("restore into the used state dir: exit %d, %s", code, stderr)
	}
	// Into a fresh state dir: a second env with the same volume.
	r := newEnv(t, "backup-token", "")
	cfg, _ := os.ReadFile(r.cfgPath)
	os.WriteFile(r.cfgPath, []byte(strings.ReplaceAll(string(cfg), r.watch, e.watch)), 0o644)
	r.watch = e.watch
	out, stderr, code = runBin(t, "restore", "-config", r.cfgPath, bak)
	if code != 0 {
		t.Fatalf("restore: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "restored into") {
		t.Errorf("restore output %q", out)
	}
	r.start()
	assetsAfter, err := r.client().Assets(ctx, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(d any) []string {
		b, _ := json.Marshal(d)
		var doc struct {
			Assets []struct {
				ID string `json:"id"`
			} `json:"assets"`
		}
		json.Unmarshal(b, &doc)
		var out []string
		for _, a := range doc.Assets {
			out = append(out, a.ID)
		}
		sort.Strings(out)
		return out
	}
	got, want := ids(assetsAfter), ids(assetsBefore)
	// The restored catalog holds everything up to the backup (3 assets);
	// after-backup.mov is found again by the reconcile walk.
	for _, id := range want {
		if !slices.Contains(got, id) {
			t.Errorf("asset %s missing after restore (have %v)", id, got)
		}
	}
	after := r.feedAll()
	if len(after) < len(before) {
		t.Fatalf("restored feed has %d events, before backup %d", len(after), len(before))
	}
	for i, ev := range before {
		if after[i].Seq != ev.Seq || after[i].Type != ev.Type || after[i].Path != ev.Path {
			t.Fatalf("event %d differs after restore: %+v vs %+v", i, after[i], ev)
		}
	}
	r.waitFeed(60*time.Second, "after-backup.mov found by the restored daemon", hasPaths(storage.EvLocationAdded, "after-backup.mov"))
	r.stop()
}

// TestDoctorExitStatus: exit 0 on a healthy config, 1 when ffmpeg is
// missing, and JSON for scripts. The doctor runs beside a running daemon
// (whose catalog is locked) without trouble.
func TestDoctorExitStatus(t *testing.T) {
	testenv.Need(t, "ffmpeg")
	e := newEnv(t, "", "")
	e.start()
	out, stderr, code := runBin(t, "doctor", "-config", e.cfgPath)
	if code != 0 {
		t.Fatalf("doctor on a healthy config: exit %d\n%s\n%s", code, out, stderr)
	}
	pid := strconv.Itoa(e.proc.Process.Pid)
	for _, want := range []string{"OK    ffmpeg", "OK    libx264", "OK    volume footage", "OK    state dir", "held by a running daemon (pid " + pid + ")"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
	bad := filepath.Join(e.dir, "bad.yaml")
	cfg, _ := os.ReadFile(e.cfgPath)
	os.WriteFile(bad, append(cfg, []byte("ffmpeg: /nonexistent/ffmpeg\n")...), 0o644)
	out, _, code = runBin(t, "doctor", "-config", bad, "--json")
	if code != 1 {
		t.Fatalf("doctor with a missing ffmpeg: exit %d, want 1\n%s", code, out)
	}
	var rep struct {
		OK       bool `json:"ok"`
		Findings []struct{ Check, Level, Message, Fix string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, out)
	}
	found := false
	for _, f := range rep.Findings {
		if f.Check == "ffmpeg" && f.Level == "FAIL" && f.Fix != "" {
			found = true
		}
	}
	if rep.OK || !found {
		t.Errorf("doctor --json: ok=%v, ffmpeg FAIL with fix %v\n%s", rep.OK, found, out)
	}
}

// TestStatusProgressTTYAndPipe: a long proxy job shows as a progress bar
// on a terminal (via script(1)) and as a plain line through a pipe.
func TestStatusProgressTTYAndPipe(t *testing.T) {
	ffmpeg := testenv.Need(t, "ffmpeg")
	script := testenv.Need(t, "script")
	e := newEnv(t, "", "")
	e.start()
	// A clip long enough that its proxy job is seen running.
	src := filepath.Join(e.dir, "long.mp4")
	gen := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25",
		"-t", "40", "-c:v", "libx264", "-preset", "ultrafast", "-g", "250", src)
	if b, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("make clip: %v %s", err, b)
	}
	if err := os.Rename(src, filepath.Join(e.watch, "long.mp4")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(120 * time.Second)
	var plain string
	for {
		out, _, code := e.cli("status")
		if code != 0 {
			t.Fatalf("status: exit %d", code)
		}
		if strings.Contains(out, "progress\tproxy\t") {
			plain = out
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no proxy progress line within 120s; last status:\n%s\n%s", out, e.stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if strings.Contains(plain, "[#") || strings.Contains(plain, "[.") {
		t.Errorf("piped status has bars:\n%s", plain)
	}
	// The same on a pseudo-terminal: a bar, no plain progress lines.
	cmdline := binPath + " status -config " + e.cfgPath
	var tty string
	for time.Now().Before(deadline) {
		b, err := exec.Command(script, "-qefc", cmdline, "/dev/null").Output()
		if err != nil {
			t.Fatalf("script: %v", err)
		}
		tty = string(b)
		if strings.Contains(tty, "proxy ") && strings.Contains(tty, "%") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(tty, "] ") || !strings.Contains(tty, "proxy ") || strings.Contains(tty, "progress\t") {
		t.Errorf("status on a terminal shows no progress bar:\n%s", tty)
	}
}

// TestNoSecretsInLogs runs the daemon at debug level with an API token, S3
// credentials in the environment (against an endpoint that rejects them)
// and a webhook token, exercises every path that logs, and greps stderr.
func TestNoSecretsInLogs(t *testing.T) {
	const (
		apiToken  = "api-tok-9f8e7d6c5b4a"
		s3Key     = "AKIAEXAMPLEKEY12345"
		s3Secret  = "s3-secret-Zx9Yw8Vu7Ts6"
		hookToken = "hook-tok-1a2b3c4d5e6f"
		urlPass   = "url-pass-0o9i8u7y" // a signature in the webhook URL's query (user info is refused by validation)
	)
	var hookAuth atomic.Value
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hookAuth.CompareAndSwap(nil, r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusUnauthorized) // a 4xx parks the batch, with the answer logged
		w.Write([]byte(`{"error":"bad token"}`))
	}))
	defer hub.Close()
	s3srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code><Message>The access key ID you provided does not exist.</Message></Error>`))
	}))
	defer s3srv.Close()
	dir := t.TempDir()
	hookFile := filepath.Join(dir, "hub-token")
	os.WriteFile(hookFile, []byte(hookToken+"\n"), 0o600)
	extra := "log:\n  level: debug\nhub:\n  s3:\n    endpoint: " + s3srv.URL + "\n    region: us-east-1\n    bucket: hub\n    path_style: true\n" +
		"  webhook:\n    url: " + hub.URL + "/events?sig=" + urlPass + "\n    token_file: " + hookFile + "\n"
	e := newEnv(t, apiToken, extra)
	e.extraEnv = []string{"AWS_ACCESS_KEY_ID=" + s3Key, "AWS_SECRET_ACCESS_KEY=" + s3Secret, "AWS_EC2_METADATA_DISABLED=true"}
	e.start()
	e.writeFile("clip.mov", []byte("some bytes"))
	e.waitFeed(60*time.Second, "clip", hasPaths(storage.EvLocationAdded, "clip.mov"))
	// Wrong and right tokens on the API, a scrape, a backup.
	e.get("/v1/status", "wrong-token")
	e.get("/metrics", apiToken)
	e.cli("backup", filepath.Join(dir, "b.bak"))
	deadline := time.Now().Add(30 * time.Second)
	for hookAuth.Load() == nil && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got, _ := hookAuth.Load().(string); got != "Bearer "+hookToken {
		t.Fatalf("the webhook was not tried with its token: %q", got)
	}
	// Wait for the pusher to fail against the rejecting endpoint (the
	// error path is where a careless log would print credentials).
	for !strings.Contains(e.stderr.String(), "credentials rejected") {
		if time.Now().After(deadline) {
			t.Fatalf("the pusher never reported the rejected credentials:\n%s", e.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.stop()
	logs := e.stderr.String()
	if os.Getenv("INGESTD_TEST_LOG") != "" {
		t.Logf("daemon log:\n%s", logs)
	}
	for name, secret := range map[string]string{"API token": apiToken, "S3 secret key": s3Secret, "webhook token": hookToken, "webhook URL signature": urlPass} {
		if strings.Contains(logs, secret) {
			t.Errorf("the %s appears in the daemon log", name)
		}
	}
	// journald-friendly: one record per line with level and component.
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if !strings.Contains(line, "level=") || !strings.Contains(line, "component=") {
			t.Errorf("log line without level or component: %s", line)
		}
	}
	for _, want := range []string{"level=DEBUG", "component=ingest", "path=clip.mov", "component=webhook"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// TestStatusWatch: `status -watch` repeats until interrupted; piped, one
// block per interval.
func TestStatusWatch(t *testing.T) {
	e := newEnv(t, "", "")
	e.start()
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "status", "-config", e.cfgPath, "-watch", "300ms")
	out, _ := cmd.Output() // killed by the timeout
	if n := strings.Count(string(out), "VOLUME\tSTATE") + strings.Count(string(out), "VOLUME  "); n < 3 {
		t.Fatalf("status -watch printed %d blocks in 2.5s, want >= 3:\n%s", n, out)
	}
	if strings.Contains(string(out), "\x1b[") {
		t.Error("piped status -watch writes terminal escapes")
	}
	if _, stderr, code := e.cli("status", "-watch", "nope"); code != 64 || !strings.Contains(stderr, "-watch") {
		t.Errorf("bad -watch: exit %d %s", code, stderr)
	}
}

// TestFullStateDirAtStart: a daemon (re)started while its state_dir's
// filesystem is full does not open the catalog: it exits 1 with one line
// naming the path, the free bytes and the floor. Before, Badger replayed
// its memory-mapped WAL into pages a full tmpfs cannot back and the daemon
// died of SIGBUS (a Go fault trace, exit 2) on every systemd restart. Once
// space returns the same catalog opens with every event.
func TestFullStateDirAtStart(t *testing.T) {
	e := newEnv(t, "", "disk:\n  min_free: 8MiB\nproxy:\n  enabled: false\n")
	secrMountTmpfs(t, e.state, "64m")
	e.start()
	for i := range 20 {
		e.writeFile("clip"+strconv.Itoa(i)+".mov", bytes.Repeat([]byte{byte(i)}, 10_000))
	}
	before := e.waitFeed(60*time.Second, "20 files cataloged", func(evs []storage.Event) bool {
		n := 0
		for _, ev := range evs {
			if ev.Type == storage.EvLocationAdded {
				n++
			}
		}
		return n == 20
	})
	e.stop()

	filler := secrFill(t, e.state, "filler", 0) // as full as the daemon's user sees it
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, binPath, "run", "-config", e.cfgPath)
	cmd.Stderr = &stderr
	_ = cmd.Run()
	errOut := stderr.String()
	if ctx.Err() != nil || cmd.ProcessState.ExitCode() != 1 || !strings.Contains(errOut, "ingestd: state_dir "+e.state+": ") || !strings.Contains(errOut, "below the 8388608 needed to open the catalog") ||
		strings.Contains(errOut, "SIGBUS") || strings.Contains(errOut, "fatal error") || strings.Contains(errOut, "goroutine ") {
		t.Fatalf("start on a full state_dir: exit %d, want 1 and one line naming the path and the floor\n%s", cmd.ProcessState.ExitCode(), errOut)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	e.start()
	after := e.waitFeed(60*time.Second, "the same events after space returned", func(evs []storage.Event) bool { return len(evs) >= len(before) })
	for i := range before {
		if after[i].Seq != before[i].Seq || after[i].Type != before[i].Type {
			t.Fatalf("event %d: %+v after the restart, was %+v", i, after[i], before[i])
		}
	}
	e.stop()
}

// TestStateDirFillsWhileRunning: another writer fills the state_dir's
// filesystem faster than the disk guard looks (every 5 s) while files
// arrive: the daemon does not die of SIGBUS under Badger's mapped files
// (the catalog refuses the commits with a clear error below its reserve),
// and once space is back every file is cataloged, each once.
func TestStateDirFillsWhileRunning(t *testing.T) {
	e := newEnv(t, "", "disk:\n  min_free: 8MiB\nproxy:\n  enabled: false\n")
	secrMountTmpfs(t, e.state, "100m")
	e.start()
	e.writeFile("first.mov", bytes.Repeat([]byte{1}, 10_000))
	e.waitFeed(60*time.Second, "first file cataloged", hasPaths(storage.EvLocationAdded, "first.mov"))
	filler := secrFill(t, e.state, "filler", 0)
	for i := range 20 {
		e.writeFile("full"+strconv.Itoa(i)+".mov", bytes.Repeat([]byte{byte(i)}, 10_000))
	}
	time.Sleep(4 * time.Second) // settle, hash, commits refused
	select {
	case <-e.exited:
		t.Fatalf("the daemon died on a full state_dir (exit %d):\n%s", e.exitCode, e.stderr.String())
	default:
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	evs := e.waitFeed(60*time.Second, "every file cataloged once space is back", func(evs []storage.Event) bool {
		n := 0
		for _, ev := range evs {
			if ev.Type == storage.EvLocationAdded {
				n++
			}
		}
		return n >= 21
	})
	seen := map[string]int{}
	for _, ev := range evs {
		if ev.Type == storage.EvLocationAdded {
			seen[ev.Path]++
		}
	}
	for p, n := range seen {
		if n != 1 {
			t.Errorf("%s cataloged %d times", p, n)
		}
	}
	if !strings.Contains(e.stderr.String(), "filesystem nearly full") {
		t.Errorf("no log line says why the files waited:\n%s", e.stderr.String())
	}
	// Stopping on a full state_dir: a clean exit (no fault in Badger's
	// close), and the next start has every event.
	filler = secrFill(t, e.state, "filler", 0)
	e.stop()
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.waitFeed(60*time.Second, "the same events after the restart", func(after []storage.Event) bool {
		return len(after) > len(evs) && after[len(evs)-1].Seq == evs[len(evs)-1].Seq
	})
	e.stop()
}

// TestStopDuringHungReload: a SIGHUP whose config check blocks on a hung
// mount (a stat of a volume on a stopped FUSE server, as on a dead NFS
// server) must not hold up SIGTERM: the daemon says "stopping" at once and
// exits cleanly once the mount answers. Before, the reload ran in the
// signal loop and the stop waited behind it (under systemd: SIGKILL after
// TimeoutStopSec, the catalog not closed).
func TestStopDuringHungReload(t *testing.T) {
	mnt, fuse := testutil.MountBindfs(t) // SIGSTOP: the mount hangs; no kernel cache: every stat reaches the (stopped) server
	e := newEnv(t, "", "  - name: nas\n    path: "+mnt+"\n")
	e.start()

	if err := fuse.Signal(syscall.SIGSTOP); err != nil { // the mount hangs
		t.Fatal(err)
	}
	if err := e.proc.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if strings.Contains(e.stderr.String(), "config reloaded") {
		t.Fatalf("the reload did not block on the hung mount; the test proves nothing:\n%s", e.stderr.String())
	}
	if err := e.proc.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopping := false
	for deadline := time.Now().Add(10 * time.Second); !stopping && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		stopping = strings.Contains(e.stderr.String(), "msg=stopping component=daemon signal=terminated")
	}
	fuse.Signal(syscall.SIGCONT)
	if !stopping {
		t.Fatalf("SIGTERM not handled within 10s while a reload hung:\n%s", e.stderr.String())
	}
	select {
	case <-e.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("daemon did not exit after the mount answered:\n%s", e.stderr.String())
	}
	if e.exitCode != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0:\n%s", e.exitCode, e.stderr.String())
	}
}

// TestBackupDuringIngest: a backup taken while files are being hashed and
// cataloged is one consistent point in time. Restored into a fresh state
// dir it opens; its feed is gapless (seq 1..N) and every location.added
// names an asset the restored catalog has; and the restored daemon then
// catalogs the rest by its reconcile walk, each file once.
func TestBackupDuringIngest(t *testing.T) {
	e := newEnv(t, "backup-token", "proxy:\n  enabled: false\n")
	e.start()
	// Files keep arriving (a copy to the NAS under way) while the backup
	// is taken once some are cataloged.
	const n = 400
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		for i := range n {
			p := filepath.Join(e.watch, fmt.Sprintf("d%02d", i%20), fmt.Sprintf("f%03d.bin", i))
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, bytes.Repeat([]byte{byte(i), byte(i >> 8)}, 2000+i), 0o644)
			time.Sleep(10 * time.Millisecond)
		}
	}()
	e.waitFeed(60*time.Second, "ingest under way", func(evs []storage.Event) bool { return countType(evs, storage.EvLocationAdded) >= 20 })
	bak := filepath.Join(e.dir, "mid.bak")
	if _, stderr, code := e.cli("backup", bak); code != 0 {
		t.Fatalf("backup during ingest: exit %d: %s", code, stderr)
	}
	<-wrote
	e.waitFeed(120*time.Second, "all files", func(evs []storage.Event) bool { return countType(evs, storage.EvLocationAdded) >= n })
	e.stop()

	r := newEnv(t, "backup-token", "proxy:\n  enabled: false\n")
	cfg, _ := os.ReadFile(r.cfgPath)
	os.WriteFile(r.cfgPath, []byte(strings.ReplaceAll(string(cfg), r.watch, e.watch)), 0o644)
	r.watch = e.watch
	if _, stderr, code := runBin(t, "restore", "-config", r.cfgPath, bak); code != 0 {
		t.Fatalf("restore: exit %d: %s", code, stderr)
	}
	r.start()
	restored := r.feedAll()
	// What the backup held ends at the restored daemon's appliance.started
	// (its walk may already have cataloged more by now).
	cut := 0
	for i := len(restored) - 1; i > 0; i-- {
		if restored[i].Type == storage.EvApplianceStarted {
			cut = i
			break
		}
	}
	if cut == 0 {
		t.Fatalf("no appliance.started of the restored daemon in its feed: %+v", restored)
	}
	ctx := context.Background()
	added := map[string]bool{}
	for i, ev := range restored {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("restored feed: event %d has seq %d (a gap or a reorder)", i, ev.Seq)
		}
		if ev.Type == storage.EvLocationAdded && i < cut {
			added[ev.Path] = true
			if _, err := r.client().Asset(ctx, ev.AssetID); err != nil {
				t.Errorf("restored feed seq %d: location.added %s names asset %s, which the restored catalog lacks: %v", ev.Seq, ev.Path, ev.AssetID, err)
			}
		}
	}
	if len(added) < 20 || len(added) >= n {
		t.Fatalf("the backup holds %d cataloged files, want at least the 20 seen before it and fewer than all %d (taken mid-ingest)", len(added), n)
	}
	t.Logf("backup taken with %d of %d files cataloged", len(added), n)
	// The rest is found by the restored daemon's walk, each file once.
	final := r.waitFeed(120*time.Second, "every file cataloged after restore", func(evs []storage.Event) bool {
		paths := map[string]bool{}
		for _, ev := range evs {
			if ev.Type == storage.EvLocationAdded {
				paths[ev.Path] = true
			}
		}
		return len(paths) == n
	})
	seen := map[string]int{}
	for _, ev := range final {
		switch ev.Type {
		case storage.EvLocationAdded:
			seen[ev.Path]++
		case storage.EvLocationRemoved:
			t.Errorf("restored daemon removed %s (seq %d)", ev.Path, ev.Seq)
		}
	}
	for p, c := range seen {
		if c != 1 {
			t.Errorf("%s added %d times", p, c)
		}
	}
	r.stop()
}

// countType counts events of type typ.
func countType(evs []storage.Event, typ string) int {
	c := 0
	for _, ev := range evs {
		if ev.Type == typ {
			c++
		}
	}
	return c
}
