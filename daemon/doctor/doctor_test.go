package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ingestd/ingestd/daemon/config"
	"github.com/ingestd/ingestd/internal/miniotest"
	"github.com/ingestd/ingestd/internal/testenv"
	"github.com/ingestd/ingestd/internal/testutil"
)

// parse builds a defaulted config from YAML, as the CLI does.
func parse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("parse config: %v\n%s", err, yaml)
	}
	c.SetDefaults()
	return c
}

func find(r Report, check string) (Finding, bool) {
	for _, f := range r.Findings {
		if f.Check == check {
			return f, true
		}
	}
	return Finding{}, false
}

func expect(t *testing.T, r Report, check string, lvl Level, contains ...string) Finding {
	t.Helper()
	f, ok := find(r, check)
	if !ok {
		t.Fatalf("no %q finding in\n%s", check, text(r))
	}
	if f.Level != lvl {
		t.Fatalf("%s: level %s, want %s: %s (fix: %s)", check, f.Level, lvl, f.Message, f.Fix)
	}
	for _, s := range contains {
		if !strings.Contains(f.Message+" fix: "+f.Fix, s) {
			t.Errorf("%s: %q lacks %q", check, f.Message+" fix: "+f.Fix, s)
		}
	}
	if lvl != OK && f.Fix == "" {
		t.Errorf("%s is %s without a fix", check, lvl)
	}
	return f
}

func text(r Report) string {
	var b bytes.Buffer
	r.WriteText(&b)
	return b.String()
}

// TestHealthyMachine: real FFmpeg, a real volume on a tmpfs, a state dir
// with room: everything OK, encoders found by trial runs.
func TestHealthyMachine(t *testing.T) {
	testenv.Need(t, "ffmpeg")
	testenv.Need(t, "ffprobe")
	dir := t.TempDir()
	vol := testutil.MountTmpfs(t, "16m")
	for _, d := range []string{"day1/A001", "day1/A002", "day2"} {
		os.MkdirAll(filepath.Join(vol, d), 0o755)
	}
	cfg := parse(t, "state_dir: "+filepath.Join(dir, "state")+"\nproxy:\n  gpu: auto\nvolumes:\n  - name: footage\n    path: "+vol+"\n")
	r := Run(context.Background(), cfg, Options{ConfigErr: cfg.Validate(), ConfigPath: "test.yaml", MinFreeBytes: 1 << 20})
	if !r.OK || r.Failures != 0 {
		t.Fatalf("healthy machine reported failures:\n%s", text(r))
	}
	expect(t, r, "config", OK)
	expect(t, r, "ffmpeg", OK, "ffmpeg version")
	expect(t, r, "ffprobe", OK, "ffprobe version")
	expect(t, r, "libx264", OK, "trial run")
	expect(t, r, "aac", OK)
	expect(t, r, "gpu lane", OK)
	expect(t, r, "inotify", OK, "5 directories to watch", "max_user_watches")
	expect(t, r, "state dir", OK, "writable", "does not exist yet", "free")
	expect(t, r, "volume footage", OK, vol+" reachable, tmpfs")
	if _, ok := find(r, "s3"); ok {
		t.Error("s3 checked without hub.s3")
	}
	// No probe file is left in the state dir's parent.
	if ents, _ := filepath.Glob(filepath.Join(dir, ".ingestd-doctor-*")); len(ents) > 0 {
		t.Errorf("probe files left: %v", ents)
	}
	if !strings.Contains(text(r), "all checks passed") {
		t.Errorf("summary missing:\n%s", text(r))
	}
}

// TestMissingFFmpeg: a configured ffmpeg path that does not exist fails
// the config and the tool check, and the report is not OK.
func TestMissingFFmpeg(t *testing.T) {
	dir := t.TempDir()
	cfg := parse(t, "state_dir: "+dir+"\nffmpeg: /nonexistent/bin/ffmpeg\nffprobe: /nonexistent/bin/ffprobe\nvolumes:\n  - name: footage\n    path: "+dir+"\n")
	r := Run(context.Background(), cfg, Options{ConfigErr: cfg.Validate(), ConfigPath: "x.yaml", MinFreeBytes: 1 << 20})
	if r.OK || r.Failures < 2 {
		t.Fatalf("missing ffmpeg: OK=%v failures=%d\n%s", r.OK, r.Failures, text(r))
	}
	expect(t, r, "config", Fail, "ffmpeg", "ingestd validate")
	expect(t, r, "ffmpeg", Fail, "/nonexistent/bin/ffmpeg", "apt install ffmpeg")
	expect(t, r, "ffprobe", Fail)
	if _, ok := find(r, "libx264"); ok {
		t.Error("encoder trials ran without ffmpeg")
	}
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back.OK || back.Failures != r.Failures {
		t.Fatalf("json report: %v %s", err, b.String())
	}
}

