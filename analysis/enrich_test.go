package analysis

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// script writes an executable shell script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "enricher")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEnrichContract: a well-behaved enricher reads the request on stdin
// and its files are installed; one that hangs, crashes, prints garbage,
// prints too much or names a file outside out_dir gets a clear error of its
// own, quickly, and leaves nothing installed.
func TestEnrichContract(t *testing.T) {
	good := script(t, `req=$(cat); id=$(printf '%s' "$req" | sed -n 's/.*"asset_id":"\([0-9a-f]*\)".*/\1/p')
dir=$(printf '%s' "$req" | sed -n 's/.*"out_dir":"\([^"]*\)".*/\1/p')
printf 'WEBVTT\n' > "$dir/t.vtt"
printf '{"data":{"asset":"%s","words":3},"files":["t.vtt"]}' "$id"`)
	cases := []struct {
		name, body string
		timeout    time.Duration
		wantErr    string
	}{
		{"hangs", "sleep 60 & sleep 60", time.Second, "timed out after 1s"},
		{"crashes", "echo boom >&2; kill -SEGV $$", 0, "signal: segmentation fault"},
		{"exits 3", "echo 'no model' >&2; exit 3", 0, "exit status 3: no model"},
		{"garbage", "echo 'hello, not json'", 0, "not a response object"},
		{"two values", `echo '{"data":1}{"data":2}'`, 0, "more than one JSON value"},
		{"unknown field", `echo '{"data":1,"extra":2}'`, 0, "not a response object"},
		{"huge", "yes aaaaaaaaaaaaaaaaaaaaaaaaaa", 0, "output over 65536 bytes"},
		{"escaping file", `echo '{"files":["../../etc/passwd"]}'`, 0, "must be a plain name"},
		{"missing file", `echo '{"files":["nothere.txt"]}'`, 0, "not a regular file"},
		// The typed members of data (tags, segments with word timings,
		// faces/objects with time ranges) must follow the contract.
		{"tag not a string", `echo '{"data":{"tags":["ok",1]}}'`, 0, "data does not follow the contract"},
		{"empty tag", `echo '{"data":{"tags":["ok"," "]}}'`, 0, "data.tags[1]: want a non-empty string"},
		{"segment backwards", `echo '{"data":{"segments":[{"start":2,"end":1,"text":"x"}]}}'`, 0, "data.segments[0]: start 2, end 1"},
		{"segment without text", `echo '{"data":{"segments":[{"start":1,"end":2}]}}'`, 0, "data.segments[0]: text is required"},
		{"segment past the end", `echo '{"data":{"segments":[{"start":1,"end":99,"text":"x"}]}}'`, 0, "end 99 is past the programme's 12s"},
		{"word outside its segment", `echo '{"data":{"segments":[{"start":1,"end":2,"text":"a b","words":[{"word":"a","start":1,"end":1.5},{"word":"b","start":1.5,"end":3}]}]}}'`, 0, "data.segments[0].words[1]: 1.5..3 is outside its segment 1..2"},
		{"word without time", `echo '{"data":{"segments":[{"start":1,"end":2,"text":"a","words":[{"word":"a"}]}]}}'`, 0, "data.segments[0].words[0]: start and end are required"},
		{"face without label", `echo '{"data":{"faces":[{"start":0,"end":1}]}}'`, 0, "data.faces[0]: label is required"},
		{"object negative", `echo '{"data":{"objects":[{"label":"logo","start":-1,"end":1}]}}'`, 0, "data.objects[0]: start -1, end 1"},
		{"faces not a list", `echo '{"data":{"faces":{"label":"x"}}}'`, 0, "data does not follow the contract"},
	}
	req := EnrichRequest{AssetID: strings.Repeat("ab", 32), Kind: "video", Proxy: "/x/proxy.mp4", Duration: 12, Analysis: &Result{AssetID: strings.Repeat("ab", 32), Verdict: Pass}}
	typed := `{"data":{"tags":["interview"],"segments":[{"start":1,"end":2,"text":"a b","words":[{"word":"a","start":1,"end":1.5},{"word":"b","start":1.5,"end":2}]}],` +
		`"faces":[{"label":"anna","start":0,"end":12.5}],"objects":[{"label":"logo","start":3,"end":4}],"other":{"anything":[1,"x"]}}}`
	if en := enrich(context.Background(), Enricher{Name: "typed", Command: []string{script(t, "cat >/dev/null; echo '"+typed+"'")}}, req, t.TempDir()); en.Status != StatusReady {
		t.Errorf("an enricher with valid typed data: %+v", en)
	}
	if en := enrich(context.Background(), Enricher{Name: "any", Command: []string{script(t, `cat >/dev/null; echo '{"data":[1,2]}'`)}}, req, t.TempDir()); en.Status != StatusReady {
		t.Errorf("an enricher whose data is not an object: %+v", en)
	}
	dest := t.TempDir()
	en := enrich(context.Background(), Enricher{Name: "stt", Command: []string{good}}, req, dest)
	if en.Status != StatusReady || len(en.Files) != 1 || en.Files[0] != "enrich/stt/t.vtt" {
		t.Fatalf("good enricher: %+v", en)
	}
	var data struct {
		Asset string `json:"asset"`
		Words int    `json:"words"`
	}
	if err := json.Unmarshal(en.Data, &data); err != nil || data.Asset != req.AssetID || data.Words != 3 {
		t.Errorf("data %s (%v): the request did not reach the enricher", en.Data, err)
	}
	if b, err := os.ReadFile(filepath.Join(dest, en.Files[0])); err != nil || string(b) != "WEBVTT\n" {
		t.Errorf("installed file: %q %v", b, err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := t.TempDir()
			t0 := time.Now()
			en := enrich(context.Background(), Enricher{Name: "x", Command: []string{script(t, c.body)}, Timeout: c.timeout, MaxOutput: 64 << 10}, req, d)
			if en.Status != StatusFailed || !strings.Contains(en.Error, c.wantErr) {
				t.Errorf("status %s error %q, want failed with %q", en.Status, en.Error, c.wantErr)
			}
			if time.Since(t0) > 10*time.Second {
				t.Errorf("took %s", time.Since(t0))
			}
			if _, err := os.Stat(filepath.Join(d, "enrich")); err == nil {
				t.Error("files installed for a failed enricher")
			}
		})
	}
}

