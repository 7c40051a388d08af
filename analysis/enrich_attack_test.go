package analysis

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// outDir is the shell snippet that reads the request and sets $dir to its
// out_dir.
const outDir = `req=$(cat); dir=$(printf '%s' "$req" | sed -n 's/.*"out_dir":"\([^"]*\)".*/\1/p')` + "\n"

// TestEnrichChattyStderr (red team, issue 14 item 3): an enricher that
// writes far more than 4 KiB to stderr (whisper.cpp logs every segment
// there) and then answers is ready, and a failing one's error ends with
// the LAST lines of its stderr. It used to be failed: the 4 KiB stderr
// buffer refused writes, exec closed the pipe, and the command died of
// SIGPIPE or its run returned "output over the cap".
func TestEnrichChattyStderr(t *testing.T) {
	req := EnrichRequest{AssetID: strings.Repeat("ab", 32), Kind: "video", Duration: 12}
	chatty := script(t, `cat >/dev/null; i=0; while [ $i -lt 4000 ]; do echo "whisper_full: segment $i decoded, 123 tokens" >&2; i=$((i+1)); done
echo '{"data":{"tags":["ok"]}}'`)
	en := enrich(context.Background(), Enricher{Name: "chatty", Command: []string{chatty}}, req, t.TempDir())
	if en.Status != StatusReady {
		t.Errorf("an enricher that logs 180 KB to stderr: %+v, want ready", en)
	}
	failing := script(t, `cat >/dev/null; i=0; while [ $i -lt 4000 ]; do echo "progress $i" >&2; i=$((i+1)); done; echo 'model file corrupt' >&2; exit 2`)
	en = enrich(context.Background(), Enricher{Name: "failing", Command: []string{failing}}, req, t.TempDir())
	if en.Status != StatusFailed || !strings.Contains(en.Error, "exit status 2") || !strings.HasSuffix(en.Error, "model file corrupt") ||
		len(en.Error) > 4200 {
		t.Errorf("failing chatty enricher: error %q (%d bytes), want exit status 2 and its last stderr line", en.Error, len(en.Error))
	}
}

// TestEnrichEnvironment (red team, issue 14 item 3): the enricher does not
// inherit the daemon's environment, where the S3 credentials (AWS_*) and
// other secrets live; it gets PATH (tools found), INGESTD_FFMPEG (the
// daemon's ffmpeg) and what `env` configures.
func TestEnrichEnvironment(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEY")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value-never-shown")
	t.Setenv("INGESTD_API_TOKEN", "tok-never-shown")
	t.Setenv("LC_ALL", "C.UTF-8")
	seen := filepath.Join(t.TempDir(), "env.txt")
	dump := script(t, `cat >/dev/null; env > `+seen+`; echo '{"data":{}}'`)
	cfg := Config{Enrichers: []Enricher{{Name: "env", Command: []string{dump}, Env: map[string]string{"OMP_NUM_THREADS": "2"}}}}
	svc, err := New(cfg, "/opt/ff/bin/ffmpeg", t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := EnrichRequest{AssetID: strings.Repeat("ab", 32), Kind: "video", Duration: 12}
	if en := enrich(context.Background(), svc.cfg.Enrichers[0], req, t.TempDir()); en.Status != StatusReady {
		t.Fatalf("%+v", en)
	}
	b, err := os.ReadFile(seen)
	if err != nil {
		t.Fatal(err)
	}
	env := string(b)
	for _, secret := range []string{"AKIAEXAMPLEKEY", "s3cr3t-value-never-shown", "tok-never-shown", "AWS_"} {
		if strings.Contains(env, secret) {
			t.Errorf("enricher environment holds %q:\n%s", secret, env)
		}
	}
	for _, want := range []string{"PATH=" + os.Getenv("PATH") + "\n", "INGESTD_FFMPEG=/opt/ff/bin/ffmpeg\n", "OMP_NUM_THREADS=2\n", "LC_ALL=C.UTF-8\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("enricher environment lacks %q:\n%s", want, env)
		}
	}
	if cfg.Enrichers[0].ffmpeg != "" {
		t.Error("New changed the caller's enricher config")
	}
	for _, c := range []struct {
		e    Enricher
		want string
	}{
		{Enricher{Name: "rel", Command: []string{"bin/whisper"}}, "must be an absolute path or a name in PATH"},
		{Enricher{Name: "env", Command: []string{"x"}, Env: map[string]string{"A=B": "1"}}, `analysis.enrichers[0].env: "A=B"`},
		{Enricher{Name: "../x", Command: []string{"x"}}, "analysis.enrichers[0].name"},
		{Enricher{Name: "a/b", Command: []string{"x"}}, "analysis.enrichers[0].name"},
		{Enricher{Name: "big", Command: []string{"x"}, MaxOutput: 1 << 30}, "analysis.enrichers[0].max_output: at most"},
	} {
		cfg := Config{Enrichers: []Enricher{c.e}}
		cfg.SetDefaults()
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.e, err, c.want)
		}
	}
}

