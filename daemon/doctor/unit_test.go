package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ingestd/ingestd/internal/testenv"
)

// withUnit installs the packaged unit (and drop-ins) in a temporary unit
// directory that checkUnit reads instead of the system's.
func withUnit(t *testing.T, dropins map[string]string) {
	t.Helper()
	unit, err := os.ReadFile("../../systemd/ingestd.service")
	if err != nil {
		t.Fatal(err)
	}
	etc, lib := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(lib, unitName), unit, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(dropins) > 0 {
		d := filepath.Join(etc, unitName+".d")
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for n, body := range dropins {
			if err := os.WriteFile(filepath.Join(d, n), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	old := unitDirs
	unitDirs = []string{etc, lib}
	t.Cleanup(func() { unitDirs = old })
}

func serviceFindings(r Report) []Finding {
	var fs []Finding
	for _, f := range r.Findings {
		if f.Check == "service" {
			fs = append(fs, f)
		}
	}
	return fs
}

// TestServiceSandbox: with the packaged unit installed, doctor (run by an
// admin outside the sandbox) reports a state_dir or card destination that
// ProtectSystem=strict leaves read-only, a volume it hides, and is quiet
// once a drop-in adds ReadWritePaths=.
func TestServiceSandbox(t *testing.T) {
	dir := t.TempDir() // under /tmp: read-only under ProtectSystem=strict (PrivateTmp aside)
	state, nas, shuttle := filepath.Join(dir, "state"), filepath.Join(dir, "nas"), filepath.Join(dir, "shuttle")
	for _, d := range []string{nas, shuttle} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	yaml := "state_dir: " + state + "\nvolumes:\n  - {name: nas, path: " + nas + "}\n  - {name: shuttle, path: " + shuttle + "}\n" +
		"cards:\n  offload_to: shuttle\n  mount_roots: [" + filepath.Join(dir, "media") + "]\n"
	cfg := parse(t, yaml)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	withUnit(t, nil)
	fs := serviceFindings(Report{Findings: checkUnit(cfg)})
	// t.TempDir is under /tmp, the service's private /tmp: every path is a
	// FAIL (the files would land in a folder of the service's own).
	if len(fs) != 3 {
		t.Fatalf("findings %+v, want 3", fs)
	}
	for i, key := range []string{"state_dir " + state, "volumes[0].path " + nas, "volumes[1].path " + shuttle} {
		if fs[i].Level != Fail || !strings.HasPrefix(fs[i].Message, key+" is under /tmp") {
			t.Errorf("finding %d = %+v, want FAIL %q is under /tmp…", i, fs[i], key)
		}
	}
	// Elsewhere outside /var/lib/ingestd, /mnt and /srv: read-only.
	u, _ := loadUnit()
	for path, want := range map[string]string{"/opt/ingest/state": "ro", "/var/lib/ingestd/catalog": "rw", "/mnt/nas": "rw", "/srv/a": "rw",
		"/mnt/cards/A001": "ro", "/home/editor/footage": "none", "/tmp/x": "private", "/usr/share/x": "ro"} {
		if got := u.access(path); got != want {
			t.Errorf("packaged unit: access(%s) = %s, want %s", path, got, want)
		}
	}
	cfg2 := parse(t, "state_dir: /opt/ingest/state\nvolumes: [{name: nas, path: /mnt/nas}]\n")
	fs = serviceFindings(Report{Findings: checkUnit(cfg2)})
	if len(fs) != 1 || fs[0].Level != Fail || !strings.HasPrefix(fs[0].Message, "state_dir /opt/ingest/state is read-only for the service") || fs[0].Fix != "systemctl edit ingestd, then add under [Service]: ReadWritePaths=/opt/ingest/state" {
		t.Errorf("state_dir in /opt: %+v", fs)
	}

	// A drop-in opening the folder: quiet (as root the user check runs
	// too; the unit's user does not exist on a test box, so use nobody
	// with a folder nobody owns).
	withUnit(t, map[string]string{"10-paths.conf": "[Service]\nPrivateTmp=no\nReadWritePaths=" + dir + "\n", "20-user.conf": "[Service]\nUser=nobody\n"})
	testenv.NeedRoot(t)
	if err := os.Chmod(dir, 0o777); err != nil { // the state_dir's parent: nobody may create it
		t.Fatal(err)
	}
	if err := os.Chown(shuttle, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	fs = serviceFindings(Report{Findings: checkUnit(cfg)})
	if len(fs) != 1 || fs[0].Level != OK {
		t.Fatalf("with ReadWritePaths and owned folders: %+v, want one OK", fs)
	}

	// The destination owned by root 0755: the service user cannot offload.
	if err := os.Chown(shuttle, 0, 0); err != nil {
		t.Fatal(err)
	}
	fs = serviceFindings(Report{Findings: checkUnit(cfg)})
	if len(fs) != 1 || fs[0].Level != Fail || !strings.Contains(fs[0].Message, "volumes[1].path "+shuttle+" is not writable by the service user nobody") {
		t.Fatalf("root-owned destination: %+v", fs)
	}

	// Drop-ins are applied: ReadWritePaths= opens a folder, ProtectHome
	// still hides /home.
	withUnit(t, map[string]string{"10-paths.conf": "[Service]\nPrivateTmp=no\nReadWritePaths=" + dir + "\n"})
	u, ok := loadUnit()
	if !ok || u.access("/home/editor/footage") != "none" || u.access(state) != "rw" {
		t.Errorf("sandbox access with a drop-in: /home %s, %s %s", u.access("/home/editor/footage"), state, u.access(state))
	}
	// An empty ReadWritePaths= resets the list.
	withUnit(t, map[string]string{"10-reset.conf": "[Service]\nReadWritePaths=\n"})
	if u, _ := loadUnit(); u.access("/mnt/nas") != "ro" || u.access("/var/lib/ingestd/catalog") != "rw" {
		t.Errorf("after ReadWritePaths= reset: /mnt/nas %s, /var/lib/ingestd %s", u.access("/mnt/nas"), u.access("/var/lib/ingestd/catalog"))
	}

	// cards.eject_when_safe cannot work in the packaged sandbox: a WARN
	// naming why.
	withUnit(t, nil)
	ej := parse(t, "state_dir: /var/lib/ingestd\nvolumes: [{name: nas, path: /mnt/nas}]\ncards: {offload_to: nas, eject_when_safe: true}\n")
	fs = serviceFindings(Report{Findings: checkUnit(ej)})
	found := false
	for _, f := range fs {
		if strings.HasPrefix(f.Message, "cards.eject_when_safe: the service cannot unmount a card (CapabilityBoundingSet= without CAP_SYS_ADMIN; SystemCallFilter= denies @mount;") && f.Level == Warn {
			found = true
		}
	}
	if !found {
		t.Errorf("eject_when_safe under the packaged unit: %+v", fs)
	}
	ej.Cards.EjectWhenSafe = false
	for _, f := range serviceFindings(Report{Findings: checkUnit(ej)}) {
		if strings.Contains(f.Message, "eject_when_safe") {
			t.Errorf("eject_when_safe off: %+v", f)
		}
	}
}
