package main_test

// Issue 10, items 5 and 6: what ingestd reads (a file swapped for a FIFO or
// a link between settle and hash, a read stuck on a hung mount, a FIFO met
// by `ingestd verify`) and a state dir or offload volume running out of
// space.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/daemon/ingest"
	"github.com/ingestd/ingestd/storage"
)

// secrGate drives the binary's test-only hash gate (ingest.HashGateEnv).
type secrGate struct {
	t   *testing.T
	dir string
}

func secrNewGate(t *testing.T, e *env) *secrGate {
	g := &secrGate{t: t, dir: filepath.Join(e.dir, "gate")}
	if err := os.MkdirAll(g.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(g.dir, "hold-all"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e.extraEnv = append(e.extraEnv, ingest.HashGateEnv+"="+g.dir)
	return g
}

func (g *secrGate) name(rel string) string {
	return filepath.Join(g.dir, "footage%"+strings.ReplaceAll(rel, "/", "%"))
}

// waitSettled waits until a hash worker holds rel (it settled and is about
// to be opened).
func (g *secrGate) waitSettled(rel string) {
	g.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(g.name(rel) + ".settled"); err == nil {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("%s never reached a hash worker", rel)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (g *secrGate) mark(rel, what string) {
	g.t.Helper()
	if err := os.WriteFile(g.name(rel)+"."+what, nil, 0o644); err != nil {
		g.t.Fatal(err)
	}
}

// release lets every file through from now on.
func (g *secrGate) releaseAll() {
	os.Remove(filepath.Join(g.dir, "hold-all"))
}

// secrLocations returns the paths that got a location.added.
func secrLocations(evs []storage.Event) map[string]bool {
	m := map[string]bool{}
	for _, ev := range evs {
		if ev.Type == storage.EvLocationAdded {
			m[ev.Path] = true
		}
	}
	return m
}

// Item 5: files that settle and are then swapped (rename over them) for a
// FIFO and for a link to /dev/zero right before they are hashed. The
// daemon neither wedges nor reads the FIFO or /dev/zero; other files
// still ingest; a read stuck for good (a hung NFS server, injected) does
// not keep SIGTERM from exiting within the stop grace.
func TestSecurity5SwapBeforeHash(t *testing.T) {
	e := newEnv(t, "", "")
	g := secrNewGate(t, e)
	e.start()

	e.writeFile("a/fifo.mov", []byte("settled bytes, then a fifo"))
	e.writeFile("a/zero.mov", []byte("settled bytes, then /dev/zero"))
	g.waitSettled("a/fifo.mov")
	g.waitSettled("a/zero.mov")
	// Both hash workers are held on the settled files: swap them now.
	fifo := filepath.Join(e.watch, "a/fifo.mov")
	if err := unix.Mkfifo(fifo+".tmp", 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(fifo+".tmp", fifo); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(e.watch, "a/zero.mov")
	if err := os.Symlink("/dev/zero", zero+".tmp"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(zero+".tmp", zero); err != nil {
		t.Fatal(err)
	}
	g.mark("a/fifo.mov", "go")
	g.mark("a/zero.mov", "go")

	// Other files still ingest (the workers did not wedge).
	g.releaseAll()
	e.writeFile("b/after.mov", []byte("ingested after the swap"))
	e.waitFeed(60*time.Second, "b/after.mov cataloged", hasPaths(storage.EvLocationAdded, "b/after.mov"))

	st, err := e.client().Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	locs := secrLocations(e.feedAll())
	if locs["a/fifo.mov"] || locs["a/zero.mov"] {
		t.Fatalf("a swapped-in FIFO or link was cataloged: %v", locs)
	}
	// Nothing was read from /dev/zero or the FIFO: only the real files' bytes.
	if st.Ingest.BytesHashed > 1<<10 {
		t.Fatalf("hashed %d bytes: something was read past the real files", st.Ingest.BytesHashed)
	}
	for _, rel := range []string{"a/fifo.mov", "a/zero.mov"} {
		if !strings.Contains(e.stderr.String(), "not a regular file any more; skipped, not read") ||
			!strings.Contains(e.stderr.String(), "path="+rel) {
			t.Fatalf("no clear log line for the swapped %s:\n%s", rel, e.stderr.String())
		}
	}

	// A read stuck for good: the stop must not wait for it.
	e.writeFile("c/hung.mov", []byte("on a hung NFS server"))
	if err := os.WriteFile(filepath.Join(g.dir, "hold-all"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	g.mark("c/hung.mov", "hang")
	e.writeFile("c/hung2.mov", []byte("also on the hung server"))
	g.mark("c/hung2.mov", "hang")
	g.waitSettled("c/hung2.mov")
	t0 := time.Now()
	if err := e.proc.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	limit := ingest.DefaultStopGrace + 10*time.Second
	select {
	case <-e.exited:
	case <-time.After(limit):
		t.Fatalf("SIGTERM: still running after %s with a read stuck", limit)
	}
	t.Logf("stopped %s after SIGTERM with a stuck read", time.Since(t0).Round(time.Millisecond))
	if e.exitCode != 0 {
		t.Fatalf("exit status %d after SIGTERM", e.exitCode)
	}
	if !strings.Contains(e.stderr.String(), "abandoned") {
		t.Fatalf("no log of the abandoned read:\n%s", e.stderr.String())
	}
}

// secrSetKey rewrites a top-level key of the env's config (newEnv writes
// settle/rescan itself; a duplicate key is a strict-decode error).
func secrSetKey(t *testing.T, e *env, old, nu string) {
	t.Helper()
	b, err := os.ReadFile(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("config has no %q", old)
	}
	if err := os.WriteFile(e.cfgPath, []byte(strings.Replace(string(b), old, nu, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Item 5: `ingestd verify` over a volume whose cataloged masters were
// replaced (rename over them, no rescan since) by a FIFO and by a link to
// /dev/zero neither hangs nor reads them: it reports both as replaced and
// exits non-zero; the intact master verifies.
func TestSecurity5VerifyFIFO(t *testing.T) {
	e := newEnv(t, "", "")
	secrSetKey(t, e, "rescan: 30s", "rescan: 1h") // no walk removes them before the check
	e.start()
	e.writeFile("ok.mov", []byte("intact master"))
	e.writeFile("fifo.mov", []byte("master that becomes a fifo"))
	e.writeFile("zero.mov", []byte("master that becomes a link"))
	e.waitFeed(60*time.Second, "masters cataloged", hasPaths(storage.EvLocationAdded, "ok.mov", "fifo.mov", "zero.mov"))
	fifo := filepath.Join(e.watch, "fifo.mov")
	if err := unix.Mkfifo(fifo+".tmp", 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(fifo+".tmp", fifo); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(e.watch, "zero.mov")
	if err := os.Symlink("/dev/zero", zero+".tmp"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(zero+".tmp", zero); err != nil {
		t.Fatal(err)
	}
	type res struct {
		out, errs string
		code      int
	}
	done := make(chan res, 1)
	go func() {
		o, s, c := e.cli("verify", "--json")
		done <- res{o, s, c}
	}()
	var r res
	select {
	case r = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("ingestd verify hung on a FIFO")
	}
	seen := map[string]string{}
	var sum struct{ Files, OK, Missing int }
	for _, ln := range strings.Split(strings.TrimSpace(r.out), "\n") {
		var l struct {
			Type, Path, Detail string
			Files, OK, Missing int
		}
		if json.Unmarshal([]byte(ln), &l) != nil {
			continue
		}
		if l.Path != "" && l.Type != "progress" && l.Type != "start" {
			seen[l.Path] = l.Type + ": " + l.Detail
		}
		if l.Type == "done" {
			sum.Files, sum.OK, sum.Missing = l.Files, l.OK, l.Missing
		}
	}
	if sum.Files != 3 || sum.OK != 1 || sum.Missing != 2 {
		t.Fatalf("verify summary %+v, want 3 files, 1 ok, 2 missing:\n%s\n%s", sum, r.out, r.errs)
	}
	for rel, kind := range map[string]string{"fifo.mov": "fifo", "zero.mov": "symlink"} {
		if s := seen[rel]; !strings.Contains(s, "missing: replaced by a "+kind) {
			t.Errorf("%s: %q, want missing: replaced by a %s", rel, s, kind)
		}
	}
	if r.code == 0 {
		t.Errorf("verify exited 0 with replaced masters")
	}
	e.stop()
}