// TestEnrichHostileOutput (red team, issue 14 item 3): what an enricher
// leaves behind and what it answers is checked before anything is
// installed; each violation fails that enricher with its reason.
func TestEnrichHostileOutput(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "catalog-secret")
	if err := os.WriteFile(secret, []byte("not for the hub"), 0o600); err != nil {
		t.Fatal(err)
	}
	req := EnrichRequest{AssetID: strings.Repeat("ab", 32), Kind: "video", Duration: 12}
	cases := []struct {
		name, body, wantErr string
	}{
		{"exits 0 with nothing", `cat >/dev/null; exit 0`, "exited 0 with nothing on stdout"},
		{"hard link to a file outside", outDir + `ln ` + secret + ` "$dir/leak.txt"; echo '{"files":["leak.txt"]}'`, `file "leak.txt": a hard link`},
		{"symlink", outDir + `ln -s ` + secret + ` "$dir/leak.txt"; echo '{"files":["leak.txt"]}'`, `file "leak.txt": not a regular file`},
		{"listed twice", outDir + `echo x > "$dir/a.txt"; echo '{"files":["a.txt","a.txt"]}'`, `file "a.txt": listed twice`},
		{"too many files", outDir + `i=0; l=""; while [ $i -lt 101 ]; do : > "$dir/f$i"; l="$l\"f$i\","; i=$((i+1)); done; echo "{\"files\":[${l%,}]}"`, "101 files listed, at most 100"},
		{"transcript not webvtt", outDir + `printf '<script>alert(1)</script>\n' > "$dir/transcript.vtt"; echo '{"files":["transcript.vtt"]}'`, `file "transcript.vtt": not WebVTT`},
		{"transcript not utf-8", outDir + `printf 'WEBVTT\n\n00:00.000 --> 00:01.000\n\377\376\n' > "$dir/transcript.vtt"; echo '{"files":["transcript.vtt"]}'`, "not UTF-8"},
		{"transcript WEBVTTX", outDir + `printf 'WEBVTTX\n' > "$dir/transcript.vtt"; echo '{"files":["transcript.vtt"]}'`, "not WebVTT"},
		{"NaN time", `cat >/dev/null; echo '{"data":{"segments":[{"start":NaN,"end":1,"text":"x"}]}}'`, "not a response object"},
		{"absurd time", `cat >/dev/null; echo '{"data":{"segments":[{"start":0,"end":1e308,"text":"x"}]}}'`, "past the programme's 12s"},
		{"segments out of order", `cat >/dev/null; echo '{"data":{"segments":[{"start":5,"end":6,"text":"b"},{"start":1,"end":2,"text":"a"}]}}'`, "data.segments[1]: starts at 1, before the one before it (5)"},
		{"words out of order", `cat >/dev/null; echo '{"data":{"segments":[{"start":1,"end":3,"text":"a b","words":[{"word":"b","start":2,"end":3},{"word":"a","start":1,"end":1.5}]}]}}'`, "data.segments[0].words[1]: starts at 1"},
		// Invalid data fails before a listed file is installed.
		{"bad data with a file", outDir + `printf 'WEBVTT\n' > "$dir/transcript.vtt"; echo '{"data":{"tags":[""]},"files":["transcript.vtt"]}'`, "data.tags[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := t.TempDir()
			en := enrich(context.Background(), Enricher{Name: "x", Command: []string{script(t, c.body)}}, req, d)
			if en.Status != StatusFailed || !strings.Contains(en.Error, c.wantErr) {
				t.Errorf("status %s error %q, want failed with %q", en.Status, en.Error, c.wantErr)
			}
			if _, err := os.Stat(filepath.Join(d, "enrich")); err == nil {
				t.Error("files installed for a failed enricher")
			}
		})
	}
	// HTML and JavaScript in tags and transcript text is data: kept as
	// is, JSON-escaped (and served as application/json, nosniff);
	// overlapping words in order are allowed.
	hostile := `{"data":{"tags":["<script>alert(1)</script>"],"segments":[{"start":1,"end":3,"text":"a --> b & <i>c</i>",` +
		`"words":[{"word":"<b>","start":1,"end":2.5},{"word":"&amp;","start":2,"end":3}]}]}}`
	en := enrich(context.Background(), Enricher{Name: "html", Command: []string{script(t, "cat >/dev/null; echo '"+hostile+"'")}}, req, t.TempDir())
	if en.Status != StatusReady || !strings.Contains(string(en.Data), "<script>") {
		t.Errorf("markup in tags and text: %+v, want ready with the text kept", en)
	}
}

