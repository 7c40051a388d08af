package analysis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/ingestd/ingestd/daemon/api/wire"
	"github.com/ingestd/ingestd/storage"
)

// Enricher is one entry of `analysis.enrichers`: an external command run
// after the FFmpeg analysis of each asset, speaking the JSON contract of
// docs/api.md (Enrichers): one request object on stdin, one response
// object on stdout.
type Enricher struct {
	// Name ([a-z0-9_-], 1..32, unique) keys its result and its files.
	Name string `yaml:"name"`
	// Command is the argv (no shell); the first element an absolute path
	// or a name in PATH.
	Command []string `yaml:"command"`
	// Timeout kills the command (its process group) after this long
	// (default 10m).
	Timeout time.Duration `yaml:"timeout"`
	// MaxOutput caps its stdout in bytes (default 4 MiB, at most 64 MiB:
	// the daemon holds it, and writes it into analysis.json, in memory):
	// more is an error.
	MaxOutput int64 `yaml:"max_output"`
	// Retries runs a failed command again, up to this many times (0..5,
	// default 0), 1 s, 2 s, … after the failure.
	Retries int `yaml:"retries"`
	// Env adds variables to the command's environment. The command never
	// inherits the daemon's environment (which may hold the S3
	// credentials): it gets only PATH, HOME, USER, LOGNAME, LANG,
	// LANGUAGE, LC_*, TZ and TMPDIR from it, INGESTD_FFMPEG (the daemon's
	// ffmpeg), then these.
	Env map[string]string `yaml:"env"`

	ffmpeg string // the daemon's ffmpeg (INGESTD_FFMPEG), set by New
}

// EnrichVersion is the version of the enricher contract.
const EnrichVersion = 1

var reEnricherName = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)
var reEnrichFile = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)
var reEnvName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// Caps on the files one enricher's run may leave for installing: how many,
// their total size, and transcript.vtt's own size (checked as WebVTT).
const (
	maxEnrichFiles      = 100
	maxEnrichFilesBytes = 1 << 30
	maxTranscriptBytes  = 64 << 20
	// maxMaxOutput bounds max_output.
	maxMaxOutput = 64 << 20
	// stderrTail is how much of an enricher's stderr is kept (the end).
	stderrTail = 4 << 10
)

// enrichEnv is the environment of an enricher: the few variables of the
// daemon's own that locate tools and set the locale, never its secrets
// (AWS_* credentials, tokens), then INGESTD_FFMPEG and e.Env.
func enrichEnv(e Enricher) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH", k == "HOME", k == "USER", k == "LOGNAME", k == "LANG", k == "LANGUAGE", k == "TZ", k == "TMPDIR",
			strings.HasPrefix(k, "LC_"):
			env = append(env, kv)
		}
	}
	if e.ffmpeg != "" {
		env = append(env, "INGESTD_FFMPEG="+e.ffmpeg)
	}
	keys := make([]string, 0, len(e.Env))
	for k := range e.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+e.Env[k])
	}
	return env
}

// EnrichRequest is what an enricher reads on stdin.
type EnrichRequest struct {
	Version   int     `json:"version"`
	AssetID   string  `json:"asset_id"`
	Kind      string  `json:"kind"`
	Proxy     string  `json:"proxy"`   // absolute path of the proxy file (read only)
	OutDir    string  `json:"out_dir"` // an empty folder for the files it makes
	Duration  float64 `json:"duration"`
	FrameRate string  `json:"frame_rate,omitempty"`
	StartTC   string  `json:"start_tc,omitempty"`
	Analysis  *Result `json:"analysis"`
	// Asset is the asset document (GET /v1/assets/{id}).
	Asset *storage.AssetDoc `json:"asset,omitempty"`
	// Audio is the absolute path of the proxy's first audio stream as a
	// 16 kHz mono 16-bit WAV the stage extracted (read only); "" when the
	// asset has no audio.
	Audio string `json:"audio,omitempty"`
}

// enrichResponse is what an enricher writes on stdout.
type enrichResponse struct {
	Data  json.RawMessage `json:"data"`
	Files []string        `json:"files"`
}

