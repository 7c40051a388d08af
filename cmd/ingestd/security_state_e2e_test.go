package main_test

// Issue 10, items 2, 6 (exit codes), 11 and 14: the state dir and the
// service's limits. Each test runs the real binary.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/internal/testutil"
	"github.com/ingestd/ingestd/storage"
)

// stateRunRefused runs `ingestd run` on e's config, which must exit on its
// own (a refused catalog) within a minute, and returns stderr and status.
func stateRunRefused(t *testing.T, e *env) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "run", "-config", e.cfgPath)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("ingestd run did not exit on a damaged catalog (it started on it):\n%s", errb.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return errb.String(), cmd.ProcessState.ExitCode()
}

func stateStatus(t *testing.T, e *env) api.Status {
	t.Helper()
	st, err := e.client().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func stateTables(dir string) int {
	m, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	return len(m)
}

// TestSecurity2CatalogIdentity: a catalog that lost its MANIFEST, had it cut
// short, or lost its whole directory must not start as a new, empty
// catalog (new appliance id, feed back at seq 1, hub cursors silently
// skipping): `ingestd run` exits 65 naming the mismatch and changes
// nothing; a restored backup comes back with the same ids and the feed
// continues; reset-catalog gives a new catalog id, keeps the appliance id
// and says what the hub must do.
func TestSecurity2CatalogIdentity(t *testing.T) {
	e := newEnv(t, "", "")
	e.start()
	files := []string{"a.mov", "day 1/b.mov", "day 1/c.wav"}
	for i, f := range files {
		e.writeFile(f, []byte(fmt.Sprintf("media %d %s", i, strings.Repeat("x", 4096*(i+1)))))
	}
	e.waitFeed(60*time.Second, "3 files cataloged", hasPaths(storage.EvLocationAdded, files...))
	st := stateStatus(t, e)
	if st.CatalogID == "" || len(st.CatalogID) != 32 || st.ApplianceID == "" {
		t.Fatalf("/v1/status: catalog_id %q appliance_id %q", st.CatalogID, st.ApplianceID)
	}
	app, cat := st.ApplianceID, st.CatalogID
	if out, _, code := e.cli("status"); code != 0 || !strings.Contains(out, "catalog "+cat) {
		t.Errorf("ingestd status does not show the catalog id %s (exit %d):\n%s", cat, code, out)
	}
	backup := filepath.Join(e.dir, "catalog.backup")
	if _, errOut, code := e.cli("backup", backup); code != 0 {
		t.Fatalf("backup: exit %d: %s", code, errOut)
	}
	backupSeq := stateStatus(t, e).Catalog.LastSeq
	e.stop()
	idFile := filepath.Join(e.state, "catalog-identity.json")
	idBytes, err := os.ReadFile(idFile)
	if err != nil {
		t.Fatalf("no identity file in the state dir after a clean stop: %v", err)
	}
	if !bytes.Contains(idBytes, []byte(cat)) || !bytes.Contains(idBytes, []byte(app)) {
		t.Fatalf("identity file lacks the ids %s %s:\n%s", cat, app, idBytes)
	}
	catDir := filepath.Join(e.state, "catalog")
	if stateTables(catDir) == 0 {
		t.Fatalf("no table in %s after a clean stop: the damage below would test nothing", catDir)
	}
	pristine := filepath.Join(e.dir, "state.pristine")
	testutil.CopyDir(t, e.state, pristine)
	reset := func() {
		t.Helper()
		if err := os.RemoveAll(e.state); err != nil {
			t.Fatal(err)
		}
		testutil.CopyDir(t, pristine, e.state)
	}

	damages := []struct {
		name, want string
		damage     func(t *testing.T)
	}{
		{"MANIFEST deleted", "MANIFEST is missing", func(t *testing.T) {
			if err := os.Remove(filepath.Join(catDir, "MANIFEST")); err != nil {
				t.Fatal(err)
			}
		}},
		{"MANIFEST cut in half", "MANIFEST is cut short", func(t *testing.T) {
			p := filepath.Join(catDir, "MANIFEST")
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(p, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"MANIFEST truncated to 0 bytes", "MANIFEST is unreadable", func(t *testing.T) {
			if err := os.Truncate(filepath.Join(catDir, "MANIFEST"), 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"catalog dir deleted", "catalog directory is missing", func(t *testing.T) {
			if err := os.RemoveAll(catDir); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			reset()
			d.damage(t)
			tables := stateTables(catDir)
			errOut, code := stateRunRefused(t, e)
			if code != 65 {
				t.Errorf("exit %d, want 65 (catalog identity mismatch)\n%s", code, errOut)
			}
			for _, want := range []string{"catalog identity mismatch", d.want, cat, "ingestd restore", "reset-catalog"} {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr lacks %q:\n%s", want, errOut)
				}
			}
			if got, _ := os.ReadFile(idFile); !bytes.Equal(got, idBytes) {
				t.Errorf("the refused start changed the identity file:\n%s\nwas:\n%s", got, idBytes)
			}
			if n := stateTables(catDir); n != tables {
				t.Errorf("the refused start left %d of %d tables (Badger deleted some)", n, tables)
			}
			if d.name == "catalog dir deleted" {
				if _, err := os.Stat(catDir); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("the refused start re-created %s", catDir)
				}
			}
			// doctor names it too, without opening anything.
			out, _, _ := e.cli("doctor")
			found := false
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, "FAIL") && strings.Contains(l, "catalog identity") && strings.Contains(l, d.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("doctor has no FAIL catalog identity line with %q:\n%s", d.want, out)
			}
			if n := stateTables(catDir); n != tables {
				t.Errorf("doctor changed the catalog: %d of %d tables", n, tables)
			}
		})
	}

	t.Run("kill -9 then start: the identity file lags, no refusal", func(t *testing.T) {
		reset()
		e.start()
		e.writeFile("after-crash.mov", []byte("crash "+strings.Repeat("y", 9000)))
		e.waitFeed(60*time.Second, "after-crash.mov", hasPaths(storage.EvLocationAdded, "after-crash.mov"))
		e.kill9()
		e.start()
		if st := stateStatus(t, e); st.CatalogID != cat || st.ApplianceID != app {
			t.Errorf("after kill -9: ids %s %s, want %s %s", st.CatalogID, st.ApplianceID, cat, app)
		}
		e.stop()
	})

	t.Run("state dir from before identity files: adopted", func(t *testing.T) {
		reset()
		if err := os.Remove(idFile); err != nil {
			t.Fatal(err)
		}
		e.start()
		st := stateStatus(t, e)
		e.stop()
		if st.CatalogID != cat || st.ApplianceID != app {
			t.Errorf("adopted: ids %s %s, want %s %s", st.CatalogID, st.ApplianceID, cat, app)
		}
		if b, err := os.ReadFile(idFile); err != nil || !bytes.Contains(b, []byte(cat)) {
			t.Errorf("identity file not written on adoption: %v\n%s", err, b)
		}
	})

	t.Run("recovery: restore a backup", func(t *testing.T) {
		reset()
		if err := os.Remove(filepath.Join(catDir, "MANIFEST")); err != nil {
			t.Fatal(err)
		}
		if _, code := stateRunRefused(t, e); code != 65 {
			t.Fatalf("damaged catalog: exit %d, want 65", code)
		}
		// The documented way: stop, move state_dir aside, restore, start.
		if err := os.Rename(e.state, e.state+".broken"); err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(e.state + ".broken")
		if out, errOut, code := runBin(t, "restore", "-config", e.cfgPath, backup); code != 0 {
			t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
		}
		e.start()
		st := stateStatus(t, e)
		if st.CatalogID != cat || st.ApplianceID != app {
			t.Errorf("restored: catalog_id %s appliance_id %s, want %s %s", st.CatalogID, st.ApplianceID, cat, app)
		}
		e.writeFile("after-restore.mov", []byte("restored "+strings.Repeat("z", 7000)))
		evs := e.waitFeed(60*time.Second, "after-restore.mov", hasPaths(storage.EvLocationAdded, "after-restore.mov"))
		for _, ev := range evs {
			if ev.Path == "after-restore.mov" && ev.Seq <= backupSeq {
				t.Errorf("event for a new file has seq %d, not after the backup's %d", ev.Seq, backupSeq)
			}
		}
		e.stop()
	})

	t.Run("recovery: reset-catalog", func(t *testing.T) {
		reset()
		if err := os.RemoveAll(catDir); err != nil {
			t.Fatal(err)
		}
		if _, code := stateRunRefused(t, e); code != 65 {
			t.Fatalf("deleted catalog: exit %d, want 65", code)
		}
		if _, errOut, code := runBin(t, "reset-catalog", "-config", e.cfgPath); code != 64 || !strings.Contains(errOut, "--yes") {
			t.Errorf("reset-catalog without --yes: exit %d, want 64 asking for --yes\n%s", code, errOut)
		}
		out, errOut, code := runBin(t, "reset-catalog", "-config", e.cfgPath, "--yes")
		if code != 0 {
			t.Fatalf("reset-catalog --yes: exit %d\n%s%s", code, out, errOut)
		}
		for _, want := range []string{"new catalog_id", "(was " + cat, "appliance_id " + app + " kept", "restarts at seq 1", "hub must reset its cursor"} {
			if !strings.Contains(out, want) {
				t.Errorf("reset-catalog output lacks %q:\n%s", want, out)
			}
		}
		e.start()
		st := stateStatus(t, e)
		if st.CatalogID == cat || len(st.CatalogID) != 32 || !strings.Contains(out, st.CatalogID) {
			t.Errorf("after reset: catalog_id %q (old %s), output:\n%s", st.CatalogID, cat, out)
		}
		if st.ApplianceID != app {
			t.Errorf("after reset: appliance_id %s, want %s kept", st.ApplianceID, app)
		}
		evs := e.waitFeed(60*time.Second, "files re-cataloged", hasPaths(storage.EvLocationAdded, files...))
		if len(evs) == 0 || evs[0].Seq != 1 {
			t.Errorf("feed of the new catalog starts at seq %d, want 1", evs[0].Seq)
		}
		e.stop()
		// A reset while the daemon runs is refused.
		e.start()
		if _, errOut, code := runBin(t, "reset-catalog", "-config", e.cfgPath, "--yes"); code == 0 || !strings.Contains(errOut, "in use") {
			t.Errorf("reset-catalog under a running daemon: exit %d\n%s", code, errOut)
		}
		e.stop()
	})
}

// TestSecurity6ExitCodes: config errors exit 78 and usage errors 64, never
// 2, which is what a Go crash (panic, SIGBUS on a full disk) exits with: a
// unit with RestartPreventExitStatus=2 would never restart a crash.
func TestSecurity6ExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("state_dir: "+dir+"/state\nsetle: 5s\nvolumes: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
	}{
		{[]string{"run", "-config", bad}, 78},
		{[]string{"validate", "-config", bad}, 78},
		{[]string{"validate"}, 64},
		{[]string{"no-such-command"}, 64},
		{[]string{"run", "-no-such-flag"}, 64},
	}
	for _, tc := range cases {
		_, errOut, code := runBin(t, tc.args...)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d\n%s", tc.args, code, tc.code, errOut)
		}
	}
	unit, err := os.ReadFile("../../systemd/ingestd.service")
	if err != nil {
		t.Fatal(err)
	}
	var prevent string
	for _, l := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(l, "RestartPreventExitStatus="); ok {
			prevent = v
		}
	}
	got := map[string]bool{}
	for _, f := range strings.Fields(prevent) {
		got[f] = true
	}
	if got["2"] || !got["64"] || !got["65"] || !got["78"] || !strings.Contains(string(unit), "Restart=on-failure") {
		t.Errorf("unit: RestartPreventExitStatus=%s, want 64 65 78 and never 2 (a crash must restart)", prevent)
	}
}