// TestStateDirNearlyFull: a tmpfs state dir is OK while empty and FAILs
// when nearly full.
func TestStateDirNearlyFull(t *testing.T) {
	state := testutil.MountTmpfs(t, "64m")
	cfg := parse(t, "state_dir: "+state+"\nvolumes: []\n")
	r := Run(context.Background(), cfg, Options{MinFreeBytes: 1 << 20})
	expect(t, r, "state dir", OK, "tmpfs")
	// Fill all but ~512 KiB.
	f, err := os.Create(filepath.Join(state, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for i := 0; i < 63; i++ {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	f.Write(buf[:512<<10])
	f.Close()
	r = Run(context.Background(), cfg, Options{MinFreeBytes: 1 << 20})
	expect(t, r, "state dir", Fail, "below 1.0 MiB", "free space")
	if r.OK {
		t.Fatal("report OK with a full state dir")
	}
	// Read-only: not writable.
	if err := syscall.Mount("", state, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err == nil {
		r = Run(context.Background(), cfg, Options{MinFreeBytes: 1})
		expect(t, r, "state dir", Fail, "not writable", "chown")
	}
}

// TestVolumes: a missing volume FAILs with a mount hint; a file is not a
// directory.
func TestVolumes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	cfg := parse(t, "state_dir: "+dir+"\nvolumes:\n  - name: gone\n    path: "+filepath.Join(dir, "missing")+"\n  - name: file\n    path: "+file+"\n")
	r := Run(context.Background(), cfg, Options{MinFreeBytes: 1})
	expect(t, r, "volume gone", Fail, "no such file", "mount")
	expect(t, r, "volume file", Fail, "not a directory")
}

func TestRemoteFSTypes(t *testing.T) {
	for typ, want := range map[string]bool{"nfs": true, "nfs4": true, "cifs": true, "smb3": true, "fuse.sshfs": true, "fuse.rclone": true, "ext4": false, "xfs": false, "tmpfs": false, "zfs": false} {
		if isRemote(typ) != want {
			t.Errorf("isRemote(%q) = %v, want %v", typ, !want, want)
		}
	}
}

// TestInotifyLimit: more directories than max_user_watches FAILs with the
// sysctl fix; near the limit WARNs.
func TestInotifyLimit(t *testing.T) {
	fake := t.TempDir()
	old := procInotify
	procInotify = fake
	t.Cleanup(func() { procInotify = old })
	vol := t.TempDir()
	for _, d := range []string{"a/1", "a/2", "b/1", "b/2"} {
		os.MkdirAll(filepath.Join(vol, d), 0o755)
	} // 7 directories with the root
	cfg := parse(t, "state_dir: "+t.TempDir()+"\nvolumes:\n  - name: v\n    path: "+vol+"\n")
	for _, c := range []struct {
		watches string
		want    Level
	}{{"5", Fail}, {"8", Warn}, {"100000", OK}} {
		os.WriteFile(filepath.Join(fake, "max_user_watches"), []byte(c.watches+"\n"), 0o644)
		os.WriteFile(filepath.Join(fake, "max_user_instances"), []byte("128\n"), 0o644)
		r := Run(context.Background(), cfg, Options{MinFreeBytes: 1})
		f := expect(t, r, "inotify", c.want)
		if c.want != OK && !strings.Contains(f.Fix, "fs.inotify.max_user_watches") {
			t.Errorf("watches=%s: fix %q lacks the sysctl", c.watches, f.Fix)
		}
	}
}

// TestWebhook: HEAD reaches the hub with the token and sends no events;
// an unreachable URL FAILs.
func TestWebhook(t *testing.T) {
	var heads, others atomic.Int32
	var auth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			heads.Add(1)
			auth.Store(r.Header.Get("Authorization"))
		} else {
			others.Add(1)
		}
		w.WriteHeader(http.StatusMethodNotAllowed)
	}))
	defer srv.Close()
	dir := t.TempDir()
	tok := filepath.Join(dir, "hub-token")
	os.WriteFile(tok, []byte("s3cr3t-hub\n"), 0o600)
	cfg := parse(t, "state_dir: "+dir+"\nvolumes: []\nhub:\n  webhook:\n    url: "+srv.URL+"/events\n    token_file: "+tok+"\n")
	r := Run(context.Background(), cfg, Options{MinFreeBytes: 1, Checks: []Check{Webhook}})
	expect(t, r, "webhook", OK, "405", "no events sent")
	if heads.Load() != 1 || others.Load() != 0 {
		t.Fatalf("hub saw %d HEAD and %d other requests, want 1 and 0", heads.Load(), others.Load())
	}
	if got := auth.Load(); got != "Bearer s3cr3t-hub" {
		t.Errorf("Authorization %q", got)
	}
	if strings.Contains(text(r), "s3cr3t-hub") {
		t.Error("the report shows the webhook token")
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	cfg = parse(t, "state_dir: "+dir+"\nvolumes: []\nhub:\n  webhook:\n    url: http://"+dead+"/events\n")
	r = Run(context.Background(), cfg, Options{MinFreeBytes: 1, Timeout: 3 * time.Second, Checks: []Check{Webhook}})
	expect(t, r, "webhook", Fail, "cannot reach", "connection refused")
}