// TestEnrichKillsWhatItLeaves (red team, issue 14 item 3): an enricher
// that answers and exits but leaves a child running that holds its
// stdout, and one that times out with a grandchild, leave no process
// behind: the whole process group is killed.
func TestEnrichKillsWhatItLeaves(t *testing.T) {
	req := EnrichRequest{AssetID: strings.Repeat("ab", 32), Kind: "video", Duration: 12}
	pids := filepath.Join(t.TempDir(), "pids")
	leaves := script(t, `cat >/dev/null; (sleep 300; echo late) & echo $! >> `+pids+`; echo '{"data":{"tags":["ok"]}}'`)
	t0 := time.Now()
	en := enrich(context.Background(), Enricher{Name: "leaves", Command: []string{leaves}}, req, t.TempDir())
	if en.Status != StatusReady || time.Since(t0) > 20*time.Second {
		t.Errorf("enricher that leaves a child holding stdout: %+v after %s, want ready", en, time.Since(t0))
	}
	hangs := script(t, `cat >/dev/null; sh -c 'sleep 300 & echo $! >> `+pids+`; wait' & sleep 300`)
	en = enrich(context.Background(), Enricher{Name: "hangs", Command: []string{hangs}, Timeout: time.Second}, req, t.TempDir())
	if en.Status != StatusFailed || !strings.Contains(en.Error, "timed out after 1s") {
		t.Errorf("hanging enricher: %+v", en)
	}
	b, err := os.ReadFile(pids)
	if err != nil {
		t.Fatal(err)
	}
	ps := strings.Fields(string(b))
	if len(ps) != 2 {
		t.Fatalf("pids %q", b)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range ps {
		pid, _ := strconv.Atoi(p)
		for syscall.Kill(pid, 0) == nil && !zombie(pid) {
			if time.Now().After(deadline) {
				out, _ := exec.Command("ps", "-o", "pid,pgid,stat,cmd", "-p", p).CombinedOutput()
				t.Errorf("descendant %d of an enricher still runs:\n%s", pid, out)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// zombie reports whether pid has exited and waits for its reaper.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// TestEnrichMillionSegments (red team, issue 14 item 3): a million
// transcript segments (31 MB) fail at the default max_output with that
// reason; with max_output raised they are checked, one by one, and kept.
func TestEnrichMillionSegments(t *testing.T) {
	req := EnrichRequest{AssetID: strings.Repeat("ab", 32), Kind: "video", Duration: 1e6}
	many := script(t, `cat >/dev/null; awk 'BEGIN { printf "{\"data\":{\"segments\":["; for (i = 0; i < 1000000; i++) printf "%s{\"start\":%d,\"end\":%d,\"text\":\"x\"}", (i ? "," : ""), i, i + 1; printf "]}}\n" }'`)
	e := Enricher{Name: "many", Command: []string{many}}
	e.setDefaults()
	if en := enrich(context.Background(), e, req, t.TempDir()); en.Status != StatusFailed || !strings.Contains(en.Error, "output over 4194304 bytes") {
		t.Errorf("default max_output: %+v", en)
	}
	e.MaxOutput = 64 << 20
	en := enrich(context.Background(), e, req, t.TempDir())
	if en.Status != StatusReady || len(en.Data) < 30<<20 {
		t.Errorf("max_output 64 MiB: status %s error %q, %d bytes of data", en.Status, en.Error, len(en.Data))
	}
	// The same with one segment out of order near the end is refused.
	bad := script(t, `cat >/dev/null; awk 'BEGIN { printf "{\"data\":{\"segments\":["; for (i = 0; i < 1000000; i++) printf "%s{\"start\":%d,\"end\":%d,\"text\":\"x\"}", (i ? "," : ""), (i == 999998 ? 5 : i), i + 1; printf "]}}\n" }'`)
	e.Command = []string{bad}
	if en := enrich(context.Background(), e, req, t.TempDir()); en.Status != StatusFailed || !strings.Contains(en.Error, "data.segments[999998]: starts at 5") {
		t.Errorf("a segment out of order: %+v", en.Error)
	}
}