func TestEnricherConfig(t *testing.T) {
	for _, c := range []struct {
		e    []Enricher
		want string
	}{
		{[]Enricher{{Name: "Bad Name", Command: []string{"x"}}}, "analysis.enrichers[0].name"},
		{[]Enricher{{Name: "a", Command: []string{"x"}}, {Name: "a", Command: []string{"y"}}}, "analysis.enrichers[1].name"},
		{[]Enricher{{Name: "a"}}, "analysis.enrichers[0].command"},
	} {
		cfg := Config{Enrichers: c.e}
		cfg.SetDefaults()
		if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.e, err, c.want)
		}
	}
}

// TestEnrichRetries: a command that fails once succeeds on its retry; with
// no retries it fails; every run that fails counts.
func TestEnrichRetries(t *testing.T) {
	req := EnrichRequest{AssetID: strings.Repeat("ab", 32), Kind: "video", Proxy: "/x/proxy.mp4", Duration: 12}
	flaky := func() string {
		n := filepath.Join(t.TempDir(), "runs")
		return script(t, `cat >/dev/null; echo x >> `+n+`; if [ $(wc -l < `+n+`) -lt 2 ]; then echo 'model busy' >&2; exit 1; fi; echo '{"data":{"tags":["ok"]}}'`)
	}
	if en := enrichRetry(context.Background(), Enricher{Name: "f", Command: []string{flaky()}, Retries: 1}, req, t.TempDir()); en.Status != StatusReady {
		t.Errorf("retries 1: %+v, want ready on the second run", en)
	}
	if en := enrichRetry(context.Background(), Enricher{Name: "f", Command: []string{flaky()}}, req, t.TempDir()); en.Status != StatusFailed || !strings.Contains(en.Error, "model busy") {
		t.Errorf("retries 0: %+v, want failed", en)
	}
	bad := script(t, "cat >/dev/null; echo nope >&2; exit 2")
	if en := enrichRetry(context.Background(), Enricher{Name: "b", Command: []string{bad}, Retries: 2}, req, t.TempDir()); en.Status != StatusFailed || !strings.Contains(en.Error, "nope (after 3 runs)") {
		t.Errorf("always failing, retries 2: %+v", en)
	}
	var c Config
	c.Enrichers = []Enricher{{Name: "x", Command: []string{"/bin/true"}, Retries: 6}}
	c.SetDefaults()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "analysis.enrichers[0].retries") {
		t.Errorf("retries 6: %v", err)
	}
}