// Enrichment is one enricher's result in analysis.json.
type Enrichment = wire.Enrichment

func (e Enricher) validate(i int, seen map[string]bool) error {
	k := fmt.Sprintf("analysis.enrichers[%d]", i)
	switch {
	case !reEnricherName.MatchString(e.Name):
		return fmt.Errorf("%s.name: %q must be 1..32 of a-z, 0-9, _ and -", k, e.Name)
	case seen[e.Name]:
		return fmt.Errorf("%s.name: %q is used twice", k, e.Name)
	case len(e.Command) == 0 || e.Command[0] == "":
		return fmt.Errorf("%s.command: empty", k)
	case strings.ContainsRune(e.Command[0], '/') && !filepath.IsAbs(e.Command[0]):
		// exec resolves a relative path against the working directory,
		// which is the request's out_dir.
		return fmt.Errorf("%s.command: %q must be an absolute path or a name in PATH", k, e.Command[0])
	case e.Timeout < 0 || e.MaxOutput < 0:
		return fmt.Errorf("%s.timeout: timeout and max_output must not be negative", k)
	case e.MaxOutput > maxMaxOutput:
		// Stdout is held in memory and decoded whole.
		return fmt.Errorf("%s.max_output: at most %d (64 MiB), got %d", k, maxMaxOutput, e.MaxOutput)
	case e.Retries < 0 || e.Retries > 5:
		return fmt.Errorf("%s.retries: must be 0..5, got %d", k, e.Retries)
	}
	for v := range e.Env {
		if !reEnvName.MatchString(v) {
			return fmt.Errorf("%s.env: %q is not a variable name", k, v)
		}
	}
	seen[e.Name] = true
	return nil
}

func (e *Enricher) setDefaults() {
	if e.Timeout == 0 {
		e.Timeout = 10 * time.Minute
	}
	if e.MaxOutput == 0 {
		e.MaxOutput = 4 << 20
	}
}

// capped is a buffer that refuses bytes past max (the command is then
// killed: its output is not read further).
type capped struct {
	buf  bytes.Buffer
	max  int64
	over bool
	kill func()
}

func (c *capped) Write(p []byte) (int, error) {
	if int64(c.buf.Len()+len(p)) > c.max {
		if !c.over {
			c.over = true
			c.kill()
		}
		return 0, errors.New("output over the cap")
	}
	return c.buf.Write(p)
}

// tailBuf keeps the last max bytes written to it and takes everything: an
// enricher's stderr is read to its end (a refused write would close the
// pipe and kill a chatty command with SIGPIPE) and only its end kept.
type tailBuf struct {
	buf []byte
	max int
	cut bool
}

func (t *tailBuf) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= t.max {
		t.buf, t.cut = append(t.buf[:0], p[len(p)-t.max:]...), true
		return n, nil
	}
	if over := len(t.buf) + len(p) - t.max; over > 0 {
		t.buf, t.cut = append(t.buf[:0], t.buf[over:]...), true
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

func (t *tailBuf) String() string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(t.buf), "\ufffd"))
	if t.cut && s != "" {
		return "…" + s
	}
	return s
}

// enrichRetry is enrich run again after a failure, up to e.Retries times;
// the last failure says how many runs it took.
func enrichRetry(ctx context.Context, e Enricher, req EnrichRequest, dest string) Enrichment {
	t0 := time.Now()
	for n := 0; ; n++ {
		en := enrich(ctx, e, req, dest)
		if en.Status == StatusReady || n >= e.Retries || ctx.Err() != nil {
			if n > 0 {
				en.Elapsed = time.Since(t0).Seconds()
				if en.Status != StatusReady {
					en.Error = fmt.Sprintf("%s (after %d runs)", en.Error, n+1)
				}
			}
			return en
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(n+1) * time.Second):
		}
	}
}

