package main_test

// Issue 10, items 5 and 6: what ingestd reads (a file swapped for a FIFO or
// a link between settle and hash, a read stuck on a hung mount, a FIFO met
// by `ingestd verify`) and a state dir or offload volume running out of
// space.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ingestd/ingestd/daemon/ingest"
	"github.com/ingestd/ingestd/internal/testenv"
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

	if v := secrMetric(t, e, "ingestd_ingest_files_rejected_total"); v != "2" {
		t.Fatalf("ingestd_ingest_files_rejected_total = %q, want 2", v)
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

// secrDiskDoc is the disk section of /v1/status.
type secrDiskDoc struct {
	Disk *struct {
		MinFree string   `json:"min_free"`
		Low     bool     `json:"low"`
		Paused  []string `json:"paused"`
		Paths   []struct {
			Name         string `json:"name"`
			Path         string `json:"path"`
			FreeBytes    uint64 `json:"free_bytes"`
			TotalBytes   uint64 `json:"total_bytes"`
			MinFreeBytes uint64 `json:"min_free_bytes"`
			Low          bool   `json:"low"`
		} `json:"paths"`
	} `json:"disk"`
}

func secrDisk(t *testing.T, e *env) secrDiskDoc {
	t.Helper()
	code, body := e.get("/v1/status", e.token)
	if code != 200 {
		t.Fatalf("GET /v1/status: %d %s", code, body)
	}
	var d secrDiskDoc
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	if d.Disk == nil {
		t.Fatalf("/v1/status has no disk section: %s", body)
	}
	return d
}

func secrWaitDisk(t *testing.T, e *env, what string, cond func(secrDiskDoc) bool) secrDiskDoc {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		d := secrDisk(t, e)
		if cond(d) {
			return d
		}
		select {
		case <-e.exited:
			t.Fatalf("daemon exited (%d) while waiting for %s:\n%s", e.exitCode, what, e.stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b, _ := json.Marshal(d)
			t.Fatalf("timed out waiting for %s: %s", what, b)
		}
	}
}

// secrMountTmpfs mounts a tmpfs of size at dir (root only).
func secrMountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	testenv.NeedRoot(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, "mount tmpfs at %s: %v %s", dir, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
}

// secrFill writes the file dir/name that leaves about leave bytes free on
// its filesystem.
func secrFill(t *testing.T, dir, name string, leave uint64) string {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	avail := st.Bavail * uint64(st.Bsize)
	if avail <= leave {
		t.Fatalf("only %d bytes free on %s, want more than %d", avail, dir, leave)
	}
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for n := avail - leave; n > 0; {
		k := min(n, uint64(len(buf)))
		if _, err := f.Write(buf[:k]); err != nil {
			t.Fatalf("fill %s: %v", p, err)
		}
		n -= k
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// secrHasLine reports whether some line of out starts with prefix and
// contains want (`ingestd status` is column-aligned).
func secrHasLine(out, prefix, want string) bool {
	for _, ln := range strings.Split(out, "\n") {
		if strings.HasPrefix(ln, prefix) && strings.Contains(ln, want) {
			return true
		}
	}
	return false
}

func secrMetric(t *testing.T, e *env, series string) string {
	t.Helper()
	code, body := e.get("/metrics", e.token)
	if code != 200 {
		t.Fatalf("GET /metrics: %d", code)
	}
	for _, ln := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(ln, series+" ") {
			return strings.TrimPrefix(ln, series+" ")
		}
	}
	return ""
}

// Item 6: the state dir on a small real tmpfs, filled below disk.min_free
// while the daemon runs: it pauses (status, event, metric, `ingestd
// status`), files dropped meanwhile are not lost, and once the filler is
// deleted it resumes by itself and ingests them. It never crashes (no
// SIGBUS from Badger's mmap on a full filesystem).
func TestSecurity6DiskFloorStateDir(t *testing.T) {
	e := newEnv(t, "", "disk:\n  min_free: 48MiB\n")
	secrMountTmpfs(t, e.state, "96m")
	e.start()
	e.writeFile("before.mov", []byte("ingested while there is room"))
	e.waitFeed(60*time.Second, "before.mov cataloged", hasPaths(storage.EvLocationAdded, "before.mov"))
	// The state dir with its floor, and the watched volume reported for
	// its free space only (no floor: ingest only reads it).
	if d := secrDisk(t, e); d.Disk.Low || len(d.Disk.Paths) != 2 || d.Disk.Paths[0].Name != "state_dir" || d.Disk.Paths[0].MinFreeBytes != 48<<20 ||
		d.Disk.Paths[1].Name != "volume:footage" || d.Disk.Paths[1].MinFreeBytes != 0 || d.Disk.Paths[1].TotalBytes == 0 {
		t.Fatalf("disk section before the fill: %+v", *d.Disk)
	}

	filler := secrFill(t, e.state, "filler", 40<<20) // 40 MiB left < 48 MiB floor
	d := secrWaitDisk(t, e, "disk low", func(d secrDiskDoc) bool { return d.Disk.Low })
	if strings.Join(d.Disk.Paused, ",") != "ingest,transcode" || !d.Disk.Paths[0].Low {
		t.Fatalf("disk section while low: %+v", *d.Disk)
	}
	evs := e.waitFeed(30*time.Second, "disk.low event", func(evs []storage.Event) bool {
		for _, ev := range evs {
			if ev.Type == storage.EvDiskLow {
				return true
			}
		}
		return false
	})
	for _, ev := range evs {
		if ev.Type == storage.EvDiskLow && !strings.Contains(ev.Detail, "state_dir") {
			t.Fatalf("disk.low detail %q does not name the path", ev.Detail)
		}
	}
	if v := secrMetric(t, e, `ingestd_disk_low{name="state_dir",path="`+e.state+`"}`); v != "1" {
		t.Fatalf("ingestd_disk_low = %q while low", v)
	}
	if v := secrMetric(t, e, "ingestd_disk_paused"); v != "1" {
		t.Fatalf("ingestd_disk_paused = %q while low", v)
	}
	out, _, code := e.cli("status")
	if code != 0 || !secrHasLine(out, "disk", "LOW: paused ingest, transcode") {
		t.Fatalf("ingestd status while low (exit %d):\n%s", code, out)
	}

	// Files dropped while paused wait; nothing is cataloged.
	e.writeFile("during/a.mov", []byte("dropped while the state dir is full"))
	e.writeFile("during/b.mov", []byte("another one"))
	time.Sleep(3 * time.Second) // 10 settle periods
	if locs := secrLocations(e.feedAll()); locs["during/a.mov"] || locs["during/b.mov"] {
		t.Fatalf("cataloged while paused: %v", locs)
	}
	select {
	case <-e.exited:
		t.Fatalf("daemon died while the state dir was full (exit %d):\n%s", e.exitCode, e.stderr.String())
	default:
	}

	// Space comes back: it resumes by itself and ingests what waited.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	e.waitFeed(60*time.Second, "files dropped while paused cataloged", hasPaths(storage.EvLocationAdded, "during/a.mov", "during/b.mov"))
	secrWaitDisk(t, e, "disk ok", func(d secrDiskDoc) bool { return !d.Disk.Low && len(d.Disk.Paused) == 0 })
	evs = e.feedAll()
	var low, ok int
	for _, ev := range evs {
		switch ev.Type {
		case storage.EvDiskLow:
			low++
		case storage.EvDiskOK:
			ok++
		}
	}
	if low != 1 || ok != 1 {
		t.Fatalf("disk events: %d low, %d ok; want one of each:\n%s", low, ok, dumpEvents(evs))
	}
	if v := secrMetric(t, e, "ingestd_disk_paused"); v != "0" {
		t.Fatalf("ingestd_disk_paused = %q after space came back", v)
	}
	e.stop()
	if s := e.stderr.String(); strings.Contains(s, "SIGBUS") || strings.Contains(s, "unexpected fault address") {
		t.Fatalf("daemon faulted:\n%s", s)
	}
}

// Item 6: the card offload volume on a small real tmpfs, filled below
// disk.min_free: card offload pauses (status, event naming the volume,
// metric), a card inserted meanwhile waits without anything written, and
// once the filler is deleted the card is offloaded by itself.
func TestSecurity6DiskFloorOffload(t *testing.T) {
	cardsNeedRoot(t)
	root := filepath.Join(t.TempDir(), "media")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "", "cards:\n  mount_roots: ["+root+"]\n  offload_to: footage\n  poll: 200ms\ndisk:\n  min_free: 40MiB\n")
	secrMountTmpfs(t, e.watch, "64m")
	c := newCard(t, root, "DISK1", "32M", map[string]string{"DCIM/100GOPRO/GX010001.MP4": "200000"})
	e.start()
	d := secrDisk(t, e)
	if d.Disk.Low || len(d.Disk.Paths) != 2 || d.Disk.Paths[1].Name != "offload:footage" {
		t.Fatalf("disk section: %+v", *d.Disk)
	}
	// A dotfile: ignored by ingest, it only takes the space.
	filler := secrFill(t, e.watch, ".filler", 30<<20)
	d = secrWaitDisk(t, e, "offload volume low", func(d secrDiskDoc) bool { return d.Disk.Low })
	if strings.Join(d.Disk.Paused, ",") != "cards" || d.Disk.Paths[0].Low || !d.Disk.Paths[1].Low {
		t.Fatalf("disk section while the offload volume is low: %+v", *d.Disk)
	}
	if v := secrMetric(t, e, `ingestd_disk_low{name="offload:footage",path="`+e.watch+`"}`); v != "1" {
		t.Fatalf("ingestd_disk_low for the offload volume = %q", v)
	}

	c.Insert()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, ok := e.cardStatus(c.mp)
		if ok && strings.Contains(st.Message, "waiting: disk space below disk.min_free") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("card not waiting on the floor: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	ents, _ := os.ReadDir(e.watch)
	for _, de := range ents {
		if n := de.Name(); n != ".filler" && n != ".ingestd-volume" {
			t.Fatalf("written on the full offload volume while paused: %s", n)
		}
	}
	for _, ev := range e.feedAll() {
		if ev.Type == storage.EvCardOffloaded || ev.Type == storage.EvCardFailed {
			t.Fatalf("card event while paused: %+v", ev)
		}
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	evs := e.waitFeed(60*time.Second, "DISK1 offloaded after space came back", func(evs []storage.Event) bool {
		return len(cardEvents(evs, storage.EvCardOffloaded, "DISK1")) > 0
	})
	var low, ok int
	for _, ev := range evs {
		if (ev.Type == storage.EvDiskLow || ev.Type == storage.EvDiskOK) && ev.Volume != "footage" {
			t.Fatalf("disk event without the offload volume: %+v", ev)
		}
		switch ev.Type {
		case storage.EvDiskLow:
			low++
		case storage.EvDiskOK:
			ok++
		}
	}
	if low != 1 || ok != 1 {
		t.Fatalf("disk events: %d low, %d ok:\n%s", low, ok, dumpEvents(evs))
	}
	c.Eject()
	e.stop()
}
