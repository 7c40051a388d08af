package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ingestd/ingestd/internal/testutil"
)

// TestExampleHasEveryKey keeps testdata/config/example.yaml (documented in
// README) complete: every key of Config is set to a non-zero value there.
func TestExampleHasEveryKey(t *testing.T) {
	data, err := os.ReadFile("../../testdata/config/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data)
	if err != nil {
		t.Fatalf("example.yaml: %v", err)
	}
	var missing []string
	var walk func(v reflect.Value, key string)
	walk = func(v reflect.Value, key string) {
		switch v.Kind() {
		case reflect.Struct:
			if v.Type() == reflect.TypeFor[Duration]() {
				break
			}
			for name, i := range yamlFields(v.Type()) {
				walk(v.FieldByIndex(i), join(key, name))
			}
			return
		case reflect.Slice:
			if v.Len() == 0 {
				missing = append(missing, key)
				return
			}
			walk(v.Index(0), key+"[0]")
			return
		}
		if v.IsZero() {
			missing = append(missing, key)
		}
	}
	walk(reflect.ValueOf(c).Elem(), "")
	if len(missing) > 0 {
		t.Errorf("example.yaml lacks keys: %v", missing)
	}
	if c.Settle.D() != 5*time.Second || c.Volumes[1].Name != "cards" {
		t.Errorf("decoded wrongly: %+v", c)
	}
}

func TestDefaultYAMLLoads(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("watch", 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := LoadBytes(DefaultYAML())
	if err != nil {
		t.Fatal(err)
	}
	// Validate made the volume's "./watch" absolute (the one place it is).
	if c.API.Listen != "127.0.0.1:8470" || c.StateDir != "./state" || len(c.Volumes) != 1 || c.Volumes[0].Path != filepath.Join(dir, "watch") {
		t.Errorf("embedded defaults changed: %+v", c)
	}
	if c.Settle.D() != 5*time.Second || c.Rescan.D() != 5*time.Minute || c.HashWorkers < 1 || c.Log.Format != "text" {
		t.Errorf("defaults not applied: %+v", c)
	}
}

// TestVolumePathsAbsolute: Validate makes every volume path absolute and
// clean, once, and keeps what the user wrote in its error messages.
func TestVolumePathsAbsolute(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, d := range []string{"a", "b/c", "d"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	y := "state_dir: ./state\nvolumes:\n  - {name: a, path: a}\n  - {name: c, path: ./b/../b/c/}\n  - {name: d, path: " + dir + "//d/.}\n"
	c, err := LoadBytes([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a"), filepath.Join(dir, "b", "c"), filepath.Join(dir, "d")}
	for i, v := range c.Volumes {
		if v.Path != want[i] {
			t.Errorf("volumes[%d].path %q, want %q", i, v.Path, want[i])
		}
	}
	if err := c.Validate(); err != nil || c.Volumes[1].Path != want[1] {
		t.Errorf("validating again: %v, %q", err, c.Volumes[1].Path)
	}
	// A rejected config is left as written; the message names its paths.
	y = "state_dir: ./state\nvolumes:\n  - {name: a, path: ./a}\n  - {name: b, path: ./a/}\n"
	_, err = LoadBytes([]byte(y))
	if err == nil || !strings.Contains(err.Error(), "./a/ overlaps volumes[0].path ./a") {
		t.Errorf("overlap: %v", err)
	}
}

// TestBadConfigs: every bad config is rejected with an error naming the key.
func TestBadConfigs(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, d := range []string{a, b, filepath.Join(a, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	state := "state_dir: " + filepath.Join(dir, "state") + "\n"
	vols := "volumes:\n  - name: footage\n    path: " + a + "\n"
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown key", state + "setle: 5s\n" + vols, `config: unknown key "setle" (line 2)`},
		{"unknown nested key", state + "api:\n  lisen: x\n" + vols, `config: unknown key "api.lisen" (line 3)`},
		{"unknown volume key", state + "volumes:\n  - name: x\n    pth: /x\n", `config: unknown key "volumes[0].pth" (line 4)`},
		{"unknown proxy key", state + "proxy:\n  gpus: on\n" + vols, `config: unknown key "proxy.gpus"`},
		{"bad proxy gpu", state + "proxy:\n  gpu: maybe\n" + vols, `config: proxy.gpu: must be auto, off or require`},
		{"bad proxy duration", state + "proxy:\n  stall_timeout: 10ms\n" + vols, `config: proxy.stall_timeout: must be at least 1s`},
		{"hub s3 without bucket", state + "hub:\n  s3:\n    region: eu-west-1\n" + vols, `config: hub.s3.bucket: required`},
		{"hub s3 bad endpoint", state + "hub:\n  s3:\n    bucket: hub\n    endpoint: minio:9000\n" + vols, `config: hub.s3.endpoint: invalid URL`},
		{"hub s3 bad rate", state + "hub:\n  s3:\n    bucket: hub\n    bandwidth: [{from: '08:00', to: '19:00', rate: fast}]\n" + vols, `config: hub.s3.bandwidth`},
		{"hub webhook bad url", state + "hub:\n  webhook:\n    url: hub.example.com\n" + vols, `config: hub.webhook.url: invalid URL`},
		{"unknown hub key", state + "hub:\n  gcs: {}\n" + vols, `config: unknown key "hub.gcs"`},
		{"bad duration", state + "settle: 5x\n" + vols, `config: settle: invalid duration "5x" (line 2)`},
		{"duration not a string", state + "rescan: [1]\n" + vols, `config: rescan: invalid duration`},
		{"negative settle", state + "settle: -1s\n" + vols, `config: settle: must be positive`},
		{"tiny rescan", state + "rescan: 10ms\n" + vols, `config: rescan: must be at least 1s`},
		{"bad int", state + "hash_workers: lots\n" + vols, `config: hash_workers: expected an integer, got "lots" (line 2)`},
		{"float for an int", state + "hash_workers: 2.5\n" + vols, `config: hash_workers: expected an integer, got "2.5" (line 2)`},
		{"second document", state + vols + "---\nstate_dir: /etc\n", `config: (document): a second YAML document (after ---): one config per file (line 5)`},
		{"zero-ish workers", state + "hash_workers: 1000\n" + vols, `config: hash_workers: must be between 1 and 256`},
		{"duplicate key", state + "settle: 1s\nsettle: 2s\n" + vols, `config: settle: duplicate key (first at line 2) (line 3)`},
		{"duplicate volume name", state + vols + "  - name: footage\n    path: " + b + "\n", `config: volumes[1].name: duplicate volume name "footage"`},
		{"missing volume name", state + "volumes:\n  - path: " + a + "\n", `config: volumes[0].name: required`},
		{"bad volume name", state + "volumes:\n  - name: Foo Bar\n    path: " + a + "\n", `config: volumes[0].name: invalid name "Foo Bar"`},
		{"missing path", state + "volumes:\n  - name: x\n", `config: volumes[0].path: required`},
		{"path does not exist", state + "volumes:\n  - name: x\n    path: /mnt/x-nope\n", `config: volumes[0].path: /mnt/x-nope does not exist`},
		{"path is a file", state + "volumes:\n  - name: x\n    path: " + file + "\n", `config: volumes[0].path: ` + file + ` is not a directory`},
		{"overlapping volumes", state + vols + "  - name: sub\n    path: " + filepath.Join(a, "sub") + "\n", `config: volumes[1].path: ` + filepath.Join(a, "sub") + ` overlaps volumes[0].path`},
		{"no volumes", state, `config: volumes: at least one volume is required`},
		{"volumes not a list", state + "volumes: footage\n", `config: volumes: expected a list`},
		{"state inside volume", "state_dir: " + filepath.Join(a, "st") + "\n" + vols, `config: state_dir: ` + filepath.Join(a, "st") + ` is inside volumes[0].path`},
		{"volume inside state", "state_dir: " + dir + "\n" + vols, `config: volumes[0].path: ` + a + ` is inside state_dir ` + dir},
		{"state is a file", "state_dir: " + file + "\n" + vols, `config: state_dir: ` + file + ` is not a directory`},
		{"public listen without token", state + "api:\n  listen: 0.0.0.0:8470\n" + vols, `config: api.token_file: required when api.listen (0.0.0.0:8470) is not a loopback address`},
		{"all interfaces without token", state + "api:\n  listen: :8470\n" + vols, `config: api.token_file: required when api.listen (:8470) is not a loopback address`},
		{"listen without port", state + "api:\n  listen: localhost\n" + vols, `config: api.listen: invalid address "localhost"`},
		{"token file missing", state + "api:\n  token_file: /nope/token\n" + vols, `config: api.token_file: /nope/token does not exist`},
		{"bad log level", state + "log:\n  level: loud\n" + vols, `config: log.level: invalid level "loud"`},
		{"bad log format", state + "log:\n  format: xml\n" + vols, `config: log.format: invalid format "xml"`},
		{"bad appliance id", state + "appliance_id: 'a b'\n" + vols, `config: appliance_id: invalid id "a b"`},
		{"bad ignore pattern", state + "ignore: ['[']\n" + vols, `config: ignore[0]: invalid pattern "["`},
		{"ignore with slash", state + "ignore: ['a/b']\n" + vols, `config: ignore[0]: invalid pattern "a/b"`},
		{"ffmpeg path missing", state + "ffmpeg: /nope/ffmpeg\n" + vols, `config: ffmpeg: /nope/ffmpeg does not exist`},
		{"not yaml", "a: [\n", `config: `},
		{"top level list", "- a\n", `config: (document): expected a mapping of keys`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadBytes([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.yaml)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *config.Error", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got  %q\nwant %q...", err, tc.want)
			}
		})
	}
}

func TestGoodConfig(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "vol"), 0o755); err != nil {
		t.Fatal(err)
	}
	y := "state_dir: " + dir + "/state\nsettle: 250ms\nignore: ['*.tmp']\napi:\n  listen: 0.0.0.0:0\n  token_file: " + tok +
		"\nlog: {level: debug, format: json}\nvolumes:\n  - {name: footage, path: " + dir + "/vol}\n"
	c, err := LoadBytes([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if c.Settle.D() != 250*time.Millisecond || c.Rescan.D() != DefaultRescan || c.Ignore[0] != "*.tmp" || c.Log.Format != "json" {
		t.Errorf("decoded %+v", c)
	}
}

// TestDecodeStageSections: the decoder handles what later stages' Config
// structs use (time.Duration, *bool, lists of structs, maps, inline), with
// errors naming the key.
func TestDecodeStageSections(t *testing.T) {
	type window struct {
		From string `yaml:"from"`
		Rate string `yaml:"rate"`
	}
	type Common struct {
		Shared string `yaml:"shared"`
	}
	type stage struct {
		Enabled *bool             `yaml:"enabled"`
		Stall   time.Duration     `yaml:"stall_timeout"`
		Windows []window          `yaml:"bandwidth"`
		Labels  map[string]string `yaml:"labels"`
		Ratio   float64           `yaml:"ratio"`
		Common  `yaml:",inline"`
	}
	type doc struct {
		Proxy stage `yaml:"proxy"`
	}
	good := "proxy:\n  enabled: false\n  stall_timeout: 2m\n  bandwidth: [{from: '08:00', rate: 20MiB/s}]\n  labels: {a: b}\n  ratio: 0.5\n  shared: x\n"
	var d doc
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(good), &root); err != nil {
		t.Fatal(err)
	}
	if err := decodeInto(root.Content[0], reflect.ValueOf(&d).Elem(), ""); err != nil {
		t.Fatal(err)
	}
	if d.Proxy.Enabled == nil || *d.Proxy.Enabled || d.Proxy.Stall != 2*time.Minute || d.Proxy.Windows[0].Rate != "20MiB/s" ||
		d.Proxy.Labels["a"] != "b" || d.Proxy.Ratio != 0.5 || d.Proxy.Shared != "x" {
		t.Errorf("decoded %+v", d.Proxy)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"proxy:\n  stall_timeout: soon\n", `config: proxy.stall_timeout: invalid duration "soon" (line 2)`},
		{"proxy:\n  enabled: maybe\n", `config: proxy.enabled: expected a boolean, got "maybe" (line 2)`},
		{"proxy:\n  bandwidth: [{from: '08:00', rte: 1}]\n", `config: unknown key "proxy.bandwidth[0].rte" (line 2)`},
		{"proxy:\n  ratio: half\n", `config: proxy.ratio: expected a number, got "half" (line 2)`},
		{"proxy:\n  labels: [a]\n", `config: proxy.labels: expected a mapping of keys (line 2)`},
	} {
		var d doc
		var root yaml.Node
		if err := yaml.Unmarshal([]byte(tc.yaml), &root); err != nil {
			t.Fatal(err)
		}
		err := decodeInto(root.Content[0], reflect.ValueOf(&d).Elem(), "")
		if err == nil || err.Error() != tc.want {
			t.Errorf("got %v\nwant %s", err, tc.want)
		}
	}
}

// TestOverlapThroughSymlinks: a volume, state_dir or card mount root that
// reaches another through a symlink is the same tree and is refused like
// a lexical overlap, naming the key and the resolved paths.
func TestOverlapThroughSymlinks(t *testing.T) {
	dir := t.TempDir()
	a, b, media := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "media")
	for _, d := range []string{a, b, filepath.Join(media, "nas")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"alink":     a,                         // another name for volume a
		"statelink": filepath.Join(a, "state"), // state dir inside a (not created yet)
		"blink":     b,
		"medialink": filepath.Join(media, "nas"), // a NAS under the card mount root
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	state := "state_dir: " + filepath.Join(dir, "state") + "\n"
	vol := func(name, path string) string { return "  - name: " + name + "\n    path: " + path + "\n" }
	cards := "cards:\n  offload_to: a\n  mount_roots: [" + media + "]\n"
	cases := []struct{ name, yaml, want string }{
		{"volume is a link to another", state + "volumes:\n" + vol("a", a) + vol("b", filepath.Join(dir, "alink")),
			"config: volumes[1].path: " + filepath.Join(dir, "alink") + " overlaps volumes[0].path " + a + " (through symlinks: " + a + " and " + a + ")"},
		{"state_dir through a link into a volume", "state_dir: " + filepath.Join(dir, "statelink", "sub") + "\nvolumes:\n" + vol("a", a),
			"config: state_dir: " + filepath.Join(dir, "statelink", "sub") + " is inside volumes[0].path " + a},
		{"volume is a link to the state dir", "state_dir: " + b + "\nvolumes:\n" + vol("a", filepath.Join(dir, "blink")),
			"config: state_dir: " + b + " is inside volumes[0].path " + filepath.Join(dir, "blink") + " (through symlinks: " + b + " and " + b + ")"},
		{"volume under the card mount root", state + cards + "volumes:\n" + vol("a", a) + vol("nas", filepath.Join(media, "nas")),
			"config: volumes[1].path: " + filepath.Join(media, "nas") + " overlaps cards.mount_roots[0] " + media},
		{"volume linked under the card mount root", state + cards + "volumes:\n" + vol("a", a) + vol("nas", filepath.Join(dir, "medialink")),
			"config: volumes[1].path: " + filepath.Join(dir, "medialink") + " overlaps cards.mount_roots[0] " + media + " (through symlinks"},
		{"card mount root inside a volume", state + "cards:\n  offload_to: a\n  mount_roots: [" + filepath.Join(a, "cards") + "]\n" + "volumes:\n" + vol("a", a),
			"config: volumes[0].path: " + a + " overlaps cards.mount_roots[0] " + filepath.Join(a, "cards")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadBytes([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.yaml)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got  %q\nwant %q...", err, tc.want)
			}
		})
	}
	// Without cards: a volume under /media-like folders is fine, and
	// distinct volumes reached through links are fine.
	ok := state + "volumes:\n" + vol("nas", filepath.Join(media, "nas")) + vol("b", filepath.Join(dir, "blink"))
	if _, err := LoadBytes([]byte(ok)); err != nil {
		t.Errorf("distinct volumes refused: %v", err)
	}
}

// TestReadFileRefuses: Load reads only a regular file of at most
// MaxFileSize bytes. A FIFO must not block it (validate, run and the
// SIGHUP reload would hang), a directory or an oversized file is refused
// with the path named; a symlink to a good file is followed.
func TestReadFileRefuses(t *testing.T) {
	dir := t.TempDir()
	vol := filepath.Join(dir, "w")
	if err := os.Mkdir(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	good := []byte("state_dir: " + filepath.Join(dir, "state") + "\nvolumes:\n  - {name: a, path: " + vol + "}\n")
	goodPath := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(goodPath, good, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink(goodPath, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(link); err != nil {
		t.Errorf("symlink to a good config: %v", err)
	}
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, append(good, bytes.Repeat([]byte("#"), MaxFileSize)...), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		fifo: "config: read " + fifo + ": not a regular file",
		dir:  "config: read " + dir + ": is a directory",
		big:  "config: read " + big + ": " + strconv.Itoa(len(good)+MaxFileSize) + " bytes, more than the " + strconv.Itoa(MaxFileSize) + " allowed",
	} {
		done := make(chan error, 1)
		go func() { _, err := Load(path); done <- err }()
		select {
		case err := <-done:
			var ce *Error
			if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Load(%s) = %v, want %q...", filepath.Base(path), err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Load(%s) blocked", filepath.Base(path))
		}
	}
}

// TestVolumeHungMountNotAnError: a volume whose mount does not answer (a
// bindfs server SIGSTOPped, as a hung NFS share) does not keep the config
// from validating, nor the daemon from starting: within
// VolumeCheckTimeout it is left unchecked, said so in VolumeWarnings;
// the other volumes are still checked.
func TestVolumeHungMountNotAnError(t *testing.T) {
	mnt, fuse := testutil.MountBindfs(t)
	old := VolumeCheckTimeout
	VolumeCheckTimeout = 300 * time.Millisecond
	defer func() { VolumeCheckTimeout = old }()
	dir, state := t.TempDir(), t.TempDir()
	if err := fuse.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer fuse.Signal(syscall.SIGCONT)
	y := "state_dir: " + state + "\nvolumes:\n  - {name: raid, path: " + dir + "}\n  - {name: nas, path: " + mnt + "}\n"
	done := make(chan struct{})
	var c *Config
	var err error
	go func() {
		defer close(done)
		c, err = LoadBytes([]byte(y))
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		fuse.Signal(syscall.SIGCONT)
		<-done
		t.Fatal("validating waited for the hung mount")
	}
	if err != nil {
		t.Fatalf("hung volume rejected: %v", err)
	}
	ws := c.VolumeWarnings()
	if len(ws) != 1 || ws[0].Key != "volumes[1].path" || !strings.Contains(ws[0].Msg, "did not answer within 300ms") {
		t.Fatalf("warnings: %+v", ws)
	}
	// A bad volume beside it is still an error.
	y = "state_dir: " + state + "\nvolumes:\n  - {name: raid, path: " + filepath.Join(dir, "missing") + "}\n  - {name: nas, path: " + mnt + "}\n"
	if _, err := LoadBytes([]byte(y)); err == nil || !strings.Contains(err.Error(), "volumes[0].path") {
		t.Fatalf("missing volume beside a hung one: %v", err)
	}
}
