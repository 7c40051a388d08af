package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/api"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/storage"
)

// refHashes computes a file's BLAKE3 and xxh128 with the reference tools.
func refHashes(t *testing.T, path string) storage.Hashes {
	t.Helper()
	b3 := testenv.Need(t, "b3sum")
	xx := testenv.Need(t, "xxhsum")
	first := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).Output()
		if err != nil {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		f := strings.Fields(string(out))
		if len(f) == 0 {
			t.Fatalf("%s printed nothing", name)
		}
		return f[0]
	}
	return storage.Hashes{
		BLAKE3: first(b3, "--no-names", "--num-threads", "1", path),
		XXH128: first(xx, "-H128", path),
	}
}

func TestIngestFeedAssetsAndCLI(t *testing.T) {
	e := newEnv(t, "", "")
	e.start()

	big := make([]byte, 3<<20+17) // crosses the hash buffer size
	for i := range big {
		big[i] = byte(i*7 + i>>11)
	}
	files := map[string][]byte{
		"a.mov":                  []byte("first clip"),
		"day 1/copy of a.mov":    []byte("first clip"), // same bytes: one asset, two locations
		"day 1/ünïcode clip.mxf": big,
	}
	for rel, data := range files {
		e.writeFile(rel, data)
	}
	evs := e.waitFeed(60*time.Second, "location.added for 3 files", hasPaths(storage.EvLocationAdded, "a.mov", "day 1/copy of a.mov", "day 1/ünïcode clip.mxf"))
	evs = append(evs, e.feedAll()[len(evs):]...)

	cataloged := map[string]int{}
	for _, ev := range evs {
		if ev.Type == storage.EvAssetCataloged {
			cataloged[ev.AssetID]++
		}
		if ev.Type == storage.EvLocationAdded && ev.Volume != "footage" {
			t.Errorf("event volume %q, want footage", ev.Volume)
		}
	}
	if len(cataloged) != 2 {
		t.Errorf("asset.cataloged for %d assets, want 2 (duplicate content is one asset): %v", len(cataloged), cataloged)
	}
	for id, n := range cataloged {
		if n != 1 {
			t.Errorf("asset %s cataloged %d times", id, n)
		}
	}

	ctx := context.Background()
	c := e.client()
	for rel := range files {
		want := refHashes(t, filepath.Join(e.watch, rel))
		doc, err := c.Asset(ctx, want.BLAKE3)
		if err != nil {
			t.Fatalf("asset for %s (b3sum %s): %v", rel, want.BLAKE3, err)
		}
		if doc.ID != want.BLAKE3 || doc.Hashes != want {
			t.Errorf("%s: id %s hashes %+v, want b3sum/xxhsum %+v", rel, doc.ID, doc.Hashes, want)
		}
		if doc.Size != int64(len(files[rel])) {
			t.Errorf("%s: size %d, want %d", rel, doc.Size, len(files[rel]))
		}
		found := false
		for _, l := range doc.Locations {
			found = found || (l.Volume == "footage" && l.Path == rel && l.Size == doc.Size)
		}
		if !found {
			t.Errorf("%s: locations %+v lack footage:%s", rel, doc.Locations, rel)
		}
	}
	dup, _ := c.Asset(ctx, refHashes(t, filepath.Join(e.watch, "a.mov")).BLAKE3)
	if len(dup.Locations) != 2 {
		t.Errorf("duplicate content: %d locations, want 2", len(dup.Locations))
	}

	// Assets list and paging.
	page1, err := c.Assets(ctx, "", 1)
	if err != nil || len(page1.Assets) != 1 || page1.Next == "" {
		t.Fatalf("assets limit 1: %+v %v", page1, err)
	}
	page2, err := c.Assets(ctx, page1.Next, 10)
	if err != nil || len(page2.Assets) != 1 || page2.Next != "" || page2.Assets[0].ID <= page1.Assets[0].ID {
		t.Fatalf("assets after %s: %+v %v", page1.Next, page2, err)
	}

	// Status: volume counters are refreshed on the pipeline's tick, so
	// wait for them to catch up.
	var st api.Status
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var err error
		if st, err = c.Status(ctx); err != nil {
			t.Fatal(err)
		}
		if len(st.Volumes) == 1 && st.Volumes[0].Files == 3 || time.Now().After(deadline) {
			break
		}
	}
	if len(st.Volumes) != 1 || st.Volumes[0].Name != "footage" || !st.Volumes[0].Online || st.Volumes[0].Files != 3 ||
		st.Volumes[0].Bytes != int64(2*len("first clip")+len(big)) {
		t.Errorf("status volumes: %+v", st.Volumes)
	}
	if st.Version != "e2e-test" || st.ApplianceID == "" || !st.Ready || st.Catalog.LastSeq < evs[len(evs)-1].Seq {
		t.Errorf("status: %+v", st)
	}

	// CLI, human and JSON.
	t.Run("cli", func(t *testing.T) {
		out, errOut, code := e.cli("status")
		if code != 0 || !strings.Contains(out, "footage") || !strings.Contains(out, "online") || !strings.Contains(out, "VOLUME") {
			t.Errorf("status: code %d\n%s%s", code, out, errOut)
		}
		out, _, code = e.cli("status", "--json")
		var js api.Status
		if code != 0 || json.Unmarshal([]byte(out), &js) != nil || js.Volumes[0].Files != 3 {
			t.Errorf("status --json: code %d\n%s", code, out)
		}
		out, _, code = e.cli("assets")
		if code != 0 || !strings.Contains(out, dup.ID) || !strings.Contains(out, "3.0 MiB") || !strings.Contains(out, "(+1)") {
			t.Errorf("assets: code %d\n%s", code, out)
		}
		out, _, code = e.cli("assets", "--json", "--limit", "1")
		var ad api.AssetsDoc
		if code != 0 || json.Unmarshal([]byte(out), &ad) != nil || len(ad.Assets) != 1 || ad.Next == "" {
			t.Errorf("assets --json --limit 1: code %d\n%s", code, out)
		}
		out, _, code = e.cli("asset", dup.ID)
		if code != 0 || !strings.Contains(out, dup.Hashes.XXH128) || !strings.Contains(out, "day 1/copy of a.mov") {
			t.Errorf("asset: code %d\n%s", code, out)
		}
		out, _, code = e.cli("asset", dup.ID, "--json")
		var one storage.AssetDoc
		if code != 0 || json.Unmarshal([]byte(out), &one) != nil || one.ID != dup.ID {
			t.Errorf("asset --json: code %d\n%s", code, out)
		}
		// -api instead of -config.
		out, _, code = runBin(t, "asset", "-api", "http://"+e.addr, "--json", dup.ID)
		if code != 0 || !strings.Contains(out, dup.ID) {
			t.Errorf("asset -api: code %d\n%s", code, out)
		}
		_, errOut, code = e.cli("asset", strings.Repeat("0", 64))
		if code != 1 || !strings.Contains(errOut, "404") {
			t.Errorf("unknown asset: code %d, stderr %s", code, errOut)
		}
		_, errOut, code = e.cli("asset", "not-an-id")
		if code != 64 || !strings.Contains(errOut, "400") {
			t.Errorf("bad asset id: code %d, stderr %s", code, errOut)
		}
	})
	e.stop()
	if !strings.Contains(e.stderr.String(), "stopped") {
		t.Errorf("no clean stop logged:\n%s", e.stderr.String())
	}
}