// TestSecurity6ConfigFileKinds: a config path that is a FIFO, a directory
// or a file past config.MaxFileSize is refused with exit 78 by every
// command that reads it (a FIFO used to block validate, run and doctor
// forever: ExecStartPre hung until systemd's start timeout), and a stray
// positional argument to validate is a usage error, not ignored.
func TestSecurity6ConfigFileKinds(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, bytes.Repeat([]byte("# padding\n"), 200_000), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.yaml")
	if err := os.Mkdir(filepath.Join(dir, "w"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, []byte("state_dir: "+dir+"/state\nvolumes:\n  - {name: a, path: "+dir+"/w}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, int) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, binPath, args...)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		err := cmd.Run()
		if ctx.Err() != nil {
			t.Fatalf("%v: still running after 20s (blocked on the config file?)", args)
		}
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("%v: %v", args, err)
		}
		return errb.String(), cmd.ProcessState.ExitCode()
	}
	for _, c := range []struct{ path, want string }{
		{fifo, "not a regular file"},
		{dir, "is a directory"},
		{big, "2000000 bytes, more than the 1048576 allowed"},
	} {
		for _, cmd := range []string{"validate", "run", "doctor", "status"} {
			errOut, code := run(cmd, "-config", c.path)
			if code != 78 || !strings.Contains(errOut, "config: read "+c.path+": "+c.want) {
				t.Errorf("%s -config %s: exit %d, want 78 and %q\n%s", cmd, filepath.Base(c.path), code, c.want, errOut)
			}
		}
	}
	if errOut, code := run("validate", "-config", good, big); code != 64 || !strings.Contains(errOut, "unexpected argument") {
		t.Errorf("validate with a second file: exit %d, want 64\n%s", code, errOut)
	}
	if errOut, code := run("validate", "-config", good); code != 0 {
		t.Errorf("validate good config: exit %d\n%s", code, errOut)
	}
}

// TestSecurity11TokenFileChecks: validate refuses an empty api.token_file
// like run does, and validate, run and doctor warn about secrets and a
// state dir that other users can read.
func TestSecurity11TokenFileChecks(t *testing.T) {
	e := newEnv(t, "", "")
	tok := filepath.Join(e.dir, "api-token")
	hubTok := filepath.Join(e.dir, "hub-token")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(tok, []byte("  \n"), 0o600))
	must(os.WriteFile(hubTok, []byte("hubsecret\n"), 0o600))
	cfg, err := os.ReadFile(e.cfgPath)
	must(err)
	cfgText := strings.Replace(string(cfg), "api:\n  listen: "+e.addr+"\n", "api:\n  listen: "+e.addr+"\n  token_file: "+tok+"\n", 1)
	cfgText += "hub:\n  webhook:\n    url: http://127.0.0.1:9/events\n    token_file: " + hubTok + "\n"
	must(os.WriteFile(e.cfgPath, []byte(cfgText), 0o644))

	for _, cmd := range []string{"validate", "run"} {
		_, errOut, code := runBin(t, cmd, "-config", e.cfgPath)
		if code != 78 || !strings.Contains(errOut, "api.token_file") || !strings.Contains(errOut, "is empty") {
			t.Errorf("%s with an empty token file: exit %d, want 78 naming api.token_file\n%s", cmd, code, errOut)
		}
	}

	must(os.WriteFile(tok, []byte("secret\n"), 0o600))
	out, errOut, code := runBin(t, "validate", "-config", e.cfgPath)
	if code != 0 || strings.Contains(errOut, "warning") {
		t.Fatalf("validate with 0600 secrets: exit %d, want 0 and no warning\n%s%s", code, out, errOut)
	}

	// World-readable secrets and a state dir open to every user: warnings,
	// not failures.
	must(os.Chmod(tok, 0o644))
	must(os.Chmod(hubTok, 0o604))
	must(os.MkdirAll(e.state, 0o755))
	must(os.Chmod(e.state, 0o755))
	out, errOut, code = runBin(t, "validate", "-config", e.cfgPath)
	if code != 0 || !strings.Contains(out, "config OK") {
		t.Errorf("validate: exit %d, want 0 (warnings only)\n%s%s", code, out, errOut)
	}
	wants := []string{"api.token_file: " + tok + " is readable by every user", "hub.webhook.token_file: " + hubTok + " is readable by every user", "state_dir: " + e.state + " is open to every user"}
	for _, w := range wants {
		if !strings.Contains(errOut, w) {
			t.Errorf("validate output lacks %q:\n%s", w, errOut)
		}
	}
	out, _, _ = runBin(t, "doctor", "-config", e.cfgPath)
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("doctor output lacks %q:\n%s", w, out)
		}
	}
	e.token = "secret"
	e.start()
	e.stop()
	for _, key := range []string{"api.token_file", "hub.webhook.token_file", "state_dir"} {
		if !strings.Contains(e.stderr.String(), "key="+key) {
			t.Errorf("run's log has no permission warning for %s:\n%s", key, e.stderr.String())
		}
	}
}

