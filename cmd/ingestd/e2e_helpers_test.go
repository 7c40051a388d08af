package main_test

// End-to-end tests of the real binary, in the manner of node_exporter's
// end-to-end-test.sh: build bin/ingestd once, run it against temp configs,
// and check what a hub or an operator would see (HTTP API, CLI, exit
// statuses, sd_notify datagrams).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/storage"
)

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ingestd-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "ingestd")
	args := []string{"build", "-ldflags", "-X github.com/ingestd/ingestd/daemon.Version=e2e-test", "-o", binPath}
	if raceBuild {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build ingestd:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one daemon's world: a config, a watch folder, a state dir.
type env struct {
	t        *testing.T // the running test or step (see step)
	root     *testing.T // the test that made the env: the daemon lives until it ends
	dir      string
	watch    string
	state    string
	cfgPath  string
	addr     string
	token    string
	proc     *exec.Cmd
	stderr   *syncBuffer
	exited   chan struct{}
	exitCode int
	extraEnv []string
	cwd      string // working directory of the daemon (default: the test's)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newEnv writes a config with one volume "footage". extra YAML lines are
// appended at the top level.
func newEnv(t *testing.T, token string, extra string) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, root: t, dir: dir, watch: filepath.Join(dir, "watch"), state: filepath.Join(dir, "state"), addr: freeAddr(t), token: token}
	if err := os.Mkdir(e.watch, 0o755); err != nil {
		t.Fatal(err)
	}
	apiYAML := "api:\n  listen: " + e.addr + "\n"
	if token != "" {
		tf := filepath.Join(dir, "token")
		if err := os.WriteFile(tf, []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		apiYAML += "  token_file: " + tf + "\n"
	}
	cfg := "state_dir: " + e.state + "\nsettle: 300ms\nrescan: 30s\nhash_workers: 2\n" + apiYAML +
		"volumes:\n  - name: footage\n    path: " + e.watch + "\n" + extra
	e.cfgPath = filepath.Join(dir, "ingestd.yaml")
	if err := os.WriteFile(e.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

// start runs `ingestd run -config` and waits for /healthz.
func (e *env) start() {
	e.t.Helper()
	e.stderr = &syncBuffer{}
	e.proc = exec.Command(binPath, "run", "-config", e.cfgPath)
	e.proc.Stderr = e.stderr
	e.proc.Env = append(os.Environ(), e.extraEnv...)
	e.proc.Dir = e.cwd
	if err := e.proc.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.exited = make(chan struct{})
	go func(p *exec.Cmd, done chan struct{}) {
		err := p.Wait()
		e.exitCode = p.ProcessState.ExitCode()
		_ = err
		close(done)
	}(e.proc, e.exited)
	// On the test that made the env, not a step: a daemon started in one
	// step serves the next.
	e.root.Cleanup(func() {
		select {
		case <-e.exited:
		default:
			e.proc.Process.Kill()
			<-e.exited
		}
		if strings.Contains(e.stderr.String(), "WARNING: DATA RACE") {
			e.t.Errorf("the daemon reported a data race")
		}
		if e.t.Failed() {
			e.t.Logf("daemon stderr:\n%s", e.stderr.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + e.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-e.exited:
			e.t.Fatalf("daemon exited with %d before /healthz answered:\n%s", e.exitCode, e.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("daemon did not answer /healthz:\n%s", e.stderr.String())
		}
	}
}

// step runs one named phase of a story test (one daemon, phases in order)
// as a subtest, the env's helpers reporting to it. A failed phase ends the
// story: the later ones build on what it made.
func (e *env) step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	outer := e.t
	ok := t.Run(name, func(t *testing.T) {
		e.t = t
		defer func() { e.t = outer }()
		f(t)
	})
	if !ok {
		t.FailNow()
	}
}

// stop sends SIGTERM and requires a clean exit 0.
func (e *env) stop() {
	e.t.Helper()
	if err := e.proc.Process.Signal(syscall.SIGTERM); err != nil {
		e.t.Fatal(err)
	}
	select {
	case <-e.exited:
	case <-time.After(60 * time.Second):
		e.t.Fatalf("daemon did not stop on SIGTERM:\n%s", e.stderr.String())
	}
	if e.exitCode != 0 {
		e.t.Fatalf("SIGTERM: exit status %d, want 0:\n%s", e.exitCode, e.stderr.String())
	}
}

// kill9 kills the daemon without any chance to clean up.
func (e *env) kill9() {
	e.t.Helper()
	e.proc.Process.Signal(syscall.SIGKILL)
	<-e.exited
}

func (e *env) client() *api.Client {
	return &api.Client{Base: "http://" + e.addr, Token: e.token}
}

// get does a raw GET with the env's token and returns status and body.
func (e *env) get(path string, token string) (int, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+e.addr+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

// cli runs a client subcommand against this env's daemon.
func (e *env) cli(args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	full := append([]string{args[0], "-config", e.cfgPath}, args[1:]...)
	return runBin(e.t, full...)
}

func runBin(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

// writeFile creates a file under the watch folder (parents included).
func (e *env) writeFile(rel string, data []byte) string {
	e.t.Helper()
	p := filepath.Join(e.watch, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// feedAll reads the whole feed from after=0 (no waiting).
func (e *env) feedAll() []storage.Event {
	e.t.Helper()
	var all []storage.Event
	var after uint64
	for {
		d, err := e.client().Feed(context.Background(), after, 1000, 0)
		if err != nil {
			e.t.Fatal(err)
		}
		all = append(all, d.Events...)
		if len(d.Events) == 0 {
			return all
		}
		after = d.Next
	}
}

// feedAllFrom is feedAll without its first n events.
func (e *env) feedAllFrom(n int) []storage.Event { return e.feedAll()[n:] }

// waitFeed long-polls the feed until cond holds on all events so far.
func (e *env) waitFeed(timeout time.Duration, what string, cond func([]storage.Event) bool) []storage.Event {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var all []storage.Event
	var after uint64
	for {
		if cond(all) {
			return all
		}
		d, err := e.client().Feed(ctx, after, 1000, 5*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				e.t.Fatalf("timed out waiting for %s; events so far:\n%s\ndaemon stderr:\n%s", what, dumpEvents(all), e.stderr.String())
			}
			e.t.Fatal(err)
		}
		for i, ev := range d.Events {
			if ev.Seq <= after || (i > 0 && ev.Seq <= d.Events[i-1].Seq) {
				e.t.Fatalf("feed not in strictly increasing seq order: %d after %d", ev.Seq, after)
			}
		}
		all = append(all, d.Events...)
		after = d.Next
	}
}

func dumpEvents(evs []storage.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		j, _ := json.Marshal(ev)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// countPaths counts events of type typ per path.
func countPaths(evs []storage.Event, typ string) map[string]int {
	m := map[string]int{}
	for _, ev := range evs {
		if ev.Type == typ {
			m[ev.Path]++
		}
	}
	return m
}

// hasPaths reports whether each path has at least one event of typ.
func hasPaths(typ string, paths ...string) func([]storage.Event) bool {
	return func(evs []storage.Event) bool {
		m := countPaths(evs, typ)
		for _, p := range paths {
			if m[p] == 0 {
				return false
			}
		}
		return true
	}
}

func newReq(method, url, token string) (*http.Request, error) {
	req, err := http.NewRequest(method, url, nil)
	if err == nil && token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req, err
}

func httpDo(req *http.Request) (int, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