// TestClientWithoutDaemon: a client command with nothing listening says so
// and exits 1.
func TestClientWithoutDaemon(t *testing.T) {
	_, errOut, code := runBin(t, "status", "-api", "http://"+freeAddr(t))
	if code != 1 || !strings.Contains(errOut, "cannot reach the daemon") {
		t.Errorf("code %d, stderr %s", code, errOut)
	}
}

func TestUsageAndVersion(t *testing.T) {
	cases := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"version"}, 0, "ingestd e2e-test"},
		{nil, 64, "usage"}, // EX_USAGE: 2 is Go's own status for a crash
		{[]string{"frobnicate"}, 64, `unknown command "frobnicate"`},
		{[]string{"run", "-nope"}, 64, "flag provided but not defined"},
		{[]string{"validate"}, 64, "-config FILE is required"},
		{[]string{"asset"}, 64, "exactly one asset ID"},
		{[]string{"assets", "--limit", "x"}, 64, "invalid value"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errOut, code := runBin(t, tc.args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.out) {
				t.Errorf("exit %d (want %d), output:\n%s%s", code, tc.code, out, errOut)
			}
		})
	}
}

// TestBadConfigExits78: a bad config exits 78 (EX_CONFIG; not 2, which a
// Go crash exits with and systemd must restart) with one message naming the
// key and starts nothing (no state dir, no listener).
func TestBadConfigExits78(t *testing.T) {
	dir := t.TempDir()
	watch := filepath.Join(dir, "watch")
	if err := os.Mkdir(watch, 0o755); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	addr := freeAddr(t)
	base := "state_dir: " + state + "\napi:\n  listen: " + addr + "\n"
	vol := "volumes:\n  - name: footage\n    path: " + watch + "\n"
	cases := []struct{ name, yaml, want string }{
		{"unknown key", base + "setle: 5s\n" + vol, `config: unknown key "setle" (line 4)`},
		{"bad duration", base + "settle: 5x\n" + vol, `config: settle: invalid duration "5x"`},
		{"duplicate volume", base + vol + "  - name: footage\n    path: " + dir + "/other\n", `config: volumes[1].name: duplicate volume name "footage"`},
		{"missing path", base + "volumes:\n  - name: footage\n    path: /mnt/x-missing\n", `config: volumes[0].path: /mnt/x-missing does not exist`},
		{"public listen without token", "state_dir: " + state + "\napi:\n  listen: 0.0.0.0:8470\n" + vol, `config: api.token_file: required when api.listen (0.0.0.0:8470) is not a loopback address`},
		{"no volumes", base, "config: volumes: at least one volume is required"},
		{"not a file", "", "config: read"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(dir, "bad.yaml")
			if tc.yaml != "" {
				if err := os.WriteFile(cfg, []byte(tc.yaml), 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				cfg = filepath.Join(dir, "missing.yaml")
			}
			for _, cmd := range []string{"run", "validate"} {
				out, errOut, code := runBin(t, cmd, "-config", cfg)
				if code != 78 {
					t.Errorf("%s: exit %d, want 78\n%s%s", cmd, code, out, errOut)
				}
				if !strings.Contains(errOut, tc.want) {
					t.Errorf("%s: stderr %q lacks %q", cmd, errOut, tc.want)
				}
				if n := strings.Count(strings.TrimSpace(errOut), "\n"); n > 0 {
					t.Errorf("%s: want one line, got:\n%s", cmd, errOut)
				}
			}
			if _, err := os.Stat(state); !os.IsNotExist(err) {
				t.Errorf("bad config created the state dir (something started): %v", err)
			}
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				t.Errorf("something listens on %s after a bad config", addr)
			}
		})
	}
	t.Run("good config validates", func(t *testing.T) {
		cfg := filepath.Join(dir, "good.yaml")
		os.WriteFile(cfg, []byte(base+vol), 0o644)
		out, errOut, code := runBin(t, "validate", "-config", cfg)
		if code != 0 || strings.TrimSpace(out) != "config OK" {
			t.Errorf("exit %d: %s%s", code, out, errOut)
		}
	})
}