// TestSecurity14UnitLimits: the unit caps memory and tasks, so one hostile
// card (FFmpeg blowing up, a thread bomb) cannot exhaust the NAS box, and
// systemd-analyze verify accepts the values.
func TestSecurity14UnitLimits(t *testing.T) {
	sa := testenv.Need(t, "systemd-analyze")
	unit, err := os.ReadFile("../../systemd/ingestd.service")
	if err != nil {
		t.Fatal(err)
	}
	opts := map[string]string{}
	lines := strings.Split(string(unit), "\n")
	for i, l := range lines {
		k, v, ok := strings.Cut(l, "=")
		if !ok || strings.HasPrefix(l, "#") {
			continue
		}
		opts[k] = v
		if k == "MemoryHigh" || k == "MemoryMax" || k == "TasksMax" {
			if i == 0 || !strings.HasPrefix(lines[i-1], "#") {
				t.Errorf("%s has no comment line saying why", k)
			}
		}
	}
	pct := func(k string) int {
		var n int
		if _, err := fmt.Sscanf(opts[k], "%d%%", &n); err != nil || n <= 0 || n >= 100 {
			t.Errorf("%s=%q: want a share of RAM below 100%%", k, opts[k])
		}
		return n
	}
	if hi, max := pct("MemoryHigh"), pct("MemoryMax"); hi >= max {
		t.Errorf("MemoryHigh=%d%% must be below MemoryMax=%d%%", hi, max)
	}
	var tasks int
	if _, err := fmt.Sscanf(opts["TasksMax"], "%d", &tasks); err != nil || tasks < 256 || tasks > 4096 {
		t.Errorf("TasksMax=%q: want a number between 256 (Go + FFmpeg lanes) and 4096", opts["TasksMax"])
	}
	// systemd-analyze verify in a root holding the unit, the binary and
	// the units it references, as packaging/test.sh does.
	root := t.TempDir()
	for _, d := range []string{"usr/lib/systemd", "usr/bin", "bin"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("cp", "-a", "/usr/lib/systemd/system", filepath.Join(root, "usr/lib/systemd")).CombinedOutput(); err != nil {
		t.Fatalf("copy the system units: %v\n%s", err, out)
	}
	for src, dst := range map[string]string{binPath: "usr/bin/ingestd", "/bin/kill": "bin/kill"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, dst), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "usr/lib/systemd/system/ingestd.service"), unit, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", "--man=no", "--root="+root, "ingestd.service").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