// TestS3 runs the probe against a real MinIO: good credentials OK (with a
// clock finding), bad secret and unknown bucket FAIL with clear messages,
// and the probe object is gone afterwards.
func TestS3(t *testing.T) {
	m := miniotest.Start(t)
	ctx := context.Background()
	m.CreateBucket(t, "hub")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	dir := t.TempDir()
	yaml := func(bucket string) string {
		return "appliance_id: box1\nstate_dir: " + dir + "\nvolumes: []\nhub:\n  s3:\n    endpoint: " + m.Endpoint +
			"\n    region: us-east-1\n    bucket: " + bucket + "\n    prefix: edge\n    path_style: true\n"
	}
	cases := []struct {
		name, key, secret, bucket string
		want                      Level
		contains                  []string
	}{
		{"good", miniotest.AccessKey, miniotest.SecretKey, "hub", OK, []string{"put, get and delete", "edge/box1"}},
		{"bad secret", miniotest.AccessKey, "wrong-secret", "hub", Fail, []string{"put", "secret key is wrong", "credential chain"}},
		{"unknown key", "nobody", "whatever123", "hub", Fail, []string{"access key id is unknown"}},
		{"no bucket", miniotest.AccessKey, miniotest.SecretKey, "missing", Fail, []string{"bucket does not exist", "create the bucket"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("AWS_ACCESS_KEY_ID", c.key)
			t.Setenv("AWS_SECRET_ACCESS_KEY", c.secret)
			cfg := parse(t, yaml(c.bucket))
			r := Run(ctx, cfg, Options{MinFreeBytes: 1, Timeout: 10 * time.Second, Checks: []Check{S3}})
			expect(t, r, "s3", c.want, c.contains...)
			if c.want == OK {
				expect(t, r, "clock", OK, "clock skew")
			}
			if strings.Contains(text(r), c.secret) {
				t.Error("the report shows the secret key")
			}
		})
	}
	if objs := m.List(t, "hub"); len(objs) != 0 {
		t.Errorf("probe objects left in the bucket: %d", len(objs))
	}
}

func TestClockSkew(t *testing.T) {
	for _, c := range []struct {
		skew time.Duration
		want Level
	}{{2 * time.Second, OK}, {-2 * time.Minute, Warn}, {20 * time.Minute, Fail}} {
		if f := skewFinding(c.skew, "x"); f.Level != c.want {
			t.Errorf("skew %s: %s, want %s", c.skew, f.Level, c.want)
		}
	}
}

// TestFUSEVolume: a volume on a FUSE mount (bindfs) is reachable but WARNs
// that changes by other hosts are found only by the rescan walk.
func TestFUSEVolume(t *testing.T) {
	testenv.Need(t, "bindfs")
	src, mnt := t.TempDir(), t.TempDir()
	if b, err := exec.Command("bindfs", "--no-allow-other", src, mnt).CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, "bindfs: %v %s", err, b)
	}
	t.Cleanup(func() { exec.Command("fusermount", "-u", mnt).Run(); syscall.Unmount(mnt, syscall.MNT_DETACH) })
	cfg := parse(t, "state_dir: "+t.TempDir()+"\nrescan: 2m\nvolumes:\n  - name: nas\n    path: "+mnt+"\n")
	r := Run(context.Background(), cfg, Options{MinFreeBytes: 1})
	expect(t, r, "volume nas", Warn, "fuse", "no inotify events", "every 2m0s", "lower rescan")
	// The state dir on that FUSE (or an NFS/SMB) mount: Badger's flock
	// and memory-mapped files are not safe there.
	cfg = parse(t, "state_dir: "+filepath.Join(mnt, "state")+"\nvolumes: []\n")
	r = Run(context.Background(), cfg, Options{MinFreeBytes: 1})
	expect(t, r, "state dir", Warn, "fuse", "memory-mapped and locked with flock", "local disk")
}

// TestCatalogLock: the catalog finding reads Badger's LOCK pid file
// without opening the store.
func TestCatalogLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "catalog")
	if f := checkCatalog(dir); !strings.Contains(f.Message, "does not exist yet") {
		t.Errorf("missing: %s", f.Message)
	}
	os.Mkdir(dir, 0o750)
	os.WriteFile(filepath.Join(dir, "000001.vlog"), make([]byte, 4096), 0o640)
	if f := checkCatalog(dir); !strings.Contains(f.Message, "not open (no daemon") || !strings.Contains(f.Message, "4.0 KiB") {
		t.Errorf("closed: %s", f.Message)
	}
	os.WriteFile(filepath.Join(dir, "LOCK"), []byte("999999999\n"), 0o644)
	if f := checkCatalog(dir); !strings.Contains(f.Message, "stale LOCK of pid 999999999") {
		t.Errorf("stale: %s", f.Message)
	}
	os.WriteFile(filepath.Join(dir, "LOCK"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
	if f := checkCatalog(dir); !strings.Contains(f.Message, "held by a running daemon") {
		t.Errorf("held: %s", f.Message)
	}
}