// TestAPIErrorsAndAuth: hostile parameters get 400 naming the parameter;
// a configured token is required everywhere but /healthz.
func TestAPIErrorsAndAuth(t *testing.T) {
	const token = "e2e-s3cret-token"
	e := newEnv(t, token, "")
	e.start()
	defer e.stop()

	t.Run("auth", func(t *testing.T) {
		for _, p := range []string{"/v1/status", "/v1/feed", "/v1/assets", "/v1/assets/" + strings.Repeat("a", 64), "/nope"} {
			if code, body := e.get(p, ""); code != 401 || !strings.Contains(string(body), `"error"`) {
				t.Errorf("GET %s without token: %d %s", p, code, body)
			}
			if code, _ := e.get(p, "wrong"); code != 401 {
				t.Errorf("GET %s with a wrong token: %d", p, code)
			}
			if code, _ := e.get(p, token+"x"); code != 401 {
				t.Errorf("GET %s with a longer token: %d", p, code)
			}
		}
		if code, _ := e.get("/healthz", ""); code != 200 {
			t.Errorf("healthz without token: %d", code)
		}
		if code, _ := e.get("/v1/status", token); code != 200 {
			t.Errorf("status with token: %d", code)
		}
		if _, errOut, code := e.cli("status"); code != 0 {
			t.Errorf("CLI with -config (token_file) failed: %d %s", code, errOut)
		}
		if _, errOut, code := runBin(t, "status", "-api", "http://"+e.addr); code != 1 || !strings.Contains(errOut, "401") {
			t.Errorf("CLI without token: %d %s", code, errOut)
		}
	})

	cases := []struct {
		path  string
		code  int
		param string
	}{
		{"/v1/feed?after=-1", 400, "after"},
		{"/v1/feed?after=abc", 400, "after"},
		{"/v1/feed?after=99999999999999999999999", 400, "after"},
		{"/v1/feed?limit=0", 400, "limit"},
		{"/v1/feed?limit=-5", 400, "limit"},
		{"/v1/feed?limit=1e9", 400, "limit"},
		{"/v1/feed?limit=1.5", 400, "limit"}, // a huge whole limit is clamped (TestContractAPI), not refused
		{"/v1/feed?wait=forever", 400, "wait"},
		{"/v1/feed?wait=-1s", 400, "wait"},
		{"/v1/feed?wait=%00", 400, "wait"},
		{"/v1/assets?after=../../etc/passwd", 400, "after"},
		{"/v1/assets?limit=abc", 400, "limit"},
		{"/v1/assets/" + strings.Repeat("A", 64), 400, "id"},
		{"/v1/assets/" + strings.Repeat("a", 63), 400, "id"},
		{"/v1/assets/..%2F..%2Fetc%2Fpasswd", 400, "id"},
		{"/v1/assets/%2e%2e", 400, "id"},
		{"/v1/assets/" + strings.Repeat("0", 64), 404, "id"},
		{"/v1/nope", 404, ""},
		{"/v1/assets/" + strings.Repeat("a", 64) + "/x", 404, ""}, // sub-resources exist (proxy, poster, ...): x is an unknown endpoint
		{"/v1/assets/" + strings.Repeat("A", 64) + "/proxy", 400, "id"},
		{"/v1/assets/a/../" + strings.Repeat("a", 64), 400, "id"},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			code, body := e.get(tc.path, token)
			var doc api.ErrorDoc
			if err := json.Unmarshal(body, &doc); err != nil || doc.Error == "" {
				t.Fatalf("%d: body is not a JSON error: %q", code, body)
			}
			if code != tc.code || doc.Param != tc.param {
				t.Errorf("got %d param %q (%s), want %d param %q", code, doc.Param, doc.Error, tc.code, tc.param)
			}
		})
	}
	t.Run("clamped", func(t *testing.T) {
		for _, p := range []string{"/v1/feed?limit=5000", "/v1/feed?wait=0s", "/v1/feed?after=18446744073709551615&wait=1ms"} {
			if code, body := e.get(p, token); code != 200 {
				t.Errorf("GET %s: %d %s", p, code, body)
			}
		}
	})
	t.Run("method", func(t *testing.T) {
		req, _ := newReq("POST", "http://"+e.addr+"/v1/feed", token)
		resp, err := httpDo(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp != 405 {
			t.Errorf("POST /v1/feed: %d, want 405", resp)
		}
	})
}