// enrich runs e for req and installs the files it lists into
// dest/enrich/<name>/. A failure is returned in the Enrichment, never
// fails the analysis.
func enrich(ctx context.Context, e Enricher, req EnrichRequest, dest string) Enrichment {
	e.setDefaults()
	t0 := time.Now()
	res := Enrichment{Name: e.Name, Status: StatusFailed}
	fail := func(f string, a ...any) Enrichment {
		res.Error, res.Elapsed = fmt.Sprintf(f, a...), time.Since(t0).Seconds()
		return res
	}
	out, err := os.MkdirTemp(dest, ".enrich-")
	if err != nil {
		return fail("work dir: %v", err)
	}
	defer os.RemoveAll(out)
	req.OutDir, req.Version = out, EnrichVersion
	in, err := json.Marshal(req)
	if err != nil {
		return fail("encode request: %v", err)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, e.Timeout, fmt.Errorf("timed out after %s", e.Timeout))
	defer cancel()
	cmd := exec.CommandContext(ctx, e.Command[0], e.Command[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	kill := func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.Cancel = func() error { kill(); return nil }
	cmd.WaitDelay = 2 * time.Second
	cmd.Stdin = bytes.NewReader(in)
	stdout := &capped{max: e.MaxOutput, kill: kill}
	stderr := &tailBuf{max: stderrTail}
	cmd.Stdout, cmd.Stderr = stdout, io.Writer(stderr)
	cmd.Dir = out
	cmd.Env = enrichEnv(e)
	err = cmd.Run()
	if cmd.Process != nil {
		// What it left running in its group (a background child holding
		// stdout, a helper that outlives it) goes with it.
		kill()
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil // it exited 0; only a leftover child held its output open
	}
	tail := stderr.String()
	switch {
	case stdout.over:
		return fail("output over %d bytes", e.MaxOutput)
	case ctx.Err() != nil && context.Cause(ctx) != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fail("%v", context.Cause(ctx))
	case err != nil:
		if tail != "" {
			return fail("%v: %s", err, tail)
		}
		return fail("%v", err)
	}
	if len(bytes.TrimSpace(stdout.buf.Bytes())) == 0 {
		if tail != "" {
			return fail("exited 0 with nothing on stdout (want one response object): %s", tail)
		}
		return fail("exited 0 with nothing on stdout (want one response object)")
	}
	var resp enrichResponse
	dec := json.NewDecoder(bytes.NewReader(stdout.buf.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&resp); err != nil {
		return fail("stdout is not a response object: %v", err)
	}
	if dec.More() {
		return fail("stdout has more than one JSON value")
	}
	if err := validateData(resp.Data, req.Duration); err != nil {
		return fail("%v", err)
	}
	if err := checkFiles(out, resp.Files); err != nil {
		return fail("%v", err)
	}
	final := filepath.Join(dest, "enrich", e.Name)
	if err := os.RemoveAll(final); err != nil {
		return fail("clear %s: %v", final, err)
	}
	for _, f := range resp.Files {
		if err := os.MkdirAll(final, 0o755); err != nil {
			return fail("%v", err)
		}
		if err := os.Rename(filepath.Join(out, f), filepath.Join(final, f)); err != nil {
			return fail("install %q: %v", f, err)
		}
		res.Files = append(res.Files, "enrich/"+e.Name+"/"+f)
	}
	res.Status, res.Data, res.Elapsed = StatusReady, resp.Data, time.Since(t0).Seconds()
	return res
}

// checkFiles checks the files an enricher lists before any is installed:
// plain names, listed once, regular files of its own in dir (not links,
// not hard links to files elsewhere), at most maxEnrichFiles of at most
// maxEnrichFilesBytes in all, and a transcript.vtt that is WebVTT.
func checkFiles(dir string, files []string) error {
	if len(files) > maxEnrichFiles {
		return fmt.Errorf("%d files listed, at most %d", len(files), maxEnrichFiles)
	}
	seen := map[string]bool{}
	var total int64
	for _, f := range files {
		if !reEnrichFile.MatchString(f) {
			return fmt.Errorf("file %q: must be a plain name in out_dir", f)
		}
		if seen[f] {
			return fmt.Errorf("file %q: listed twice", f)
		}
		seen[f] = true
		fi, err := os.Lstat(filepath.Join(dir, f))
		if err != nil || !fi.Mode().IsRegular() {
			return fmt.Errorf("file %q: not a regular file in out_dir", f)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink != 1 {
			return fmt.Errorf("file %q: a hard link (%d names), not a file of its own", f, st.Nlink)
		}
		if total += fi.Size(); total > maxEnrichFilesBytes {
			return fmt.Errorf("files over %d bytes in all", int64(maxEnrichFilesBytes))
		}
		if f == OutTranscript {
			if err := checkWebVTT(filepath.Join(dir, f), fi.Size()); err != nil {
				return fmt.Errorf("file %q: %w", f, err)
			}
		}
	}
	return nil
}

// checkWebVTT checks that the file at p (size bytes) is served safely as
// text/vtt: at most maxTranscriptBytes, UTF-8 without NUL, starting with
// the WebVTT signature ("WEBVTT" after an optional BOM, then a space, tab
// or line end).
func checkWebVTT(p string, size int64) error {
	if size > maxTranscriptBytes {
		return fmt.Errorf("%d bytes, at most %d", size, maxTranscriptBytes)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	b = bytes.TrimPrefix(b, []byte("\ufeff"))
	rest, ok := bytes.CutPrefix(b, []byte("WEBVTT"))
	if !ok || (len(rest) > 0 && !strings.ContainsRune(" \t\r\n", rune(rest[0]))) {
		return errors.New("not WebVTT: does not start with the WEBVTT line")
	}
	if !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 {
		return errors.New("not WebVTT: not UTF-8 text")
	}
	return nil
}

// Typed members of an enricher's data (docs/api.md Enrichers): optional,
// but when present they must have this shape, or the enricher fails.
type (
	enrichTimed struct {
		Start *float64 `json:"start"`
		End   *float64 `json:"end"`
	}
	enrichSegment struct {
		enrichTimed
		Text  *string `json:"text"`
		Words []struct {
			enrichTimed
			Word *string `json:"word"`
		} `json:"words"`
	}
	enrichDetection struct {
		enrichTimed
		Label *string `json:"label"`
	}
	enrichTyped struct {
		Tags     []*string         `json:"tags"`
		Segments []enrichSegment   `json:"segments"`
		Faces    []enrichDetection `json:"faces"`
		Objects  []enrichDetection `json:"objects"`
	}
)

// maxTimeSlack is how far past the programme's duration a time may be
// (decoders pad the last packet).
const maxTimeSlack = 1.0

// validateData checks the typed members of data (tags, segments with word
// timings, faces and objects with time ranges) against the programme's
// duration; the error names the first offending member.
func validateData(data json.RawMessage, duration float64) error {
	if len(bytes.TrimSpace(data)) == 0 || bytes.TrimSpace(data)[0] != '{' {
		return nil // not an object: no typed members
	}
	var d enrichTyped
	if err := json.Unmarshal(data, &d); err != nil {
		return fmt.Errorf("data does not follow the contract (tags: [string], segments: [{start, end, text, words: [{word, start, end}]}], faces/objects: [{label, start, end}]): %w", err)
	}
	span := func(k string, t enrichTimed, within *enrichTimed) error {
		switch {
		case t.Start == nil || t.End == nil:
			return fmt.Errorf("data.%s: start and end are required", k)
		case *t.Start < 0 || *t.End < *t.Start:
			return fmt.Errorf("data.%s: start %g, end %g: want 0 <= start <= end", k, *t.Start, *t.End)
		case duration > 0 && *t.End > duration+maxTimeSlack:
			return fmt.Errorf("data.%s: end %g is past the programme's %gs", k, *t.End, duration)
		case within != nil && (*t.Start < *within.Start-0.001 || *t.End > *within.End+0.001):
			return fmt.Errorf("data.%s: %g..%g is outside its segment %g..%g", k, *t.Start, *t.End, *within.Start, *within.End)
		}
		return nil
	}
	for i, t := range d.Tags {
		if t == nil || strings.TrimSpace(*t) == "" {
			return fmt.Errorf("data.tags[%d]: want a non-empty string", i)
		}
	}
	// Segments, and the words of a segment, come in time order (starts
	// never go back; they may overlap).
	order := func(k string, t enrichTimed, prev *float64) error {
		if prev != nil && *t.Start < *prev-0.001 {
			return fmt.Errorf("data.%s: starts at %g, before the one before it (%g): want time order", k, *t.Start, *prev)
		}
		return nil
	}
	var prevSeg *float64
	for i, sg := range d.Segments {
		k := fmt.Sprintf("segments[%d]", i)
		if sg.Text == nil {
			return fmt.Errorf("data.%s: text is required", k)
		}
		if err := span(k, sg.enrichTimed, nil); err != nil {
			return err
		}
		if err := order(k, sg.enrichTimed, prevSeg); err != nil {
			return err
		}
		prevSeg = sg.Start
		var prevWord *float64
		for j, w := range sg.Words {
			kw := fmt.Sprintf("%s.words[%d]", k, j)
			if w.Word == nil || strings.TrimSpace(*w.Word) == "" {
				return fmt.Errorf("data.%s: word is required", kw)
			}
			if err := span(kw, w.enrichTimed, &sg.enrichTimed); err != nil {
				return err
			}
			if err := order(kw, w.enrichTimed, prevWord); err != nil {
				return err
			}
			prevWord = w.Start
		}
	}
	for n, list := range [][]enrichDetection{d.Faces, d.Objects} {
		k := [2]string{"faces", "objects"}[n]
		for i, x := range list {
			kk := fmt.Sprintf("%s[%d]", k, i)
			if x.Label == nil || strings.TrimSpace(*x.Label) == "" {
				return fmt.Errorf("data.%s: label is required", kk)
			}
			if err := span(kk, x.enrichTimed, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// Per-asset outputs made of the enrichers' results, beside analysis.json
// (served by Handler, uploaded by sync/s3push in the hub layout).
const (
	// OutTranscript is the transcript.vtt of the first ready enricher (in
	// configured order) that lists a file named transcript.vtt.
	OutTranscript = "transcript.vtt"
	// OutEnrichDir holds <name>.json per ready enricher: its Enrichment
	// with the asset id.
	OutEnrichDir = "enrichment"
)

// EnrichmentDoc is enrichment/<name>.json.
type EnrichmentDoc = wire.EnrichmentDoc

// enrichOutputs lists the outputs that ens make (enrichment/<name>.json
// per ready enricher, then transcript.vtt) and the enricher file that
// transcript.vtt is a copy of ("" when none).
func enrichOutputs(ens []Enrichment) (outs []string, transcript string) {
	for _, en := range ens {
		if en.Status != StatusReady {
			continue
		}
		outs = append(outs, OutEnrichDir+"/"+en.Name+".json")
		for _, f := range en.Files {
			if transcript == "" && f == "enrich/"+en.Name+"/"+OutTranscript {
				transcript = f
			}
		}
	}
	if transcript != "" {
		outs = append(outs, OutTranscript)
	}
	return outs, transcript
}

// writeEnrichOutputs writes the outputs of enrichOutputs(ens) into work,
// where the enrichers' files are already installed (work/enrich/…).
func writeEnrichOutputs(work, id string, ens []Enrichment) error {
	outs, transcript := enrichOutputs(ens)
	if len(outs) == 0 {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(work, OutEnrichDir), 0o755); err != nil {
		return fmt.Errorf("asset %s: %w", id, err)
	}
	for _, en := range ens {
		if en.Status != StatusReady {
			continue
		}
		b, err := json.MarshalIndent(EnrichmentDoc{AssetID: id, Enrichment: en}, "", "  ")
		if err != nil {
			return fmt.Errorf("asset %s: encode enrichment %s: %w", id, en.Name, err)
		}
		if err := os.WriteFile(filepath.Join(work, OutEnrichDir, en.Name+".json"), append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("asset %s: write enrichment %s: %w", id, en.Name, err)
		}
	}
	if transcript != "" {
		// A hard link: the two names are one file in the same folder tree.
		if err := os.Link(filepath.Join(work, filepath.FromSlash(transcript)), filepath.Join(work, OutTranscript)); err != nil {
			return fmt.Errorf("asset %s: %s: %w", id, OutTranscript, err)
		}
	}
	return nil
}