// TestKillRestart: kill -9 while files arrive, restart; every file ends
// with exactly one location.added, every content one asset.cataloged, and
// seq strictly increases across the restarts.
func TestKillRestart(t *testing.T) {
	e := newEnv(t, "", "")
	e.start()
	var all []string
	drop := func(batch string, n int) {
		for i := range n {
			rel := fmt.Sprintf("%s/clip-%03d.bin", batch, i)
			e.writeFile(rel, []byte(fmt.Sprintf("content of %s %s", rel, strings.Repeat("x", i*100))))
			all = append(all, rel)
		}
	}
	drop("a", 20)
	e.waitFeed(60*time.Second, "batch a", hasPaths(storage.EvLocationAdded, all...))
	// Batch b: small files and some of several MiB, so hashes are in flight;
	// kill as soon as the first of them is cataloged.
	for i := range 8 {
		rel := fmt.Sprintf("b/big-%d.bin", i)
		data := make([]byte, 4<<20+i)
		for j := range data {
			data[j] = byte(j ^ i*31 ^ j>>9)
		}
		e.writeFile(rel, data)
		all = append(all, rel)
	}
	drop("b", 30)
	before := len(e.feedAll())
	e.waitFeed(60*time.Second, "first of batch b", func(evs []storage.Event) bool {
		for _, ev := range evs {
			if ev.Type == storage.EvLocationAdded && strings.HasPrefix(ev.Path, "b/") {
				return true
			}
		}
		return false
	})
	e.kill9()
	e.start()
	t.Logf("killed with %d events of batch b logged", len(e.feedAllFrom(before)))
	drop("c", 10)
	e.waitFeed(90*time.Second, "batches a, b, c after kill -9", hasPaths(storage.EvLocationAdded, all...))
	e.kill9()
	e.start()
	// After a second kill with nothing new, nothing may be re-added.
	drop("d", 1)
	evs := e.waitFeed(60*time.Second, "batch d", hasPaths(storage.EvLocationAdded, all...))

	added := countPaths(evs, storage.EvLocationAdded)
	for _, p := range all {
		if added[p] != 1 {
			t.Errorf("%s: %d location.added, want exactly 1", p, added[p])
		}
	}
	if len(added) != len(all) {
		t.Errorf("location.added for %d paths, want %d", len(added), len(all))
	}
	cat := map[string]int{}
	for i, ev := range evs {
		if i > 0 && ev.Seq <= evs[i-1].Seq {
			t.Errorf("seq %d after %d", ev.Seq, evs[i-1].Seq)
		}
		if ev.Type == storage.EvAssetCataloged {
			cat[ev.AssetID]++
		}
	}
	for id, n := range cat {
		if n != 1 {
			t.Errorf("asset %s cataloged %d times", id, n)
		}
	}
	if len(cat) != len(all) {
		t.Errorf("%d assets cataloged, want %d", len(cat), len(all))
	}
	e.stop()
}

// TestSdNotify runs the binary under a fake NOTIFY_SOCKET and checks the
// datagrams systemd would get.
func TestSdNotify(t *testing.T) {
	e := newEnv(t, "", "")
	sock := filepath.Join(e.dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	e.extraEnv = []string{"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=1000000"}
	e.start()
	var got []string
	expect := func(prefix string) string {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case m := <-msgs:
				got = append(got, m)
				for _, line := range strings.Split(m, "\n") {
					if strings.HasPrefix(line, prefix) {
						return line
					}
				}
			case <-deadline:
				t.Fatalf("no %q; got %q\n%s", prefix, got, e.stderr.String())
			}
		}
	}
	expect("READY=1")
	if s := expect("STATUS="); !strings.HasPrefix(s, "STATUS=watching 1 volumes") {
		t.Errorf("status line %q", s)
	}
	expect("WATCHDOG=1")
	expect("WATCHDOG=1") // keeps pinging while idle
	e.proc.Process.Signal(syscall.SIGHUP)
	expect("RELOADING=1")
	expect("READY=1")

	// An invalid config on SIGHUP is rejected and the daemon keeps running.
	good, err := os.ReadFile(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.cfgPath, append(good, []byte("setle: 1s\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	e.proc.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(e.stderr.String(), "reload rejected") {
		if time.Now().After(deadline) {
			t.Fatalf("invalid reload not reported:\n%s", e.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(e.stderr.String(), `unknown key \"setle\"`) {
		t.Errorf("reload rejection does not name the key:\n%s", e.stderr.String())
	}
	if code, _ := e.get("/healthz", ""); code != 200 {
		t.Errorf("daemon not serving after a rejected reload: %d", code)
	}
	e.stop()
	expect("STOPPING=1")
}

// TestRelativePaths: state_dir and volume paths relative to the working
// directory (as in the embedded defaults of `make run`) work.
func TestRelativePaths(t *testing.T) {
	e := newEnv(t, "", "")
	cfg := "state_dir: ./state\nsettle: 200ms\napi:\n  listen: " + e.addr + "\nvolumes:\n  - name: footage\n    path: ./watch\n"
	if err := os.WriteFile(e.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	e.cwd = e.dir
	e.start()
	e.writeFile("sub/clip.mov", []byte("relative"))
	e.waitFeed(60*time.Second, "location.added under a relative root", hasPaths(storage.EvLocationAdded, "sub/clip.mov"))
	e.stop()
	if _, err := os.Stat(filepath.Join(e.dir, "state")); err != nil {
		t.Errorf("state not under the working directory: %v", err)
	}
}

// TestReloadAddsVolume: SIGHUP applies a new volume without a restart.
func TestReloadAddsVolume(t *testing.T) {
	e := newEnv(t, "", "")
	e.start()
	cards := filepath.Join(e.dir, "cards")
	if err := os.Mkdir(cards, 0o755); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.cfgPath, append(old, []byte("  - name: cards\n    path: "+cards+"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	e.proc.Process.Signal(syscall.SIGHUP)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st, err := e.client().Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Volumes) == 2 && st.Volumes[0].Name == "cards" && st.Volumes[0].Online {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("volume not added by SIGHUP: %+v\n%s", st.Volumes, e.stderr.String())
		}
	}
	if err := os.WriteFile(filepath.Join(cards, "A001.mov"), []byte("card clip"), 0o644); err != nil {
		t.Fatal(err)
	}
	evs := e.waitFeed(60*time.Second, "location.added on the reloaded volume", hasPaths(storage.EvLocationAdded, "A001.mov"))
	for _, ev := range evs {
		if ev.Type == storage.EvLocationAdded && ev.Path == "A001.mov" && ev.Volume != "cards" {
			t.Errorf("event on volume %q, want cards", ev.Volume)
		}
	}
	e.stop()
}
